"""Descriptive statistics of continuous variables: exact pooled mean and SD, binned quantiles.

Variables (``variables``, each an object with ``variable`` and optionally ``name``, ``edges``):

* ``age`` (at index), ``prior_observation_days``, ``post_observation_days`` of the target
  cohort's persons at their first entry, and ``measurement``: the ``value_as_number`` of a
  concept set (``concept_ids``, ``descendants``) in a ``window`` of days around the index
  (rules in :mod:`behindglass.engine.descriptive`);
* ``time_at_risk`` in the study population of the target and the request's one outcome
  cohort (``population`` settings, :mod:`behindglass.core.population`).

What a site releases, per variable ``v`` (everything is refused, with a
:class:`~behindglass.core.errors.DisclosureError` naming the rule, when the cohort has
fewer than ``min_cell`` persons):

* ``n:v``: persons with a value (a one-cell count table);
* ``hist:v``: persons per bin of the hub-fixed ``edges`` (bin 0 is below the first edge,
  bin ``len(edges)`` at or above the last; bins are ``[left, right)``), with ``n:v`` as its
  margin, so the site's small-cell suppression, primary and secondary, applies to it;
  empty bins are not listed (an exact zero, as in every table with a margin);
* ``moments:v``: ``n``, the sum and the sum of squared deviations from the site's own mean
  (a shifted sum of squares: the same information as the raw one, without its cancellation),
  from which the hub pools the exact mean and SD. Released only when ``n >= min_cell``: a
  mean of fewer is too close to a person's value. A variable with fewer than ``min_cell``
  persons with a value releases only its ``n`` (which the site then suppresses). Nor when
  a value could be solved for from them (:mod:`~behindglass.analyses.moment_rules`): then
  a note names the variable, and ``n`` and the histogram still go.

Minimum and maximum are never released: each is one person's value. The outermost bins the
histogram shows bound them instead.

Hub half: the exact pooled ``n``, mean, SD (``ddof = 1``) and standard error from the
moments (Chan et al.'s pairwise update, exact up to float rounding); the pooled histogram;
and each quantile ``q`` as numpy's default (``method="linear"``) would compute it on the
pooled values, with guaranteed bounds: that quantile lies between order statistics
``floor(h) + 1`` and ``ceil(h) + 1`` (``h = (N - 1) q``), and the pooled histogram places each
order statistic in a bin. With no hidden cell the bounds are the bins' edges (one bin
width when both order statistics share a bin); hidden cells widen them to every bin the
site's hidden persons could be in. ``value`` interpolates linearly within the bin
(grouped-data quantile, order statistic ``k`` at ``k - 1/2`` of the bin's cumulative count),
so ``|value - true| <= upper - lower`` always.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from itertools import pairwise
from typing import Any, ClassVar

import numpy as np

from behindglass.analyses.base import scope, with_scopes
from behindglass.analyses.moment_rules import moments_withheld
from behindglass.analyses.params import check_keys, one_outcome, population_param
from behindglass.core.aggregates import Cell, CountTable, SiteAggregate, StatsBlock, TableScope
from behindglass.core.errors import DisclosureError, SpecError
from behindglass.core.policy import DEFAULT_MAX_DOMINANCE
from behindglass.core.population import PopulationSettings
from behindglass.core.sitedata import PersonColumn, SiteContext
from behindglass.core.study import AnalysisSpec

KIND = "descriptive"
COHORT_VARIABLES = ("age", "prior_observation_days", "post_observation_days", "measurement")
VARIABLES = (*COHORT_VARIABLES, "time_at_risk")
_DAYS = (0, 30, 90, 180, *range(365, 36525 + 1, 365))  # a year a bin after the first year
DEFAULT_EDGES: dict[str, tuple[float, ...]] = {
    "age": tuple(range(0, 91, 5)),  # 90 and over in one bin, as Safe Harbor wants
    "prior_observation_days": _DAYS,
    "post_observation_days": _DAYS,
    "time_at_risk": _DAYS,
}
DEFAULT_QUANTILES = (0.25, 0.5, 0.75)
MAX_VARIABLES = 20
MAX_EDGES = 500
MAX_WINDOW = 100_000
NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
PARAMS = {"variables", "quantiles", "population"}
VARIABLE_KEYS = {"variable", "name", "edges", "concept_ids", "descendants", "window"}


@dataclasses.dataclass(frozen=True)
class Variable:
    name: str
    variable: str
    edges: tuple[float, ...]
    concept_ids: tuple[int, ...] = ()
    descendants: bool = True
    window: tuple[int, int] = (0, 0)

    def column(self) -> PersonColumn:
        return PersonColumn(kind=self.variable, concept_ids=self.concept_ids,  # type: ignore[arg-type]
                            descendants=self.descendants, window=self.window)


@dataclasses.dataclass(frozen=True)
class DescriptiveParams:
    variables: tuple[Variable, ...]
    quantiles: tuple[float, ...]
    population: PopulationSettings | None


# -- parameters ----------------------------------------------------------------------------
def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _variable(spec: AnalysisSpec, i: int, data: object) -> Variable:
    where = f"{spec.name}: variables[{i}]"
    if not isinstance(data, dict) or set(data) - VARIABLE_KEYS or "variable" not in data:
        raise SpecError(f"{where} must be an object with 'variable' and optionally "
                        f"{sorted(VARIABLE_KEYS - {'variable'})}, got {data!r}")
    kind = data["variable"]
    if kind not in VARIABLES:
        raise SpecError(f"{where}: 'variable' must be one of {list(VARIABLES)}, got {kind!r}")
    name = data.get("name", kind)
    if not isinstance(name, str) or not NAME.match(name):
        raise SpecError(f"{where}: 'name' must be a lower-case identifier (a letter, then up "
                        f"to 39 letters, digits or underscores), got {name!r}")
    edges = data.get("edges", DEFAULT_EDGES.get(kind))
    if edges is None:
        raise SpecError(f"{where}: a measurement needs its bin 'edges' (no default fits "
                        "every unit)")
    if (not isinstance(edges, list | tuple) or not 1 <= len(edges) <= MAX_EDGES
            or not all(_is_number(e) for e in edges)
            or any(b <= a for a, b in pairwise(edges))):
        raise SpecError(f"{where}: 'edges' must be 1 to {MAX_EDGES} strictly increasing "
                        f"finite numbers, got {edges!r}")
    measurement = {"concept_ids", "descendants", "window"} & set(data)
    if kind != "measurement":
        if measurement:
            raise SpecError(f"{where}: {sorted(measurement)} apply to a measurement only")
        return Variable(name=name, variable=kind, edges=tuple(float(e) for e in edges))
    ids = data.get("concept_ids")
    if (not isinstance(ids, list | tuple) or not ids
            or not all(_is_int(c) and c > 0 for c in ids)):
        raise SpecError(f"{where}: a measurement needs 'concept_ids', a list of positive "
                        f"integers, got {ids!r}")
    descendants = data.get("descendants", True)
    if not isinstance(descendants, bool):
        raise SpecError(f"{where}: 'descendants' must be true or false, got {descendants!r}")
    window = data.get("window", [0, 0])
    if (not isinstance(window, list | tuple) or len(window) != 2
            or not all(_is_int(w) and abs(w) <= MAX_WINDOW for w in window)
            or window[0] > window[1]):
        raise SpecError(f"{where}: 'window' must be [first day, last day] around the index, "
                        f"whole days within +-{MAX_WINDOW}, first <= last, got {window!r}")
    return Variable(name=name, variable=kind, edges=tuple(float(e) for e in edges),
                    concept_ids=tuple(ids), descendants=descendants,
                    window=(window[0], window[1]))


def descriptive_params(spec: AnalysisSpec) -> DescriptiveParams:
    """The request's parameters, checked, with defaults filled in (SpecError otherwise)."""
    check_keys(spec, PARAMS)
    p = spec.params
    if spec.comparator is not None:
        raise SpecError(f"{spec.name}: descriptive statistics take no comparator; request a "
                        f"second analysis on {spec.comparator!r}")
    raw = p.get("variables", [{"variable": "age"}])
    if not isinstance(raw, list | tuple) or not 1 <= len(raw) <= MAX_VARIABLES:
        raise SpecError(f"{spec.name}: 'variables' must be a list of 1 to {MAX_VARIABLES} "
                        f"variables, got {raw!r}")
    variables = tuple(_variable(spec, i, v) for i, v in enumerate(raw))
    names = [v.name for v in variables]
    if len(set(names)) != len(names):
        raise SpecError(f"{spec.name}: variable names repeat: {names}; give each a 'name'")
    # one variable binned twice would let a reader difference the two histograms, bin
    # edge by bin edge, down to counts the minimum cell hides
    defined = [(v.variable, v.concept_ids, v.descendants, v.window) for v in variables]
    if len(set(defined)) != len(defined):
        raise SpecError(f"{spec.name}: a variable is asked for twice; ask once, with the "
                        "bins you want")
    quantiles = p.get("quantiles", list(DEFAULT_QUANTILES))
    if (not isinstance(quantiles, list | tuple) or len(quantiles) > 99
            or not all(_is_number(q) and 0 <= q <= 1 for q in quantiles)):
        raise SpecError(f"{spec.name}: 'quantiles' must be a list of up to 99 numbers from 0 "
                        f"to 1, got {quantiles!r}")
    wants_tar = any(v.variable == "time_at_risk" for v in variables)
    population = None
    if wants_tar:
        one_outcome(spec, "'time_at_risk' is of the study population, which")
        population = population_param(spec)
    elif "population" in p or spec.outcomes:
        raise SpecError(f"{spec.name}: 'population' and 'outcomes' are for 'time_at_risk' "
                        "only; no variable asks for it")
    return DescriptiveParams(variables=variables,
                             quantiles=tuple(float(q) for q in quantiles),
                             population=population)


