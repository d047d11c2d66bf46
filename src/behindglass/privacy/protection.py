"""What an attacker can compute about a suppressed cell, and when that is too much.

A suppressed cell is safe only if nobody can work it out from the numbers released next to
it. Those numbers are tied by linear relations: the cells of a table add up to its margin;
a table by sex and one by sex x age band under the same margin agree on their row sums; the
cohort method's persons per group add up to its cohort size. An attacker who writes these
relations down with every released count fixed and every suppressed count an unknown
``>= 0`` gets, for each suppressed cell, the smallest and largest value it can take: its
*feasible interval*, computed here exactly as the attacker would, by linear programming
(``scipy.optimize.linprog``; where the relaxation's optimum is not integral, the integer
bound by ``scipy.optimize.milp``).

The rule (the *sliding protection range* of Statistics Netherlands' tau-ARGUS): a suppressed
cell is protected when its feasible interval is at least ``width`` wide, ``width`` being the
policy's minimum cell size unless set otherwise. As every primary cell is below the minimum
and no bound is below 0, a protected cell's interval also reaches the minimum: the attacker
cannot even tell that the cell was small. For one table under a shown margin this is exactly
the classic rule (at least two cells hidden, holding at least the minimum between them).

:func:`complement` adds complementary suppressions, cheapest (smallest count) first, until
every primary cell is protected. See ``docs/suppression.md`` for the rule's limits.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from behindglass.core.aggregates import CountTable
from behindglass.core.errors import DisclosureError

CellRef = tuple[str, tuple[str, ...]]  # (table name, cell key)
Sense = Literal["==", "<="]
MAX_TRIALS = 40  # candidates tried, cheapest first, before spreading to pinning relations
_EPS = 1e-6


class Unprotectable(DisclosureError):
    """A small cell that no further suppression can protect: its analysis is refused."""

    def __init__(self, ref: CellRef) -> None:
        self.ref = ref
        super().__init__(f"table {ref[0]!r}: no further cell can be suppressed to protect a "
                         "small cell; refused")


@dataclass(frozen=True)
class Relation:
    """``sum(coef * count) == 0`` (or ``<= 0``) over released or suppressed cells."""

    terms: tuple[tuple[CellRef, int], ...]
    sense: Sense = "=="
    why: str = ""

    def holds(self, values: Mapping[CellRef, int]) -> bool:
        total = sum(c * values[r] for r, c in self.terms)
        return total == 0 if self.sense == "==" else total <= 0


class Interval(NamedTuple):
    lo: float
    hi: float  # math.inf when nothing bounds the cell from above

    @property
    def width(self) -> float:
        return self.hi - self.lo


def protected(interval: Interval, width: int) -> bool:
    """The sliding protection rule: the attacker's interval is at least ``width`` wide."""
    return interval.width >= width


# -- relations -------------------------------------------------------------------------------
def _margin_relations(by_name: Mapping[str, CountTable]) -> list[Relation]:
    out = []
    for t in by_name.values():
        m = by_name.get(t.margin or "")
        if m is None or m.dims or len(m.cells) != 1:
            continue
        terms = [((t.name, c.key), 1) for c in t.cells] + [((m.name, ()), -1)]
        out.append(Relation(tuple(terms), why=f"cells of {t.name!r} add up to {m.name!r}"))
    return out


def _nested_relations(by_name: Mapping[str, CountTable]) -> list[Relation]:
    """Under one margin, a table whose dimensions are a subset of another's is its sum."""
    out = []
    with_margin = [t for t in by_name.values() if t.margin in by_name and t.dims]
    for small in with_margin:
        for big in with_margin:
            if (small is big or small.margin != big.margin
                    or not set(small.dims) < set(big.dims)):
                continue
            at = [big.dims.index(d) for d in small.dims]
            groups: dict[tuple[str, ...], list[CellRef]] = {}
            for c in big.cells:
                groups.setdefault(tuple(c.key[i] for i in at), []).append((big.name, c.key))
            listed = {c.key for c in small.cells}
            for key in listed:
                groups.setdefault(key, [])
            for key, refs in groups.items():  # an unlisted key of ``small`` is an exact 0
                terms = [(r, 1) for r in refs]
                if key in listed:
                    terms.append(((small.name, key), -1))
                out.append(Relation(tuple(terms), why=f"{big.name!r} sums to {small.name!r}"))
    return out


