"""The risk report and its fixes on a 12-person store whose every figure is known by hand.

Classes over (year_of_birth, sex, zip3):
  A persons 1-5   1950 F 021   size 5
  B persons 6-8   1950 M 021   size 3   (zips 02140: same ZIP3 as A)
  C persons 9-10  1962 F 100   size 2
  D person 11     1971 M 100   size 1
  E person 12     1971 M NULL  size 1   (no location)
Sensitive condition:201820 (diabetes; 201826 is a descendant): persons 1 (201826) and 2
(201820) -> class A has l=2, every other class l=1. Person 6 has an unrelated condition.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pytest

from behindglass.core.errors import EngineError, SpecError
from behindglass.deid import generalise
from behindglass.deid.generalise import fix
from behindglass.deid.risk import VIOLATING_KEY, assess

QUASI = "year_of_birth,sex,zip3"
F, M = 8532, 8507

PERSON_COLS = ("person_id BIGINT, gender_concept_id INTEGER, year_of_birth INTEGER, "
               "month_of_birth INTEGER, day_of_birth INTEGER, birth_datetime TIMESTAMP, "
               "race_concept_id INTEGER, ethnicity_concept_id INTEGER, location_id BIGINT, "
               "person_source_value VARCHAR, gender_source_value VARCHAR")


def make_store(path: Path, persons: list[tuple[int, int, int, str | None]]) -> Path:
    """persons: (person_id, sex, year_of_birth, zip or None); race 8527 for all."""
    con = duckdb.connect(str(path))
    con.execute(f"CREATE TABLE person ({PERSON_COLS})")
    con.execute("CREATE TABLE location (location_id BIGINT, address_1 VARCHAR, city VARCHAR,"
                " state VARCHAR, zip VARCHAR)")
    con.execute("CREATE TABLE death (person_id BIGINT, death_date DATE)")
    con.execute("CREATE TABLE condition_occurrence (condition_occurrence_id BIGINT,"
                " person_id BIGINT, condition_concept_id INTEGER, condition_start_date DATE)")
    con.execute("CREATE TABLE concept_ancestor (ancestor_concept_id INTEGER,"
                " descendant_concept_id INTEGER)")
    zips = sorted({z for *_, z in persons if z})
    loc = {z: i + 1 for i, z in enumerate(zips)}
    if loc:
        con.executemany("INSERT INTO location VALUES (?, ?, ?, ?, ?)",
                        [(i, f"{i} Main St", "Town", "MA", z) for z, i in loc.items()])
    con.executemany(
        "INSERT INTO person VALUES (?, ?, ?, 6, 15, ?, 8527, 0, ?, ?, ?)",
        [(pid, sex, yob, dt.datetime(yob, 6, 15), loc.get(z) if z else None, f"MRN{pid}",
          "F" if sex == F else "M") for pid, sex, yob, z in persons])
    con.close()
    return path


TINY = ([(p, F, 1950, "02139") for p in range(1, 6)] + [(p, M, 1950, "02140") for p in (6, 7, 8)]
        + [(9, F, 1962, "10001"), (10, F, 1962, "10001"), (11, M, 1971, "10002"),
           (12, M, 1971, None)])


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = make_store(tmp_path / "site.duckdb", TINY)
    con = duckdb.connect(str(path))
    con.executemany("INSERT INTO condition_occurrence VALUES (?, ?, ?, DATE '2015-01-01')",
                    [(1, 1, 201826), (2, 2, 201820), (3, 6, 999)])
    con.execute("INSERT INTO concept_ancestor VALUES (201820, 201820), (201820, 201826)")
    con.execute("INSERT INTO death VALUES (11, DATE '2020-03-01')")
    con.close()
    return path


def dump(path: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        return {t: sorted(con.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}
    finally:
        con.close()


def test_k_and_prosecutor_risk_by_hand(store: Path) -> None:
    r = assess(str(store), QUASI, 3)
    assert (r.n_persons, r.n_classes, r.k_min) == (12, 5, 1)
    assert (r.classes_below_k, r.persons_below_k, r.n_violating) == (3, 4, 4)
    assert r.prosecutor_max == 1.0
    assert r.prosecutor_avg == pytest.approx(5 / 12)
    assert r.share_at_risk == pytest.approx(4 / 12)
    assert not r.k_holds and r.l_holds
    assert [v.person_id for v in r.violating] == [11, 12, 9, 10]  # smallest classes first
    assert dict(r.violating[0].values) == {"year_of_birth": 1971, "sex": M, "zip3": "100"}
    assert r.violating[1].values["zip3"] is None


def test_k_holds_on_coarser_quasi_identifiers(store: Path) -> None:
    r = assess(str(store), ["sex"], 5)
    assert (r.k_min, r.n_classes, r.n_violating, r.violating) == (5, 2, 0, ())  # 7 F, 5 M
    assert r.ok and r.prosecutor_max == pytest.approx(1 / 5)


def test_l_diversity_with_descendants(store: Path) -> None:
    r = assess(str(store), QUASI, 3, l_target=2, sensitive="condition:201820")
    assert (r.l_min, r.classes_below_l, r.persons_below_l) == (1, 4, 7)
    assert r.n_violating == 7
    assert sorted(v.person_id for v in r.violating) == [6, 7, 8, 9, 10, 11, 12]
    assert not r.l_holds
    # a person attribute as the sensitive one: death_year is NULL except person 11
    r2 = assess(str(store), "sex", 2, l_target=2, sensitive="death_year")
    assert (r2.l_min, r2.classes_below_l) == (1, 1)


def test_list_limit_and_to_dict(store: Path) -> None:
    r = assess(str(store), QUASI, 3, list_limit=2)
    assert len(r.violating) == 2
    d = r.to_dict()
    assert d[VIOLATING_KEY]["total"] == 4 and len(d[VIOLATING_KEY]["listed"]) == 2
    assert "inside the site" in d[VIOLATING_KEY]["note"]
    assert VIOLATING_KEY not in r.to_dict(include_records=False)
    json.dumps(d)


@pytest.mark.parametrize(
    ("kwargs", "error", "text"),
    [
        ({"quasi": "year_of_birth,zipcode"}, SpecError, "accepted: year_of_birth"),
        ({"quasi": ""}, SpecError, "no quasi-identifiers"),
        ({"k": 1}, SpecError, "at least 2"),
        ({"l_target": 2}, SpecError, "both --l and --sensitive"),
        ({"l_target": 2, "sensitive": "sex"}, SpecError, "both a quasi-identifier"),
        ({"l_target": 2, "sensitive": "condition:abc"}, SpecError, "CONCEPT_ID"),
    ],
)
def test_clear_errors(store: Path, kwargs: dict, error: type, text: str) -> None:
    args = {"quasi": QUASI, "k": 3} | kwargs
    with pytest.raises(error, match=text):
        assess(str(store), args.pop("quasi"), args.pop("k"), **args)


def test_store_errors(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="no such site database"):
        assess(str(tmp_path / "absent.duckdb"), "sex", 3)
    duckdb.connect(str(tmp_path / "empty.duckdb")).close()
    with pytest.raises(EngineError, match="no person table"):
        assess(str(tmp_path / "empty.duckdb"), "sex", 3)
    con = duckdb.connect(str(tmp_path / "noloc.duckdb"))
    con.execute(f"CREATE TABLE person ({PERSON_COLS})")
    con.close()
    with pytest.raises(EngineError, match="location"):
        assess(str(tmp_path / "noloc.duckdb"), "zip3", 3)
    with pytest.raises(EngineError, match="empty"):
        assess(str(tmp_path / "noloc.duckdb"), "sex", 3)


def test_report_writes_nothing(store: Path) -> None:
    before = dump(store)
    assess(str(store), QUASI, 3, l_target=2, sensitive="condition:201820")
    assert dump(store) == before


def test_fix_suppress_changes_only_violators(store: Path) -> None:
    before = dump(store)
    result = fix(str(store), QUASI, 3, method="suppress")
    assert result.after.k_min >= 3 and result.after.ok
    assert result.changed == {"year_of_birth": 4, "sex": 4, "zip3": 4}
    after = dump(store)
    untouched = [row for row in before["person"] if row[0] <= 8]
    assert [row for row in after["person"] if row[0] <= 8] == untouched
    con = duckdb.connect(str(store), read_only=True)
    rows = con.execute("SELECT p.person_id, gender_concept_id, year_of_birth, day_of_birth,"
                       " birth_datetime, race_concept_id, person_source_value, gender_source_value,"
                       " l.zip, l.state, l.address_1 FROM person p LEFT JOIN location l"
                       " USING (location_id) WHERE person_id >= 9 ORDER BY 1").fetchall()
    meta = con.execute("SELECT name, value_as_string FROM metadata").fetchall()
    con.close()
    # 1962 and 1971 end in one 20-year band whose midpoint is 1970 (see the docstring)
    assert {r[1:5] for r in rows} == {(0, 1970, None, None)}
    assert [r[5:8] for r in rows] == [(8527, f"MRN{p}", None) for p in (9, 10, 11, 12)]
    assert [r[8:] for r in rows] == [("000", "MA", None)] * 3 + [("000", None, None)]
    assert after["condition_occurrence"] == before["condition_occurrence"]
    assert after["location"][: len(before["location"])] == before["location"]
    assert meta[0][0] == generalise.METADATA_NAME
    assert json.loads(meta[0][1])["method"] == "suppress"


def test_fix_generalise_reaches_k(store: Path) -> None:
    before = dump(store)
    result = fix(str(store), QUASI, 3, method="generalise")
    assert result.after.k_min >= 3 and result.written
    assert result.steps and set(result.changed) <= {"year_of_birth", "sex", "zip3"}
    after = dump(store)
    # race, ethnicity, source value and conditions are not quasi-identifiers: untouched
    assert [(r[0], r[6], r[7], r[9]) for r in after["person"]] == [
        (r[0], r[6], r[7], r[9]) for r in before["person"]]
    assert after["condition_occurrence"] == before["condition_occurrence"]
    assert assess(str(store), QUASI, 3).ok  # a fresh read-only report agrees


def test_fix_with_l_diversity(store: Path) -> None:
    result = fix(str(store), "year_of_birth,sex", 2, method="generalise", l_target=2,
                 sensitive="condition:201820")
    assert result.after.ok and result.after.l_min >= 2


def test_fix_is_noop_when_target_holds(store: Path) -> None:
    before = dump(store)
    result = fix(str(store), "sex", 3, method="suppress")
    assert not result.written and result.after is result.before
    assert dump(store) == before


def test_impossible_fix_writes_nothing(store: Path) -> None:
    before = dump(store)
    with pytest.raises(SpecError, match="fewer than k"):
        fix(str(store), QUASI, 13, method="generalise")
    with pytest.raises(SpecError, match="could not reach"):  # everyone has death_year NULL but 11
        fix(str(store), "death_year", 2, method="suppress")
    assert dump(store) == before


def test_failed_write_rolls_back(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = dump(store)

    def boom(*_: object) -> None:
        raise duckdb.IOException("disk full")

    monkeypatch.setattr(generalise, "_record_metadata", boom)
    with pytest.raises(EngineError, match="nothing was written"):
        fix(str(store), QUASI, 3, method="suppress")
    assert dump(store) == before
