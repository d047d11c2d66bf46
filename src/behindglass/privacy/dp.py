"""Optional differential privacy on a release, with OpenDP's mechanisms.

When a site turns on ``[privacy]`` in its policy (:class:`~behindglass.core.policy.
PrivacyRules`), every release passes :func:`apply_dp` before small-cell suppression:

* **Counts of persons.** One person added to or removed from the data changes one cell of a
  table that partitions persons (a table with a ``margin``, or a one-cell total) by 1: the
  table is a histogram of L1 (and L2) sensitivity 1. A table without a margin (top concepts,
  binary covariates) may count one person in every cell, so its sensitivity is its number of
  cells (L1; the square root of it in L2). Counts get OpenDP's discrete Laplace
  (``make_laplace`` on integers) or discrete Gaussian (``make_gaussian``), and a noisy count
  below 0 is released as 0 (post-processing, which costs no privacy).
* **Descriptive statistics** (kind ``descriptive``): the person count and the histogram
  as above; the sum and the sum of squares (shifted, see :func:`_moments`) through
  continuous Laplace / Gaussian noise with the sensitivity OpenDP's ``make_sum`` gives for
  values clamped to the request's bin range. This module sees only the aggregate, so it
  cannot clamp: it checks that the histogram's two open bins are empty (every value already
  in range) or that the site half clamped (``clamped=True``), and otherwise refuses, saying
  why.
* **Model statistics** (glm, cox, kaplan_meier, cohort_method) and **person-time or event
  counts** (incidence) have no bound on what one person changes: refused with a
  :class:`~behindglass.core.errors.DisclosureError`. Continuous covariates (sums of values)
  are withheld from a covariates release, with a note.
* Tables that do not count persons (data-quality checks) pass unchanged and cost nothing.

Accounting is sequential composition: a release of ``k`` planned queries gives each
``epsilon / k`` (and ``delta / k``); OpenDP searches the smallest noise scale whose privacy
map at the query's sensitivity is within that share, and the release's spend is the sum of
the maps of the queries actually made. A descriptive release plans four queries per
variable (count, histogram, sum, sum of squares) whatever the data, so the scale does not
depend on which of them the data lets through.

Randomness is OpenDP's (a cryptographically secure generator in its Rust core); nothing
here draws noise itself. What DP does not cover, and the docs say so: which categories a
table lists (the site's data decides it), and small-cell suppression and refusals decided
on true values. See ``docs/differential_privacy.md``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import opendp.prelude as dp

from behindglass.core.aggregates import (
    Cell,
    CountTable,
    PrivacyNote,
    SiteAggregate,
    StatsBlock,
    person_level,
)
from behindglass.core.errors import DisclosureError
from behindglass.core.policy import PrivacyRules

dp.enable_features("contrib")

DESCRIPTIVE = "descriptive"
MODEL_KINDS = frozenset({"glm", "cox", "kaplan_meier", "cohort_method"})
# kinds whose counts are not of persons (one person can change them by more than one)
UNBOUNDED_KINDS: Mapping[str, str] = {
    "incidence": "releases person-days and counts of events, which one person can change by "
                 "more than one",
}
# per kind, prefixes of tables that hold sums of values rather than person counts
WITHHELD_TABLES: Mapping[str, tuple[str, ...]] = {"covariates": ("continuous:",)}
QUERIES_PER_VARIABLE = 4  # n, histogram, sum, sum of squares


# -- OpenDP measurements -------------------------------------------------------------------
def _spend(measurement: dp.Measurement, d_in: Any) -> tuple[float, float]:
    """(epsilon, delta) of ``measurement`` at sensitivity ``d_in``, by OpenDP's own map."""
    out = measurement.map(d_in)
    return (float(out[0]), float(out[1])) if isinstance(out, tuple) else (float(out), 0.0)


def _search(make: Any, d_in: Any, epsilon: float, delta: float,
            mechanism: str) -> tuple[dp.Measurement, float]:
    """The smallest scale whose privacy map at ``d_in`` is within the share, searched by
    OpenDP between bounds that surely hold it (an open search overflows for a large
    sensitivity with the Gaussian)."""
    d_out: Any = epsilon if mechanism == "laplace" else (epsilon, delta)
    sens = float(d_in)
    if mechanism == "laplace":
        lower, upper = 0.5 * sens / epsilon, 2 * sens / epsilon
    else:  # below: rho > epsilon; above: sigma = c * sens / epsilon meets (epsilon, delta)
        lower = 0.5 * sens / math.sqrt(2 * epsilon)
        upper = (2 * (1 + 2 * math.sqrt(2 * math.log(2 / delta))) + math.sqrt(epsilon)) \
            * sens / epsilon
    scale = dp.binary_search_param(make, d_in=d_in, d_out=d_out, bounds=(lower, upper), T=float)
    return make(scale), float(scale)


