"""The attacker of the suppression tests: one who holds several releases of one site."""

from __future__ import annotations

from collections.abc import Sequence

from behindglass.core.aggregates import SiteAggregate
from behindglass.privacy.linkage import Scoped, cross_relations, qualified, qualify
from behindglass.privacy.protection import CellRef, Interval, derive_relations, intervals


def attacker(raws: Sequence[SiteAggregate], released: Sequence[SiteAggregate]
             ) -> dict[CellRef, Interval]:
    """Every hidden cell's feasible interval, given every released count and every relation
    the tables obey, within each analysis and between them (the analyses' structure is
    public: the researcher wrote the requests). ``raws[i]`` is what ``released[i]`` came
    from, with its scopes."""
    relations, scoped, shown, hidden = [], [], {}, []
    for pos, (before, after) in enumerate(zip(raws, released, strict=True)):
        relations += qualified(derive_relations(before.tables, before.kind), pos)
        scoped += [Scoped(pos, t) for t in before.tables if t.scope is not None]
        for t in after.tables:
            for c in t.cells:
                ref = (qualify(pos, t.name), c.key)
                if c.suppressed:
                    hidden.append(ref)
                else:
                    shown[ref] = c.count
    return intervals(relations + cross_relations(scoped), shown, hidden)
