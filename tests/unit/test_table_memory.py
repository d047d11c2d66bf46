"""The site remembers the tables it released, so a later study of the same persons cannot
read a cell an earlier study hid (privacy.table_memory, site.guard).

The attack: study 1 releases a characterization of celecoxib users by index year; study 2,
by the same researcher, a contingency table of the same persons by index year x GI bleed.
The differencing ledger admits study 2 (the same persons exactly), and each release is safe
alone, but the first's row sums give back cells the second hid. With the memory, study 2 is
suppressed with study 1's tables in the system: every hidden cell of both keeps an interval
at least min_cell wide.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from behindglass.analyses.catalog import get_analysis
from behindglass.core.aggregates import Cell, CountTable, PrivacyNote, SiteAggregate, TableScope
from behindglass.core.cohort import Cohort
from behindglass.core.errors import DisclosureError
from behindglass.core.messages import Task
from behindglass.core.policy import SitePolicy
from behindglass.core.sitedata import SiteContext
from behindglass.core.study import AnalysisSpec, StudySpec
from behindglass.engine.site_store import SiteStore
from behindglass.privacy import suppression
from behindglass.privacy.linkage import Prior, distinct, qualify
from behindglass.privacy.protection import (
    Unprotectable,
)
from behindglass.privacy.suppression import EARLIER, enforce_release
from behindglass.privacy.table_memory import TableMemory
from behindglass.site.execute import execute_task
from behindglass.site.guard import SiteGuard
from behindglass.site.scopes import by_members
from tests.unit.attacker_support import attacker

POLICY = SitePolicy()
MIN_CELL = POLICY.disclosure.min_cell
COHORTS = {"cel": Cohort.drug(1118084), "gib": Cohort.condition(192671)}
WHO = AnalysisSpec(kind="characterize", name="Who", cohort="cel",
                   params={"by": ["index_year"], "top_n": 0})
TABLE = AnalysisSpec(kind="contingency", name="Table", cohort="cel", outcomes=["gib"],
                     params={"rows": "index_year", "cols": "cohort:gib"})


def task(spec: AnalysisSpec, study: str, researcher: str = "alice") -> Task:
    return Task(task_id=f"t-{study}", study_id=study, site="x", researcher=researcher,
                study=StudySpec(title=study, cohorts=COHORTS, analyses=(spec,)),
                created=dt.datetime.now(dt.UTC))


def release(store: SiteStore, guard: SiteGuard, t: Task) -> tuple[SiteAggregate, SiteAggregate]:
    """What the site released for ``t``, and the output it came from (scoped by members)."""
    done = execute_task(t, store, POLICY.disclosure, guard=guard)
    assert done.refusals == []
    (released,) = done.aggregates
    site = SiteContext(data=store, cohorts=COHORTS, policy=POLICY.disclosure)
    (spec,) = t.study.analyses
    (raw,) = by_members([get_analysis(spec.kind).local(site, spec)], COHORTS, store.person_ids)
    return raw, released


@pytest.fixture(scope="module")
def store(gibleed_db: Path) -> Iterator[SiteStore]:
    with SiteStore.open(gibleed_db) as data:
        yield data


@pytest.fixture
def memory(tmp_path: Path) -> Iterator[TableMemory]:
    with TableMemory(tmp_path / "tables.sqlite") as book:
        yield book


# -- the attack across studies, and the defence ---------------------------------------------
@pytest.mark.parametrize("order", [(WHO, TABLE), (TABLE, WHO)])
def test_without_memory_one_study_gives_back_a_cell_the_other_hid(
        store: SiteStore, order: tuple[AnalysisSpec, AnalysisSpec]) -> None:
    guard = SiteGuard(POLICY)
    first = release(store, guard, task(order[0], "s1"))
    second = release(store, guard, task(order[1], "s2"))
    pinned = [ref for ref, iv in attacker(*zip(first, second, strict=True)).items()
              if iv.width < MIN_CELL]
    assert pinned, "the attack this defends against no longer reproduces on GiBleed"


@pytest.mark.parametrize("order", [(WHO, TABLE), (TABLE, WHO)])
def test_with_memory_no_cell_of_either_study_is_narrower_than_min_cell(
        store: SiteStore, memory: TableMemory, order: tuple[AnalysisSpec, AnalysisSpec]
) -> None:
    """Either order: the later study hides what would give an earlier hidden cell back, or
    what the earlier shown cells would give away."""
    guard = SiteGuard(POLICY, memory=memory)
    first = release(store, guard, task(order[0], "s1"))
    second = release(store, guard, task(order[1], "s2"))
    widths = [iv.width for iv in attacker(*zip(first, second, strict=True)).values()]
    assert widths and min(widths) >= MIN_CELL
    # the first study's release is what it would have been without any memory
    assert first[1] == execute_task(task(order[0], "s1-again"), store,
                                    POLICY.disclosure).aggregates[0]


def test_the_memory_is_per_researcher_and_study(store: SiteStore, memory: TableMemory) -> None:
    guard = SiteGuard(POLICY, memory=memory)
    release(store, guard, task(WHO, "s1"))
    (raw, _) = release(store, SiteGuard(POLICY), task(TABLE, "s0"))
    cohort = raw.table("persons").scope.cohort  # type: ignore[union-attr]
    assert [p.label for p in memory.recall("alice", "other", {cohort})] == ["t-s1/Who"]
    assert [p.label for p in memory.recall("bob", "s1", {cohort})] == ["t-s1/Who"]
    assert memory.recall("bob", "other", {cohort}) == []
    assert memory.recall("alice", "s1", {"members:someone-else"}) == []


# -- what is kept ------------------------------------------------------------------------------
def scoped(cells: dict[str, int], cohort: str = "c") -> SiteAggregate:
    return SiteAggregate(analysis="A", kind="characterize", tables=(
        CountTable(name="persons", cells=(Cell(key=(), count=sum(cells.values())),),
                   scope=TableScope(cohort=cohort)),
        CountTable(name="sex", dims=("sex",), margin="persons",
                   cells=tuple(Cell(key=(k,), count=v) for k, v in cells.items()),
                   scope=TableScope(cohort=cohort, axes=("sex",),
                                    coarser={"gender": {"female": "f"}})),
        CountTable(name="top_drug", dims=("concept_id",),
                   cells=(Cell(key=("1",), count=50),))))


def test_kept_are_true_counts_scopes_and_hidden_cells(memory: TableMemory) -> None:
    raw = scoped({"female": 5, "male": 95})
    (out,) = enforce_release([raw], POLICY.disclosure)
    assert isinstance(out, SiteAggregate)
    assert memory.remember("alice", "s1", "t/A", raw, out) == 2  # the unscoped list is not
    (prior,) = memory.recall("alice", "s1", {"c"})
    assert prior.kind == "characterize"
    assert {t.name: t for t in prior.tables}["sex"] == raw.table("sex")  # scope included
    assert prior.hidden == {("sex", ("female",)), ("sex", ("male",))}


def test_a_release_under_differential_privacy_is_not_kept(memory: TableMemory) -> None:
    raw = scoped({"female": 50, "male": 95})
    noisy = raw.model_copy(update={"privacy": PrivacyNote(mechanism="laplace", epsilon=1.0)})
    assert memory.remember("alice", "s1", "t/A", raw, noisy) == 0
    assert memory.recall("alice", "s1", {"c"}) == []


def test_the_memory_survives_a_restart(tmp_path: Path) -> None:
    raw = scoped({"female": 50, "male": 95})
    with TableMemory(tmp_path / "t.sqlite") as book:
        book.remember("alice", "s1", "t/A", raw, raw)
    with TableMemory(tmp_path / "t.sqlite") as book:
        assert len(book.recall("alice", "s9", {"c"})) == 1


# -- the earlier release's hidden cells come first ---------------------------------------------
def prior_of(raw: SiteAggregate, hidden: set[tuple[str, tuple[str, ...]]]) -> Prior:
    return Prior("t/A", raw.kind, tuple(t for t in raw.tables if t.scope is not None),
                 frozenset(hidden))


def test_an_earlier_shown_table_is_in_the_system() -> None:
    """Earlier: sex, all shown (female 20). Now: sex x outcome of the same persons; alone
    it hides (female, yes) = 3 with its cheapest partner (male, yes) = 12, in the other row,
    and female = 20 gives it back as 20 - 17."""
    earlier = scoped({"female": 20, "male": 80})
    now = SiteAggregate(analysis="B", kind="contingency", tables=(
        CountTable(name="persons", cells=(Cell(key=(), count=100),),
                   scope=TableScope(cohort="c")),
        CountTable(name="table", dims=("row", "col"), margin="persons",
                   cells=tuple(Cell(key=k, count=n) for k, n in {
                       ("female", "yes"): 3, ("female", "no"): 17,
                       ("male", "yes"): 12, ("male", "no"): 68}.items()),
                   scope=TableScope(cohort="c", axes=("sex", "outcome")))))
    (alone,) = enforce_release([now], POLICY.disclosure)
    (remembered,) = enforce_release([now], POLICY.disclosure, [prior_of(earlier, set())])
    assert isinstance(alone, SiteAggregate) and isinstance(remembered, SiteAggregate)
    pinned = attacker([earlier, now], [earlier, alone])[(qualify(1, "table"), ("female", "yes"))]
    assert pinned == (3, 3)
    widths = [iv.width for iv in attacker([earlier, now], [earlier, remembered]).values()]
    assert widths and min(widths) >= MIN_CELL


def test_an_earlier_cell_no_suppression_can_protect_refuses_only_its_persons(
        monkeypatch: pytest.MonkeyPatch) -> None:
    earlier = scoped({"female": 5, "male": 95})
    mine, other = scoped({"female": 30, "male": 70}), scoped({"female": 40, "male": 60}, "d")
    real = suppression.complement

    def stubborn(values, primary, relations, width, *rest, **more):  # type: ignore[no-untyped-def]
        culprit = (qualify(-1, "sex"), ("female",))
        if culprit in primary and any(r[0] == qualify(0, "sex") for r in values):
            raise Unprotectable(culprit)
        return real(values, primary, relations, width, *rest, **more)

    monkeypatch.setattr(suppression, "complement", stubborn)
    out = enforce_release([mine, other], POLICY.disclosure,
                          [prior_of(earlier, {("sex", ("female",)), ("sex", ("male",))})])
    assert isinstance(out[0], DisclosureError) and str(out[0]) == EARLIER
    assert "5" not in EARLIER and "female" not in EARLIER  # nothing about the cell or release
    assert isinstance(out[1], SiteAggregate)


def test_an_earlier_table_asked_again_is_worked_on_once() -> None:
    """The same characterization released twice, once with a cell shown: one copy is kept,
    hiding only what both hid (a cell shown once is known)."""
    first = scoped({"female": 5, "male": 95})
    hid = {("sex", ("female",)), ("sex", ("male",))}
    again = prior_of(first, {("sex", ("female",))})
    (kept,) = distinct([prior_of(first, hid), again])
    assert kept.hidden == {("sex", ("female",))}
    assert sorted(t.name for t in kept.tables) == ["persons", "sex"]
    other = scoped({"female": 6, "male": 95})  # other counts: another table
    assert len(distinct([prior_of(first, hid), prior_of(other, hid)])) == 2