def _approx(meas: dp.Measurement, delta: float) -> dp.Measurement:
    # zCDP -> (epsilon, delta)-DP at the release's delta share
    return dp.c.make_fix_delta(dp.c.make_zCDP_to_approxDP(meas), delta)


@functools.lru_cache(maxsize=512)
def count_measurement(mechanism: str, cells: int, epsilon: float,
                      delta: float) -> tuple[dp.Measurement, Any, float]:
    """Noise for a vector of person counts in which one person changes up to ``cells``
    cells by 1 (1 for a partition): (measurement, its sensitivity, scale)."""
    if mechanism == "laplace":
        space = dp.vector_domain(dp.atom_domain(T="i64")), dp.l1_distance(T="i64")
        d_in: Any = cells
        meas, scale = _search(lambda s: dp.m.make_laplace(*space, scale=s), d_in, epsilon,
                              0.0, mechanism)
    else:
        space = dp.vector_domain(dp.atom_domain(T="i64")), dp.l2_distance(T=float)
        d_in = math.sqrt(cells)
        meas, scale = _search(lambda s: _approx(dp.m.make_gaussian(*space, scale=s), delta),
                              d_in, epsilon, delta, mechanism)
    return meas, d_in, scale


def sum_sensitivity(lower: float, upper: float) -> float:
    """What one person added or removed changes a sum of values clamped to
    ``[lower, upper]``, by OpenDP's ``make_sum`` (float rounding included)."""
    domain = dp.vector_domain(dp.atom_domain(bounds=(float(lower), float(upper))))
    return float(dp.t.make_sum(domain, dp.symmetric_distance()).map(1))


@functools.lru_cache(maxsize=512)
def value_measurement(mechanism: str, sensitivity: float, epsilon: float,
                      delta: float) -> tuple[dp.Measurement, float]:
    """Continuous noise for one real statistic of the given sensitivity: (measurement,
    scale)."""
    space = dp.atom_domain(T=float, nan=False), dp.absolute_distance(T=float)
    if mechanism == "laplace":
        return _search(lambda s: dp.m.make_laplace(*space, scale=s), sensitivity, epsilon,
                       0.0, mechanism)
    return _search(lambda s: _approx(dp.m.make_gaussian(*space, scale=s), delta),
                   sensitivity, epsilon, delta, mechanism)


# -- the release ---------------------------------------------------------------------------
class _Ledger:
    """The queries made for one release: their spend and scales."""

    def __init__(self, rules: PrivacyRules, planned: int) -> None:
        self.mechanism = rules.mechanism
        self.epsilon = rules.epsilon / planned
        self.delta = rules.delta / planned if rules.mechanism == "gaussian" else 0.0
        self.spent: list[tuple[float, float]] = []
        self.scales: dict[str, float] = {}

    def counts(self, name: str, counts: list[int], cells: int) -> list[int]:
        meas, d_in, scale = count_measurement(self.mechanism, cells, self.epsilon, self.delta)
        self.spent.append(_spend(meas, d_in))
        self.scales[name] = scale
        return [max(0, int(v)) for v in meas(counts)]  # clamped at 0: post-processing

    def value(self, name: str, x: float, sensitivity: float) -> float:
        meas, scale = value_measurement(self.mechanism, sensitivity, self.epsilon, self.delta)
        self.spent.append(_spend(meas, sensitivity))
        self.scales[name] = scale
        return float(meas(float(x)))


def _noisy_table(table: CountTable, ledger: _Ledger, keys: Sequence[tuple[str, ...]] | None,
                 labels: Mapping[str, str] | None = None) -> CountTable:
    """``table`` with noise on every count (over ``keys`` when the key set is public, zeros
    included); suppressed cells stay suppressed."""
    counts = {c.key: c.count for c in table.cells}
    public = keys is not None
    if keys is None:
        keys = [c.key for c in table.cells]
    shown = [k for k in keys if counts.get(k, 0) is not None]
    partition = table.margin is not None or len(keys) <= 1
    noisy = dict(zip(shown, ledger.counts(table.name, [counts.get(k) or 0 for k in shown],
                                          1 if partition else max(1, len(shown))), strict=True))
    cells = []
    for key in keys:
        if counts.get(key, 0) is None:
            cells.append(Cell(key=key, suppressed=True))
        elif not public or noisy[key]:
            # a public key is listed by its noisy count alone (0: unlisted, an exact zero
            # under a margin), never by whether the true count was 0
            cells.append(Cell(key=key, count=noisy[key]))
    update: dict[str, Any] = {"cells": tuple(cells)}
    if labels is not None:
        listed = {" / ".join(c.key) for c in cells}
        update["labels"] = {k: v for k, v in labels.items() if k in listed}
    return table.model_copy(update=update)


