"""The study population (CohortMethod's createStudyPopulation) on tiny CDMs whose answers
are obvious, on every engine of the ``cdm`` fixture.

Cohorts are hand-made OHDSI cohort tables (target id 1, comparator id 2, outcome id 3) so
that start and end dates are exactly what each case needs; one case goes through
``SiteStore.population`` with builder cohorts. Entries start on or after 2010-01-01 and each
person ``pid`` is born in ``2000 - pid``, so the frame's ``age`` column is ``10 + pid`` and
tells whose row it is (the frame itself carries no person id).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import pytest

from behindglass.core.cohort import Cohort
from behindglass.core.population import CovariateSpec, PopulationSettings
from behindglass.engine.backend import Backend
from behindglass.engine.population import compute_population
from behindglass.engine.site_store import SiteStore
from tests.spec import circe_builder as cb
from tests.spec.cdm_builder import Rows

Build = Callable[[Rows], Backend]
INDEX = dt.date(2010, 1, 1)
MALE, FEMALE = 8507, 8532
TARGET, COMPARATOR, OUTCOME = 1, 2, 3
Entry = tuple[int, int, int, int]  # (cohort id, person id, start day, end day) from INDEX


def day(offset: int) -> str:
    return (INDEX + dt.timedelta(days=offset)).isoformat()


def person(pid: int, sex: int = MALE) -> dict[str, Any]:
    return {"person_id": pid, "gender_concept_id": sex, "year_of_birth": 2000 - pid,
            "race_concept_id": 0, "ethnicity_concept_id": 0}


def period(pid: int, start: int = -3650, end: int = 3650) -> dict[str, Any]:
    return {"observation_period_id": pid, "person_id": pid,
            "observation_period_start_date": day(start), "observation_period_end_date": day(end),
            "period_type_concept_id": 0}


def cdm_of(cdm: Build, pids: Sequence[int], **tables: list[dict[str, Any]]) -> Backend:
    """Persons ``pids`` observed from day -3650 to 3650 unless ``observation_period`` is
    given, plus any other tables."""
    rows: dict[str, list[dict[str, Any]]] = {
        "person": [person(p) for p in pids],
        "observation_period": [period(p) for p in pids]}
    rows.update(tables)
    return cdm(rows)


def run(backend: Backend, entries: Sequence[Entry], settings: PopulationSettings | None = None,
        *, comparator: bool = True) -> pd.DataFrame:
    d = backend.dialect
    backend.execute(d.drop_table("cohort_t"))
    backend.execute("CREATE TABLE cohort_t (cohort_definition_id INTEGER, subject_id BIGINT, "
                    "cohort_start_date DATE, cohort_end_date DATE)")
    for cid, pid, start, end in entries:
        backend.execute(
            f"INSERT INTO cohort_t VALUES ({cid}, {pid}, "
            f"{d.date(INDEX + dt.timedelta(days=start))}, "
            f"{d.date(INDEX + dt.timedelta(days=end))})")
    return compute_population(backend, ("cohort_t", TARGET),
                              ("cohort_t", COMPARATOR) if comparator else None,
                              ("cohort_t", OUTCOME), settings or PopulationSettings())


def who(frame: pd.DataFrame) -> list[tuple[int, int]]:
    """(person id, treatment) of each row, in the frame's order."""
    return [(int(a) - 10, int(t)) for a, t in zip(frame["age"], frame["treatment"], strict=True)]


def col(frame: pd.DataFrame, name: str) -> dict[int, int]:
    """person id -> value of ``name`` (persons with one row)."""
    return {int(a) - 10: int(v) for a, v in zip(frame["age"], frame[name], strict=True)}


# -- shape --------------------------------------------------------------------------------
def test_columns_dtypes_and_demographics(cdm: Build) -> None:
    b = cdm({"person": [person(1), person(2, FEMALE)],
             "observation_period": [period(1), period(2)]})
    f = run(b, [(TARGET, 1, 0, 10), (COMPARATOR, 2, 400, 410)])
    assert list(f.columns) == ["treatment", "time_at_risk", "outcome_count", "event",
                               "survival_time", "age", "male", "index_year"]
    assert all(str(t) == "int64" for t in f.dtypes)
    assert f.to_dict("records") == [
        {"treatment": 1, "time_at_risk": 11, "outcome_count": 0, "event": 0,
         "survival_time": 11, "age": 11, "male": 1, "index_year": 2010},
        {"treatment": 0, "time_at_risk": 11, "outcome_count": 0, "event": 0,
         "survival_time": 11, "age": 2011 - 1998, "male": 0, "index_year": 2011}]
    bare = run(b, [(TARGET, 1, 0, 10)], PopulationSettings(demographics=False))
    assert list(bare.columns) == ["treatment", "time_at_risk", "outcome_count", "event",
                                  "survival_time"]


