"""Kaplan-Meier survival of a target and a comparator cohort, pooled exactly across sites.

Site half, :func:`release_km`: one site's analysis population (one row per person:
``treatment`` 1 target / 0 comparator, ``survival_time`` in days, ``event`` 0/1) becomes, per
group, a table of intervals ``(time, events, censored)``:

* times are rounded *up* to the end of their ``time_bin_days`` bin (1: the exact day);
* consecutive bins are merged (left to right, each merged interval released at its last
  bin's end, so its persons' times are rounded up to that end) until every released
  interval's event count and censored count are each either 0 or at least the
  threshold ``k = max(site min_cell, params min_count)``; a tail that cannot reach it is
  merged back into the intervals before it;
* a group with fewer than ``k`` persons, or with 1 to ``k - 1`` events, or 1 to ``k - 1``
  censored persons, cannot be released that way and the whole analysis is refused at the
  site (:class:`~behindglass.core.errors.DisclosureError`).

The intervals travel as :class:`~behindglass.core.aggregates.StatsBlock` s (``km:target``,
``km:comparator``, shape ``(K, 3)``; ``km:form`` = ``(time_bin_days, k)``), not as person
count tables, because a count of 0 must be able to travel (an interval where everyone was
censored) and the site's person-table gate refuses zeros. Instead :func:`check_km_release`
applies the rule above to the blocks before anything leaves, and the hub checks it again.

Why nothing below ``k`` can be derived from one release: the only person counts in it are
the interval counts themselves (each 0 or >= k), their sums, and the numbers at risk,
``n_j = sum of (events + censored) over intervals j..K``, each of which includes interval
``j``'s own nonzero count, so is >= k. Persons are never split between two released
counts in a way that a difference isolates: intervals of one group are disjoint and every
released quantity is a sum of whole intervals. (Different requests on the same cohorts
with different bin widths could be differenced against each other; sites that worry about
that should keep the bin width fixed.)

Hub half, :func:`combine_km`: per group, the sites' intervals pooled at the union of their
released times (events and censorings summed, numbers at risk summed), then the
Kaplan-Meier estimate, Greenwood standard error, a pointwise interval (log-log by default;
plain or log), the median (and quartiles) with the Brookmeyer-Crowley interval as
statsmodels ``SurvfuncRight.quantile_ci`` computes it, and the log-rank test of target
against comparator (pooled, and stratified by site). With ``min_cell`` 1 and
``time_bin_days`` 1 the result is the Kaplan-Meier estimate of the pooled rows exactly; with
binning, that of the pooled rows with binned times.

Catalog entry, :class:`KaplanMeierAnalysis` (kind ``kaplan_meier``): target ``cohort``,
``comparator`` and exactly one of ``outcomes``; the site's store builds the population with
``SiteData.population`` (:class:`~behindglass.core.population.PopulationSettings` from
``params["population"]``).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
from scipy.stats import chi2, norm

from behindglass.analyses.params import check_alpha, check_keys, one_outcome
from behindglass.core.aggregates import SiteAggregate, StatsBlock
from behindglass.core.errors import DisclosureError, SpecError
from behindglass.core.population import PopulationSettings
from behindglass.core.sitedata import SiteContext
from behindglass.core.study import AnalysisSpec

KIND = "kaplan_meier"
# group name -> value of the population's ``treatment`` column
GROUPS: Mapping[str, int] = {"target": 1, "comparator": 0}
CONF_TYPES = ("log-log", "plain", "log")
# the matching g-transformation of statsmodels' quantile_ci, for the quantile intervals
QUANTILE_METHOD = {"log-log": "cloglog", "plain": "linear", "log": "log"}
QUANTILES = (0.25, 0.5, 0.75)
MAX_BIN_DAYS = 3650
MAX_DAYS = 100_000
MAX_AT_RISK_TIMES = 100
PARAMS = {"time_bin_days", "min_count", "conf_type", "alpha", "at_risk_times", "population"}


# -- parameters ----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class KmParams:
    time_bin_days: int
    min_count: int | None
    conf_type: str
    alpha: float
    at_risk_times: tuple[int, ...] | None
    population: dict[str, Any]


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def km_params(spec: AnalysisSpec) -> KmParams:
    """The request's parameters, checked, with defaults filled in."""
    check_keys(spec, PARAMS)
    p = spec.params
    bin_days = p.get("time_bin_days", 1)
    if not _is_int(bin_days) or not 1 <= bin_days <= MAX_BIN_DAYS:
        raise SpecError(f"{spec.name}: 'time_bin_days' must be a whole number of days from 1 "
                        f"to {MAX_BIN_DAYS}, got {bin_days!r}")
    min_count = p.get("min_count")
    if min_count is not None and (not _is_int(min_count) or not 1 <= min_count <= 1000):
        raise SpecError(f"{spec.name}: 'min_count' must be an integer from 1 to 1000 (the "
                        f"site's min_cell applies if larger) or null, got {min_count!r}")
    conf_type = p.get("conf_type", "log-log")
    if conf_type not in CONF_TYPES:
        raise SpecError(f"{spec.name}: 'conf_type' must be one of {list(CONF_TYPES)}, "
                        f"got {conf_type!r}")
    alpha = check_alpha(spec)
    times = p.get("at_risk_times")
    if times is not None:
        if (not isinstance(times, list | tuple) or not 1 <= len(times) <= MAX_AT_RISK_TIMES
                or not all(_is_int(t) and 0 <= t <= MAX_DAYS for t in times)
                or any(a >= b for a, b in itertools.pairwise(times))):
            raise SpecError(f"{spec.name}: 'at_risk_times' must be an increasing list of 1 to "
                            f"{MAX_AT_RISK_TIMES} whole days from 0 to {MAX_DAYS}, or null, "
                            f"got {times!r}")
        times = tuple(times)
    population = p.get("population", {})
    if not isinstance(population, dict):
        raise SpecError(f"{spec.name}: 'population' must be an object of population "
                        f"settings, got {population!r}")
    return KmParams(time_bin_days=bin_days, min_count=min_count, conf_type=conf_type,
                    alpha=float(alpha), at_risk_times=times, population=dict(population))


