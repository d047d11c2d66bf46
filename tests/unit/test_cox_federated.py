"""Federated Cox proportional hazards equals the pooled fit (statsmodels PHReg).

Each site is a fake store whose ``population`` returns a frame built here; the rounds run
in-process (start, every site's ``local`` through the site's ``enforce`` and last gate,
JSON on the wire, the hub's ``step``, ..., ``combine``). The pooled oracle is statsmodels
``PHReg`` on the concatenated rows; the proportional-hazards test is checked against the
score and information of the time-varying extension ``x * g(t)`` fitted by PHReg on
counting-process episodes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.stats import rankdata
from statsmodels.duration.hazard_regression import PHReg

from behindglass.analyses.catalog import get_analysis
from behindglass.analyses.cox import MAX_PARAMS_PER_OBS, CoxAnalysis
from behindglass.analyses.requests import Cox
from behindglass.core.aggregates import SiteAggregate
from behindglass.core.cohort import Cohort
from behindglass.core.errors import DisclosureError, SpecError
from behindglass.core.messages import Release, Task
from behindglass.core.policy import DisclosurePolicy
from behindglass.core.population import PopulationSettings
from behindglass.core.sitedata import SiteContext
from behindglass.core.study import AnalysisSpec, StudySpec
from behindglass.hub.combine import combine_study
from behindglass.hub.rounds import Fit, advance_fit, initial_states
from behindglass.site.execute import execute_task
from tests.unit.rounds_sim import fit_in_rounds

COHORTS = {"t": Cohort.drug(1118084), "c": Cohort.drug(1124300),
           "o": Cohort.condition(192671)}
COVS = ["treatment", "male", "age"]
TOL = 1e-8


class FakeData:
    """A site store whose analysis data set is a given frame."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.calls = 0

    def population(self, target: Cohort, comparator: Cohort | None, outcome: Cohort,
                   settings: PopulationSettings) -> pd.DataFrame:
        assert target == COHORTS["t"] and outcome == COHORTS["o"]
        assert isinstance(settings, PopulationSettings)
        self.calls += 1
        return self.frame.copy()


def simulate(n: int, seed: int, *, events: bool = True, horizon: int = 60) -> pd.DataFrame:
    """Integer survival times in days over a short horizon, so ties are common."""
    rng = np.random.default_rng(seed)
    treatment = rng.integers(0, 2, n)
    male = rng.integers(0, 2, n)
    age = rng.integers(40, 90, n)
    ps = rng.integers(1, 4, n)
    rate = 0.01 * np.exp(0.5 * treatment - 0.3 * male + 0.02 * (age - 65))
    t_event = np.ceil(rng.exponential(1 / rate)).astype(int)
    t_cens = rng.integers(1, horizon + 1, n)
    event = (t_event <= t_cens).astype(int) if events else np.zeros(n, dtype=int)
    time = np.where(event == 1, t_event, t_cens)
    return pd.DataFrame({"treatment": treatment, "time_at_risk": t_cens, "outcome_count": event,
                         "event": event, "survival_time": time, "age": age, "male": male,
                         "index_year": 2015, "ps_stratum": ps})


def spec_of(**params: Any) -> AnalysisSpec:
    return AnalysisSpec(kind="cox", name="PH", cohort="t", comparator="c", outcomes=("o",),
                        params={"covariates": COVS, "tol": 1e-10, **params})


def run(spec: AnalysisSpec, frames: dict[str, pd.DataFrame], min_cell: int = 5,
        meddle: Any = None) -> tuple[dict[str, Any], int]:
    """Every round in-process; returns the combined result and the number of rounds."""
    stores = {s: FakeData(f) for s, f in frames.items()}
    result, rounds, _ = fit_in_rounds(spec, stores, COHORTS, min_cell, meddle, max_rounds=100)
    assert all(d.calls == 1 for d in stores.values())  # the frame is built once per site
    return result, rounds


