"""The site agent: ask the hub for work, run it on the site's store, release what the
site's policy allows, and write every step to the site's audit log.

The loop only ever opens outbound connections: a long-poll ``GET /tasks/next`` that the
hub holds open until a task arrives. When the hub is down the agent backs off (0.5 s
doubling to 30 s, with jitter) and keeps trying; a rejected token stops it, since
retrying cannot fix that.

Audit events, in order, for each task: ``task_received``, one ``decision`` per analysis
(``run`` or ``refuse``), ``release`` (with the SHA-256 of the exact bytes sent, written
*before* they are sent), then ``release_acknowledged`` or ``release_rejected``.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections import OrderedDict
from pathlib import Path
from types import FrameType
from typing import Any

from behindglass.core.canonical import digest
from behindglass.core.errors import EngineError, SignatureError
from behindglass.core.messages import Release, Task
from behindglass.core.policy import (
    ApprovalRules,
    DifferencingRules,
    DisclosurePolicy,
    SitePolicy,
)
from behindglass.core.signing import SigningKey, VerifyKey
from behindglass.governance.approvals import ApprovalStore
from behindglass.governance.audit import AuditLog
from behindglass.governance.identity import load_roster
from behindglass.privacy.budget import EpsilonBudget
from behindglass.privacy.ledger import ReleaseLedger
from behindglass.privacy.table_memory import TableMemory
from behindglass.site.execute import (
    Catalog,
    Decision,
    Enforce,
    execute_task,
    installed,
)
from behindglass.site.guard import SiteGuard
from behindglass.site.home import SiteHome
from behindglass.site.hublink import Backoff, HubLink, HubUnavailable
from behindglass.site.memo import PopulationMemo, store_version
from behindglass.site.outbox import HEAD_EVERY, Outbox, release_bytes
from behindglass.site.policy_file import load_policy
from behindglass.site.signatures import NonceBook, TaskVerifier
from behindglass.site.stewardship import Stewardship, refusal
from behindglass.site.store_access import DataOpener, OnDemand, store_opener

CACHED_STUDIES = 8  # studies whose iterative analyses keep their data sets between rounds
STEWARD_POLL = 2.0  # seconds per long-poll while a steward's decision is awaited

log = logging.getLogger("behindglass.site")

class _Interrupted(BaseException):
    """Raised by the signal handler to leave a blocking long-poll at once."""


class _NoAudit:
    """Stand-in when the operator runs without an audit file (tests, dry runs)."""

    head = None

    def append(self, event: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        pass


class SiteAgent(Outbox):
    """One site's agent. ``run()`` loops until :meth:`stop` (or SIGINT/SIGTERM)."""

    def __init__(self, *, hub_url: str, name: str, token: str,
                 db_path: str | Path | None = None, open_data: DataOpener | None = None,
                 policy: DisclosurePolicy | None = None, audit_path: str | Path | None = None,
                 poll_wait: float = 25.0, catalog: Catalog | None = None,
                 enforce: Enforce | None = None, link: HubLink | None = None,
                 quality: dict[str, Any] | None = None, threads: int | None = None,
                 memo: PopulationMemo | None = None,
                 home: SiteHome | str | Path | None = None,
                 site_policy: SitePolicy | None = None) -> None:
        if open_data is None:
            if db_path is None:
                raise ValueError("give the site store as db_path or open_data")
            open_data = store_opener(db_path, threads)
        self._memo = PopulationMemo() if memo is None else memo
        self._db_path = db_path
        if catalog is None or enforce is None:
            # imported now, not on the first task: a study should not wait for imports
            default_catalog, default_enforce = installed()
            catalog, enforce = catalog or default_catalog, enforce or default_enforce
        self.name = name
        self.home = None if home is None else (
            home if isinstance(home, SiteHome) else SiteHome(home)).check()
        if site_policy is None:
            if self.home is not None:
                site_policy = load_policy(self.home.policy_path)
            else:  # no home: the disclosure rules only, nothing to approve or remember
                site_policy = SitePolicy(
                    disclosure=policy or DisclosurePolicy(),
                    approvals=ApprovalRules(required=False),
                    differencing=DifferencingRules(enabled=False))
        self.site_policy = site_policy
        self.policy = site_policy.disclosure
        self.poll_wait = poll_wait
        self.quality = quality  # the data-quality summary checked before joining, if any
        self._open_data = open_data
        self._catalog, self._enforce = catalog, enforce
        self._link = link or HubLink(hub_url, token)
        signer = None
        if self.home is not None:
            audit_path = audit_path or self.home.audit_path
            if self.home.signing_key_path.is_file():
                signer = SigningKey.load(self.home.signing_key_path)
        self.signer = signer  # signs the audit log and every release
        self._head_published = -HEAD_EVERY
        self._verifier = self._task_verifier()
        self._audit: AuditLog | _NoAudit = (AuditLog(audit_path, signer=signer) if audit_path
                                            else _NoAudit())
        self._guard, self._steward = self._governance()
        self._stop = threading.Event()
        self._interruptible = False
        self._caches: OrderedDict[str, dict[str, dict[str, Any]]] = OrderedDict()

    def _task_verifier(self) -> TaskVerifier | None:
        """On a signed network (the home holds the roster and the hub's key) every task
        must carry valid researcher and hub signatures."""
        if self.home is None or not self.home.roster_path.is_file():
            return None
        if not self.home.hub_key_path.is_file():
            raise SignatureError(f"{self.home.hub_key_path}: missing; the roster "
                                 f"{self.home.roster_path} cannot be checked without the "
                                 "hub's public key")
        roster = load_roster(self.home.roster_path, VerifyKey.load(self.home.hub_key_path))
        return TaskVerifier(roster, NonceBook(self.home.root / "nonces.jsonl"))

    def _governance(self) -> tuple[SiteGuard, Stewardship | None]:
        """The policy's guard and, with a site home, its approvals and ledgers."""
        if self.home is None:
            return SiteGuard(self.site_policy), None
        guard = SiteGuard(self.site_policy, ledger=ReleaseLedger(self.home.ledger_path),
                          ledger_key=self.home.ledger_key(),
                          budget=EpsilonBudget(self.home.budget_path),
                          memory=TableMemory(self.home.tables_path))
        steward = Stewardship(store=ApprovalStore(self.home.approvals_path),
                              policy=self.site_policy, link=self._link, audit=self._audit,
                              site=self.name, signer=self.signer)
        return guard, steward

    # -- lifecycle ----------------------------------------------------------------------
    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self._link.close()
        self._audit.close()
        if self._steward is not None:
            self._steward.store.close()
        if self._guard.ledger is not None:
            self._guard.ledger.close()  # the budget opens a connection per charge
        if self._guard.memory is not None:
            self._guard.memory.close()

    def install_signal_handlers(self) -> None:
        """SIGINT/SIGTERM stop the agent: at once while waiting, after the current task
        (and its release) while working. Call from the main thread."""

        def handler(signum: int, frame: FrameType | None) -> None:
            log.info("received %s; stopping", signal.Signals(signum).name)
            self._stop.set()
            if self._interruptible:
                raise _Interrupted()

        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless stopped; True if the agent should stop."""
        self._interruptible = True
        try:
            return self._stop.wait(seconds)
        finally:
            self._interruptible = False

    # -- main loop ----------------------------------------------------------------------
    def run(self, once: bool = False) -> int:
        """Serve tasks until stopped; with ``once``, handle at most one task (waiting up to
        ``poll_wait`` seconds for it). Returns the number of tasks handled."""
        self._audit.append("agent_started", {
            "site": self.name, "hub": self._link.hub_url,
            "policy": self.site_policy.model_dump(mode="json"),
            "policy_digest": digest(self.site_policy.model_dump(mode="json")),
            "home": None if self.home is None else str(self.home.root),
            "data_quality": self.quality})
        log.info("site %s polling %s (min cell %d)", self.name, self._link.hub_url,
                 self.policy.min_cell)
        backoff = Backoff()
        handled = 0
        self._publish_head()  # and after every release, and when stopping
        try:
            while not self._stop.is_set():
                try:
                    handled += self._steward_turn()
                    task = self._poll()
                except HubUnavailable as exc:
                    delay = backoff.next()
                    log.warning("%s; retrying in %.1f s", exc, delay)
                    if self._sleep(delay):
                        break
                    continue
                backoff.reset()
                if task is not None:
                    self.receive(task)
                    handled += 1
                if once:
                    break
        except _Interrupted:
            pass
        finally:
            self._audit.append("agent_stopped", {"site": self.name, "tasks": handled})
            self._publish_head()
            log.info("site %s stopped after %d task(s)", self.name, handled)
        return handled

    def _steward_turn(self) -> int:
        """Run what stewards approved, send what they passed or refused; returns the
        number of tasks run."""
        if self._steward is None:
            return 0
        ran: list[Task] = []

        def run(task: Task) -> None:
            if self._verifier is not None:
                # checked when it arrived; its signatures again, not its (used) nonce
                try:
                    self._verifier.recheck(task)
                except SignatureError as exc:
                    self._rejected(task, exc)
                    return
            self.handle(task)
            ran.append(task)

        self._steward.turn(run, self._send_body)
        return len(ran)

    def _poll(self) -> Task | None:
        # a steward's decision is found between polls: wait briefly while one is awaited
        wait = self.poll_wait
        if self._steward is not None and self._steward.waiting():
            wait = min(wait, STEWARD_POLL)
        self._interruptible = True
        try:
            return self._link.next_task(wait)
        finally:
            self._interruptible = False

    # -- one task -----------------------------------------------------------------------
    def receive(self, task: Task) -> Release | None:
        """A task as it arrives from the hub: on a signed network its researcher's and hub's
        signatures are checked first (a task kept for the steward's approval was checked
        when it arrived, and is handled without a second look at its used nonce)."""
        if self._verifier is not None:
            try:
                self._verifier.check(task)
            except SignatureError as exc:
                self._rejected(task, exc)
                return self._emit(task, Release(
                    task_id=task.task_id, site=self.name, round=task.round,
                    error=f"site {self.name} refused the task: {exc}",
                    audit_head=self._audit.head))
        return self.handle(task)

    def _rejected(self, task: Task, exc: SignatureError) -> None:
        self._audit.append("task_rejected", {"task_id": task.task_id,
                                             "study_id": task.study_id, "reason": str(exc)})
        log.error("task %s rejected: %s", task.task_id, exc)

    def handle(self, task: Task) -> Release | None:
        """Admit, run, audit and post one task; returns the release that was sent, or None
        when the task waits for the steward's approval or its output for review."""
        self._audit.append("task_received", {
            "task_id": task.task_id, "study_id": task.study_id, "researcher": task.researcher,
            "round": task.round, "title": task.study.title,
            "study_digest": digest(task.study.to_dict()),
            "analyses": [{"name": a.name, "kind": a.kind, "cohort": a.cohort,
                          "params_digest": digest(a.model_dump(mode="json"))}
                         for a in task.study.analyses]})
        log.info("task %s from %s: %d analysis(es) on study %s", task.task_id,
                 task.researcher, len(task.study.analyses), task.study_id)
        if task.site != self.name:
            error = f"task {task.task_id} is addressed to {task.site!r}, not to this site"
            return self._emit(task, Release(task_id=task.task_id, site=self.name,
                                            round=task.round, error=error,
                                            audit_head=self._audit.head))
        verdict = "run" if self._steward is None else self._steward.admit(task)
        if verdict == "hold":
            return None
        if verdict == "run":
            verdict = self._guard.lockout(task.researcher) or "run"
        if verdict != "run":
            return self._refuse_all(task, verdict)
        release = self._compute(task)
        body = release_bytes(release)
        if self._steward is not None and self._steward.hold_if_sensitive(task, release, body):
            return None
        sent = self._emit(task, release, body)
        if self._steward is not None:
            self._steward.finished(task, release)
        return sent

    def _refuse_all(self, task: Task, reason: str) -> Release:
        release = refusal(task, self.name, reason, None)
        for r in release.refusals:
            kind = next(a.kind for a in task.study.analyses if a.name == r.analysis)
            self._audit.append("decision", {"task_id": task.task_id, "analysis": r.analysis,
                                            "kind": kind, "decision": "refuse",
                                            "reason": reason})
        release = release.model_copy(update={"audit_head": self._audit.head})
        sent = self._emit(task, release)
        if self._steward is not None:
            self._steward.finished(task, release)
        return sent

    def _compute(self, task: Task) -> Release:
        def decide(analysis: str, kind: str, decision: Decision, reason: str | None) -> None:
            self._audit.append("decision", {"task_id": task.task_id, "analysis": analysis,
                                            "kind": kind, "decision": decision,
                                            "reason": reason})

        store = OnDemand(self._open_data)
        try:
            if task.round == 0:
                store.open()  # a store that cannot be opened fails the task, not each analysis
            version = None if self._db_path is None else store_version(self._db_path)
            out = execute_task(task, self._memo.wrap(store, version),  # type: ignore[arg-type]
                               self.policy, catalog=self._catalog, enforce=self._enforce,
                               decide=decide, caches=self._caches_of(task),
                               guard=self._guard)
        except EngineError:
            log.warning("task %s: the site store could not be opened", task.task_id)
            return Release(task_id=task.task_id, site=self.name, round=task.round,
                           error="the site's data store is unavailable",
                           audit_head=self._audit.head)
        finally:
            store.close()
        # the head after the decisions: the hub keeps it, so a later cut of this log
        # (removing what was released) is detectable with `audit verify --expect`
        return Release(task_id=task.task_id, site=self.name, round=task.round,
                       aggregates=tuple(out.aggregates), refusals=tuple(out.refusals),
                       audit_head=self._audit.head)

    def _caches_of(self, task: Task) -> dict[str, dict[str, Any]]:
        """What iterative analyses of this study keep here between rounds (their analysis
        data set, in this process's memory only). Round 0 starts afresh; only the most
        recent studies are kept."""
        if task.round == 0:
            self._caches.pop(task.study_id, None)
        caches = self._caches.setdefault(task.study_id, {})
        self._caches.move_to_end(task.study_id)
        while len(self._caches) > CACHED_STUDIES:
            self._caches.popitem(last=False)
        return caches

__all__ = ["Backoff", "SiteAgent"]
