"""The approval workflow: every allowed and forbidden move of a study request and of a held
output, idempotent submission, races between two writers, and the journal the agent audits."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from behindglass.core.canonical import digest
from behindglass.core.cohort import Cohort
from behindglass.core.errors import GovernanceError
from behindglass.core.messages import Task
from behindglass.core.study import AnalysisSpec, StudySpec
from behindglass.governance.approvals import (
    REQUEST_STATES,
    STORE_FILE,
    ApprovalStore,
    Request,
    can_approve,
    can_continue,
    can_finish,
    can_reject,
    can_start,
)


def make_task(study_id: str = "st-0123456789ab", task_id: str = "tk-1", round: int = 0,
              title: str = "HbA1c control", researcher: str = "alice",
              kinds: tuple[str, ...] = ("characterize", "cohort_count")) -> Task:
    analyses = tuple(AnalysisSpec(kind=k, name=f"A{i}", cohort="all",
                                  params={"top_n": 5} if k == "characterize" else {})
                     for i, k in enumerate(kinds))
    study = StudySpec(title=title, cohorts={"all": Cohort.everyone()}, analyses=analyses)
    return Task(task_id=task_id, study_id=study_id, site="site-a", researcher=researcher,
                study=study, created=dt.datetime.now(dt.UTC), round=round)


def submit(store: ApprovalStore, task: Task | None = None) -> Request:
    task = task or make_task()
    return store.submit(task, digest(task.study.to_dict()))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ApprovalStore]:
    with ApprovalStore(tmp_path / STORE_FILE) as s:
        yield s


def _in_state(store: ApprovalStore, state: str, study_id: str) -> Request:
    """A request driven to ``state`` through the allowed moves only."""
    request = submit(store, make_task(study_id=study_id))
    path = {"pending": [], "approved": ["a"], "rejected": ["r"], "running": ["a", "s"],
            "released": ["a", "s", "f+"], "refused": ["a", "s", "f-"]}[state]
    for move in path:
        request = {"a": lambda: store.approve(study_id, "sam"),
                   "r": lambda: store.reject(study_id, "sam", "too broad"),
                   "s": lambda: store.start(study_id),
                   "f+": lambda: store.finish(study_id, released=True),
                   "f-": lambda: store.finish(study_id, released=False)}[move]()
    assert request.state == state
    return request


def test_submit_records_a_pending_request_with_its_task(store: ApprovalStore) -> None:
    task = make_task()
    request = submit(store, task)
    assert request.state == "pending"
    assert (request.study_id, request.task_id, request.researcher) == (
        "st-0123456789ab", "tk-1", "alice")
    assert request.title == "HbA1c control"
    assert [(a.name, a.kind, a.cohort) for a in request.analyses] == [
        ("A0", "characterize", "all"), ("A1", "cohort_count", "all")]
    assert request.study_digest == digest(task.study.to_dict())
    assert request.decided is None and request.decided_by is None
    assert store.task("st-0123456789ab") == task  # kept to run after approval
    assert store.get("st-0123456789ab") == request


def test_submit_is_idempotent_and_refuses_a_different_study_under_the_same_id(
        store: ApprovalStore) -> None:
    first = submit(store)
    again = submit(store, make_task(task_id="tk-1"))
    assert again == first
    assert len(store.list()) == 1
    later_round = submit(store, make_task(task_id="tk-2", round=1))
    assert later_round == first  # a later round finds the request; it opens no new one
    with pytest.raises(GovernanceError, match=r"st-0123456789ab.*different study"):
        submit(store, make_task(task_id="tk-3", title="something else"))
    with pytest.raises(GovernanceError, match="different study"):
        submit(store, make_task(task_id="tk-4", researcher="mallory"))
    assert [e["event"] for e in store.unaudited()] == ["study_submitted"]


def test_submit_refuses_a_digest_that_is_not_the_tasks_study(store: ApprovalStore) -> None:
    with pytest.raises(GovernanceError, match="digest"):
        store.submit(make_task(), "0" * 64)
    assert store.list() == []


def test_a_later_round_cannot_open_a_request(store: ApprovalStore) -> None:
    with pytest.raises(GovernanceError, match=r"round 2 .*never had a round 0"):
        submit(store, make_task(round=2))
    assert store.find("st-0123456789ab") is None


def test_approve_start_finish_walks_the_happy_path(store: ApprovalStore) -> None:
    submit(store)
    approved = store.approve("st-0123456789ab", "sam", note="fine")
    assert (approved.state, approved.decided_by, approved.note) == ("approved", "sam", "fine")
    assert approved.decided is not None
    assert store.approved_not_started() == [approved]
    running = store.start("st-0123456789ab")
    assert running.state == "running" and store.approved_not_started() == []
    assert running.decided_by == "sam"  # starting does not overwrite the decision
    assert store.finish("st-0123456789ab", released=True).state == "released"


# (move, states it is allowed from)
MOVES = {
    "approve": ({"pending"}, lambda s, i: s.approve(i, "sam"), can_approve),
    "reject": ({"pending"}, lambda s, i: s.reject(i, "sam", "no"), can_reject),
    "start": ({"approved"}, lambda s, i: s.start(i), can_start),
    "finish": ({"running"}, lambda s, i: s.finish(i, released=True), can_finish),
}


@pytest.mark.parametrize("state", REQUEST_STATES)
@pytest.mark.parametrize("move", sorted(MOVES))
def test_every_move_from_every_state(store: ApprovalStore, state: str, move: str) -> None:
    allowed, do, can = MOVES[move]
    before = _in_state(store, state, "st-aaaaaaaaaaaa")
    assert can(before) == (state in allowed)
    if state in allowed:
        assert do(store, "st-aaaaaaaaaaaa").state != state
        return
    journal = len(store.unaudited())
    with pytest.raises(GovernanceError) as err:
        do(store, "st-aaaaaaaaaaaa")
    assert "st-aaaaaaaaaaaa" in str(err.value) and f"is {state}" in str(err.value)
    assert store.get("st-aaaaaaaaaaaa") == before  # nothing changed
    assert len(store.unaudited()) == journal  # and nothing was journalled


def test_only_a_study_that_ran_round_0_continues(store: ApprovalStore) -> None:
    for state in REQUEST_STATES:
        request = _in_state(store, state, f"st-{state:0>12}")
        assert can_continue(request) == (state in ("running", "released"))


def test_reject_needs_a_reason_and_approve_a_steward(store: ApprovalStore) -> None:
    submit(store)
    with pytest.raises(GovernanceError, match="reason"):
        store.reject("st-0123456789ab", "sam", "  ")
    with pytest.raises(GovernanceError, match="steward"):
        store.approve("st-0123456789ab", "")
    assert store.get("st-0123456789ab").state == "pending"
    rejected = store.reject("st-0123456789ab", "sam", "asks for too much")
    assert (rejected.state, rejected.reason) == ("rejected", "asks for too much")


def test_unknown_study_is_named(store: ApprovalStore) -> None:
    with pytest.raises(GovernanceError, match="no request for study st-nope"):
        store.approve("st-nope", "sam")
    assert store.find("st-nope") is None


def test_automatic_approval_records_its_rule(store: ApprovalStore) -> None:
    submit(store)
    request = store.approve("st-0123456789ab", "site policy", rule="standing: counts")
    assert request.rule == "standing: counts"
    events = store.unaudited()
    assert events[-1]["event"] == "study_approved"
    assert events[-1]["rule"] == "standing: counts"


def test_list_filters_by_state(store: ApprovalStore) -> None:
    _in_state(store, "pending", "st-000000000001")
    _in_state(store, "rejected", "st-000000000002")
    assert [r.study_id for r in store.list(("pending",))] == ["st-000000000001"]
    assert len(store.list()) == 2


def _race(store_a: ApprovalStore, store_b: ApprovalStore, study_id: str) -> list[str]:
    barrier = threading.Barrier(2)
    results: list[str] = []

    def attempt(store: ApprovalStore, approve: bool) -> None:
        barrier.wait()
        try:
            if approve:
                store.approve(study_id, "ann")
            else:
                store.reject(study_id, "bob", "no")
            results.append("approved" if approve else "rejected")
        except GovernanceError:
            results.append("lost")

    threads = [threading.Thread(target=attempt, args=(store_a, True)),
               threading.Thread(target=attempt, args=(store_b, False))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_two_stores_racing_approve_and_reject_one_wins(tmp_path: Path) -> None:
    path = tmp_path / STORE_FILE
    with ApprovalStore(path) as a, ApprovalStore(path) as b:
        for i in range(20):
            study_id = f"st-{i:012d}"
            submit(a, make_task(study_id=study_id))
            results = _race(a, b, study_id)
            assert results.count("lost") == 1, results
            winner = next(r for r in results if r != "lost")
            assert b.get(study_id).state == winner == a.get(study_id).state
        decisions = [e for e in a.unaudited() if e["event"] in ("study_approved",
                                                                "study_rejected")]
        assert len(decisions) == 20


REJECTER = """
import json, sys
from behindglass.core.errors import GovernanceError
from behindglass.governance.approvals import ApprovalStore
store = ApprovalStore(sys.argv[1]); won = []
print("ready", flush=True)
sys.stdin.readline()  # start together with the other process, so they really race
for i in range(int(sys.argv[2])):
    try:
        store.reject(f"st-{i:012d}", "bob", "no")
        won.append(i)
    except GovernanceError:
        pass
