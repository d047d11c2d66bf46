"""The release ledger: the site remembers whom it described, and refuses to describe a few.

Promise 3 of DESIGN.md. Suppression protects each table on its own; it cannot see that
"everyone with X" released on Monday and "everyone with X except those born in 1950" released
on Tuesday describe, between them, the handful born in 1950. This ledger keeps the membership
of every released population (as keyed fingerprints, see :mod:`.fingerprints`) and refuses a
new population whose symmetric difference with any earlier one released to the same
researcher or the same study is non-empty and smaller than k.

Refusals are worded the same whatever triggered them and carry no count, size or pointer to
the earlier release: a refusal that said "you are 3 persons away from release 17" would be
the very leak it prevents. Because every refusal still tells a prober *something*, repeated
refusals lock the researcher out (as i2b2 does), and so does asking for the very same persons
over and over. A steward lifts a lockout; the lift is recorded.

The ledger is a SQLite file at the site (``SITE_HOME/ledger.sqlite``) in WAL mode, every change
in ``BEGIN IMMEDIATE``, so two agent processes cannot both pass populations that differ by
fewer than k persons. Time comes from an injectable clock so tests need not sleep.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np

from behindglass.core.errors import DisclosureError, GovernanceError
from behindglass.core.policy import DifferencingRules
from behindglass.core.sqlite_tx import apply_schema, immediate, open_wal
from behindglass.privacy.fingerprints import (
    head_difference_size,
    pack,
    set_digest,
    symmetric_difference_size,
    unpack,
)

LEDGER_FILE = "ledger.sqlite"
HEAD = 4096  # smallest fingerprints kept uncompressed beside each set, to rule it out fast
REFUSAL = ("refused by the differencing defence: this result, alone or together with an "
           "earlier release to you or to this study, would describe fewer than {k} persons; "
           "ask the site's steward")

Clock = Callable[[], datetime]
LockRule = Literal["refusals", "repeats"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS releases (
    id INTEGER PRIMARY KEY,
    researcher TEXT NOT NULL,
    study_id TEXT NOT NULL,
    analysis TEXT NOT NULL,
    label TEXT NOT NULL,
    size INTEGER NOT NULL,
    digest TEXT NOT NULL,
    fingerprints BLOB NOT NULL,
    head BLOB NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS releases_by_researcher ON releases (researcher, size);
CREATE INDEX IF NOT EXISTS releases_by_study ON releases (study_id, size);
CREATE TABLE IF NOT EXISTS queries (
    id INTEGER PRIMARY KEY, researcher TEXT NOT NULL, digest TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS queries_by_researcher ON queries (researcher, at);
CREATE TABLE IF NOT EXISTS refusals (
    id INTEGER PRIMARY KEY, researcher TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS refusals_by_researcher ON refusals (researcher, at);
CREATE TABLE IF NOT EXISTS unlocks (
    id INTEGER PRIMARY KEY, researcher TEXT NOT NULL, steward TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS unlocks_by_researcher ON unlocks (researcher, at);
"""

# Earlier sets that can differ from a set of n persons by fewer than k (|n - m| <= |N Δ E|),
# to this researcher or this study; one row per distinct set.
_CANDIDATES = """
SELECT digest, MIN(id) FROM (
    SELECT digest, id FROM releases WHERE researcher = ? AND size > ? AND size < ?
    UNION ALL
    SELECT digest, id FROM releases WHERE study_id = ? AND size > ? AND size < ?
) GROUP BY digest
"""


@dataclass(frozen=True)
class Lockout:
    """Why and until when a researcher is locked out."""

    until: datetime
    rule: LockRule


@dataclass(frozen=True)
class ResearcherSummary:
    """What a steward sees of one researcher in the ledger: never a size."""

    researcher: str
    releases: int
    studies: int
    refusals: int
    last_release: datetime | None
    locked_until: datetime | None


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _fps(fps: np.ndarray) -> np.ndarray:
    arr = np.asarray(fps)
    if arr.ndim != 1 or (arr.size and arr.dtype != np.uint64):
        raise DisclosureError("the ledger takes fingerprint sets from privacy.fingerprints."
                              "fingerprint (one-dimensional uint64)")
    if arr.size > 1 and not bool(np.all(arr[1:] > arr[:-1])):
        raise DisclosureError("a fingerprint set must be sorted and distinct "
                              "(use privacy.fingerprints.fingerprint)")
    return arr.astype(np.uint64, copy=False)


