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

The relations reach across the analyses of one release (:func:`enforce_release`): tables
of different analyses that count the same persons (their :class:`~behindglass.core.
aggregates.TableScope`) are tied too (:mod:`behindglass.privacy.linkage`), so a cell hidden
in a characterization by sex stays hidden beside a contingency table by sex x outcome of
the same cohort. An analysis whose small cell no suppression can protect is refused alone;
the others are protected again without it.

In a table keyed by open-ended values with no margin (a top-concepts list), a suppressed
cell is dropped altogether: even its key would tell that a few persons at this site have
that concept.

Only person tables are subject to these rules (:func:`~behindglass.core.aggregates.
person_level`): a table of checks from the data-quality analysis passes unchanged, since
its counts are of checks run, not of persons. A non-person table from any other kind is
treated as persons here, and refused by the site's last gate.
"""

from __future__ import annotations

from collections.abc import Sequence

from behindglass.core.aggregates import Cell, CountTable, SiteAggregate, person_level
from behindglass.core.errors import DisclosureError
from behindglass.core.policy import DisclosurePolicy
from behindglass.privacy.linkage import (
    Prior,
    Scoped,
    cross_relations,
    distinct,
    qualified,
    qualify,
    unqualify,
)
from behindglass.privacy.protection import (
    CellRef,
    Relation,
    Unprotectable,
    complement,
    derive_relations,
    reachable,
)

# the same words whichever earlier release and cell it is: naming either would point at it
EARLIER = ("refused: together with an earlier release to you or to this study, this result "
           "would let a suppressed cell be derived; ask the site's steward")


def _primary(name: str, table: CountTable, min_cell: int) -> set[CellRef]:
    # a cell the analysis already suppressed is protected as if it were small
    return {(name, c.key) for c in table.cells if c.count is None or c.count < min_cell}


def _released(table: CountTable, name: str, hidden: set[CellRef]) -> CountTable:
    cells = [Cell(key=c.key, suppressed=True) if (name, c.key) in hidden else c
             for c in table.cells]
    labels = table.labels
    if table.dims and table.margin is None:
        cells = [c for c in cells if not c.suppressed]
        kept = {" / ".join(c.key) for c in cells}
        labels = {k: v for k, v in labels.items() if k in kept}
    return table.model_copy(update={"cells": tuple(cells), "labels": labels, "scope": None})


def _persons(aggregate: SiteAggregate) -> list[CountTable]:
    return [t for t in aggregate.tables if person_level(t, aggregate.kind)]


def _hide(release: Sequence[tuple[int, SiteAggregate]], policy: DisclosurePolicy,
          prior: Sequence[tuple[int, Prior]] = ()) -> tuple[set[CellRef], set[CellRef]]:
    """The cells to suppress across ``release`` (positions and aggregates): primary, added.
    The ``prior`` releases' hidden cells are protected too; their shown cells are fixed."""
    primary: set[CellRef] = set()
    for pos, agg in release:
        for t in _persons(agg):
            primary |= _primary(qualify(pos, t.name), t, policy.min_cell)
    earlier = {(qualify(pos, name), key) for pos, p in prior for name, key in p.hidden}
    if not (primary or earlier) or not policy.secondary_suppression:
        return primary, set()
    fixed = {(qualify(pos, t.name), c.key) for pos, p in prior for t in p.tables
             for c in t.cells} - earlier
    values: dict[CellRef, int] = {}
    margins: set[CellRef] = set()
    relations: list[Relation] = []
    scoped: list[Scoped] = []
    parts = [(pos, agg.kind, _persons(agg)) for pos, agg in release]
    parts += [(pos, p.kind, list(p.tables)) for pos, p in prior]
    for pos, kind, tables in parts:
        for t in tables:
            name = qualify(pos, t.name)
            values.update({(name, c.key): c.count for c in t.cells if c.count is not None})
            if not t.dims and len(t.cells) == 1:
                margins.add((name, ()))
            if t.scope is not None:
                scoped.append(Scoped(pos, t))
        relations += qualified(derive_relations(tables, kind), pos)
    relations += cross_relations(scoped)
    # an earlier hidden cell tied to nothing of this release (through unknowns) keeps the
    # interval it was released with: a known count from here on, and not worked on again
    earlier = reachable(relations, {r for r in values.keys() | primary
                                    if unqualify(r[0])[0] >= 0}, earlier)
    fixed |= {(qualify(pos, name), key) for pos, p in prior for name, key in p.hidden} - earlier
    # of those, the small ones must stay protected; the rest were hidden to protect them
    small = {r for r in earlier if values.get(r) is None or values[r] < policy.min_cell}
    return primary, complement(values, primary | small, relations, policy.min_cell,
                               margins, fixed, unknown=earlier - small)


