"""Tie the scopes of a release's tables to who is counted, not to how a cohort was written.

An analysis scopes its tables by its cohort's *definition* fingerprint. Two definitions can
select the same persons (a redundant criterion is enough), and a researcher who wants a
hidden cell back would write them so. Before suppression across the analyses of one
release, the site replaces each definition fingerprint in a scope by a digest of the
cohort's members, so tables of the same persons are tied whatever their definitions. The
digest stays at the site with the scope (scopes are never serialised).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np

from behindglass.core.aggregates import MEMBER_AXIS, SiteAggregate, TableScope
from behindglass.core.cohort import Cohort


def _members(ids: np.ndarray) -> str:
    data = np.ascontiguousarray(np.asarray(ids, dtype=np.int64))
    return "members:" + hashlib.sha256(data.tobytes()).hexdigest()[:32]


def _fingerprints(scopes: Iterable[TableScope]) -> set[str]:
    out = set()
    for s in scopes:
        out.add(s.cohort)
        out.update(a[len(MEMBER_AXIS):] for a in s.axes if a.startswith(MEMBER_AXIS))
    return out


def by_members(aggregates: Sequence[SiteAggregate], cohorts: Mapping[str, Cohort],
               person_ids: Callable[[Cohort], np.ndarray] | None) -> list[SiteAggregate]:
    """``aggregates`` with every scope naming its cohorts by their members.

    ``person_ids`` is the store's ``person_ids(cohort)``; a fingerprint of a cohort not in
    ``cohorts`` stays as it is."""
    scoped = [a for a in aggregates if any(t.scope is not None for t in a.tables)]
    if not scoped or person_ids is None:
        return list(aggregates)
    wanted = _fingerprints(t.scope for a in scoped for t in a.tables if t.scope is not None)
    members = {c.fingerprint: _members(person_ids(c)) for c in cohorts.values()
               if c.fingerprint in wanted}

    def rename(s: TableScope) -> TableScope:
        axes = tuple(MEMBER_AXIS + members.get(a[len(MEMBER_AXIS):], a[len(MEMBER_AXIS):])
                     if a.startswith(MEMBER_AXIS) else a for a in s.axes)
        return s.model_copy(update={"cohort": members.get(s.cohort, s.cohort), "axes": axes})

    return [a.model_copy(update={"tables": tuple(
        t.model_copy(update={"scope": rename(t.scope)}) if t.scope is not None else t
        for t in a.tables)}) for a in aggregates]