def pooled(frames: dict[str, pd.DataFrame], ties: str, strata: str | None = None,
           bin_days: int = 1) -> tuple[Any, PHReg]:
    df = pd.concat([f.assign(_site=s) for s, f in frames.items()], ignore_index=True)
    time = np.ceil(df["survival_time"] / bin_days) * bin_days
    groups = None if strata is None else df["_site" if strata == "site" else strata]
    model = PHReg(time.to_numpy(float), df[COVS].to_numpy(float),
                  status=df["event"].to_numpy(), ties=ties,
                  strata=None if groups is None else groups.to_numpy())
    return model.fit(tol=1e-13, maxiter=200), model


def sizes_split(sizes: list[int], seed: int) -> dict[str, pd.DataFrame]:
    return {f"site{i}": simulate(n, seed + i) for i, n in enumerate(sizes)}


def assert_matches(result: dict[str, Any], fit: Any, model: PHReg) -> None:
    assert "error" not in result, result.get("error")
    assert result["converged"]
    coef = np.array([r["coef"] for r in result["coefficients"]])
    se = np.array([r["se"] for r in result["coefficients"]])
    np.testing.assert_allclose(coef, fit.params, rtol=0, atol=TOL)
    np.testing.assert_allclose(se, fit.bse, rtol=0, atol=TOL)
    assert abs(result["loglik"] - model.loglike(fit.params)) < TOL
    assert abs(result["loglik_null"] - model.loglike(np.zeros(len(COVS)))) < TOL
    assert result["events"] == sum(int(s.sum()) for s in model.surv.status_s)


@pytest.mark.parametrize("ties", ["efron", "breslow"])
@pytest.mark.parametrize("sizes", [[700], [120, 400, 900], [60, 90, 150, 200, 80, 300, 45, 500,
                                                             130, 70]])
def test_federated_equals_pooled(ties: str, sizes: list[int]) -> None:
    frames = sizes_split(sizes, seed=len(sizes))
    if len(sizes) > 1:  # a site with no events still adds persons to the risk sets
        first = next(iter(frames))
        frames[first] = simulate(sizes[0], 99, events=False)
        assert frames[first]["event"].sum() == 0
    result, rounds = run(spec_of(ties=ties), frames)
    fit, model = pooled(frames, ties)
    assert_matches(result, fit, model)
    assert rounds == result["iterations"] + 2  # event times, then one round per beta
    assert result["persons"] == sum(sizes)


def test_ties_across_sites_matter() -> None:
    """The frames have many tied times shared across sites, so Efron and Breslow differ;
    a hub that mixed them up would fail the equality tests above."""
    frames = sizes_split([300, 500], seed=7)
    times = [set(f.loc[f["event"] == 1, "survival_time"]) for f in frames.values()]
    assert times[0] & times[1]
    efron, _ = run(spec_of(ties="efron"), frames)
    breslow, _ = run(spec_of(ties="breslow"), frames)
    assert abs(efron["coefficients"][0]["coef"] - breslow["coefficients"][0]["coef"]) > 1e-4


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_stratified_by_site(ties: str) -> None:
    frames = sizes_split([200, 350, 600], seed=21)
    frames["site0"] = simulate(200, 5, events=False)
    result, _ = run(spec_of(ties=ties, strata="site"), frames)
    fit, model = pooled(frames, ties, strata="site")
    assert_matches(result, fit, model)
    assert result["strata"] == 2  # the site with no events is no stratum
    unstratified, _ = run(spec_of(ties=ties), frames)
    assert abs(unstratified["loglik"] - result["loglik"]) > 1e-3


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_stratified_by_covariate(ties: str) -> None:
    frames = sizes_split([250, 400, 550], seed=31)
    frames["site0"]["ps_stratum"] = frames["site0"]["ps_stratum"].clip(upper=2)
    result, _ = run(spec_of(ties=ties, strata="ps_stratum"), frames)
    fit, model = pooled(frames, ties, strata="ps_stratum")
    assert_matches(result, fit, model)
    assert result["strata"] == 3


