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

import hashlib
import logging
import random
import signal
import threading
from collections import OrderedDict
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from types import FrameType
from typing import Any

from behindglass.core.canonical import canonical_json, digest
from behindglass.core.errors import AuthError, EngineError, NetworkError
from behindglass.core.messages import Release, Task
from behindglass.core.policy import DisclosurePolicy
from behindglass.core.sitedata import SiteData
from behindglass.governance.audit import AuditLog
from behindglass.site.execute import (
    Catalog,
    Decision,
    Enforce,
    execute_task,
    installed,
    summarize,
)
from behindglass.site.hublink import HubLink, HubUnavailable, ReleaseConflict
from behindglass.site.memo import PopulationMemo, store_version

CACHED_STUDIES = 8  # studies whose iterative analyses keep their data sets between rounds

log = logging.getLogger("behindglass.site")

DataOpener = Callable[[], AbstractContextManager[SiteData]]


class _Interrupted(BaseException):
    """Raised by the signal handler to leave a blocking long-poll at once."""


class Backoff:
    """Delays for retrying an unavailable hub: doubling, capped, jittered."""

    def __init__(self, first: float = 0.5, cap: float = 30.0) -> None:
        self.first, self.cap, self._next = first, cap, first

    def next(self) -> float:
        delay = self._next
        self._next = min(self.cap, self._next * 2)
        return delay * random.uniform(0.8, 1.2)  # many sites must not retry in lockstep

    def reset(self) -> None:
        self._next = self.first


