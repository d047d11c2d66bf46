"""Suppression: no count below the minimum leaves, and none can be recovered from totals."""

from __future__ import annotations

import itertools

from behindglass.core.aggregates import Cell, CountTable, SiteAggregate
from behindglass.core.policy import DisclosurePolicy
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