def test_time_bins_equal_pooled_cox_on_binned_times() -> None:
    frames = sizes_split([300, 450], seed=41)
    result, _ = run(spec_of(time_bin_days=7), frames)
    fit, model = pooled(frames, "efron", bin_days=7)
    assert_matches(result, fit, model)
    exact, _ = run(spec_of(), frames)
    assert abs(exact["coefficients"][0]["coef"] - result["coefficients"][0]["coef"]) > 1e-6


def test_result_intervals_and_tests() -> None:
    frames = sizes_split([400, 600], seed=51)
    result, _ = run(spec_of(alpha=0.1), frames)
    fit, model = pooled(frames, "efron")
    for row, b, se, pv in zip(result["coefficients"], fit.params, fit.bse, fit.pvalues,
                              strict=True):
        assert row["hazard_ratio"] == pytest.approx(np.exp(b), rel=1e-7)
        assert row["ci_lower"] == pytest.approx(np.exp(b - 1.6448536269514722 * se), rel=1e-7)
        assert row["ci_upper"] == pytest.approx(np.exp(b + 1.6448536269514722 * se), rel=1e-7)
        assert row["p"] == pytest.approx(pv, rel=1e-6, abs=1e-12)
    lr = 2 * (model.loglike(fit.params) - model.loglike(np.zeros(3)))
    assert result["lr_test"]["chisq"] == pytest.approx(lr, abs=1e-7)
    np.testing.assert_allclose(result["covariance"], fit.cov_params(), atol=1e-9)


# -- proportional hazards test ---------------------------------------------------------------
def zph_oracle(frames: dict[str, pd.DataFrame], beta: np.ndarray, ties: str, transform: str,
               strata: str | None) -> tuple[float, list[float]]:
    """Score test for x * g(t) at (beta, 0), from PHReg on counting-process episodes."""
    df = pd.concat([f.assign(_site=s) for s, f in frames.items()], ignore_index=True)
    key = np.zeros(len(df)) if strata is None else pd.factorize(
        df["_site" if strata == "site" else strata])[0]
    ev = df["event"].to_numpy() == 1
    t_all = df["survival_time"].to_numpy()
    ranks = rankdata(t_all[ev])  # every event, all strata together, ties averaged
    g_of = (dict(zip(t_all[ev], ranks, strict=True)) if transform == "rank"
            else {t: float(t) for t in t_all[ev]})
    x = df[COVS].to_numpy(float)
    rows: list[tuple[float, float, int, int, np.ndarray, np.ndarray]] = []
    for i in range(len(df)):
        cuts = np.unique(t_all[ev & (key == key[i])])
        cuts = cuts[cuts < t_all[i]]
        start = 0.0
        for c in cuts:
            rows.append((start, float(c), 0, key[i], x[i], x[i] * g_of[c]))
            start = c + 0.5
        g = g_of.get(t_all[i], 0.0)
        rows.append((start, float(t_all[i]), int(ev[i]), key[i], x[i], x[i] * g))
    entry = np.array([r[0] for r in rows])
    time = np.array([r[1] for r in rows])
    status = np.array([r[2] for r in rows])
    groups = np.array([r[3] for r in rows])
    xrep = np.array([r[4] for r in rows])
    xg = np.array([r[5] for r in rows])
    model = PHReg(time, np.hstack([xrep, xg]), status=status, entry=entry, ties=ties,
                  strata=groups)
    params = np.concatenate([beta, np.zeros(len(beta))])
    u = model.score(params)
    imat = -model.hessian(params)
    glob = float(u @ np.linalg.solve(imat, u))
    p = len(beta)
    per = [float(u[[i, i + p]] @ np.linalg.solve(imat[np.ix_([i, i + p], [i, i + p])],
                                                  u[[i, i + p]])) for i in range(p)]
    return glob, per


@pytest.mark.parametrize(("ties", "transform", "strata"), [
    ("efron", "rank", None), ("breslow", "identity", None), ("efron", "identity", "site"),
    ("breslow", "rank", "ps_stratum")])