def test_empty_population_keeps_columns_and_dtypes(cdm: Build) -> None:
    b = cdm_of(cdm, [1])
    f = run(b, [], PopulationSettings(covariates=(
        CovariateSpec(name="x", domain="condition", concept_ids=(5,)),)))
    assert len(f) == 0
    assert list(f.columns)[-1] == "x"
    assert all(str(t) == "int64" for t in f.dtypes)


def test_without_comparator_everyone_is_treated(cdm: Build) -> None:
    b = cdm_of(cdm, [1, 2])
    f = run(b, [(TARGET, 1, 0, 10), (TARGET, 2, 0, 10), (COMPARATOR, 2, 0, 10)],
            comparator=False)
    assert who(f) == [(1, 1), (2, 1)]


# -- entry ---------------------------------------------------------------------------------
def test_first_entry_per_cohort_is_the_index(cdm: Build) -> None:
    b = cdm_of(cdm, [1])
    # the first entry's window is day 0..10; the outcome at day 150 is in the second entry
    f = run(b, [(TARGET, 1, 100, 200), (TARGET, 1, 0, 10), (OUTCOME, 1, 150, 150)])
    assert who(f) == [(1, 1)]
    assert col(f, "time_at_risk") == {1: 11}
    assert col(f, "outcome_count") == {1: 0}


def test_entries_outside_observation_or_person_are_dropped(cdm: Build) -> None:
    b = cdm({"person": [person(1), person(2)],
             "observation_period": [period(1, start=50), period(2), period(3)]})
    # person 1's first entry (day 0) precedes its observation: dropped, not replaced by the
    # second; person 3 has no person row
    f = run(b, [(TARGET, 1, 0, 60), (TARGET, 1, 60, 70), (TARGET, 2, 0, 10),
                (TARGET, 3, 0, 10)])
    assert who(f) == [(2, 1)]


# -- duplicate subjects --------------------------------------------------------------------
DUPLICATES: list[Entry] = [
    (TARGET, 1, 0, 50), (COMPARATOR, 1, 10, 50),  # target first
    (COMPARATOR, 2, 0, 50), (TARGET, 2, 10, 50),  # comparator first
    (TARGET, 3, 5, 50), (COMPARATOR, 3, 5, 50),  # tie
    (TARGET, 4, 0, 50),  # target only
    (COMPARATOR, 5, 0, 50),  # comparator only
]


@pytest.mark.parametrize(("rule", "expected"), [
    ("keep_all", [(1, 1), (1, 0), (2, 1), (2, 0), (3, 1), (3, 0), (4, 1), (5, 0)]),
    ("remove_all", [(4, 1), (5, 0)]),
    ("keep_first", [(1, 1), (2, 0), (4, 1), (5, 0)]),
])
def test_duplicate_subjects(cdm: Build, rule: str, expected: list[tuple[int, int]]) -> None:
    b = cdm_of(cdm, [1, 2, 3, 4, 5])
    f = run(b, DUPLICATES, PopulationSettings(remove_duplicate_subjects=rule))  # type: ignore[arg-type]
    assert who(f) == expected


def test_keep_first_happens_before_washout(cdm: Build) -> None:
    # person 1's first cohort (target, day 0) fails a 20-day washout; CohortMethod drops the
    # person rather than falling back to the comparator entry at day 30
    b = cdm({"person": [person(1)], "observation_period": [period(1, start=-10)]})
    entries: list[Entry] = [(TARGET, 1, 0, 50), (COMPARATOR, 1, 30, 50)]
    assert who(run(b, entries, PopulationSettings(washout_days=20))) == [(1, 0)]
    assert who(run(b, entries, PopulationSettings(
        washout_days=20, remove_duplicate_subjects="keep_first"))) == []


# -- washout -------------------------------------------------------------------------------
def test_washout_counts_days_from_observation_start(cdm: Build) -> None:
    # persons 1, 2, 3 observed from 29, 30, 31 days before index
    b = cdm({"person": [person(p) for p in (1, 2, 3)],
             "observation_period": [period(1, start=-29), period(2, start=-30),
                                    period(3, start=-31)]})
    entries: list[Entry] = [(TARGET, p, 0, 10) for p in (1, 2, 3)]
    assert who(run(b, entries)) == [(1, 1), (2, 1), (3, 1)]
    assert who(run(b, entries, PopulationSettings(washout_days=30))) == [(2, 1), (3, 1)]


