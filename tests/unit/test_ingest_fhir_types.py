"""The flattened rows of every FHIR type beyond the core six, and of dispenseRequest.

Built from the hand-written samples (tests/unit/test_ingest_fhir_samples.py): each stem's
CSV must hold exactly the expected rows, and nothing of the planted identifiers.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb
import pytest

from behindglass.ingest import IngestReport, ingest_fhir
from behindglass.ingest import fhir_flatten as F
from behindglass.ingest import fhir_sql as S
from behindglass.ingest.fhir import count_held_back, find_ndjson, flatten
from behindglass.ingest.fhir_values import reference_id
from tests.unit.ingest_support import SECRET, config, leaked
from tests.unit.test_ingest_fhir_samples import PATIENTS, PLANTED, resources, write_ndjson

P1, P2, P3 = PATIENTS


@pytest.fixture(scope="module")
def flat(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("types")
    found, _, _ = find_ndjson(write_ndjson(root / "src"))
    out = root / "out"
    out.mkdir()
    _, problems = flatten(found, out)
    assert problems == []
    return out


def _rows(out: Path, stem: str) -> list[dict[str, str]]:
    with (out / f"{stem}.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and list(rows[0]) == list(F.COLUMNS[stem])
    return rows


def test_immunizations_take_the_cvx_code(flat: Path) -> None:
    assert _rows(flat, "immunizations")[0] == {
        "DATE": "2019-03-04T09:50:00Z", "PATIENT": P1, "ENCOUNTER": "enc-0-0", "CODE": "140",
        "BASE_COST": ""}


def test_allergy_ends_at_last_occurrence_only_when_resolved(flat: Path) -> None:
    assert _rows(flat, "allergies") == [{
        "START": "2019-03-04", "STOP": "2020-05-01", "PATIENT": P1, "ENCOUNTER": "enc-0-0",
        "CODE": "91935009", "SYSTEM": "http://snomed.info/sct", "TYPE": "allergy",
        "CATEGORY": "food"}]
    active = {"resourceType": "AllergyIntolerance", "lastOccurrence": "2020-05-01",
              "clinicalStatus": {"coding": [{"code": "active"}]}}
    row, _ = F.parse_line(json.dumps(active), "AllergyIntolerance")
    assert row is not None and row[1] == ""


def test_devices_take_dates_from_their_use_or_manufacture(flat: Path) -> None:
    assert _rows(flat, "devices") == [
        {"START": "2019-03-04T10:00:00Z", "STOP": "2021-01-01T00:00:00Z", "PATIENT": P1,
         "ENCOUNTER": "", "CODE": "72506001"},
        {"START": "2020-11-01", "STOP": "", "PATIENT": P3, "ENCOUNTER": "",
         "CODE": "261352009"}]


def test_imaging_study_is_one_row_without_uids(flat: Path) -> None:
    assert _rows(flat, "imaging_studies") == [{
        "Id": "img-1", "DATE": "2020-11-20T22:20:00Z", "PATIENT": P1, "ENCOUNTER": "enc-0-1",
        "BODYSITE_CODE": "51185008", "MODALITY_CODE": "DX", "PROCEDURE_CODE": "399208008"}]


def test_coverage_becomes_a_payer_transition(flat: Path) -> None:
    assert _rows(flat, "payer_transitions") == [{
        "PATIENT": P1, "START_DATE": "2019-01-01", "END_DATE": "2021-12-31",
        "PAYER": "payer-1", "PLAN_OWNERSHIP": "Guardian"}]


def test_organizations_leave_out_payers_and_take_managed_locations(flat: Path) -> None:
    assert _rows(flat, "organizations") == [
        {"Id": "org-1", "STATE": "MA", "ZIP": "02139"},
        {"Id": "org-2", "STATE": "NH", "ZIP": "03601"}]  # loc-2 has no manager: skipped


def test_practitioner_gets_organization_and_specialty_from_role(flat: Path) -> None:
    assert _rows(flat, "providers") == [
        {"Id": "dr-1", "ORGANIZATION": "org-1", "GENDER": "M", "SPECIALITY": "394814009"}]


def test_care_plan_code_is_the_snomed_category(flat: Path) -> None:
    assert [r["CODE"] for r in _rows(flat, "careplans")] == ["698360004"] * 3


def test_medications_from_requests_and_statements(flat: Path) -> None:
    rows = _rows(flat, "medications")
    assert [(r["PATIENT"], r["START"], r["STOP"], r["DISPENSES"]) for r in rows] == [
        (P1, "2019-03-04T09:40:00Z", "2019-04-03", "1"),  # validityPeriod.end
        (P2, "2019-03-04T09:40:00Z", "2019-06-02", "3"),  # 30 days x (2 repeats + 1)
        (P3, "2019-03-04T09:40:00Z", "", ""),  # no dispenseRequest
        (P3, "2019-03-04T00:00:00Z", "2019-04-03T00:00:00Z", "")]  # MedicationStatement
    assert rows[3]["ENCOUNTER"] == "enc-2-0"


def test_no_planted_identifier_is_flattened(flat: Path) -> None:
    text = "\n".join(p.read_text() for p in flat.glob("*.csv"))
    planted = [v for v in PLANTED if v not in PATIENTS]
    assert [v for v in planted if v in text] == []


def test_free_text_types_are_counted_not_flattened(tmp_path: Path) -> None:
    found, _, held = find_ndjson(write_ndjson(tmp_path))
    assert not {"DiagnosticReport", "DocumentReference"} & set(found)
    assert count_held_back(held) == {"DiagnosticReport.presentedForm": 1,
                                     "DocumentReference.content": 1}


DISPENSE = [
    None,
    {"numberOfRepeatsAllowed": 3},
    {"numberOfRepeatsAllowed": -1, "expectedSupplyDuration": {"value": 2, "code": "wk"}},
    {"numberOfRepeatsAllowed": 1, "expectedSupplyDuration": {"value": 1.5, "unit": "mo"}},
    {"expectedSupplyDuration": {"value": 30, "unit": "days"}},
    {"expectedSupplyDuration": {"value": "30", "unit": "days"}},
    {"expectedSupplyDuration": {"value": 0, "unit": "d"}},
    {"expectedSupplyDuration": {"value": 10, "unit": "h"}},
    {"numberOfRepeatsAllowed": 2.0, "expectedSupplyDuration": {"value": 1e5, "code": "a"}},
    {"validityPeriod": {"start": "2020-01-01"}, "expectedSupplyDuration": {"value": 7,
                                                                           "code": "d"}},
    {"validityPeriod": {"end": "2020-02-01"}, "numberOfRepeatsAllowed": True},
]


def test_dispense_request_same_on_the_duckdb_and_line_paths(tmp_path: Path) -> None:
    lines = []
    for i, dispense in enumerate(DISPENSE):
        r = {"resourceType": "MedicationRequest", "subject": {"reference": "Patient/p"},
             "authoredOn": "2020-01-01T10:00:00Z" if i != 4 else "not a date",
             "medicationCodeableConcept": {"coding": [{"code": "1191"}]}}
        if dispense is not None:
            r["dispenseRequest"] = dispense
        lines.append(json.dumps(r))
    src = tmp_path / "MedicationRequest.ndjson"
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    out.mkdir()
    flats, problems = flatten({"MedicationRequest": [src]}, out)
    assert problems == [] and flats["medications"].parts[0][2] is None  # the DuckDB path
    with (out / "medications.csv").open(newline="") as fh:
        fast = [(r["STOP"], r["DISPENSES"]) for r in csv.DictReader(fh)]
    slow = [(row[1], row[5]) for row in (F.parse_line(line, "MedicationRequest")[0]
                                         for line in lines)]
    assert fast == slow
    assert slow == [("", ""), ("", "4"), ("2020-01-15", ""), ("2020-03-31", "2"), ("", ""),
                    ("", ""), ("", ""), ("", ""), ("", ""), ("2020-01-08", ""),
                    ("2020-02-01", "")]


@pytest.mark.parametrize(("ref", "expected"), [
    ("urn:uuid:abc-1", "abc-1"), ("Patient/abc-1", "abc-1"),
    ("https://ehr.example.org/fhir/Patient/abc-1", "abc-1"),
    ("https://ehr.example.org/fhir/Patient/abc-1/_history/3", "abc-1"),
    ("Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|99999", "99999"),
    ("Patient?name=smith", ""), ("#contained-1", ""), ("Patient/", ""), ("urn:uuid:", "")])
def test_reference_forms_on_both_paths(tmp_path: Path, ref: str, expected: str) -> None:
    assert reference_id(ref) == expected
    src = tmp_path / "Condition.ndjson"
    src.write_text(json.dumps({"resourceType": "Condition", "subject": {"reference": ref}})
                   + "\n")
    out = tmp_path / "out"
    out.mkdir()
    flatten({"Condition": [src]}, out)
    with (out / "conditions.csv").open(newline="") as fh:
        assert [r["PATIENT"] for r in csv.DictReader(fh)] == [expected]


def _variants(kind: str, items: list[dict]) -> list[dict]:
    """The samples plus edge cases: padded text, several codings, odd references."""
    out = [*items]
    for r in items:
        v = json.loads(json.dumps(r))
        for key in ("subject", "patient", "beneficiary", "encounter", "context"):
            if isinstance(v.get(key), dict):
                v[key] = {"reference": " urn:uuid:" + v[key]["reference"].split("/")[-1]}
        for key in ("code", "vaccineCode", "medicationCodeableConcept", "relationship"):
            if isinstance(v.get(key), dict):
                v[key]["coding"] = [{"system": "urn:x", "code": " local\t"},
                                    *v[key]["coding"]]
        out.append(v)
    out.append({"resourceType": kind})  # nothing but the type
    return out


@pytest.mark.parametrize("kind", sorted(S.SQL))
def test_every_fast_path_type_matches_the_line_parser(tmp_path: Path, kind: str) -> None:
    items = resources().get(kind) or [{"resourceType": kind}]
    lines = [json.dumps(r) for r in _variants(kind, items)]
    src = tmp_path / f"{kind}.ndjson"
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    out.mkdir()
    flats, problems = flatten({kind: [src]}, out)
    stem = F.STEMS[kind]
    assert problems == [] and flats[stem].parts[0][2] is None  # the DuckDB path
    with (out / f"{stem}.csv").open(newline="", encoding="utf-8") as fh:
        fast = list(csv.reader(fh))[1:]
    assert fast == [list(F.parse_line(line, kind)[0]) for line in lines]


def _rows_in_store(db: Path) -> dict[str, int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                            "WHERE table_schema = 'main'").fetchall()]
        return {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    finally:
        con.close()


@pytest.fixture(scope="module")
def full_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, IngestReport]:
    root = tmp_path_factory.mktemp("store")
    report = ingest_fhir(write_ndjson(root / "src"), root / "all.duckdb", SECRET, config())
    assert report.errors == 0
    return root / "all.duckdb", report


@pytest.mark.parametrize("kind", ["Immunization", "AllergyIntolerance", "ImagingStudy",
                                  "MedicationStatement", "Coverage", "CarePlan", "Device",
                                  "Practitioner", "Organization"])
def test_each_new_type_reaches_the_store(tmp_path: Path, full_store: tuple[Path, IngestReport],
                                         kind: str) -> None:
    """Leaving one type's file out loses rows: its flattened rows are loaded."""
    db, report = full_store
    assert not [n for n in report.ignored_files if n.startswith(kind)]
    without = {k: v for k, v in resources().items() if k != kind}
    ingest_fhir(write_ndjson(tmp_path / "src", without), tmp_path / "w.duckdb", SECRET,
                config())
    full, less = _rows_in_store(db), _rows_in_store(tmp_path / "w.duckdb")
    assert sum(full.values()) > sum(less.values()), kind


