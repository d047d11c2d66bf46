"""The hub's durable state: one SQLite file holding sites, researchers, studies, tasks and
released aggregates.

WAL mode lets admin commands (``behindglass hub add-site``) write while the server reads.
Every write runs inside ``BEGIN IMMEDIATE ... COMMIT`` so a crash leaves either the whole
change or none of it. One connection is shared behind a lock: the hub's load is a few
requests per second, and one connection keeps transactions simple.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import sqlite3
import threading
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from behindglass.core.messages import Release, Task, TaskState, TaskStatus, TaskUpdate
from behindglass.core.sqlite_tx import apply_schema, immediate, open_wal
from behindglass.core.study import StudySpec
from behindglass.hub.proofs import Proofs
from behindglass.hub.registry import Registry, StateError, _now
from behindglass.hub.rounds import Fit, Lookup, advance_fit

STATE_FILE = "hub.sqlite"
SCHEMA_VERSION = 3
TERMINAL: frozenset[str] = frozenset({"released", "refused", "failed"})

SCHEMA = """
CREATE TABLE IF NOT EXISTS sites (
    name TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL, last_seen TEXT);
CREATE TABLE IF NOT EXISTS researchers (
    name TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS studies (
    study_id TEXT PRIMARY KEY, researcher TEXT NOT NULL REFERENCES researchers(name),
    title TEXT NOT NULL, spec TEXT NOT NULL, created TEXT NOT NULL, signature TEXT);
CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY, study_id TEXT NOT NULL REFERENCES studies(study_id),
    site TEXT NOT NULL REFERENCES sites(name), state TEXT NOT NULL,
    created TEXT NOT NULL, updated TEXT NOT NULL,
    lease_until REAL, attempts INTEGER NOT NULL DEFAULT 0, detail TEXT,
    round INTEGER NOT NULL DEFAULT 0, analyses TEXT, states TEXT NOT NULL DEFAULT '{}');
CREATE INDEX IF NOT EXISTS tasks_by_site ON tasks(site, state);
CREATE INDEX IF NOT EXISTS tasks_by_study ON tasks(study_id);
CREATE TABLE IF NOT EXISTS fits (
    study_id TEXT NOT NULL REFERENCES studies(study_id), analysis TEXT NOT NULL,
    round INTEGER NOT NULL, state TEXT NOT NULL, done INTEGER NOT NULL DEFAULT 0,
    sites TEXT NOT NULL DEFAULT '[]', error TEXT, PRIMARY KEY (study_id, analysis));
CREATE TABLE IF NOT EXISTS audit_heads (
    site TEXT NOT NULL REFERENCES sites(name), seq INTEGER NOT NULL, head TEXT NOT NULL,
    received TEXT NOT NULL, PRIMARY KEY (site, seq));
CREATE TABLE IF NOT EXISTS releases (
    task_id TEXT PRIMARY KEY REFERENCES tasks(task_id), site TEXT NOT NULL,
    body TEXT NOT NULL, digest TEXT NOT NULL, received TEXT NOT NULL, signature TEXT);
CREATE TABLE IF NOT EXISTS members (
    role TEXT NOT NULL, name TEXT NOT NULL, token_hash TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL, PRIMARY KEY (role, name));
CREATE TABLE IF NOT EXISTS revoked (
    role TEXT NOT NULL, name TEXT NOT NULL, revoked TEXT NOT NULL, revoked_by TEXT,
    PRIMARY KEY (role, name));
CREATE TABLE IF NOT EXISTS study_viewers (
    study_id TEXT NOT NULL REFERENCES studies(study_id), viewer TEXT NOT NULL,
    granted TEXT NOT NULL, PRIMARY KEY (study_id, viewer));
CREATE TABLE IF NOT EXISTS nonces (
    nonce TEXT PRIMARY KEY, kind TEXT NOT NULL, signer TEXT NOT NULL, used TEXT NOT NULL);