print(json.dumps(won))
"""


def test_two_processes_racing_each_study_has_exactly_one_decision(tmp_path: Path) -> None:
    path = tmp_path / STORE_FILE
    n = 60
    with ApprovalStore(path) as store:
        for i in range(n):
            submit(store, make_task(study_id=f"st-{i:012d}"))
        child = subprocess.Popen([sys.executable, "-c", REJECTER, str(path), str(n)],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert child.stdin is not None and child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        child.stdin.write("go\n")
        child.stdin.flush()
        approved = set()
        for i in range(n):
            try:
                store.approve(f"st-{i:012d}", "ann")
                approved.add(i)
            except GovernanceError:
                pass
        rejected = set(json.loads(child.communicate(timeout=120)[0]))
        assert child.returncode == 0
        assert approved.isdisjoint(rejected) and approved | rejected == set(range(n))
        for i in range(n):
            request = store.get(f"st-{i:012d}")
            assert request.state == ("approved" if i in approved else "rejected")
            assert request.decided_by == ("ann" if i in approved else "bob")


# -- held outputs --------------------------------------------------------------------------
BODY = b'{"task_id":"tk-9","site":"site-a"}'


def test_two_distinct_stewards_pass_a_held_output(store: ApprovalStore) -> None:
    held = store.hold("tk-9", "st-0123456789ab", BODY, ["glm", "characterize"])
    assert (held.state, held.reviewers, held.kinds) == ("held", 2, ("characterize", "glm"))
    assert held.digest == hashlib.sha256(BODY).hexdigest() and held.size == len(BODY)
    assert store.body("tk-9") == BODY
    once = store.review("tk-9", "ann", passed=True)
    assert once.state == "held" and once.passed_by == ("ann",)
    assert store.passed_not_sent() == []
    with pytest.raises(GovernanceError, match="ann has already reviewed"):
        store.review("tk-9", "ann", passed=True)
    assert store.output("tk-9").passed_by == ("ann",)  # the repeat counted for nothing
    twice = store.review("tk-9", "bob", passed=True)
    assert twice.state == "passed" and twice.passed_by == ("ann", "bob")
    assert [o.task_id for o in store.passed_not_sent()] == ["tk-9"]
    with pytest.raises(GovernanceError, match="only a held output can be reviewed"):
        store.review("tk-9", "cat", passed=True)
    assert store.mark_sent("tk-9").state == "sent"
    assert store.passed_not_sent() == []
    with pytest.raises(GovernanceError, match="only a passed output can be sent"):
        store.mark_sent("tk-9")


def test_the_same_steward_cannot_pass_then_withhold(store: ApprovalStore) -> None:
    store.hold("tk-9", "st-0123456789ab", BODY, ["glm"])
    store.review("tk-9", "ann", passed=True)
    with pytest.raises(GovernanceError, match="already reviewed"):
        store.review("tk-9", "ann", passed=False, reason="changed my mind")
    assert store.output("tk-9").state == "held"


def test_one_withhold_ends_the_review(store: ApprovalStore) -> None:
    store.hold("tk-9", "st-0123456789ab", BODY, ["glm"], reviewers=3)
    store.review("tk-9", "ann", passed=True)
    with pytest.raises(GovernanceError, match="reason"):
        store.review("tk-9", "bob", passed=False)
    withheld = store.review("tk-9", "bob", passed=False, reason="rare outcome by site")
    assert (withheld.state, withheld.reason) == ("withheld", "rare outcome by site")
    with pytest.raises(GovernanceError, match="withheld"):
        store.review("tk-9", "cat", passed=True)
    with pytest.raises(GovernanceError, match="withheld"):
        store.mark_sent("tk-9")


def test_unheld_output_cannot_be_sent_and_hold_is_idempotent(store: ApprovalStore) -> None:
    first = store.hold("tk-9", "st-0123456789ab", BODY, ["glm"])
    assert store.hold("tk-9", "st-0123456789ab", BODY, ["glm"]) == first
    with pytest.raises(GovernanceError, match="different body"):
        store.hold("tk-9", "st-0123456789ab", BODY + b" ", ["glm"])
    with pytest.raises(GovernanceError, match="only a passed output"):
        store.mark_sent("tk-9")
    with pytest.raises(GovernanceError, match="no held output for task tk-none"):
        store.review("tk-none", "ann", passed=True)


def test_one_reviewer_policy_passes_at_once(store: ApprovalStore) -> None:
    store.hold("tk-9", "st-0123456789ab", BODY, ["glm"], reviewers=1)
    assert store.review("tk-9", "ann", passed=True).state == "passed"


# -- journal -------------------------------------------------------------------------------
def test_journal_records_every_transition_once(tmp_path: Path) -> None:
    path = tmp_path / STORE_FILE
    with ApprovalStore(path) as agent, ApprovalStore(path) as cli:
        task = make_task()
        submit(agent, task)
        cli.approve(task.study_id, "sam", note="routine")
        agent.start(task.study_id)
        agent.hold("tk-1", task.study_id, BODY, ["characterize"])
        cli.review("tk-1", "ann", passed=True)
        cli.review("tk-1", "bob", passed=True)
        agent.mark_sent("tk-1")
        agent.finish(task.study_id, released=True)
        rows = agent.unaudited()
        assert [r["event"] for r in rows] == [
            "study_submitted", "study_approved", "study_started", "output_held",
            "output_pass", "output_pass", "output_passed", "output_sent", "study_released"]
        approved = rows[1]
        assert (approved["steward"], approved["reason"]) == ("sam", "routine")
        assert approved["digest"] == digest(task.study.to_dict())
        assert rows[3]["digest"] == hashlib.sha256(BODY).hexdigest()
        assert [r["steward"] for r in rows[4:6]] == ["ann", "bob"]
        agent.mark_audited(r["id"] for r in rows[:5])
        assert [r["id"] for r in cli.unaudited()] == [r["id"] for r in rows[5:]]
        cli.mark_audited(r["id"] for r in rows[5:])
        assert agent.unaudited() == []


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / STORE_FILE
    con = sqlite3.connect(path)
    con.execute("PRAGMA user_version=99")
    con.close()
    with pytest.raises(GovernanceError, match="newer behindglass"):
        ApprovalStore(path)