def test_ph_test_equals_pooled_score_test(ties: str, transform: str, strata: str | None
                                          ) -> None:
    frames = sizes_split([90, 140, 120], seed=61)
    result, _ = run(spec_of(ties=ties, ph_test=transform, strata=strata), frames)
    beta = np.array([r["coef"] for r in result["coefficients"]])
    glob, per = zph_oracle(frames, beta, ties, transform, strata)
    ph = result["ph_test"]
    assert ph["transform"] == transform
    assert ph["global"]["chisq"] == pytest.approx(glob, rel=1e-7, abs=1e-9)
    assert ph["global"]["df"] == 3
    for row, stat in zip(ph["covariates"], per, strict=True):
        assert row["chisq"] == pytest.approx(stat, rel=1e-7, abs=1e-9)


def test_ph_test_detects_non_proportional_hazards() -> None:
    """Treatment that only acts early: the test must reject, where it does not for PH data."""
    rng = np.random.default_rng(71)
    frames = {}
    for s, n in (("a", 800), ("b", 1200)):
        f = simulate(n, int(rng.integers(1000)))
        early = (f["treatment"] == 1) & (f["survival_time"] > 20)
        f.loc[early, "event"] = 0  # treated persons never fail after day 20
        frames[s] = f
    bad, _ = run(spec_of(ph_test="identity"), frames)
    assert bad["ph_test"]["covariates"][0]["p"] < 1e-4
    good, _ = run(spec_of(ph_test="identity"), sizes_split([800, 1200], seed=72))
    assert good["ph_test"]["covariates"][0]["p"] > 1e-3


# -- disclosure ------------------------------------------------------------------------------
def local_once(frame: pd.DataFrame, spec: AnalysisSpec, min_cell: int) -> SiteAggregate:
    analysis = CoxAnalysis()
    ctx = SiteContext(data=FakeData(frame), cohorts=COHORTS,
                      policy=DisclosurePolicy(min_cell=min_cell),
                      state=analysis.start(spec), cache={})
    return analysis.local(ctx, spec)


@pytest.mark.parametrize("events", [1, 7, 10])
def test_refuses_too_few_events(events: int) -> None:
    frame = simulate(400, 81, events=False)
    local_once(frame, spec_of(), min_cell=11)  # none at all: only risk-set sums leave
    frame.loc[:events - 1, "event"] = 1
    with pytest.raises(DisclosureError, match="minimum events") as err:
        local_once(frame, spec_of(), min_cell=11)
    assert f" {events} " not in str(err.value)
    frame.loc[:10, "event"] = 1  # 11 events
    local_once(frame, spec_of(), min_cell=11)


def test_refuses_small_binary_level() -> None:
    frame = simulate(400, 82)
    frame["male"] = 0
    frame.loc[:2, "male"] = 1  # 3 men
    with pytest.raises(DisclosureError, match=r"'male'.*minimum cell"):
        local_once(frame, spec_of(), min_cell=5)
    frame.loc[:4, "male"] = 1  # 5 men
    local_once(frame, spec_of(), min_cell=5)


def test_refuses_small_stratum() -> None:
    frame = simulate(400, 83)
    frame.loc[:1, "ps_stratum"] = 9
    with pytest.raises(DisclosureError, match=r"stratum.*minimum cell"):
        local_once(frame, spec_of(strata="ps_stratum"), min_cell=5)
    local_once(frame, spec_of(), min_cell=5)  # unstratified: no such cell


def test_refuses_too_many_parameters_per_person() -> None:
    frame = simulate(40, 84)
    n = int(len(COVS) / MAX_PARAMS_PER_OBS)  # the most persons still refused
    assert len(COVS) / n > MAX_PARAMS_PER_OBS
    assert n >= 1
    small = frame.iloc[:n].copy()
    small["male"] = 0
    small["treatment"] = 0
    small["event"] = 0
    with pytest.raises(DisclosureError, match="parameters per"):
        local_once(small, spec_of(), min_cell=1)
    local_once(frame.iloc[:n + 1].assign(male=0, treatment=0, event=0), spec_of(), min_cell=1)


