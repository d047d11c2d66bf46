"""Synthea CSV → de-identified OMOP: identifiers gone, facts kept, ids stable, dates per mode."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from behindglass.core.cohort import Cohort
from behindglass.deid.dates import shift_days
from behindglass.deid.pseudonym import pseudonymize
from behindglass.engine.site_store import SiteStore
from behindglass.ingest import ingest_synthea
from behindglass.synth import concepts as c
from tests.unit.ingest_support import (
    OTHER_SECRET,
    PEOPLE,
    PLANTED,
    SECRET,
    config,
    counts,
    leaked,
    query,
    write_extract,
)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("ingest")
    src = write_extract(root / "src", extra_conditions=2)
    db = root / "site.duckdb"
    ingest_synthea(src, db, SECRET, config())
    return src, db




def pid(source_id: str, secret=SECRET) -> int:
    return int(pseudonymize([source_id], secret, "person")[0])


def test_no_planted_identifier_reaches_the_store(loaded: tuple[Path, Path]) -> None:
    _, db = loaded
    assert leaked(db, [*PLANTED, "Springfieldia", "Suffolk County", "Visit of"]) == []


def test_clinical_facts_survive_per_person(loaded: tuple[Path, Path]) -> None:
    _, db = loaded
    ids = {pid(p[0]): i for i, p in enumerate(PEOPLE)}
    assert set(counts(db, "person")) == set(ids)
    assert {p: 3 for p in ids} == counts(db, "visit_occurrence")
    expected_cond = {p: 1 + (i % 2) + 2 for p, i in ids.items()}
    assert counts(db, "condition_occurrence") == expected_cond
    assert counts(db, "drug_exposure") == dict.fromkeys(ids, 1)
    assert counts(db, "measurement") == dict.fromkeys(ids, 2)
    assert counts(db, "observation") == dict.fromkeys(ids, 1)
    assert counts(db, "procedure_occurrence") == dict.fromkeys(ids, 1)
    assert counts(db, "observation_period") == dict.fromkeys(ids, 1)


def test_concepts_units_visits_and_demographics(loaded: tuple[Path, Path]) -> None:
    _, db = loaded
    cond = dict(query(db, "SELECT condition_source_value, any_value(condition_concept_id) "
                      "FROM condition_occurrence GROUP BY 1"))
    assert cond == {"44054006": c.T2DM, "59621000": c.ESSENTIAL_HTN, "999999999": 0}
    assert query(db, "SELECT DISTINCT unit_concept_id FROM measurement ORDER BY 1") == [
        (c.PERCENT,), (c.MMHG,)]
    assert query(db, "SELECT DISTINCT value_as_concept_id, value_as_string FROM observation") == [
        (c.SMOKES_DAILY, None)]
    visits = {r[0] for r in query(db, "SELECT visit_concept_id FROM visit_occurrence")}
    assert visits == {c.OUTPATIENT, c.INPATIENT, c.EMERGENCY}
    people = dict((r[0], r[1:]) for r in query(
        db, "SELECT person_id, gender_concept_id, race_concept_id, ethnicity_concept_id, "
            "person_source_value FROM person"))
    assert people[pid("pat-aaaa-0001")] == (c.MALE, c.WHITE, c.NOT_HISPANIC, None)
    assert people[pid("pat-bbbb-0002")] == (c.FEMALE, c.BLACK, c.HISPANIC, None)
    assert people[pid("pat-dddd-0004")][1] == 0  # "other" race
    assert query(db, "SELECT drug_concept_id, days_supply, quantity FROM drug_exposure "
                     "LIMIT 1") == [(c.METFORMIN, 30, 2.0)]


def test_zip3_state_only_and_restricted_prefix(loaded: tuple[Path, Path]) -> None:
    _, db = loaded
    rows = dict(query(db, "SELECT p.person_id, l.zip FROM person p JOIN location l USING "
                      "(location_id)"))
    assert rows[pid("pat-aaaa-0001")] == "606"
    assert rows[pid("pat-bbbb-0002")] == "000"  # 036 is a restricted prefix
    assert query(db, "SELECT count(*) FROM location WHERE city IS NOT NULL OR address_1 IS NOT "
                 "NULL OR county IS NOT NULL OR latitude IS NOT NULL") == [(0,)]


def test_year_mode_dates_and_ages_over_89(loaded: tuple[Path, Path]) -> None:
    _, db = loaded
    births = dict((r[0], r[1:]) for r in query(
        db, "SELECT person_id, year_of_birth, month_of_birth, day_of_birth, birth_datetime "
            "FROM person"))
    assert births[pid("pat-bbbb-0002")] == (2026 - 90, None, None, None)  # born 1925: capped
    assert births[pid("pat-aaaa-0001")] == (1970, None, None, None)
    for table, col in [("visit_occurrence", "visit_start_date"), ("death", "death_date"),
                       ("condition_occurrence", "condition_start_date"),
                       ("measurement", "measurement_date")]:
        days = {(d.month, d.day) for (d,) in query(db, f"SELECT {col} FROM {table}")}
        assert days == {(7, 1)}, table


def test_shift_mode_preserves_intervals(tmp_path: Path) -> None:
    src = write_extract(tmp_path / "src")
    db = tmp_path / "shift.duckdb"
    ingest_synthea(src, db, SECRET, config("shift"))
    person = pid("pat-aaaa-0001")
    offset = int(shift_days(["pat-aaaa-0001"], SECRET, 365)[0])
    starts = sorted(r[0] for r in query(db, "SELECT visit_start_datetime FROM visit_occurrence "
                                        f"WHERE person_id = {person}"))
    true = [dt.datetime(2019, 3, 4, 9, 30), dt.datetime(2020, 11, 20, 22, 10),
            dt.datetime(2021, 5, 2, 8, 0)]
    assert starts == [t + dt.timedelta(days=offset) for t in true]
    (birth,) = query(db, f"SELECT year_of_birth, month_of_birth, day_of_birth FROM person "
                     f"WHERE person_id = {person}")
    assert dt.date(*birth) == dt.date(1970, 3, 14) + dt.timedelta(days=offset)
    # the over-89 person still loses month and day in shift mode
    assert query(db, "SELECT month_of_birth FROM person WHERE person_id = "
                 f"{pid('pat-bbbb-0002')}") == [(None,)]


def test_pseudonyms_stable_across_loads_and_unlinkable(tmp_path: Path) -> None:
    src = write_extract(tmp_path / "src")
    a, b, other = tmp_path / "a.duckdb", tmp_path / "b.duckdb", tmp_path / "o.duckdb"
    ingest_synthea(src, a, SECRET, config())
    ingest_synthea(src, b, SECRET, config())
    ingest_synthea(src, other, OTHER_SECRET, config())
    ids = "SELECT person_id FROM person ORDER BY 1"
    visits = "SELECT visit_occurrence_id FROM visit_occurrence ORDER BY 1"
    assert query(a, ids) == query(b, ids) and query(a, visits) == query(b, visits)
    assert not set(query(a, ids)) & set(query(other, ids))
    assert not set(query(a, visits)) & set(query(other, visits))


def test_incremental_load_adds_without_duplicating(tmp_path: Path) -> None:
    first = write_extract(tmp_path / "first", people=2)
    second = write_extract(tmp_path / "second", people=3)  # 2 known persons + 1 new
    db = tmp_path / "site.duckdb"
    ingest_synthea(first, db, SECRET, config())
    again = ingest_synthea(first, db, SECRET, config())
    assert again.added["visit_occurrence"] == 0 and again.added["person"] == 0
    assert query(db, "SELECT count(*) FROM person") == [(2,)]
    report = ingest_synthea(second, db, SECRET, config())
    assert report.added["person"] == 1
    assert report.added["visit_occurrence"] == 3
    assert query(db, "SELECT count(*), count(DISTINCT person_id) FROM person") == [(3, 3)]
    assert query(db, "SELECT count(*) FROM observation_period") == [(3,)]
    for table, key in [("visit_occurrence", "visit_occurrence_id"),
                       ("condition_occurrence", "condition_occurrence_id"),
                       ("measurement", "measurement_id")]:
        n, distinct = query(db, f"SELECT count(*), count(DISTINCT {key}) FROM {table}")[0]
        assert n == distinct


def test_t2d_cohort_on_the_ingested_store(loaded: tuple[Path, Path]) -> None:
    _, db = loaded
    with SiteStore.open(db) as data:
        assert data.count_persons(Cohort.condition(c.T2DM)) == len(PEOPLE)
        assert data.count_persons(Cohort.condition(c.DIABETES, descendants=True)) == len(PEOPLE)
        assert data.count_persons(Cohort.condition(c.HYPERTENSIVE_DISORDER)) == 2


def test_events_of_an_earlier_loads_person_are_accepted(tmp_path: Path) -> None:
    db = tmp_path / "site.duckdb"
    ingest_synthea(write_extract(tmp_path / "a"), db, SECRET, config())
    later = write_extract(tmp_path / "b", people=4)
    # the later extract no longer lists the persons, only new events of theirs
    (later / "patients.csv").write_text((later / "patients.csv").read_text().splitlines()[0]
                                        + "\n")
    (later / "encounters.csv").write_text("Id,START,STOP,PATIENT,ENCOUNTERCLASS,CODE\n"
                                          '"enc-new","2022-01-01","","pat-aaaa-0001",'
                                          '"wellness","1"\n')
    for name in ("conditions", "medications", "observations", "procedures"):
        (later / f"{name}.csv").unlink()
    report = ingest_synthea(later, db, SECRET, config())
    assert report.added["visit_occurrence"] == 1
    assert counts(db, "visit_occurrence")[pid("pat-aaaa-0001")] == 4
    assert report.persons == 0


def test_leak_scan_detects_a_planted_value(tmp_path: Path) -> None:
    """Negative control: the scan the other tests rely on does find a leak."""
    db = tmp_path / "leaky.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE note (note_text VARCHAR, n BIGINT, d DATE)")
    con.execute("INSERT INTO note VALUES ('seen: ZEBULON quigglesworth!', 60651, '1970-03-14')")
    con.close()
    assert leaked(db, ["Zebulon", "Quigglesworth", "60651", "1970-03-14", "Ottoline"]) == [
        "1970-03-14", "60651", "quigglesworth", "zebulon"]


def test_vocabulary_is_only_the_shipped_catalogue(loaded: tuple[Path, Path]) -> None:
    """Nothing of the extract flows into the vocabulary tables (so the leak scan may skip
    them): they hold exactly the rows we ship (our catalogue plus the Eunomia subset)."""
    from behindglass.ingest import vocab_shipped
    from behindglass.synth.vocabulary import vocabulary_tables

    _, db = loaded
    tables = vocabulary_tables()
    shipped = {
        "concept": vocab_shipped.concept_table(set(tables["concept"]["concept_id"])).num_rows,
        "concept_ancestor": vocab_shipped.ancestor_table(set(zip(
            tables["concept_ancestor"]["ancestor_concept_id"],
            tables["concept_ancestor"]["descendant_concept_id"], strict=True))).num_rows,
    }
    assert all(shipped.values())
    for table, columns in tables.items():
        expected = len(next(iter(columns.values()))) + shipped.get(table, 0)
        assert query(db, f"SELECT count(*) FROM {table}") == [(expected,)], table
    codes = {r[0] for r in query(db, "SELECT concept_code FROM concept")}
    assert "999999999" not in codes
