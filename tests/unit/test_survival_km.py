"""Kaplan-Meier: the federated answer equals statsmodels on the pooled rows; the release rule.

Sites are fake stores whose ``population`` returns a frame built here, so the tests do not
depend on the engine. Each site runs the catalog entry (``local``), its release travels as
JSON, and the hub combines; the result is compared with statsmodels' ``SurvfuncRight`` and
``survdiff`` on the concatenated rows (binned, or coarsened to the released intervals, when
the site had to coarsen them).
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from statsmodels.duration.survfunc import SurvfuncRight, survdiff

from behindglass.analyses.catalog import get_analysis
from behindglass.analyses.requests import KaplanMeier
from behindglass.analyses.survival import (
    KaplanMeierAnalysis,
    check_km_release,
    combine_km,
    merge_intervals,
    release_km,
)
from behindglass.core.aggregates import SiteAggregate, StatsBlock
from behindglass.core.cohort import Cohort
from behindglass.core.errors import DisclosureError, SpecError
from behindglass.core.messages import Task
from behindglass.core.policy import DisclosurePolicy
from behindglass.core.population import PopulationSettings
from behindglass.core.sitedata import SiteContext
from behindglass.core.study import AnalysisSpec, StudySpec
from behindglass.site.execute import execute_task

COHORTS = {"t": Cohort.drug(1118084), "c": Cohort.drug(1124300),
           "o": Cohort.condition(192671)}
TOL = 1e-10


class FakeData:
    """A site store whose analysis population is a given frame."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.calls: list[tuple[Any, ...]] = []

    def population(self, target: Cohort, comparator: Cohort, outcome: Cohort,
                   settings: Any) -> pd.DataFrame:
        self.calls.append((target, comparator, outcome, settings))
        return self.frame.copy()


def make_site(rng: np.random.Generator, n: int, *, events: bool = True,
              max_time: int = 400, hazard: tuple[float, float] = (0.004, 0.007)
              ) -> pd.DataFrame:
    treatment = rng.integers(0, 2, n)
    rate = np.where(treatment == 1, hazard[0], hazard[1])
    t_event = np.ceil(rng.exponential(1 / rate)).astype(int)
    t_cens = rng.integers(1, max_time, n)
    time = np.maximum(np.minimum(t_event, t_cens), 1)
    event = (t_event <= t_cens).astype(int) if events else np.zeros(n, dtype=int)
    return pd.DataFrame({"treatment": treatment, "survival_time": time, "event": event,
                         "time_at_risk": time, "age": 50, "male": 1, "index_year": 2020})


def spec_for(**params: Any) -> AnalysisSpec:
    return AnalysisSpec(kind="kaplan_meier", name="KM", cohort="t", comparator="c",
                        outcomes=("o",), params=params)


def run_site(frame: pd.DataFrame, spec: AnalysisSpec, min_cell: int) -> SiteAggregate:
    """The catalog's site half, then a JSON round trip as the release travels."""
    site = SiteContext(data=FakeData(frame), cohorts=COHORTS,  # type: ignore[arg-type]
                       policy=DisclosurePolicy(min_cell=min_cell))
    agg = KaplanMeierAnalysis().local(site, spec)
    return SiteAggregate.model_validate_json(agg.model_dump_json())


def federate(frames: list[pd.DataFrame], spec: AnalysisSpec, min_cell: int = 1
             ) -> tuple[dict[str, Any], list[tuple[str, SiteAggregate]]]:
    releases = [(f"site{i}", run_site(f, spec, min_cell)) for i, f in enumerate(frames)]
    return get_analysis("kaplan_meier").combine(spec, releases), releases


def event_rows(result: dict[str, Any], group: str) -> list[dict[str, Any]]:
    return [r for r in result["groups"][group]["table"] if r["n_events"] > 0]


def nan(x: float | None) -> float:
    return math.nan if x is None else x


