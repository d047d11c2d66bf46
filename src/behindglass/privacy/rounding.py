"""Rounding released person counts to a base, after suppression, at the site.

Why round at all when small cells are already suppressed: two releases that differ by a
few persons (a cohort with and without one more inclusion rule, this month and last month)
give away those few persons by subtraction. Rounding every count to a base of, say, 5 hides
differences smaller than the base in the noise of the rounding. It is the classic
statistical-agency rule (random or controlled rounding); behindglass uses the plain,
deterministic form, so the same data always gives the same release and the differencing
ledger sees stable numbers.

Rules, in the order they apply to each released person count ``n`` (a count that survived
suppression, so ``n >= min_cell``):

* ``n`` becomes the nearest multiple of the base (halves round up);
* if that is below ``min_cell`` it becomes the smallest multiple of the base that is not,
  so rounding never produces a count the last gate would call small.

What it leaves alone, on purpose: suppressed cells (still suppressed: rounding never turns
a hidden cell back into a number); tables that do not count persons (data-quality checks,
:func:`~behindglass.core.aggregates.person_level`); and model statistics
(``SiteAggregate.stats``), which the exact-statistics analyses protect with their own rules
(minimum events, parameters per person) because rounding a sum of squares would make the
pooled fit wrong without making it safer.

Rounding must run after suppression: a count below ``min_cell`` handed to it is refused
rather than rounded up, so a missing suppression step can never be laundered into a
disclosable-looking number.
"""

from __future__ import annotations

from behindglass.core.aggregates import Cell, CountTable, SiteAggregate, person_level
from behindglass.core.errors import DisclosureError
from behindglass.core.policy import DisclosurePolicy


def round_count(count: int, base: int, min_cell: int) -> int:
    """``count`` to the nearest multiple of ``base`` (halves up), but never below the
    smallest multiple of ``base`` that is at least ``min_cell``."""
    if base < 2:
        raise ValueError(f"a rounding base must be at least 2, got {base}")
    rounded = (2 * count + base) // (2 * base) * base  # floor(count / base + 1/2) * base
    floor = -(-min_cell // base) * base  # smallest multiple of base >= min_cell
    return max(rounded, floor)


def _round_table(table: CountTable, analysis: str, policy: DisclosurePolicy) -> CountTable:
    cells: list[Cell] = []
    for cell in table.cells:
        if cell.count is None:
            cells.append(cell)  # suppressed stays suppressed
            continue
        if cell.count < policy.min_cell:
            # names the table, never the count: the count itself must not travel
            raise DisclosureError(
                f"{analysis}: table {table.name!r} reached rounding with a count below "
                f"{policy.min_cell}; rounding runs after suppression, so this is refused "
                "rather than rounded up")
        cells.append(Cell(key=cell.key,
                          count=round_count(cell.count, policy.rounding, policy.min_cell)))
    return table.model_copy(update={"cells": tuple(cells)})


def round_counts(aggregate: SiteAggregate, policy: DisclosurePolicy) -> SiteAggregate:
    """The aggregate with every released person count rounded to ``policy.rounding``
    (unchanged when rounding is off). Raises :class:`DisclosureError` if a person count
    below the minimum cell reaches it (suppression did not run)."""
    if policy.rounding == 0:
        return aggregate
    tables: list[CountTable] = []
    rounded_any = False
    for table in aggregate.tables:
        if not person_level(table, aggregate.kind):
            tables.append(table)  # counts of checks, not persons
            continue
        tables.append(_round_table(table, aggregate.analysis, policy))
        rounded_any = rounded_any or any(c.count is not None for c in table.cells)
    notes = list(aggregate.notes)
    if rounded_any:
        notes.append(f"person counts rounded to the nearest multiple of {policy.rounding} "
                     f"(never below {policy.min_cell}); totals may differ from the sum of "
                     "their parts")
    return aggregate.model_copy(update={"tables": tuple(tables), "notes": tuple(notes)})