# -- site half -----------------------------------------------------------------------------
def bin_index(values: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """Bin of each value: 0 below the first edge, ``i`` in ``[edges[i-1], edges[i])``."""
    return np.searchsorted(np.asarray(edges, dtype=float), values, side="right")


def bin_label(i: int, edges: Sequence[float]) -> str:
    left = "-inf" if i == 0 else f"{edges[i - 1]:g}"
    right = "inf" if i == len(edges) else f"{edges[i]:g}"
    return f"[{left}, {right})"


def release_variable(var: Variable, values: np.ndarray, min_cell: int,
                     max_dominance: float = DEFAULT_MAX_DOMINANCE
                     ) -> tuple[list[CountTable], list[StatsBlock], str | None]:
    """One variable's tables and moments (before ``enforce``), and why not the moments."""
    values = values[~np.isnan(values)]
    n = int(values.size)
    n_table = CountTable(name=f"n:{var.name}", cells=(Cell(key=(), count=n),))
    if n < min_cell:  # enforce suppresses the count; nothing else is released
        return [n_table], [], f"{var.name}: fewer than {min_cell} persons with a value; withheld"
    bins = np.bincount(bin_index(values, var.edges), minlength=len(var.edges) + 1)
    cells = tuple(Cell(key=(str(i),), count=int(c)) for i, c in enumerate(bins) if c)
    hist = CountTable(name=f"hist:{var.name}", dims=("bin",), cells=cells,
                      margin=n_table.name,
                      labels={str(i): bin_label(i, var.edges) for i, c in enumerate(bins) if c})
    reason = moments_withheld(values, min_cell, max_dominance)
    if reason:
        return [n_table, hist], [], (f"{var.name}: {reason}; its mean and SD are withheld, "
                                     "its count and histogram released")
    # fsum: correctly rounded whatever order the store returned the rows in, so the same
    # data always gives the same release (a parallel scan does not fix the row order)
    total = math.fsum(values.tolist())
    mean = total / n
    moments = StatsBlock(name=f"moments:{var.name}", shape=(3,),
                         values=(float(n), total, math.fsum(((values - mean) ** 2).tolist())))
    return [n_table, hist], [moments], None


def release_descriptive(name: str, persons: int, columns: dict[str, np.ndarray],
                        params: DescriptiveParams, min_cell: int,
                        max_dominance: float = DEFAULT_MAX_DOMINANCE) -> SiteAggregate:
    """Site half: the release of every variable, after the cohort-size rule."""
    if persons < min_cell:
        raise DisclosureError(f"{name}: the cohort has fewer than {min_cell} persons at this "
                              "site (the site's minimum cell size); refused")
    tables: list[CountTable] = []
    stats: list[StatsBlock] = []
    notes = []
    for var in params.variables:
        t, s, note = release_variable(var, columns[var.name], min_cell, max_dominance)
        tables += t
        stats += s
        notes += [note] if note else []
    return SiteAggregate(analysis=name, kind=KIND, tables=tuple(tables), stats=tuple(stats),
                         notes=tuple(notes),
                         bounds={v.name: tuple(v.edges) for v in params.variables})


def _scopes(site: SiteContext, spec: AnalysisSpec, p: DescriptiveParams
            ) -> dict[str, TableScope]:
    """Each variable's count and histogram count the cohort's persons with a value of it."""
    cohort = site.cohort(spec.cohort)
    out = {}
    for v in p.variables:
        subset: dict[str, object] = {"variable": v.variable, "concept_ids": v.concept_ids,
                                     "descendants": v.descendants, "window": v.window}
        if v.variable == "time_at_risk" and p.population is not None:
            subset.update(population=p.population.model_dump(mode="json"),
                          outcome=site.cohort(spec.outcomes[0]).fingerprint)
        out[f"n:{v.name}"] = scope(cohort, subset=subset)
        out[f"hist:{v.name}"] = scope(cohort, f"bins:{list(v.edges)}", subset=subset)
    return out


# -- hub half ------------------------------------------------------------------------------
def pool_moments(parts: Sequence[tuple[float, float, float]]) -> tuple[int, float, float]:
    """(n, mean, sum of squared deviations) of the union of parts (n, sum, own SS)."""
    n = sum(p[0] for p in parts)
    if n == 0:
        return 0, math.nan, math.nan
    mean = math.fsum(p[1] for p in parts) / n
    ss = math.fsum(p[2] + p[0] * (p[1] / p[0] - mean) ** 2 for p in parts if p[0])
    return int(n), mean, ss


def _bin_range(i: int, edges: Sequence[float]) -> tuple[float | None, float | None]:
    return (None if i == 0 else edges[i - 1], None if i == len(edges) else edges[i])


def quantile_bounds(q: float, shown: np.ndarray, hidden: Sequence[tuple[set[int], int]],
                    edges: Sequence[float]) -> dict[str, Any]:
    """Quantile ``q`` (numpy "linear") of the pooled values: a value and sure bounds.

    ``shown``: pooled released counts per bin; ``hidden``: per site, its hidden bins and the
    persons in them (its ``n`` minus its shown counts)."""
    cum = np.cumsum(shown).astype(float)
    f_lo, f_hi = cum.copy(), cum.copy()
    for bins, mass in hidden:
        if not bins or not mass:
            continue
        f_lo[max(bins):] += mass  # all hidden persons are at or below bin j only past the last
        f_hi[min(bins):] += mass  # and possibly so from the first hidden bin on
    total = int(f_lo[-1])
    h = (total - 1) * q
    k1, k2 = math.floor(h) + 1, math.ceil(h) + 1  # the order statistics (1-based) around h
    j_low = int(np.searchsorted(f_hi, k1, side="left"))
    j_high = int(np.searchsorted(f_lo, k2, side="left"))
    lower, upper = _bin_range(j_low, edges)[0], _bin_range(j_high, edges)[1]
    # grouped-data interpolation in the bin the mid-CDF puts the rank in; order statistic
    # k sits at k - 1/2 on the cumulative scale, so position h at h + 1/2
    f_mid = (f_lo + f_hi) / 2
    rank = h + 0.5
    j = min(int(np.searchsorted(f_mid, rank, side="left")), len(f_mid) - 1)
    left, right = _bin_range(j, edges)
    value: float | None = None
    if left is not None and right is not None:
        below = f_mid[j - 1] if j else 0.0
        inside = f_mid[j] - below
        value = left + (right - left) * ((rank - below) / inside if inside else 0.5)
        if lower is not None:
            value = max(value, lower)
        if upper is not None:
            value = min(value, upper)
    exact = not any(bins and mass for bins, mass in hidden)
    return {"q": q, "value": value, "lower": lower, "upper": upper,
            "max_error": None if lower is None or upper is None else upper - lower,
            "bins_complete": exact}


def combine_variable(var: Variable, quantiles: Sequence[float],
                     releases: list[tuple[str, SiteAggregate]]) -> dict[str, Any]:
    sites: dict[str, Any] = {}
    parts, hidden = [], []
    shown = np.zeros(len(var.edges) + 1, dtype=np.int64)
    withheld: list[str] = []
    for site, agg in releases:
        try:
            block = agg.block(f"moments:{var.name}")
            hist = agg.table(f"hist:{var.name}")
        except KeyError:
            # a histogram without moments: the site withheld them (moment_rules, or its
            # privacy rules); left out like a site that released nothing for the variable,
            # so n, mean, SD and the bins all describe the same persons
            sites[site] = {"n": "suppressed", "released": False}
            if any(t.name == f"hist:{var.name}" for t in agg.tables):
                withheld.append(site)
                notes = [n for n in agg.notes if n.startswith(f"{var.name}: ")]
                sites[site] |= {"moments_withheld": True, "note": notes[0] if notes else None}
            continue
        n, total, ss = block.values
        parts.append((n, total, ss))
        bins_hidden: set[int] = set()
        for cell in hist.cells:
            if cell.count is None:
                bins_hidden.add(int(cell.key[0]))
            else:
                shown[int(cell.key[0])] += cell.count
        site_shown = sum(c.count or 0 for c in hist.cells)
        hidden.append((bins_hidden, int(n) - site_shown))
        sites[site] = {"n": int(n), "mean": total / n,
                       "sd": math.sqrt(ss / (n - 1)) if n > 1 else None,
                       "hidden_bins": len(bins_hidden), "released": True}
    used = [s for s, v in sites.items() if v["released"]]
    out: dict[str, Any] = {"variable": var.variable, "edges": list(var.edges),
                           "sites_used": used, "complete": len(used) == len(releases),
                           "moments_withheld": withheld, "sites": sites}
    n, mean, ss = pool_moments(parts)
    if n == 0:
        return {**out, "n": 0, "mean": None, "sd": None, "se": None, "quantiles": [],
                "histogram": []}
    sd = math.sqrt(ss / (n - 1)) if n > 1 else None
    hidden_per_bin = {i for bins, mass in hidden if mass for i in bins}
    histogram = [{"bin": bin_label(i, var.edges), "count": int(c),
                  "complete": i not in hidden_per_bin}
                 for i, c in enumerate(shown) if c or i in hidden_per_bin]
    return {**out, "n": n, "mean": mean, "sd": sd, "variance": None if sd is None else sd ** 2,
            "se": None if sd is None else sd / math.sqrt(n),
            "quantiles": [quantile_bounds(q, shown, hidden, var.edges) for q in quantiles],
            "histogram": histogram}


@dataclasses.dataclass(frozen=True)
class DescriptiveAnalysis:
    """Exact pooled mean and SD, and quantiles within stated bounds, of continuous variables."""

    kind: ClassVar[str] = KIND

    def validate(self, spec: AnalysisSpec) -> None:
        descriptive_params(spec)

    def local(self, site: SiteContext, spec: AnalysisSpec) -> SiteAggregate:
        p = descriptive_params(spec)
        cohort = site.cohort(spec.cohort)
        persons = site.data.count_persons(cohort)
        if persons < site.policy.min_cell:  # before any value is computed
            raise DisclosureError(f"{spec.name}: the cohort has fewer than "
                                  f"{site.policy.min_cell} persons at this site (the site's "
                                  "minimum cell size); refused")
        columns: dict[str, np.ndarray] = {}
        plain = {v.name: v.column() for v in p.variables if v.variable in COHORT_VARIABLES}
        if plain:
            frame = site.data.person_frame(cohort, plain)
            columns.update({k: frame[k].to_numpy(dtype=float) for k in plain})
        if p.population is not None:
            pop = site.data.population(cohort, None, site.cohort(spec.outcomes[0]),
                                       p.population)
            for v in p.variables:
                if v.variable == "time_at_risk":
                    columns[v.name] = pop["time_at_risk"].to_numpy(dtype=float)
        released = release_descriptive(spec.name, persons, columns, p, site.policy.min_cell,
                                       site.policy.max_dominance)
        return with_scopes(released, _scopes(site, spec, p))

    def combine(self, spec: AnalysisSpec,
                releases: list[tuple[str, SiteAggregate]]) -> dict[str, Any]:
        p = descriptive_params(spec)
        return {"kind": KIND, "analysis": spec.name, "cohort": spec.cohort,
                "sites": [s for s, _ in releases],
                "variables": {v.name: combine_variable(v, p.quantiles, releases)
                              for v in p.variables}}
