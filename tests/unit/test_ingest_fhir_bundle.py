"""FHIR Bundles through ingest: the same store as the NDJSON of the same resources, however
the bundles are cut and referenced; bad entries and files reported by file and entry."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from behindglass.cli.ingest_cmd import ingest
from behindglass.deid.secret import SiteSecret
from behindglass.ingest import IngestError, fhir_bundle_reader, ingest_fhir
from behindglass.ingest import fhir_bundle as B
from tests.unit.ingest_support import SECRET, config, leaked
from tests.unit.test_ingest_fhir_samples import (
    PATIENTS,
    PLANTED,
    patient_of,
    resources,
    write_ndjson,
)

BASE = "https://ehr.example.org/fhir/"
NOT_COMPARED = {"metadata", "cdm_source"}  # provenance names the source


def _rewrite(obj: Any, fn: Callable[[str], str]) -> Any:
    """Every Reference.reference in ``obj`` through ``fn``."""
    if isinstance(obj, dict):
        return {k: fn(v) if k == "reference" and isinstance(v, str) else _rewrite(v, fn)
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [_rewrite(v, fn) for v in obj]
    return obj


def _urn(ref: str) -> str:
    return "urn:uuid:" + ref.split("/")[-1]


def _absolute(ref: str) -> str:
    return BASE + ref


def bundle(items: list[dict], kind: str = "transaction",
           refs: Callable[[str], str] = _urn) -> dict:
    entries = []
    for r in items:
        entry: dict[str, Any] = {"fullUrl": f"urn:uuid:{r['id']}" if refs is _urn
                                 else f"{BASE}{r['resourceType']}/{r['id']}",
                                 "resource": _rewrite(r, refs)}
        if kind in ("transaction", "batch"):
            entry["request"] = {"method": "POST", "url": r["resourceType"]}
        if kind == "searchset":
            entry["search"] = {"mode": "match"}
        entries.append(entry)
    # "entry" first and "resourceType" last: the reader must not rely on key order
    return {"entry": entries, "type": kind, "resourceType": "Bundle"}


def per_patient(root: Path, refs: Callable[[str], str] = _urn, indent: int | None = 2,
                kind: str = "transaction") -> Path:
    """One bundle per patient (named like Synthea's) plus one of the shared resources."""
    root.mkdir(parents=True)
    groups: dict[str | None, list[dict]] = {}
    for items in resources().values():
        for r in items:
            groups.setdefault(patient_of(r), []).append(r)
    for pid, items in groups.items():
        name = f"Patient_{pid}.json" if pid else "practitionerInformation.json"
        (root / name).write_text(json.dumps(bundle(items, kind, refs), indent=indent))
    return root


def one_file(path: Path, refs: Callable[[str], str] = _absolute) -> Path:
    everything = [r for items in resources().values() for r in items]
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        json.dump(bundle(everything, "searchset", refs), fh)
    return path


def _tables(db: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        names = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                           "WHERE table_schema = 'main'").fetchall()]
        return {t: sorted(con.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr)
                for t in names if t not in NOT_COMPARED}
    finally:
        con.close()


@pytest.fixture(scope="module")
def ndjson_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    root = tmp_path_factory.mktemp("ndjson")
    report = ingest_fhir(write_ndjson(root / "src"), root / "n.duckdb", SECRET, config())
    assert report.errors == 0 and report.persons == 3
    return root / "n.duckdb", report


@pytest.mark.parametrize("layout", ["urn-uuid folder", "relative refs, batch",
                                    "one gzipped searchset", "tiny read window",
                                    "two processes"])