def population_settings(spec: AnalysisSpec, raw: dict[str, Any]) -> PopulationSettings:
    """``params["population"]`` as the store's settings. Raises SpecError."""
    settings = PopulationSettings.from_dict(raw, where=f"{spec.name}: 'population'")
    if settings.min_days_at_risk < 1:
        raise SpecError(f"{spec.name}: Kaplan-Meier needs every person at risk for at least "
                        "a day; 'population.min_days_at_risk' must be at least 1, got "
                        f"{settings.min_days_at_risk}")
    return settings


def _check_cohorts(spec: AnalysisSpec) -> None:
    if spec.comparator is None:
        raise SpecError(f"{spec.name}: Kaplan-Meier compares a target with a 'comparator' "
                        "cohort; none was given")
    if spec.comparator == spec.cohort:
        raise SpecError(f"{spec.name}: the comparator must differ from the target cohort "
                        f"({spec.cohort!r})")
    one_outcome(spec, "Kaplan-Meier")


# -- site half -----------------------------------------------------------------------------
def event_table(time: np.ndarray, event: np.ndarray, bin_days: int = 1
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct times (rounded up to bin ends) with events and censorings at each."""
    t = np.asarray(time, dtype=np.int64)
    e = np.asarray(event, dtype=np.int64)
    binned = -(-t // bin_days) * bin_days  # ceiling to the end of the bin
    times, inverse = np.unique(binned, return_inverse=True)
    d = np.bincount(inverse, weights=e, minlength=len(times)).astype(np.int64)
    n = np.bincount(inverse, minlength=len(times)).astype(np.int64)
    return times, d, n - d


def merge_intervals(times: np.ndarray, d: np.ndarray, c: np.ndarray, k: int
                    ) -> list[tuple[int, int, int]]:
    """Merge consecutive times into intervals whose event and censored counts are each 0 or
    at least ``k``; each interval is released at its last time. The totals must already be
    0 or >= k each (else merging everything would not do either)."""
    def ok(x: int) -> bool:
        return x == 0 or x >= k

    out: list[tuple[int, int, int]] = []
    acc_d = acc_c = 0
    for t, dj, cj in zip(times.tolist(), d.tolist(), c.tolist(), strict=True):
        acc_d += dj
        acc_c += cj
        if (acc_d or acc_c) and ok(acc_d) and ok(acc_c):
            out.append((t, acc_d, acc_c))
            acc_d = acc_c = 0
    if acc_d or acc_c:  # a tail short of k: merge it back into the intervals before it
        last = int(times[-1])
        while out and not (ok(acc_d) and ok(acc_c)):
            _, dl, cl = out.pop()
            acc_d += dl
            acc_c += cl
        if not (ok(acc_d) and ok(acc_c)):
            raise DisclosureError("internal: totals below the threshold reached merging")
        out.append((last, acc_d, acc_c))
    return out


def _group_block(name: str, group: str, time: np.ndarray, event: np.ndarray, *,
                 bin_days: int, k: int) -> StatsBlock:
    persons = len(time)
    events = int(np.sum(event))
    censored = persons - events
    # reasons name the group and the threshold only, never a count
    if persons < k:
        raise DisclosureError(f"{name}: the {group} group has fewer than {k} persons at this "
                              "site; Kaplan-Meier refused")
    if 0 < events < k:
        raise DisclosureError(f"{name}: the {group} group has outcome events at this site, "
                              f"but fewer than {k}; Kaplan-Meier refused")
    if 0 < censored < k:
        raise DisclosureError(f"{name}: the {group} group has censored persons at this site, "
                              f"but fewer than {k}; Kaplan-Meier refused")
    times, d, c = event_table(time, event, bin_days)
    rows = merge_intervals(times, d, c, k)
    return StatsBlock(name=f"km:{group}", shape=(len(rows), 3),
                      values=tuple(float(v) for row in rows for v in row))


def release_km(name: str, frame: Any, *, time_bin_days: int, min_cell: int) -> SiteAggregate:
    """Site half: the disclosure-controlled interval tables of one site's population.

    ``frame`` has one row per person with ``treatment`` (1/0), ``survival_time`` (days, >= 1)
    and ``event`` (0/1); ``min_cell`` is the threshold ``k`` (the site's, or the request's
    ``min_count`` if larger)."""
    if min_cell < 1:
        raise SpecError(f"min_cell must be at least 1, got {min_cell}")
    if not 1 <= time_bin_days <= MAX_BIN_DAYS:
        raise SpecError(f"time_bin_days must be from 1 to {MAX_BIN_DAYS}, got {time_bin_days}")
    missing = {"treatment", "survival_time", "event"} - set(frame.columns)
    if missing:
        raise ValueError(f"the analysis population lacks columns {sorted(missing)}")
    treatment = np.asarray(frame["treatment"], dtype=np.int64)
    time = np.asarray(frame["survival_time"])
    event = np.asarray(frame["event"], dtype=np.int64)
    if not np.all(np.isin(treatment, (0, 1))) or not np.all(np.isin(event, (0, 1))):
        raise ValueError("treatment and event must be 0 or 1")
    if len(time) and (not np.all(np.equal(np.mod(time, 1), 0)) or np.min(time) < 1):
        raise ValueError("survival_time must be whole days, at least 1")
    blocks = [StatsBlock(name="km:form", shape=(2,),
                         values=(float(time_bin_days), float(min_cell)))]
    for group, value in GROUPS.items():
        mask = treatment == value
        blocks.append(_group_block(name, group, time[mask], event[mask],
                                   bin_days=time_bin_days, k=min_cell))
    agg = SiteAggregate(analysis=name, kind=KIND, stats=tuple(blocks), notes=(
        f"Kaplan-Meier intervals: times rounded up to {time_bin_days}-day bins; every "
        f"released count is 0 or at least {min_cell}",))
    check_km_release(agg, min_cell)
    return agg


def _intervals(agg: SiteAggregate, group: str) -> np.ndarray:
    """A released group's intervals as an int array (K, 3); ValueError if malformed."""
    block = agg.block(f"km:{group}")
    if len(block.shape) != 2 or block.shape[1] != 3 or block.shape[0] < 1:
        raise ValueError(f"km:{group} must have shape (K >= 1, 3), got {block.shape}")
    raw = np.asarray(block.values, dtype=np.float64).reshape(block.shape)
    if not np.all(raw == np.round(raw)) or np.any(raw < 0) or np.any(raw > 2**52):
        raise ValueError(f"km:{group} must hold whole non-negative numbers")
    rows = raw.astype(np.int64)
    if np.any(rows[:, 0] < 1) or np.any(np.diff(rows[:, 0]) <= 0):
        raise ValueError(f"km:{group} times must be positive and strictly increasing")
    return rows


def check_km_release(agg: SiteAggregate, k: int) -> None:
    """The release rule, on what would leave the site: per group, intervals with increasing
    times, each with a nonzero count, every nonzero count (events, censored) at least ``k``
    and the group at least ``k`` persons; nothing else in the aggregate. Raises
    DisclosureError."""
    if agg.kind != KIND or agg.tables:
        raise DisclosureError(f"{agg.analysis}: a Kaplan-Meier release holds interval blocks "
                              "only; refused")
    expected = {"km:form", *(f"km:{g}" for g in GROUPS)}
    names = [b.name for b in agg.stats]
    if sorted(names) != sorted(expected):
        raise DisclosureError(f"{agg.analysis}: unexpected statistics {names}; refused")
    for group in GROUPS:
        try:
            rows = _intervals(agg, group)
        except ValueError as exc:
            raise DisclosureError(f"{agg.analysis}: {exc}; refused") from None
        counts = rows[:, 1:]
        if (np.any((counts > 0) & (counts < k)) or np.any(counts.sum(axis=1) == 0)
                or counts.sum() < k):
            raise DisclosureError(f"{agg.analysis}: the {group} intervals break the rule of "
                                  f"counts 0 or at least {k}; refused")


# -- hub half ------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Pooled:
    """One group's pooled table at the union of released times."""

    times: np.ndarray      # int, increasing
    n_risk: np.ndarray     # persons with time >= t
    events: np.ndarray
    censored: np.ndarray
    persons: int


def pool_intervals(tables: Sequence[np.ndarray]) -> Pooled:
    """Pool sites' (K, 3) interval tables of one group at the union of their times."""
    if not tables:
        empty = np.zeros(0, dtype=np.int64)
        return Pooled(empty, empty, empty, empty, 0)
    times = np.unique(np.concatenate([t[:, 0] for t in tables]))
    n_risk = np.zeros(len(times), dtype=np.int64)
    d = np.zeros(len(times), dtype=np.int64)
    c = np.zeros(len(times), dtype=np.int64)
    persons = 0
    for t in tables:
        exits = t[:, 1] + t[:, 2]
        total = int(exits.sum())
        persons += total
        before = np.concatenate(([0], np.cumsum(exits)))
        n_risk += total - before[np.searchsorted(t[:, 0], times, side="left")]
        at = np.searchsorted(times, t[:, 0])
        d[at] += t[:, 1]
        c[at] += t[:, 2]
    return Pooled(times, n_risk, d, c, persons)


def _num(x: float) -> float | None:
    """A float for JSON: NaN and infinities become None."""
    return float(x) if math.isfinite(x) else None


def km_curve(p: Pooled, alpha: float = 0.05, conf_type: str = "log-log"
             ) -> dict[str, np.ndarray]:
    """Kaplan-Meier estimate, Greenwood SE and pointwise interval at every pooled time
    (survival steps at times with events; censor-only times carry it forward)."""
    n = p.n_risk.astype(np.float64)
    d = p.events.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(np.where(d > 0, 1 - d / np.where(n > 0, n, 1), 1.0))
        term = np.where(d > 0, d / (n * (n - d)), 0.0)
        term[(d > 0) & (n == d)] = np.nan  # survival reaches 0: no variance thereafter
        cumvar = np.cumsum(term)  # Greenwood's sum, the variance of the cumulative hazard
        se = surv * np.sqrt(cumvar)
        se[surv == 0] = np.nan
        z = float(norm.ppf(1 - alpha / 2))
        root = np.sqrt(cumvar)
        if conf_type == "plain":
            lower = np.clip(surv - z * se, 0, 1)
            upper = np.clip(surv + z * se, 0, 1)
        elif conf_type == "log":
            lower = np.clip(surv * np.exp(-z * root), 0, 1)
            upper = np.clip(surv * np.exp(z * root), 0, 1)
        else:  # log-log: the interval of log(-log S), mapped back
            logs = np.log(surv)
            lower = surv ** np.exp(-z * root / logs)
            upper = surv ** np.exp(z * root / logs)
        start = cumvar == 0  # before the first event: S = 1 exactly
        lower[start] = upper[start] = 1.0
        bad = ~np.isfinite(se)
        lower[bad] = upper[bad] = np.nan
    return {"survival": surv, "se": se, "lower": lower, "upper": upper}


def _g(method: str) -> tuple[Any, Any]:
    if method == "cloglog":
        return (lambda x: np.log(-np.log(x))), (lambda x: -1 / (x * np.log(x)))
    if method == "log":
        return np.log, (lambda x: 1 / x)
    return (lambda x: x), (lambda x: np.ones_like(x))


def quantile(times: np.ndarray, surv: np.ndarray, se: np.ndarray, q: float,
             alpha: float = 0.05, method: str = "cloglog") -> dict[str, float | None]:
    """The survival quantile ``q`` (first event time with S < 1 - q, as statsmodels and SAS
    do) and its Brookmeyer-Crowley interval (statsmodels ``quantile_ci``); ``times``,
    ``surv`` and ``se`` at event times only. None: not reached / not bounded."""
    below = np.flatnonzero(surv < 1 - q)
    est = float(times[below[0]]) if len(below) else math.nan
    g, gprime = _g(method)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (g(surv) - g(1 - q)) / (gprime(surv) * se)
    inside = np.flatnonzero(np.abs(r) <= norm.ppf(1 - alpha / 2))
    if len(inside) == 0:
        lb = ub = math.nan
    else:
        lb = float(times[inside[0]])
        ub = (math.inf if inside[-1] == len(times) - 1 else float(times[inside[-1] + 1]))
    return {"time": _num(est), "lower": _num(lb), "upper": _num(ub)}


def logrank_terms(target: Pooled, comparator: Pooled) -> tuple[float, float, float, float]:
    """(observed - expected, variance, expected target, expected comparator) of the log-rank
    statistic for the target group, over the union of both groups' times."""
    times = np.union1d(target.times, comparator.times)

    def at(p: Pooled) -> tuple[np.ndarray, np.ndarray]:
        if len(p.times) == 0:
            return np.zeros(len(times)), np.zeros(len(times))
        idx = np.searchsorted(p.times, times, side="left")
        # persons at risk at t: those released at t or later
        later = np.concatenate((np.cumsum((p.events + p.censored)[::-1])[::-1], [0]))
        d = np.zeros(len(times))
        hit = np.isin(times, p.times)
        d[hit] = p.events[np.searchsorted(p.times, times[hit])]
        return later[idx].astype(np.float64), d

    n1, d1 = at(target)
    n0, d0 = at(comparator)
    n, d = n1 + n0, d1 + d0
    with np.errstate(divide="ignore", invalid="ignore"):
        e1 = np.where(n > 0, n1 / n * d, 0.0)
        e0 = np.where(n > 0, n0 / n * d, 0.0)
        var = np.where(n > 1, n1 * n0 * d * (n - d) / (n * n * (n - 1)), 0.0)
    use = n > 1  # statsmodels' survdiff sums over times with more than one at risk
    return (float(np.sum((d1 - e1)[use])), float(np.sum(var[use])), float(np.sum(e1)),
            float(np.sum(e0)))


def _test(oe: float, var: float) -> dict[str, float | None]:
    if not var > 0:
        return {"chi2": None, "df": 1, "p_value": None}
    stat = oe * oe / var
    return {"chi2": stat, "df": 1, "p_value": float(chi2.sf(stat, 1))}


def _nice_step(top: int) -> int:
    raw = max(top / 6, 1)
    base = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * base >= raw:
            return int(m * base)
    return int(10 * base)


def at_risk(p: Pooled, times: Sequence[int]) -> list[int]:
    """Persons whose released time is at or after each of ``times``."""
    if len(p.times) == 0:
        return [0] * len(times)
    later = np.concatenate((np.cumsum((p.events + p.censored)[::-1])[::-1], [0]))
    return [int(later[np.searchsorted(p.times, t, side="left")]) for t in times]


def combine_km(releases: list[tuple[str, SiteAggregate]], *, time_bin_days: int = 1,
               alpha: float = 0.05, conf_type: str = "log-log",
               at_risk_times: Sequence[int] | None = None) -> dict[str, Any]:
    """Hub half: pooled Kaplan-Meier curves, quantiles and log-rank test."""
    used: list[str] = []
    rejected: dict[str, str] = {}
    per_site: dict[str, dict[str, np.ndarray]] = {}
    for site, agg in releases:
        try:
            form = agg.block("km:form").values
            if len(form) != 2 or int(form[0]) != time_bin_days:
                raise ValueError("released with another time_bin_days")
            tables = {g: _intervals(agg, g) for g in GROUPS}
            k = int(form[1])
            for g, rows in tables.items():
                counts = rows[:, 1:]
                if (k < 1 or np.any((counts > 0) & (counts < k)) or np.any(counts.sum(1) == 0)
                        or counts.sum() < k):
                    raise ValueError(f"{g} intervals break the site's own rule")
                if np.any(rows[:, 0] % time_bin_days):
                    raise ValueError(f"{g} times are not bin ends")
        except (KeyError, ValueError) as exc:
            rejected[site] = f"malformed Kaplan-Meier release: {exc}"
            continue
        used.append(site)
        per_site[site] = tables
    pooled = {g: pool_intervals([per_site[s][g] for s in used]) for g in GROUPS}
    method = QUANTILE_METHOD[conf_type]
    groups: dict[str, Any] = {}
    for g, p in pooled.items():
        curve = km_curve(p, alpha, conf_type)
        ev = p.events > 0
        quants = {f"{q:g}": quantile(p.times[ev], curve["survival"][ev], curve["se"][ev], q,
                                     alpha, method) for q in QUANTILES}
        groups[g] = {
            "persons": p.persons, "events": int(p.events.sum()),
            "censored": int(p.censored.sum()),
            "median": quants["0.5"], "quantiles": quants,
            "table": [{"time": int(p.times[i]), "n_risk": int(p.n_risk[i]),
                       "n_events": int(p.events[i]), "n_censored": int(p.censored[i]),
                       "survival": float(curve["survival"][i]), "se": _num(curve["se"][i]),
                       "lower": _num(curve["lower"][i]), "upper": _num(curve["upper"][i])}
                      for i in range(len(p.times))],
            "sites": {s: {"persons": int(per_site[s][g][:, 1:].sum()),
                          "events": int(per_site[s][g][:, 1].sum()),
                          "intervals": len(per_site[s][g])} for s in used},
        }
    oe, var, e1, e0 = logrank_terms(pooled["target"], pooled["comparator"])
    s_oe = s_var = 0.0
    for s in used:
        a, b, _, _ = logrank_terms(pool_intervals([per_site[s]["target"]]),
                                   pool_intervals([per_site[s]["comparator"]]))
        s_oe += a
        s_var += b
    logrank = {**_test(oe, var), "observed_minus_expected": oe, "variance": var,
               "observed": {g: groups[g]["events"] for g in GROUPS},
               "expected": {"target": e1, "comparator": e0},
               "stratified_by_site": {**_test(s_oe, s_var), "observed_minus_expected": s_oe,
                                      "variance": s_var}}
    if at_risk_times is None:
        top = max((int(p.times[-1]) for p in pooled.values() if len(p.times)), default=0)
        step = _nice_step(top)
        at_risk_times = list(range(0, top + 1, step)) if top else [0]
    return {
        "kind": KIND, "sites": used, "rejected": rejected, "time_bin_days": time_bin_days,
        "alpha": alpha, "conf_type": conf_type, "groups": groups, "logrank": logrank,
        "at_risk": {"times": list(at_risk_times),
                    **{g: at_risk(p, at_risk_times) for g, p in pooled.items()}},
    }


# -- catalog entry -------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class KaplanMeierAnalysis:
    """Kaplan-Meier curves of target and comparator to the outcome, and their log-rank test."""

    kind: ClassVar[str] = KIND

    def validate(self, spec: AnalysisSpec) -> None:
        _check_cohorts(spec)
        population_settings(spec, km_params(spec).population)

    def local(self, site: SiteContext, spec: AnalysisSpec) -> SiteAggregate:
        _check_cohorts(spec)
        p = km_params(spec)
        settings = population_settings(spec, p.population)
        assert spec.comparator is not None  # _check_cohorts
        frame = site.data.population(site.cohort(spec.cohort), site.cohort(spec.comparator),
                                     site.cohort(spec.outcomes[0]), settings)
        k = max(site.policy.min_cell, p.min_count or 1)
        return release_km(spec.name, frame, time_bin_days=p.time_bin_days, min_cell=k)

    def combine(self, spec: AnalysisSpec,
                releases: list[tuple[str, SiteAggregate]]) -> dict[str, Any]:
        p = km_params(spec)
        pooled = combine_km(releases, time_bin_days=p.time_bin_days, alpha=p.alpha,
                            conf_type=p.conf_type, at_risk_times=p.at_risk_times)
        return {"analysis": spec.name, "target": spec.cohort, "comparator": spec.comparator,
                "outcome": spec.outcomes[0] if spec.outcomes else None, **pooled}