def _note(aggregate: SiteAggregate, pos: int, policy: DisclosurePolicy,
          added: set[CellRef]) -> tuple[str, ...]:
    small = sum(1 for t in _persons(aggregate) for c in t.cells
                if c.count is not None and c.count < policy.min_cell)
    more = sum(1 for name, _ in added if unqualify(name)[0] == pos)
    if not (small or more):
        return aggregate.notes
    return (*aggregate.notes,
            f"{small} cell(s) below {policy.min_cell} suppressed"
            + (f"; {more} more suppressed so they cannot be derived from totals"
               if more else ""))


def _blamed(pos: int, live: Sequence[tuple[int, SiteAggregate]],
            prior: Sequence[tuple[int, Prior]]) -> list[int]:
    """The analyses of the release that describe the persons of earlier release ``pos``."""
    cohorts = {t.scope.cohort for p, earlier in prior if p == pos for t in earlier.tables
               if t.scope is not None}
    return [p for p, agg in live
            if any(t.scope is not None and t.scope.cohort in cohorts for t in agg.tables)]


def enforce_release(aggregates: Sequence[SiteAggregate], policy: DisclosurePolicy,
                    prior: Sequence[Prior] = ()) -> list[SiteAggregate | DisclosureError]:
    """Each of ``aggregates`` (the analyses of one release) as the site may release it
    under ``policy``, or why it may not be released. Suppression is worked out over all of
    them at once, so no hidden cell can be derived from another analysis's tables, nor,
    with ``prior`` (earlier releases of the same persons to the same researcher or study,
    :mod:`.table_memory`), from the tables released before."""
    out: dict[int, SiteAggregate | DisclosureError] = {}
    live = list(enumerate(aggregates))
    earlier = [(-1 - j, p) for j, p in enumerate(distinct(prior))]  # apart from the release
    while True:
        try:
            primary, added = _hide(live, policy, earlier)
            break
        except Unprotectable as exc:  # that analysis alone is refused; the rest again
            pos, table = unqualify(exc.ref[0])
            if pos >= 0:
                out[pos] = Unprotectable((table, exc.ref[1]))
            else:  # an earlier hidden cell: the analyses of its persons are refused
                blamed = _blamed(pos, live, earlier)
                out.update({p: DisclosureError(EARLIER) for p in blamed})
                if not blamed:  # nothing here touches it: it is no longer this release's
                    earlier = [(p, e) for p, e in earlier if p != pos]
        except DisclosureError as exc:  # not any one analysis's fault: none is released
            out.update({pos: exc for pos, _ in live})
            live = []
            continue
        live = [(p, a) for p, a in live if p not in out]
    hidden = primary | added
    for pos, agg in live:
        tables = tuple(_released(t, qualify(pos, t.name), hidden)
                       if person_level(t, agg.kind) else t.model_copy(update={"scope": None})
                       for t in agg.tables)  # counts of checks: no person rule applies
        out[pos] = agg.model_copy(update={"tables": tables, "bounds": {},  # site-only
                                          "notes": _note(agg, pos, policy, added)})
    return [out[i] for i in range(len(aggregates))]


def enforce(aggregate: SiteAggregate, policy: DisclosurePolicy) -> SiteAggregate:
    """Return the aggregate as the site may release it under ``policy`` (alone)."""
    (result,) = enforce_release([aggregate], policy)
    if isinstance(result, DisclosureError):
        raise result
    return result


def smallest_released(aggregate: SiteAggregate) -> int | None:
    """The smallest person count in a release (None if none is released); for checks and
    tests. Counts of checks are not person counts and may well be 0 or 1."""
    counts = [c.count for t in aggregate.tables if person_level(t, aggregate.kind)
              for c in t.cells if c.count is not None]
    return min(counts) if counts else None