def assert_matches_statsmodels(result: dict[str, Any], rows: pd.DataFrame,
                               time_col: str = "survival_time",
                               strata: np.ndarray | None = None) -> None:
    method = {"log-log": "cloglog", "plain": "linear", "log": "log"}[result["conf_type"]]
    for group, value in (("target", 1), ("comparator", 0)):
        sub = rows[rows.treatment == value]
        sf = SurvfuncRight(sub[time_col].to_numpy(), sub.event.to_numpy())
        got = event_rows(result, group)
        assert [r["time"] for r in got] == sf.surv_times.tolist()
        assert [r["n_risk"] for r in got] == sf.n_risk.tolist()
        assert [r["n_events"] for r in got] == sf.n_events.tolist()
        np.testing.assert_allclose([r["survival"] for r in got], sf.surv_prob, rtol=0,
                                   atol=TOL)
        np.testing.assert_allclose([nan(r["se"]) for r in got], sf.surv_prob_se, rtol=0,
                                   atol=TOL, equal_nan=True)
        g = result["groups"][group]
        assert g["persons"] == len(sub) and g["events"] == int(sub.event.sum())
        for q, est in g["quantiles"].items():
            expect = sf.quantile(float(q))
            assert nan(est["time"]) == pytest.approx(expect, nan_ok=True)
            with np.errstate(divide="ignore", invalid="ignore"):
                lb, ub = sf.quantile_ci(float(q), alpha=result["alpha"], method=method)
            assert nan(est["lower"]) == pytest.approx(lb, nan_ok=True)
            assert (math.inf if est["upper"] is None and not math.isnan(lb)
                    else nan(est["upper"])) == pytest.approx(ub, nan_ok=True)
        assert g["median"] == g["quantiles"]["0.5"]
    chisq, p = survdiff(rows[time_col].to_numpy(), rows.event.to_numpy(),
                        rows.treatment.to_numpy())
    assert result["logrank"]["chi2"] == pytest.approx(chisq, rel=0, abs=TOL)
    assert result["logrank"]["p_value"] == pytest.approx(p, rel=0, abs=TOL)
    assert result["logrank"]["df"] == 1
    if strata is not None:
        chisq, p = survdiff(rows[time_col].to_numpy(), rows.event.to_numpy(),
                            rows.treatment.to_numpy(), strata=strata)
        strat = result["logrank"]["stratified_by_site"]
        assert strat["chi2"] == pytest.approx(chisq, rel=0, abs=TOL)
        assert strat["p_value"] == pytest.approx(p, rel=0, abs=TOL)


def pooled_rows(frames: list[pd.DataFrame]) -> tuple[pd.DataFrame, np.ndarray]:
    strata = np.concatenate([[i] * len(f) for i, f in enumerate(frames)])
    return pd.concat(frames, ignore_index=True), strata


# -- federated = pooled --------------------------------------------------------------------
@pytest.mark.parametrize("n_sites", [1, 3, 10])
@pytest.mark.parametrize("conf_type", ["log-log", "plain"])
def test_federated_equals_pooled(n_sites: int, conf_type: str) -> None:
    rng = np.random.default_rng(n_sites)
    sizes = [int(s) for s in rng.integers(20, 400, n_sites)]
    frames = [make_site(rng, n) for n in sizes]
    if n_sites > 1:
        frames[1] = make_site(rng, 15, events=False)  # a site with no events at all
    if n_sites > 3:
        frames[3] = make_site(rng, 3)  # a tiny site
    spec = spec_for(conf_type=conf_type)
    result, _ = federate(frames, spec)
    rows, strata = pooled_rows(frames)
    assert result["sites"] == [f"site{i}" for i in range(n_sites)]
    assert result["rejected"] == {}
    assert result["target"] == "t" and result["comparator"] == "c" and result["outcome"] == "o"
    assert_matches_statsmodels(result, rows, strata=strata)


def test_ties_heavy_data_and_survival_to_zero() -> None:
    """Few distinct times (many ties of events and censorings), and a group whose last
    person has the event (survival 0, SE undefined): still statsmodels to the last digit."""
    rng = np.random.default_rng(7)
    frames = []
    for n in (40, 25, 60):
        f = make_site(rng, n)
        f["survival_time"] = rng.integers(1, 6, n)
        frames.append(f)
    frames[0].loc[frames[0].survival_time.idxmax(), ["survival_time", "event"]] = (9, 1)
    frames[0].loc[frames[0].survival_time.idxmax(), "treatment"] = 1
    result, _ = federate(frames, spec_for())
    rows, strata = pooled_rows(frames)
    assert_matches_statsmodels(result, rows, strata=strata)
    last = result["groups"]["target"]["table"][-1]
    assert last["survival"] == 0 and last["se"] is None


