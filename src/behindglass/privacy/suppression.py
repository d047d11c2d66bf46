"""Small-cell suppression, primary and secondary, applied to every release at a site.

Primary: any person count below the policy's minimum cell size becomes suppressed.

Secondary (complementary): the cells of a release are tied together by linear relations (a
table's cells add up to its margin; tables under one margin agree on shared dimensions; an
analysis may declare more, see :mod:`behindglass.privacy.protection`). A suppressed cell
could be recovered, or bounded tightly, from those relations and the cells still shown. So
further cells, smallest first, are suppressed until an attacker solving the relations for
each primary cell finds an interval at least ``min_cell`` wide (``docs/suppression.md``).
For one table under a shown margin that is the classic rule: at least two cells hidden,
holding at least the minimum cell size between them.

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
from behindglass.privacy.protection import CellRef, complement, derive_relations


def _primary(table: CountTable, min_cell: int) -> set[CellRef]:
    # a cell the analysis already suppressed is protected as if it were small
    return {(table.name, c.key) for c in table.cells
            if c.count is None or c.count < min_cell}


def _released(table: CountTable, hidden: set[CellRef]) -> CountTable:
    cells = [Cell(key=c.key, suppressed=True) if (table.name, c.key) in hidden else c
             for c in table.cells]
    labels = table.labels
    if table.dims and table.margin is None:
        cells = [c for c in cells if not c.suppressed]
        kept = {" / ".join(c.key) for c in cells}
        labels = {k: v for k, v in labels.items() if k in kept}
    return table.model_copy(update={"cells": tuple(cells), "labels": labels})


def enforce(aggregate: SiteAggregate, policy: DisclosurePolicy) -> SiteAggregate:
    """Return the aggregate as the site may release it under ``policy``."""
    persons = [t for t in aggregate.tables if person_level(t, aggregate.kind)]
    primary: set[CellRef] = set()
    for table in persons:
        primary |= _primary(table, policy.min_cell)
    added: set[CellRef] = set()
    if primary and policy.secondary_suppression:
        values = {(t.name, c.key): c.count for t in persons for c in t.cells
                  if c.count is not None}
        margins = {(t.name, ()) for t in persons if not t.dims and len(t.cells) == 1}
        added = complement(values, primary, derive_relations(persons, aggregate.kind),
                           policy.min_cell, margins)
    hidden = primary | added
    small = sum(1 for t in persons for c in t.cells if c.count is not None
                and c.count < policy.min_cell)
    released = tuple(_released(t, hidden) if person_level(t, aggregate.kind) else t
                     for t in aggregate.tables)  # counts of checks: no person rule applies
    notes = list(aggregate.notes)
    if small or added:
        notes.append(
            f"{small} cell(s) below {policy.min_cell} suppressed"
            + (f"; {len(added)} more suppressed so they cannot be derived from totals"
               if added else "")
        )
    return aggregate.model_copy(update={"tables": released, "notes": tuple(notes)})


def smallest_released(aggregate: SiteAggregate) -> int | None:
    """The smallest person count in a release (None if none is released); for checks and
    tests. Counts of checks are not person counts and may well be 0 or 1."""
    counts = [c.count for t in aggregate.tables if person_level(t, aggregate.kind)
              for c in t.cells if c.count is not None]
    return min(counts) if counts else None
