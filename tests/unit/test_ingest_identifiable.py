"""The identifiable synthetic extract (``synth.identifiable``) through ingest: every
identifier of its truth file is gone, every clinical fact is still there."""

from __future__ import annotations

import json
import string
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from behindglass.deid.pseudonym import pseudonymize
from behindglass.ingest import IngestReport, ingest_synthea
from tests.unit.ingest_support import SECRET, config, counts, leaked, write_extract
from tests.unit.test_ingest_notes import leaked_outside_notes, note_leaks

identifiable = pytest.importorskip("behindglass.synth.identifiable")

PERSONS = 1000


REPORTS: dict[Path, IngestReport] = {}


@pytest.fixture(scope="module")
def extract(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("identifiable")
    src = root / "src"
    identifiable.generate_identifiable("midwest-academic", PERSONS, 7, src)
    db = root / "site.duckdb"
    report = ingest_synthea(src, db, SECRET, config())
    assert report.persons == PERSONS and report.errors == 0
    REPORTS[db] = report
    return src, db


def _truth(src: Path) -> list[dict]:
    return identifiable.read_truth((src / identifiable.TRUTH_FILE).read_text())


def test_no_truth_file_identifier_survives(extract: tuple[Path, Path], tmp_path: Path) -> None:
    src, db = extract
    truth = _truth(src)
    assert {t["class"] for t in truth} >= {"name", "ssn", "address", "zip", "date"}
    values = [str(t["value"]) for t in truth]
    values += [line.split(",")[0] for line in (src / "patients.csv").read_text().splitlines()[1:]]
    # the site files' identifiers are not in the truth file (they are not patients')
    for name, columns in {"providers.csv": ("NAME", "ADDRESS"),
                          "organizations.csv": ("NAME", "ADDRESS", "PHONE")}.items():
        if (src / name).exists():
            con = duckdb.connect()
            for column in columns:
                values += [r[0] for r in con.execute(
                    f"SELECT DISTINCT {column} FROM read_csv('{src / name}', all_varchar=true) "
                    f"WHERE {column} IS NOT NULL").fetchall()]
    # note_text (notes.csv, de-identified into NOTE) is checked note by note
    assert leaked_outside_notes(db, [v.strip('"') for v in values], tmp_path) == []
    spans = [json.loads(line) for line in (src / identifiable.NOTE_SPANS_FILE).open()]
    assert spans and note_leaks(db, spans, truth) == []


def _source_counts(src: Path, name: str, column: str = "PATIENT",
                   distinct: str | None = None) -> dict[int, int]:
    """Rows (or distinct ``distinct`` values) per person of one source file; {} when the
    extract has no such file, so expectations follow whichever files were written."""
    if not (src / name).exists():
        return {}
    what = f"count(DISTINCT {distinct})" if distinct else "count(*)"
    con = duckdb.connect()
    rows = con.execute(f"SELECT {column}, {what} FROM read_csv('{src / name}', "
                       "all_varchar=true) GROUP BY 1").fetchall()
    ids = pseudonymize([r[0] for r in rows], SECRET, "person")
    return {int(i): n for i, (_, n) in zip(ids, rows, strict=True)}


def _plus(*parts: dict[int, int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for part in parts:
        for person, n in part.items():
            out[person] = out.get(person, 0) + n
    return out


def test_clinical_facts_survive(extract: tuple[Path, Path]) -> None:
    src, db = extract
    assert counts(db, "visit_occurrence") == _source_counts(src, "encounters.csv")
    assert counts(db, "condition_occurrence") == _source_counts(src, "conditions.csv")
    assert counts(db, "drug_exposure") == _plus(_source_counts(src, "medications.csv"),
                                                _source_counts(src, "immunizations.csv"))
    # Synthea writes one imaging row per DICOM instance; OMOP gets one per study
    assert counts(db, "procedure_occurrence") == _plus(
        _source_counts(src, "procedures.csv"),
        _source_counts(src, "imaging_studies.csv", distinct="Id"))
    assert counts(db, "device_exposure") == _source_counts(src, "devices.csv")
    assert counts(db, "payer_plan_period") == _source_counts(src, "payer_transitions.csv")
    obs = _plus(_source_counts(src, "observations.csv"), _source_counts(src, "allergies.csv"),
                _source_counts(src, "careplans.csv"))
    meas, other = counts(db, "measurement"), counts(db, "observation")
    assert {p: meas.get(p, 0) + other.get(p, 0) for p in obs} == obs
    con = duckdb.connect(str(db), read_only=True)
    unmapped = con.execute("SELECT count(*) FROM condition_occurrence "
                           "WHERE condition_concept_id = 0").fetchone()[0]
    assert unmapped == 0


def test_site_files_link(extract: tuple[Path, Path]) -> None:
    """Visits join the care sites and providers the extract's site files describe."""
    src, db = extract
    con = duckdb.connect(str(db), read_only=True)
    try:
        if (src / "organizations.csv").exists():
            assert con.execute("SELECT count(*) FROM visit_occurrence WHERE care_site_id NOT "
                               "IN (SELECT care_site_id FROM care_site)").fetchone() == (0,)
        if (src / "providers.csv").exists():
            assert con.execute("SELECT count(*) FROM visit_occurrence WHERE provider_id NOT "
                               "IN (SELECT provider_id FROM provider)").fetchone() == (0,)
    finally:
        con.close()


def test_every_supplementary_code_maps(extract: tuple[Path, Path]) -> None:
    """The generator writes only codes our catalogue knows (concept or source concept)."""
    _, db = extract
    con = duckdb.connect(str(db), read_only=True)
    try:
        checks = {
            "immunizations": "SELECT count(*) FROM drug_exposure WHERE drug_type_concept_id "
                             "= 32818 AND drug_concept_id = 0",
            "devices": "SELECT count(*) FROM device_exposure WHERE device_concept_id = 0",
            "observations": "SELECT count(*) FROM observation WHERE observation_concept_id = 0 "
                            "AND observation_source_concept_id = 0",
        }
        for what, sql in checks.items():
            assert con.execute(sql).fetchone() == (0,), what
    finally:
        con.close()


def test_files_not_loaded_are_reported(extract: tuple[Path, Path]) -> None:
    """claims.csv is not opened; notes.csv (free text) is de-identified into NOTE."""
    src, db = extract
    report = REPORTS[db]
    if (src / "claims.csv").exists():
        assert "claims.csv" in report.ignored_files
    if (src / "notes.csv").exists():
        rows = duckdb.connect().execute(f"SELECT count(*) FROM read_csv('{src / 'notes.csv'}', "
                                        "all_varchar=true)").fetchone()[0]
        assert report.held_back == {} and report.notes_deidentified == rows
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM note").fetchone() == (report.notes_deidentified,)
    finally:
        con.close()


def test_truth_classes_are_json_lines(extract: tuple[Path, Path]) -> None:
    src, _ = extract
    first = (src / identifiable.TRUTH_FILE).read_text().splitlines()[0]
    assert set(json.loads(first)) == {"person", "class", "value", "file", "column"}


_NAME = st.text(string.ascii_letters, min_size=6, max_size=14)


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=_NAME, last=_NAME, street=_NAME, ssn=st.from_regex(r"\d{3}-\d{2}-\d{4}",
                                                                  fullmatch=True))
def test_generated_identifiers_never_reach_the_store(
    tmp_path_factory: pytest.TempPathFactory, first: str, last: str, street: str, ssn: str
) -> None:
    root = tmp_path_factory.mktemp("prop")
    src = write_extract(root / "src", people=2)
    text = (src / "patients.csv").read_text()
    text = (text.replace("Zebulon", first).replace("Quigglesworth", last)
            .replace("Juniper Hollow", street).replace("123-45-6789", ssn))
    (src / "patients.csv").write_text(text)
    db = root / "db.duckdb"
    ingest_synthea(src, db, SECRET, config())
    assert leaked(db, [first, last, f"17 {street} Rd", ssn, "pat-aaaa-0001"]) == []
