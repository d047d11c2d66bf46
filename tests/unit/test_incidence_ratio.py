"""Incidence rate ratios: exact conditional intervals from the pooled counts and person-time.

GiBleed is split over three site stores by ``person_id % 3``; each runs the incidence request
(celecoxib vs diclofenac, GI bleed in the year after the first exposure) through the site's
real path. The pooled ratios must equal the same request on the whole database, the point
estimate must equal a Poisson GLM with a log person-time offset (statsmodels) on the pooled
numbers, the interval the Clopper-Pearson one by beta quantiles (scipy) mapped to the ratio
scale, and the p-value the exact conditional test (scipy's ``binomtest`` and statsmodels'
``test_poisson_2indep(method="exact-cond")``).
"""

from __future__ import annotations

import json
import math
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import statsmodels.api as sm
from scipy.stats import beta, binomtest
from statsmodels.stats import rates as sm_rates

from behindglass.analyses.catalog import get_analysis
from behindglass.analyses.incidence import exact_rate_ratio
from behindglass.analyses.requests import Incidence
from behindglass.core.aggregates import SiteAggregate
from behindglass.core.cohort import Cohort
from behindglass.core.errors import SpecError
from behindglass.core.study import AnalysisSpec, StudySpec
from tests.integration.harness import SITES
from tests.unit import site_run

COHORTS = {"cel": Cohort.drug(1118084), "dic": Cohort.drug(1124300),
           "gib": Cohort.condition(192671)}
YEAR = {"start_offset": 0, "start_anchor": "start", "end_offset": 365, "end_anchor": "start"}
ALPHA = 0.1
REQUEST = Incidence("cel", "gib", comparator="dic", tars=[YEAR], alpha=ALPHA,
                    rate_ratios={"reference": {"sex": "female", "age_group": "30-39"}},
                    name="IRR")


def run_at(db: Path, spec: AnalysisSpec, min_cell: int) -> SiteAggregate:
    agg = site_run.run_at(db, spec, min_cell, COHORTS)
    return SiteAggregate.model_validate(json.loads(json.dumps(agg.to_dict())))


def ratios_by_key(result: dict[str, Any]) -> dict[tuple[str, str, str, str], dict[str, Any]]:
    return {(r["contrast"], r["target"], r["stratum"], r["value"]): r
            for r in result["rate_ratios"]}


@pytest.fixture(scope="module")
def pooled(gibleed_sites: dict[str, Path]) -> dict[int, dict[str, Any]]:
    spec = REQUEST.to_spec()
    return {k: get_analysis("incidence").combine(
        spec, [(s, run_at(gibleed_sites[s], spec, k)) for s in SITES]) for k in (1, 11)}


@pytest.fixture(scope="module")
def whole(gibleed_db: Path) -> dict[str, Any]:
    spec = REQUEST.to_spec()
    return get_analysis("incidence").combine(spec, [("all", run_at(gibleed_db, spec, 1))])


def glm_irr(a: int, t1: float, b: int, t0: float) -> float:
    """exp(treatment coefficient) of a Poisson GLM with offset log(person-time)."""
    with warnings.catch_warnings():  # two rows, two parameters: a saturated model, on purpose
        warnings.simplefilter("ignore")
        fit = sm.GLM(np.array([a, b]), sm.add_constant(np.array([1.0, 0.0])),
                     family=sm.families.Poisson(), offset=np.log([t1, t0])).fit(tol=1e-14)
    return float(np.exp(fit.params[1]))


def exact_truth(a: int, t1: float, b: int, t0: float, alpha: float
                ) -> tuple[float, float, float]:
    """Clopper-Pearson interval of a / (a + b) by beta quantiles, mapped to the IRR scale,
    and the two-sided binomial p-value of p = t1 / (t1 + t0)."""
    n = a + b
    lo = beta.ppf(alpha / 2, a, n - a + 1) if a else 0.0
    hi = beta.ppf(1 - alpha / 2, a + 1, n - a)
    scale = t0 / t1
    return (scale * lo / (1 - lo), scale * hi / (1 - hi),
            binomtest(a, n, t1 / (t1 + t0)).pvalue)


