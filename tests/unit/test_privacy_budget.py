"""The site's epsilon ledger (``privacy.budget``): both budgets hold, refusals say what is
left and record nothing, and concurrent charges from separate stores never overspend."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from pathlib import Path

import pytest

from behindglass.core.errors import DisclosureError
from behindglass.core.policy import PrivacyRules
from behindglass.privacy.budget import EpsilonBudget

RULES = PrivacyRules(enabled=True, epsilon=0.1, budget_per_researcher=1.0,
                     budget_per_study=0.6)


@pytest.fixture()
def ledger(tmp_path: Path) -> EpsilonBudget:
    return EpsilonBudget(tmp_path / "budget.sqlite")


def test_charges_add_up_per_researcher_and_per_study(ledger: EpsilonBudget) -> None:
    ledger.charge("ann", "s1", 0.25, RULES, label="t1/A")
    ledger.charge("ann", "s2", 0.5, RULES)
    ledger.charge("bob", "s1", 0.125, RULES)
    assert ledger.spent("ann") == pytest.approx(0.75)
    assert ledger.spent("bob") == pytest.approx(0.125)
    assert ledger.spent_on_study("s1") == pytest.approx(0.375)
    assert ledger.spent("nobody") == 0.0
    assert ledger.remaining("ann", "s1", RULES) == pytest.approx(0.225)  # s1 caps first
    assert ledger.remaining("ann", "s3", RULES) == pytest.approx(0.25)  # ann caps first
    history = ledger.history()
    assert [(h.researcher, h.study_id, h.epsilon) for h in history] == [
        ("ann", "s1", 0.25), ("ann", "s2", 0.5), ("bob", "s1", 0.125)]
    assert history[0].label == "t1/A" and history[0].at.tzinfo is not None
    assert [h.study_id for h in ledger.history(researcher="ann")] == ["s1", "s2"]
    assert [h.researcher for h in ledger.history(study_id="s1")] == ["ann", "bob"]
    assert len(ledger.history(researcher="ann", study_id="s2")) == 1


def test_researcher_budget_is_exhausted_across_studies(ledger: EpsilonBudget) -> None:
    for study in ("s1", "s2", "s3", "s4", "s5"):
        ledger.charge("ann", study, 0.2, RULES)  # 1.0: exactly the budget
    with pytest.raises(DisclosureError) as err:
        ledger.charge("ann", "s6", 0.1, RULES)
    message = str(err.value)
    assert "researcher 'ann'" in message and "per researcher" in message
    assert "budget of 1" in message and "0 is left" in message and "needs 0.1" in message
    assert ledger.spent("ann") == pytest.approx(1.0)  # the refused charge left no trace
    assert len(ledger.history()) == 5
    ledger.charge("bob", "s6", 0.1, RULES)  # another researcher still may


def test_study_budget_is_exhausted_across_researchers(ledger: EpsilonBudget) -> None:
    ledger.charge("ann", "s1", 0.3, RULES)
    ledger.charge("bob", "s1", 0.2, RULES)
    with pytest.raises(DisclosureError, match=r"study 's1'.* per study.*0\.1 is left"):
        ledger.charge("cat", "s1", 0.25, RULES)
    assert ledger.spent("cat") == 0.0
    ledger.charge("cat", "s1", 0.1, RULES)  # what is left still fits
    assert ledger.spent_on_study("s1") == pytest.approx(0.6)


def test_many_small_charges_fill_the_budget_exactly(ledger: EpsilonBudget) -> None:
    rules = PrivacyRules(enabled=True, budget_per_researcher=1.0, budget_per_study=1.0)
    for _ in range(10):
        ledger.charge("ann", "s1", 0.1, rules)  # float 0.1 * 10 must not overflow 1.0
    with pytest.raises(DisclosureError):
        ledger.charge("ann", "s1", 1e-6, rules)


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf")])
def test_bad_charges_are_refused(ledger: EpsilonBudget, bad: float) -> None:
    with pytest.raises(DisclosureError):
        ledger.charge("ann", "s1", bad, RULES)
    assert ledger.history() == []


def test_ledger_persists_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "budget.sqlite"
    EpsilonBudget(path).charge("ann", "s1", 0.5, RULES)
    assert EpsilonBudget(path).spent("ann") == pytest.approx(0.5)
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_concurrent_charges_from_two_stores_never_overspend(tmp_path: Path) -> None:
    path = tmp_path / "budget.sqlite"
    stores = [EpsilonBudget(path), EpsilonBudget(path)]
    rules = PrivacyRules(enabled=True, budget_per_researcher=1.0, budget_per_study=100.0)
    accepted: list[int] = []
    barrier = threading.Barrier(8)

    def worker(i: int) -> None:
        store = stores[i % 2]
        barrier.wait()
        for _ in range(6):
            try:
                store.charge("ann", f"s{i}", 0.1, rules)
                accepted.append(i)
            except DisclosureError:
                pass

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(accepted) == 10  # 48 attempts, room for exactly 10
    assert stores[0].spent("ann") == pytest.approx(1.0)
    assert len(stores[1].history(researcher="ann")) == 10


def _charge_in_process(path: str, attempts: int, queue: multiprocessing.Queue) -> None:
    rules = PrivacyRules(enabled=True, budget_per_researcher=100.0, budget_per_study=0.5)
    store = EpsilonBudget(path)
    ok = 0
    for _ in range(attempts):
        try:
            store.charge("ann" if ok % 2 else "bob", "s1", 0.05, rules)
            ok += 1
        except DisclosureError:
            pass
    queue.put(ok)


def test_concurrent_charges_from_two_processes_never_overspend(tmp_path: Path) -> None:
    path = str(tmp_path / "budget.sqlite")
    EpsilonBudget(path)
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_charge_in_process, args=(path, 12, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert sum(queue.get(timeout=5) for _ in procs) == 10  # 24 attempts, room for 10
    assert EpsilonBudget(path).spent_on_study("s1") == pytest.approx(0.5)