def _cohort_method_relations(by_name: Mapping[str, CountTable]) -> list[Relation]:
    """The cohort method's tables: persons per group add up to the population; events of
    a group are at most its persons; each group's strata add up to its persons."""
    pop, persons = by_name.get("cm:population"), by_name.get("cm:persons")
    if pop is None:
        return []
    keys = {c.key for c in pop.cells}
    groups = sorted({k[0] for k in keys})
    out = []
    per = [((pop.name, (g, "persons")), 1) for g in groups if (g, "persons") in keys]
    if persons is not None and len(persons.cells) == 1:
        out.append(Relation((*per, ((persons.name, ()), -1)), why="groups add up to persons"))
    for g in groups:
        if (g, "events") in keys and (g, "persons") in keys:
            out.append(Relation((((pop.name, (g, "events")), 1), ((pop.name, (g, "persons")), -1)),
                                "<=", why="events are at most persons"))
    strata = by_name.get("cm:strata")
    if strata is not None:
        for g in groups:
            if (g, "persons") in keys:
                terms = [((strata.name, c.key), 1) for c in strata.cells if c.key[-1] == g]
                out.append(Relation((*terms, ((pop.name, (g, "persons")), -1)),
                                    why="strata of a group add up to its persons"))
    return out


# relations an analysis's output carries beyond its margins, by analysis kind
DECLARED: dict[str, Callable[[Mapping[str, CountTable]], list[Relation]]] = {
    "cohort_method": _cohort_method_relations,
}


def derive_relations(tables: Sequence[CountTable], kind: str) -> list[Relation]:
    """Every linear relation among ``tables`` (person tables of one release) we know of."""
    by_name = {t.name: t for t in tables}
    found = _margin_relations(by_name) + _nested_relations(by_name)
    declared = DECLARED.get(kind)
    return found + (declared(by_name) if declared else [])


def reachable(relations: Sequence[Relation], start: Iterable[CellRef],
              among: Iterable[CellRef]) -> set[CellRef]:
    """The cells of ``among`` tied to a cell of ``start`` by relations, through cells of
    ``start`` and ``among`` only (every other cell is a known constant)."""
    nodes = set(start) | set(among)
    parent = {r: r for r in nodes}

    def find(r: CellRef) -> CellRef:
        while parent[r] != r:
            parent[r] = parent[parent[r]]
            r = parent[r]
        return r

    for rel in relations:
        refs = [r for r, _ in rel.terms if r in nodes]
        for r in refs[1:]:
            parent[find(r)] = find(refs[0])
    roots = {find(r) for r in start}
    return {r for r in among if find(r) in roots}


