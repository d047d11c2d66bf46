"""The comparative study over synthetic sites of unequal size (1 and 10 sites; scores
with and without ties) equals the pooled computation, and the PS-break search alone finds
the pooled type-7 quantile cuts for awkward score sets."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.duration.hazard_regression import PHReg

from behindglass.analyses import ps_strata
from behindglass.core.cohort import Cohort
from behindglass.core.errors import SpecError
from behindglass.core.population import PopulationSettings
from behindglass.core.study import AnalysisSpec
from tests.unit.rounds_sim import fit_in_rounds
from tests.unit.test_cohort_method import pooled_strata, same_partition

COHORTS = {"t": Cohort.drug(1118084), "c": Cohort.drug(1124300), "o": Cohort.condition(192671)}
COVS = ["age", "male", "index_year"]
TOL = 1e-8


class FakeData:
    """A site store whose study population is a given frame."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame

    def population(self, target: Cohort, comparator: Cohort | None, outcome: Cohort,
                   settings: PopulationSettings) -> pd.DataFrame:
        assert target == COHORTS["t"] and comparator == COHORTS["c"]
        return self.frame.copy()


def simulate(n: int, seed: int, *, continuous: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.uniform(40, 80, n) if continuous else rng.integers(40, 46, n).astype(float)
    male = rng.integers(0, 2, n)
    year = rng.integers(1960, 2020, n)
    eta = -0.5 + 0.04 * (age - 60) + 0.5 * male + 0.02 * (year - 1990)
    treatment = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    rate = 0.01 * np.exp(0.4 * treatment + 0.03 * (age - 60))
    t_event = np.ceil(rng.exponential(1 / rate)).astype(int)
    t_cens = rng.integers(1, 91, n)
    event = (t_event <= t_cens).astype(int)
    return pd.DataFrame({"treatment": treatment, "time_at_risk": t_cens,
                         "outcome_count": event, "event": event,
                         "survival_time": np.where(event == 1, t_event, t_cens),
                         "age": age, "male": male, "index_year": year})


def spec_of(**params: Any) -> AnalysisSpec:
    return AnalysisSpec(kind="cohort_method", name="CM", cohort="t", comparator="c",
                        outcomes=("o",), params={"ps_covariates": COVS, **params})


@pytest.mark.parametrize("sizes, continuous", [
    ([900], True),
    ([60, 90, 150, 200, 80, 300, 45, 500, 130, 70], False),
    ([400, 250, 700], True),
])
def test_federated_study_equals_pooled(sizes: list[int], continuous: bool) -> None:
    frames = {f"s{i:02d}": simulate(n, 10 * len(sizes) + i, continuous=continuous)
              for i, n in enumerate(sizes)}
    stores = {s: FakeData(f) for s, f in frames.items()}
    result, rounds, _ = fit_in_rounds(spec_of(number_of_strata=5), stores, COHORTS,
                                      min_cell=2)
    df = pd.concat(frames.values(), ignore_index=True)
    x = sm.add_constant(df[COVS].astype(float))
    glm = sm.GLM(df["treatment"].astype(float), x,
                 family=sm.families.Binomial()).fit(tol=0, atol=0, rtol=1e-10)
    ps_model = result["propensity_model"]
    # index_year is not centred, so the intercept is large: 1e-8 relative there
    np.testing.assert_allclose([r["coef"] for r in ps_model["coefficients"]], glm.params,
                               rtol=TOL, atol=TOL)
    np.testing.assert_allclose([r["se"] for r in ps_model["coefficients"]], glm.bse,
                               rtol=TOL, atol=TOL)
    assert ps_model["iterations"] == glm.fit_history["iteration"]
    beta = [r["coef"] for r in ps_model["coefficients"]]
    ps = ps_strata.propensity(df[COVS].to_numpy(dtype=float), beta)
    ours = ps_strata.assign(ps, result["ps_strata"]["cuts"])
    assert same_partition(ours, pooled_strata(ps, 5))
    assert len(np.unique(ps)) < len(ps) if not continuous else len(np.unique(ps)) == len(ps)
    for model, strata in (("unadjusted", None), ("stratified", ours)):
        ph = PHReg(df["survival_time"].astype(float), df[["treatment"]].astype(float),
                   status=df["event"].astype(float), ties="efron", strata=strata)
        fit = ph.fit(tol=1e-12)
        cox = result[model]
        assert cox["converged"], cox
        assert cox["coefficients"][0]["coef"] == pytest.approx(fit.params[0], abs=TOL)
        assert cox["coefficients"][0]["se"] == pytest.approx(fit.bse[0], abs=TOL)
        assert cox["loglik"] == pytest.approx(fit.llf, abs=TOL)
    assert result["population"]["persons"] == sum(sizes) and rounds == result["rounds"]


# -- the break search alone ----------------------------------------------------------------
def search(site_scores: list[np.ndarray], k: int, grid: int) -> tuple[list[float], int]:
    """The hub's rounds of the PS-break search: (cuts, rounds)."""
    n = sum(len(s) for s in site_scores)
    brackets = ps_strata.start(n, k)
    rounds = 0
    while not all(b["done"] for b in brackets):
        rounds += 1
        assert rounds < 40
        for j, b in enumerate(brackets):
            points = ps_strata.grid(b, grid)
            if points:
                counts = sum(ps_strata.count_at_or_below(s, points) for s in site_scores)
                brackets[j] = ps_strata.narrow(b, points, [int(c) for c in counts])
    return [c["threshold"] for c in ps_strata.thresholds(brackets, n)], rounds


def awkward_scores(kind: str, rng: np.random.Generator) -> np.ndarray:
    if kind == "continuous":
        return rng.random(1000)
    if kind == "ties":
        return rng.choice([0.2, 0.35, 0.5, 0.9], 1000)
    if kind == "one_value":
        return np.full(300, 0.4)
    if kind == "ulps":  # distinct scores a few units in the last place apart
        return 0.3 + rng.integers(0, 6, 500) * np.spacing(0.3)
    if kind == "extremes":  # scores of exactly 0 and 1 (overflowing linear predictors)
        return np.concatenate([np.zeros(200), np.ones(150), rng.random(50) * 1e-300])
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["continuous", "ties", "one_value", "ulps", "extremes"])
@pytest.mark.parametrize("k", [2, 5, 10])
def test_break_search_finds_the_pooled_quantile_cuts(kind: str, k: int) -> None:
    rng = np.random.default_rng(k)
    ps = awkward_scores(kind, rng)
    parts = np.array_split(rng.permutation(ps), [len(ps) // 5, len(ps) // 2])
    cuts, rounds = search(list(parts), k, grid=256)
    assert same_partition(ps_strata.assign(ps, cuts), pooled_strata(ps, k))
    assert rounds <= 12  # at most about 64 / 7 rounds of 256 points


def test_scores_are_the_same_double_at_every_site() -> None:
    """A person's score does not depend on which rows share the site with them."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1001, 4))
    beta = list(rng.normal(size=5))
    whole = ps_strata.propensity(x, beta)
    parts = [ps_strata.propensity(x[i::7], beta) for i in range(7)]
    for i, part in enumerate(parts):
        assert np.array_equal(part, whole[i::7])


def test_one_stratum_makes_the_stratified_model_the_unadjusted_one() -> None:
    frames = {"a": simulate(300, 1, continuous=True), "b": simulate(500, 2, continuous=False)}
    stores = {s: FakeData(f) for s, f in frames.items()}
    result, _, _ = fit_in_rounds(spec_of(number_of_strata=1, ties="breslow"), stores,
                                 COHORTS, min_cell=5)
    assert result["ps_strata"]["cuts"] == [] and result["ps_strata"]["search_rounds"] == 0
    df = pd.concat(frames.values(), ignore_index=True)
    fit = PHReg(df["survival_time"].astype(float), df[["treatment"]].astype(float),
                status=df["event"].astype(float), ties="breslow").fit(tol=1e-12)
    for model in ("unadjusted", "stratified"):
        assert result[model]["coefficients"][0]["coef"] == pytest.approx(fit.params[0],
                                                                         abs=TOL)
    assert result["ps_strata"]["table"][0]["target"] == int(df["treatment"].sum())


def test_a_site_answers_no_more_threshold_counts_than_the_request_allows() -> None:
    frames = {"a": simulate(300, 1, continuous=True)}

    def greedy_hub(round_: int, state: dict[str, Any]) -> dict[str, Any]:
        q = state.get("quantiles")
        if q is not None and state.get("cuts") is None:
            q["grids"][0] = [i / 1000 for i in range(1, 1000)]  # every score, finely
        return state

    with pytest.raises(SpecError, match="beyond 'number_of_strata' and 'quantile_grid'"):
        fit_in_rounds(spec_of(quantile_grid=64), {"a": FakeData(frames["a"])}, COHORTS,
                      min_cell=5, meddle=greedy_hub)