# -- the pooled ratios ---------------------------------------------------------------------
def test_ten_unequal_sites_give_the_whole_ratios(gibleed_ten_sites, whole):
    spec = REQUEST.to_spec()
    got = ratios_by_key(get_analysis("incidence").combine(
        spec, [(s, run_at(db, spec, 1)) for s, db in gibleed_ten_sites.items()]))
    truth = ratios_by_key(whole)
    assert set(got) == set(truth)
    # a value no one is at risk in at a site is an exact zero there, not a gap; only a
    # suppressed count (a site never releases a 0 either) makes a ratio not computable
    for key, row in truth.items():
        if got[key]["computable"]:
            assert got[key] == row, key
        else:
            assert (got[key]["reason"].endswith("(a count was suppressed there)")
                    or got[key] == row), key
    assert got[("target_vs_comparator", "cel", "all", "all")]["computable"]
    assert got[("stratum", "cel", "sex", "male")]["computable"]


@pytest.mark.parametrize("min_cell", [1, 11])
@pytest.mark.parametrize("key", [
    ("target_vs_comparator", "cel", "all", "all"),
    ("target_vs_comparator", "cel", "sex", "male"),
    ("target_vs_comparator", "cel", "age_group", "40-49"),
    ("stratum", "cel", "sex", "male"),
    ("stratum", "dic", "sex", "male"),
    ("stratum", "cel", "age_group", "40-49"),
])
def test_pooled_ratios_are_exact(pooled, whole, key, min_cell):
    got = ratios_by_key(pooled[min_cell])[key]
    truth = ratios_by_key(whole)[key]
    assert got["computable"] and got["reason"] is None
    # the pooled counts are the whole database's
    numbers = ("outcomes", "person_days", "ref_outcomes", "ref_person_days")
    assert {k: got[k] for k in numbers} == {k: truth[k] for k in numbers}
    a, t1, b, t0 = (got[k] for k in numbers)
    assert a > 10 and b > 10
    assert math.isclose(got["irr"], glm_irr(a, t1, b, t0), rel_tol=1e-9)
    lower, upper, p = exact_truth(a, t1, b, t0, ALPHA)
    assert math.isclose(got["ci_lower"], lower, rel_tol=1e-9)
    assert math.isclose(got["ci_upper"], upper, rel_tol=1e-9)
    assert math.isclose(got["p_value"], p, rel_tol=1e-12)
    assert got["ci_lower"] < got["irr"] < got["ci_upper"]
    # statsmodels' exact conditional test of two Poisson rates: same p-value and ratio
    sm_test = sm_rates.test_poisson_2indep(a, t1, b, t0, method="exact-cond", compare="ratio")
    assert math.isclose(got["p_value"], sm_test.pvalue, rel_tol=1e-12)
    assert math.isclose(got["irr"], sm_test.ratio, rel_tol=1e-12)


def test_contrasts_are_labelled_with_the_study_cohorts(pooled):
    r = ratios_by_key(pooled[11])[("target_vs_comparator", "cel", "all", "all")]
    assert (r["target"], r["ref_target"], r["outcome"], r["tar"]) == (
        "cel", "dic", "gib", "start+0..start+365")
    s = ratios_by_key(pooled[11])[("stratum", "dic", "sex", "male")]
    assert (s["target"], s["ref_target"], s["ref_value"]) == ("dic", "dic", "female")
    assert pooled[11]["comparator"] == "dic"
    # the comparator's own rows are pooled too, as target 2
    assert any(row["target"] == "dic" and row["value"] == "all" for row in pooled[11]["rows"])


