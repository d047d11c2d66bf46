"""The comparative study (``cohort_method``) over Eunomia GiBleed split three ways equals
the pooled computation: statsmodels' logistic regression for the propensity model, numpy's
type-7 quantiles with right-closed cuts for the PS strata, statsmodels' ``PHReg`` (Efron)
for the unadjusted and the PS-stratified Cox model.

The request is the one in ``examples/studies/celecoxib_vs_diclofenac.json``; the rounds
run in-process through each site's real release path (``tests/unit/rounds_sim.py``).
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.duration.hazard_regression import PHReg

from behindglass.analyses import ps_strata
from behindglass.analyses.catalog import get_analysis
from behindglass.analyses.requests import CohortMethod
from behindglass.core.errors import DisclosureError, SpecError
from behindglass.core.population import PopulationSettings
from behindglass.core.study import AnalysisSpec, StudySpec
from behindglass.engine.site_store import SiteStore
from tests.unit.rounds_sim import fit_in_rounds

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "studies" / \
    "celecoxib_vs_diclofenac.json"
SITES = ("site-a", "site-b", "site-c")
TOL = 1e-8


def example() -> tuple[StudySpec, AnalysisSpec]:
    study = StudySpec.from_file(EXAMPLE)
    (spec,) = study.analyses
    return study, spec


def run(sites: dict[str, Path], spec: AnalysisSpec, min_cell: int
        ) -> tuple[dict[str, Any], int]:
    study, _ = example()
    with ExitStack() as stack:
        stores = {s: stack.enter_context(SiteStore.open(sites[s])) for s in SITES}
        result, rounds, _ = fit_in_rounds(spec, stores, study.cohorts, min_cell)
    return result, rounds


def pooled_strata(ps: np.ndarray, k: int) -> np.ndarray:
    """CohortMethod's stratifyByPs on the pooled scores (numpy 'linear' is R's type 7)."""
    q = np.quantile(ps, np.arange(1, k) / k, method="linear")
    breaks = np.unique(np.concatenate([[0.0], q, [1.0]]))
    breaks[0] = -1.0
    return np.asarray(pd.cut(ps, breaks, right=True, labels=False)) + 1


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Both labelings increase with the score, so equal groupings give equal ranks."""
    return bool(np.array_equal(np.unique(a, return_inverse=True)[1],
                               np.unique(b, return_inverse=True)[1]))


@pytest.fixture(scope="module")
def fitted(gibleed_sites: dict[str, Path]) -> tuple[dict[str, Any], int]:
    return run(gibleed_sites, example()[1], min_cell=11)


@pytest.fixture(scope="module")
def pooled(gibleed_db: Path) -> pd.DataFrame:
    study, spec = example()
    settings = PopulationSettings.model_validate(spec.params["population"])
    with SiteStore.open(gibleed_db) as store:
        return store.population(study.cohorts[spec.cohort], study.cohorts[spec.comparator],
                                study.cohorts[spec.outcomes[0]], settings)


def covariates() -> list[str]:
    return list(example()[1].params["ps_covariates"])


def scores(result: dict[str, Any], frame: pd.DataFrame) -> np.ndarray:
    beta = [r["coef"] for r in result["propensity_model"]["coefficients"]]
    return ps_strata.propensity(frame[covariates()].to_numpy(dtype=float), beta)


def test_population_counts_are_the_pooled_ones(fitted, pooled) -> None:
    result, rounds = fitted
    assert result["sites"] == list(SITES) and rounds == result["rounds"]
    pop = result["population"]
    assert pop["complete"] and pop["persons"] == len(pooled) == 2630
    for group, t in (("target", 1), ("comparator", 0)):
        rows = pooled[pooled["treatment"] == t]
        assert pop[group] == {"persons": len(rows), "events": int(rows["event"].sum())}


