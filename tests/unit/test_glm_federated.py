"""Federated GLMs (logistic, Poisson with offset, linear) equal statsmodels on pooled rows.

Each site is a fake store whose ``population`` returns a frame built here; the rounds run
in-process (start, every site's ``local`` through the site's ``enforce`` and last gate,
JSON on the wire, the hub's ``step``, ..., ``combine``). The oracle is statsmodels
``GLM(...).fit()`` (IRLS, same convergence criterion) on the concatenated rows.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.stats.meta_analysis import combine_effects

from behindglass.analyses import glm as glm_mod
from behindglass.analyses.catalog import get_analysis
from behindglass.analyses.glm import MAX_PARAM_RATIO, GlmAnalysis
from behindglass.analyses.requests import Glm
from behindglass.core.aggregates import SiteAggregate
from behindglass.core.cohort import Cohort
from behindglass.core.errors import DisclosureError, SpecError
from behindglass.core.policy import DisclosurePolicy
from behindglass.core.population import PopulationSettings
from behindglass.core.sitedata import SiteContext
from behindglass.core.study import AnalysisSpec
from tests.unit.rounds_sim import fit_in_rounds

COHORTS = {"t": Cohort.drug(1118084), "c": Cohort.drug(1124300),
           "o": Cohort.condition(192671)}
COVS = ["treatment", "age", "male", "diabetes"]
POPULATION = {"covariates": [{"name": "diabetes", "domain": "condition",
                              "concept_ids": [201826]}]}
TOL = 1e-8
FAMILIES = {"binomial": sm.families.Binomial(), "poisson": sm.families.Poisson(),
            "gaussian": sm.families.Gaussian()}
OUTCOME = {"binomial": "event", "poisson": "outcome_count", "gaussian": "survival_time"}


class FakeData:
    """A site store whose analysis data set is a given frame."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.calls = 0

    def population(self, target: Cohort, comparator: Cohort | None, outcome: Cohort,
                   settings: PopulationSettings) -> pd.DataFrame:
        assert target == COHORTS["t"] and outcome == COHORTS["o"]
        assert comparator == COHORTS["c"]
        assert [c.name for c in settings.covariates] == ["diabetes"]
        self.calls += 1
        return self.frame.copy()