def test_a_suppressed_row_makes_a_ratio_not_computable_naming_the_site(pooled):
    """Calendar years hold few outcomes per site: with a minimum cell of 11 their rows are
    hidden, and the ratio says where, without partial sums."""
    years = [r for r in pooled[11]["rate_ratios"] if r["stratum"] == "start_year"]
    assert years and not any(r["computable"] for r in years)
    pattern = re.compile(r"^not computable: (the (index|reference) row was not released in "
                         r"full by site-|no site released the comparator's row of start_year)")
    for r in years:
        assert pattern.match(r["reason"]), r["reason"]
        assert r["irr"] is None and r["outcomes"] is None and r["person_days"] is None
    assert any(r["reason"].startswith("not computable: the index row was not released in "
                                      "full by site-a, site-b, site-c") for r in years)


def test_an_unknown_reference_value_is_reported(pooled, gibleed_sites):
    spec = Incidence("cel", "gib", tars=[YEAR], rate_ratios={"reference": {"sex": "other"}},
                     name="IRR").to_spec()
    result = get_analysis("incidence").combine(
        spec, [(s, run_at(gibleed_sites[s], spec, 11)) for s in SITES])
    assert {r["value"] for r in result["rate_ratios"]} == {"male", "female"}
    for r in result["rate_ratios"]:
        assert not r["computable"] and r["irr"] is None
        assert "no site released the reference value 'other' of sex" in r["reason"]
    assert "comparator" not in spec.params["rate_ratios"]


# -- the exact ratio by hand ---------------------------------------------------------------
def test_no_events_in_the_index_group():
    r = exact_rate_ratio(0, 100.0, 7, 200.0)
    assert r["irr"] == 0 and r["ci_lower"] == 0 and r["computable"]
    _, upper, p = exact_truth(0, 100.0, 7, 200.0, 0.05)
    assert math.isclose(r["ci_upper"], upper, rel_tol=1e-12)
    assert math.isclose(r["p_value"], p)


def test_no_events_in_the_reference_group_is_unbounded():
    r = exact_rate_ratio(5, 100.0, 0, 200.0)
    assert r["irr"] is None and r["ci_upper"] is None and r["computable"]
    assert r["ci_lower"] > 0 and "unbounded" in r["reason"]


@pytest.mark.parametrize("args, reason", [
    ((0, 10.0, 0, 10.0), "no outcomes in either group"),
    ((3, 0.0, 2, 10.0), "no person-time"),
])
def test_undefined_ratios_say_why(args, reason):
    r = exact_rate_ratio(*args)
    assert not r["computable"] and r["irr"] is None and reason in r["reason"]


# -- parameters ----------------------------------------------------------------------------
@pytest.mark.parametrize("changes, message", [
    ({"comparator": "dic", "params": {}}, "incidence takes no comparator unless"),
    ({"params": {"rate_ratios": {"comparator": True}}}, "needs a 'comparator' cohort"),
    ({"params": {"rate_ratios": {"reference": {"race": "white"}}}}, "'rate_ratios.reference'"),
    ({"params": {"rate_ratios": {"reference": {"sex": ""}}}}, "'rate_ratios.reference'"),
    ({"params": {"rate_ratios": {}}}, "asks for no ratio"),
    ({"params": {"rate_ratios": {"colour": 1}}}, "keys from"),
    ({"comparator": "dic", "params": {"rate_ratios": {"comparator": "yes"}}},
     "'rate_ratios.comparator' must be true or false"),
])
def test_bad_ratio_requests_are_named(changes, message):
    spec = AnalysisSpec(**{"kind": "incidence", "name": "IRR", "cohort": "cel",
                           "outcomes": ("gib",), **changes})
    with pytest.raises(SpecError, match=message) as err:
        get_analysis("incidence").validate(spec)
    assert str(err.value).startswith("IRR: ")


def test_builder_and_study_json():
    spec = Incidence("cel", "gib", comparator="dic").to_spec()
    assert spec.comparator == "dic" and spec.params["rate_ratios"] == {"comparator": True}
    plain = Incidence("cel", "gib").to_spec()
    assert "rate_ratios" not in plain.params and plain.comparator is None
    study = StudySpec(title="t", cohorts=COHORTS, analyses=(REQUEST.to_spec(),))
    assert StudySpec.from_dict(json.loads(json.dumps(study.to_dict()))) == study
