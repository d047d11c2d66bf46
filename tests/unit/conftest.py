"""A tiny hand-written OMOP store whose every count is known by construction."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

T2D, DM, HTN, METFORMIN, GIB = 201826, 201820, 320128, 1503297, 192671

TABLES = {
    "person": "person_id BIGINT, gender_concept_id INTEGER, year_of_birth INTEGER, "
              "race_concept_id INTEGER, ethnicity_concept_id INTEGER",
    "observation_period": "observation_period_id BIGINT, person_id BIGINT, "
                          "observation_period_start_date DATE, observation_period_end_date DATE",
    "condition_occurrence": "condition_occurrence_id BIGINT, person_id BIGINT, "
                            "condition_concept_id INTEGER, condition_start_date DATE",
    "drug_exposure": "drug_exposure_id BIGINT, person_id BIGINT, drug_concept_id INTEGER, "
                     "drug_exposure_start_date DATE",
    "procedure_occurrence": "procedure_occurrence_id BIGINT, person_id BIGINT, "
                            "procedure_concept_id INTEGER, procedure_date DATE",
    "measurement": "measurement_id BIGINT, person_id BIGINT, measurement_concept_id INTEGER, "
                   "measurement_date DATE",
    "concept": "concept_id INTEGER, concept_name VARCHAR",
    "concept_ancestor": "ancestor_concept_id INTEGER, descendant_concept_id INTEGER",
}


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
    for name, cols in TABLES.items():
        con.execute(f"CREATE TABLE {name} ({cols})")
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
    con.executemany("INSERT INTO person VALUES (?, ?, ?, ?, ?)", persons)
    con.executemany("INSERT INTO observation_period VALUES (?, ?, ?, ?)", periods)
    con.executemany("INSERT INTO condition_occurrence VALUES (?, ?, ?, ?)", conds)
    con.executemany("INSERT INTO drug_exposure VALUES (?, ?, ?, ?)", drugs)
    con.executemany("INSERT INTO concept VALUES (?, ?)", [
        (T2D, "Type 2 diabetes mellitus"), (DM, "Diabetes mellitus"),
        (HTN, "Essential hypertension"), (METFORMIN, "metformin"), (8527, "White"),
        (8516, "Black or African American"),
    ])
    con.executemany("INSERT INTO concept_ancestor VALUES (?, ?)",
                    [(DM, DM), (DM, T2D), (T2D, T2D)])
    con.close()
    return path


@pytest.fixture(scope="session")
def tiny_cdm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_cdm(tmp_path_factory.mktemp("tiny") / "tiny.duckdb")
