"""Propensity scores and CohortMethod's PS strata, found exactly from per-site counts.

CohortMethod's ``stratifyByPs`` (``baseSelection = "all"``) cuts the pooled propensity
scores at ``quantile(ps, (1:(k-1))/k)`` (R type 7, numpy ``method="linear"``) with
right-closed intervals ``cut(ps, c(-1, breaks, 1))``. The type-7 quantile at ``p`` lies
between the order statistics ``x_(r)`` and ``x_(r+1)`` with ``r = floor((n-1) p) + 1``, so
the set of persons at or below the break is ``{ps <= x_(r)}``, ties included (unless the
interpolated value rounds onto ``x_(r+1)``, a difference under one unit in the last
place). The hub does not need the break itself, only a threshold ``t`` with
``{ps <= t} = {ps <= x_(r)}``.

It finds one by bracketing: ``lo`` with ``N(lo) < r`` and ``hi`` with ``N(hi) >= r``, where
``N(t)`` is the pooled number of persons with ``ps <= t`` (each site counts its own; the
hub adds). Each round it sends, per unfinished break, a grid of thresholds inside
``(lo, hi)`` (half evenly spaced in value, half evenly spaced in the bit patterns of the
doubles, so the search ends after at most about 64 / log2(grid) rounds even when scores
tie) and narrows the bracket to the grid points around ``r``. It stops when ``N(hi) == r``
(then ``x_(r+1) > hi``) or when ``hi`` is the double right after ``lo`` (then
``hi = x_(r)``); either way ``{ps <= hi}`` is the set wanted.

Pure functions of numbers: no site data here.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

BELOW = -1  # the key "below every score" (the key of +0.0 is 0)


def propensity(x: np.ndarray, beta: Sequence[float]) -> np.ndarray:
    """``expit(b0 + sum b_j x_j)`` per row of the covariates ``x`` (no intercept column).

    The linear predictor is summed column by column in a fixed order, so a person's score
    is the same double at every site and in a pooled computation (a matrix product may
    group the additions differently with the number of rows)."""
    eta = np.full(x.shape[0], float(beta[0]))
    for j in range(x.shape[1]):
        eta = eta + float(beta[j + 1]) * x[:, j]
    return 1.0 / (1.0 + np.exp(-eta))


def key(v: float) -> int:
    """The bit pattern of a non-negative double: increasing with the value."""
    if not (v >= 0 and math.isfinite(v)):
        raise ValueError(f"a threshold must be a finite non-negative number, got {v!r}")
    return int(struct.unpack("<q", struct.pack("<d", float(v) + 0.0))[0])


def value(k: int) -> float:
    return float(struct.unpack("<d", struct.pack("<q", k))[0])


def targets(n: int, strata: int) -> list[int]:
    """The order statistic ``r`` (1-based) under each break ``j / strata``, as numpy's
    ``quantile(..., method="linear")`` and R's type 7 index it: ``floor((n - 1) p) + 1``."""
    return [math.floor((n - 1) * (j / strata)) + 1 for j in range(1, strata)]


def start(n: int, strata: int) -> list[dict[str, Any]]:
    """One bracket per break: nothing below, every score (at most 1) at or below 1."""
    return [{"r": r, "whole": float((n - 1) * (j / strata)).is_integer(), "lo": None,
             "n_lo": 0, "hi": 1.0, "n_hi": n, "done": r >= n}
            for j, r in enumerate(targets(n, strata), start=1)]


def grid(b: dict[str, Any], size: int) -> list[float]:
    """Thresholds strictly inside the bracket ``(lo, hi)`` to count at next."""
    if b["done"]:
        return []
    lo_k = BELOW if b["lo"] is None else key(b["lo"])
    hi_k = key(b["hi"])
    lo_v = 0.0 if b["lo"] is None else float(b["lo"])
    hi_v = float(b["hi"])
    half = max(size // 2, 2)
    keys = {lo_k + (hi_k - lo_k) * i // half for i in range(1, half)}
    keys |= {key(lo_v + (hi_v - lo_v) * i / half) for i in range(1, half)}
    if lo_k == BELOW:
        keys.add(0)
    return [value(k) for k in sorted(k for k in keys if lo_k < k < hi_k)]


def narrow(b: dict[str, Any], points: Sequence[float], counts: Sequence[int]
           ) -> dict[str, Any]:
    """The bracket after the pooled counts ``N(t)`` at ``points`` (increasing)."""
    b = dict(b)
    r = b["r"]
    for t, c in zip(points, counts, strict=True):
        if c < r:
            b["lo"], b["n_lo"] = t, c
        elif c >= r:
            b["hi"], b["n_hi"] = t, c
            break
    lo_k = BELOW if b["lo"] is None else key(b["lo"])
    b["done"] = b["n_hi"] == r or key(b["hi"]) == lo_k + 1
    return b


def thresholds(brackets: Sequence[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """The distinct cuts: per break, its ``hi`` and the persons at or below it. Breaks
    that cut the persons the same way are one cut (an empty stratum between them changes
    no estimate), and a cut with everyone below it makes no stratum above. A break that
    is exactly 0 (``x_(r) = 0`` and ``x_(r+1) = 0`` or no interpolation) is dropped, as
    CohortMethod's ``unique(c(0, breaks, 1))`` merges it with the lower end."""
    cuts: list[dict[str, Any]] = []
    for b in brackets:
        if not b["done"]:
            raise ValueError("a PS break has not been found yet")
        if b["n_hi"] >= n or (cuts and cuts[-1]["persons_at_or_below"] == b["n_hi"]):
            continue
        if b["hi"] == 0.0 and (b["whole"] or b["n_hi"] > b["r"]):
            continue  # the break is exactly 0, which R's unique(c(0, breaks, 1)) drops
        cuts.append({"threshold": float(b["hi"]), "persons_at_or_below": int(b["n_hi"])})
    return cuts


def count_at_or_below(ps: np.ndarray, points: Sequence[float]) -> np.ndarray:
    """``N(t)`` of one site at each threshold."""
    s = np.sort(ps)
    return np.searchsorted(s, np.asarray(points, dtype=float), side="right")


def assign(ps: np.ndarray, cuts: Sequence[float]) -> np.ndarray:
    """Stratum 1, 2, ... of each score: one more than the cuts strictly below it
    (right-closed intervals, as R's ``cut``)."""
    return 1 + np.searchsorted(np.asarray(cuts, dtype=float), ps, side="left")
