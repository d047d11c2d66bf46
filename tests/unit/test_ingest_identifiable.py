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
from behindglass.ingest import ingest_synthea
from tests.unit.ingest_support import SECRET, config, counts, leaked, write_extract

identifiable = pytest.importorskip("behindglass.synth.identifiable")

PERSONS = 1000


@pytest.fixture(scope="module")
def extract(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("identifiable")
    src = root / "src"
    identifiable.generate_identifiable("midwest-academic", PERSONS, 7, src)
    db = root / "site.duckdb"
    report = ingest_synthea(src, db, SECRET, config())
    assert report.persons == PERSONS and report.errors == 0
    return src, db


def _truth(src: Path) -> list[dict]:
    return identifiable.read_truth((src / identifiable.TRUTH_FILE).read_text())


def test_no_truth_file_identifier_survives(extract: tuple[Path, Path]) -> None:
    src, db = extract
    truth = _truth(src)
    assert {t["class"] for t in truth} >= {"name", "ssn", "address", "zip", "date"}
    values = [str(t["value"]) for t in truth]
    values += [line.split(",")[0] for line in (src / "patients.csv").read_text().splitlines()[1:]]
    assert leaked(db, [v.strip('"') for v in values]) == []


def _source_counts(src: Path, name: str, column: str = "PATIENT") -> dict[int, int]:
    con = duckdb.connect()
    rows = con.execute(f"SELECT {column}, count(*) FROM read_csv('{src / name}', "
                       "all_varchar=true) GROUP BY 1").fetchall()
    ids = pseudonymize([r[0] for r in rows], SECRET, "person")
    return {int(i): n for i, (_, n) in zip(ids, rows, strict=True)}


def test_clinical_facts_survive(extract: tuple[Path, Path]) -> None:
    src, db = extract
    assert counts(db, "visit_occurrence") == _source_counts(src, "encounters.csv")
    assert counts(db, "condition_occurrence") == _source_counts(src, "conditions.csv")
    assert counts(db, "drug_exposure") == _source_counts(src, "medications.csv")
    assert counts(db, "procedure_occurrence") == _source_counts(src, "procedures.csv")
    obs = _source_counts(src, "observations.csv")
    meas, other = counts(db, "measurement"), counts(db, "observation")
    assert {p: meas.get(p, 0) + other.get(p, 0) for p in obs} == obs
    con = duckdb.connect(str(db), read_only=True)
    unmapped = con.execute("SELECT count(*) FROM condition_occurrence "
                           "WHERE condition_concept_id = 0").fetchone()[0]
    assert unmapped == 0


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
