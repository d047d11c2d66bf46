"""No person's value can be solved for from released moments (the dominance rules).

The canary suite found it: a temperature of 987654.321 among values of 36 to 38 was
``mean + sqrt(SSD (n - 1) / n)`` to its third decimal. Each attack below is first shown to
work with the rules off (``max_dominance = 1``), so the test of the rule can fail; then the
rule withholds the moments, the attacker is left with what is released, and ordinary data
(ages, GiBleed's observation days, lab values as the other tests plant them) is never
stopped.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pytest
from pydantic import ValidationError

from behindglass.analyses.covariates import combine_covariates, release_covariates
from behindglass.analyses.descriptive import (
    DescriptiveParams,
    Variable,
    combine_variable,
    release_descriptive,
)
from behindglass.analyses.moment_rules import (
    covariate_shares,
    dominance_shares,
    moments_withheld,
    pair_threshold,
)
from behindglass.core.aggregates import SiteAggregate
from behindglass.core.cohort import Cohort
from behindglass.core.errors import PolicyError
from behindglass.core.policy import DEFAULT_MAX_DOMINANCE, DisclosurePolicy
from behindglass.core.sitedata import PersonColumn
from behindglass.engine.site_store import SiteStore
from behindglass.privacy.suppression import enforce
from behindglass.site.policy_file import parse_policy

EXTREME = 987654.321
TEMPS = 36.0 + (np.arange(300) % 25) / 10.0  # the canary's plausible temperatures
EDGES = (35.0, 36.0, 37.0, 38.0, 39.0, 40.0)  # the canary's bins: one degree wide
OFF = 1.0


def release(values: np.ndarray, max_dominance: float = DEFAULT_MAX_DOMINANCE,
            min_cell: int = 11, name: str = "temperature") -> SiteAggregate:
    """The site half, the site's enforce, and a JSON round trip, as a release travels."""
    var = Variable(name=name, variable="measurement", edges=EDGES, concept_ids=(1,))
    params = DescriptiveParams(variables=(var,), quantiles=(0.5,), population=None)
    policy = DisclosurePolicy(min_cell=min_cell, max_dominance=max_dominance)
    agg = release_descriptive("D", values.size, {name: values}, params, min_cell,
                              policy.max_dominance)
    return SiteAggregate.model_validate(json.loads(json.dumps(enforce(agg, policy).to_dict())))


def solve_one(agg: SiteAggregate, name: str = "temperature") -> float:
    """The canary's attack: one value far above the rest is the mean plus the whole spread."""
    n, total, ssd = agg.block(f"moments:{name}").values
    return total / n + math.sqrt(ssd * (n - 1) / n)


def solve_k(agg: SiteAggregate, k: int) -> float:
    """The same attack guessing that ``k`` persons share the extreme value."""
    n, total, ssd = agg.block("moments:temperature").values
    return total / n + math.sqrt(ssd * (n - k) / (k * n))


# -- the attacks work with the rules off, and the rules stop them ---------------------------
def test_with_the_rule_off_the_extreme_value_is_solved_for() -> None:
    agg = release(np.append(TEMPS, EXTREME), max_dominance=OFF)
    assert abs(solve_one(agg) - EXTREME) < 1e-3


def test_a_dominating_value_withholds_the_moments_and_keeps_the_histogram() -> None:
    agg = release(np.append(TEMPS, EXTREME))
    assert agg.stats == ()
    assert agg.table("n:temperature").cells[0].count == TEMPS.size + 1
    hist = agg.table("hist:temperature")
    assert any(c.count for c in hist.cells)
    note = agg.notes[0]  # then the site's suppression notes
    assert note.startswith("temperature: one person's value dominates its moments")
    assert "987654" not in json.dumps(agg.to_dict())
    # what is released bounds the value only by the hidden bins: the open top one is among
    # them, so no finite estimate is better than any other
    hidden = [int(c.key[0]) for c in hist.cells if c.count is None]
    assert len(EDGES) in hidden  # [40, inf): unbounded above


def test_the_note_carries_no_information_about_the_value() -> None:
    notes = {release(np.append(TEMPS, x)).notes for x in (EXTREME, 123.4, 5e9)}
    assert len(notes) == 1


