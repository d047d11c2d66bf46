"""Which moments a site may release: dominance rules for n, sum and sum of squares.

A released block of moments (``n``, the sum, the sum of squared deviations ``SSD``) is safe
from the minimum-cell rule's point of view once ``n >= min_cell``, but not from one value
that dwarfs the rest: with one person far from everyone else, ``mean + sqrt(SSD (n-1)/n)``
*is* that person's value, to as many digits as were released. Statistical agencies meet the
same problem in magnitude tables with dominance rules (Hundepool et al., *Statistical
Disclosure Control*, ch. 4: the p% rule, the (n,k) rule); these are their analogues for
moments, applied at the site before anything leaves it. A block is *sensitive* (withheld,
with a note that names the variable and the rule, never a value) when

1. **one person dominates**: the largest ``(x_i - mean)^2`` is more than ``max_dominance``
   (the site's ``disclosure.max_dominance``) of ``SSD``. This is Grubbs' outlier statistic
   (``G^2 / (n - 1)``), and it bounds what the attacker's solve is worth: at share ``s``,
   ``mean + sqrt(SSD (n-1)/n)`` misses the value by about ``sqrt((1-sqrt(s)) / (1+sqrt(s)))``
   times the root of the others' sum of squared deviations: 12% of the value's own distance
   from the mean at the default ``s = 0.8`` (a p% rule with p = 12), 41% at ``s = 0.5``;
2. **two persons dominate** (the (2, k) rule): the two largest squared deviations are more
   than ``(1 + max_dominance) / 2`` of ``SSD``. Two equal extreme values each hold half, so
   rule 1 alone lets them through, and guessing "two" solves both;
3. **a few persons differ from everyone else**: at least ``min_cell`` persons share one value
   and fewer than ``min_cell`` do not. The moments then describe that small group (in
   GiBleed's whole population, everyone is 0 at entry but two persons aged 1 at one site: the
   sum, 2, is a count of two, which no suppressed histogram bin hides);
4. **three values or fewer**: n, sum and sum of squares are then three equations for the
   counts of each value, a count table like any other, so a value fewer than ``min_cell``
   persons hold withholds the block.

The sum needs no rule of its own. Solving ``x_i = sum - (the others' total)`` is only as good
as a guess of the others' total, whose error is their deviations from a typical value, so
its contributions are judged shifted to the mean (an unshifted share would depend on where
the unit puts its zero: kelvin would hide any outlier, a centred score would flag everyone).
The p% rule on shifted contributions is the share ``max |d_i| / sum |d_j|``, which never
exceeds the squared share of rule 1 (``sum d^2 <= max|d| sum|d|``);
:func:`dominance_shares` computes both anyway, so the larger decides.

``max_dominance = 1`` turns rules 1 and 2 off (no share can exceed 1); rules 3 and 4 follow
``min_cell`` as every count does.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from behindglass.core.sitedata import ContinuousLike


def pair_threshold(max_dominance: float) -> float:
    """The (2, k) rule's share: two persons may hold what one may, and half the rest."""
    return (1 + max_dominance) / 2