def test_refuses_too_few_persons() -> None:
    frame = simulate(40, 85, events=False).iloc[:8]
    spec = spec_of(covariates=["age"])
    with pytest.raises(DisclosureError, match="fewer than 9 persons"):
        local_once(frame, spec, min_cell=9)
    local_once(frame, spec, min_cell=8)


def test_step_halving_recovers_from_an_overshoot() -> None:
    """A wild beta after the first Newton step lowers the likelihood: the hub halves back
    towards the best beta so far and still ends at the pooled fit."""
    frames = sizes_split([300, 500], seed=95)
    seen: list[dict[str, Any]] = []

    def meddle(rounds: int, state: dict[str, Any]) -> dict[str, Any]:
        seen.append(state)
        if rounds == 2:
            return {**state, "beta": [4.0, -4.0, 0.4]}
        return state

    result, _ = run(spec_of(), frames, meddle=meddle)
    assert seen[2]["halvings"] == 1
    np.testing.assert_allclose(seen[2]["beta"], [2.0, -2.0, 0.2])  # halfway back to 0
    fit, model = pooled(frames, "efron")
    assert_matches(result, fit, model)


def test_constant_covariate_is_reported_not_fitted() -> None:
    frames = sizes_split([200, 300], seed=96)
    for f in frames.values():
        f["male"] = 0
    result, _ = run(spec_of(), frames)
    assert "singular" in result["error"]
    assert "coefficients" not in result


def test_release_is_aggregates_only() -> None:
    frames = sizes_split([150, 250], seed=91)
    spec = spec_of()
    agg = local_once(frames["site0"], spec, min_cell=5)
    names = {b.name.partition(":")[0] for b in agg.stats}
    assert names == {"n", "xsum", "times"}
    assert agg.block("times:all").shape[0] == frames["site0"].query("event == 1")[
        "survival_time"].nunique()


def test_sites_changing_between_rounds_stop_the_fit() -> None:
    frames = sizes_split([200, 300], seed=92)
    spec = spec_of()
    analysis = CoxAnalysis()
    policy = DisclosurePolicy(min_cell=5)
    caches: dict[str, dict[str, Any]] = {s: {} for s in frames}

    def round_(state: dict[str, Any], only: list[str]) -> list[tuple[str, SiteAggregate]]:
        return [(s, analysis.local(SiteContext(data=FakeData(frames[s]), cohorts=COHORTS,
                                               policy=policy, state=state, cache=caches[s]),
                                   spec)) for s in only]

    state = analysis.start(spec)
    state, done = analysis.step(spec, state, round_(state, list(frames)))
    assert not done
    state, done = analysis.step(spec, state, round_(state, ["site0"]))
    assert done
    assert "changed" in analysis.combine(spec, [], state)["error"]


# -- parameters ------------------------------------------------------------------------------
@pytest.mark.parametrize(("params", "word"), [
    ({"ties": "exact"}, "ties"), ({"covariates": []}, "covariates"),
    ({"covariates": ["event"]}, "covariates"), ({"strata": "treatment"}, "strata"),
    ({"max_iter": 0}, "max_iter"), ({"tol": 0}, "tol"), ({"time_bin_days": 0}, "time_bin"),
    ({"ph_test": "km"}, "ph_test"), ({"population": {"washout_days": -1}}, "population"),
    ({"alpha": 1.5}, "alpha"), ({"bogus": 1}, "bogus"), ({"meta": "yes"}, "meta")])
def test_bad_parameters(params: dict[str, Any], word: str) -> None:
    with pytest.raises(SpecError, match=word):
        CoxAnalysis().validate(spec_of(**params))


def test_builder() -> None:
    spec = Cox("t", "o", comparator="c", covariates=["treatment", "age"], ties="breslow",
               strata="site", population={"washout_days": 365}, name="HR").to_spec()
    assert spec.kind == "cox" and spec.name == "HR" and spec.outcomes == ("o",)
    assert spec.params["covariates"] == ["treatment", "age"]
    assert spec.params["population"] == {"washout_days": 365}
    with pytest.raises(SpecError, match="ties"):
        Cox("t", "o", ties="exact").to_spec()


