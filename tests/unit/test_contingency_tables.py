"""Contingency tables: pooled exactly, tested with chi-square and Fisher as scipy does on the
whole database's table, and not tested when a site suppressed a cell.

GiBleed is split over three site stores by ``person_id % 3``; each runs the request through
the site's real path (validate, local, enforce, the last gate). The truth is the same
table counted with pandas from the whole database's cohort and person tables (cohort
persons) or from its study population frame (population mode).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency, fisher_exact
from scipy.stats.contingency import odds_ratio

from behindglass.analyses.catalog import get_analysis
from behindglass.analyses.contingency import level_order
from behindglass.analyses.requests import Contingency
from behindglass.core.aggregates import SiteAggregate
from behindglass.core.cohort import Cohort
from behindglass.core.errors import SpecError
from behindglass.core.messages import Task
from behindglass.core.policy import DisclosurePolicy
from behindglass.core.population import PopulationSettings
from behindglass.core.study import AnalysisSpec, StudySpec
from behindglass.engine.site_store import SiteStore
from behindglass.site.execute import execute_task
from tests.unit import site_run

COHORTS = {"cel": Cohort.drug(1118084), "dic": Cohort.drug(1124300),
           "gib": Cohort.condition(192671)}
POPULATION = {"risk_window_end": 365, "end_anchor": "cohort start"}
SEX_BY_GIB = Contingency("cel", "sex", "cohort:gib", outcomes=["gib"], name="C")
YEAR_BY_SEX = Contingency("cel", "index_year", "sex", name="C")
TREATMENT_BY_OUTCOME = Contingency("cel", "treatment", "outcome", outcomes=["gib"],
                                   comparator="dic", population=POPULATION, name="C")


def run_at(db: Path, spec: AnalysisSpec, min_cell: int) -> SiteAggregate:
    agg = site_run.run_at(db, spec, min_cell, COHORTS)
    return SiteAggregate.model_validate(json.loads(json.dumps(agg.to_dict())))


def pool(sites: dict[str, Path], spec: AnalysisSpec, min_cell: int) -> dict[str, Any]:
    return get_analysis("contingency").combine(
        spec, [(s, run_at(sites[s], spec, min_cell)) for s in sites])


# -- the truth, with pandas on the whole database ------------------------------------------
@pytest.fixture(scope="module")
def persons(gibleed_db: Path) -> pd.DataFrame:
    """The celecoxib cohort's persons at first entry: sex, index year, ever GI bleed."""
    with SiteStore.open(gibleed_db) as store:
        q = store.backend.fetchall
        cel, cel_id = store.cohort_table(COHORTS["cel"])
        gib, gib_id = store.cohort_table(COHORTS["gib"])
        entries = pd.DataFrame(q(f"SELECT subject_id, cohort_start_date FROM {cel} "
                                 f"WHERE cohort_definition_id = {cel_id}"),
                               columns=["person_id", "start"])
        bleeders = {r[0] for r in q(f"SELECT subject_id FROM {gib} "
                                    f"WHERE cohort_definition_id = {gib_id}")}
        sex = dict(q("SELECT person_id, gender_concept_id FROM person"))
    first = entries.groupby("person_id")["start"].min().reset_index()
    first = first[first["person_id"].isin(sex)]
    return pd.DataFrame({
        "sex": first["person_id"].map(sex).map({8507: "male", 8532: "female"}),
        "index_year": [str(d.year) for d in first["start"]],
        "cohort:gib": ["yes" if p in bleeders else "no" for p in first["person_id"]],
    })


@pytest.fixture(scope="module")
def population(gibleed_db: Path) -> pd.DataFrame:
    with SiteStore.open(gibleed_db) as store:
        frame = store.population(COHORTS["cel"], COHORTS["dic"], COHORTS["gib"],
                                 PopulationSettings.from_dict(POPULATION))
    return pd.DataFrame({"treatment": frame["treatment"].map({1: "cel", 0: "dic"}),
                         "outcome": frame["event"].map({1: "yes", 0: "no"})})


def crosstab(frame: pd.DataFrame, rows: str, cols: str, row_levels: list[str],
             col_levels: list[str]) -> np.ndarray:
    table = pd.crosstab(frame[rows], frame[cols])
    return table.reindex(index=row_levels, columns=col_levels, fill_value=0).to_numpy()


