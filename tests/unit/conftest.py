"""A tiny hand-written OMOP store whose every count is known by construction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from behindglass.omop.schema import create_cdm
from behindglass.privacy.ledger import ReleaseLedger
from tests.unit.ledger_support import Clock

T2D, DM, HTN, METFORMIN, GIB = 201826, 201820, 320128, 1503297, 192671

COLUMNS = {
    "person": ("person_id", "gender_concept_id", "year_of_birth", "race_concept_id",
               "ethnicity_concept_id"),
    "observation_period": ("observation_period_id", "person_id",
                           "observation_period_start_date", "observation_period_end_date"),
    "condition_occurrence": ("condition_occurrence_id", "person_id", "condition_concept_id",
                             "condition_start_date"),
    "drug_exposure": ("drug_exposure_id", "person_id", "drug_concept_id",
                      "drug_exposure_start_date"),
    "concept": ("concept_id", "concept_name"),
    "concept_ancestor": ("ancestor_concept_id", "descendant_concept_id"),
}


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: list[tuple]) -> None:
    cols = COLUMNS[table]
    con.executemany(f"INSERT INTO {table} ({', '.join(cols)}) "
                    f"VALUES ({', '.join('?' for _ in cols)})", rows)


def build_tiny_cdm(path: Path) -> Path:
    """40 persons. Persons 1-30: T2D (30 x 201826); 31-33: only the parent concept 201820.

    * persons 1-20 are female, 21-40 male; born 1950 (1-10), 1970 (11-40);
    * everyone observed 2010-01-01 .. 2020-12-31, except person 5 whose T2D (2009-06-01)
      falls before observation, and person 6 observed only from 2015-01-01 (T2D 2015-02-01);
    * T2D diagnosed 2015-06-01 (person 7 also again 2016-01-01); metformin on 2015-05-01
      for persons 1-12; hypertension 2014-01-01 for persons 1-3;
    * race: 8527 White for 1-35, 8516 Black for 36-40; ethnicity 0.
    """
    con = duckdb.connect(str(path))
    create_cdm(con)  # the whole CDM v5.4 schema, as a site's store has it
    persons, periods, conds, drugs = [], [], [], []
    for pid in range(1, 41):
        persons.append((pid, 8532 if pid <= 20 else 8507, 1950 if pid <= 10 else 1970,
                        8527 if pid <= 35 else 8516, 0))
        start = dt.date(2015, 1, 1) if pid == 6 else dt.date(2010, 1, 1)
        periods.append((pid, pid, start, dt.date(2020, 12, 31)))
        if pid <= 30:
            when = {5: dt.date(2009, 6, 1), 6: dt.date(2015, 2, 1)}.get(pid, dt.date(2015, 6, 1))
            conds.append((len(conds) + 1, pid, T2D, when))
        elif pid <= 33:
            conds.append((len(conds) + 1, pid, DM, dt.date(2015, 6, 1)))
        if pid <= 12:
            drugs.append((pid, pid, METFORMIN, dt.date(2015, 5, 1)))
        if pid <= 3:
            conds.append((len(conds) + 1, pid, HTN, dt.date(2014, 1, 1)))
    conds.append((len(conds) + 1, 7, T2D, dt.date(2016, 1, 1)))
    _insert(con, "person", persons)
    _insert(con, "observation_period", periods)
    _insert(con, "condition_occurrence", conds)
    _insert(con, "drug_exposure", drugs)
    _insert(con, "concept", [
        (T2D, "Type 2 diabetes mellitus"), (DM, "Diabetes mellitus"),
        (HTN, "Essential hypertension"), (METFORMIN, "metformin"), (8527, "White"),
        (8516, "Black or African American"),
    ])
    _insert(con, "concept_ancestor", [(DM, DM), (DM, T2D), (T2D, T2D)])
    con.close()
    return path


@pytest.fixture(scope="session")
def tiny_cdm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_cdm(tmp_path_factory.mktemp("tiny") / "tiny.duckdb")


@pytest.fixture
def clock() -> Clock:
    """A clock the test moves by hand (the release ledger's tests)."""
    return Clock()


@pytest.fixture
def book(tmp_path: Path, clock: Clock) -> Iterator[ReleaseLedger]:
    """A release ledger in a fresh file, on ``clock``."""
    with ReleaseLedger(tmp_path / "ledger.sqlite", clock=clock) as b:
        yield b