def _bin_label(i: int, edges: Sequence[float]) -> str:
    # the label analyses.descriptive gives bin i (privacy may not import analyses)
    left = "-inf" if i == 0 else f"{edges[i - 1]:g}"
    right = "inf" if i == len(edges) else f"{edges[i]:g}"
    return f"[{left}, {right})"


def _check_refused(aggregate: SiteAggregate) -> None:
    kind, name = aggregate.kind, aggregate.analysis
    if kind in MODEL_KINDS or (aggregate.stats and kind != DESCRIPTIVE):
        raise DisclosureError(
            f"{name}: analysis kind {kind!r} releases model statistics, which this site's "
            "differential-privacy policy cannot protect; refused")
    if kind in UNBOUNDED_KINDS:
        raise DisclosureError(
            f"{name}: analysis kind {kind!r} {UNBOUNDED_KINDS[kind]}, which this site's "
            "differential-privacy policy cannot protect; refused")


def _check_in_range(aggregate: SiteAggregate, var: str, edges: Sequence[float]) -> None:
    """Refuse moments whose values may lie outside ``[edges[0], edges[-1]]``: bounding the
    sum needs the values clamped, which needs the rows this module never sees."""
    hist = aggregate.table(f"hist:{var}") if f"hist:{var}" in _names(aggregate) else None
    open_bins = {("0",), (str(len(edges)),)}
    outside = hist is None or any(c.key in open_bins and (c.suppressed or c.count)
                                  for c in hist.cells)
    if outside:
        raise DisclosureError(
            f"{aggregate.analysis}: variable {var!r} has values outside its bin edges "
            f"[{edges[0]:g}, {edges[-1]:g}] (or this site cannot tell); differential privacy "
            "on its mean and SD needs every value clamped to that range, which needs the "
            "rows, not the release; refused. Ask again with edges that cover every value")


def _names(aggregate: SiteAggregate) -> set[str]:
    return {t.name for t in aggregate.tables}


def _moments(block: StatsBlock, n: int, ledger: _Ledger, edges: Sequence[float],
             min_cell: int) -> StatsBlock | None:
    """Noisy (n, sum, sum of squared deviations) from the noisy ``n``; None (withheld)
    when the noisy ``n`` is too small to divide by or below the minimum cell.

    The queries are shifted sums, which carry the same information with less noise: the
    sum of ``x - s`` (``s`` 0 or the range's centre, whichever OpenDP bounds tighter) and
    the sum of ``(x - c)**2`` about the centre ``c``, whose sensitivity is a quarter of the
    range squared instead of the largest square. The true ``n`` enters only the queries'
    values, never what is released beside them."""
    lower, upper = float(edges[0]), float(edges[-1])
    if n < max(2, min_cell):  # decided on the noisy n: post-processing, nothing spent
        return None
    true_n, total, ss = block.values
    centre, half = (lower + upper) / 2, (upper - lower) / 2
    plain, centred = sum_sensitivity(lower, upper), sum_sensitivity(-half, half)
    shift = 0.0 if plain <= centred else centre
    mean = total / true_n if true_n else centre
    noisy_s1 = ledger.value(f"{block.name}/sum", total - shift * true_n, min(plain, centred))
    noisy_s2 = ledger.value(f"{block.name}/sum_sq", ss + true_n * (mean - centre) ** 2,
                            sum_sensitivity(0.0, half * half))
    # post-processing: the mean within the range, the squared deviations not negative
    noisy_mean = min(max((noisy_s1 + shift * n) / n, lower), upper)
    noisy_ss = max(0.0, noisy_s2 - n * (noisy_mean - centre) ** 2)
    return StatsBlock(name=block.name, shape=(3,), values=(float(n), noisy_mean * n, noisy_ss))


def _planned(aggregate: SiteAggregate, tables: list[CountTable]) -> int:
    if aggregate.kind == DESCRIPTIVE:
        return QUERIES_PER_VARIABLE * sum(t.name.startswith("n:") for t in aggregate.tables)
    return len(tables)


