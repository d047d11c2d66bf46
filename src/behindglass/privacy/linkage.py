"""Relations between the tables of *different* analyses of one release.

Within one analysis's output, tables are tied by their margins and dimensions
(:func:`behindglass.privacy.protection.derive_relations`). Across analyses the tie is what
they count: a characterization of cohort C by sex and a contingency table of C by sex x
outcome describe the same persons, so the contingency table's row sums are the
characterization's sex counts, and a cell hidden in one could be read off the other. Each
analysis says what its tables count in a :class:`~behindglass.core.aggregates.TableScope`;
two scoped tables of different analyses that count the same persons (same cohort and
subset), one classifying by a subset of the other's axes, give one relation per key of the
coarser table: it equals the sum of the finer table's cells that project onto it.

Cell references here are qualified by the aggregate's position in the release
(:func:`qualify`), so two analyses' tables of the same name stay apart.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from behindglass.core.aggregates import CountTable, TableScope
from behindglass.privacy.protection import CellRef, Relation


@dataclass(frozen=True)
class Prior:
    """One earlier release's scoped person tables (true counts) and the cells it hid, as
    :mod:`behindglass.privacy.table_memory` keeps them."""

    label: str
    kind: str
    tables: tuple[CountTable, ...]
    hidden: frozenset[tuple[str, tuple[str, ...]]]  # (table name, cell key)


def distinct(prior: Sequence[Prior]) -> list[Prior]:
    """``prior`` with each table kept once: a table with the same scope and the same counts
    as one kept already (the same characterization asked again, every release's cohort
    size) adds nothing an attacker does not know from the first, but its cells would each
    be protected again. The copy kept hides only what every copy hid (a cell shown once is
    known). A table's ties to its own release's other tables are kept by the scopes: they
    count the same persons, so the cross relations hold them."""
    first: dict[str, tuple[int, CountTable]] = {}
    hidden: dict[str, set[tuple[str, ...]]] = {}
    for i, p in enumerate(prior):
        for t in p.tables:
            assert t.scope is not None
            key = json.dumps([t.scope.model_dump(mode="json"), list(t.dims),
                              sorted([list(c.key), c.count] for c in t.cells)], sort_keys=True)
            mine = {k for name, k in p.hidden if name == t.name}
            if key in first:
                hidden[key] &= mine
            else:
                first[key], hidden[key] = (i, t), mine
    out = []
    for i, p in enumerate(prior):
        kept = {key: t for key, (j, t) in first.items() if j == i}
        if kept:
            out.append(Prior(p.label, p.kind, tuple(kept.values()), frozenset(
                (t.name, k) for key, t in kept.items() for k in hidden[key])))
    return out


def qualify(position: int, table: str) -> str:
    """The release-wide name of table ``table`` of the aggregate at ``position``."""
    return f"{position}\x1f{table}"


def unqualify(name: str) -> tuple[int, str]:
    position, _, table = name.partition("\x1f")
    return int(position), table


def qualified(relations: Sequence[Relation], position: int) -> list[Relation]:
    """``relations`` among one aggregate's tables, with release-wide cell references."""
    return [Relation(tuple(((qualify(position, t), key), c) for (t, key), c in r.terms),
                     r.sense, r.why) for r in relations]


@dataclass(frozen=True)
class Scoped:
    """A scoped person table of the release: which aggregate it is in, and its name there."""

    position: int
    table: CountTable

    @property
    def scope(self) -> TableScope:
        assert self.table.scope is not None
        return self.table.scope

    @property
    def name(self) -> str:
        return qualify(self.position, self.table.name)


@dataclass(frozen=True)
class View:
    """One way a table classifies its persons: by ``axes``, its keys mapped by ``keys``
    (a one-dimension table's coarser axis) or as they are (None)."""

    axes: tuple[str, ...]
    keys: Mapping[str, str] | None = None


def _views(t: Scoped) -> list[View]:
    return [View(t.scope.axes)] + [View((axis, ), keys)
                                   for axis, keys in t.scope.coarser.items()]


def _grouped(t: Scoped, view: View, axes: tuple[str, ...]) -> dict[tuple[str, ...],
                                                                   list[CellRef]]:
    """``t``'s cells by their keys on ``axes`` (a subset of the view's)."""
    at = [view.axes.index(a) for a in axes]
    out: dict[tuple[str, ...], list[CellRef]] = {}
    for c in t.table.cells:
        key = c.key if view.keys is None else (view.keys.get(c.key[0], c.key[0]),)
        out.setdefault(tuple(key[i] for i in at), []).append((t.name, c.key))
    return out


def _tie(coarse: Scoped, cv: View, fine: Scoped, fv: View) -> list[Relation]:
    """Per key on the coarse view's axes: the fine table's cells there add up to the coarse
    table's (a key a table leaves out is an exact zero there)."""
    mine, theirs = _grouped(coarse, cv, cv.axes), _grouped(fine, fv, cv.axes)
    why = f"{fine.table.name!r} counts the persons of {coarse.table.name!r}"
    return [Relation(tuple([(r, 1) for r in theirs.get(key, [])]
                           + [(r, -1) for r in mine.get(key, [])]), why=why)
            for key in sorted(mine.keys() | theirs.keys())]


def _coarser(a: Scoped, va: View, b: Scoped, vb: View) -> bool:
    """Whether view ``va`` of ``a`` classifies by a subset of ``vb``'s axes (ties: the
    earlier table)."""
    sa, sb = set(va.axes), set(vb.axes)
    if len(sa) != len(va.axes) or len(sb) != len(vb.axes) or not sa <= sb:
        return False
    return sa < sb or (a.position, a.table.name) < (b.position, b.table.name)


def cross_relations(tables: Sequence[Scoped]) -> list[Relation]:
    """Every relation between scoped tables of different aggregates of one release."""
    same: dict[tuple[str, str], list[Scoped]] = {}
    for t in tables:
        same.setdefault((t.scope.cohort, t.scope.subset), []).append(t)
    out: list[Relation] = []
    for group in same.values():
        for a in group:
            for b in group:
                if a.position == b.position:
                    continue
                for va in _views(a):
                    out += [r for vb in _views(b) if _coarser(a, va, b, vb)
                            for r in _tie(a, va, b, vb)]
    return out
