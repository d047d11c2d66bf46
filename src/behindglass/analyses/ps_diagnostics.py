"""Diagnostics of a propensity-score stratification: covariate balance and equipoise.

**Balance.** Each site releases, per treatment group, the number of persons and the sum
and sum of squares of each PS covariate (``bal:overall``), and the same per PS stratum
and group (``bal:strata``) unless a stratum-and-group cell, or a level of a 0/1 covariate
in one, holds 1 to ``min_cell - 1`` persons there (then it says so in a note and the hub
reports balance after stratification as withheld). The hub adds them:

* before: ``SMD = (mean_t - mean_c) / sqrt((s_t^2 + s_c^2) / 2)``, sample variances;
* after: the same denominator (so the change shows the means moving, not the spread);
  each group's mean is the average of its stratum means weighted by the stratum's share
  of the persons, over the strata that hold both groups (the only ones that inform the
  PS-stratified model).

**Equipoise.** The preference score (Walker et al. 2013) rescales the PS for the share
treated ``P``: ``logit(F) = logit(ps) - logit(P)``. Each site counts its persons with
``0.3 <= F <= 0.7`` as a person table (so small-cell suppression applies).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from behindglass.analyses.stats_blocks import array
from behindglass.analyses.stats_blocks import block as _block
from behindglass.core.aggregates import Cell, CountTable, SiteAggregate, StatsBlock

EQUIPOISE = (0.3, 0.7)
IN_EQUIPOISE = f"{EQUIPOISE[0]}-{EQUIPOISE[1]}"


def _small(k: float, min_cell: int) -> bool:
    return 0 < k < min_cell


# -- site half ----------------------------------------------------------------------------
def balance_blocks(x: np.ndarray, treat: np.ndarray, strata: np.ndarray, n_strata: int,
                   min_cell: int) -> tuple[list[StatsBlock], list[str]]:
    """The balance sums of one site, and a note when the per-stratum ones are withheld."""

    def sums(rows: np.ndarray) -> np.ndarray:
        xs = x[rows]
        return np.stack([np.full(x.shape[1], float(len(xs))), xs.sum(axis=0),
                         (xs * xs).sum(axis=0)])

    blocks = [_block("bal:overall", np.stack([sums(treat == g) for g in range(2)]))]
    by = np.stack([np.stack([sums((strata == s) & (treat == g)) for g in range(2)])
                   for s in range(1, n_strata + 1)])
    binary = np.all((x == 0) | (x == 1), axis=0)
    n, ones = by[:, :, 0, :], by[:, :, 1, :]
    cells = [*n[:, :, 0].flat, *ones[:, :, binary].flat, *(n - ones)[:, :, binary].flat]
    if any(_small(k, min_cell) for k in cells):
        return blocks, ["balance after stratification withheld: a stratum and treatment "
                        f"cell (or a level of a 0/1 covariate in it) has 1 to {min_cell - 1} "
                        "persons at this site (minimum cell rule)"]
    return [*blocks, _block("bal:strata", by)], []


def equipoise_table(ps: np.ndarray, share: float, margin: str) -> CountTable:
    """Persons in and out of empirical equipoise, adding up to ``margin``."""
    with np.errstate(divide="ignore", over="ignore"):
        logit = np.log(ps / (1 - ps)) - math.log(share / (1 - share))
        pref = 1.0 / (1.0 + np.exp(-logit))
    inside = int(((pref >= EQUIPOISE[0]) & (pref <= EQUIPOISE[1])).sum())
    # a zero is left out, not listed: under a margin an unlisted cell is an exact zero
    counts = ((IN_EQUIPOISE, inside), ("outside", len(ps) - inside))
    return CountTable(name="cm:equipoise", dims=("preference",), margin=margin,
                      cells=tuple(Cell(key=(k,), count=c) for k, c in counts if c))


# -- hub half -----------------------------------------------------------------------------
def _arr(agg: SiteAggregate, name: str) -> np.ndarray:
    return array(agg.block(name))


def _smd(mean_t: float, mean_c: float, sd: float) -> float | None:
    return (mean_t - mean_c) / sd if sd > 0 else None


def balance(covariates: Sequence[str], releases: list[tuple[str, SiteAggregate]]
            ) -> dict[str, Any]:
    """Standardized mean differences before and after stratification (module docstring)."""
    overall = sum(_arr(agg, "bal:overall") for _, agg in releases)
    withheld = [s for s, agg in releases if not any(b.name == "bal:strata" for b in agg.stats)]
    by = None if withheld else sum(_arr(agg, "bal:strata") for _, agg in releases)
    rows = []
    for i, name in enumerate(covariates):
        stats = []
        for g in range(2):
            n, s1, s2 = (float(v) for v in overall[g, :, i])  # type: ignore[index]
            mean = s1 / n
            var = (s2 - n * mean * mean) / (n - 1) if n > 1 else 0.0
            stats.append((mean, max(var, 0.0)))
        sd = math.sqrt((stats[0][1] + stats[1][1]) / 2)
        row: dict[str, Any] = {"covariate": name, "mean_target": stats[1][0],
                               "mean_comparator": stats[0][0],
                               "smd_before": _smd(stats[1][0], stats[0][0], sd)}
        if by is not None:
            n_sg = by[:, :, 0, i]  # type: ignore[index]
            both = (n_sg > 0).all(axis=1)
            w = n_sg[both].sum(axis=1) / n_sg[both].sum()
            means = by[both][:, :, 1, i] / n_sg[both]  # type: ignore[index]
            after = [float(w @ means[:, g]) for g in range(2)]
            row.update({"mean_target_after": after[1], "mean_comparator_after": after[0],
                        "smd_after": _smd(after[1], after[0], sd)})
        rows.append(row)
    return {"covariates": rows, "after_withheld_by": withheld}


def equipoise(rows: dict[tuple[str, ...], dict[str, Any]]) -> dict[str, Any] | None:
    """The pooled share in equipoise from the pooled ``cm:equipoise`` rows (None when a
    site suppressed its cells, so the share is unknown)."""
    zero = {"pooled": 0, "complete": True}  # listed by no site: nobody
    inside, outside = rows.get((IN_EQUIPOISE,), zero), rows.get(("outside",), zero)
    if inside["pooled"] is None or outside["pooled"] is None:
        return None
    total = inside["pooled"] + outside["pooled"]
    return {"range": list(EQUIPOISE), "persons": inside["pooled"],
            "fraction": inside["pooled"] / total if total else None,
            "complete": bool(inside["complete"] and outside["complete"])}