def check_tests(got: dict[str, Any], observed: np.ndarray, correction: bool = True) -> None:
    chi = chi2_contingency(observed, correction=correction)
    assert got["chi_square"]["computed"]
    assert math.isclose(got["chi_square"]["statistic"], chi.statistic, rel_tol=1e-12)
    assert math.isclose(got["chi_square"]["p_value"], chi.pvalue, rel_tol=1e-12)
    assert got["chi_square"]["df"] == chi.dof
    if observed.shape == (2, 2):
        fisher = fisher_exact(observed)
        assert math.isclose(got["fisher"]["odds_ratio"], fisher.statistic, rel_tol=1e-12)
        assert math.isclose(got["fisher"]["p_value"], fisher.pvalue, rel_tol=1e-12)
        ci = odds_ratio(observed, kind="conditional").confidence_interval(0.95)
        assert math.isclose(got["fisher"]["ci_lower"], ci.low, rel_tol=1e-9)
        assert math.isclose(got["fisher"]["ci_upper"], ci.high, rel_tol=1e-9)


# -- pooled tables and their tests ---------------------------------------------------------
@pytest.mark.parametrize("layout", ["one site", "ten unequal sites"])
@pytest.mark.parametrize("request_", [SEX_BY_GIB, TREATMENT_BY_OUTCOME])
def test_one_and_ten_sites_give_the_whole_table(gibleed_db, gibleed_ten_sites, persons,
                                                population, layout, request_):
    sites = {"whole": gibleed_db} if layout == "one site" else gibleed_ten_sites
    got = pool(sites, request_.to_spec(), 1)
    frame, rows, cols = ((persons, "sex", "cohort:gib") if request_ is SEX_BY_GIB
                         else (population, "treatment", "outcome"))
    observed = crosstab(frame, rows, cols, got["row_levels"], got["col_levels"])
    assert got["complete"] and got["counts"] == observed.tolist()
    check_tests(got, observed)


@pytest.mark.parametrize("min_cell", [1, 11])
def test_two_by_two_of_cohort_persons(gibleed_sites, persons, min_cell):
    got = pool(gibleed_sites, SEX_BY_GIB.to_spec(), min_cell)
    assert (got["row_levels"], got["col_levels"]) == (["female", "male"], ["yes", "no"])
    observed = crosstab(persons, "sex", "cohort:gib", got["row_levels"], got["col_levels"])
    assert got["complete"] and got["counts"] == observed.tolist()
    assert got["n"] == len(persons) == observed.sum()
    check_tests(got, observed)
    assert got["chi_square"]["yates"]


def test_without_yates(gibleed_sites, persons):
    spec = Contingency("cel", "sex", "cohort:gib", outcomes=["gib"], correction=False,
                       name="C").to_spec()
    got = pool(gibleed_sites, spec, 11)
    observed = crosstab(persons, "sex", "cohort:gib", got["row_levels"], got["col_levels"])
    check_tests(got, observed, correction=False)
    assert not got["chi_square"]["yates"]


@pytest.mark.parametrize("min_cell", [1, 11])
def test_two_by_two_of_the_study_population(gibleed_sites, population, min_cell):
    got = pool(gibleed_sites, TREATMENT_BY_OUTCOME.to_spec(), min_cell)
    # exposed (target) first, outcome "yes" first: the odds ratio reads target vs comparator
    assert (got["row_levels"], got["col_levels"]) == (["cel", "dic"], ["yes", "no"])
    observed = crosstab(population, "treatment", "outcome", ["cel", "dic"], ["yes", "no"])
    assert got["counts"] == observed.tolist() and got["n"] == len(population)
    check_tests(got, observed)


def test_a_larger_table_gets_chi_square_but_no_fisher(gibleed_sites, persons):
    got = pool(gibleed_sites, YEAR_BY_SEX.to_spec(), 1)
    assert len(got["row_levels"]) > 30 and got["row_levels"] == sorted(got["row_levels"])
    observed = crosstab(persons, "index_year", "sex", got["row_levels"], got["col_levels"])
    assert got["counts"] == observed.tolist()
    check_tests(got, observed)
    assert got["chi_square"]["cells_expected_below_5"] > 0  # the reader is warned
    assert not got["fisher"]["computed"]
    assert got["fisher"]["reason"].startswith("not available")


def test_a_suppressed_cell_stops_the_tests_naming_the_site(gibleed_sites):
    got = pool(gibleed_sites, YEAR_BY_SEX.to_spec(), 11)
    assert not got["complete"]
    for test in ("chi_square", "fisher"):
        assert not got[test]["computed"]
        assert got[test]["reason"].startswith("not computed: cell (")
        assert "was suppressed at site-" in got[test]["reason"]
    assert None in {v for line in got["counts"] for v in line}
    assert "statistic" not in got["chi_square"]


