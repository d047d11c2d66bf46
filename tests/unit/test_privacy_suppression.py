"""Suppression: no count below the minimum leaves, and none can be recovered from totals."""

from __future__ import annotations

import itertools

from behindglass.core.aggregates import Cell, CountTable, SiteAggregate
from behindglass.core.policy import DisclosurePolicy
from behindglass.privacy.protection import (
    Interval,
    Relation,
    derive_relations,
    intervals,
    protected,
)
from behindglass.privacy.suppression import enforce, smallest_released


def aggregate(total: int, breakdown: dict[str, int]) -> SiteAggregate:
    return SiteAggregate(analysis="a", kind="characterize", tables=(
        CountTable(name="persons", cells=(Cell(key=(), count=total),)),
        CountTable(name="race", dims=("race",), margin="persons",
                   cells=tuple(Cell(key=(k,), count=v) for k, v in breakdown.items())),
    ))


def test_primary_suppression_hides_every_small_count():
    out = enforce(aggregate(300, {"White": 280, "Black": 12, "Asian": 5, "Other": 3}),
                  DisclosurePolicy())
    race = out.table("race")
    assert race.value("Asian") is None and race.value("Other") is None
    assert smallest_released(out) >= 11


def test_single_suppressed_cell_gets_a_complement():
    out = enforce(aggregate(300, {"White": 250, "Black": 45, "Asian": 5}), DisclosurePolicy())
    race = out.table("race")
    # 300 - 250 - 45 would give Asian = 5 exactly; Black must be hidden too
    assert race.value("Asian") is None and race.value("Black") is None
    assert race.value("White") == 250


def test_subtraction_attack_cannot_pin_a_small_cell():
    """Every hidden cell must be ambiguous given the released total and cells."""
    policy = DisclosurePolicy()
    for counts in itertools.product([0, 1, 4, 10, 11, 12, 30, 200], repeat=3):
        breakdown = dict(zip(("a", "b", "c"), counts, strict=True))
        total = sum(counts)
        out = enforce(aggregate(total, breakdown), policy)
        persons = out.table("persons").value()
        if persons is None:
            assert all(c.suppressed for c in out.table("race").cells)
            continue
        hidden = [c for c in out.table("race").cells if c.suppressed]
        shown = sum(c.count for c in out.table("race").cells if not c.suppressed)
        if hidden:
            assert len(hidden) >= 2, breakdown
            assert persons - shown >= policy.min_cell, breakdown


def test_small_total_hides_everything():
    out = enforce(aggregate(8, {"White": 8}), DisclosurePolicy())
    assert smallest_released(out) is None


def test_policy_threshold_is_respected():
    out = enforce(aggregate(300, {"White": 280, "Black": 20}), DisclosurePolicy(min_cell=25))
    assert out.table("race").value("Black") is None
    assert any("below 25" in n for n in out.notes)


def test_rare_concepts_are_dropped_from_top_lists_not_just_blanked():
    top = SiteAggregate(analysis="a", kind="characterize", tables=(
        CountTable(name="persons", cells=(Cell(key=(), count=500),)),
        CountTable(name="top_condition", dims=("concept_id",),
                   cells=(Cell(key=("201826",), count=200), Cell(key=("4112853",), count=2)),
                   labels={"201826": "Type 2 diabetes mellitus",
                           "4112853": "Malignant tumor of breast"}),
    ))
    out = enforce(top, DisclosurePolicy()).table("top_condition")
    assert [c.key for c in out.cells] == [("201826",)]
    assert "4112853" not in out.labels


def test_a_cell_the_analysis_already_suppressed_is_protected_too():
    agg = SiteAggregate(analysis="a", kind="characterize", tables=(
        CountTable(name="persons", cells=(Cell(key=(), count=300),)),
        CountTable(name="race", dims=("race",), margin="persons",
                   cells=(Cell(key=("a",), count=250), Cell(key=("b",), count=45),
                          Cell(key=("c",), suppressed=True))),
    ))
    race = enforce(agg, DisclosurePolicy()).table("race")
    assert race.value("b") is None and race.value("a") == 250


def test_the_margin_is_kept_when_breakdown_cells_suffice():
    out = enforce(aggregate(40, {"a": 5, "b": 20, "c": 15}), DisclosurePolicy())
    assert out.table("persons").value() == 40
    assert [c.suppressed for c in out.table("race").cells] == [True, False, True]


def test_ties_are_broken_in_the_release_order_as_before():
    out = enforce(aggregate(100, {"a": 3, "b": 20, "c": 20, "d": 57}), DisclosurePolicy())
    assert [c.suppressed for c in out.table("race").cells] == [True, True, False, False]


def test_secondary_suppression_can_be_turned_off():
    out = enforce(aggregate(300, {"White": 250, "Black": 45, "Asian": 5}),
                  DisclosurePolicy(secondary_suppression=False))
    assert out.table("race").value("Black") == 45


def test_tables_under_one_margin_are_tied_by_their_shared_dimension():
    persons = CountTable(name="persons", cells=(Cell(key=(), count=200),))
    sex = CountTable(name="sex", dims=("sex",), margin="persons",
                     cells=(Cell(key=("F",), count=100), Cell(key=("M",), count=100)))
    cross = CountTable(name="sex_age", dims=("sex", "age"), margin="persons", cells=(
        Cell(key=("F", "young"), count=5), Cell(key=("F", "old"), count=95),
        Cell(key=("M", "young"), count=100)))
    relations = derive_relations([persons, sex, cross], "characterize")
    rows = [r for r in relations if "sums to" in r.why]
    assert {tuple(ref for ref, _ in r.terms) for r in rows} == {
        (("sex_age", ("F", "young")), ("sex_age", ("F", "old")), ("sex", ("F",))),
        (("sex_age", ("M", "young")), ("sex", ("M",))),
    }


def test_the_attackers_interval_of_a_hidden_pair_is_their_joint_mass():
    relations = derive_relations(aggregate(264, {"a": 250, "b": 9, "c": 5}).tables,
                                 "characterize")
    shown = {("persons", ()): 264, ("race", ("a",)): 250}
    got = intervals(relations, shown, [("race", ("b",)), ("race", ("c",))])
    assert got[("race", ("c",))] == Interval(0, 14)
    assert protected(got[("race", ("c",))], 11) and not protected(got[("race", ("c",))], 15)
    pinned = intervals(relations, {**shown, ("race", ("b",)): 9}, [("race", ("c",))])
    assert pinned[("race", ("c",))] == Interval(5, 5)
    assert not protected(pinned[("race", ("c",))], 11)


def test_the_attacker_uses_integer_bounds_where_the_relaxation_is_loose():
    # 2y + 3z = 13 and x = 2y + z - 7 over counts: (y, z) is (5, 1) or (2, 3), so x is
    # 4 or 0; the linear relaxation would allow x up to 6 (y = 6.5, z = 0)
    x, y, z = ("t", ("x",)), ("t", ("y",)), ("t", ("z",))
    s1, s2 = ("t", ("s1",)), ("t", ("s2",))
    relations = [Relation(((y, 2), (z, 3), (s1, -1))),
                 Relation(((x, -1), (y, 2), (z, 1), (s2, -1)))]
    got = intervals(relations, {s1: 13, s2: 7}, [x, y, z])
    assert got[x] == Interval(0, 4)
