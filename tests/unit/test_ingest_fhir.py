"""FHIR R4 NDJSON bulk export through ingest: no identifier survives, the same clinical
facts as the Synthea CSV export of the same arguments, bad lines reported by file and line."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from behindglass.cli.ingest_cmd import ingest
from behindglass.deid.secret import SiteSecret
from behindglass.ingest import IngestError, ingest_fhir, ingest_synthea
from behindglass.ingest import fhir_flatten as F
from tests.unit.ingest_support import SECRET, config, counts
from tests.unit.test_ingest_notes import leaked_outside_notes, note_leaks

identifiable = pytest.importorskip("behindglass.synth.identifiable")

PERSONS = 800
SAME = ("person", "death", "location", "visit_occurrence", "condition_occurrence",
        "measurement", "care_site", "provider", "drug_exposure")
COUNTED = ("visit_occurrence", "condition_occurrence", "drug_exposure", "measurement",
           "observation", "procedure_occurrence")


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("fhir")
    fhir, csv = root / "fhir", root / "csv"
    identifiable.generate_identifiable("midwest-academic", PERSONS, 7, fhir, format="fhir")
    identifiable.generate_identifiable("midwest-academic", PERSONS, 7, csv)
    report = ingest_fhir(fhir, root / "f.duckdb", SECRET, config())
    assert report.persons == PERSONS and report.errors == 0
    assert "identifiers.jsonl" in report.ignored_files
    ingest_synthea(csv, root / "c.duckdb", SECRET, config())
    assert not [p for p in root.iterdir() if p.name.startswith(".")]  # temp files gone
    return fhir, root / "f.duckdb", root / "c.duckdb"


def test_every_extracted_path_is_allowed_by_the_catalogue() -> None:
    F.check_rules()


def test_no_truth_file_identifier_survives(stores: tuple[Path, Path, Path],
                                           tmp_path: Path) -> None:
    fhir, db, _ = stores
    truth = identifiable.read_truth((fhir / identifiable.TRUTH_FILE).read_text())
    assert {t["class"] for t in truth} >= {"name", "ssn", "address", "zip", "date", "phone"}
    values = [str(t["value"]) for t in truth]
    values += [json.loads(line)["id"] for line in (fhir / "Patient.ndjson").open()]
    # note_text (DocumentReference, de-identified into NOTE) is checked note by note
    assert leaked_outside_notes(db, values, tmp_path) == []
    spans = [json.loads(line) for line in (fhir / identifiable.NOTE_SPANS_FILE).open()]
    assert spans and note_leaks(db, spans, truth) == []


def test_same_facts_as_the_csv_export(stores: tuple[Path, Path, Path]) -> None:
    fhir, fdb, cdb = stores
    for table in COUNTED:
        assert counts(fdb, table) == counts(cdb, table), table
    con = duckdb.connect()
    con.execute(f"ATTACH '{fdb}' AS f (READ_ONLY); ATTACH '{cdb}' AS c (READ_ONLY)")
    roles = any(fhir.glob("PractitionerRole*.ndjson"))
    for table in SAME:
        cols = "* EXCLUDE (race_source_value)" if table == "person" else "*"
        if table == "provider" and not roles:  # the clinician's organization, specialty
            cols = "provider_id, gender_concept_id, gender_source_value"
        if table == "drug_exposure":  # a MedicationStatement has no count of fills
            cols = "* EXCLUDE (quantity)"
        diff = con.execute(f"SELECT count(*) FROM (SELECT {cols} FROM f.{table} EXCEPT ALL "
                           f"SELECT {cols} FROM c.{table})").fetchone()[0]
        assert diff == 0, table
    requests = sum(1 for _ in (fhir / "MedicationRequest.ndjson").open())
    fills = con.execute("SELECT count(*) FROM f.drug_exposure WHERE quantity = 1").fetchone()
    assert fills == (requests,)  # dispenseRequest.numberOfRepeatsAllowed 0: one fill each
    for table, concept in (("drug_exposure", "drug_concept_id"),
                           ("procedure_occurrence", "procedure_concept_id"),
                           ("observation", "observation_concept_id")):
        q = f"SELECT person_id, {concept}, count(*) FROM {{}}.{table} GROUP BY ALL ORDER BY ALL"
        assert con.execute(q.format("f")).fetchall() == con.execute(q.format("c")).fetchall()


def _digest(db: Path) -> str:
    return hashlib.sha256(db.read_bytes()).hexdigest()


def test_malformed_line_is_reported_and_store_unchanged(
        stores: tuple[Path, Path, Path], tmp_path: Path) -> None:
    fhir, _, _ = stores
    src = tmp_path / "src"
    src.mkdir()
    for name in ("Patient", "Encounter", "Condition"):
        lines = (fhir / f"{name}.ndjson").read_text().splitlines()[:40]
        (src / f"{name}.ndjson").write_text("\n".join(lines) + "\n")
    db = tmp_path / "site.duckdb"
    ingest_fhir(src, db, SECRET, config(), max_errors=1000)
    before = _digest(db)
    lines = (src / "Condition.ndjson").read_text().splitlines()
    secret_id = json.loads(lines[2])["subject"]["reference"]
    lines[2] = lines[2][:-5]  # truncated JSON
    (src / "Condition.ndjson").write_text("\n".join(lines) + "\n")
    with pytest.raises(IngestError) as err:
        ingest_fhir(src, db, SECRET, config(), max_errors=0)
    assert [(p.file, p.line) for p in err.value.problems] == [("Condition.ndjson", 3)]
    assert "invalid JSON" in err.value.problems[0].reason
    assert secret_id not in str(err.value)
    assert _digest(db) == before
    report = ingest_fhir(src, db, SECRET, config(), max_errors=1)
    assert [(p.file, p.line) for p in report.problems] == [("Condition.ndjson", 3)]


def test_pipeline_problems_point_at_the_ndjson_line(tmp_path: Path,
                                                    stores: tuple[Path, Path, Path]) -> None:
    fhir, _, _ = stores
    src = tmp_path / "src"
    src.mkdir()
    lines = (fhir / "Patient.ndjson").read_text().splitlines()[:5]
    bad = json.loads(lines[3])
    bad["birthDate"] = "not-a-date"
    lines[3] = json.dumps(bad)
    (src / "Patient.ndjson").write_text("\n".join(lines) + "\n")
    with pytest.raises(IngestError) as err:
        ingest_fhir(src, tmp_path / "db.duckdb", SECRET, config())
    assert [(p.file, p.line) for p in err.value.problems] == [("Patient.ndjson", 4)]
    assert "birthDate" in err.value.problems[0].reason
    assert not (tmp_path / "db.duckdb").exists()


def test_cli_format_fhir(stores: tuple[Path, Path, Path], tmp_path: Path) -> None:
    fhir, _, _ = stores
    key = tmp_path / "site.key"
    SiteSecret.generate(key)
    db = tmp_path / "site.duckdb"
    result = CliRunner().invoke(ingest, [str(fhir), "--format", "fhir", "--db", str(db),
                                         "--secret-file", str(key), "--reference-date",
                                         "2026-01-01"])
    assert result.exit_code == 0, result.output
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM person").fetchone() == (PERSONS,)


def _rows(csv_path: Path) -> list[list[str]]:
    import csv as _csv
    with csv_path.open(newline="", encoding="utf-8") as fh:
        return list(_csv.reader(fh))[1:]


EDGE = {
    "Patient": [
        {"resourceType": "Patient", "id": " p1\t", "birthDate": "1950-01-02",
         "gender": "female", "address": [{"use": "work", "state": "IL"},
                                         {"use": "home", "state": " WI ", "postalCode": 53703}],
         "extension": [{"url": "x", "extension": []},
                       {"url": "http://hl7.org/us-core-race ",
                        "extension": [{"url": "text"}, {"url": "ombCategory",
                                                         "valueCoding": {"code": "9999-9"}}]},
                       {"url": "us-core-ethnicity", "extension": [
                           {"url": "ombCategory", "valueCoding": {"code": "2135-2"}}]}]},
        {"resourceType": "Patient", "id": "p2", "gender": "other", "address": []},
    ],
    "Encounter": [
        {"resourceType": "Encounter", "id": "e1", "period": {"start": "2020-01-01"},
         "subject": {"reference": "urn:uuid:p1"},
         "serviceProvider": {"reference": "Organization/o1/_history/3"},
         "participant": [{"individual": {"reference": ""}}, {"individual": {"reference":
                                                                         "Practitioner/d1"}}],
         "class": {"code": "IMP"}, "type": [{"coding": [{"system": "x", "code": "1"},
                                                        {"system": "snomed", "code": "2"}]}]},
        {"resourceType": "Encounter", "id": "e2", "class": {"code": "Weird"},
         "type": [{"coding": [{"system": "x", "code": ""}, {"system": "y", "code": "3"}]}]},
    ],
    "Observation": [
        {"resourceType": "Observation", "effectiveDateTime": "2020-01-01",
         "subject": {"reference": "Patient/p1"}, "code": {"coding": [{"code": "8480-6"}]},
         "valueQuantity": {"value": 5, "code": "mm"}},
        {"resourceType": "Observation", "code": {"coding": []},
         "valueQuantity": {"value": 1.5e-7, "unit": "u"}},
        {"resourceType": "Observation", "valueQuantity": {"value": "12"}},
    ],
}


@pytest.mark.parametrize("clean_values", [True, False])
def test_duckdb_flattening_matches_the_line_parser(tmp_path: Path, clean_values: bool) -> None:
    from behindglass.ingest.fhir import flatten
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    found = {}
    for kind, resources in EDGE.items():
        if clean_values:  # no whitespace to clean: the fastest path is taken
            resources = json.loads(json.dumps(resources).replace(" ", "").replace("\\t", ""))
        path = src / f"{kind}.ndjson"
        path.write_text("\n" + "\n".join(json.dumps(r) for r in resources) + "\n\n")
        found[kind] = [path]
    flats, problems = flatten(found, out)
    assert problems == []
    for kind, paths in found.items():
        expected = [["" if v is None else v for v in F.parse_line(line, kind)[0]]
                    for line in paths[0].read_text().splitlines() if line.strip()]
        stem = F.STEMS[kind]
        assert _rows(out / f"{stem}.csv") == expected, kind
        assert flats[stem].parts[0][2] is None, kind  # flattened by DuckDB, not line by line
        assert flats[stem].origin == [(paths[0].name, n) for n in
                                      range(2, 2 + len(expected))]


def test_shapes_duckdb_does_not_take_fall_back_to_the_line_parser(tmp_path: Path) -> None:
    from behindglass.ingest.fhir import flatten
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    lines = [json.dumps({"resourceType": "Encounter", "id": "e1",
                         "class": [{"code": "AMB"}]}),  # R5 shape: a list
             json.dumps({"resourceType": "Patient", "id": "x"}),
             "[1, 2]"]
    parts = [src / "Encounter.1.ndjson", src / "Encounter.2.ndjson"]
    parts[0].write_text("\n".join(lines) + "\n")
    parts[1].write_text(json.dumps({"resourceType": "Encounter", "id": "e2"}) + "\n")
    flats, problems = flatten({"Encounter": parts}, out)
    assert [(p.file, p.line, p.reason) for p in problems] == [
        ("Encounter.1.ndjson", 2, "resourceType is not Encounter"),
        ("Encounter.1.ndjson", 3, "not a JSON object")]
    assert [r[0] for r in _rows(out / "encounters.csv")] == ["e1", "e2"]
    assert _rows(out / "encounters.csv")[0][6] == "ambulatory"
    assert flats["encounters"].origin == [("Encounter.1.ndjson", 1), ("Encounter.2.ndjson", 1)]
    assert [p.name for p in out.iterdir()] == ["encounters.csv"]
