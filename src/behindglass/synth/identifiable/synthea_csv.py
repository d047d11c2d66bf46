"""One simulated block as Synthea-format CSV tables (Synthea's file and column names).

The input is the block exactly as the OMOP generator simulates it (block-local ids, see
``synth.generate.simulate_block``), so the identifiable export and the OMOP export of
the same arguments describe the same people, visits, diagnoses, fills and results: one
Synthea row per OMOP row (encounters = visits; conditions; medications = drug fills;
observations = measurements + the smoking observation; procedures). Codes are the
source-vocabulary codes of the standard concepts (SNOMED, RxNorm, LOINC).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from behindglass.synth import concepts as c
from behindglass.synth.writer import Categorical, Columns

HEADERS: dict[str, tuple[str, ...]] = {
    "patients": ("Id", "BIRTHDATE", "DEATHDATE", "SSN", "DRIVERS", "PASSPORT", "PREFIX",
                 "FIRST", "LAST", "SUFFIX", "MAIDEN", "MARITAL", "RACE", "ETHNICITY", "GENDER",
                 "BIRTHPLACE", "ADDRESS", "CITY", "STATE", "COUNTY", "FIPS", "ZIP", "LAT", "LON",
                 "HEALTHCARE_EXPENSES", "HEALTHCARE_COVERAGE", "INCOME"),
    "encounters": ("Id", "START", "STOP", "PATIENT", "ORGANIZATION", "PROVIDER", "PAYER",
                   "ENCOUNTERCLASS", "CODE", "DESCRIPTION", "BASE_ENCOUNTER_COST",
                   "TOTAL_CLAIM_COST", "PAYER_COVERAGE", "REASONCODE", "REASONDESCRIPTION"),
    "conditions": ("START", "STOP", "PATIENT", "ENCOUNTER", "CODE", "DESCRIPTION"),
    "medications": ("START", "STOP", "PATIENT", "PAYER", "ENCOUNTER", "CODE", "DESCRIPTION",
                    "BASE_COST", "PAYER_COVERAGE", "DISPENSES", "TOTALCOST", "REASONCODE",
                    "REASONDESCRIPTION"),
    "observations": ("DATE", "PATIENT", "ENCOUNTER", "CATEGORY", "CODE", "DESCRIPTION", "VALUE",
                     "UNITS", "TYPE"),
    "procedures": ("START", "STOP", "PATIENT", "ENCOUNTER", "SYSTEM", "CODE", "DESCRIPTION",
                   "BASE_COST", "REASONCODE", "REASONDESCRIPTION"),
    "organizations": ("Id", "NAME", "ADDRESS", "CITY", "STATE", "ZIP", "LAT", "LON", "PHONE",
                      "REVENUE", "UTILIZATION"),
    "providers": ("Id", "ORGANIZATION", "NAME", "GENDER", "SPECIALITY", "ADDRESS", "CITY",
                  "STATE", "ZIP", "LAT", "LON", "ENCOUNTERS", "PROCEDURES"),
    "payers": ("Id", "NAME", "OWNERSHIP", "ADDRESS", "CITY", "STATE_HEADQUARTERED", "ZIP",
               "PHONE", "AMOUNT_COVERED", "AMOUNT_UNCOVERED", "REVENUE", "COVERED_ENCOUNTERS",
               "UNCOVERED_ENCOUNTERS", "COVERED_MEDICATIONS", "UNCOVERED_MEDICATIONS",
               "COVERED_PROCEDURES", "UNCOVERED_PROCEDURES", "COVERED_IMMUNIZATIONS",
               "UNCOVERED_IMMUNIZATIONS", "UNIQUE_CUSTOMERS", "QOLS_AVG", "MEMBER_MONTHS"),
    "payer_transitions": ("PATIENT", "MEMBERID", "START_DATE", "END_DATE", "PAYER",
                          "SECONDARY_PAYER", "PLAN_OWNERSHIP", "OWNER_NAME"),
    "immunizations": ("DATE", "PATIENT", "ENCOUNTER", "CODE", "DESCRIPTION", "BASE_COST"),
    "allergies": ("START", "STOP", "PATIENT", "ENCOUNTER", "CODE", "SYSTEM", "DESCRIPTION",
                  "TYPE", "CATEGORY", "REACTION1", "DESCRIPTION1", "SEVERITY1", "REACTION2",
                  "DESCRIPTION2", "SEVERITY2"),
    "careplans": ("Id", "START", "STOP", "PATIENT", "ENCOUNTER", "CODE", "DESCRIPTION",
                  "REASONCODE", "REASONDESCRIPTION"),
    "devices": ("START", "STOP", "PATIENT", "ENCOUNTER", "CODE", "DESCRIPTION", "UDI"),
    "imaging_studies": ("Id", "DATE", "PATIENT", "ENCOUNTER", "SERIES_UID", "BODYSITE_CODE",
                        "BODYSITE_DESCRIPTION", "MODALITY_CODE", "MODALITY_DESCRIPTION",
                        "INSTANCE_UID", "SOP_CODE", "SOP_DESCRIPTION", "PROCEDURE_CODE"),
    "claims": ("Id", "PATIENTID", "PROVIDERID", "PRIMARYPATIENTINSURANCEID",
               "SECONDARYPATIENTINSURANCEID", "DEPARTMENTID", "PATIENTDEPARTMENTID",
               *(f"DIAGNOSIS{k}" for k in range(1, 9)), "REFERRINGPROVIDERID", "APPOINTMENTID",
               "CURRENTILLNESSDATE", "SERVICEDATE", "SUPERVISINGPROVIDERID", "STATUS1",
               "STATUS2", "STATUSP", "OUTSTANDING1", "OUTSTANDING2", "OUTSTANDINGP",
               "LASTBILLEDDATE1", "LASTBILLEDDATE2", "LASTBILLEDDATEP",
               "HEALTHCARECLAIMTYPEID1", "HEALTHCARECLAIMTYPEID2"),
    # Not a Synthea file: the contact details a hospital extract carries beside the patients.
    "patient_contacts": ("PATIENT", "MRN", "ACCOUNT", "PHONE", "EMAIL", "CONTACT_NAME",
                         "CONTACT_RELATIONSHIP", "CONTACT_PHONE"),
}
BLOCK_FILES = ("patients", "encounters", "conditions", "medications", "observations",
               "procedures", "payer_transitions", "patient_contacts", "immunizations",
               "allergies", "careplans", "devices", "imaging_studies", "claims")
SITE_FILES = ("organizations", "providers", "payers")

# Synthea's encounter classes and the SNOMED encounter codes it commonly writes.
ENCOUNTER_KIND = {
    c.OUTPATIENT: ("ambulatory", "185349003", "Encounter for check up (procedure)"),
    c.INPATIENT: ("inpatient", "32485007", "Hospital admission (procedure)"),
    c.EMERGENCY: ("emergency", "50849002", "Emergency room admission (procedure)"),
    c.HOME: ("home", "439708006", "Home visit (procedure)"),
}
_LAB_CATEGORY = {c.SBP: "vital-signs", c.DBP: "vital-signs", c.BMI: "vital-signs"}
_RACE = {c.WHITE: "white", c.BLACK: "black", c.ASIAN: "asian", c.AIAN: "native",
         c.NHPI: "hawaiian"}


def _lookup(ids: np.ndarray, table: dict[int, str], default: str = "") -> np.ndarray:
    """Map integer ids to strings through a small dict, vectorised via unique()."""
    values, inverse = np.unique(np.asarray(ids, dtype=np.int64), return_inverse=True)
    mapped = np.array([table.get(int(v), default) for v in values] or [default], dtype=object)
    return mapped[inverse] if len(values) else np.empty(0, dtype=object)


CODES = {k.concept_id: k.code for k in c.CLINICAL_CONCEPTS}
NAMES = {k.concept_id: k.name for k in c.CLINICAL_CONCEPTS}


def categorical(value: Categorical) -> np.ndarray:
    cats = np.array([*value.categories, ""], dtype=object)
    return cats[np.where(np.asarray(value.codes) < 0, len(cats) - 1, value.codes)]


def iso_time(seconds: np.ndarray) -> pa.Array:
    """Epoch seconds as Synthea's ISO 8601 UTC datetimes."""
    ts = pa.array(np.asarray(seconds, dtype=np.int64)).cast(pa.timestamp("s"))
    return pc.strftime(ts, format="%Y-%m-%dT%H:%M:%SZ")