def dominance_shares(values: np.ndarray) -> tuple[float, float]:
    """(largest share one person holds, largest share two persons hold) of the moments of
    ``values``; 0 when all values are equal (the mean is then everyone's value, a group's
    value that the histogram shows as well, not one person's)."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return 0.0, 0.0
    deviations = values - math.fsum(values.tolist()) / values.size
    squares = np.sort(deviations ** 2)
    ssd = math.fsum(squares.tolist())
    spread = math.fsum(np.abs(deviations).tolist())
    if ssd <= 0 or spread <= 0:
        return 0.0, 0.0
    one = max(float(squares[-1]) / ssd, float(np.abs(deviations).max()) / spread)
    two = math.fsum(squares[-2:].tolist()) / ssd
    return one, max(one, two)


def small_group(values: np.ndarray, min_cell: int) -> bool:
    """Rules 3 and 4: at least ``min_cell`` persons share one value and 1 to
    ``min_cell - 1`` do not; or the values take at most three distinct values (then n, sum
    and sum of squares are three equations for the three counts) and one is held by fewer
    than ``min_cell`` persons."""
    if values.size == 0:
        return False
    _, counts = np.unique(values, return_counts=True)
    return _small(counts.tolist(), int(values.size), min_cell)


def _small(counts: list[int], n: int, min_cell: int) -> bool:
    common = max(counts)
    return ((common >= min_cell and 0 < n - common < min_cell)
            or (len(counts) <= 3 and min(counts) < min_cell))


def _reason(one: float, two: float, few: bool, min_cell: int, max_dominance: float
            ) -> str | None:
    # the shares are computed from the values: the note names the rule, never the share
    if one > max_dominance:
        return (f"one person's value dominates its moments (more than {max_dominance:g} of "
                "the sum of squared deviations; the site's disclosure.max_dominance)")
    if two > pair_threshold(max_dominance):
        return (f"two persons' values dominate its moments (more than "
                f"{pair_threshold(max_dominance):g} of the sum of squared deviations; "
                "the site's disclosure.max_dominance)")
    if few:
        return (f"its moments would describe a group of fewer than {min_cell} persons (who "
                "differ from a value the others share, or hold one of at most three values)")
    return None


def moments_withheld(values: np.ndarray, min_cell: int, max_dominance: float) -> str | None:
    """Why the moments of ``values`` (no NaN) may not leave the site; None if they may."""
    one, two = dominance_shares(values)
    return _reason(one, two, small_group(values, min_cell), min_cell, max_dominance)


def covariate_shares(c: ContinuousLike) -> tuple[float, float] | None:
    """The shares of :func:`dominance_shares`, exactly or as sure lower bounds, from what
    the site keeps of a continuous covariate: n, sum, sum of squares, min and max.

    The person farthest from the mean holds the minimum or the maximum, so the one-person
    share is exact; the persons at the minimum and at the maximum are two persons, so
    their squared deviations together bound the two-person share from below (two persons
    at the same extreme are not seen: rule 3 covers a few persons off a common value).
    None when the extremes are unknown."""
    if c.minimum is None or c.maximum is None or c.n <= 0:
        return None
    n, total = c.n, c.total
    ssd = Fraction(n * c.total_sq - total * total, n)
    if ssd <= 0:
        return 0.0, 0.0
    high, low = Fraction(n * c.maximum - total, n), Fraction(total - n * c.minimum, n)
    one = max(high, low) ** 2 / ssd
    return float(one), float(max(one, (high * high + low * low) / ssd))


def covariate_withheld(c: ContinuousLike, min_cell: int, max_dominance: float) -> str | None:
    """Why a continuous covariate's moments may not leave the site; None if they may.

    Its values are counts (whole numbers), so fewer than ``min_cell`` persons are above the
    minimum whenever ``sum(x - min)`` is below ``min_cell`` (each contributes at least 1),
    and likewise below the maximum: rule 3, sure though not exhaustive. With ``max - min
    <= 2`` there are at most three values, whose counts the site solves for as a reader
    would: rule 4, exactly."""
    shares = covariate_shares(c)
    if shares is None or c.minimum is None or c.maximum is None:
        return "its extremes are unknown at the site, so dominance cannot be judged"
    above, below = c.total - c.n * c.minimum, c.n * c.maximum - c.total
    few = 0 < above < min_cell or 0 < below < min_cell
    if 0 < c.maximum - c.minimum <= 2:
        # y = x - min in {0, 1, 2}: sum y = k1 + 2 k2, sum y^2 = k1 + 4 k2
        squares = c.total_sq - 2 * c.minimum * c.total + c.n * c.minimum ** 2
        k2 = (squares - above) // 2 if c.maximum - c.minimum == 2 else 0
        counts = [k for k in (c.n - (above - k2), above - 2 * k2, k2) if k]
        few = few or _small(counts, c.n, min_cell)
    return _reason(*shares, few, min_cell, max_dominance)
