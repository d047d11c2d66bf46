"""A site's approvals: which studies its steward let run, and which held outputs two
stewards passed before they leave.

Everything lives in one SQLite file at the site (``SITE_HOME/approvals.sqlite``) because two
processes write it: the site agent (submitting requests, starting and finishing them, holding
outputs) and a steward's ``behindglass site approve`` / ``pass`` in another terminal. WAL lets
one read while the other writes, and every change runs in ``BEGIN IMMEDIATE``: the state is
re-read and checked *inside* the write lock, so when two stewards race to approve and reject
the same study exactly one of them wins and the other gets a clear :class:`GovernanceError`.

The states are explicit and every move has a ``can_x`` (a question) / ``check_x`` (raises)
pair, Airlock-style, so the CLI, the web UI and the agent ask the same question::

    study request:  pending ──approve──▶ approved ──start──▶ running ──finish──▶ released
                       └────reject───▶ rejected                  └──finish──▶ refused
    held output:    held ──pass × reviewers──▶ passed ──mark_sent──▶ sent
                      └──withhold──▶ withheld

Every transition appends a row to a journal in the same transaction. The agent owns the
hash-chained audit log (it holds its lock), so it copies journal rows it has not yet audited
(:meth:`ApprovalStore.unaudited`) into that log and marks them (:meth:`mark_audited`).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from behindglass.core.canonical import canonical_json, digest
from behindglass.core.errors import GovernanceError
from behindglass.core.messages import Task
from behindglass.core.sqlite_tx import apply_schema, immediate, open_wal
from behindglass.governance.review import (
    OutputReviews,
    _now,
    _required,
    _time,
)

STORE_FILE = "approvals.sqlite"
SCHEMA_VERSION = 1

RequestState = Literal["pending", "approved", "rejected", "running", "released", "refused"]
REQUEST_STATES: tuple[str, ...] = ("pending", "approved", "rejected", "running", "released",
                                   "refused")

SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    study_id TEXT PRIMARY KEY, task_id TEXT NOT NULL, researcher TEXT NOT NULL,
    title TEXT NOT NULL, study_digest TEXT NOT NULL, analyses TEXT NOT NULL,
    task TEXT NOT NULL, state TEXT NOT NULL, submitted TEXT NOT NULL, decided TEXT,
    decided_by TEXT, rule TEXT, reason TEXT, note TEXT, updated TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outputs (
    task_id TEXT PRIMARY KEY, study_id TEXT NOT NULL, kinds TEXT NOT NULL,
    body BLOB NOT NULL, digest TEXT NOT NULL, reviewers INTEGER NOT NULL,
    state TEXT NOT NULL, held TEXT NOT NULL, decided TEXT, reason TEXT);
CREATE TABLE IF NOT EXISTS reviews (
    task_id TEXT NOT NULL REFERENCES outputs(task_id), steward TEXT NOT NULL,
    passed INTEGER NOT NULL, reason TEXT, time TEXT NOT NULL,
    PRIMARY KEY (task_id, steward));
CREATE TABLE IF NOT EXISTS journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL, event TEXT NOT NULL,
    study_id TEXT, task_id TEXT, steward TEXT, rule TEXT, reason TEXT, digest TEXT,
    audited INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS journal_unaudited ON journal(audited, id);
CREATE TABLE IF NOT EXISTS told (task_id TEXT PRIMARY KEY, time TEXT NOT NULL);
"""


@dataclass(frozen=True)
class AnalysisLine:
    """What a steward reads about one analysis of a study without opening its JSON."""

    name: str
    kind: str
    cohort: str


@dataclass(frozen=True)
class Request:
    """One study offered to this site, and what became of it."""

    study_id: str
    task_id: str
    researcher: str
    title: str
    study_digest: str
    analyses: tuple[AnalysisLine, ...]
    state: RequestState
    submitted: dt.datetime
    decided: dt.datetime | None = None
    decided_by: str | None = None
    rule: str | None = None
    reason: str | None = None
    note: str | None = None

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(sorted({a.kind for a in self.analyses}))



# -- can_x / check_x: the workflow's rules, in one place -------------------------------------
def _refuse(request: Request, action: str, allowed: str) -> GovernanceError:
    return GovernanceError(f"study {request.study_id} ({request.title!r}) is {request.state}; "
                           f"only {allowed} request can be {action}")