def test_bundles_give_the_same_store_as_ndjson(
        tmp_path: Path, ndjson_store: tuple[Path, Any], layout: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    ndb, nreport = ndjson_store
    if layout == "urn-uuid folder":
        src = per_patient(tmp_path / "b")
    elif layout == "relative refs, batch":
        src = per_patient(tmp_path / "b", refs=lambda r: r, indent=None, kind="batch")
    elif layout == "one gzipped searchset":
        src = one_file(tmp_path / "all.json.gz")
    elif layout == "tiny read window":  # every entry spans several reads of the window
        monkeypatch.setattr(fhir_bundle_reader, "_READ", 7)
        src = one_file(tmp_path / "all.json.gz", refs=_urn)
    else:  # the files split between two worker processes
        monkeypatch.setattr(B, "_PARALLEL_BYTES", 0)
        src = per_patient(tmp_path / "b")
    db = tmp_path / "b.duckdb"
    report = ingest_fhir(src, db, SECRET, config())
    assert report.errors == 0 and report.persons == 3
    ours, theirs = _tables(db), _tables(ndb)
    assert ours.keys() == theirs.keys()
    for table in ours:
        assert ours[table] == theirs[table], table
    assert report.held_back == nreport.held_back
    assert report.held_back == {"DiagnosticReport.presentedForm": 1}
    assert report.notes_deidentified == nreport.notes_deidentified == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # temp files gone


def test_no_planted_identifier_reaches_the_store(tmp_path: Path) -> None:
    db = tmp_path / "b.duckdb"
    ingest_fhir(per_patient(tmp_path / "b"), db, SECRET, config())
    assert leaked(db, PLANTED) == []


def _digest(db: Path) -> str:
    return hashlib.sha256(db.read_bytes()).hexdigest()


def test_bad_entries_and_files_are_reported_by_file_and_entry(
        tmp_path: Path, ndjson_store: tuple[Path, Any]) -> None:
    src = per_patient(tmp_path / "b")
    p2 = src / f"Patient_{PATIENTS[1]}.json"
    doc = json.loads(p2.read_text())
    del doc["entry"][1]["resource"]["resourceType"]
    doc["entry"][2]["resource"]["subject"] = {"reference": "#contained-1"}
    doc["entry"][3] = "not an entry"
    p2.write_text(json.dumps(doc))
    p3 = src / f"Patient_{PATIENTS[2]}.json"
    p3.write_text(p3.read_text()[:-60])  # cut inside its last entry
    (src / "notes.json").write_text(json.dumps({"resourceType": "Patient", "id": "x"}))
    (src / "garbage.json.gz").write_bytes(b"\x1f\x8b not really gzip")
    expected = sorted([
        (f"{p2.name}#entry[1]", "resource has no resourceType"),
        (f"{p2.name}#entry[2]", "bad reference in Encounter.subject"),
        (f"{p2.name}#entry[3]", "entry is not a JSON object"),
        ("garbage.json.gz", "cannot be read (not UTF-8 JSON, or broken gzip)"),
        ("notes.json", "not a FHIR Bundle (resourceType is not Bundle)")])
    db = tmp_path / "site.duckdb"
    ingest_fhir(write_ndjson(tmp_path / "n"), db, SECRET, config())
    before = _digest(db)
    with pytest.raises(IngestError) as err:
        ingest_fhir(src, db, SECRET, config(), max_errors=5)
    got = sorted((p.file, p.reason) for p in err.value.problems)
    broken = [g for g in got if g[0].startswith(p3.name)]
    assert len(broken) == 1 and broken[0][1] == "invalid JSON"
    assert broken[0][0].startswith(f"{p3.name}#entry[")  # the entry it broke in
    assert [g for g in got if g not in broken] == expected
    assert all(p.line is None for p in err.value.problems)
    # reasons name elements, never values (file names are the site's own, as given)
    assert not [p for p in err.value.problems for v in PLANTED if v in p.reason]
    assert _digest(db) == before  # over budget: the store is untouched
    fresh = tmp_path / "fresh.duckdb"
    report = ingest_fhir(src, fresh, SECRET, config(), max_errors=6)
    assert len(report.problems) == 6
    # the broken file's patient contributed nothing, not even the entries before the cut
    assert report.persons == 2
    con = duckdb.connect(str(fresh), read_only=True)
    assert con.execute("SELECT count(*) FROM condition_occurrence").fetchone() == (1,)
    con.close()


def test_pipeline_problems_point_at_the_bundle_entry(tmp_path: Path) -> None:
    src = per_patient(tmp_path / "b")
    p1 = src / f"Patient_{PATIENTS[0]}.json"
    doc = json.loads(p1.read_text())
    index = next(i for i, e in enumerate(doc["entry"])
                 if e["resource"]["resourceType"] == "Condition")
    doc["entry"][index]["resource"]["onsetDateTime"] = "not-a-date"
    p1.write_text(json.dumps(doc))
    with pytest.raises(IngestError) as err:
        ingest_fhir(src, tmp_path / "db.duckdb", SECRET, config())
    [problem] = err.value.problems
    assert problem.file == f"{p1.name}#entry[{index}]"
    assert "onsetDateTime" in problem.reason
    assert not (tmp_path / "db.duckdb").exists()


def test_layout_is_detected(tmp_path: Path) -> None:
    assert B.is_bundle_layout(per_patient(tmp_path / "b"))
    assert B.is_bundle_layout(one_file(tmp_path / "one.json.gz"))
    assert not B.is_bundle_layout(write_ndjson(tmp_path / "n"))


def test_cli_takes_a_single_bundle_file(tmp_path: Path) -> None:
    key = tmp_path / "site.key"
    SiteSecret.generate(key)
    db = tmp_path / "site.duckdb"
    result = CliRunner().invoke(ingest, [str(one_file(tmp_path / "all.json.gz")), "--format",
                                         "fhir", "--db", str(db), "--secret-file", str(key),
                                         "--reference-date", "2026-01-01"])
    assert result.exit_code == 0, result.output
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM person").fetchone() == (3,)
    con.close()


@pytest.mark.parametrize("ref", [
    "urn:uuid:abc", "urn:uuid:", "Patient/abc", "Patient/", "https://h/fhir/Patient/abc",
    "https://h/fhir/Patient/abc/_history/2", "#c1", " Patient/abc ", "\x0b", "",
    "Practitioner?identifier=s|1", "Patient?name=x", "urn:oid:1.2.3", "abc"])
def test_bundle_reference_check_agrees_with_the_reader(ref: str) -> None:
    from behindglass.ingest.fhir_values import reference_id

    resource = {"resourceType": "Condition", "subject": {"reference": ref}}
    bad = B.bad_reference(resource, [["subject"]]) is not None
    assert bad == (not reference_id(ref.strip()))