def test_just_below_the_threshold_the_moments_bound_the_value_only_loosely() -> None:
    """The strongest release the rule lets out: one value holding 0.79 of the spread."""
    x = _value_with_share(DEFAULT_MAX_DOMINANCE - 0.01)
    agg = release(np.append(TEMPS, x))
    n, total, ssd = agg.block("moments:temperature").values  # released
    mean = total / n
    # the attacker's solve misses by more than two bins (one degree each)...
    assert abs(solve_one(agg) - x) > 2.0
    # ...and all the release says is: above 40 (its bin) and below the largest deviation
    # the rule lets through, a range many bins wide that holds values far from the truth
    upper = mean + math.sqrt(DEFAULT_MAX_DOMINANCE * ssd)
    assert EDGES[-1] < x <= upper
    assert upper - EDGES[-1] > 15.0


def _value_with_share(share: float) -> float:
    lo, hi = 38.4, 1e4
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if dominance_shares(np.append(TEMPS, mid))[0] < share else (lo, mid)
    return lo


def test_two_equal_extreme_values_are_withheld_too() -> None:
    pair = np.append(TEMPS, [EXTREME, EXTREME])
    assert dominance_shares(pair)[0] < DEFAULT_MAX_DOMINANCE  # each holds under half...
    assert abs(solve_k(release(pair, max_dominance=OFF), 2) - EXTREME) < 1e-3  # ...yet solved
    agg = release(pair)
    assert agg.stats == ()
    assert "two persons' values dominate" in agg.notes[0]


def test_a_few_persons_off_a_shared_value_are_withheld() -> None:
    """Three persons aged 1 among 900 aged 0: the sum, 3, would be a count of three."""
    ages = np.append(np.zeros(900), np.ones(3))
    one, two = dominance_shares(ages)
    assert one < DEFAULT_MAX_DOMINANCE and two < pair_threshold(DEFAULT_MAX_DOMINANCE)
    opened = release(ages, max_dominance=OFF, min_cell=1, name="age")
    assert opened.block("moments:age").values[1] == 3.0
    agg = release(ages, name="age")
    assert agg.stats == ()
    assert "a group of fewer than 11 persons" in agg.notes[0]
    # eleven off the shared value are a group the minimum cell allows
    assert release(np.append(np.zeros(900), np.ones(11)), name="age").stats != ()


def test_three_values_are_a_count_table() -> None:
    """Ages 0, 1 and 2 held by 900, 12 and 3: three equations give the three counts."""
    ages = np.concatenate([np.zeros(900), np.ones(12), np.full(3, 2.0)])
    n, total, ssd = release(ages, max_dominance=OFF, min_cell=1, name="age").block(
        "moments:age").values
    squares = ssd + total * total / n  # the raw sum of squares: k1 + 4 k2
    assert round((squares - total) / 2) == 3  # the three persons aged 2, solved for
    agg = release(ages, name="age")
    assert agg.stats == () and "at most three values" in agg.notes[0]
    more = np.concatenate([np.zeros(900), np.ones(12), np.full(11, 2.0)])
    assert release(more, name="age").stats != ()


def test_a_steward_can_tighten_the_rule() -> None:
    x = _value_with_share(0.6)
    assert release(np.append(TEMPS, x)).stats != ()
    assert release(np.append(TEMPS, x), max_dominance=0.5).stats == ()