# -- prior outcome -------------------------------------------------------------------------
PRIOR_DAYS = {1: -31, 2: -30, 3: -29, 4: -1, 5: 0, 6: None}


def _prior_entries() -> list[Entry]:
    entries: list[Entry] = [(TARGET, p, 0, 100) for p in PRIOR_DAYS]
    entries += [(OUTCOME, p, d, d) for p, d in PRIOR_DAYS.items() if d is not None]
    return entries


def test_prior_outcome_lookback_is_exclusive_as_in_cohort_method(cdm: Build) -> None:
    b = cdm_of(cdm, list(PRIOR_DAYS))
    # CohortMethod: prior when -lookback < daysToEvent < riskStart, so with a 30-day
    # lookback day -30 is not prior and day 0 (the risk window's first day) is not either
    f = run(b, _prior_entries(), PopulationSettings(prior_outcome_lookback=30))
    assert [p for p, _ in who(f)] == [1, 2, 5, 6]
    assert col(f, "outcome_count") == {1: 0, 2: 0, 5: 1, 6: 0}
    # the default lookback (99999 days) removes every earlier outcome
    assert [p for p, _ in who(run(b, _prior_entries()))] == [5, 6]
    # a risk window starting a day after index makes day 0 prior as well
    later = PopulationSettings(prior_outcome_lookback=30, risk_window_start=1)
    assert [p for p, _ in who(run(b, _prior_entries(), later))] == [1, 2, 6]
    kept = run(b, _prior_entries(), PopulationSettings(remove_prior_outcome=False))
    assert [p for p, _ in who(kept)] == [1, 2, 3, 4, 5, 6]


def test_prior_outcome_only_within_the_observation_period(cdm: Build) -> None:
    # person 1's outcome (day -200) precedes its observation (from day -100); person 2's
    # is in it
    b = cdm({"person": [person(1), person(2)],
             "observation_period": [period(1, start=-100), period(2, start=-300)]})
    f = run(b, [(TARGET, 1, 0, 10), (TARGET, 2, 0, 10), (OUTCOME, 1, -200, -200),
                (OUTCOME, 2, -200, -200)])
    assert who(f) == [(1, 1)]


def test_prior_outcome_up_to_a_cohort_end_anchored_start(cdm: Build) -> None:
    # risk window from cohort end (day 10): an outcome at day 5 is before it, so prior
    b = cdm_of(cdm, [1, 2])
    entries: list[Entry] = [(TARGET, 1, 0, 10), (TARGET, 2, 0, 10), (OUTCOME, 1, 5, 5)]
    s = PopulationSettings(start_anchor="cohort end", risk_window_end=30,
                           end_anchor="cohort start")
    assert who(run(b, entries, s)) == [(2, 1)]
    kept = run(b, entries, s.model_copy(update={"remove_prior_outcome": False}))
    assert col(kept, "outcome_count") == {1: 0, 2: 0}
    assert col(kept, "time_at_risk") == {1: 21, 2: 21}  # day 10 .. day 30


# -- risk window ---------------------------------------------------------------------------
@pytest.mark.parametrize(("settings", "tar"), [
    ({}, 11),  # cohort start + 0 .. cohort end + 0
    ({"risk_window_start": 1, "risk_window_end": 30, "end_anchor": "cohort start"}, 30),
    ({"risk_window_start": 1, "start_anchor": "cohort end", "risk_window_end": 5}, 5),
    ({"risk_window_end": 365, "end_anchor": "cohort start"}, 101),  # cut at obs end
    ({"risk_window_end": 200}, 101),  # cohort end + 200, cut at obs end (day 100)
    ({"risk_window_start": -5, "risk_window_end": 0, "end_anchor": "cohort start"}, 6),
])
def test_risk_window_anchors_and_observation_cut(cdm: Build, settings: dict[str, Any],
                                                 tar: int) -> None:
    b = cdm({"person": [person(1)], "observation_period": [period(1, end=100)]})
    f = run(b, [(TARGET, 1, 0, 10)], PopulationSettings(**settings))
    assert col(f, "time_at_risk") == {1: tar}