def test_propensity_model_equals_statsmodels(fitted, pooled) -> None:
    ps_model = fitted[0]["propensity_model"]
    x = sm.add_constant(pooled[covariates()].astype(float))
    fit = sm.GLM(pooled["treatment"].astype(float), x,
                 family=sm.families.Binomial()).fit(tol=0, atol=0, rtol=1e-10)
    assert [r["name"] for r in ps_model["coefficients"]] == ["(Intercept)", *covariates()]
    np.testing.assert_allclose([r["coef"] for r in ps_model["coefficients"]], fit.params,
                               rtol=0, atol=TOL)
    np.testing.assert_allclose([r["se"] for r in ps_model["coefficients"]], fit.bse,
                               rtol=0, atol=TOL)
    assert ps_model["log_likelihood"] == pytest.approx(fit.llf, abs=TOL)
    assert ps_model["iterations"] == fit.fit_history["iteration"]
    assert ps_model["n"] == len(pooled) and ps_model["converged"]


def test_ps_strata_are_the_pooled_quantile_strata(fitted, pooled) -> None:
    result = fitted[0]
    strata = result["ps_strata"]
    ps = scores(result, pooled)
    ours = ps_strata.assign(ps, strata["cuts"])
    assert same_partition(ours, pooled_strata(ps, 5))
    # the scores of statsmodels' own fit cut the persons the same way
    x = sm.add_constant(pooled[covariates()].astype(float))
    fit = sm.GLM(pooled["treatment"].astype(float), x,
                 family=sm.families.Binomial()).fit(tol=0, atol=0, rtol=1e-10)
    assert same_partition(ours, pooled_strata(fit.predict(x).to_numpy(), 5))
    assert strata["strata"] == len(np.unique(ours)) == 5
    for b in strata["breaks"]:  # each threshold cuts where the order statistic does
        assert b["persons_at_or_below"] == int((ps <= b["threshold"]).sum())
        assert b["order_statistic"] == int(np.floor((len(ps) - 1) * b["probability"])) + 1
    table = pd.crosstab(ours, pooled["treatment"])
    for row in strata["table"]:
        assert row["complete"]
        assert row["target"] == table.loc[row["stratum"], 1]
        assert row["comparator"] == table.loc[row["stratum"], 0]


@pytest.mark.parametrize("model", ["unadjusted", "stratified"])
def test_cox_models_equal_phreg(fitted, pooled, model: str) -> None:
    result = fitted[0]
    strata = ps_strata.assign(scores(result, pooled), result["ps_strata"]["cuts"])
    ph = PHReg(pooled["survival_time"].astype(float), pooled[["treatment"]].astype(float),
               status=pooled["event"].astype(float), ties="efron",
               strata=strata if model == "stratified" else None)
    fit = ph.fit(tol=1e-12)
    cox = result[model]
    assert "error" not in cox and cox["converged"]
    (row,) = cox["coefficients"]
    assert row["coef"] == pytest.approx(fit.params[0], abs=TOL)
    assert row["se"] == pytest.approx(fit.bse[0], abs=TOL)
    assert cox["loglik"] == pytest.approx(fit.llf, abs=TOL)
    assert cox["loglik_null"] == pytest.approx(ph.loglike(np.zeros(1)), abs=TOL)
    assert cox["events"] == int(pooled["event"].sum()) and cox["persons"] == len(pooled)


def test_balance_and_equipoise_are_the_pooled_ones(fitted, pooled) -> None:
    result = fitted[0]
    t, c = pooled[pooled["treatment"] == 1], pooled[pooled["treatment"] == 0]
    for row in result["balance"]["covariates"]:
        col = row["covariate"]
        sd = np.sqrt((t[col].var() + c[col].var()) / 2)
        assert row["smd_before"] == pytest.approx((t[col].mean() - c[col].mean()) / sd,
                                                  abs=1e-12)
    # the top stratum's comparators hold fewer than 11 women at two sites: withheld there
    assert result["balance"]["after_withheld_by"] == ["site-b", "site-c"]
    assert "smd_after" not in result["balance"]["covariates"][0]
    ps = scores(result, pooled)
    share = pooled["treatment"].mean()
    pref = 1 / (1 + np.exp(-(np.log(ps / (1 - ps)) - np.log(share / (1 - share)))))
    eq = result["equipoise"]
    assert eq["complete"] and eq["persons"] == int(((pref >= 0.3) & (pref <= 0.7)).sum())


