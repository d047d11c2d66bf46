"""Two-person review of a site's outputs: a release the policy marks as sensitive is held at
the site until enough distinct stewards pass it; any steward may withhold it, with a reason.

::

    held output:    held ──pass × reviewers──▶ passed ──mark_sent──▶ sent
                      └──withhold──▶ withheld

The held outputs live in the same SQLite file as the study requests
(:mod:`behindglass.governance.approvals`); :class:`OutputReviews` is the part of
:class:`~behindglass.governance.approvals.ApprovalStore` that keeps them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Literal

from behindglass.core.errors import GovernanceError

OutputState = Literal["held", "passed", "withheld", "sent"]
OUTPUT_STATES: tuple[str, ...] = ("held", "passed", "withheld", "sent")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def _time(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


def _required(value: str | None, what: str) -> str:
    if value is None or not value.strip():
        raise GovernanceError(f"{what} is required")
    return value.strip()


@dataclass(frozen=True)
class Review:
    steward: str
    passed: bool
    reason: str | None
    time: dt.datetime


@dataclass(frozen=True)
class Output:
    """A release held for review before it leaves; ``digest`` is the sha256 of its body."""

    task_id: str
    study_id: str
    kinds: tuple[str, ...]
    digest: str
    size: int
    reviewers: int
    state: OutputState
    held: dt.datetime
    reviews: tuple[Review, ...] = ()
    decided: dt.datetime | None = None
    reason: str | None = None

    @property
    def passed_by(self) -> tuple[str, ...]:
        return tuple(r.steward for r in self.reviews if r.passed)


def can_review(output: Output, steward: str) -> bool:
    return output.state == "held" and steward not in {r.steward for r in output.reviews}


def check_review(output: Output, steward: str) -> None:
    if output.state != "held":
        raise GovernanceError(f"output of task {output.task_id} (study {output.study_id}) is "
                              f"{output.state}; only a held output can be reviewed")
    if not can_review(output, steward):
        raise GovernanceError(f"output of task {output.task_id}: {steward} has already "
                              f"reviewed it; a second review needs a different steward")


def can_send(output: Output) -> bool:
    return output.state == "passed"


def check_send(output: Output) -> None:
    if not can_send(output):
        raise GovernanceError(f"output of task {output.task_id} (study {output.study_id}) is "
                              f"{output.state}; only a passed output can be sent")


class OutputReviews:
    """Held outputs and their reviews; mixed into the approval store, whose connection,
    lock and journal it shares (one transaction holds a change and its journal row)."""

    _con: sqlite3.Connection
    _lock: threading.Lock
    _write: Callable[[], AbstractContextManager[sqlite3.Connection]]
    _read: Callable[..., list[sqlite3.Row]]
    _journal: Callable[..., None]

    def hold(self, task_id: str, study_id: str, body: bytes, kinds: Iterable[str],
             reviewers: int = 2) -> Output:
        """Keep a release until ``reviewers`` distinct stewards pass it. Holding the same body
        again returns the held output; a different body for the same task is an error."""
        if reviewers < 1:
            raise GovernanceError(f"task {task_id}: reviewers must be at least 1")
        body_digest = hashlib.sha256(body).hexdigest()
        with self._write() as con:
            row = con.execute("SELECT digest FROM outputs WHERE task_id = ?",
                              (task_id,)).fetchone()
            if row is not None:
                if row["digest"] != body_digest:
                    raise GovernanceError(f"task {task_id}: an output with a different body "
                                          f"is already held for it")
                return self._output(con, task_id)
            con.execute("INSERT INTO outputs (task_id, study_id, kinds, body, digest, "
                        "reviewers, state, held) VALUES (?, ?, ?, ?, ?, ?, 'held', ?)",
                        (task_id, study_id, json.dumps(sorted(set(kinds))), body, body_digest,
                         reviewers, _now()))
            self._journal(con, "output_held", study_id=study_id, task_id=task_id,
                          digest=body_digest)
            return self._output(con, task_id)

    def review(self, task_id: str, steward: str, passed: bool,
               reason: str | None = None) -> Output:
        """One steward's verdict. Any withhold ends the review; enough passes end it too."""
        steward = _required(steward, "the steward's name")
        if not passed:
            reason = _required(reason, f"a reason to withhold the output of task {task_id}")
        with self._write() as con:
            output = self._output(con, task_id)
            check_review(output, steward)
            now = _now()
            con.execute("INSERT INTO reviews (task_id, steward, passed, reason, time) "
                        "VALUES (?, ?, ?, ?, ?)", (task_id, steward, int(passed), reason, now))
            ids = {"study_id": output.study_id, "task_id": task_id, "digest": output.digest}
            self._journal(con, "output_pass" if passed else "output_withhold",
                          steward=steward, reason=reason, **ids)
            done = len(output.passed_by) + 1 >= output.reviewers
            if not passed or done:
                state = "passed" if passed else "withheld"
                con.execute("UPDATE outputs SET state = ?, decided = ?, reason = ? "
                            "WHERE task_id = ?", (state, now, reason, task_id))
                self._journal(con, f"output_{state}", reason=reason, **ids)
            return self._output(con, task_id)

    def mark_sent(self, task_id: str) -> Output:
        with self._write() as con:
            output = self._output(con, task_id)
            check_send(output)
            con.execute("UPDATE outputs SET state = 'sent' WHERE task_id = ?", (task_id,))
            self._journal(con, "output_sent", study_id=output.study_id, task_id=task_id,
                          digest=output.digest)
            return self._output(con, task_id)

    def _output(self, con: sqlite3.Connection, task_id: str) -> Output:
        row = con.execute("SELECT task_id, study_id, kinds, digest, length(body) AS size, "
                          "reviewers, state, held, decided, reason FROM outputs "
                          "WHERE task_id = ?", (task_id,)).fetchone()
        if row is None:
            raise GovernanceError(f"no held output for task {task_id} at this site")
        reviews = tuple(Review(r["steward"], bool(r["passed"]), r["reason"],
                               dt.datetime.fromisoformat(r["time"]))
                        for r in con.execute("SELECT * FROM reviews WHERE task_id = ? "
                                             "ORDER BY time", (task_id,)))
        return Output(task_id=row["task_id"], study_id=row["study_id"],
                      kinds=tuple(json.loads(row["kinds"])), digest=row["digest"],
                      size=row["size"], reviewers=row["reviewers"], state=row["state"],
                      held=dt.datetime.fromisoformat(row["held"]), reviews=reviews,
                      decided=_time(row["decided"]), reason=row["reason"])

    def output(self, task_id: str) -> Output:
        with self._lock:
            return self._output(self._con, task_id)

    def body(self, task_id: str) -> bytes:
        rows = self._read("SELECT body FROM outputs WHERE task_id = ?", (task_id,))
        if not rows:
            raise GovernanceError(f"no held output for task {task_id} at this site")
        return bytes(rows[0]["body"])

    def outputs(self, states: Iterable[str] | None = None) -> list[Output]:
        """Held outputs, oldest first; only those in ``states`` if given."""
        wanted = None if states is None else set(states)
        with self._lock:
            ids = [r["task_id"] for r in self._con.execute(
                "SELECT task_id, state FROM outputs ORDER BY held, task_id")
                if wanted is None or r["state"] in wanted]
            return [self._output(self._con, i) for i in ids]

    def passed_not_sent(self) -> list[Output]:
        return self.outputs(("passed",))