def test_median_when_survival_touches_one_half() -> None:
    """S is exactly 0.5 at day 3: the median is the next event time (statsmodels' and SAS's
    strict rule), and its interval is statsmodels' too."""
    frames = [pd.DataFrame({"treatment": [1] * 10 + [0] * 10,
                            "survival_time": [3] * 5 + [8, 9, 12, 12, 20] + list(range(1, 11)),
                            "event": [1] * 5 + [1, 0, 1, 0, 1] + [1, 0] * 5})]
    result, _ = federate(frames, spec_for())
    halfway = [r for r in result["groups"]["target"]["table"] if r["time"] == 3]
    assert halfway[0]["survival"] == 0.5
    assert result["groups"]["target"]["median"]["time"] == 8
    rows, _ = pooled_rows(frames)
    assert_matches_statsmodels(result, rows)


def test_binning_equals_statsmodels_on_binned_times() -> None:
    rng = np.random.default_rng(11)
    frames = [make_site(rng, n) for n in (120, 45, 300)]
    result, releases = federate(frames, spec_for(time_bin_days=30))
    rows, strata = pooled_rows(frames)
    rows["binned"] = -(-rows.survival_time // 30) * 30
    assert_matches_statsmodels(result, rows, time_col="binned", strata=strata)
    times = {r["time"] for g in ("target", "comparator") for r in result["groups"][g]["table"]}
    assert all(t % 30 == 0 for t in times)
    # and it is not just the unbinned answer
    sf = SurvfuncRight(rows.survival_time[rows.treatment == 1], rows.event[rows.treatment == 1])
    assert len(event_rows(result, "target")) < len(sf.surv_times)
    assert result["time_bin_days"] == 30
    for _, agg in releases:
        assert agg.block("km:form").values == (30.0, 1.0)


@pytest.mark.parametrize("conf_type", ["log-log", "plain", "log"])
def test_pointwise_intervals(conf_type: str) -> None:
    rng = np.random.default_rng(3)
    frames = [make_site(rng, 150), make_site(rng, 90)]
    result, _ = federate(frames, spec_for(conf_type=conf_type, alpha=0.1))
    rows, _ = pooled_rows(frames)
    sub = rows[rows.treatment == 0]
    sf = SurvfuncRight(sub.survival_time, sub.event)
    s, se = sf.surv_prob, sf.surv_prob_se
    z = norm.ppf(0.95)
    root = se / s  # square root of Greenwood's sum
    if conf_type == "log-log":
        lo, hi = s ** np.exp(-z * root / np.log(s)), s ** np.exp(z * root / np.log(s))
    elif conf_type == "plain":
        lo, hi = np.clip(s - z * se, 0, 1), np.clip(s + z * se, 0, 1)
    else:
        lo, hi = np.clip(s * np.exp(-z * root), 0, 1), np.clip(s * np.exp(z * root), 0, 1)
    got = event_rows(result, "comparator")
    np.testing.assert_allclose([r["lower"] for r in got], lo, rtol=0, atol=TOL)
    np.testing.assert_allclose([r["upper"] for r in got], hi, rtol=0, atol=TOL)
    assert all(r["lower"] <= r["survival"] <= r["upper"] for r in got)
    assert any(r["lower"] < r["survival"] < r["upper"] for r in got)


def test_at_risk_table() -> None:
    rng = np.random.default_rng(5)
    frames = [make_site(rng, 80), make_site(rng, 130)]
    times = [0, 1, 50, 100, 365, 10_000]
    result, _ = federate(frames, spec_for(at_risk_times=times))
    rows, _ = pooled_rows(frames)
    assert result["at_risk"]["times"] == times
    for group, value in (("target", 1), ("comparator", 0)):
        sub = rows[rows.treatment == value]
        assert result["at_risk"][group] == [int((sub.survival_time >= t).sum()) for t in times]
    default, _ = federate(frames, spec_for())
    assert default["at_risk"]["times"][0] == 0 and len(default["at_risk"]["times"]) >= 4
    assert default["at_risk"]["target"][0] == int((rows.treatment == 1).sum())


def test_result_is_json_and_logrank_detects_a_difference() -> None:
    import json

    rng = np.random.default_rng(9)
    frames = [make_site(rng, 400, hazard=(0.002, 0.02)) for _ in range(3)]
    result, _ = federate(frames, spec_for())
    json.loads(json.dumps(result, allow_nan=False))
    lr = result["logrank"]
    assert lr["p_value"] < 1e-6
    assert lr["observed"]["target"] < lr["expected"]["target"]
    assert lr["observed"]["target"] + lr["observed"]["comparator"] == pytest.approx(
        lr["expected"]["target"] + lr["expected"]["comparator"])


def test_no_events_anywhere() -> None:
    rng = np.random.default_rng(12)
    frames = [make_site(rng, 40, events=False), make_site(rng, 70, events=False)]
    result, _ = federate(frames, spec_for())
    lr = result["logrank"]
    assert lr["chi2"] is None and lr["p_value"] is None and lr["variance"] == 0
    for group in ("target", "comparator"):
        g = result["groups"][group]
        assert g["events"] == 0 and g["median"] == {"time": None, "lower": None, "upper": None}
        assert all(r["survival"] == 1 and r["lower"] == r["upper"] == 1
                   for r in g["table"])


# -- the release rule ----------------------------------------------------------------------
def released_counts(agg: SiteAggregate) -> dict[str, np.ndarray]:
    out = {}
    for group in ("target", "comparator"):
        b = agg.block(f"km:{group}")
        out[group] = np.asarray(b.values).reshape(b.shape).astype(int)
    return out


def assert_safe(agg: SiteAggregate, k: int) -> None:
    """Every count a reader can take from the release, or derive by sums and differences
    of whole intervals (numbers at risk), is 0 or at least k; no interval is empty."""
    assert agg.tables == ()
    for rows in released_counts(agg).values():
        counts = rows[:, 1:]
        assert np.all((counts == 0) | (counts >= k)), counts
        assert np.all(counts.sum(axis=1) > 0)
        at_risk = np.cumsum((counts.sum(axis=1))[::-1])[::-1]
        assert np.all(at_risk >= k)
        assert np.all(np.diff(rows[:, 0]) > 0)


def coarsened(frame: pd.DataFrame, agg: SiteAggregate, bin_days: int) -> pd.DataFrame:
    """The rows with each time replaced by the end of the released interval holding it."""
    out = frame.copy()
    binned = -(-out.survival_time // bin_days) * bin_days
    for group, rows in released_counts(agg).items():
        mask = out.treatment == (1 if group == "target" else 0)
        ends = rows[:, 0]
        out.loc[mask, "released"] = ends[np.searchsorted(ends, binned[mask], side="left")]
        # the released counts are those of the coarsened rows
        sub = out[mask]
        for t, d, c in rows:
            at = sub[sub.released == t]
            assert (int(at.event.sum()), int((at.event == 0).sum())) == (d, c)
    out["released"] = out.released.astype(int)
    return out


@pytest.mark.parametrize("seed", range(12))
def test_safe_form_never_releases_a_small_count(seed: int) -> None:
    """Random sites (some tiny, some with few events) at random thresholds and bins: every
    release obeys the rule, or the site refuses; and the pooled answer is statsmodels on the
    rows coarsened to what was released."""
    rng = np.random.default_rng(100 + seed)
    k = int(rng.integers(2, 12))
    bin_days = int(rng.choice([1, 1, 7, 30]))
    spec = spec_for(time_bin_days=bin_days)
    frames, releases, refused = [], [], 0
    for i in range(6):
        f = make_site(rng, int(rng.integers(5, 250)), max_time=int(rng.integers(30, 900)))
        try:
            agg = run_site(f, spec, k)
        except DisclosureError as exc:
            refused += 1
            assert str(k) in str(exc) and "refused" in str(exc)
            continue
        assert_safe(agg, k)
        check_km_release(agg, k)
        frames.append(coarsened(f, agg, bin_days))
        releases.append((f"site{i}", agg))
    if not releases:
        return
    result = get_analysis("kaplan_meier").combine(spec, releases)
    rows, strata = pooled_rows(frames)
    assert_matches_statsmodels(result, rows, time_col="released", strata=strata)


def test_one_late_event_is_refused_or_merged() -> None:
    # one event after many censorings: 1 event < k, so the group is refused
    f = pd.DataFrame({"treatment": [1] * 30 + [0] * 20,
                      "survival_time": [*range(1, 30), 900, *range(1, 21)],
                      "event": [0] * 29 + [1] + [1] * 20})
    with pytest.raises(DisclosureError, match="target group has outcome events at this site"):
        release_km("KM", f, time_bin_days=1, min_cell=5)
    # five events, the last one alone far out: it is merged back, never released alone
    f.loc[0:3, "event"] = 1
    agg = release_km("KM", f, time_bin_days=1, min_cell=5)
    assert_safe(agg, 5)
    target = released_counts(agg)["target"]
    # the four early events cannot stand alone either, so all 30 share one interval
    assert target.tolist() == [[900, 5, 25]]
    # with k = 1 the late event is exact
    exact = released_counts(release_km("KM", f, time_bin_days=1, min_cell=1))["target"]
    assert exact[-1].tolist() == [900, 1, 0]


def test_group_of_three_and_small_censored_refused() -> None:
    rng = np.random.default_rng(1)
    f = make_site(rng, 60)
    f.loc[:, "treatment"] = 0
    f.loc[:2, "treatment"] = 1  # a target group of 3
    with pytest.raises(DisclosureError, match="target group has fewer than 5 persons"):
        release_km("KM", f, time_bin_days=1, min_cell=5)
    g = pd.DataFrame({"treatment": [1] * 12 + [0] * 12, "survival_time": range(1, 25),
                      "event": [1] * 10 + [0] * 2 + [1] * 12})
    with pytest.raises(DisclosureError, match="target group has censored persons"):
        release_km("KM", g, time_bin_days=1, min_cell=5)
    # the comparator (no censoring at all) is fine once the target is
    g.loc[:11, "event"] = 1
    assert_safe(release_km("KM", g, time_bin_days=1, min_cell=5), 5)
    # an empty comparator at a site is a group below the threshold
    with pytest.raises(DisclosureError, match="comparator group has fewer than 1 persons"):
        release_km("KM", g[g.treatment == 1], time_bin_days=1, min_cell=1)


def test_merge_intervals_rule() -> None:
    times = np.arange(1, 9)
    d = np.array([1, 1, 1, 0, 0, 1, 1, 0])
    c = np.array([0, 2, 0, 1, 1, 0, 0, 3])
    # (4, 3, 3) closes, then the tail (2 events) cannot: it is merged back into it
    assert merge_intervals(times, d, c, 3) == [(8, 5, 7)]
    rows = merge_intervals(np.arange(1, 7), np.array([3, 0, 1, 1, 1, 0]),
                           np.array([0, 3, 0, 0, 1, 2]), 3)
    assert rows == [(1, 3, 0), (2, 0, 3), (6, 3, 3)]
    assert merge_intervals(times, d, c, 1) == [
        (int(t), int(a), int(b)) for t, a, b in zip(times, d, c, strict=True)]


def test_check_km_release_catches_a_tampered_release() -> None:
    rng = np.random.default_rng(2)
    agg = release_km("KM", make_site(rng, 200), time_bin_days=1, min_cell=5)
    check_km_release(agg, 5)
    blocks = list(agg.stats)
    i = next(j for j, b in enumerate(blocks) if b.name == "km:target")
    vals = list(blocks[i].values)
    vals[1] = 2.0  # an interval with 2 events
    blocks[i] = StatsBlock(name="km:target", shape=blocks[i].shape, values=tuple(vals))
    bad = agg.model_copy(update={"stats": tuple(blocks)})
    with pytest.raises(DisclosureError, match="break the rule"):
        check_km_release(bad, 5)
    vals = list(agg.block("km:target").values)
    vals[1:3] = [0.0, 0.0]  # an empty interval: its time alone would be released
    empty = agg.model_copy(update={"stats": tuple(
        StatsBlock(name=b.name, shape=b.shape, values=tuple(vals)) if b.name == "km:target"
        else b for b in agg.stats)})
    with pytest.raises(DisclosureError, match="break the rule"):
        check_km_release(empty, 1)
    extra = agg.model_copy(update={"stats": (*agg.stats, StatsBlock(name="x", shape=(1,),
                                                                    values=(1.0,)))})
    with pytest.raises(DisclosureError, match="unexpected statistics"):
        check_km_release(extra, 5)
    # the hub rejects a site whose release breaks its own declared threshold
    result = combine_km([("good", agg), ("bad", bad)])
    assert result["sites"] == ["good"] and "bad" in result["rejected"]
    # and one released with another bin width
    assert "good" in combine_km([("good", agg)], time_bin_days=7)["rejected"]


def test_release_is_checked_before_it_leaves(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug in the merging would be caught by the site's own check, not released."""
    import behindglass.analyses.survival as km

    rng = np.random.default_rng(8)
    monkeypatch.setattr(km, "merge_intervals", lambda times, d, c, k: [
        (int(t), int(a), int(b)) for t, a, b in zip(times, d, c, strict=True)])
    with pytest.raises(DisclosureError, match="break the rule"):
        release_km("KM", make_site(rng, 300), time_bin_days=1, min_cell=11)


# -- the site path, refusals and parameters ------------------------------------------------
def task_for(spec: AnalysisSpec) -> Task:
    study = StudySpec(title="km", cohorts=COHORTS, analyses=(spec,))
    return Task(task_id="x", study_id="s", site="a", researcher="r", study=study,
                created=dt.datetime.now(dt.UTC))


def test_site_path_releases_and_refuses() -> None:
    rng = np.random.default_rng(4)
    spec = KaplanMeier("t", "c", "o", time_bin_days=7, name="KM").to_spec()
    data = FakeData(make_site(rng, 300))
    done = execute_task(task_for(spec), data, DisclosurePolicy(min_cell=11))  # type: ignore[arg-type]
    assert done.refusals == []
    (agg,) = done.aggregates
    assert_safe(agg, 11)
    assert agg.block("km:form").values == (7.0, 11.0)
    target, comparator, outcome, _ = data.calls[0]
    assert (target, comparator, outcome) == (COHORTS["t"], COHORTS["c"], COHORTS["o"])
    # the request may raise the threshold, never lower it
    strict = KaplanMeier("t", "c", "o", min_count=20, name="KM").to_spec()
    (agg20,) = execute_task(task_for(strict), data, DisclosurePolicy(min_cell=11)).aggregates
    assert_safe(agg20, 20)
    lax = KaplanMeier("t", "c", "o", min_count=2, name="KM").to_spec()
    (agg11,) = execute_task(task_for(lax), data, DisclosurePolicy(min_cell=11)).aggregates
    assert agg11.block("km:form").values[1] == 11.0
    # a site too small is refused with a reason naming the threshold and no count
    tiny = FakeData(make_site(rng, 14))
    done = execute_task(task_for(spec), tiny, DisclosurePolicy(min_cell=11))  # type: ignore[arg-type]
    assert done.aggregates == []
    (refusal,) = done.refusals
    assert "fewer than 11" in refusal.reason and "refused" in refusal.reason


def test_population_settings_reach_the_store() -> None:
    rng = np.random.default_rng(6)
    data = FakeData(make_site(rng, 200))
    spec = KaplanMeier("t", "c", "o", population={"washout_days": 365,
                                                  "risk_window_end": 730,
                                                  "end_anchor": "cohort start"},
                       name="KM").to_spec()
    done = execute_task(task_for(spec), data, DisclosurePolicy(min_cell=5))  # type: ignore[arg-type]
    assert done.refusals == []
    settings = data.calls[0][3]
    assert isinstance(settings, PopulationSettings)
    assert (settings.washout_days, settings.risk_window_end, settings.end_anchor) == (
        365, 730, "cohort start")


def test_catalog_and_builder() -> None:
    assert isinstance(get_analysis("kaplan_meier"), KaplanMeierAnalysis)
    spec = KaplanMeier("t", "c", "o", at_risk_times=[0, 30], conf_type="plain",
                       population={"washout_days": 365}).to_spec()
    assert spec.kind == "kaplan_meier" and spec.name == "KaplanMeier"
    assert spec.comparator == "c" and spec.outcomes == ("o",)
    assert spec.params["at_risk_times"] == [0, 30] and spec.params["conf_type"] == "plain"


@pytest.mark.parametrize(("params", "match"), [
    ({"time_bin_days": 0}, "time_bin_days"),
    ({"time_bin_days": 1.5}, "time_bin_days"),
    ({"time_bin_days": True}, "time_bin_days"),
    ({"time_bin_days": 4000}, "time_bin_days"),
    ({"min_count": 0}, "min_count"),
    ({"min_count": "11"}, "min_count"),
    ({"conf_type": "arcsine"}, "conf_type"),
    ({"alpha": 0}, "alpha"),
    ({"alpha": 1.5}, "alpha"),
    ({"alpha": float("nan")}, "alpha"),
    ({"at_risk_times": [0, 30, 30]}, "at_risk_times"),
    ({"at_risk_times": [-1]}, "at_risk_times"),
    ({"at_risk_times": []}, "at_risk_times"),
    ({"at_risk_times": "0,30"}, "at_risk_times"),
    ({"population": [1]}, "population"),
    ({"population": {"washout": 3}}, "population"),
    ({"population": {"washout_days": -1}}, "population"),
    ({"population": {"min_days_at_risk": 0}}, "min_days_at_risk"),
    ({"bins": 3}, "unknown parameter"),
])
def test_parameter_errors(params: dict[str, Any], match: str) -> None:
    with pytest.raises(SpecError, match=match):
        KaplanMeierAnalysis().validate(spec_for(**params))


@pytest.mark.parametrize(("changes", "match"), [
    ({"comparator": None}, "comparator"),
    ({"comparator": "t"}, "must differ"),
    ({"outcomes": ()}, "exactly one outcome"),
    ({"outcomes": ("o", "c")}, "exactly one outcome"),
])
def test_cohort_errors(changes: dict[str, Any], match: str) -> None:
    spec = spec_for().model_copy(update=changes)
    with pytest.raises(SpecError, match=match):
        KaplanMeierAnalysis().validate(spec)
    with pytest.raises(SpecError, match=match):
        KaplanMeierAnalysis().local(SiteContext(data=FakeData(pd.DataFrame()),  # type: ignore[arg-type]
                                                cohorts=COHORTS, policy=DisclosurePolicy()),
                                    spec)


def test_bad_population_frame_is_not_released() -> None:
    f = pd.DataFrame({"treatment": [1, 0, 2], "survival_time": [1, 2, 3], "event": [0, 1, 0]})
    with pytest.raises(ValueError, match="treatment and event"):
        release_km("KM", f, time_bin_days=1, min_cell=1)
    f = pd.DataFrame({"treatment": [1, 0], "survival_time": [0, 2], "event": [0, 1]})
    with pytest.raises(ValueError, match="survival_time"):
        release_km("KM", f, time_bin_days=1, min_cell=1)
    with pytest.raises(ValueError, match="lacks columns"):
        release_km("KM", f.drop(columns="event"), time_bin_days=1, min_cell=1)


# -- end to end on a real store ------------------------------------------------------------
def test_gibleed_split_over_three_sites(gibleed_db: Path,
                                        tmp_path_factory: pytest.TempPathFactory) -> None:
    """Celecoxib vs diclofenac, time to GI bleed, on GiBleed split over three site stores:
    each site runs the request through its real path; the pooled curves and test equal
    statsmodels on the whole database's population frame; at min_cell 11 every release
    obeys the rule and the pooled answer equals statsmodels on the coarsened rows."""
    from behindglass.engine.site_store import SiteStore
    from tests.integration.harness import SITES, split_sites

    cohorts = {"cel": Cohort.drug(1118084), "dic": Cohort.drug(1124300),
               "gib": Cohort.condition(192671)}
    spec = KaplanMeier("cel", "dic", "gib", population={"demographics": False},
                       name="KM").to_spec()
    study = StudySpec(title="km", cohorts=cohorts, analyses=(spec,))
    task = Task(task_id="x", study_id="s", site="a", researcher="r", study=study,
                created=dt.datetime.now(dt.UTC))
    dbs = split_sites(gibleed_db, tmp_path_factory.mktemp("km_sites"))
    settings = PopulationSettings(demographics=False)
    frames, releases = {}, {}
    for min_cell in (1, 11):
        for site in SITES:
            with SiteStore.open(dbs[site]) as data:
                done = execute_task(task, data, DisclosurePolicy(min_cell=min_cell))
                if min_cell == 1:
                    frames[site] = data.population(cohorts["cel"], cohorts["dic"],
                                                   cohorts["gib"], settings)
            assert done.refusals == []
            (releases[site, min_cell],) = done.aggregates
    with SiteStore.open(gibleed_db) as data:
        whole = data.population(cohorts["cel"], cohorts["dic"], cohorts["gib"], settings)
    assert len(whole) == sum(len(f) for f in frames.values()) > 1000
    assert whole.event.sum() > 20
    exact = get_analysis("kaplan_meier").combine(spec, [(s, releases[s, 1]) for s in SITES])
    assert_matches_statsmodels(exact, whole)
    safe = get_analysis("kaplan_meier").combine(spec, [(s, releases[s, 11]) for s in SITES])
    for site in SITES:
        assert_safe(releases[site, 11], 11)
    rows, strata = pooled_rows([coarsened(frames[s], releases[s, 11], 1) for s in SITES])
    assert_matches_statsmodels(safe, rows, time_col="released", strata=strata)