# -- the attacker's linear program -----------------------------------------------------------
class _System:
    """Relations with the shown counts fixed: one linear program per suppressed cell.

    ``shown`` holds the count of at least every cell not in ``hidden`` (a hidden cell's
    count, if there, is never read)."""

    def __init__(self, relations: Sequence[Relation], shown: Mapping[CellRef, int],
                 hidden: Iterable[CellRef],
                 cache: dict[tuple[object, ...], Any] | None = None) -> None:
        self.relations = relations
        self.shown = shown
        self.hidden = set(hidden)
        # one interval per (cell, its group of hidden cells): the group fixes the program
        self.cache = {} if cache is None else cache
        parent: dict[CellRef, CellRef] = {r: r for r in self.hidden}

        def find(r: CellRef) -> CellRef:
            while parent[r] != r:
                parent[r] = parent[parent[r]]
                r = parent[r]
            return r

        self._find = find
        self._groups: dict[CellRef, list[CellRef]] | None = None
        self.touching: dict[CellRef, list[int]] = {}
        for i, rel in enumerate(relations):
            refs = [r for r, _ in rel.terms if r in self.hidden]
            for r in refs[1:]:
                parent[find(r)] = find(refs[0])
            for r in refs:
                self.touching.setdefault(r, []).append(i)

    def component(self, ref: CellRef) -> tuple[list[CellRef], list[int]]:
        if self._groups is None:
            self._groups = {}
            for r in sorted(self.hidden):
                self._groups.setdefault(self._find(r), []).append(r)
        cells = self._groups[self._find(ref)]
        rels = sorted({i for r in cells for i in self.touching.get(r, [])})
        return cells, rels

    def cap(self, ref: CellRef, values: Mapping[CellRef, int]) -> float:
        return _cap(self.relations, self.touching.get(ref, []), self.hidden, values)

    def interval(self, ref: CellRef, exact: bool = True) -> Interval:
        """``ref``'s feasible interval; ``exact=False`` allows the linear relaxation's
        (never narrower), enough to rank candidates."""
        cells, rels = self.component(ref)
        if not rels:
            return Interval(0.0, math.inf)
        key = (ref, frozenset(cells), exact)
        if key not in self.cache:
            a, b, eq, col = self._program(cells, rels)
            fast = _one_sum(a, b, eq)
            self.cache[key] = fast if fast is not None else _solve(
                a, b, eq, col[ref], exact, self._points(cells))
        return self.cache[key]

    def wide(self, ref: CellRef, width: int, values: Mapping[CellRef, int]) -> bool:
        """Whether two integral solutions of ``ref``'s program already known (the true
        counts, and each optimum found so far) are ``width`` apart in ``ref``: then its
        interval is at least that wide, without a program of its own."""
        cells, rels = self.component(ref)
        if not rels:
            return True
        j = cells.index(ref)
        seen = [p[j] for p in self._points(cells)]
        if all(r in values for r in cells):  # the truth is one solution
            seen.append(values[ref])
        return bool(seen) and max(seen) - min(seen) >= width - _EPS

    def reaches(self, ref: CellRef, width: int, values: Mapping[CellRef, int]) -> bool:
        """Whether ``ref``'s largest value is ``width`` above a solution already known (the
        truth, an optimum found so far): then its interval is that wide, for the price of
        one linear program instead of two."""
        cells, rels = self.component(ref)
        if not rels:
            return True
        key = (ref, frozenset(cells), "upper")
        if key not in self.cache:
            a, b, eq, col = self._program(cells, rels)
            fast = _one_sum(a, b, eq)
            self.cache[key] = fast.hi if fast is not None else _solve(
                a, b, eq, col[ref], True, self._points(cells), signs=(-1.0,)).hi
        j = cells.index(ref)
        seen = [p[j] for p in self._points(cells)]
        if all(r in values for r in cells):
            seen.append(values[ref])
        return bool(seen) and self.cache[key] - min(seen) >= width - _EPS

    def _points(self, cells: list[CellRef]) -> list[np.ndarray]:
        found: list[np.ndarray] = self.cache.setdefault(("points", frozenset(cells)), [])
        return found

    def _program(self, cells: list[CellRef], rels: list[int]
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[CellRef, int]]:
        key = ("program", frozenset(cells))
        if key not in self.cache:
            col = {r: j for j, r in enumerate(cells)}
            a = np.zeros((len(rels), len(cells)))
            b = np.zeros(len(rels))
            eq = np.zeros(len(rels), dtype=bool)
            for row, i in enumerate(rels):
                rel = self.relations[i]
                eq[row] = rel.sense == "=="
                for r, c in rel.terms:
                    if r in col:
                        a[row, col[r]] += c
                    else:
                        b[row] -= c * self.shown[r]
            self.cache[key] = (a, b, eq, col)
        program: tuple[np.ndarray, np.ndarray, np.ndarray, dict[CellRef, int]] = \
            self.cache[key]
        return program