"""
# schema 3 adds signatures (docs/identity.md, "Signed messages"); older files gain the columns
ADDED_COLUMNS = (("studies", "signature TEXT"), ("releases", "signature TEXT"),
                 ("audit_heads", "signature TEXT"))


@dataclass(frozen=True)
class StudyRow:
    study_id: str
    researcher: str
    title: str
    spec: StudySpec
    created: dt.datetime
    signature: dict[str, Any] | None = None  # the researcher's, detached (signed network)


class HubState(Registry, Proofs):
    """All reads and writes of the hub's state file."""

    def __init__(self, state_dir: str | Path, lease_seconds: float = 600.0) -> None:
        self.dir = Path(state_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / STATE_FILE
        self.lease_seconds = lease_seconds
        self._lock = threading.RLock()
        self._con = open_wal(self.path, shared=True)
        self._con.execute("PRAGMA foreign_keys=ON")
        with self._write() as con:
            version = con.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StateError(f"{self.path}: written by a newer behindglass "
                                 f"(schema {version}, this one knows {SCHEMA_VERSION})", 500)
            if version == 1:
                # schema 2 adds rounds (iterative analyses); old studies are round 0
                for column in ("round INTEGER NOT NULL DEFAULT 0", "analyses TEXT",
                               "states TEXT NOT NULL DEFAULT '{}'"):
                    con.execute(f"ALTER TABLE tasks ADD COLUMN {column}")
            apply_schema(con, SCHEMA)
            for table, column in ADDED_COLUMNS:
                have = {r["name"] for r in con.execute(f"PRAGMA table_info({table})")}
                if column.split()[0] not in have:
                    con.execute(f"ALTER TABLE {table} ADD COLUMN {column}")
            con.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        """One write transaction; rolled back on any error."""
        return immediate(self._con, self._lock)

    def _read(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._con.execute(sql, args).fetchall()

    def all_studies(self) -> list[StudyRow]:
        return [self._study_row(r) for r in self._read("SELECT * FROM studies ORDER BY rowid")]

    # -- studies ------------------------------------------------------------------------
    def create_study(self, researcher: str, spec: StudySpec,
                     states: dict[str, dict[str, Any]] | None = None,
                     signature: dict[str, Any] | None = None) -> tuple[str, list[str]]:
        """Store a study and one pending task per target site; returns (id, sites).

        ``states``: the round-0 state of each iterative analysis, by name; each gets a fit
        that later rounds advance (see :mod:`behindglass.hub.rounds`). ``signature``: the
        researcher's verified, detached signature, relayed with every task."""
        states = states or {}
        registered = set(self.site_names())
        if not registered:
            raise StateError("no sites are registered at this hub yet", 422)
        targets = list(spec.sites) if spec.sites is not None else sorted(registered)
        unknown = sorted(set(targets) - registered)
        if unknown:
            raise StateError(f"unknown site(s) {unknown}; registered sites: "
                             f"{sorted(registered)}", 422)
        if len(set(targets)) != len(targets):
            raise StateError(f"a site is listed twice in sites: {targets}", 422)
        study_id = "st-" + secrets.token_hex(6)
        now = _now()
        with self._write() as con:
            con.execute("INSERT INTO studies (study_id, researcher, title, spec, created, "
                        "signature) VALUES (?, ?, ?, ?, ?, ?)",
                        (study_id, researcher, spec.title, spec.model_dump_json(), now,
                         None if signature is None else json.dumps(signature)))
            for name, state in states.items():
                con.execute("INSERT INTO fits (study_id, analysis, round, state) "
                            "VALUES (?, ?, 0, ?)", (study_id, name, json.dumps(state)))
            for site in targets:
                self._insert_task(con, study_id, site, now, 0, None, states)
        return study_id, targets

    @staticmethod
    def _insert_task(con: sqlite3.Connection, study_id: str, site: str, now: str,
                     round_: int, analyses: list[str] | None,
                     states: dict[str, dict[str, Any]]) -> None:
        con.execute(
            "INSERT INTO tasks (task_id, study_id, site, state, created, updated, round, "
            "analyses, states) VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?)",
            ("tk-" + secrets.token_hex(8), study_id, site, now, now, round_,
             None if analyses is None else json.dumps(analyses), json.dumps(states)))

    def _study_row(self, row: sqlite3.Row) -> StudyRow:
        return StudyRow(study_id=row["study_id"], researcher=row["researcher"],
                        title=row["title"], spec=StudySpec.model_validate_json(row["spec"]),
                        created=dt.datetime.fromisoformat(row["created"]),
                        signature=_loads(row["signature"]))

    def get_study(self, study_id: str) -> StudyRow | None:
        rows = self._read("SELECT * FROM studies WHERE study_id = ?", (study_id,))
        return self._study_row(rows[0]) if rows else None

    def studies_of(self, researcher: str) -> list[StudyRow]:
        rows = self._read("SELECT * FROM studies WHERE researcher = ? ORDER BY rowid",
                          (researcher,))
        return [self._study_row(r) for r in rows]

    def task_statuses(self, study_id: str) -> list[TaskStatus]:
        rows = self._read(
            "SELECT t.task_id, t.site, t.state, t.updated, t.detail, t.round, r.digest "
            "FROM tasks t LEFT JOIN releases r ON r.task_id = t.task_id "
            "WHERE t.study_id = ? ORDER BY t.round, t.site", (study_id,))
        return [TaskStatus(task_id=r["task_id"], site=r["site"], state=r["state"],
                           updated=dt.datetime.fromisoformat(r["updated"]), round=r["round"],
                           detail=r["detail"], release_digest=r["digest"]) for r in rows]

    def releases(self, study_id: str, round_: int | None = None) -> list[Release]:
        """Releases of a study (of one round, if given), by round then site."""
        where, args = "t.study_id = ?", (study_id,)
        if round_ is not None:
            where, args = where + " AND t.round = ?", (study_id, round_)  # type: ignore[assignment]
        rows = self._read(
            "SELECT r.body FROM releases r JOIN tasks t ON t.task_id = r.task_id "
            f"WHERE {where} ORDER BY t.round, r.site", args)
        return [Release.model_validate_json(r["body"]) for r in rows]

    def release_signatures(self, study_id: str) -> dict[str, dict[str, Any]]:
        """Task id -> the site's detached signature, for every signed release of a study."""
        rows = self._read("SELECT r.task_id, r.signature FROM releases r JOIN tasks t "
                          "ON t.task_id = r.task_id WHERE t.study_id = ? AND r.signature "
                          "IS NOT NULL", (study_id,))
        return {r["task_id"]: json.loads(r["signature"]) for r in rows}

    def fits(self, study_id: str) -> dict[str, Fit]:
        """The iterative analyses of a study, by name."""
        rows = self._read("SELECT * FROM fits WHERE study_id = ?", (study_id,))
        return {r["analysis"]: Fit(analysis=r["analysis"], round=r["round"],
                                   state=json.loads(r["state"]), done=bool(r["done"]),
                                   sites=json.loads(r["sites"]), error=r["error"])
                for r in rows}

    def advance(self, study_id: str, catalog: Lookup) -> list[str]:
        """If every task of the study's latest round is settled, step each fit waiting for
        that round and send the unfinished ones a new round; returns the sites given a new
        task. Idempotent: a round is advanced once, whoever calls."""
        with self._write() as con:
            latest = con.execute("SELECT max(round) FROM tasks WHERE study_id = ?",
                                 (study_id,)).fetchone()[0]
            if latest is None or con.execute(
                    "SELECT 1 FROM tasks WHERE study_id = ? AND round = ? AND state NOT IN "
                    "('released', 'refused', 'failed')", (study_id, latest)).fetchone():
                return []
            fits = [f for f in self.fits(study_id).values()
                    if not f.done and f.round == latest]
            if not fits:
                return []
            spec = StudySpec.model_validate_json(con.execute(
                "SELECT spec FROM studies WHERE study_id = ?", (study_id,)).fetchone()[0])
            by_name = {a.name: a for a in spec.analyses}
            releases = self.releases(study_id, latest)
            next_states: dict[str, dict[str, dict[str, Any]]] = {}
            for fit in fits:
                advance_fit(fit, by_name[fit.analysis], releases, catalog)
                con.execute("UPDATE fits SET round = ?, state = ?, done = ?, sites = ?, "
                            "error = ? WHERE study_id = ? AND analysis = ?",
                            (fit.round, json.dumps(fit.state), int(fit.done),
                             json.dumps(fit.sites), fit.error, study_id, fit.analysis))
                if not fit.done:
                    for site in fit.sites:
                        next_states.setdefault(site, {})[fit.analysis] = fit.state
            now = _now()
            for site, states in sorted(next_states.items()):
                self._insert_task(con, study_id, site, now, latest + 1, sorted(states), states)
        return sorted(next_states)

    def advance_all(self, catalog: Lookup) -> list[str]:
        """Advance every study with a fit still running (after a hub restart)."""
        rows = self._read("SELECT DISTINCT study_id FROM fits WHERE done = 0")
        sites: set[str] = set()
        for r in rows:
            sites.update(self.advance(r["study_id"], catalog))
        return sorted(sites)

    def fitting(self, study_id: str) -> bool:
        """Whether an iterative analysis of the study is still being fitted."""
        return bool(self._read("SELECT 1 FROM fits WHERE study_id = ? AND done = 0",
                               (study_id,)))

    # -- tasks --------------------------------------------------------------------------
    def claim_next(self, site: str, now: float | None = None) -> Task | None:
        """Hand ``site`` its oldest pending task and lease it; None if there is none.

        Expired leases are returned to pending first, so a task whose agent died is
        offered again.
        """
        now = time.time() if now is None else now
        with self._write() as con:
            con.execute(
                "UPDATE tasks SET state = 'pending', updated = ?, detail = 'lease expired; "
                "offered again' WHERE site = ? AND state = 'running' AND lease_until < ?",
                (_now(), site, now))
            row = con.execute(
                "SELECT t.task_id, t.study_id, t.created, t.round, t.analyses, t.states, "
                "s.researcher, s.spec, s.signature FROM tasks t "
                "JOIN studies s ON s.study_id = t.study_id "
                "WHERE t.site = ? AND t.state = 'pending' ORDER BY t.rowid LIMIT 1",
                (site,)).fetchone()
            if row is None:
                return None
            con.execute(
                "UPDATE tasks SET state = 'running', updated = ?, lease_until = ?, "
                "attempts = attempts + 1, detail = NULL WHERE task_id = ?",
                (_now(), now + self.lease_seconds, row["task_id"]))
        return Task(task_id=row["task_id"], study_id=row["study_id"], site=site,
                    researcher=row["researcher"],
                    study=StudySpec.model_validate_json(row["spec"]),
                    created=dt.datetime.fromisoformat(row["created"]), round=row["round"],
                    analyses=None if row["analyses"] is None else json.loads(row["analyses"]),
                    states=json.loads(row["states"]),
                    signatures=(None if row["signature"] is None
                                else {"researcher": json.loads(row["signature"])}))

    def next_lease_expiry(self, site: str) -> float | None:
        """When the earliest running task of ``site`` falls back to pending (epoch s)."""
        rows = self._read("SELECT min(lease_until) AS t FROM tasks "
                          "WHERE site = ? AND state = 'running'", (site,))
        return rows[0]["t"]

    def task_site(self, task_id: str) -> str | None:
        rows = self._read("SELECT site FROM tasks WHERE task_id = ?", (task_id,))
        return rows[0]["site"] if rows else None

    def update_task(self, site: str, task_id: str, update: TaskUpdate) -> str:
        """A site's word on a task it has not settled yet: held for its steward's approval
        or an output review (never re-offered while held), or running (approved; leased
        again). Returns the study id."""
        with self._write() as con:
            row = con.execute("SELECT site, state, study_id FROM tasks WHERE task_id = ?",
                              (task_id,)).fetchone()
            if row is None or row["site"] != site:
                raise StateError(f"no task {task_id!r} for site {site!r}", 404)
            if row["state"] in TERMINAL:
                raise StateError(f"task {task_id} was already {row['state']}", 409)
            lease = time.time() + self.lease_seconds if update.state == "running" else None
            con.execute("UPDATE tasks SET state = ?, updated = ?, lease_until = ?, detail = ? "
                        "WHERE task_id = ?",
                        (update.state, _now(), lease, update.detail, task_id))
        return str(row["study_id"])

    def record_release(self, site: str, release: Release, body: bytes,
                       signature: dict[str, Any] | None = None) -> tuple[TaskState, str]:
        """Store a site's release for one of its tasks; returns (new state, study id).
        The body is kept byte for byte so its digest equals the one in the site's audit
        log; ``signature`` (the site's, detached, already verified) is kept beside it."""
        if release.error:
            state: TaskState = "failed"
        elif not release.aggregates and release.refusals:
            state = "refused"
        else:
            state = "released"  # a sealed one too: it may hold refusals the hub cannot see
        detail = release.error or (
            f"{len(release.refusals)} analysis(es) refused" if release.refusals else None
        ) or ("sealed for the researcher" if release.sealed is not None else None)
        with self._write() as con:
            row = con.execute("SELECT t.site, t.state, t.study_id, t.round, s.spec FROM tasks t "
                              "JOIN studies s "
                              "ON s.study_id = t.study_id WHERE t.task_id = ?",
                              (release.task_id,)).fetchone()
            if row is None or row["site"] != site:
                # another site's task looks exactly like a missing one
                raise StateError(f"no task {release.task_id!r} for site {site!r}", 404)
            if row["state"] in TERMINAL:
                raise StateError(f"task {release.task_id} was already {row['state']}; "
                                 "a task is released once", 409)
            if release.round != row["round"]:
                raise StateError(f"task {release.task_id} is of round {row['round']}, the "
                                 f"release says round {release.round}", 422)
            spec = StudySpec.model_validate_json(row["spec"])
            _check_sealed(spec, release)
            names = {a.name for a in spec.analyses}
            stray = sorted({a.analysis for a in release.aggregates} - names)
            if stray:
                raise StateError(f"release names analyses the study does not have: {stray}",
                                 422)
            con.execute("INSERT INTO releases (task_id, site, body, digest, received, "
                        "signature) VALUES (?, ?, ?, ?, ?, ?)",
                        (release.task_id, site, body.decode("utf-8"), digest_bytes(body),
                         _now(), None if signature is None else json.dumps(signature)))
            con.execute("UPDATE tasks SET state = ?, updated = ?, lease_until = NULL, "
                        "detail = ? WHERE task_id = ?",
                        (state, _now(), detail, release.task_id))
        return state, row["study_id"]

def _check_sealed(spec: StudySpec, release: Release) -> None:
    """A sealed study takes only sealed results (so the hub never stores them in clear;
    a release of refusals alone has none and travels in clear, so the hub can show the
    task refused), and a study that does not seal takes none (the hub could not combine
    them)."""
    if spec.seal_results and release.aggregates:
        raise StateError(f"task {release.task_id} belongs to a study with sealed results; "
                         "this hub stores only sealed releases for it (is the site's "
                         "behindglass older than sealing?)", 422)
    if not spec.seal_results and release.sealed is not None:
        raise StateError(f"task {release.task_id} belongs to a study without sealed results; "
                         "a sealed release cannot be combined here", 422)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def digest_bytes(body: bytes) -> str:
    """SHA-256 of a body as sent. Sites send canonical JSON, so this equals
    ``core.canonical.digest`` of the parsed payload."""
    return hashlib.sha256(body).hexdigest()