def can_approve(request: Request) -> bool:
    return request.state == "pending"


def check_approve(request: Request) -> None:
    if not can_approve(request):
        raise _refuse(request, "approved", "a pending")


def can_reject(request: Request) -> bool:
    return request.state == "pending"


def check_reject(request: Request) -> None:
    if not can_reject(request):
        raise _refuse(request, "rejected", "a pending")


def can_start(request: Request) -> bool:
    return request.state == "approved"


def check_start(request: Request) -> None:
    if not can_start(request):
        raise _refuse(request, "started", "an approved")


def can_finish(request: Request) -> bool:
    return request.state == "running"


def check_finish(request: Request) -> None:
    if not can_finish(request):
        raise _refuse(request, "finished", "a running")


def can_continue(request: Request) -> bool:
    """Later rounds of an iterative fit run only for a study whose round 0 ran here."""
    return request.state in ("running", "released")


def check_continue(request: Request) -> None:
    if not can_continue(request):
        raise _refuse(request, "continued with a later round", "a running or released")



class ApprovalStore(OutputReviews):
    """All reads and writes of one site's approvals file. Safe to open in several processes;
    one object may be shared between threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._con = open_wal(self.path, shared=True)
        with self._write() as con:
            version = con.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise GovernanceError(f"{self.path}: written by a newer behindglass (schema "
                                      f"{version}, this one knows {SCHEMA_VERSION})")
            apply_schema(con, SCHEMA)
            con.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def __enter__(self) -> ApprovalStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        return immediate(self._con, self._lock)

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._con.execute(sql, args).fetchall()

    @staticmethod
    def _journal(con: sqlite3.Connection, event: str, *, study_id: str | None = None,
                 task_id: str | None = None, steward: str | None = None,
                 rule: str | None = None, reason: str | None = None,
                 digest: str | None = None) -> None:
        con.execute("INSERT INTO journal (time, event, study_id, task_id, steward, rule, "
                    "reason, digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (_now(), event, study_id, task_id, steward, rule, reason, digest))

    # -- study requests -------------------------------------------------------------------
    def submit(self, task: Task, study_digest: str) -> Request:
        """Record a round-0 task as a pending request; a re-offered task returns it again."""
        if study_digest != digest(task.study.to_dict()):
            raise GovernanceError(f"task {task.task_id}: the study digest given does not match "
                                  f"the study the task carries")
        with self._write() as con:
            row = con.execute("SELECT * FROM requests WHERE study_id = ?",
                              (task.study_id,)).fetchone()
            if row is not None:
                existing = _request(row)
                if (existing.study_digest, existing.researcher) != (study_digest,
                                                                    task.researcher):
                    raise GovernanceError(
                        f"study {task.study_id}: task {task.task_id} carries a different study "
                        f"(digest {study_digest[:12]}, researcher {task.researcher}) from the "
                        f"one submitted as task {existing.task_id} (digest "
                        f"{existing.study_digest[:12]}, researcher {existing.researcher})")
                return existing
            if task.round != 0:
                raise GovernanceError(f"task {task.task_id} is round {task.round} of study "
                                      f"{task.study_id}, which never had a round 0 here")
            now = _now()
            analyses = [{"name": a.name, "kind": a.kind, "cohort": a.cohort}
                        for a in task.study.analyses]
            con.execute(
                "INSERT INTO requests (study_id, task_id, researcher, title, study_digest, "
                "analyses, task, state, submitted, updated) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
                (task.study_id, task.task_id, task.researcher, task.study.title, study_digest,
                 json.dumps(analyses), canonical_json(task.model_dump(mode="json")), now, now))
            self._journal(con, "study_submitted", study_id=task.study_id,
                          task_id=task.task_id, digest=study_digest)
            return _request(con.execute("SELECT * FROM requests WHERE study_id = ?",
                                        (task.study_id,)).fetchone())

    def _move(self, study_id: str, check: Callable[[Request], None], state: str, event: str, *,
              steward: str | None = None, rule: str | None = None, reason: str | None = None,
              note: str | None = None, decision: bool = False) -> Request:
        with self._write() as con:
            request = self._get(con, study_id)
            check(request)
            now = _now()
            if decision:
                con.execute("UPDATE requests SET state = ?, decided = ?, decided_by = ?, "
                            "rule = ?, reason = ?, note = ?, updated = ? WHERE study_id = ?",
                            (state, now, steward, rule, reason, note, now, study_id))
            else:
                con.execute("UPDATE requests SET state = ?, updated = ? WHERE study_id = ?",
                            (state, now, study_id))
            self._journal(con, event, study_id=study_id, task_id=request.task_id,
                          steward=steward, rule=rule, reason=reason or note,
                          digest=request.study_digest)
            return self._get(con, study_id)

    def approve(self, study_id: str, steward: str, note: str | None = None,
                rule: str | None = None) -> Request:
        """A steward (or, with ``rule``, the site's policy) lets the study run."""
        return self._move(study_id, check_approve, "approved", "study_approved",
                          steward=_required(steward, "the steward's name"), rule=rule,
                          note=note, decision=True)

    def reject(self, study_id: str, steward: str, reason: str) -> Request:
        return self._move(study_id, check_reject, "rejected", "study_rejected",
                          steward=_required(steward, "the steward's name"),
                          reason=_required(reason, f"a reason to reject study {study_id}"),
                          decision=True)

    def start(self, study_id: str) -> Request:
        return self._move(study_id, check_start, "running", "study_started")

    def finish(self, study_id: str, released: bool) -> Request:
        state = "released" if released else "refused"
        return self._move(study_id, check_finish, state, f"study_{state}")

    def _get(self, con: sqlite3.Connection, study_id: str) -> Request:
        row = con.execute("SELECT * FROM requests WHERE study_id = ?", (study_id,)).fetchone()
        if row is None:
            raise GovernanceError(f"no request for study {study_id} at this site")
        return _request(row)

    def get(self, study_id: str) -> Request:
        with self._lock:
            return self._get(self._con, study_id)

    def find(self, study_id: str) -> Request | None:
        rows = self._read("SELECT * FROM requests WHERE study_id = ?", (study_id,))
        return _request(rows[0]) if rows else None

    def task(self, study_id: str) -> Task:
        """The round-0 task kept with the request, to run once it is approved."""
        rows = self._read("SELECT task FROM requests WHERE study_id = ?", (study_id,))
        if not rows:
            raise GovernanceError(f"no request for study {study_id} at this site")
        return Task.model_validate_json(rows[0]["task"])

    def list(self, states: Iterable[str] | None = None) -> list[Request]:
        """Requests, oldest first; only those in ``states`` if given."""
        rows = self._read("SELECT * FROM requests ORDER BY submitted, study_id")
        wanted = None if states is None else set(states)
        return [_request(r) for r in rows if wanted is None or r["state"] in wanted]

    def approved_not_started(self) -> list[Request]:
        rows = self._read("SELECT * FROM requests WHERE state = 'approved' ORDER BY decided")
        return [_request(r) for r in rows]

    # -- the journal the agent copies into its audit log -------------------------------------
    def unaudited(self) -> list[dict[str, Any]]:
        rows = self._read("SELECT id, time, event, study_id, task_id, steward, rule, reason, "
                          "digest FROM journal WHERE audited = 0 ORDER BY id")
        return [dict(r) for r in rows]

    def was_told(self, task_id: str) -> bool:
        """Whether the hub was sent this task's refusal (a rejection, a withheld output)."""
        return bool(self._read("SELECT 1 FROM told WHERE task_id = ?", (task_id,)))

    def mark_told(self, task_id: str) -> None:
        with self._write() as con:
            con.execute("INSERT OR IGNORE INTO told (task_id, time) VALUES (?, ?)",
                        (task_id, _now()))

    def mark_audited(self, ids: Iterable[int]) -> None:
        with self._write() as con:
            con.executemany("UPDATE journal SET audited = 1 WHERE id = ?",
                            [(int(i),) for i in ids])


def _request(row: sqlite3.Row) -> Request:
    return Request(
        study_id=row["study_id"], task_id=row["task_id"], researcher=row["researcher"],
        title=row["title"], study_digest=row["study_digest"],
        analyses=tuple(AnalysisLine(**a) for a in json.loads(row["analyses"])),
        state=row["state"], submitted=dt.datetime.fromisoformat(row["submitted"]),
        decided=_time(row["decided"]), decided_by=row["decided_by"], rule=row["rule"],
        reason=row["reason"], note=row["note"])