def test_new_type_identifiers_never_reach_the_store(full_store: tuple[Path, IngestReport]) -> None:
    db, report = full_store
    assert leaked(db, PLANTED) == []
    assert report.notes_deidentified == 1  # DocumentReference: scrubbed into NOTE
    assert report.held_back == {"DiagnosticReport.presentedForm": 1}


def test_dispense_request_gives_drug_end_dates(full_store: tuple[Path, IngestReport]) -> None:
    db, _ = full_store
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("SELECT drug_exposure_start_date, drug_exposure_end_date, days_supply, "
                       "quantity FROM drug_exposure WHERE drug_source_value = '860975' "
                       "ORDER BY quantity NULLS LAST").fetchall()
    con.close()
    # year mode: dates are July 1; days_supply comes from the true dates (30 d, 90 d)
    assert [(r[2], r[3]) for r in rows] == [(30, 1.0), (90, 3.0), (None, None)]
    assert rows[0][1] is not None and rows[1][1] is not None


def test_repeated_organizations_and_clinicians_are_kept_once(tmp_path: Path) -> None:
    by_type = resources()
    by_type["Organization"] = by_type["Organization"] * 3
    by_type["Practitioner"] = by_type["Practitioner"] * 2
    found, _, _ = find_ndjson(write_ndjson(tmp_path / "src", by_type))
    out = tmp_path / "out"
    out.mkdir()
    flatten(found, out)
    assert [r["Id"] for r in _rows(out, "organizations")] == ["org-1", "org-2"]
    assert [r["Id"] for r in _rows(out, "providers")] == ["dr-1"]


def test_every_extracted_path_has_a_reasoned_rule() -> None:
    from behindglass.deid.safe_harbor import Action, rule_for

    for paths in F.EXTRACTED.values():
        for path in paths:
            rule = rule_for("fhir", path)
            assert rule.action is not Action.DROP and rule.reason, path