def test_through_site_tasks_and_hub_rounds() -> None:
    """The network path: site tasks (execute_task) and the hub's fit (advance_fit,
    combine_study). A site with too few events refuses in round 0 and is left out, so the
    answer is the pooled fit of the others."""
    frames = sizes_split([300, 500, 250], seed=97)
    few = simulate(200, 98, events=False)
    few.loc[:2, "event"] = 1
    frames["few"] = few
    spec = spec_of(strata="site")
    study = StudySpec(title="cox", cohorts=COHORTS, analyses=(spec,))
    states = initial_states(study, get_analysis)
    fit = Fit(analysis="PH", round=0, state=states["PH"])
    stores = {s: FakeData(f) for s, f in frames.items()}
    caches: dict[str, dict[str, dict[str, Any]]] = {s: {} for s in frames}
    policy = DisclosurePolicy(min_cell=5)
    while not fit.done:
        releases = []
        for s, data in stores.items():
            if s == "few" and fit.round > 0:
                continue  # the hub sends later rounds only to the sites taking part
            task = Task(task_id=f"{s}{fit.round}", study_id="st", site=s, researcher="r",
                        study=study, created=dt.datetime.now(dt.UTC), round=fit.round,
                        analyses=None if fit.round == 0 else ("PH",),
                        states={"PH": fit.state})
            task = Task.model_validate_json(task.model_dump_json())
            done = execute_task(task, data, policy, caches=caches[s])
            if s == "few" and fit.round == 0:
                assert "minimum events" in done.refusals[0].reason
            releases.append(Release(task_id=task.task_id, site=s, round=fit.round,
                                    aggregates=tuple(done.aggregates),
                                    refusals=tuple(done.refusals)))
        fit = advance_fit(fit, spec, releases, get_analysis)
        assert fit.error is None
    assert fit.sites == ["site0", "site1", "site2"]
    result = combine_study(study, releases, get_analysis, {"PH": fit})["PH"]
    kept = {s: f for s, f in frames.items() if s != "few"}
    fitted, model = pooled(kept, "efron", strata="site")
    assert_matches(result, fitted, model)


# -- meta-analysis of per-site fits, beside the exact pooled fit ---------------------------
@pytest.mark.filterwarnings("ignore:invalid value encountered in sqrt")  # statsmodels, tau2 < 0
@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_meta_analysis_of_site_fits_beside_the_pooled_fit(ties: str) -> None:
    from statsmodels.stats.meta_analysis import combine_effects

    frames = sizes_split([300, 500, 800, 650], seed=31)
    frames["site1"] = simulate(500, 7, events=False)  # not estimable alone; kept in the pool
    result, rounds = run(spec_of(ties=ties, meta=True), frames)
    fit, model = pooled(frames, ties)
    assert_matches(result, fit, model)  # the exact answer is unchanged by meta
    assert rounds == result["iterations"] + 2  # the sites' own fits cost no round
    meta = result["meta"]
    used = ["site0", "site2", "site3"]
    assert meta["sites"] == used and meta["not_estimable"] == ["site1"]
    own = {s: pooled({s: frames[s]}, ties)[0] for s in used}
    for j, name in enumerate(COVS):
        m = meta["coefficients"][name]
        est = np.array([own[s].params[j] for s in used])
        var = np.array([own[s].bse[j] ** 2 for s in used])
        np.testing.assert_allclose([r["estimate"] for r in m["sites"]], est, rtol=0, atol=TOL)
        np.testing.assert_allclose([r["se"] ** 2 for r in m["sites"]], var, rtol=1e-7)
        ref = combine_effects(est, var, method_re="dl")
        assert m["fixed"]["estimate"] == pytest.approx(ref.mean_effect_fe, rel=1e-7)
        assert m["fixed"]["se"] == pytest.approx(ref.sd_eff_w_fe, rel=1e-7)
        assert m["q"] == pytest.approx(ref.q, rel=1e-6)
