"""Small-cell suppression, primary and secondary, applied to every release at a site.

Primary: any person count below the policy's minimum cell size becomes suppressed.
Secondary: in a table whose cells add up to a released margin (for example persons by
sex adding up to the cohort's person count), one suppressed cell could be recovered by
subtraction, and several could be bounded tightly. So further cells, smallest first, are
suppressed until at least two cells are hidden and the hidden cells together hold at
least the minimum cell size.

In a table keyed by open-ended values with no margin (a top-concepts list), a suppressed
cell is dropped altogether: even its key would tell that a few persons at this site have
that concept.

Only person tables are subject to these rules (:func:`~behindglass.core.aggregates.
person_level`): a table of checks from the data-quality analysis passes unchanged, since
its counts are of checks run, not of persons. A non-person table from any other kind is
treated as persons here, and refused by the site's last gate.
"""

from __future__ import annotations

from behindglass.core.aggregates import Cell, CountTable, SiteAggregate, person_level
from behindglass.core.policy import DisclosurePolicy


def _primary(table: CountTable, min_cell: int) -> tuple[list[Cell], int]:
    cells: list[Cell] = []
    hidden = 0
    for cell in table.cells:
        if cell.count is not None and cell.count < min_cell:
            cells.append(Cell(key=cell.key, suppressed=True))
            hidden += 1
        else:
            cells.append(cell)
    return cells, hidden


def _secondary(original: CountTable, cells: list[Cell], min_cell: int) -> tuple[list[Cell], int]:
    true_counts = {c.key: c.count or 0 for c in original.cells}
    added = 0
    while True:
        hidden = [c for c in cells if c.suppressed]
        if not hidden:
            return cells, added
        hidden_mass = sum(true_counts[c.key] for c in hidden)
        if len(hidden) >= 2 and hidden_mass >= min_cell:
            return cells, added
        shown = [(c.count, i) for i, c in enumerate(cells) if not c.suppressed]
        if not shown:
            return cells, added
        _, index = min(shown)
        cells[index] = Cell(key=cells[index].key, suppressed=True)
        added += 1


def enforce(aggregate: SiteAggregate, policy: DisclosurePolicy) -> SiteAggregate:
    """Return the aggregate as the site may release it under ``policy``."""
    margins: dict[str, int | None] = {}
    tables: dict[str, tuple[CountTable, list[Cell]]] = {}
    primary_total = secondary_total = 0
    for table in aggregate.tables:
        if not person_level(table, aggregate.kind):
            tables[table.name] = (table, list(table.cells))
            continue
        cells, hidden = _primary(table, policy.min_cell)
        primary_total += hidden
        tables[table.name] = (table, cells)
        if not table.dims and len(cells) == 1:
            margins[table.name] = cells[0].count
    released: list[CountTable] = []
    for table, cells in tables.values():
        if not person_level(table, aggregate.kind):
            released.append(table)  # counts of checks: no person rule applies
            continue
        if (policy.secondary_suppression and table.margin is not None
                and margins.get(table.margin) is not None):
            cells, added = _secondary(table, cells, policy.min_cell)
            secondary_total += added
        labels = table.labels
        if table.dims and table.margin is None:
            cells = [c for c in cells if not c.suppressed]
            kept = {" / ".join(c.key) for c in cells}
            labels = {k: v for k, v in labels.items() if k in kept}
        released.append(table.model_copy(update={"cells": tuple(cells), "labels": labels}))
    notes = list(aggregate.notes)
    if primary_total or secondary_total:
        notes.append(
            f"{primary_total} cell(s) below {policy.min_cell} suppressed"
            + (f"; {secondary_total} more suppressed so they cannot be derived from totals"
               if secondary_total else "")
        )
    return aggregate.model_copy(update={"tables": tuple(released), "notes": tuple(notes)})


def smallest_released(aggregate: SiteAggregate) -> int | None:
    """The smallest person count in a release (None if none is released); for checks and
    tests. Counts of checks are not person counts and may well be 0 or 1."""
    counts = [c.count for t in aggregate.tables if person_level(t, aggregate.kind)
              for c in t.cells if c.count is not None]
    return min(counts) if counts else None