def test_outcomes_after_observation_end_do_not_count(cdm: Build) -> None:
    b = cdm({"person": [person(1), person(2)],
             "observation_period": [period(1, end=100), period(2, end=100)]})
    f = run(b, [(TARGET, 1, 0, 10), (TARGET, 2, 0, 10), (OUTCOME, 1, 100, 100),
                (OUTCOME, 2, 101, 101)],
            PopulationSettings(risk_window_end=365, end_anchor="cohort start"))
    assert col(f, "outcome_count") == {1: 1, 2: 0}
    assert col(f, "survival_time") == {1: 101, 2: 101}


# -- minimum days at risk ------------------------------------------------------------------
def test_min_days_at_risk_compares_end_minus_start(cdm: Build) -> None:
    # windows of 1, 2 and 3 days; CohortMethod keeps riskEnd - riskStart >= minDaysAtRisk
    b = cdm_of(cdm, [1, 2, 3])
    entries: list[Entry] = [(TARGET, 1, 0, 0), (TARGET, 2, 0, 1), (TARGET, 3, 0, 2)]
    assert col(run(b, entries), "time_at_risk") == {2: 2, 3: 3}
    assert col(run(b, entries, PopulationSettings(min_days_at_risk=2)),
               "time_at_risk") == {3: 3}
    assert col(run(b, entries, PopulationSettings(min_days_at_risk=0)),
               "time_at_risk") == {1: 1, 2: 2, 3: 3}


def test_min_days_zero_keeps_empty_windows(cdm: Build) -> None:
    # the risk window starts after the observation ends: CohortMethod keeps it when
    # minDaysAtRisk is 0 (time at risk <= 0), and drops it otherwise
    b = cdm({"person": [person(1)], "observation_period": [period(1, end=20)]})
    s = PopulationSettings(risk_window_start=50, risk_window_end=60,
                           end_anchor="cohort start", min_days_at_risk=0)
    assert col(run(b, [(TARGET, 1, 0, 10)], s), "time_at_risk") == {1: 20 - 50 + 1}
    assert len(run(b, [(TARGET, 1, 0, 10)], s.model_copy(update={"min_days_at_risk": 1}))) == 0


# -- outcomes and survival -----------------------------------------------------------------
def test_outcome_count_event_and_survival_time(cdm: Build) -> None:
    b = cdm_of(cdm, [1, 2, 3])
    entries: list[Entry] = [
        (TARGET, 1, 0, 100), (OUTCOME, 1, 10, 10), (OUTCOME, 1, 10, 12),  # same day: once
        (OUTCOME, 1, 20, 20), (OUTCOME, 1, 150, 150),  # day 150: after the window
        (TARGET, 2, 0, 100),  # no outcome
        (TARGET, 3, 0, 100), (OUTCOME, 3, 5, 5),  # outcome on the risk window's first day
    ]
    f = run(b, entries)
    assert col(f, "outcome_count") == {1: 2, 2: 0, 3: 1}
    assert col(f, "event") == {1: 1, 2: 0, 3: 1}
    assert col(f, "time_at_risk") == {1: 101, 2: 101, 3: 101}
    assert col(f, "survival_time") == {1: 11, 2: 101, 3: 6}
    late = run(b, entries, PopulationSettings(risk_window_start=5))
    assert col(late, "survival_time") == {1: 6, 2: 96, 3: 1}
    assert col(late, "time_at_risk") == {1: 96, 2: 96, 3: 96}


def test_target_and_comparator_rows_have_their_own_windows(cdm: Build) -> None:
    # keep_all: person 1's target row (days 0..10) has the outcome, its comparator row
    # (days 50..60) does not
    b = cdm_of(cdm, [1])
    f = run(b, [(TARGET, 1, 0, 10), (COMPARATOR, 1, 50, 60), (OUTCOME, 1, 5, 5)],
            PopulationSettings(remove_prior_outcome=False))
    assert who(f) == [(1, 1), (1, 0)]
    assert f["event"].tolist() == [1, 0]


