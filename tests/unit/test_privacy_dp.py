"""Differential privacy on releases (``privacy.dp``): noise as OpenDP promises it, exact
accounting, suppression kept, refusals where no bound exists, and descriptive statistics.

Statistical checks use thousands of draws and bounds many standard errors wide: a correct
mechanism cannot fail them, and a missing or mis-scaled one cannot pass them.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics

import numpy as np
import pytest

from behindglass.analyses.base import combine_count_tables
from behindglass.analyses.descriptive import (
    DEFAULT_EDGES,
    DescriptiveAnalysis,
    DescriptiveParams,
    Variable,
    release_descriptive,
)
from behindglass.core.aggregates import Cell, CountTable, SiteAggregate, StatsBlock
from behindglass.core.cohort import Cohort
from behindglass.core.errors import DisclosureError
from behindglass.core.messages import Release, Task
from behindglass.core.policy import DisclosurePolicy, PrivacyRules, SitePolicy
from behindglass.core.study import AnalysisSpec, StudySpec
from behindglass.privacy.dp import (
    apply_dp,
    count_measurement,
    sum_sensitivity,
    value_measurement,
)
from behindglass.privacy.suppression import enforce
from behindglass.site.guard import SiteGuard

LAPLACE = PrivacyRules(enabled=True, mechanism="laplace", epsilon=1.0)
GAUSSIAN = PrivacyRules(enabled=True, mechanism="gaussian", epsilon=1.0, delta=1e-6)
CELLS = 4000
TRUE = 10_000


def persons(n: int) -> CountTable:
    return CountTable(name="persons", cells=(Cell(key=(), count=n),))


def wide(n_cells: int = CELLS, count: int = TRUE, margin: str | None = "persons",
         name: str = "by_x") -> CountTable:
    return CountTable(name=name, dims=("x",), margin=margin,
                      cells=tuple(Cell(key=(str(i),), count=count) for i in range(n_cells)))


def characterize(*tables: CountTable, **extra: object) -> SiteAggregate:
    return SiteAggregate(analysis="C", kind="characterize", tables=tables, **extra)  # type: ignore[arg-type]


def noise_of(out: SiteAggregate, name: str, true: int = TRUE) -> list[int]:
    return [c.count - true for c in out.table(name).cells if c.count is not None]


# -- noise -----------------------------------------------------------------------------------
def test_laplace_count_noise_is_centred_with_variance_two_scale_squared() -> None:
    out, _ = apply_dp(characterize(persons(CELLS * TRUE), wide()), LAPLACE)
    scale = out.privacy.scales["by_x"]  # type: ignore[union-attr]
    assert scale == pytest.approx(2.0, rel=1e-6)  # sensitivity 1 at epsilon 1/2
    noise = noise_of(out, "by_x")
    assert len(noise) == CELLS and all(isinstance(v, int) for v in noise)  # discrete Laplace
    assert abs(statistics.fmean(noise)) < 0.4  # standard error 0.045
    assert 6.0 < statistics.pvariance(noise) < 10.0  # 2 b^2 = 8; its standard error ~0.3
    assert len(set(noise)) > 10  # not a constant shift


def test_gaussian_count_noise_has_variance_scale_squared() -> None:
    out, spent = apply_dp(characterize(persons(CELLS * TRUE), wide()), GAUSSIAN)
    scale = out.privacy.scales["by_x"]  # type: ignore[union-attr]
    noise = noise_of(out, "by_x")
    assert abs(statistics.fmean(noise)) < 6 * scale / math.sqrt(CELLS)
    assert 0.8 < statistics.pvariance(noise) / scale**2 < 1.2
    assert spent <= GAUSSIAN.epsilon + 1e-12
    assert 0 < out.privacy.delta <= GAUSSIAN.delta  # type: ignore[union-attr]


def test_two_releases_of_the_same_table_differ() -> None:
    agg = characterize(persons(500), wide(50, 100))
    first, _ = apply_dp(agg, LAPLACE)
    second, _ = apply_dp(agg, LAPLACE)
    assert first.table("by_x").cells != second.table("by_x").cells


# -- accounting ------------------------------------------------------------------------------
@pytest.mark.parametrize("share", [1.0, 0.25, 0.1])
def test_each_measurement_spends_at_most_its_share(share: float) -> None:
    for cells in (1, 7):
        meas, d_in, _ = count_measurement("laplace", cells, share, 0.0)
        assert meas.map(d_in) <= share
        meas, d_in, _ = count_measurement("gaussian", cells, share, 1e-7)
        eps, delta = meas.map(d_in)
        assert eps <= share and delta <= 1e-7
    meas, _ = value_measurement("laplace", 90.0, share, 0.0)
    assert meas.map(90.0) <= share


def test_epsilon_is_split_over_the_tables() -> None:
    one, spent_one = apply_dp(characterize(persons(1000)), LAPLACE)
    three, spent_three = apply_dp(characterize(persons(1000), wide(5, 300),
                                               wide(3, 300, name="by_y")), LAPLACE)
    assert spent_one == pytest.approx(1.0) and spent_three == pytest.approx(1.0)
    assert spent_three <= LAPLACE.epsilon + 1e-12
    base = one.privacy.scales["persons"]  # type: ignore[union-attr]
    assert three.privacy.scales["persons"] == pytest.approx(3 * base)  # type: ignore[union-attr]
    assert three.privacy.epsilon == pytest.approx(1.0)  # type: ignore[union-attr]


def test_a_table_counting_one_person_in_many_cells_gets_more_noise() -> None:
    # without a margin, one person may be in every cell (top concepts): sensitivity = cells
    out, _ = apply_dp(characterize(wide(5, 300, margin=None, name="top"),
                                   wide(5, 300, name="by_x")), LAPLACE)
    scales = out.privacy.scales  # type: ignore[union-attr]
    assert scales["top"] == pytest.approx(5 * scales["by_x"])


# -- what DP keeps -----------------------------------------------------------------------------
def test_suppressed_cells_stay_suppressed() -> None:
    table = CountTable(name="sex", dims=("sex",), margin="persons", cells=(
        Cell(key=("F",), count=400), Cell(key=("M",), suppressed=True),
        Cell(key=("U",), suppressed=True)))
    out, _ = apply_dp(characterize(persons(420), table), LAPLACE)
    cells = {c.key: c for c in out.table("sex").cells}
    assert cells[("M",)].suppressed and cells[("M",)].count is None
    assert cells[("U",)].suppressed and cells[("F",)].count is not None


def test_noisy_counts_are_clamped_at_zero() -> None:
    out, _ = apply_dp(characterize(wide(2000, 0)), PrivacyRules(enabled=True, epsilon=0.5))
    counts = [c.count for c in out.table("by_x").cells]
    assert min(counts) == 0  # about half the draws were negative before clamping
    assert sum(v == 0 for v in counts) > 700
    assert max(counts) > 0


def test_checks_pass_unchanged_and_cost_nothing() -> None:
    checks = CountTable(name="failed_checks", dims=("check_id",), unit="checks",
                        cells=(Cell(key=("a",), count=1), Cell(key=("b",), count=3)))
    agg = SiteAggregate(analysis="Q", kind="data_quality", tables=(checks,))
    out, spent = apply_dp(agg, LAPLACE)
    assert out == agg and spent == 0.0


def test_persons_labelled_checks_by_another_kind_are_still_noised() -> None:
    fake = CountTable(name="n", dims=("k",), unit="checks",
                      cells=tuple(Cell(key=(str(i),), count=TRUE) for i in range(200)))
    out, spent = apply_dp(characterize(fake), LAPLACE)
    assert spent == pytest.approx(1.0)
    assert any(c.count != TRUE for c in out.table("n").cells)


def test_disabled_privacy_changes_nothing() -> None:
    agg = characterize(persons(12))
    assert apply_dp(agg, PrivacyRules()) == (agg, 0.0)


def test_release_carries_its_mechanism_and_survives_the_wire() -> None:
    out, spent = apply_dp(characterize(persons(900), wide(3, 300)), GAUSSIAN)
    note = out.privacy
    assert note is not None and note.mechanism == "gaussian" and note.epsilon == spent
    assert set(note.scales) == {"persons", "by_x"}
    assert any("differential privacy" in n for n in out.notes)
    again = SiteAggregate.model_validate(out.to_dict())
    assert again == out
    Release(task_id="t", site="s", aggregates=(out,))
    combined = combine_count_tables([("a", out), ("b", out)])
    assert combined["tables"]["by_x"]["rows"][0]["pooled"] is not None


# -- refusals --------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["glm", "cox", "kaplan_meier", "cohort_method"])
def test_model_statistics_are_refused(kind: str) -> None:
    agg = SiteAggregate(analysis="M", kind=kind,
                        stats=(StatsBlock(name="score", shape=(2,), values=(1.0, 2.0)),))
    with pytest.raises(DisclosureError, match="releases model statistics, which this site's "
                                              "differential-privacy policy cannot protect"):
        apply_dp(agg, LAPLACE)


def test_model_kind_without_stats_is_refused_too() -> None:
    agg = SiteAggregate(analysis="M", kind="glm", tables=(persons(500),))
    with pytest.raises(DisclosureError, match="model statistics"):
        apply_dp(agg, LAPLACE)


def test_stats_smuggled_into_a_count_kind_are_refused() -> None:
    block = StatsBlock(name="sums", shape=(1,), values=(12345.0,))
    with pytest.raises(DisclosureError, match="model statistics"):
        apply_dp(characterize(persons(500), stats=(block,)), LAPLACE)


def test_incidence_is_refused() -> None:
    agg = SiteAggregate(analysis="I", kind="incidence", tables=(wide(4, 100, margin=None),))
    with pytest.raises(DisclosureError, match="person-days"):
        apply_dp(agg, LAPLACE)


def test_continuous_covariates_are_withheld() -> None:
    sums = CountTable(name="continuous:1:age", dims=("stat",),
                      cells=(Cell(key=("n",), count=500), Cell(key=("sum_x1",), count=25000)))
    agg = SiteAggregate(analysis="V", kind="covariates", tables=(persons(500), sums))
    out, _ = apply_dp(agg, LAPLACE)
    assert [t.name for t in out.tables] == ["persons"]
    assert any("withheld" in n for n in out.notes)


# -- descriptive -----------------------------------------------------------------------------
TASK = Task(task_id="t", study_id="s", site="x", researcher="r", created=dt.datetime.now(dt.UTC),
            study=StudySpec(title="t", cohorts={"c": Cohort.everyone()}, analyses=(
                AnalysisSpec(kind="descriptive", name="D", cohort="c"),)))
AGE = Variable(name="age", variable="age", edges=tuple(float(e) for e in DEFAULT_EDGES["age"]))


def descriptive(values: np.ndarray, min_cell: int = 11) -> SiteAggregate:
    params = DescriptiveParams(variables=(AGE,), quantiles=(0.5,), population=None)
    return release_descriptive("D", len(values), {"age": values}, params, min_cell)


def test_descriptive_mean_and_sd_are_noisy_but_close() -> None:
    ages = np.random.default_rng(7).uniform(20, 80, 20_000)
    out, spent = apply_dp(descriptive(ages), LAPLACE, edges={"age": AGE.edges}, min_cell=11)
    assert spent == pytest.approx(1.0)
    n, total, ss = out.block("moments:age").values
    assert n == out.table("n:age").cells[0].count
    assert n >= sum(c.count or 0 for c in out.table("hist:age").cells)
    assert abs(total / n - ages.mean()) < 1.0
    assert abs(math.sqrt(ss / (n - 1)) - ages.std(ddof=1)) < 2.0
    assert (total, ss) != tuple(descriptive(ages).block("moments:age").values[1:])
    scales = out.privacy.scales  # type: ignore[union-attr]
    # sensitivities from OpenDP's make_sum: 90 for the sum, 45^2 about the centre
    assert scales["moments:age/sum"] == pytest.approx(sum_sensitivity(0, 90) / 0.25)
    assert scales["moments:age/sum_sq"] == pytest.approx(sum_sensitivity(0, 45**2) / 0.25)


def test_the_site_finds_a_descriptive_releases_bounds_on_the_release_itself() -> None:
    """The descriptive output carries its variables' bounds (site-only): the site's guard
    noises it without knowing the analysis kind, and what is released carries none."""
    ages = np.random.default_rng(3).uniform(20, 80, 2_000)
    raw = descriptive(ages)
    assert raw.bounds == {"age": AGE.edges}
    assert "bounds" not in raw.to_dict() and "bounds" not in raw.model_dump_json()
    guard = SiteGuard(SitePolicy(privacy=PrivacyRules(enabled=True)))
    noisy = guard.noise(TASK, AnalysisSpec(kind="descriptive", name="D", cohort="c"), raw)
    assert noisy.privacy is not None and noisy.block("moments:age").values != \
        raw.block("moments:age").values
    assert enforce(noisy, DisclosurePolicy()).bounds == {}
    # without bounds there is nothing to clamp to: refused, not released unclamped
    with pytest.raises(DisclosureError, match="needs its bin edges"):
        guard.noise(TASK, AnalysisSpec(kind="descriptive", name="D", cohort="c"),
                    raw.model_copy(update={"bounds": {}}))


def test_descriptive_histogram_noises_empty_bins_too() -> None:
    # all persons in one one-year bin, the other 91 empty: if only non-empty bins were
    # noised, the listing alone would show which bins hold someone
    fine = Variable(name="age", variable="age", edges=tuple(float(e) for e in range(91)))
    params = DescriptiveParams(variables=(fine,), quantiles=(0.5,), population=None)
    agg = release_descriptive("D", 500, {"age": np.full(500, 42.0)}, params, 11)
    assert len(agg.table("hist:age").cells) == 1
    out, _ = apply_dp(agg, LAPLACE, edges={"age": fine.edges})
    listed = {c.key[0] for c in out.table("hist:age").cells}
    # each empty bin is listed with probability ~0.4 (noise >= 1); fewer than 10 of 91 has
    # probability below 1e-12
    assert len(listed) > 10
    assert listed <= {str(i) for i in range(len(fine.edges) + 1)}
    assert all(k in out.table("hist:age").labels for k in listed)
    # and a bin is listed by its noisy count alone: one person in every bin, noised to 0
    # in about 40% of them, must leave those unlisted exactly like empty bins
    agg = release_descriptive("D", 90, {"age": np.arange(90) + 0.5}, params, 11)
    out, _ = apply_dp(agg, LAPLACE, edges={"age": fine.edges})
    assert all(c.count for c in out.table("hist:age").cells)


def test_descriptive_values_outside_the_bins_are_refused() -> None:
    ages = np.concatenate([np.full(300, 50.0), np.full(20, 95.0)])  # 95: the open top bin
    with pytest.raises(DisclosureError, match="outside its bin edges"):
        apply_dp(descriptive(ages), LAPLACE, edges={"age": AGE.edges})
    # a site half that clamped its values may say so
    out, _ = apply_dp(descriptive(np.clip(ages, 0, 90)), LAPLACE, edges={"age": AGE.edges},
                      clamped=True)
    assert out.block("moments:age").values[0] > 0


def test_descriptive_without_edges_is_refused() -> None:
    with pytest.raises(DisclosureError, match="bin edges"):
        apply_dp(descriptive(np.full(300, 50.0)), LAPLACE)


def test_descriptive_moments_withheld_below_min_cell_spend_nothing() -> None:
    out, spent = apply_dp(descriptive(np.full(500, 50.0)), PrivacyRules(enabled=True,
                          epsilon=40.0), edges={"age": AGE.edges}, min_cell=5000)
    assert out.stats == () and any("withheld" in n for n in out.notes)
    assert spent == pytest.approx(20.0)  # n and histogram only: 2 of 4 planned shares


def test_hub_pools_dp_descriptive_releases() -> None:
    rng = np.random.default_rng(3)
    policy = DisclosurePolicy(min_cell=11)
    releases = []
    for site in ("a", "b", "c"):
        agg = descriptive(rng.uniform(30, 70, 5000))
        noisy, _ = apply_dp(agg, LAPLACE, edges={"age": AGE.edges}, min_cell=11)
        releases.append((site, SiteAggregate.model_validate(enforce(noisy, policy).to_dict())))
    spec = AnalysisSpec(kind="descriptive", name="D", cohort="c",
                        params={"variables": [{"variable": "age"}], "quantiles": [0.5]})
    result = DescriptiveAnalysis().combine(spec, releases)["variables"]["age"]
    assert abs(result["mean"] - 50.0) < 1.0 and 10.0 < result["sd"] < 13.5
    median = result["quantiles"][0]
    assert median["lower"] <= 50.0 <= median["upper"]