def simulate(n: int, seed: int, *, events: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    treatment = rng.integers(0, 2, n)
    male = rng.integers(0, 2, n)
    diabetes = (rng.random(n) < 0.3).astype(int)
    age = rng.integers(40, 90, n)
    lin = -1.5 + 0.6 * treatment - 0.3 * male + 0.02 * (age - 65) + 0.4 * diabetes
    tar = rng.integers(30, 730, n)
    counts = rng.poisson(np.exp(lin - 6.0 + np.log(tar)) * 3)
    event = (rng.random(n) < 1 / (1 + np.exp(-lin))).astype(int)
    if not events:
        counts[:] = 0
        event[:] = 0
    survival = np.round(400 + 50 * treatment - 3 * (age - 65) + 30 * diabetes
                        + rng.normal(0, 80, n)).astype(int)
    return pd.DataFrame({"treatment": treatment, "time_at_risk": tar,
                         "outcome_count": counts, "event": event, "survival_time": survival,
                         "age": age, "male": male, "index_year": 2015,
                         "diabetes": diabetes})


def spec_of(family: str, **params: Any) -> AnalysisSpec:
    base: dict[str, Any] = {"family": family, "covariates": COVS, "population": POPULATION}
    if family == "gaussian":
        base["outcome_column"] = "survival_time"
    return AnalysisSpec(kind="glm", name="GLM", cohort="t", comparator="c", outcomes=("o",),
                        params={**base, **params})


def run(spec: AnalysisSpec, frames: dict[str, pd.DataFrame], min_cell: int = 5,
        meddle: Any = None) -> tuple[dict[str, Any], int, list[tuple[str, SiteAggregate]]]:
    """Every round in-process: (combined result, rounds, last round's releases)."""
    stores = {s: FakeData(f) for s, f in frames.items()}
    out = fit_in_rounds(spec, stores, COHORTS, min_cell, meddle, max_rounds=200)
    assert all(d.calls == 1 for d in stores.values())  # the frame is built once per site
    return out


def pooled_fit(family: str, frames: dict[str, pd.DataFrame], *, site_effects: bool = False,
               **fit_kw: Any) -> Any:
    df = pd.concat([f.assign(_site=s) for s, f in frames.items()], ignore_index=True)
    x = df[COVS].astype(float)
    if site_effects:
        dummies = pd.get_dummies(df["_site"], dtype=float)[sorted(frames)]
        x = pd.concat([dummies, x], axis=1)
    else:
        x = sm.add_constant(x, has_constant="add")
    offset = np.log(df["time_at_risk"].to_numpy(float)) if family == "poisson" else None
    model = sm.GLM(df[OUTCOME[family]].to_numpy(float), x.to_numpy(), family=FAMILIES[family],
                   offset=offset)
    kw = {"tol": 0.0, "atol": 0.0, "rtol": 1e-10, "maxiter": 25, **fit_kw}
    return model.fit(**kw, use_t=family == "gaussian")


def assert_matches(result: dict[str, Any], fit: Any, family: str) -> None:
    assert result["converged"] and fit.converged
    coef = np.array([r["coef"] for r in result["coefficients"]])
    se = np.array([r["se"] for r in result["coefficients"]])
    np.testing.assert_allclose(coef, fit.params, rtol=TOL, atol=TOL)
    np.testing.assert_allclose(se, fit.bse, rtol=TOL, atol=TOL)
    stat = "t" if family == "gaussian" else "z"
    np.testing.assert_allclose([r[stat] for r in result["coefficients"]], fit.tvalues,
                               rtol=1e-7)
    np.testing.assert_allclose([r["p"] for r in result["coefficients"]], fit.pvalues,
                               rtol=1e-6, atol=1e-300)
    ci = fit.conf_int()
    np.testing.assert_allclose([r["ci_lower"] for r in result["coefficients"]], ci[:, 0],
                               rtol=TOL, atol=TOL)
    np.testing.assert_allclose([r["ci_upper"] for r in result["coefficients"]], ci[:, 1],
                               rtol=TOL, atol=TOL)
    for key, want in [("deviance", fit.deviance), ("null_deviance", fit.null_deviance),
                      ("log_likelihood", fit.llf), ("aic", fit.aic),
                      ("pearson_chi2", fit.pearson_chi2), ("scale", fit.scale),
                      ("df_resid", fit.df_resid)]:
        assert result[key] == pytest.approx(want, rel=TOL, abs=TOL), key
    assert result["iterations"] == fit.fit_history["iteration"]
    assert result["n"] == fit.nobs


def sizes_split(sizes: list[int], seed: int, no_events: int | None = None
                ) -> dict[str, pd.DataFrame]:
    return {f"site{i:02d}": simulate(n, seed + i, events=i != no_events)
            for i, n in enumerate(sizes)}


SPLITS = {
    "1 site": [700],
    "3 sites": [100, 350, 1200],
    "10 sites": [90, 100, 120, 200, 260, 300, 420, 500, 650, 900],
}


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("split", list(SPLITS))
def test_federated_equals_pooled(family: str, split: str) -> None:
    sizes = SPLITS[split]
    # a site with no events at all takes part (except for the linear model, which has none)
    frames = sizes_split(sizes, seed=len(sizes) * 7,
                         no_events=1 if len(sizes) > 1 and family != "gaussian" else None)
    if len(sizes) > 1 and family != "gaussian":
        assert frames["site01"][OUTCOME[family]].sum() == 0
    result, rounds, _ = run(spec_of(family), frames)
    fit = pooled_fit(family, frames)
    assert_matches(result, fit, family)
    # round 0 (summary) + iterations 0..k
    assert rounds == result["iterations"] + 2
    assert result["events"] == (None if family == "gaussian"
                                else int(sum(f[OUTCOME[family]].sum() for f in frames.values())))
    assert result["sites"] == sorted(frames)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_site_fixed_effects_equal_site_dummies(family: str) -> None:
    frames = sizes_split([80, 300, 150, 600], seed=3)
    result, _, _ = run(spec_of(family, site_effects=True), frames)
    fit = pooled_fit(family, frames, site_effects=True)
    assert [r["name"] for r in result["coefficients"]] == (
        [f"site:{s}" for s in sorted(frames)] + COVS)
    assert_matches(result, fit, family)


def test_statsmodels_default_absolute_tolerance() -> None:
    """atol/tol map to statsmodels' atol/rtol: its default (atol 1e-8) gives its iterations."""
    frames = sizes_split([200, 500], seed=11)
    result, _, _ = run(spec_of("binomial", tol=0, atol=1e-8), frames)
    fit = pooled_fit("binomial", frames, tol=1e-8, atol=1e-8, rtol=0.0)
    assert_matches(result, fit, "binomial")
    loose, _, _ = run(spec_of("binomial", tol=1e-3), frames)
    assert loose["iterations"] < result["iterations"]


def test_poisson_without_offset_and_max_iter() -> None:
    frames = sizes_split([150, 400], seed=5)
    result, _, _ = run(spec_of("poisson", offset=None), frames)
    df = pd.concat(frames.values(), ignore_index=True)
    fit = sm.GLM(df["outcome_count"].to_numpy(float),
                 sm.add_constant(df[COVS].to_numpy(float)),
                 family=sm.families.Poisson()).fit(tol=0, atol=0, rtol=1e-10, maxiter=25)
    assert_matches(result, fit, "poisson")
    # stopped at max_iter: not converged, same iterations and estimates as statsmodels
    capped, _, _ = run(spec_of("binomial", max_iter=2), frames)
    sm_capped = pooled_fit("binomial", frames, maxiter=2)
    assert not capped["converged"] and capped["iterations"] == 2
    np.testing.assert_allclose([r["coef"] for r in capped["coefficients"]], sm_capped.params,
                               rtol=TOL)
    np.testing.assert_allclose([r["se"] for r in capped["coefficients"]], sm_capped.bse,
                               rtol=TOL)


def test_exponentiated_and_names() -> None:
    frames = sizes_split([300, 300], seed=9)
    result, _, _ = run(spec_of("binomial"), frames)
    rows = result["coefficients"]
    assert [r["name"] for r in rows] == ["(Intercept)", *COVS]
    for r in rows:
        assert r["exp_coef"] == pytest.approx(math.exp(r["coef"]))
        assert r["exp_ci_lower"] == pytest.approx(math.exp(r["ci_lower"]))
    assert result["link"] == "logit" and result["offset"] is None
    assert len(result["covariance"]) == len(COVS) + 1


# -- what leaves a site ------------------------------------------------------------------
def test_releases_are_sums_only() -> None:
    frames = sizes_split([300, 400], seed=1)
    _, _, releases = run(spec_of("binomial", meta=True), frames)
    shapes = []
    for _, agg in releases:
        assert agg.kind == "glm"
        sizes = {b.name: len(b.values) for b in agg.stats}
        shapes.append(sizes)
        assert max(sizes.values()) == 25  # 5 parameters: at most a 5 x 5 matrix
        assert set(sizes) == {"glm:summary", "glm:meta_coef", "glm:meta_cov", "glm:iteration",
                              "glm:xtwx", "glm:xtwz", "glm:fit", "glm:prev_xtwx",
                              "glm:prev_xtwz"}
    # nothing per person: the blocks have the same sizes at sites of 300 and 400 persons
    assert shapes[0] == shapes[1]


def local_once(spec: AnalysisSpec, frame: pd.DataFrame, min_cell: int = 5,
               policy: Any = None) -> SiteAggregate:
    ctx = SiteContext(data=FakeData(frame), cohorts=COHORTS,
                      policy=policy or DisclosurePolicy(min_cell=min_cell),
                      state=GlmAnalysis().start(spec))
    return GlmAnalysis().local(ctx, spec)


AGE_ONLY = {"covariates": ["age"]}


def test_refuses_few_events() -> None:
    frame = simulate(200, 1)
    frame["event"] = 0
    frame.loc[:2, "event"] = 1  # 3 events
    with pytest.raises(DisclosureError, match="minimum events rule") as exc:
        local_once(spec_of("binomial", **AGE_ONLY), frame, min_cell=5)
    assert "3" not in str(exc.value)
    local_once(spec_of("binomial", **AGE_ONLY), frame, min_cell=3)  # 3 events pass 3


def test_refuses_few_non_events() -> None:
    frame = simulate(200, 1)
    frame["event"] = 1
    frame.loc[:1, "event"] = 0
    with pytest.raises(DisclosureError, match="minimum events rule"):
        local_once(spec_of("binomial", **AGE_ONLY), frame, min_cell=5)


def test_refuses_few_poisson_events() -> None:
    frame = simulate(200, 1)
    frame["outcome_count"] = 0
    frame.loc[:3, "outcome_count"] = 7  # 4 persons, 28 outcomes
    with pytest.raises(DisclosureError, match="minimum events rule"):
        local_once(spec_of("poisson", **AGE_ONLY), frame, min_cell=5)
    local_once(spec_of("poisson", **AGE_ONLY), frame, min_cell=4)


def test_refuses_small_covariate_level() -> None:
    covs = {"covariates": ["age", "diabetes"]}
    frame = simulate(200, 1)
    frame["diabetes"] = 0
    frame.loc[:1, "diabetes"] = 1
    with pytest.raises(DisclosureError, match=r"'diabetes'.*covariate pattern rule"):
        local_once(spec_of("gaussian", **covs), frame, min_cell=5)
    frame["diabetes"] = 1
    frame.loc[:3, "diabetes"] = 0  # the other level is small
    with pytest.raises(DisclosureError, match="covariate pattern rule"):
        local_once(spec_of("gaussian", **covs), frame, min_cell=5)
    local_once(spec_of("gaussian", **covs), frame, min_cell=4)
    # a continuous covariate is not a pattern
    frame["age"] = 0
    frame.loc[:1, "age"] = 1
    frame["diabetes"] = frame["male"]
    with pytest.raises(DisclosureError, match=r"'age'.*covariate pattern rule"):
        local_once(spec_of("gaussian", **covs), frame, min_cell=5)
    frame.loc[:1, "age"] = 2
    local_once(spec_of("gaussian", **covs), frame, min_cell=5)


def test_refuses_small_combination_of_levels() -> None:
    """Cross-products of 0/1 columns in X'WX are 2 x 2 tables: each cell 0 or >= min_cell."""
    covs = {"covariates": ["age", "male", "diabetes"]}
    frame = simulate(200, 1)
    frame["male"] = [0, 1] * 100
    frame["diabetes"] = [1, 0] * 100  # male and diabetes never together: cells 0 and 100
    local_once(spec_of("gaussian", **covs), frame, min_cell=5)
    frame.loc[[1, 3], "diabetes"] = 1  # now 2 diabetic men, each level still >= 5
    with pytest.raises(DisclosureError, match=r"'male' and 'diabetes'.*pattern rule"):
        local_once(spec_of("gaussian", **covs), frame, min_cell=5)
    local_once(spec_of("gaussian", **covs), frame, min_cell=2)
    # logistic: a covariate against the outcome
    frame["diabetes"] = [1, 0] * 100
    frame["event"] = frame["male"]
    frame.loc[0, "event"] = 1  # one woman with the outcome
    with pytest.raises(DisclosureError, match=r"'male' and the outcome.*pattern rule"):
        local_once(spec_of("binomial", covariates=["age", "male"]), frame, min_cell=5)
    # not for Poisson (its first-round sums are not counts of the outcome by level)
    frame["outcome_count"] = frame["event"]
    local_once(spec_of("poisson", covariates=["age", "male"]), frame, min_cell=5)


def test_refuses_too_many_parameters() -> None:
    frame = simulate(14, 2)  # 5 parameters / 14 persons > 0.33
    frame["event"] = [0, 1] * 7
    frame["treatment"] = [0, 1] * 7
    frame["male"] = [1, 0, 0, 1] * 3 + [0, 1]
    frame["diabetes"] = [1, 1, 0, 0] * 3 + [0, 1]
    assert MAX_PARAM_RATIO < 5 / 14
    with pytest.raises(DisclosureError, match="parameter ratio rule"):
        local_once(spec_of("binomial"), frame, min_cell=3)
    frame16 = pd.concat([frame, frame.iloc[:2]], ignore_index=True)  # 5 / 16 < 0.33
    local_once(spec_of("binomial"), frame16, min_cell=3)

    class Lenient(DisclosurePolicy):
        max_param_ratio: float = 0.5

    local_once(spec_of("binomial"), frame, policy=Lenient(min_cell=3))


def test_refuses_few_persons() -> None:
    frame = simulate(8, 2)
    frame["event"] = 0
    with pytest.raises(DisclosureError, match="minimum cell rule"):
        local_once(spec_of("binomial", covariates=[]), frame, min_cell=10)


def test_refused_site_stops_the_fit_at_the_site() -> None:
    """A refusal reaches the researcher through the site's ordinary path (execute_task)."""
    from behindglass.core.messages import Task
    from behindglass.core.study import StudySpec
    from behindglass.site.execute import execute_task

    frame = simulate(100, 4)
    frame["event"] = 0
    frame.loc[:1, "event"] = 1
    study = StudySpec(title="t", cohorts=COHORTS, analyses=(spec_of("binomial"),))
    import datetime as dt
    task = Task(task_id="x", study_id="s", site="a", researcher="r", study=study,
                created=dt.datetime.now(dt.UTC),
                states={"GLM": GlmAnalysis().start(spec_of("binomial"))})
    out = execute_task(task, FakeData(frame), DisclosurePolicy(min_cell=5))
    assert not out.aggregates
    assert "minimum events rule" in out.refusals[0].reason


# -- the protocol --------------------------------------------------------------------------
def test_tampered_state_fails() -> None:
    frames = sizes_split([100, 200], seed=2)

    def skip(rounds: int, state: dict[str, Any]) -> dict[str, Any]:
        if rounds == 3:
            state["iteration"] += 1
        return state

    with pytest.raises(SpecError, match="without iteration"):
        run(spec_of("binomial", site_effects=True), frames, meddle=skip)


def test_collinear_covariates_fail_at_the_hub() -> None:
    frames = sizes_split([100, 200], seed=2)
    for f in frames.values():
        f["diabetes"] = f["male"]
    with pytest.raises(glm_mod.FitError, match=r"collinear|singular"):
        run(spec_of("binomial"), frames)


def test_no_events_anywhere_fails() -> None:
    frames = {"a": simulate(100, 1, events=False), "b": simulate(100, 2, events=False)}
    with pytest.raises(glm_mod.FitError, match="no site has a person with the outcome"):
        run(spec_of("binomial"), frames)


@pytest.mark.parametrize(("params", "match"), [
    ({"family": "gamma"}, "'family'"),
    ({"covariates": ["nope"]}, "'covariates'"),
    ({"covariates": ["age", "age"]}, "repeats"),
    ({"offset": "time_at_risk"}, "'offset'"),
    ({"outcome_column": "outcome_count"}, "0/1"),
    ({"max_iter": 0}, "'max_iter'"),
    ({"tol": -1}, "'tol'"),
    ({"site_effects": "yes"}, "'site_effects'"),
    ({"bogus": 1}, r"unknown parameter\(s\) \[.bogus.\] for glm"),
    ({"population": {"washout_days": -1}}, "population"),
])
def test_validate_names_the_parameter(params: dict[str, Any], match: str) -> None:
    with pytest.raises(SpecError, match=match) as exc:
        rest = {k: v for k, v in params.items() if k != "family"}
        GlmAnalysis().validate(spec_of(params.get("family", "binomial"), **rest))
    assert str(exc.value).startswith("GLM")


def test_validate_gaussian_needs_outcome_and_one_outcome_cohort() -> None:
    spec = AnalysisSpec(kind="glm", name="L", cohort="t", outcomes=("o",),
                        params={"family": "gaussian"})
    with pytest.raises(SpecError, match="'outcome_column' is required"):
        GlmAnalysis().validate(spec)
    with pytest.raises(SpecError, match="exactly one outcome"):
        GlmAnalysis().validate(AnalysisSpec(kind="glm", name="L", cohort="t"))


def test_builder() -> None:
    spec = Glm("t", outcome="o", comparator="c", family="poisson",
               covariates=["treatment", "age"], site_effects=True, meta=True).to_spec()
    assert spec.kind == "glm" and spec.outcomes == ("o",) and spec.comparator == "c"
    assert glm_mod.glm_params(spec).offset == "time_at_risk"
    assert spec.params["site_effects"] is True
    with pytest.raises(SpecError):
        Glm("t", outcome="o", family="nope").to_spec()


# -- meta-analysis of per-site fits --------------------------------------------------------
@pytest.mark.filterwarnings("ignore:invalid value encountered in sqrt")  # statsmodels, tau2 < 0
@pytest.mark.parametrize("family", list(FAMILIES))
def test_meta_analysis_of_site_fits(family: str) -> None:
    frames = sizes_split([150, 300, 500, 800], seed=21, no_events=1)
    result, _, _ = run(spec_of(family, meta=True, site_effects=family == "poisson"), frames)
    meta = result["meta"]
    # no events: that site's own fit is not estimable (the linear model has no events)
    skipped = [] if family == "gaussian" else ["site01"]
    assert meta["not_estimable"] == skipped
    used = [s for s in sorted(frames) if s not in skipped]
    assert meta["sites"] == used
    per_site = {s: pooled_fit(family, {s: frames[s]}) for s in used}
    for j, name in enumerate(COVS, start=1):
        m = meta["coefficients"][name]
        est = np.array([per_site[s].params[j] for s in used])
        var = np.array([per_site[s].bse[j] ** 2 for s in used])
        np.testing.assert_allclose([r["estimate"] for r in m["sites"]], est, rtol=TOL)
        np.testing.assert_allclose([r["se"] ** 2 for r in m["sites"]], var, rtol=TOL)
        ref = combine_effects(est, var, method_re="dl")
        assert m["fixed"]["estimate"] == pytest.approx(ref.mean_effect_fe, rel=1e-10)
        # statsmodels does not truncate the DL estimate at 0; DerSimonian-Laird does
        assert m["random_dl"]["tau2"] == pytest.approx(max(0.0, ref.tau2), rel=1e-10,
                                                       abs=1e-14)
        if ref.tau2 > 0:
            assert m["random_dl"]["estimate"] == pytest.approx(ref.mean_effect_re, rel=1e-10)
            assert m["random_dl"]["se"] == pytest.approx(ref.sd_eff_w_re, rel=1e-10)
        else:
            assert m["random_dl"]["estimate"] == pytest.approx(ref.mean_effect_fe, rel=1e-10)
        assert m["fixed"]["se"] == pytest.approx(ref.sd_eff_w_fe, rel=1e-10)
        assert m["q"] == pytest.approx(ref.q, rel=1e-10)
    assert "(Intercept)" not in meta["coefficients"]


# -- through the site's task runner and the hub's rounds ------------------------------------
def test_through_execute_task_and_hub_rounds() -> None:
    """The same fit via execute_task (site), advance_fit and combine_study (hub), with a
    site that refuses in round 0 (left out) and one without events (kept)."""
    import datetime as dt

    from behindglass.core.messages import Release, Task
    from behindglass.core.study import StudySpec
    from behindglass.hub.combine import combine_study
    from behindglass.hub.rounds import Fit, advance_fit, initial_states
    from behindglass.site.execute import execute_task

    frames = sizes_split([200, 300, 500], seed=13, no_events=1)
    refusing = simulate(100, 99)
    refusing["event"] = 0
    refusing.loc[:1, "event"] = 1  # 2 events: refused by the minimum events rule
    sites = {**frames, "site99": refusing}
    spec = spec_of("binomial", covariates=["treatment", "age"])
    study = StudySpec(title="glm", cohorts=COHORTS, analyses=(spec,))
    policy = DisclosurePolicy(min_cell=5)
    stores = {s: FakeData(f) for s, f in sites.items()}
    caches: dict[str, dict[str, dict[str, Any]]] = {s: {} for s in sites}
    fit = Fit(analysis="GLM", round=0, state=initial_states(study, get_analysis)["GLM"])
    releases: list[Release] = []
    first: list[Release] = []
    while not fit.done:
        releases = []
        for s in (sites if fit.round == 0 else fit.sites):
            task = Task(task_id=f"{s}-{fit.round}", study_id="x", site=s, researcher="r",
                        study=study, created=dt.datetime.now(dt.UTC), round=fit.round,
                        analyses=None if fit.round == 0 else ("GLM",),
                        states={"GLM": json.loads(json.dumps(fit.state))})
            out = execute_task(task, stores[s], policy, caches=caches[s])
            releases.append(Release.model_validate_json(Release(
                task_id=task.task_id, site=s, round=fit.round, aggregates=tuple(out.aggregates),
                refusals=tuple(out.refusals)).model_dump_json()))
        first = first or releases
        fit = advance_fit(fit, spec, releases, get_analysis)
        assert fit.round < 50
    assert fit.error is None and fit.sites == sorted(frames)
    refused = next(r for r in first if r.site == "site99")
    assert not refused.aggregates and "minimum events rule" in refused.refusals[0].reason
    result = combine_study(study, releases, get_analysis, {"GLM": fit})["GLM"]
    df = pd.concat(frames.values(), ignore_index=True)
    ref = sm.GLM(df["event"].to_numpy(float),
                 sm.add_constant(df[["treatment", "age"]].to_numpy(float)),
                 family=sm.families.Binomial()).fit(tol=0, atol=0, rtol=1e-10)
    np.testing.assert_allclose([r["coef"] for r in result["coefficients"]], ref.params,
                               rtol=TOL)
    np.testing.assert_allclose([r["se"] for r in result["coefficients"]], ref.bse, rtol=TOL)
    assert result["iterations"] == ref.fit_history["iteration"]
