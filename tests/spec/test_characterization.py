"""Covariates and incidence of OHDSI cohort tables, on tiny CDMs whose answers are obvious.

Every case runs on every engine of the ``cdm`` fixture. The cohort table is created with
portable SQL (CREATE TABLE + INSERT of DATE literals written through the dialect).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from behindglass.core.errors import SpecError
from behindglass.engine.backend import Backend
from behindglass.engine.characterization import (
    CovariateSettings,
    TimeAtRisk,
    compute_covariates,
    compute_incidence,
)
from tests.spec.cdm_builder import Rows

Build = Callable[[Rows], Backend]
INDEX = dt.date(2010, 1, 1)
MALE, FEMALE = 8507, 8532


def day(offset: int, base: dt.date = INDEX) -> str:
    return (base + dt.timedelta(days=offset)).isoformat()


def person(pid: int, sex: int = MALE, yob: int = 1960, race: int = 0) -> dict[str, Any]:
    return {"person_id": pid, "gender_concept_id": sex, "year_of_birth": yob,
            "race_concept_id": race, "ethnicity_concept_id": 0}


def period(pid: int, start: str = "2000-01-01", end: str = "2020-12-31") -> dict[str, Any]:
    return {"observation_period_id": pid, "person_id": pid,
            "observation_period_start_date": start, "observation_period_end_date": end,
            "period_type_concept_id": 0}


def condition(rid: int, pid: int, concept: int, date: str) -> dict[str, Any]:
    return {"condition_occurrence_id": rid, "person_id": pid, "condition_concept_id": concept,
            "condition_start_date": date, "condition_type_concept_id": 0}


def cohort_table(backend: Backend, rows: Sequence[tuple[int, int, str, str]],
                 name: str = "cohort_t") -> str:
    d = backend.dialect
    backend.execute(d.drop_table(name))
    backend.execute(f"CREATE TABLE {name} (cohort_definition_id INTEGER, subject_id BIGINT, "
                    "cohort_start_date DATE, cohort_end_date DATE)")
    for cid, pid, start, end in rows:
        backend.execute(f"INSERT INTO {name} VALUES ({cid}, {pid}, "
                        f"{d.date(dt.date.fromisoformat(start))}, "
                        f"{d.date(dt.date.fromisoformat(end))})")
    return name


def binary(result: Any, analysis: str) -> dict[int, int]:
    return {b.concept_id if b.concept_id else b.covariate_id: b.persons
            for b in result.binary if b.analysis_name == analysis}


def continuous(result: Any, analysis: str) -> Any:
    (c,) = [c for c in result.continuous if c.analysis_name == analysis]
    return c


# -- covariates ------------------------------------------------------------------------------
OFFSETS = [-400, -366, -365, -181, -180, -31, -30, 0, 1]


def test_windows_inclusive_at_both_ends(cdm: Build) -> None:
    n = len(OFFSETS)
    b = cdm({"person": [person(p) for p in range(1, n + 1)],
             "observation_period": [period(p) for p in range(1, n + 1)],
             "condition_occurrence": [condition(p, p, 111, day(o))
                                      for p, o in enumerate(OFFSETS, start=1)]})
    t = cohort_table(b, [(1, p, day(0), day(0)) for p in range(1, n + 1)])
    r = compute_covariates(b, t, 1)
    assert r.persons == n
    assert binary(r, "condition_occurrence:any:0") == {111: 8}  # all but day +1
    assert binary(r, "condition_occurrence:-365:0") == {111: 6}  # -365 .. 0
    assert binary(r, "condition_occurrence:-180:0") == {111: 4}  # -180, -31, -30, 0
    assert binary(r, "condition_occurrence:-30:0") == {111: 2}  # -30, 0
    ids = {b.covariate_id for b in r.binary if b.concept_id == 111}
    assert ids == {111101, 111102, 111103, 111104}


def test_custom_windows_after_index(cdm: Build) -> None:
    n = len(OFFSETS)
    b = cdm({"person": [person(p) for p in range(1, n + 1)],
             "observation_period": [period(p) for p in range(1, n + 1)],
             "condition_occurrence": [condition(p, p, 111, day(o))
                                      for p, o in enumerate(OFFSETS, start=1)]})
    t = cohort_table(b, [(1, p, day(0), day(0)) for p in range(1, n + 1)])
    r = compute_covariates(b, t, 1, CovariateSettings(windows=((0, 1), (-366, -366)),
                                                      demographics=False))
    assert binary(r, "condition_occurrence:0:1") == {111: 2}
    assert binary(r, "condition_occurrence:-366:-366") == {111: 1}
    assert {c.analysis_id for c in r.binary} == {101, 102}


def test_persons_counted_once(cdm: Build) -> None:
    # person 1: three records of 111 and one of 222 in window; two cohort entries
    b = cdm({"person": [person(1), person(2)],
             "observation_period": [period(1), period(2)],
             "condition_occurrence": [condition(1, 1, 111, day(-3)),
                                      condition(2, 1, 111, day(-2)),
                                      condition(3, 1, 111, day(-1)),
                                      condition(4, 1, 222, day(-1)),
                                      condition(5, 2, 111, day(-10))]})
    t = cohort_table(b, [(1, 1, day(0), day(0)), (1, 1, day(100), day(100)),
                         (1, 2, day(0), day(5)), (2, 2, day(0), day(0))])
    r = compute_covariates(b, t, 1)
    assert r.persons == 2
    assert binary(r, "condition_occurrence:-30:0") == {111: 2, 222: 1}
    assert binary(r, "sex") == {MALE: 2}
    counts = continuous(r, "condition_occurrence_count:-30:0")
    # distinct concepts: person 1 has 2, person 2 has 1
    assert (counts.n, counts.total, counts.total_sq, counts.minimum, counts.maximum) == (
        2, 3, 5, 1, 2)
    in_cohort = continuous(r, "time_in_cohort_days")  # first entry of each person
    assert (in_cohort.n, in_cohort.total, in_cohort.maximum) == (2, 5, 5)


def test_sex_age_bands_and_top_coding(cdm: Build) -> None:
    # ages at index (2010 - year of birth): 4, 5, 9, 89, 90, 97
    yobs = [2006, 2005, 2001, 1921, 1920, 1913]
    sexes = [MALE, FEMALE, FEMALE, MALE, FEMALE, 0]
    b = cdm({"person": [person(p, s, y) for p, (s, y) in enumerate(zip(sexes, yobs,
                                                                        strict=True), 1)],
             "observation_period": [period(p) for p in range(1, 7)]})
    t = cohort_table(b, [(1, p, day(0), day(0)) for p in range(1, 7)])
    r = compute_covariates(b, t, 1)
    bands = {c.covariate_name: c.persons for c in r.binary if c.analysis_name == "age_group"}
    assert bands == {"age group: 0-4": 1, "age group: 5-9": 2, "age group: 85-89": 1,
                     "age group: 90+": 2}
    assert binary(r, "sex") == {MALE: 2, FEMALE: 3, 1: 1}  # gender 0: covariate id 1
    assert {c.covariate_name for c in r.binary if c.analysis_name == "sex"} >= {
        "sex = male", "sex = female", "sex = no matching concept"}
    age = continuous(r, "age")
    assert (age.n, age.total, age.total_sq) == (6, sum(2010 - y for y in yobs),
                                                sum((2010 - y) ** 2 for y in yobs))
    assert binary(r, "index_year") == {2010006: 6}


def test_prior_observation_and_persons_outside_observation(cdm: Build) -> None:
    b = cdm({"person": [person(1), person(2)],
             "observation_period": [period(1, start=day(-100), end=day(50)),
                                    period(2, start=day(10), end=day(50))]})
    t = cohort_table(b, [(1, 1, day(0), day(0)), (1, 2, day(0), day(0))])
    r = compute_covariates(b, t, 1)
    prior = continuous(r, "prior_observation_days")
    assert (prior.n, prior.total, prior.minimum, prior.maximum) == (1, 100, 100, 100)
    post = continuous(r, "post_observation_days")
    assert (post.n, post.total) == (1, 50)


def test_eras_count_when_they_overlap_the_window(cdm: Build) -> None:
    b = cdm({"person": [person(1), person(2)],
             "observation_period": [period(1), period(2)],
             "condition_era": [
                 {"condition_era_id": 1, "person_id": 1, "condition_concept_id": 333,
                  "condition_era_start_date": day(-400), "condition_era_end_date": day(-100)},
                 {"condition_era_id": 2, "person_id": 2, "condition_concept_id": 333,
                  "condition_era_start_date": day(-400), "condition_era_end_date": day(-366)},
             ],
             "drug_era": [
                 {"drug_era_id": 1, "person_id": 1, "drug_concept_id": 444,
                  "drug_era_start_date": day(-10), "drug_era_end_date": day(20)},
             ]})
    t = cohort_table(b, [(1, 1, day(0), day(0)), (1, 2, day(0), day(0))])
    r = compute_covariates(b, t, 1)
    assert binary(r, "condition_era:any:0") == {333: 2}
    assert binary(r, "condition_era:-365:0") == {333: 1}
    assert binary(r, "condition_era:-30:0") == {}
    assert binary(r, "drug_era:-30:0") == {444: 1}


def test_other_domains_and_visit_counts(cdm: Build) -> None:
    b = cdm({"person": [person(1), person(2)],
             "observation_period": [period(1), period(2)],
             "drug_exposure": [{"drug_exposure_id": 1, "person_id": 1, "drug_concept_id": 55,
                                "drug_exposure_start_date": day(-5),
                                "drug_exposure_end_date": day(-5), "drug_type_concept_id": 0}],
             "procedure_occurrence": [{"procedure_occurrence_id": 1, "person_id": 2,
                                       "procedure_concept_id": 66, "procedure_date": day(-5),
                                       "procedure_type_concept_id": 0}],
             "measurement": [{"measurement_id": 1, "person_id": 2,
                              "measurement_concept_id": 77, "measurement_date": day(0),
                              "measurement_type_concept_id": 0}],
             "observation": [{"observation_id": 1, "person_id": 1,
                              "observation_concept_id": 88, "observation_date": day(-200),
                              "observation_type_concept_id": 0}],
             "visit_occurrence": [{"visit_occurrence_id": v, "person_id": 1,
                                   "visit_concept_id": 9201, "visit_start_date": day(-v),
                                   "visit_end_date": day(-v), "visit_type_concept_id": 0}
                                  for v in (1, 2, 40)]})
    t = cohort_table(b, [(1, 1, day(0), day(0)), (1, 2, day(0), day(0))])
    r = compute_covariates(b, t, 1)
    assert binary(r, "drug_exposure:-30:0") == {55: 1}
    assert binary(r, "procedure_occurrence:-30:0") == {66: 1}
    assert binary(r, "measurement:-30:0") == {77: 1}
    assert binary(r, "observation:-365:0") == {88: 1}
    assert binary(r, "observation:-180:0") == {}
    visits = continuous(r, "visit_occurrence_count:-30:0")
    assert (visits.n, visits.total, visits.total_sq) == (2, 2, 4)  # person 1: 2, person 2: 0
    visits = continuous(r, "visit_occurrence_count:any:0")
    assert (visits.total, visits.maximum) == (3, 3)


def test_empty_cohort_and_bad_names(cdm: Build) -> None:
    b = cdm({"person": [person(1)], "observation_period": [period(1)]})
    t = cohort_table(b, [(1, 1, day(0), day(0))])
    r = compute_covariates(b, t, 99)
    assert r.persons == 0 and r.binary == ()
    assert all(c.n == 0 for c in r.continuous)
    with pytest.raises(SpecError):
        compute_covariates(b, "cohort; DROP TABLE person", 1)
    with pytest.raises(SpecError):
        CovariateSettings(windows=((0, -1),))
    with pytest.raises(SpecError):
        CovariateSettings(domains=("device_exposure",))


# -- incidence -------------------------------------------------------------------------------
def ir_rows(b: Backend, **kw: Any) -> dict[tuple[str, str], tuple[int, int, int, int]]:
    rows = compute_incidence(b, "cohort_t", [1], "cohort_t", [2], **kw)
    return {(r.stratum, r.value): (r.persons_at_risk, r.persons_with_outcome, r.outcomes,
                                   r.person_days) for r in rows}


def ir_cdm(cdm: Build, n: int = 4) -> Backend:
    return cdm({"person": [person(p, MALE if p % 2 else FEMALE, 1960 if p <= 2 else 1975)
                           for p in range(1, n + 1)],
                "observation_period": [period(p) for p in range(1, n + 1)]})


def test_incidence_tar_inclusive_and_censored_at_first_outcome(cdm: Build) -> None:
    b = ir_cdm(cdm)
    cohort_table(b, [
        (1, 1, day(0), day(0)), (1, 2, day(0), day(0)), (1, 3, day(0), day(0)),
        (1, 4, day(0), day(0)),
        (2, 1, day(0), day(0)),  # outcome on TAR start: 1 day at risk
        (2, 2, day(365), day(365)),  # on the last TAR day: 366 days
        (2, 2, day(10), day(10)),  # ... but an earlier one comes first: 11 days
        (2, 3, day(366), day(366)),  # the day after TAR: no outcome, 366 days
        (2, 4, day(-1), day(-1)),  # before TAR: no outcome
    ])
    tar = TimeAtRisk(0, "start", 365, "start")
    r = ir_rows(b, tars=[tar])
    assert r[("all", "all")] == (4, 2, 2, 1 + 11 + 366 + 366)
    assert r[("sex", "male")] == (2, 1, 1, 1 + 366)  # persons 1 and 3
    assert r[("sex", "female")] == (2, 1, 1, 11 + 366)
    assert r[("age_group", "50-59")] == (2, 2, 2, 12)  # born 1960
    assert r[("age_group", "30-39")] == (2, 0, 0, 732)  # born 1975
    assert r[("start_year", "2010")] == r[("all", "all")]
    # washout: person 4's outcome a day before TAR takes them out of the population at risk
    r = ir_rows(b, tars=[tar], washout_days=30)
    assert r[("all", "all")] == (3, 2, 2, 1 + 11 + 366)
    r = ir_rows(b, tars=[tar], washout_days=0)
    assert r[("all", "all")][0] == 4


def test_incidence_end_anchor_observation_clip_and_merge(cdm: Build) -> None:
    b = cdm({"person": [person(1), person(2), person(3)],
             "observation_period": [period(1), period(2, end=day(20)), period(3)]})
    cohort_table(b, [
        (1, 1, day(0), day(9)),  # TAR start..end+0 = 10 days
        (1, 2, day(0), day(99)),  # cut at observation end, day 20: 21 days
        (1, 3, day(0), day(9)), (1, 3, day(5), day(14)),  # overlap: one span 0..14 = 15
        (1, 3, day(100), day(100)),  # a separate span: 1 day
        (2, 3, day(102), day(102)),  # after the second span: no outcome
    ])
    r = ir_rows(b, tars=[TimeAtRisk(0, "start", 0, "end")])
    assert r[("all", "all")] == (3, 0, 0, 10 + 21 + 15 + 1)
    r = ir_rows(b, tars=[TimeAtRisk(1, "end", 7, "end")])  # day after end .. a week later
    # person 1: 10..16 = 7; person 2: starts at day 100 after observation end: none;
    # person 3: 10..16 and 15..21 overlap, one span of 12 days; 101..107 with the outcome
    # on 102 (2 days)
    assert r[("all", "all")] == (2, 1, 1, 7 + 12 + 2)


def test_incidence_several_tars_and_errors(cdm: Build) -> None:
    b = ir_cdm(cdm, 2)
    cohort_table(b, [(1, 1, day(0), day(0)), (1, 2, day(0), day(0)), (2, 1, day(40), day(40))])
    rows = compute_incidence(b, "cohort_t", [1], "cohort_t", [2, 3],
                             tars=[TimeAtRisk(0, "start", 30, "start"),
                                   TimeAtRisk(0, "start", 365, "start")])
    overall = {(r.outcome_id, r.tar): (r.outcomes, r.person_days) for r in rows
               if r.stratum == "all"}
    assert overall == {(2, "start+0..start+30"): (0, 62), (2, "start+0..start+365"): (1, 41 + 366),
                       (3, "start+0..start+30"): (0, 62), (3, "start+0..start+365"): (0, 732)}
    with pytest.raises(SpecError):
        compute_incidence(b, "cohort_t", [1], "cohort_t", [2], washout_days=-1)
    with pytest.raises(SpecError):
        TimeAtRisk(0, "middle", 0, "end")  # type: ignore[arg-type]
    with pytest.raises(SpecError):
        compute_incidence(b, "cohort_t", [1], "x y", [2])
