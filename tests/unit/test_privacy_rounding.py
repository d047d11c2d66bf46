"""Rounding released person counts: multiples of the base, never below the minimum cell,
never a hidden cell revealed, never a small count laundered into a releasable one."""

from __future__ import annotations

import itertools

import pytest

from behindglass.core.aggregates import Cell, CountTable, SiteAggregate, StatsBlock
from behindglass.core.errors import DisclosureError
from behindglass.core.policy import DisclosurePolicy
from behindglass.core.study import AnalysisSpec
from behindglass.privacy.rounding import round_count, round_counts
from behindglass.privacy.suppression import enforce
from behindglass.site.execute import check_disclosable

SPEC = AnalysisSpec(kind="characterize", name="a", cohort="t2d")


def characterization(total: int, breakdown: dict[str, int]) -> SiteAggregate:
    return SiteAggregate(analysis="a", kind="characterize", tables=(
        CountTable(name="persons", cells=(Cell(key=(), count=total),)),
        CountTable(name="race", dims=("race",), margin="persons",
                   cells=tuple(Cell(key=(k,), count=v) for k, v in breakdown.items())),
    ))


def released_counts(agg: SiteAggregate) -> list[int]:
    return [c.count for t in agg.tables for c in t.cells if c.count is not None]


def test_off_returns_the_aggregate_unchanged():
    agg = enforce(characterization(300, {"White": 283, "Black": 17}), DisclosurePolicy())
    assert round_counts(agg, DisclosurePolicy(rounding=0)) is agg


@pytest.mark.parametrize(("count", "base", "min_cell", "expected"), [
    (283, 5, 11, 285), (282, 5, 11, 280), (17, 5, 11, 15), (18, 5, 11, 20),
    (11, 5, 11, 15),   # nearest multiple is 10 < 11: the smallest multiple >= 11 instead
    (12, 10, 11, 20), (15, 10, 11, 20), (25, 10, 11, 30), (24, 10, 11, 20),
    (11, 2, 11, 12), (13, 3, 11, 12), (100, 100, 11, 100), (149, 100, 11, 100),
    (20, 5, 20, 20), (21, 5, 20, 20), (22, 5, 20, 20), (23, 5, 20, 25),
])
def test_round_count(count, base, min_cell, expected):
    assert round_count(count, base, min_cell) == expected


def test_round_count_properties_exhaustively():
    for base, min_cell in itertools.product((2, 3, 5, 7, 10, 20), (1, 5, 11, 20, 50)):
        floor = -(-min_cell // base) * base
        for n in range(min_cell, 400):
            r = round_count(n, base, min_cell)
            assert r % base == 0, (n, base, min_cell)
            assert r >= min_cell, (n, base, min_cell)
            # nearest multiple, unless it had to be pushed up to stay releasable
            assert abs(r - n) <= base / 2 or r == floor, (n, base, min_cell)
            assert round_count(r, base, min_cell) == r  # rounding twice changes nothing


def test_round_count_rejects_a_meaningless_base():
    with pytest.raises(ValueError):
        round_count(20, 1, 11)


def test_every_released_count_is_a_multiple_at_or_above_min_cell():
    for base, min_cell in ((5, 11), (10, 20)):
        policy = DisclosurePolicy(min_cell=min_cell, rounding=base)
        for counts in itertools.product([0, 3, 11, 12, 17, 99, 250], repeat=3):
            breakdown = dict(zip(("x", "y", "z"), counts, strict=True))
            out = round_counts(enforce(characterization(sum(counts), breakdown), policy),
                               policy)
            for n in released_counts(out):
                assert n % base == 0 and n >= min_cell, (breakdown, n)
            check_disclosable(out, SPEC, policy)  # the last gate accepts every release


def test_suppressed_cells_stay_suppressed():
    policy = DisclosurePolicy(rounding=5)
    suppressed = enforce(characterization(300, {"White": 250, "Black": 45, "Asian": 5}), policy)
    out = round_counts(suppressed, policy)
    before = {c.key: c.suppressed for c in suppressed.table("race").cells}
    after = {c.key: c.suppressed for c in out.table("race").cells}
    assert before == after and after[("Asian",)] and after[("Black",)]
    assert out.table("race").value("Asian") is None
    assert out.table("race").value("White") == 250


def test_data_quality_checks_are_not_rounded():
    checks = CountTable(name="dq", dims=("check", "status"), unit="checks", cells=(
        Cell(key=("c1", "pass"), count=1), Cell(key=("c2", "fail"), count=0),
        Cell(key=("c3", "pass"), count=7)))
    agg = SiteAggregate(analysis="dq", kind="data_quality", tables=(checks,))
    out = round_counts(agg, DisclosurePolicy(rounding=5))
    assert out.table("dq") == checks
    assert out.notes == ()  # nothing was rounded, so nothing to say


def test_checks_from_another_kind_are_rounded_as_persons():
    """Calling person counts 'checks' does not escape rounding (nor suppression)."""
    table = CountTable(name="sneaky", unit="checks", cells=(Cell(key=("a",), count=23),))
    agg = SiteAggregate(analysis="a", kind="characterize", tables=(table,))
    assert round_counts(agg, DisclosurePolicy(rounding=10)).table("sneaky").value("a") == 20


def test_model_statistics_are_not_rounded():
    stats = (StatsBlock(name="xtwx", shape=(2,), values=(123.456, 17.0)),)
    agg = SiteAggregate(analysis="m", kind="glm", stats=stats, tables=(
        CountTable(name="glm:persons", dims=("measure",),
                   cells=(Cell(key=("persons",), count=1234),)),))
    out = round_counts(agg, DisclosurePolicy(rounding=10))
    assert out.stats == stats
    assert out.table("glm:persons").value("persons") == 1230


def test_a_note_states_the_base():
    policy = DisclosurePolicy(rounding=5)
    agg = enforce(characterization(300, {"White": 283, "Black": 17}), policy)
    out = round_counts(agg, policy)
    assert out.notes[:len(agg.notes)] == agg.notes
    assert "multiple of 5" in out.notes[-1]
    assert released_counts(out) == [300, 285, 15]


def test_a_small_count_is_refused_not_laundered():
    """Rounding before suppression would turn a 2 into a releasable 15; it must refuse."""
    agg = characterization(300, {"White": 298, "Black": 2})
    with pytest.raises(DisclosureError) as info:
        round_counts(agg, DisclosurePolicy(rounding=5))
    assert "race" in str(info.value)
    assert " 2 " not in f" {info.value} ".replace("(", " ").replace(")", " ")