def test_balance_after_stratification_with_small_cells_allowed(gibleed_sites, pooled
                                                               ) -> None:
    result, _ = run(gibleed_sites, example()[1], min_cell=1)
    strata = ps_strata.assign(scores(result, pooled), result["ps_strata"]["cuts"])
    frame = pooled.assign(stratum=strata)
    n_s = frame.groupby("stratum").size()
    for row in result["balance"]["covariates"]:
        col = row["covariate"]
        means = frame.groupby(["stratum", "treatment"])[col].mean().unstack()
        after = {g: float((means[g] * n_s).sum() / n_s.sum()) for g in (0, 1)}
        t, c = pooled[pooled["treatment"] == 1], pooled[pooled["treatment"] == 0]
        sd = np.sqrt((t[col].var() + c[col].var()) / 2)
        assert row["smd_after"] == pytest.approx((after[1] - after[0]) / sd, abs=1e-12)
    assert result["balance"]["after_withheld_by"] == []


# -- refusals and bad requests ----------------------------------------------------------------
def with_params(**params: Any) -> AnalysisSpec:
    spec = example()[1]
    return spec.model_copy(update={"params": {**spec.params, **params}})


def test_a_small_covariate_level_is_refused_naming_the_rule(gibleed_sites) -> None:
    pop = dict(example()[1].params["population"])
    pop["covariates"] = [{"name": "ra", "domain": "condition", "concept_ids": [80809]}]
    spec = with_params(population=pop, ps_covariates=["age", "ra"])
    with pytest.raises(DisclosureError, match="covariate pattern rule") as err:
        run(gibleed_sites, spec, min_cell=11)
    assert not any(ch.isdigit() for ch in str(err.value).split("persons")[-1])


def test_too_small_strata_are_refused_when_they_are_known(gibleed_sites) -> None:
    # 20 strata of about 130 persons over three sites: about 44 per site, under 50; the
    # other rules pass (continuous PS covariates, more than 50 in each treatment group)
    spec = with_params(number_of_strata=20, ps_covariates=["age", "index_year"])
    with pytest.raises(DisclosureError, match=r"stratum .*\(minimum cell rule\)") as err:
        run(gibleed_sites, spec, min_cell=50)
    assert "_ps_stratum" in str(err.value)


@pytest.mark.parametrize("change, message", [
    ({"comparator": None}, "name the 'comparator'"),
    ({"params": {"ps_covariates": ["treatment"]}}, "not covariate columns"),
    ({"params": {"ps_covariates": []}}, "non-empty list"),
    ({"params": {"base_selection": "target"}}, "'base_selection' must be 'all'"),
    ({"params": {"number_of_strata": 0}}, "'number_of_strata'"),
    ({"params": {"ties": "exact"}}, "parameter 'ties'"),
    ({"params": {"quantile_grid": 3}}, "'quantile_grid'"),
    ({"params": {"strata": 5}}, "unknown parameter"),
    ({"outcomes": ()}, "exactly one outcome"),
])
def test_bad_requests_are_spec_errors(change: dict[str, Any], message: str) -> None:
    spec = example()[1]
    if "params" in change:
        change = {"params": {**spec.params, **change["params"]}}
    with pytest.raises(SpecError, match=message):
        get_analysis("cohort_method").validate(spec.model_copy(update=change))


def test_the_builder_makes_the_example_request() -> None:
    spec = example()[1]
    built = CohortMethod("celecoxib", "diclofenac", "gi_bleed",
                         ps_covariates=spec.params["ps_covariates"],
                         population=spec.params["population"],
                         name="CelecoxibVsDiclofenac").to_spec()
    assert built.kind == "cohort_method" and built.outcomes == ("gi_bleed",)
    for key in ("population", "ps_covariates", "number_of_strata", "ties"):
        assert built.params[key] == spec.params[key]