def _cap(relations: Sequence[Relation], containing: Iterable[int], hidden: set[CellRef],
         values: Mapping[CellRef, int]) -> float:
    """An upper limit on a cell's interval width without a linear program (``containing``:
    the relations it is in; ``values``: true counts): 0 if a relation leaves it the only
    hidden cell, else the least hidden mass of a relation whose hidden cells all count the
    same way."""
    least = math.inf
    for i in containing:
        rel = relations[i]
        if rel.sense != "==":
            continue
        inside = [(r, c) for r, c in rel.terms if r in hidden]
        if len(inside) == 1:
            return 0.0
        if len({c > 0 for _, c in inside}) == 1:
            least = min(least, sum(abs(c) * values.get(r, math.inf) for r, c in inside))
    return least


def _one_sum(a: np.ndarray, b: np.ndarray, eq: np.ndarray) -> Interval | None:
    """Closed form for the common case: one equation ``x_1 + ... + x_n = b``."""
    if a.shape[0] != 1 or not eq[0] or not np.all(a[0] == 1):
        return None
    total = float(b[0])
    return Interval(0.0 if a.shape[1] > 1 else total, total)


def _solve(a: np.ndarray, b: np.ndarray, eq: np.ndarray, j: int, exact: bool,
           points: list[np.ndarray] | None = None, signs: tuple[float, ...] = (1.0, -1.0)
           ) -> Interval:
    """``x_j``'s bounds; each integral optimum found is added to ``points`` (a solution
    other cells' intervals can be read from). ``signs=(-1.0,)``: the upper bound only
    (then ``lo`` is -inf, not a bound)."""
    n = a.shape[1]
    a_eq, b_eq = (a[eq], b[eq]) if eq.any() else (None, None)
    a_ub, b_ub = (a[~eq], b[~eq]) if (~eq).any() else (None, None)
    out: list[float] = [] if 1.0 in signs else [-math.inf]
    for sign in signs:
        c = np.zeros(n)
        c[j] = sign
        res = linprog(c, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=(0, None),
                      method="highs")
        if res.status == 3:
            out.append(math.inf if sign < 0 else 0.0)
            continue
        if res.status != 0:
            raise DisclosureError("secondary suppression could not bound a suppressed cell "
                                  f"(solver: {res.message}); refused")
        bound = sign * res.fun
        if points is not None and np.allclose(res.x, np.round(res.x), atol=_EPS):
            points.append(np.round(res.x))
        # an integral optimal vertex is also the integer optimum; otherwise the integer
        # bound may be tighter than the relaxation's, and the attacker would use it
        if exact and not np.allclose(res.x, np.round(res.x), atol=_EPS):
            bound = _integer_bound(a, b, eq, c)
            if bound is None:  # no proof either way: judge the cell pinned (fail closed)
                return Interval(0.0, 0.0)
            bound *= sign
        out.append(math.ceil(bound - _EPS) if sign > 0 else math.floor(bound + _EPS))
    return Interval(float(out[0]), float(out[1]))


def _integer_bound(a: np.ndarray, b: np.ndarray, eq: np.ndarray, c: np.ndarray
                   ) -> float | None:
    cons = LinearConstraint(a, np.where(eq, b, -np.inf), b)
    res = milp(c, integrality=np.ones(a.shape[1]), bounds=Bounds(0, np.inf),
               constraints=cons, options={"time_limit": 2.0})
    return float(res.fun) if res.status == 0 else None


def intervals(relations: Sequence[Relation], shown: Mapping[CellRef, int],
              hidden: Iterable[CellRef]) -> dict[CellRef, Interval]:
    """The attacker's feasible interval of every hidden cell, from the shown ones."""
    system = _System(relations, shown, hidden)
    return {r: system.interval(r) for r in sorted(system.hidden)}