def _when(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _triggers(times: list[float], threshold: int, window: float) -> list[float]:
    """Times (sorted input) at which at least ``threshold`` events fell in the window
    ending there."""
    hits, start = [], 0
    for i, t in enumerate(times):
        while times[start] <= t - window:
            start += 1
        if i - start + 1 >= threshold:
            hits.append(t)
    return hits


class ReleaseLedger:
    """The site's memory of released populations, refusals and lockouts."""

    def __init__(self, path: str | Path, *, clock: Clock | None = None) -> None:
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise DisclosureError(f"{self.path}: the ledger's folder does not exist")
        self._clock = clock or _utcnow
        self._con = open_wal(self.path)
        with self._change() as con:
            apply_schema(con, _SCHEMA)

    # -- plumbing -------------------------------------------------------------------------
    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> ReleaseLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _change(self) -> AbstractContextManager[sqlite3.Connection]:
        """One write transaction, taken before reading so checks and writes cannot race."""
        return immediate(self._con)

    def _now(self) -> float:
        now = self._clock()
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        return now.timestamp()

    # -- the differencing check -----------------------------------------------------------
    def check(self, researcher: str, study_id: str, fps: np.ndarray, k: int,
              pending: Sequence[np.ndarray] = ()) -> str | None:
        """The refusal reason for releasing the population ``fps``, or None if it may go.

        ``pending``: populations passed for the same task but not yet recorded (the other
        cohorts of the analysis, earlier analyses of the task): the new one is compared
        with them too, or one task could carry both halves of a differencing attack.
        """
        arr = _fps(fps)
        reason = self._check(researcher, study_id, arr, k)
        if reason is None and k > 1:
            for other in pending:
                if 0 < symmetric_difference_size(arr, _fps(other)) < k:
                    return REFUSAL.format(k=k)
        return reason

    def _check(self, researcher: str, study_id: str, fps: np.ndarray, k: int) -> str | None:
        if k <= 1:
            return None  # 0 < |N Δ E| < 1 is impossible
        n = int(fps.size)
        if 0 < n < k:
            return REFUSAL.format(k=k)
        digest = set_digest(fps)
        lo, hi = n - k, n + k
        rows = self._con.execute(_CANDIDATES, (researcher, lo, hi, study_id, lo, hi)).fetchall()
        for earlier_digest, row_id in rows:
            if earlier_digest == digest:
                continue  # the very same persons: nothing new is described
            size, head = self._con.execute("SELECT size, head FROM releases WHERE id = ?",
                                           (row_id,)).fetchone()
            if head_difference_size(fps, np.frombuffer(head, dtype="<u8"), size) >= k:
                continue  # already k apart in the first values: no need to read the set
            (blob,) = self._con.execute("SELECT fingerprints FROM releases WHERE id = ?",
                                        (row_id,)).fetchone()
            if 0 < symmetric_difference_size(fps, unpack(blob)) < k:
                return REFUSAL.format(k=k)
        return None

    def record(self, researcher: str, study_id: str, analysis: str, label: str,
               fps: np.ndarray) -> None:
        """Remember a released population (call after the release)."""
        arr = _fps(fps)
        with self._change():
            self._insert(researcher, study_id, analysis, label, arr)

    def _insert(self, researcher: str, study_id: str, analysis: str, label: str,
                fps: np.ndarray, at: float | None = None) -> int:
        cur = self._con.execute(
            "INSERT INTO releases (researcher, study_id, analysis, label, size, digest,"
            " fingerprints, head, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (researcher, study_id, analysis, label, int(fps.size), set_digest(fps), pack(fps),
             fps[:HEAD].astype("<u8").tobytes(), self._now() if at is None else at))
        return int(cur.lastrowid or 0)

    def admit(self, researcher: str, study_id: str, analysis: str,
              populations: Mapping[str, np.ndarray], rules: DifferencingRules, k: int) -> None:
        """The whole defence for one analysis, in one transaction: refuse a locked-out
        researcher, note the queries, check each population (label -> fingerprints) against
        earlier releases *and against the others of this analysis*, and record them.

        Raises :class:`DisclosureError` with the refusal text; a differencing refusal is
        noted and counts toward a lockout. Populations are recorded before the release
        leaves, so a release that then fails for another reason is remembered anyway: the
        ledger errs toward refusing, never toward forgetting.
        """
        if not rules.enabled:
            return
        sets = {label: _fps(fps) for label, fps in populations.items()}
        reason: str | None = None
        with self._change():
            lock = self._lockout(researcher, rules)
            if lock is not None:
                raise DisclosureError(self._lock_text(researcher, lock, rules))
            now = self._now()
            for fps in sets.values():
                digest = set_digest(fps)
                # one study asking several analyses of one population is one query of it
                if self._con.execute(
                        "SELECT 1 FROM releases WHERE researcher = ? AND study_id = ? AND "
                        "digest = ? LIMIT 1", (researcher, study_id, digest)).fetchone():
                    continue
                self._con.execute("INSERT INTO queries (researcher, digest, at) VALUES (?, ?, ?)",
                                  (researcher, digest, now))
            lock = self._lockout(researcher, rules)
            added: list[int] = []
            if lock is None:
                for label, fps in sets.items():
                    reason = self._check(researcher, study_id, fps, k)
                    if reason is not None:
                        break
                    added.append(self._insert(researcher, study_id, analysis, label, fps, now))
            if lock is None and reason is not None:
                # all or nothing: the populations of this analysis that passed are not released
                self._con.executemany("DELETE FROM releases WHERE id = ?",
                                      [(i,) for i in added])
                self._con.execute("INSERT INTO refusals (researcher, at) VALUES (?, ?)",
                                  (researcher, now))
        if lock is not None:
            raise DisclosureError(self._lock_text(researcher, lock, rules))
        if reason is not None:
            raise DisclosureError(reason)

    # -- lockout --------------------------------------------------------------------------
    def note_query(self, researcher: str, digest: str) -> None:
        """A population was asked for (counted toward ``max_repeats``)."""
        with self._change():
            self._con.execute("INSERT INTO queries (researcher, digest, at) VALUES (?, ?, ?)",
                              (researcher, digest, self._now()))

    def note_refusal(self, researcher: str) -> None:
        """A differencing refusal (counted toward ``lockout_after``)."""
        with self._change():
            self._con.execute("INSERT INTO refusals (researcher, at) VALUES (?, ?)",
                              (researcher, self._now()))

    def unlock(self, researcher: str, steward: str) -> None:
        """Lift a lockout: events before now no longer count toward one (recorded)."""
        if not researcher.strip() or not steward.strip():
            raise GovernanceError("unlock needs the researcher's name and the steward's name")
        with self._change():
            self._con.execute("INSERT INTO unlocks (researcher, steward, at) VALUES (?, ?, ?)",
                              (researcher, steward, self._now()))

    def lockout(self, researcher: str, rules: DifferencingRules) -> Lockout | None:
        """The researcher's current lockout, or None."""
        return self._lockout(researcher, rules)

    def locked_until(self, researcher: str, rules: DifferencingRules) -> datetime | None:
        lock = self._lockout(researcher, rules)
        return None if lock is None else lock.until

    def lockout_reason(self, researcher: str, rules: DifferencingRules) -> str | None:
        """Text naming the rule that locked the researcher out (never the data), or None."""
        lock = self._lockout(researcher, rules)
        return None if lock is None else self._lock_text(researcher, lock, rules)

    def _lockout(self, researcher: str, rules: DifferencingRules) -> Lockout | None:
        if not rules.enabled:
            return None
        now = self._now()
        window, length = rules.window_hours * 3600.0, rules.lockout_hours * 3600.0
        (unlocked,) = self._con.execute(
            "SELECT MAX(at) FROM unlocks WHERE researcher = ?", (researcher,)).fetchone()
        # a trigger still in force is later than now - length; its window reaches back further
        since = max(unlocked if unlocked is not None else float("-inf"), now - length - window)
        found: list[tuple[float, LockRule]] = []
        refused = [t for (t,) in self._con.execute(
            "SELECT at FROM refusals WHERE researcher = ? AND at > ? AND at <= ? ORDER BY at",
            (researcher, since, now))]
        found += [(t, "refusals") for t in _triggers(refused, rules.lockout_after, window)]
        by_digest: dict[str, list[float]] = {}
        for digest, t in self._con.execute(
                "SELECT digest, at FROM queries WHERE researcher = ? AND at > ? AND at <= ?"
                " ORDER BY at", (researcher, since, now)):
            by_digest.setdefault(digest, []).append(t)
        for times in by_digest.values():
            found += [(t, "repeats") for t in _triggers(times, rules.max_repeats + 1, window)]
        live = [(t + length, rule) for t, rule in found if t + length > now]
        if not live:
            return None
        until, rule = max(live)
        return Lockout(until=_when(until), rule=rule)

    @staticmethod
    def _lock_text(researcher: str, lock: Lockout, rules: DifferencingRules) -> str:
        hours = f"{rules.window_hours:g} hours"
        why = (f"{rules.lockout_after} or more results refused by the differencing defence "
               f"within {hours} (policy differencing.lockout_after)"
               if lock.rule == "refusals" else
               f"the same population asked for more than {rules.max_repeats} times within "
               f"{hours} (policy differencing.max_repeats)")
        return (f"refused: researcher {researcher!r} is locked out until "
                f"{lock.until:%Y-%m-%d %H:%M} UTC by the differencing defence: {why}; "
                "ask the site's steward to lift it")

    # -- the steward's view ---------------------------------------------------------------
    def summary(self, rules: DifferencingRules) -> list[ResearcherSummary]:
        """Per researcher: releases, studies, refusals, last release and lockout."""
        names = sorted({r for (r,) in self._con.execute(
            "SELECT researcher FROM releases UNION SELECT researcher FROM refusals"
            " UNION SELECT researcher FROM queries")})
        out = []
        for name in names:
            releases, studies, last = self._con.execute(
                "SELECT count(*), count(DISTINCT study_id), MAX(at) FROM releases"
                " WHERE researcher = ?", (name,)).fetchone()
            (refusals,) = self._con.execute(
                "SELECT count(*) FROM refusals WHERE researcher = ?", (name,)).fetchone()
            out.append(ResearcherSummary(
                researcher=name, releases=int(releases), studies=int(studies),
                refusals=int(refusals), last_release=None if last is None else _when(last),
                locked_until=self.locked_until(name, rules)))
        return out