# -- the sum: its shifted share never exceeds the squared one ------------------------------
@pytest.mark.parametrize("seed", range(20))
def test_the_sums_shifted_share_is_covered_by_the_squared_share(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = np.append(rng.lognormal(0, 1.5, 30), rng.normal(0, 1, 30) * seed)
    d = values - values.mean()
    squared, shifted = (d ** 2).max() / (d ** 2).sum(), np.abs(d).max() / np.abs(d).sum()
    assert shifted <= squared + 1e-12
    assert dominance_shares(values)[0] == pytest.approx(squared)


# -- ordinary data is never stopped -------------------------------------------------------
@pytest.mark.parametrize("n", [20, 50, 200, 1000])
def test_ordinary_synthetic_data_passes(n: int) -> None:
    rng = np.random.default_rng(n)
    for _ in range(200):
        for values in (rng.integers(18, 90, n).astype(float),  # ages
                       np.round(rng.normal(37, 0.5, n), 1),  # temperatures
                       np.round(rng.normal(120, 15, n)),  # blood pressure
                       np.round(rng.lognormal(1.7, 0.3, n), 1)):  # a skewed lab value
            assert moments_withheld(values, 11, DEFAULT_MAX_DOMINANCE) is None


COHORTS = {"celecoxib": Cohort.drug(1118084), "diclofenac": Cohort.drug(1124300),
           "gi_bleed": Cohort.condition(192671)}
LAB = 3006322  # GiBleed's records carry no number; the other tests plant these two kinds
PLANTED = {"lab": "((measurement_id * 7919) % 10007) / 100.0 - 20",
           "temperature": "36.0 + (measurement_id % 25) / 10.0"}


def test_gibleed_variables_pass_at_every_site(gibleed_sites: dict[str, Path]) -> None:
    columns = {k: PersonColumn(kind=k)  # type: ignore[arg-type]
               for k in ("age", "prior_observation_days", "post_observation_days")}
    checked = 0
    for site, db in gibleed_sites.items():
        with SiteStore.open(db) as data:
            for cohort in COHORTS.values():
                frame = data.person_frame(cohort, columns)
                for name in columns:
                    values = frame[name].to_numpy(dtype=float)
                    values = values[~np.isnan(values)]
                    assert values.size >= 11
                    assert moments_withheld(values, 11, DEFAULT_MAX_DOMINANCE) is None, (
                        site, name)
                    checked += 1
        with duckdb.connect(str(db), read_only=True) as con:
            for formula in PLANTED.values():
                # each person's first record, as planted by the other tests
                (values,) = zip(*con.execute(
                    f"SELECT {formula} FROM measurement WHERE measurement_id IN (SELECT "
                    f"min(measurement_id) FROM measurement WHERE measurement_concept_id = "
                    f"{LAB} GROUP BY person_id)").fetchall(), strict=True)
                assert moments_withheld(np.array(values), 11, DEFAULT_MAX_DOMINANCE) is None
                checked += 1
    assert checked == len(gibleed_sites) * (len(COHORTS) * len(columns) + len(PLANTED))


def test_gibleeds_two_one_year_olds_are_found(gibleed_sites: dict[str, Path]) -> None:
    """GiBleed's whole population enters at birth: age 0, but for two persons aged 1 at
    one site, whose sum (2) the moments would release though no histogram bin shows it."""
    found = []
    for site, db in gibleed_sites.items():
        with SiteStore.open(db) as data:
            ages = data.person_frame(Cohort.everyone(), {"age": PersonColumn(kind="age")})
        values = ages["age"].to_numpy(dtype=float)
        if moments_withheld(values, 11, DEFAULT_MAX_DOMINANCE):
            found.append(site)
            assert 0 < np.count_nonzero(values) < 11
    assert len(found) == 1


# -- the hub: a withheld block is a site that released none for the variable ---------------
def test_the_pool_leaves_a_withheld_site_out_and_says_so() -> None:
    rng = np.random.default_rng(5)
    b, c = np.round(rng.normal(37, 0.4, 120), 1), np.round(rng.normal(36.8, 0.5, 90), 1)
    releases = [("site-a", release(np.append(TEMPS, EXTREME))), ("site-b", release(b)),
                ("site-c", release(c))]
    var = Variable(name="temperature", variable="measurement", edges=EDGES, concept_ids=(1,))
    out = combine_variable(var, (0.5,), releases)
    both = np.concatenate([b, c])
    assert out["n"] == both.size
    assert out["mean"] == pytest.approx(both.mean(), abs=1e-12)
    assert out["sd"] == pytest.approx(both.std(ddof=1), abs=1e-12)
    assert out["sites_used"] == ["site-b", "site-c"] and out["complete"] is False
    assert out["moments_withheld"] == ["site-a"]
    assert out["sites"]["site-a"]["released"] is False
    assert "dominates" in out["sites"]["site-a"]["note"]
    # the bins and quantiles are those of the other two sites alone
    without = combine_variable(var, (0.5,), releases[1:])
    assert (out["histogram"], out["quantiles"]) == (without["histogram"], without["quantiles"])


# -- continuous covariates: the site's min and max make the share exact --------------------
@dataclass(frozen=True)
class Continuous:
    covariate_id: int
    covariate_name: str
    analysis_name: str
    n: int
    total: int
    total_sq: int
    minimum: int | None
    maximum: int | None

    @classmethod
    def of(cls, values: np.ndarray, cid: int = 1920) -> Continuous:
        v = [int(x) for x in values]
        return cls(cid, "visits", "visits", len(v), sum(v), sum(x * x for x in v), min(v),
                   max(v))


@dataclass(frozen=True)
class Covariates:
    persons: int
    continuous: tuple[Continuous, ...]
    binary: tuple = ()


def covariate_release(values: np.ndarray, max_dominance: float = DEFAULT_MAX_DOMINANCE,
                      min_cell: int = 11) -> SiteAggregate:
    cov = Covariates(persons=values.size, continuous=(Continuous.of(values),))
    return release_covariates("cov", cov, min_cell=min_cell,  # type: ignore[arg-type]
                              max_dominance=max_dominance)


@pytest.mark.parametrize("seed", range(30))
def test_covariate_shares_are_exact_from_min_and_max(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = rng.poisson(rng.uniform(0.5, 20), int(rng.integers(2, 300)))
    if seed % 3 == 0:
        values[0] = 5000
    exact = dominance_shares(values.astype(float))
    shares = covariate_shares(Continuous.of(values))
    assert shares is not None
    assert shares[0] == pytest.approx(exact[0], rel=1e-9)
    assert shares[1] <= exact[1] * (1 + 1e-9)  # a sure lower bound


def test_one_person_with_5000_visits_is_withheld() -> None:
    visits = np.append(np.arange(30) % 5 + 1, 5000)
    opened = combine_covariates([("s", covariate_release(visits, max_dominance=OFF))])
    (row,) = opened["continuous"]
    mean, sd, n = row["mean"], row["sd"], row["n"]
    assert abs(mean + sd * (n - 1) / math.sqrt(n) - 5000) < 1  # the attack, rule off
    agg = covariate_release(visits)
    assert [t.name for t in agg.tables] == ["persons"]
    (note,) = agg.notes
    assert "1920" in note and "one person's value dominates" in note and "5000" not in note


def test_two_persons_with_a_visit_among_many_are_withheld() -> None:
    sparse = np.append(np.zeros(1798, dtype=int), [1, 1])
    assert [t.name for t in covariate_release(sparse).tables] == ["persons"]
    five = np.append(np.zeros(1795, dtype=int), np.ones(5, dtype=int))
    (note,) = covariate_release(five).notes
    assert "a group of fewer than 11 persons" in note
    assert len(covariate_release(five, max_dominance=OFF, min_cell=1).tables) == 2


@pytest.mark.parametrize("seed", range(40))
def test_covariates_judge_small_groups_as_the_values_would(seed: int) -> None:
    """With at most three values the site's sums give the counts exactly, as to a reader."""
    rng = np.random.default_rng(seed)
    counts = rng.choice([0, 1, 3, 10, 11, 40, 500], size=3)
    if not counts.any():
        counts[0] = 20
    values = np.repeat(np.array([4, 5, 6]) + seed % 3, counts)
    if values.size < 11:
        return
    by_values = moments_withheld(values.astype(float), 11, OFF)
    by_sums = release_covariates("cov", Covariates(values.size, (Continuous.of(values),)),
                                 min_cell=11, max_dominance=OFF)  # type: ignore[arg-type]
    assert (by_values is None) == (len(by_sums.tables) == 2), counts


def test_ordinary_covariates_are_released_exactly() -> None:
    ages = np.random.default_rng(1).integers(20, 80, 200)
    (row,) = combine_covariates([("s", covariate_release(ages))])["continuous"]
    assert (row["n"], row["sum"], row["sum_sq"]) == (
        ages.size, int(ages.sum()), int((ages.astype(np.int64) ** 2).sum()))


def test_unknown_extremes_cannot_be_judged_and_are_withheld() -> None:
    c = Continuous(7, "x", "x", 50, 100, 400, None, None)
    agg = release_covariates("cov", Covariates(50, (c,)), min_cell=11)  # type: ignore[arg-type]
    assert [t.name for t in agg.tables] == ["persons"]
    assert "cannot be judged" in agg.notes[0]


# -- the policy field ---------------------------------------------------------------------
def test_the_policy_field() -> None:
    assert DisclosurePolicy().max_dominance == DEFAULT_MAX_DOMINANCE == 0.8
    assert DisclosurePolicy(max_dominance=1.0).max_dominance == 1.0
    for bad in (0.0, -0.1, 1.5, math.nan, math.inf):
        with pytest.raises(ValidationError):
            DisclosurePolicy(max_dominance=bad)
    policy = parse_policy("[disclosure]\nmax_dominance = 0.3\n")
    assert policy.disclosure.max_dominance == 0.3
    with pytest.raises(PolicyError, match=r"disclosure\.max_dominance"):
        parse_policy('[disclosure]\nmax_dominance = "half"\n')
