"""Proportions with their Wilson score interval.

The Wilson interval stays inside [0, 1] and keeps a useful width at 0/n and n/n, where the
normal approximation collapses to a point: exactly the cases a good de-identifier produces
("0 leaks in 300 names" still leaves an upper bound on the leak rate well above zero).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959964  # two-sided 95%: the 0.975 quantile of the standard normal


def wilson_interval(hits: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of ``hits / n``; (0, 1) when ``n`` is 0 (nothing known)."""
    if not 0 <= hits <= n:
        raise ValueError(f"a proportion needs 0 <= hits <= n, got {hits}/{n}")
    if n == 0:
        return 0.0, 1.0
    p = hits / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # Exact ends at 0/n and n/n, where rounding would otherwise leave 1e-17 off the bound.
    lower = 0.0 if hits == 0 else max(0.0, centre - half)
    upper = 1.0 if hits == n else min(1.0, centre + half)
    return lower, upper


@dataclass(frozen=True, slots=True)
class Proportion:
    """``hits`` out of ``n``, e.g. gold spans caught out of gold spans."""

    hits: int
    n: int

    @property
    def value(self) -> float | None:
        """hits / n, or None when there is nothing to count (n == 0)."""
        return self.hits / self.n if self.n else None

    @property
    def lower(self) -> float:
        return wilson_interval(self.hits, self.n)[0]

    @property
    def upper(self) -> float:
        return wilson_interval(self.hits, self.n)[1]

    def __add__(self, other: Proportion) -> Proportion:
        return Proportion(self.hits + other.hits, self.n + other.n)

    def to_dict(self) -> dict[str, float | int | None]:
        low, high = wilson_interval(self.hits, self.n)
        return {"value": self.value, "hits": self.hits, "n": self.n,
                "wilson_lower": low, "wilson_upper": high}