def iso_date(days: np.ndarray) -> pa.Array:
    data = np.ma.getdata(days)
    mask = np.ma.getmaskarray(days) if isinstance(days, np.ma.MaskedArray) else None
    arr = pa.array(np.asarray(data, dtype=np.int32), mask=mask).cast(pa.date32())
    return pc.strftime(arr, format="%Y-%m-%d")


def uuids(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` random version-4 UUID strings, built without a Python loop."""
    raw = rng.integers(0, 256, (n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hexed = np.frombuffer(raw.tobytes().hex().encode("ascii"), dtype="S1").reshape(n, 32)
    dash = np.full((n, 1), b"-", dtype="S1")
    parts = [hexed[:, :8], dash, hexed[:, 8:12], dash, hexed[:, 12:16], dash,
             hexed[:, 16:20], dash, hexed[:, 20:]]
    joined = np.ascontiguousarray(np.concatenate(parts, axis=1)).view("S36").ravel()
    return joined.astype("U36").astype(object)


def to_csv(name: str, columns: dict[str, object], *, header: bool = False,
           names: Sequence[str] | None = None) -> bytes:
    """The table ``name`` as CSV bytes, columns in Synthea order (or ``names``), missing
    ones empty."""
    names = HEADERS[name] if names is None else names
    n = next((len(v) for v in columns.values()), 0)  # type: ignore[arg-type]
    arrays = []
    for col in names:
        value = columns.get(col)
        if value is None:
            arrays.append(pa.array([""] * n, type=pa.string()) if n else
                          pa.array([], type=pa.string()))
        elif isinstance(value, pa.Array):
            arrays.append(value.cast(pa.string()))
        else:
            arrays.append(pa.array(np.asarray(value).astype(str) if isinstance(
                value, np.ndarray) and value.dtype != object else list(value), type=pa.string()))
    table = pa.Table.from_arrays(arrays, names=list(names))
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=header,
                                                    quoting_style="needed"))
    return sink.getvalue().to_pybytes()


def as_list(values: object) -> list:
    """Any column (numpy, pyarrow or list) as a Python list."""
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values.to_pylist()
    if isinstance(values, np.ndarray):
        return values.tolist()
    return list(values)  # type: ignore[call-overload]


def money(values: np.ndarray) -> np.ndarray:
    return np.char.mod("%.2f", np.asarray(values, dtype=np.float64))


def clinical_tables(block: dict[str, Columns], patient: np.ndarray, visit_ids: np.ndarray,
                    payer_ids: np.ndarray, org_ids: np.ndarray,
                    provider_ids: np.ndarray) -> dict[str, dict[str, object]]:
    """Encounters, conditions, medications, observations and procedures of a block.

    ``patient`` / ``visit_ids`` are UUIDs indexed by block-local person / visit index;
    ``payer_ids``, ``org_ids`` and ``provider_ids`` by payer code, care_site_id - 1 and
    provider_id - 1.
    """
    visits, vcost = block["visit_occurrence"], block["cost@visit"]
    ppp = block["payer_plan_period"]
    plan_payer = np.asarray(ppp["payer_source_value"].codes)  # type: ignore[union-attr]
    n_visits = len(visits["visit_occurrence_id"])
    order = np.argsort(vcost["cost_event_id"])  # one visit cost per visit
    visit_payer = payer_ids[plan_payer[np.asarray(vcost["payer_plan_period_id"])[order]]]
    kind = np.asarray(visits["visit_concept_id"])
    site = visits["care_site_id"]
    site_idx = np.ma.getdata(site).astype(np.int64) - 1
    org = np.where(np.ma.getmaskarray(site), "", org_ids[np.clip(site_idx, 0, len(org_ids) - 1)])
    encounters = {
        "Id": visit_ids, "START": iso_time(visits["visit_start_datetime"]),
        "STOP": iso_time(visits["visit_end_datetime"]),
        "PATIENT": patient[visits["person_id"]], "ORGANIZATION": org,
        "PROVIDER": provider_ids[np.asarray(visits["provider_id"]) - 1],
        "PAYER": visit_payer,
        "ENCOUNTERCLASS": _lookup(kind, {k: v[0] for k, v in ENCOUNTER_KIND.items()}),
        "CODE": _lookup(kind, {k: v[1] for k, v in ENCOUNTER_KIND.items()}),
        "DESCRIPTION": _lookup(kind, {k: v[2] for k, v in ENCOUNTER_KIND.items()}),
        "BASE_ENCOUNTER_COST": money(np.asarray(vcost["total_charge"])[order]),
        "TOTAL_CLAIM_COST": money(np.asarray(vcost["total_charge"])[order]),
        "PAYER_COVERAGE": money(np.asarray(vcost["paid_by_payer"])[order]),
    }
    assert len(order) == n_visits, "one visit cost row per visit"

    cond = block["condition_occurrence"]
    concept = np.asarray(cond["condition_concept_id"])
    conditions = {"START": iso_date(cond["condition_start_date"]),
                  "PATIENT": patient[cond["person_id"]],
                  "ENCOUNTER": visit_ids[np.asarray(cond["visit_occurrence_id"])],
                  "CODE": _lookup(concept, CODES), "DESCRIPTION": _lookup(concept, NAMES)}

    drugs, dcost = block["drug_exposure"], block["cost@drug"]
    dorder = np.argsort(dcost["cost_event_id"])
    dvisit = drugs["visit_occurrence_id"]
    dconcept = np.asarray(drugs["drug_concept_id"])
    medications = {
        "START": iso_time(np.asarray(drugs["drug_exposure_start_date"]) * 86400),
        "STOP": iso_time(np.asarray(drugs["drug_exposure_end_date"]) * 86400),
        "PATIENT": patient[drugs["person_id"]],
        "PAYER": payer_ids[plan_payer[np.asarray(dcost["payer_plan_period_id"])[dorder]]],
        "ENCOUNTER": np.where(np.ma.getmaskarray(dvisit), "",
                              visit_ids[np.ma.getdata(dvisit).astype(np.int64)]),
        "CODE": _lookup(dconcept, CODES), "DESCRIPTION": _lookup(dconcept, NAMES),
        "BASE_COST": money(np.asarray(dcost["total_charge"])[dorder]),
        "PAYER_COVERAGE": money(np.asarray(dcost["paid_by_payer"])[dorder]),
        "DISPENSES": np.ones(len(dconcept), dtype=np.int64),
        "TOTALCOST": money(np.asarray(dcost["total_charge"])[dorder]),
    }

    meas, obs = block["measurement"], block["observation"]
    mconcept = np.asarray(meas["measurement_concept_id"])
    oconcept = np.asarray(obs["observation_concept_id"])
    observations = {
        "DATE": pa.concat_arrays([iso_time(meas["measurement_datetime"]),
                                  iso_time(obs["observation_datetime"])]),
        "PATIENT": np.concatenate([patient[meas["person_id"]], patient[obs["person_id"]]]),
        "ENCOUNTER": np.concatenate([visit_ids[np.asarray(meas["visit_occurrence_id"])],
                                     visit_ids[np.asarray(obs["visit_occurrence_id"])]]),
        "CATEGORY": np.concatenate([_lookup(mconcept, _LAB_CATEGORY, "laboratory"),
                                    np.full(len(oconcept), "survey", dtype=object)]),
        "CODE": np.concatenate([_lookup(mconcept, CODES), _lookup(oconcept, CODES)]),
        "DESCRIPTION": np.concatenate([_lookup(mconcept, NAMES), _lookup(oconcept, NAMES)]),
        "VALUE": np.concatenate([np.char.mod("%.1f", np.asarray(meas["value_as_number"],
                                                                dtype=np.float64)),
                                 categorical(obs["value_as_string"])]),  # type: ignore[arg-type]
        "UNITS": np.concatenate([categorical(meas["unit_source_value"]),  # type: ignore[arg-type]
                                 np.full(len(oconcept), "", dtype=object)]),
        "TYPE": np.concatenate([np.full(len(mconcept), "numeric", dtype=object),
                                np.full(len(oconcept), "text", dtype=object)]),
    }

    proc = block["procedure_occurrence"]
    pconcept = np.asarray(proc["procedure_concept_id"])
    procedures = {"START": iso_time(proc["procedure_datetime"]),
                  "STOP": iso_time(proc["procedure_datetime"]),
                  "PATIENT": patient[proc["person_id"]],
                  "ENCOUNTER": visit_ids[np.asarray(proc["visit_occurrence_id"])],
                  "SYSTEM": np.full(len(pconcept), "http://snomed.info/sct", dtype=object),
                  "CODE": _lookup(pconcept, CODES), "DESCRIPTION": _lookup(pconcept, NAMES)}
    return {"encounters": encounters, "conditions": conditions, "medications": medications,
            "observations": observations, "procedures": procedures}


def race_labels(race_concept: np.ndarray, race_source: Sequence[str]) -> np.ndarray:
    """Synthea's lower-case race; the site's own label where there is no standard one."""
    mapped = _lookup(race_concept, _RACE, "other")
    local = np.asarray(race_source, dtype=object)
    return np.where((np.asarray(race_concept) == 0) & (local != ""), local, mapped)