# -- covariates ----------------------------------------------------------------------------
def test_covariate_windows_domains_and_descendants(cdm: Build) -> None:
    b = cdm_of(
        cdm, [1, 2, 3, 4],
        concept_ancestor=cb.ancestry((111, 112)),
        condition_occurrence=[cb.cond_row(1, 1, 111, day(-400)),  # parent, long ago
                              cb.cond_row(2, 2, 112, day(-10)),  # descendant, recent
                              cb.cond_row(3, 3, 111, day(1))],  # after index
        drug_exposure=[cb.drug_row(1, 1, 222, day(0)), cb.drug_row(2, 2, 222, day(-1))],
        procedure_occurrence=[cb.proc_row(1, 3, 333, day(-365))],
        measurement=[cb.meas_row(1, 4, 444, day(30)), cb.meas_row(2, 3, 444, day(31))],
        observation=[cb.obs_row(1, 4, 555, day(-5))],
    )
    covariates = (
        CovariateSpec(name="cond_any", domain="condition", concept_ids=(111,)),
        CovariateSpec(name="cond_365", domain="condition", concept_ids=(111,),
                      window=(-365, 0)),
        CovariateSpec(name="cond_exact", domain="condition", concept_ids=(111,),
                      descendants=False),
        CovariateSpec(name="drug_index", domain="drug", concept_ids=(222,), window=(0, 0)),
        CovariateSpec(name="proc_year", domain="procedure", concept_ids=(333,),
                      window=(-365, -1)),
        CovariateSpec(name="meas_after", domain="measurement", concept_ids=(444,),
                      window=(1, 30)),
        CovariateSpec(name="obs_any", domain="observation", concept_ids=(555, 556)),
    )
    f = run(b, [(TARGET, p, 0, 10) for p in (1, 2, 3, 4)],
            PopulationSettings(covariates=covariates))
    assert list(f.columns)[-len(covariates):] == [c.name for c in covariates]
    assert all(str(t) == "int64" for t in f.dtypes)
    assert col(f, "cond_any") == {1: 1, 2: 1, 3: 0, 4: 0}
    assert col(f, "cond_365") == {1: 0, 2: 1, 3: 0, 4: 0}
    assert col(f, "cond_exact") == {1: 1, 2: 0, 3: 0, 4: 0}
    assert col(f, "drug_index") == {1: 1, 2: 0, 3: 0, 4: 0}
    assert col(f, "proc_year") == {1: 0, 2: 0, 3: 1, 4: 0}
    assert col(f, "meas_after") == {1: 0, 2: 0, 3: 0, 4: 1}
    assert col(f, "obs_any") == {1: 0, 2: 0, 3: 0, 4: 1}


def test_covariate_named_like_a_keyword(cdm: Build) -> None:
    b = cdm_of(cdm, [1], condition_occurrence=[cb.cond_row(1, 1, 7, day(-1))])
    names = ("end", "order", "select")
    f = run(b, [(TARGET, 1, 0, 10)], PopulationSettings(covariates=tuple(
        CovariateSpec(name=n, domain="condition", concept_ids=(7,)) for n in names)))
    assert f[list(names)].to_dict("records") == [{"end": 1, "order": 1, "select": 1}]


# -- through the site store ----------------------------------------------------------------
def test_site_store_population_with_builder_cohorts(cdm: Build) -> None:
    """Builder cohorts: index at the first exposure, cohort end = observation end."""
    b = cdm({
        "person": [person(p, MALE if p % 2 else FEMALE) for p in (1, 2, 3, 4)],
        "observation_period": [period(p) for p in (1, 2, 3, 4)],
        "concept": cb.vocab(10, 11, 20, 30),
        "concept_ancestor": cb.ancestry((10, 11)),
        "drug_exposure": [cb.drug_row(1, 1, 11, day(0)), cb.drug_row(2, 1, 10, day(30)),
                          cb.drug_row(3, 2, 20, day(0)), cb.drug_row(4, 3, 10, day(0)),
                          cb.drug_row(5, 3, 20, day(0)), cb.drug_row(6, 4, 20, day(100))],
        "condition_occurrence": [cb.cond_row(1, 1, 30, day(50)), cb.cond_row(2, 4, 30, day(0))],
    })
    store = SiteStore(b)
    f = store.population(Cohort.drug(10), Cohort.drug(20), Cohort.condition(30),
                         PopulationSettings(remove_duplicate_subjects="keep_first"))
    # person 3 starts both on one day (removed); person 4's outcome is prior
    assert who(f) == [(1, 1), (2, 0)]
    assert col(f, "time_at_risk") == {1: 3651, 2: 3651}  # index .. observation end
    assert col(f, "survival_time") == {1: 51, 2: 3651}
    assert col(f, "male") == {1: 1, 2: 0}
    alone = store.population(Cohort.drug(10), None, Cohort.condition(30),
                             PopulationSettings(demographics=False))
    assert alone["treatment"].tolist() == [1, 1]
    assert alone["event"].tolist() == [1, 0]
