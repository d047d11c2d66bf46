"""Attacks on suppression: an adversary solves the released relations for each hidden cell.

The attacker here is written independently of ``privacy.protection``: it lists by hand the
equations a reader of the release can write (a table adds up to its margin, a table by sex x
age band adds up to the tables by sex and by age band, a pooled total adds up to the sites'
numbers), fixes every released count and asks an integer program (``scipy.optimize.milp``)
for the smallest and largest value of each hidden cell. A cell below the minimum is safe
only if that interval is at least ``min_cell`` wide.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from behindglass.analyses.base import combine_count_tables
from behindglass.core.aggregates import Cell, CountTable, SiteAggregate
from behindglass.core.policy import DisclosurePolicy
from behindglass.privacy import protection
from behindglass.privacy.suppression import enforce

MIN = 11
BIG = 10**6
POLICY = DisclosurePolicy(min_cell=MIN)

Var = tuple[str, ...]  # any hashable name of an unknown
Term = tuple[object, int]  # a variable name (unknown) or an int (known value), and its coef


def bounds(equations: Sequence[Sequence[Term]], target: object) -> tuple[float, float]:
    """Integer bounds of unknown ``target`` given ``sum(coef * term) == 0`` equations."""
    names = sorted({t for eq in equations for t, _ in eq if not isinstance(t, int)}, key=str)
    col = {n: i for i, n in enumerate(names)}
    a = np.zeros((len(equations), len(names)))
    b = np.zeros(len(equations))
    for row, eq in enumerate(equations):
        for t, c in eq:
            if isinstance(t, int):
                b[row] -= c * t
            else:
                a[row, col[t]] += c
    out = []
    for sign in (1.0, -1.0):
        c = np.zeros(len(names))
        c[col[target]] = sign
        # a cap far above any count stands in for "unbounded", which HiGHS reports poorly
        res = milp(c, integrality=np.ones(len(names)), bounds=Bounds(0, BIG),
                   constraints=LinearConstraint(a, b, b))
        assert res.status == 0, res.message
        out.append(sign * res.fun)
    return out[0], out[1]


def term(table: CountTable, key: tuple[str, ...], prefix: str = "") -> object:
    """What the attacker knows of a cell: its released count, else an unknown."""
    for cell in table.cells:
        if cell.key == key:
            return cell.count if cell.count is not None else (prefix, table.name, *key)
    return 0  # under a margin an unlisted cell is an exact zero


def assert_small_cells_protected(truth: SiteAggregate, equations: Sequence[Sequence[Term]],
                                 prefix: str = "") -> int:
    """Every cell from 1 to MIN - 1 has an interval >= MIN wide (a zero is no one: the
    convention that an unlisted cell is 0 publishes zeros anyway)."""
    checked = 0
    for table in truth.tables:
        for cell in table.cells:
            if cell.count is not None and 0 < cell.count < MIN:
                var = (prefix, table.name, *cell.key)
                if not any(t == var for eq in equations for t, _ in eq):
                    continue  # in no equation: unbounded
                lo, hi = bounds(equations, var)
                assert lo <= cell.count <= hi
                assert hi - lo >= MIN, (table.name, cell.key, cell.count, lo, hi)
                checked += 1
    return checked


def margin_equations(released: SiteAggregate, prefix: str = "") -> list[list[Term]]:
    eqs = []
    for t in released.tables:
        if t.margin:
            m = released.table(t.margin)
            eqs.append([(term(t, c.key, prefix), 1) for c in t.cells]
                       + [(term(m, (), prefix), -1)])
    return eqs


# -- one table ---------------------------------------------------------------------------------
def one_table(counts: dict[str, int]) -> SiteAggregate:
    return SiteAggregate(analysis="a", kind="characterize", tables=(
        CountTable(name="persons", cells=(Cell(key=(), count=sum(counts.values())),)),
        CountTable(name="race", dims=("race",), margin="persons",
                   cells=tuple(Cell(key=(k,), count=v) for k, v in counts.items())),
    ))


def test_lp_attack_on_one_table_recovers_nothing():
    rng = random.Random(7)
    checked = 0
    for _ in range(150):
        counts = {f"r{i}": rng.choice([1, 2, 5, 9, 10, 11, 12, 25, 80, 400])
                  for i in range(rng.randint(2, 7))}
        truth = one_table(counts)
        out = enforce(truth, POLICY)
        checked += assert_small_cells_protected(truth, margin_equations(out))
    assert checked > 100


def test_the_attacker_does_pin_an_unprotected_cell():
    """The attack is real: with secondary suppression off, subtraction recovers the cell."""
    truth = one_table({"a": 250, "b": 45, "c": 5})
    out = enforce(truth, DisclosurePolicy(min_cell=MIN, secondary_suppression=False))
    assert bounds(margin_equations(out), ("", "race", "c")) == (5, 5)


# -- linked tables --------------------------------------------------------------------------------
def linked(cross: dict[tuple[str, str], int]) -> SiteAggregate:
    """persons; sex; age_band; sex x age_band, all under ``persons``."""
    sexes = sorted({k[0] for k in cross})
    ages = sorted({k[1] for k in cross})

    def total(i: int, v: str) -> int:
        return sum(n for k, n in cross.items() if k[i] == v)

    return SiteAggregate(analysis="a", kind="characterize", tables=(
        CountTable(name="persons", cells=(Cell(key=(), count=sum(cross.values())),)),
        CountTable(name="sex", dims=("sex",), margin="persons",
                   cells=tuple(Cell(key=(s,), count=total(0, s)) for s in sexes)),
        CountTable(name="age_band", dims=("age_band",), margin="persons",
                   cells=tuple(Cell(key=(a,), count=total(1, a)) for a in ages)),
        CountTable(name="sex_age", dims=("sex", "age_band"), margin="persons",
                   cells=tuple(Cell(key=k, count=n) for k, n in cross.items() if n)),
    ))


def linked_equations(out: SiteAggregate, prefix: str = "") -> list[list[Term]]:
    eqs = margin_equations(out, prefix)
    cross, sex, age = out.table("sex_age"), out.table("sex"), out.table("age_band")
    for dim, small in ((0, sex), (1, age)):
        for c in small.cells:
            eqs.append([(term(cross, k.key, prefix), 1) for k in cross.cells
                        if k.key[dim] == c.key[0]] + [(term(small, c.key, prefix), -1)])
    return eqs


def test_row_sums_of_a_linked_table_do_not_pin_a_cell():
    # within sex_age alone, hiding (F, 0-39) and (M, 40+) would do; but the table by sex
    # gives F = (F, 0-39) + (F, 40+), and (F, 40+) is shown: 100 - 95 = 5
    truth = linked({("F", "0-39"): 5, ("F", "40+"): 95, ("M", "0-39"): 55, ("M", "40+"): 45})
    out = enforce(truth, POLICY)
    assert assert_small_cells_protected(truth, linked_equations(out)) == 1
    assert out.table("persons").value() == 200  # the margin itself stays


def test_within_table_rule_alone_would_leak_the_linked_cell(monkeypatch):
    """Without the relation between the tables, the row sum gives the cell away."""
    monkeypatch.setattr(protection, "_nested_relations", lambda by_name: [])
    truth = linked({("F", "0-39"): 5, ("F", "40+"): 95, ("M", "0-39"): 55, ("M", "40+"): 45})
    out = enforce(truth, POLICY)
    assert bounds(linked_equations(out), ("", "sex_age", "F", "0-39")) == (5, 5)


def test_lp_attack_on_linked_tables_recovers_nothing():
    rng = random.Random(11)
    checked = 0
    for _ in range(25):
        sexes, ages = ("F", "M", "U")[:rng.randint(2, 3)], [f"a{i}" for i in range(4)]
        cross = {(s, a): rng.choice([0, 1, 3, 7, 10, 12, 20, 60, 150]) for s in sexes
                 for a in ages}
        truth = linked(cross)
        out = enforce(truth, POLICY)
        checked += assert_small_cells_protected(truth, linked_equations(out))
    assert checked > 25


COHORT_METHOD = SiteAggregate(analysis="cm", kind="cohort_method", tables=(
    CountTable(name="cm:persons", cells=(Cell(key=(), count=305),)),
    CountTable(name="cm:population", dims=("group", "measure"), cells=(
        Cell(key=("comparator", "persons"), count=5),
        Cell(key=("comparator", "events"), count=1),
        Cell(key=("target", "persons"), count=300),
        Cell(key=("target", "events"), count=40))),
))


def test_cohort_method_groups_cannot_be_subtracted_from_the_cohort_size():
    """cm:population has no margin, but its persons per group add up to cm:persons."""
    truth = COHORT_METHOD
    out = enforce(truth, POLICY)
    pop = out.table("cm:population")
    # dropped cells of this fixed-shape table are known to exist: the attacker keeps them
    known = {c.key: c.count for c in pop.cells}

    def x(key: tuple[str, str]) -> object:
        return known.get(key, ("", "cm:population", *key))

    persons = term(out.table("cm:persons"), ())
    eqs = [[(x(("comparator", "persons")), 1), (x(("target", "persons")), 1), (persons, -1)]]
    assert assert_small_cells_protected(truth, eqs) >= 1
    assert out.table("cm:persons").value() == 305


def test_cohort_method_without_its_declared_relations_would_leak(monkeypatch):
    monkeypatch.setattr(protection, "DECLARED", {})
    out = enforce(COHORT_METHOD, POLICY)
    assert out.table("cm:population").value("target", "persons") == 300  # 305 - 300 = 5


def test_cohort_method_strata_add_up_to_group_persons():
    strata_table = CountTable(
        name="cm:strata", dims=("stratum", "group"), margin="cm:persons", cells=(
            Cell(key=("0", "comparator"), count=5), Cell(key=("0", "target"), count=100),
            Cell(key=("1", "target"), count=120), Cell(key=("2", "target"), count=80)))
    truth = COHORT_METHOD.model_copy(
        update={"tables": (*COHORT_METHOD.tables, strata_table)})
    out = enforce(truth, POLICY)
    strata = out.table("cm:strata")
    pop = {c.key: c.count for c in out.table("cm:population").cells}

    def x(table: CountTable, key: tuple[str, ...]) -> object:
        return pop.get(key, ("", "cm:population", *key)) if table.name == "cm:population" \
            else term(table, key)

    pt, persons = out.table("cm:population"), term(out.table("cm:persons"), ())
    eqs: list[list[Term]] = [[(x(pt, ("comparator", "persons")), 1),
                              (x(pt, ("target", "persons")), 1), (persons, -1)]]
    eqs += margin_equations(out)
    for g in ("comparator", "target"):
        eqs.append([(term(strata, c.key), 1) for c in strata.cells if c.key[1] == g]
                   + [(x(pt, (g, "persons")), -1)])
    assert assert_small_cells_protected(truth, eqs) >= 2


# -- across sites --------------------------------------------------------------------------------
def site_release(rng: random.Random) -> SiteAggregate:
    counts = {r: rng.choice([0, 2, 4, 8, 12, 30, 90, 300])
              for r in ("white", "black", "asian", "other", "unknown")}
    counts = {k: v for k, v in counts.items() if v} or {"white": 40}
    return one_table(counts)


def pooled_attack(truths: dict[str, SiteAggregate], *, leaky: bool = False,
                  site_equations: Callable[[SiteAggregate, str], list[list[Term]]]
                  = margin_equations) -> list[str]:
    """Every site's hidden small cell, given every site's release and the pooled result.

    Returns the cells pinned closer than MIN. ``leaky`` has the hub publish the true sum of
    a cell over sites (what a careless pooling would do), to show the attack bites."""
    outs = {s: enforce(t, POLICY) for s, t in truths.items()}
    pooled = combine_count_tables(list(outs.items()))
    eqs: list[list[Term]] = []
    for site, out in outs.items():
        eqs += site_equations(out, site)
    for name, table in pooled["tables"].items():
        for row in table["rows"]:
            key = tuple(row["key"])
            terms: list[Term] = [(term(outs[s].table(name), key, s), 1) for s in outs]
            published = row["pooled"]
            if leaky:
                published = sum(t.table(name).value(*key) or 0 for t in truths.values())
                eqs.append([*terms, (published, -1)])
            elif row["complete"]:
                eqs.append([*terms, (published, -1)])
            else:  # a partial sum: what the sites that released the cell released
                shown = [v for v in row["sites"].values() if isinstance(v, int)]
                assert published == (sum(shown) if shown else None)
    pinned = []
    for site, truth in truths.items():
        for table in truth.tables:
            for cell in table.cells:
                var = (site, table.name, *cell.key)
                if 0 < cell.count < MIN and any(t == var for eq in eqs for t, _ in eq):
                    lo, hi = bounds(eqs, var)
                    if hi - lo < MIN:
                        pinned.append(f"{site} {table.name} {cell.key}")
    return pinned


def test_pooled_results_over_three_sites_recover_no_hidden_cell():
    rng = random.Random(3)
    for _ in range(30):
        truths = {f"site{i}": site_release(rng) for i in range(3)}
        assert pooled_attack(truths) == []


def test_pooled_linked_tables_over_three_sites_recover_no_hidden_cell():
    rng = random.Random(9)
    for _ in range(6):
        truths = {f"site{i}": linked({(s, a): rng.choice([0, 2, 6, 12, 40, 90])
                                      for s in ("F", "M") for a in ("a0", "a1", "a2")})
                  for i in range(3)}
        assert pooled_attack(truths, site_equations=linked_equations) == []


def test_a_pooled_true_sum_would_leak_so_the_attack_is_real():
    truths = {"a": one_table({"white": 300, "black": 40, "asian": 5}),
              "b": one_table({"white": 200, "black": 60, "asian": 30}),
              "c": one_table({"white": 100, "black": 50, "asian": 20})}
    assert pooled_attack(truths) == []
    assert pooled_attack(truths, leaky=True) != []


def test_pooled_remainder_is_never_small():
    """Pooled persons minus the pooled partial cells is what all sites hid together."""
    rng = random.Random(5)
    for _ in range(30):
        outs = [(f"s{i}", enforce(site_release(rng), POLICY)) for i in range(3)]
        pooled = combine_count_tables(outs)["tables"]
        persons = pooled["persons"]["rows"][0]
        if not persons["complete"]:
            continue
        shown = sum(r["pooled"] or 0 for r in pooled["race"]["rows"])
        remainder = persons["pooled"] - shown
        assert remainder == 0 or remainder >= MIN


# -- nothing to hide ------------------------------------------------------------------------------
def test_a_release_with_nothing_small_is_unchanged():
    truth = linked({("F", "0-39"): 50, ("F", "40+"): 95, ("M", "0-39"): 55, ("M", "40+"): 45})
    assert enforce(truth, POLICY) == truth
