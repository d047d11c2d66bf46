"""Small-cell suppression for the data-quality summary and profile, which leave the site.

A count from 1 to ``min_cell - 1`` is never shown: it becomes the text ``"<11"`` (for the
default minimum of 11). Zero stays zero. In a distribution whose cells add up to a shown
total (persons by sex, records by month), hiding one cell is not enough, since it could be
recovered by subtraction: further cells, smallest first, are hidden until at least two
cells are hidden and the hidden cells together hold at least ``min_cell``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

K = TypeVar("K")
Shown = int | str  # a count, or the suppression marker


def marker(min_cell: int) -> str:
    return f"<{min_cell}"


def is_small(n: int, min_cell: int) -> bool:
    return 0 < n < min_cell


def cell(n: int | None, min_cell: int) -> Shown | None:
    """``n`` as it may be shown."""
    if n is None:
        return None
    return marker(min_cell) if is_small(n, min_cell) else int(n)


def distribution(counts: Mapping[K, int], min_cell: int) -> dict[K, Shown]:
    """Primary and complementary suppression of cells that add up to a shown total."""
    hidden = {k for k, n in counts.items() if is_small(n, min_cell)}
    while hidden:
        mass = sum(counts[k] for k in hidden)
        if len(hidden) >= 2 and mass >= min_cell:
            break
        shown = [(n, str(k), k) for k, n in counts.items() if k not in hidden and n > 0]
        if not shown:
            break
        hidden.add(min(shown)[2])
    return {k: (marker(min_cell) if k in hidden else int(n)) for k, n in counts.items()}


def ratio(numerator: int | None, denominator: int | None, min_cell: int,
          digits: int = 2) -> float | None:
    """A percentage, withheld when it would reveal a small count: the numerator, or the
    rows that did not count (denominator - numerator)."""
    if numerator is None or not denominator:
        return None
    if is_small(numerator, min_cell) or is_small(denominator - numerator, min_cell):
        return None
    if is_small(denominator, min_cell):
        return None
    return round(100.0 * numerator / denominator, digits)
