"""Write a synthetic site as an identifiable Synthea-format CSV extract plus its truth file.

Blocks are simulated exactly as for the OMOP export (``simulate_block`` with the same
seeds), so the clinical facts match the OMOP files of the same arguments person by
person. Identities and record UUIDs come from separate random streams, which leaves the
clinical simulation and the OMOP output untouched. Files are written into a hidden
sibling folder and renamed into place at the end, as the OMOP writer does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from behindglass.core.errors import BehindGlassError
from behindglass.synth import concepts as c
from behindglass.synth.identifiable.care_events import care_tables
from behindglass.synth.identifiable.documents import NOTES_FILE, BlockRecords, block_notes
from behindglass.synth.identifiable.identities import _faker, draw_identities, locale_for
from behindglass.synth.identifiable.staging import simulated_blocks, staged_output, truth_files
from behindglass.synth.identifiable.synthea_csv import (
    BLOCK_FILES,
    HEADERS,
    SITE_FILES,
    as_list,
    categorical,
    clinical_tables,
    iso_date,
    money,
    race_labels,
    to_csv,
    uuids,
)
from behindglass.synth.identifiable.truth import Planted, truth_lines
from behindglass.synth.profile_catalog import PROFILES
from behindglass.synth.profiles import Profile
from behindglass.synth.ragged import DAYS_PER_YEAR
from behindglass.synth.sitetables import SiteContext, build_site, profile_key
from behindglass.synth.writer import Columns

FORMATS = ("synthea-csv", "fhir")
FHIR_LAYOUTS = ("ndjson", "bundles")
CROSSWALK_FILE = "truth_crosswalk.csv"  # patient Id -> OMOP person_id, for evaluation only
_IDENTITY_STREAM = 0x1D  # extra seed word: identities never share the clinical stream

# (file, column, Safe Harbor class) of every identifier column written per person.
PLANTED = (
    Planted("patients.csv", "BIRTHDATE", "date"), Planted("patients.csv", "DEATHDATE", "date"),
    Planted("patients.csv", "SSN", "ssn"), Planted("patients.csv", "DRIVERS", "license"),
    Planted("patients.csv", "PASSPORT", "license"), Planted("patients.csv", "FIRST", "name"),
    Planted("patients.csv", "LAST", "name"), Planted("patients.csv", "MAIDEN", "name"),
    Planted("patients.csv", "ADDRESS", "address"), Planted("patients.csv", "CITY", "address"),
    Planted("patients.csv", "ZIP", "zip"),
    Planted("patient_contacts.csv", "MRN", "mrn"),
    Planted("patient_contacts.csv", "ACCOUNT", "account"),
    Planted("patient_contacts.csv", "PHONE", "phone"),
    Planted("patient_contacts.csv", "EMAIL", "email"),
    Planted("patient_contacts.csv", "CONTACT_NAME", "name"),
    Planted("patient_contacts.csv", "CONTACT_PHONE", "phone"),
    Planted("payer_transitions.csv", "MEMBERID", "health_plan"),
    Planted("payer_transitions.csv", "OWNER_NAME", "name"),
    Planted("devices.csv", "UDI", "device"),
    Planted("imaging_studies.csv", "SERIES_UID", "other_id"),
    Planted("imaging_studies.csv", "INSTANCE_UID", "other_id"),
    Planted("claims.csv", "Id", "account"),
    Planted("claims.csv", "APPOINTMENTID", "account"),
)
# The column naming each row's patient, where it is not PATIENT.
OWNER_COLUMN = {"patients": "Id", "claims": "PATIENTID"}


@dataclass(frozen=True)
class IdentifiableReport:
    """What ``generate_identifiable`` wrote."""

    profile: str
    persons: int
    seed: int
    out: Path
    rows: dict[str, int]
    identifiers: int
    seconds: float

    @property
    def persons_per_second(self) -> float:
        return self.persons / self.seconds if self.seconds > 0 else float("inf")


@dataclass(frozen=True)
class _SiteIds:
    payers: np.ndarray  # by payer code (profile payers, then Medicare)
    organizations: np.ndarray  # by care_site_id - 1
    providers: np.ndarray  # by provider_id - 1


def _site_files(profile: Profile, site: SiteContext, seed: int,
                ) -> tuple[_SiteIds, dict[str, bytes], dict[str, dict[str, object]]]:
    """UUIDs, CSV text and columns of organizations, providers and payers (site level,
    drawn once)."""
    ids, cols = _site_columns(profile, site, seed)
    return ids, {name: to_csv(name, table) for name, table in cols.items()}, cols


def _site_columns(profile: Profile, site: SiteContext,
                  seed: int) -> tuple[_SiteIds, dict[str, dict[str, object]]]:
    """UUIDs and columns of organizations, providers and payers (site level, drawn once)."""
    rng = np.random.default_rng(np.random.SeedSequence(
        [seed, profile_key(profile), (1 << 30) + _IDENTITY_STREAM]))
    fake = _faker(locale_for(profile))
    fake.seed_instance(seed)
    region = profile.demographics.regions[0]
    n_org, prov = len(profile.care_sites), site.tables["provider"]
    n_prov = len(prov["provider_id"])
    payer_names = [p.source_value for p in profile.payers] + ["Medicare"]
    ids = _SiteIds(uuids(rng, len(payer_names)), uuids(rng, n_org), uuids(rng, n_prov))
    orgs = {"Id": ids.organizations, "NAME": [s.name for s in profile.care_sites],
            "ADDRESS": [fake.street_address() for _ in range(n_org)],
            "CITY": [region.city] * n_org, "STATE": [region.state] * n_org,
            "PHONE": [fake.phone_number() for _ in range(n_org)]}
    female = np.asarray(prov["gender_concept_id"]) == c.FEMALE
    provs = {"Id": ids.providers,
             "ORGANIZATION": ids.organizations[np.asarray(prov["care_site_id"]) - 1],
             "NAME": [fake.name_female() if f else fake.name_male() for f in female],
             "GENDER": np.where(female, "F", "M"),
             "SPECIALITY": categorical(prov["specialty_source_value"]),  # type: ignore[arg-type]
             "CITY": [region.city] * n_prov, "STATE": [region.state] * n_prov}
    payers = {"Id": ids.payers, "NAME": payer_names,
              "OWNERSHIP": ["Government" if n in ("Medicare", "Medicaid", "SUS", "OHIP")
                            else "Private" for n in payer_names]}
    return ids, {"organizations": orgs, "providers": provs, "payers": payers}


def _block_files(profile: Profile, seed: int, index: int, block: dict[str, Columns],
                 person_base: int, ids: _SiteIds, site_cols: dict[str, dict[str, object]],
                 ) -> tuple[dict[str, tuple[bytes, int]], list[str], list[str], list[str]]:
    """(CSV text, rows) per file, truth lines, crosswalk lines and note span lines of one
    simulated block."""
    cols, patient = _block_columns(profile, seed, index, block, ids)
    files = {name: (to_csv(name, cols[name]),
                    len(cols[name][HEADERS[name][0]]))  # type: ignore[arg-type]
             for name in BLOCK_FILES}
    truth: list[str] = []
    for where in PLANTED:
        name = where.file.removesuffix(".csv")
        table = cols[name]
        owners = as_list(table[OWNER_COLUMN.get(name, "PATIENT")])
        # A value repeated on several rows (a series UID) is listed once: "_truth:<column>"
        # then holds the value on one row and "" elsewhere.
        values = table.get(f"_truth:{where.column}", table[where.column])
        truth.extend(truth_lines(owners, [str(v) for v in as_list(values)], where))
    # Clinical notes of the block's persons (notes.csv), their truth and span lines.
    notes = block_notes(BlockRecords(profile, seed, index, block, cols, patient, site_cols))
    files[NOTES_FILE.removesuffix(".csv")] = (
        to_csv("notes", notes.columns, header=True, names=tuple(notes.columns)),
        len(next(iter(notes.columns.values()))))  # type: ignore[arg-type]
    truth.extend(notes.truth)
    crosswalk = [f"{p},{person_base + i}\n" for i, p in enumerate(patient)]
    return files, truth, crosswalk, notes.spans


def _block_columns(profile: Profile, seed: int, index: int, block: dict[str, Columns],
                   ids: _SiteIds) -> tuple[dict[str, dict[str, object]], np.ndarray]:
    """Synthea columns per table of one simulated block, and the patient UUIDs."""
    block_seed = int(np.random.SeedSequence(
        [seed, profile_key(profile), index, _IDENTITY_STREAM]).generate_state(1)[0])
    rng = np.random.default_rng(block_seed)
    person = block["person"]
    n = len(person["person_id"])
    patient = uuids(rng, n)
    birth_days = np.asarray(person["birth_datetime"]) // 86400
    age = (profile.extract_date.toordinal() - 719163 - birth_days) / DAYS_PER_YEAR
    male = np.asarray(person["gender_concept_id"]) == c.MALE
    region = np.asarray(person["location_id"]) - 1
    who = draw_identities(rng, profile, male, age, region, block_seed)
    death = block["death"]
    death_day = np.ma.masked_all(n, dtype=np.int64)
    death_day[np.asarray(death["person_id"])] = np.asarray(death["death_date"], dtype=np.int64)
    regions = profile.demographics.regions
    visits, drugs = block["visit_occurrence"], block["drug_exposure"]
    vcost, dcost = block["cost@visit"], block["cost@drug"]
    vperson = np.asarray(visits["person_id"])[np.asarray(vcost["cost_event_id"])]
    dperson = np.asarray(drugs["person_id"])[np.asarray(dcost["cost_event_id"])]
    expenses = (np.bincount(vperson, np.asarray(vcost["paid_by_patient"]), n)
                + np.bincount(dperson, np.asarray(dcost["paid_by_patient"]), n))
    coverage = (np.bincount(vperson, np.asarray(vcost["paid_by_payer"]), n)
                + np.bincount(dperson, np.asarray(dcost["paid_by_payer"]), n))
    adult = age >= 16
    passport = rng.random(n) < 0.35
    cols: dict[str, dict[str, object]] = {}
    cols["patients"] = {
        "Id": patient, "BIRTHDATE": iso_date(birth_days).to_pylist(),
        "DEATHDATE": [v or "" for v in iso_date(death_day).to_pylist()],
        "SSN": who.ssn, "DRIVERS": np.where(adult, who.drivers, ""),
        "PASSPORT": np.where(adult & passport, who.passport, ""),
        "PREFIX": who.prefix, "FIRST": who.first, "LAST": who.last, "SUFFIX": who.suffix,
        "MAIDEN": who.maiden, "MARITAL": who.marital,
        "RACE": race_labels(np.asarray(person["race_concept_id"]),
                            categorical(person["race_source_value"])),  # type: ignore[arg-type]
        "ETHNICITY": np.where(np.asarray(person["ethnicity_concept_id"]) == c.HISPANIC,
                              "hispanic", "nonhispanic"),
        "GENDER": np.where(male, "M", "F"),
        "BIRTHPLACE": [f"{b}  {profile.country}" for b in who.birthplace],
        "ADDRESS": who.address, "CITY": [regions[r].city for r in region],
        "STATE": [regions[r].state for r in region], "ZIP": who.zip,
        "HEALTHCARE_EXPENSES": money(expenses), "HEALTHCARE_COVERAGE": money(coverage),
        "INCOME": np.round(rng.lognormal(10.6, 0.7, n)).astype(np.int64),
    }
    cols["patient_contacts"] = {
        "PATIENT": patient, "MRN": who.mrn, "ACCOUNT": who.account, "PHONE": who.phone,
        "EMAIL": who.email, "CONTACT_NAME": who.kin_name,
        "CONTACT_RELATIONSHIP": who.kin_relation, "CONTACT_PHONE": who.kin_phone}
    ppp = block["payer_plan_period"]
    owner = np.asarray(ppp["person_id"])
    self_owned = adult[owner]
    full_name = np.array([f"{f} {s}" for f, s in zip(who.first, who.last, strict=True)],
                         dtype=object)
    cols["payer_transitions"] = {
        "PATIENT": patient[owner], "MEMBERID": np.asarray(who.member, dtype=object)[owner],
        "START_DATE": iso_date(ppp["payer_plan_period_start_date"]),
        "END_DATE": iso_date(ppp["payer_plan_period_end_date"]),
        "PAYER": ids.payers[np.asarray(ppp["payer_source_value"].codes)],  # type: ignore[union-attr]
        "PLAN_OWNERSHIP": np.where(self_owned, "Self", "Guardian"),
        "OWNER_NAME": np.where(self_owned, full_name[owner],
                               np.asarray(who.kin_name, dtype=object)[owner]),
    }
    visit_ids = uuids(rng, len(visits["visit_occurrence_id"]))
    cols.update(clinical_tables(block, patient, visit_ids, ids.payers, ids.organizations,
                                ids.providers))
    cols.update(care_tables(profile, seed, index, block, patient, visit_ids,
                            cols["encounters"]))
    return cols, patient



def generate_identifiable(profile: str | Profile, persons: int, seed: int, out: Path | str, *,
                          progress: bool = False, overwrite: bool = False,
                          format: str = "synthea-csv",
                          fhir_layout: str = "ndjson") -> IdentifiableReport:
    """Write the identifiable extract of a synthetic site into ``out``.

    ``format`` is ``"synthea-csv"`` (Synthea-format CSV files) or ``"fhir"`` (FHIR R4);
    ``fhir_layout`` is ``"ndjson"`` (one file per resource type) or ``"bundles"`` (one
    transaction Bundle per patient, as Synthea writes). Same people and clinical facts as
    ``generate_site`` with the same profile, persons and seed; see
    docs/synth-identifiable.md for the files and the truth file.
    """
    chosen = profile if isinstance(profile, Profile) else PROFILES.get(profile)
    if chosen is None:
        raise BehindGlassError(f"unknown profile {profile!r}; choose one of "
                               f"{', '.join(sorted(PROFILES))}")
    if persons < 1:
        raise BehindGlassError("persons must be at least 1")
    if format not in FORMATS:
        raise BehindGlassError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    out = Path(out)
    if fhir_layout not in FHIR_LAYOUTS:
        raise BehindGlassError(f"unknown FHIR layout {fhir_layout!r}; choose one of "
                               f"{', '.join(FHIR_LAYOUTS)}")
    if format == "fhir":
        from behindglass.synth.identifiable.fhir_writer import write_fhir

        return write_fhir(chosen, persons, seed, out, progress=progress, overwrite=overwrite,
                          layout=fhir_layout)
    started = time.perf_counter()
    rows = dict.fromkeys((*BLOCK_FILES, *SITE_FILES), 0)
    identifiers = 0
    with staged_output(out, overwrite) as (partial, handles):
        site = build_site(chosen, persons, seed)
        ids, site_csv, site_cols = _site_files(chosen, site, seed)
        for name in (*BLOCK_FILES, *SITE_FILES):
            handles[name] = (partial / f"{name}.csv").open("wb")
            handles[name].write((",".join(HEADERS[name]) + "\n").encode("ascii"))
        for name, data in site_csv.items():
            handles[name].write(data)
            rows[name] = data.count(b"\n")
        person_base = chosen.id_offset + 1
        with truth_files(partial, CROSSWALK_FILE) as (truth, crosswalk, spans):
            for index, n, block in simulated_blocks(chosen, site, seed, persons,
                                                    label="identifiable", progress=progress):
                files, lines, links, span_lines = _block_files(
                    chosen, seed, index, block, person_base, ids, site_cols)
                for name, (data, count) in files.items():
                    if name not in HEADERS:  # notes: its header comes with every block
                        header, _, data = data.partition(b"\n")
                        if name not in handles:
                            handles[name] = (partial / f"{name}.csv").open("wb")
                            handles[name].write(header + b"\n")
                    handles[name].write(data)
                    rows[name] = rows.get(name, 0) + count
                truth.writelines(lines)
                crosswalk.writelines(links)
                spans.writelines(span_lines)
                identifiers += len(lines)
                person_base += n
    return IdentifiableReport(chosen.name, persons, seed, out, rows, identifiers,
                              time.perf_counter() - started)