# -- complementary suppression ---------------------------------------------------------------
def complement(values: Mapping[CellRef, int], primary: Iterable[CellRef],
               relations: Sequence[Relation], width: int,
               margins: Iterable[CellRef] = (), fixed: Iterable[CellRef] = (),
               unknown: Iterable[CellRef] = ()) -> set[CellRef]:
    """Cells to suppress besides ``primary`` so that every primary cell is protected.

    ``values`` are the true counts of every cell the relations name. A candidate is a shown
    cell in a relation of the unprotected cell's group of hidden cells; the cheapest (smallest
    count) candidate that widens the cell's interval is taken. When none does on its own (a
    cell pinned by two relations at once), the cheapest shown cell of every relation that
    pins a hidden cell is taken, so the next round can close the loop. One-cell margins
    (``margins``) come last, so the cohort size stays shown whenever other cells can do.
    ``fixed`` cells were shown in an earlier release: they are never chosen. ``unknown``
    cells were hidden earlier to protect others: unknowns to the attacker, they need no
    interval of their own.
    """
    targets = sorted(set(primary))
    hidden = set(targets) | set(unknown)
    # a relation that is not true helps no attacker; one over a cell suppressed before we
    # saw it (no value here) cannot be checked, and is kept
    relations = [r for r in relations if all(ref in values or ref in hidden for ref, _ in r.terms)
                 and (any(ref not in values for ref, _ in r.terms) or r.holds(values))]
    added: set[CellRef] = set()
    margin_set, fixed_set = set(margins), set(fixed)
    cache: dict[tuple[object, ...], Any] = {}
    # one primary cell at a time: suppressing more only widens every interval, so a cell
    # once protected stays protected while the next ones are worked on
    system = _System(relations, values, hidden, cache)
    for p in targets:
        while True:
            if system.cap(p, values) >= width and (system.wide(p, width, values)
                                                   or system.reaches(p, width, values)
                                                   or protected(system.interval(p), width)):
                break
            extra = _next(p, system, values, relations, margin_set, fixed_set, cache)
            if not extra:
                if values.get(p) != 0:
                    raise Unprotectable(p)
                # a zero pinned by relations among hidden cells alone: an unlisted cell of
                # another table already says it is zero (the convention); a zero is no one
                break
            hidden |= extra
            added |= extra
            system = _System(relations, values, hidden, cache)
    return added


def _next(p: CellRef, system: _System, values: Mapping[CellRef, int],
          relations: Sequence[Relation], margins: set[CellRef], fixed: set[CellRef],
          cache: dict[tuple[object, ...], Any]) -> set[CellRef]:
    """The next cells to suppress for ``p`` (none: nothing left that could help)."""
    _, rels = system.component(p)
    near = {r for i in rels for r, _ in relations[i].terms
            if r not in system.hidden and r not in fixed}
    # smallest count first, ties in the order the release lists its cells
    order = {r: i for i, r in enumerate(values)}
    cost = {r: (r in margins, values[r], order[r]) for r in near}
    candidates = sorted(near, key=cost.__getitem__)
    before = (system.interval(p, exact=False).width if system.cap(p, values) > 0 else 0.0)
    tried = [c for c in candidates if c not in margins][:MAX_TRIALS]
    for c in tried:
        more = system.hidden | {c}
        if _cap(relations, system.touching.get(p, []), more, values) <= before:
            continue  # cannot widen: skip the linear program
        trial = _System(relations, values, more, cache)
        if trial.interval(p, exact=False).width > before:
            return {c}
    spread: set[CellRef] = set()
    for i in rels:
        rel = relations[i]
        if sum(r in system.hidden for r, _ in rel.terms) == 1:
            options = sorted((r for r, _ in rel.terms if r in near), key=cost.__getitem__)
            if options:
                spread.add(options[0])  # margins sort last
    if spread:
        return spread
    return {candidates[0]} if candidates else set()