# -- what a site releases ------------------------------------------------------------------
def test_a_site_releases_only_cells_of_at_least_min_cell(gibleed_sites):
    agg = run_at(gibleed_sites["site-a"], YEAR_BY_SEX.to_spec(), 11)
    table = agg.table("table")
    assert table.margin == "persons" and not agg.stats
    counts = [c.count for c in table.cells if c.count is not None]
    assert counts and min(counts) >= 11
    hidden = [c for c in table.cells if c.suppressed]
    assert len(hidden) >= 2  # never a single hidden cell next to its released total


def _refusals(db: Path, spec: AnalysisSpec, min_cell: int) -> list[str]:
    study = StudySpec(title="t", cohorts=COHORTS, analyses=(spec,))
    task = Task(task_id="t", study_id="s", site="x", researcher="r", study=study,
                created=dt.datetime.now(dt.UTC))
    with SiteStore.open(db) as data:
        done = execute_task(task, data, DisclosurePolicy(min_cell=min_cell))
    assert done.aggregates == []
    return [r.reason for r in done.refusals]


@pytest.mark.parametrize("request_", [SEX_BY_GIB, TREATMENT_BY_OUTCOME])
def test_a_small_site_refuses_naming_the_rule(gibleed_sites, request_):
    (reason,) = _refusals(gibleed_sites["site-b"], request_.to_spec(), 5000)
    assert reason == ("C: fewer than 5000 persons at this site (the site's minimum cell "
                      "size); refused")


# -- parameters ----------------------------------------------------------------------------
@pytest.mark.parametrize("changes, message", [
    ({"params": {"rows": "sex"}}, "'cols' must be one of"),
    ({"params": {"rows": "sex", "cols": "sex"}}, "both 'sex'"),
    ({"params": {"rows": "sex", "cols": "cohort:dic"}}, "'cols' must be one of"),
    ({"params": {"rows": "treatment", "cols": "sex"}}, "'rows' must be one of"),
    ({"params": {"rows": "sex", "cols": "age_band", "correction": 1}}, "'correction'"),
    ({"params": {"rows": "sex", "cols": "age_band", "alpha": 2}}, "'alpha'"),
    ({"params": {"rows": "sex", "cols": "age_band", "colour": 1}}, "unknown parameter"),
    ({"comparator": "dic", "params": {"rows": "sex", "cols": "age_band"}},
     "comparator is used through the study population"),
    ({"params": {"rows": "treatment", "cols": "outcome", "population": {}}},
     "exactly one outcome"),
    ({"outcomes": ("gib",), "params": {"rows": "treatment", "cols": "outcome",
                                       "population": {}}}, "'rows' must be one of"),
    ({"outcomes": ("gib",), "params": {"rows": "race", "cols": "outcome",
                                       "population": {}}}, "'rows' must be one of"),
    ({"outcomes": ("gib",), "params": {"rows": "sex", "cols": "outcome",
                                       "population": {"washout_days": -1}}},
     "C: population: washout_days"),
])
def test_bad_parameters_are_named(changes, message):
    spec = AnalysisSpec(**{"kind": "contingency", "name": "C", "cohort": "cel", **changes})
    with pytest.raises(SpecError, match=message) as err:
        get_analysis("contingency").validate(spec)
    assert str(err.value).startswith("C: ")


def test_covariates_of_the_population_are_variables():
    spec = Contingency("cel", "diabetes", "outcome", outcomes=["gib"], population={
        "covariates": [{"name": "diabetes", "domain": "condition", "concept_ids": [201826]}]},
        name="C").to_spec()
    assert spec.params["rows"] == "diabetes"


def test_level_order():
    levels = ["unknown", "no", "40-49", "yes", "5-9", "female"]
    assert sorted(levels, key=level_order) == ["yes", "no", "5-9", "40-49", "female",
                                               "unknown"]


def test_builder_and_study_json():
    study = StudySpec(title="t", cohorts=COHORTS,
                      analyses=(SEX_BY_GIB.to_spec(), TREATMENT_BY_OUTCOME.to_spec()
                                .model_copy(update={"name": "C2"})))
    assert StudySpec.from_dict(json.loads(json.dumps(study.to_dict()))) == study
