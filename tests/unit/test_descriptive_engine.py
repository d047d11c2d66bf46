"""The per-person columns of ``engine.descriptive`` on a tiny CDM, on every engine.

Each rule of the module docstring has a person here whose answer is obvious: the age
convention, observation days around the index (and none when no period holds it), the
measurement closest to the index (the earlier on a tie, the day's mean, descendants, no
number, outside the window) and cohort membership.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterator

import pytest

from behindglass.core.errors import EngineError
from behindglass.core.sitedata import PersonColumn
from behindglass.engine.backend import Backend
from behindglass.engine.descriptive import person_frame
from behindglass.engine.postgres_backend import PostgresBackend
from tests.spec.cdm_builder import Rows, drop_postgres_cdm, duckdb_cdm, postgres_cdm

INDEX = dt.date(2010, 1, 1)
LAB, CHILD = 3004410, 3004411
MALE, FEMALE = 8507, 8532


def day(offset: int) -> str:
    return (INDEX + dt.timedelta(days=offset)).isoformat()


def lab(rid: int, pid: int, offset: int, value: float | None, concept: int = LAB) -> dict:
    return {"measurement_id": rid, "person_id": pid, "measurement_concept_id": concept,
            "measurement_date": day(offset), "measurement_type_concept_id": 0,
            "value_as_number": value}


TABLES: Rows = {
    "person": [{"person_id": p, "gender_concept_id": s, "year_of_birth": y,
                "race_concept_id": 0, "ethnicity_concept_id": 0}
               for p, s, y in ((1, MALE, 1960), (2, FEMALE, 1975), (3, FEMALE, 2001))],
    "observation_period": [
        {"observation_period_id": 1, "person_id": 1, "observation_period_start_date":
         day(-100), "observation_period_end_date": day(250), "period_type_concept_id": 0},
        {"observation_period_id": 2, "person_id": 2, "observation_period_start_date":
         day(-20), "observation_period_end_date": day(0), "period_type_concept_id": 0},
        # person 3's period ends before the index: no observation days
        {"observation_period_id": 3, "person_id": 3, "observation_period_start_date":
         day(-900), "observation_period_end_date": day(-1), "period_type_concept_id": 0},
    ],
    "measurement": [
        lab(1, 1, -10, 5.0), lab(2, 1, 10, 7.0),  # equally close: the earlier
        lab(3, 1, -400, 1.0),  # outside the window
        lab(4, 2, -1, 6.0), lab(5, 2, -1, 8.0), lab(6, 2, 2, 100.0),  # the day's mean
        lab(7, 3, 0, None), lab(8, 3, 3, 9.5, concept=CHILD),  # no number; a descendant
    ],
    "concept": [{"concept_id": c, "concept_name": n, "domain_id": "Measurement",
                 "vocabulary_id": "LOINC", "concept_class_id": "Lab Test",
                 "concept_code": str(c), "valid_start_date": "2000-01-01",
                 "valid_end_date": "2099-12-31"} for c, n in ((LAB, "lab"), (CHILD, "child"))],
    "concept_ancestor": [{"ancestor_concept_id": a, "descendant_concept_id": d,
                          "min_levels_of_separation": 0 if a == d else 1,
                          "max_levels_of_separation": 0 if a == d else 1}
                         for a, d in ((LAB, LAB), (LAB, CHILD), (CHILD, CHILD))],
}


@pytest.fixture(params=["duckdb", "postgres"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == "duckdb":
        b = duckdb_cdm(TABLES)
    else:
        b = postgres_cdm(TABLES, url=request.getfixturevalue("pg_url"))
    yield b
    if isinstance(b, PostgresBackend):
        drop_postgres_cdm(b)
    else:
        b.close()


def table(backend: Backend, name: str, columns: str, rows: list[str]) -> str:
    backend.execute(backend.dialect.drop_table(name))
    backend.execute(f"CREATE TABLE {name} ({columns})")
    for row in rows:
        backend.execute(f"INSERT INTO {name} VALUES ({row})")
    return name


def frame_of(backend: Backend, columns: dict[str, PersonColumn]) -> dict[str, list]:
    d = backend.dialect
    members = table(backend, "bg_test_members", "person_id BIGINT, index_date DATE",
                    [f"{p}, {d.date(INDEX)}" for p in (1, 2, 3)])
    cohort = table(backend, "bg_test_cohort", "cohort_definition_id INTEGER, subject_id "
                   "BIGINT, cohort_start_date DATE, cohort_end_date DATE",
                   [f"7, 1, {d.date(INDEX)}, {d.date(INDEX)}",
                    f"8, 2, {d.date(INDEX)}, {d.date(INDEX)}"])
    lookup: Callable = lambda _c: (cohort, 7)  # noqa: E731 - the one cohort asked for
    frame = person_frame(backend, members, columns, lookup)
    assert list(frame.columns) == list(columns) and len(frame) == 3
    return {k: [None if isinstance(v, float) and math.isnan(v) else v for v in frame[k]]
            for k in columns}


def test_numbers_follow_the_documented_rules(backend):
    got = frame_of(backend, {
        "age": PersonColumn("age"),
        "prior": PersonColumn("prior_observation_days"),
        "post": PersonColumn("post_observation_days"),
        "lab": PersonColumn("measurement", concept_ids=(LAB,), window=(-365, 30)),
        "lab_only": PersonColumn("measurement", concept_ids=(LAB,), descendants=False,
                                 window=(-365, 30)),
        "lab_before": PersonColumn("measurement", concept_ids=(LAB,), window=(-365, 0)),
    })
    assert got["age"] == [50.0, 35.0, 9.0]
    assert got["prior"] == [100.0, 20.0, None] and got["post"] == [250.0, 0.0, None]
    assert got["lab"] == [5.0, 7.0, 9.5]
    assert got["lab_only"] == [5.0, 7.0, None]
    assert got["lab_before"] == [5.0, 7.0, None]


def test_labels_and_membership(backend):
    got = frame_of(backend, {"sex": PersonColumn("sex"), "band": PersonColumn("age_band"),
                             "year": PersonColumn("index_year"),
                             "in": PersonColumn("member_of", cohort=object())})  # type: ignore[arg-type]
    assert got == {"sex": ["male", "female", "female"], "band": ["50-59", "30-39", "0-9"],
                   "year": ["2010"] * 3, "in": ["yes", "no", "no"]}


def test_a_measurement_needs_concepts(backend):
    with pytest.raises(EngineError, match="positive concept ids"):
        frame_of(backend, {"lab": PersonColumn("measurement")})