def apply_dp(aggregate: SiteAggregate, rules: PrivacyRules, *,
             edges: Mapping[str, Sequence[float]] | None = None, clamped: bool = False,
             min_cell: int = 1) -> tuple[SiteAggregate, float]:
    """The release with differential privacy under ``rules``, and the epsilon it spent.

    Call it on the analysis' output *before* small-cell suppression, so suppression works on
    noisy counts (post-processing). ``edges``: for a descriptive release, each variable's
    bin edges from the request (the bounds of its sum). ``clamped``: the site half clamped
    every value into ``[edges[0], edges[-1]]``. ``min_cell``: the site's minimum cell;
    moments whose noisy count falls below it are withheld. With ``rules.enabled`` false the
    aggregate is returned unchanged at no cost.
    """
    if not rules.enabled:
        return aggregate, 0.0
    _check_refused(aggregate)
    kind = aggregate.kind
    withheld = [t for t in aggregate.tables
                if t.name.startswith(WITHHELD_TABLES.get(kind, ("\0",)))]
    keep = [t for t in aggregate.tables if t not in withheld]
    noised = [t for t in keep if person_level(t, kind)]
    planned = _planned(aggregate, noised)
    if not planned:
        return aggregate, 0.0  # nothing counts persons: nothing to protect, nothing spent
    var_edges: dict[str, Sequence[float]] = {}
    if kind == DESCRIPTIVE:
        for t in noised:
            var = t.name.split(":", 1)[1]
            if t.name.startswith("n:"):
                if edges is None or var not in edges or not edges[var]:
                    raise DisclosureError(
                        f"{aggregate.analysis}: differential privacy on variable {var!r} needs "
                        "its bin edges from the request (the bounds of its values); refused")
                var_edges[var] = edges[var]
        for b in aggregate.stats:
            var = b.name.split(":", 1)[1]
            if var not in var_edges:
                raise DisclosureError(f"{aggregate.analysis}: statistics {b.name!r} have no "
                                      "person count to go with; refused")
            if not clamped:
                _check_in_range(aggregate, var, var_edges[var])
    ledger = _Ledger(rules, planned)
    out: dict[str, CountTable] = {}
    for t in keep:
        if t not in noised:
            out[t.name] = t  # counts of checks, not persons: unchanged
        elif t.name.startswith("hist:") and kind == DESCRIPTIVE:
            e = var_edges[t.name.split(":", 1)[1]]
            keys = [(str(i),) for i in range(len(e) + 1)]
            if not {c.key for c in t.cells} <= set(keys):
                raise DisclosureError(f"{aggregate.analysis}: histogram {t.name!r} does not "
                                      "match the request's bin edges; refused")
            out[t.name] = _noisy_table(t, ledger, keys,
                                       {k[0]: _bin_label(i, e) for i, k in enumerate(keys)})
        else:
            out[t.name] = _noisy_table(t, ledger, None)
    stats, notes = [], list(aggregate.notes)
    for b in aggregate.stats:
        var = b.name.split(":", 1)[1]
        n_table, hist = out[f"n:{var}"], out.get(f"hist:{var}")
        n = n_table.cells[0].count if n_table.cells else None
        if n is None:
            notes.append(f"{var}: mean and SD withheld (its count is suppressed)")
            continue
        # post-processing: n at least what the histogram shows, so the hub's hidden mass
        # (n minus the shown bins) is never negative
        n = max(n, sum(c.count or 0 for c in hist.cells) if hist else 0)
        out[n_table.name] = n_table.model_copy(
            update={"cells": (Cell(key=n_table.cells[0].key, count=n),)})
        moments = _moments(b, n, ledger, var_edges[var], min_cell)
        if moments is None:
            notes.append(f"{var}: mean and SD withheld (noisy count below {max(2, min_cell)})")
        else:
            stats.append(moments)
    if withheld:
        notes.append(f"{len(withheld)} table(s) of sums of values withheld: differential "
                     "privacy needs bounds this release does not have")
    epsilon = math.fsum(e for e, _ in ledger.spent)
    delta = math.fsum(d for _, d in ledger.spent)
    note = (f"differential privacy: {rules.mechanism} noise, epsilon {epsilon:.4g}"
            + (f", delta {delta:.3g}" if delta else "")
            + f" split over {planned} quer{'y' if planned == 1 else 'ies'}; counts are not exact")
    notes.append(note)
    privacy = PrivacyNote(mechanism=rules.mechanism, epsilon=epsilon,
                          delta=min(delta, rules.delta), scales=ledger.scales, note=note)
    released = aggregate.model_copy(update={
        "tables": tuple(out[t.name] for t in keep), "stats": tuple(stats),
        "notes": tuple(notes), "privacy": privacy})
    return released, epsilon