class _NoAudit:
    """Stand-in when the operator runs without an audit file (tests, dry runs)."""

    head = None

    def append(self, event: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        pass


class SiteAgent:
    """One site's agent. ``run()`` loops until :meth:`stop` (or SIGINT/SIGTERM)."""

    def __init__(self, *, hub_url: str, name: str, token: str,
                 db_path: str | Path | None = None, open_data: DataOpener | None = None,
                 policy: DisclosurePolicy | None = None, audit_path: str | Path | None = None,
                 poll_wait: float = 25.0, catalog: Catalog | None = None,
                 enforce: Enforce | None = None, link: HubLink | None = None,
                 quality: dict[str, Any] | None = None, threads: int | None = None,
                 memo: PopulationMemo | None = None) -> None:
        if open_data is None:
            if db_path is None:
                raise ValueError("give the site store as db_path or open_data")
            open_data = _store_opener(db_path, threads)
        self._memo = PopulationMemo() if memo is None else memo
        self._db_path = db_path
        if catalog is None or enforce is None:
            # imported now, not on the first task: a study should not wait for imports
            default_catalog, default_enforce = installed()
            catalog, enforce = catalog or default_catalog, enforce or default_enforce
        self.name = name
        self.policy = policy or DisclosurePolicy()
        self.poll_wait = poll_wait
        self.quality = quality  # the data-quality summary checked before joining, if any
        self._open_data = open_data
        self._catalog, self._enforce = catalog, enforce
        self._link = link or HubLink(hub_url, token)
        self._audit: AuditLog | _NoAudit = AuditLog(audit_path) if audit_path else _NoAudit()
        self._stop = threading.Event()
        self._interruptible = False
        self._caches: OrderedDict[str, dict[str, dict[str, Any]]] = OrderedDict()

    # -- lifecycle ----------------------------------------------------------------------
    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self._link.close()
        self._audit.close()

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
        self._audit.append("agent_started", {"site": self.name, "hub": self._link.hub_url,
                                             "policy": self.policy.model_dump(mode="json"),
                                             "data_quality": self.quality})
        log.info("site %s polling %s (min cell %d)", self.name, self._link.hub_url,
                 self.policy.min_cell)
        backoff = Backoff()
        handled = 0
        try:
            while not self._stop.is_set():
                try:
                    task = self._poll()
                except HubUnavailable as exc:
                    delay = backoff.next()
                    log.warning("%s; retrying in %.1f s", exc, delay)
                    if self._sleep(delay):
                        break
                    continue
                backoff.reset()
                if task is not None:
                    self.handle(task)
                    handled += 1
                if once:
                    break
        except _Interrupted:
            pass
        finally:
            self._audit.append("agent_stopped", {"site": self.name, "tasks": handled})
            log.info("site %s stopped after %d task(s)", self.name, handled)
        return handled

    def _poll(self) -> Task | None:
        self._interruptible = True
        try:
            return self._link.next_task(self.poll_wait)
        finally:
            self._interruptible = False

    # -- one task -----------------------------------------------------------------------
    def handle(self, task: Task) -> Release:
        """Run, audit and post one task; returns the release that was sent."""
        self._audit.append("task_received", {
            "task_id": task.task_id, "study_id": task.study_id, "researcher": task.researcher,
            "title": task.study.title, "study_digest": digest(task.study.to_dict()),
            "analyses": [{"name": a.name, "kind": a.kind, "cohort": a.cohort}
                         for a in task.study.analyses]})
        log.info("task %s from %s: %d analysis(es) on study %s", task.task_id,
                 task.researcher, len(task.study.analyses), task.study_id)
        release = self._compute(task)
        body = canonical_json(release.model_dump(mode="json")).encode("utf-8")
        sent_digest = hashlib.sha256(body).hexdigest()
        self._audit.append("release", {
            "task_id": task.task_id, "study_id": task.study_id, "digest": sent_digest,
            "bytes": len(body), "released": [summarize(a) for a in release.aggregates],
            "refused": [r.analysis for r in release.refusals], "error": release.error})
        log.info("task %s: releasing %d analysis(es), refusing %d; digest %s", task.task_id,
                 len(release.aggregates), len(release.refusals), sent_digest[:16])
        self._send(task, body, sent_digest)
        return release

    def _compute(self, task: Task) -> Release:
        def decide(analysis: str, kind: str, decision: Decision, reason: str | None) -> None:
            self._audit.append("decision", {"task_id": task.task_id, "analysis": analysis,
                                            "kind": kind, "decision": decision,
                                            "reason": reason})

        if task.site != self.name:
            error = f"task {task.task_id} is addressed to {task.site!r}, not to this site"
            return Release(task_id=task.task_id, site=self.name, round=task.round, error=error,
                           audit_head=self._audit.head)
        store = _OnDemand(self._open_data)
        try:
            if task.round == 0:
                store.open()  # a store that cannot be opened fails the task, not each analysis
            version = None if self._db_path is None else store_version(self._db_path)
            out = execute_task(task, self._memo.wrap(store, version),  # type: ignore[arg-type]
                               self.policy, catalog=self._catalog, enforce=self._enforce,
                               decide=decide, caches=self._caches_of(task))
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

    def _send(self, task: Task, body: bytes, sent_digest: str) -> None:
        backoff = Backoff()
        while True:
            try:
                receipt = self._link.post_release(task.task_id, body)
            except HubUnavailable as exc:
                delay = backoff.next()
                log.warning("%s; resending release of %s in %.1f s", exc, task.task_id, delay)
                if self._sleep(delay):
                    # the hub re-offers the task when its lease runs out
                    self._audit.append("release_abandoned", {"task_id": task.task_id,
                                                             "digest": sent_digest})
                    return
                continue
            except AuthError:
                raise  # a revoked token stops the agent; the lease re-offers the task
            except NetworkError as exc:  # 409 (already released) or a refusal by the hub
                self._audit.append("release_rejected", {"task_id": task.task_id,
                                                        "digest": sent_digest,
                                                        "reason": str(exc)})
                log.log(logging.WARNING if isinstance(exc, ReleaseConflict) else logging.ERROR,
                        "%s", exc)
                return
            hub_digest = receipt.get("digest")
            self._audit.append("release_acknowledged", {
                "task_id": task.task_id, "digest": sent_digest, "hub_digest": hub_digest,
                "state": receipt.get("state")})
            if hub_digest != sent_digest:
                log.error("task %s: hub recorded digest %s, the site sent %s", task.task_id,
                          hub_digest, sent_digest)
            return


class _OnDemand:
    """The site's store, opened on first use: a later round of a fit answers from what the
    analysis kept, so it need not open (and close) the store at all."""

    def __init__(self, opener: DataOpener) -> None:
        self._opener = opener
        self._context: AbstractContextManager[SiteData] | None = None
        self._data: SiteData | None = None

    def open(self) -> SiteData:
        if self._data is None:
            context = self._opener()
            self._data = context.__enter__()
            self._context = context
        return self._data

    def __getattr__(self, name: str) -> Any:
        return getattr(self.open(), name)

    def close(self) -> None:
        if self._context is not None:
            self._context.__exit__(None, None, None)
            self._context = self._data = None


def _store_opener(target: str | Path, threads: int | None = None) -> DataOpener:
    """Opens the site's store per task: a DuckDB file (read-only) or a PostgreSQL URL.

    The store is opened once here so a wrong path, URL, password or schema stops the agent
    at start-up with the reason, instead of refusing every task later.
    """
    from behindglass.engine.site_store import SiteStore

    SiteStore.open(target).close()

    def open_store() -> AbstractContextManager[SiteData]:
        # per task, so the site can refresh its store between tasks (and a dropped
        # database connection costs one task, not the agent)
        return SiteStore.open(target, threads=threads)

    return open_store


__all__ = ["Backoff", "SiteAgent"]
