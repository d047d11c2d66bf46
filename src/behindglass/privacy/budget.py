"""The site's epsilon budget: what each researcher and each study has spent under
differential privacy, kept so the total can never pass the policy's limits.

Each release under DP spends epsilon (:func:`behindglass.privacy.dp.apply_dp` says how
much). Privacy loss adds up over releases (sequential composition), so the site caps it
twice (:class:`~behindglass.core.policy.PrivacyRules`): per researcher
(``budget_per_researcher``, over every study they run here) and per study
(``budget_per_study``, over every researcher on it).

The ledger is one SQLite file at the site (``SITE_HOME/budget.sqlite``), in WAL mode. A
charge checks both caps and records the spend in one ``BEGIN IMMEDIATE`` transaction: the
write lock is taken before the totals are read, so two agents (or two threads) charging at
once are serialised by SQLite and can never both fit into the last of a budget.

A charge is made before the release leaves, and is kept if the release then fails (a
network error, a refusal downstream): the noisy values were computed and may have been
seen, and a ledger that under-counts would break the promise, while one that over-counts
only wastes a little budget. Refunds do not exist.

Messages state epsilon figures only: the budget, what was spent, what is left.
"""

from __future__ import annotations

import datetime as dt
import math
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from behindglass.core.errors import DisclosureError
from behindglass.core.policy import PrivacyRules
from behindglass.core.sqlite_tx import immediate

SCHEMA_VERSION = 1
# float slack when comparing totals: ten charges of 0.1 fill a budget of 1.0 exactly
TOLERANCE = 1e-9
_SCHEMA = """
CREATE TABLE IF NOT EXISTS spend (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    at         TEXT NOT NULL,
    researcher TEXT NOT NULL,
    study_id   TEXT NOT NULL,
    epsilon    REAL NOT NULL CHECK (epsilon >= 0),
    label      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS spend_researcher ON spend (researcher);
CREATE INDEX IF NOT EXISTS spend_study ON spend (study_id);
"""


@dataclass(frozen=True)
class Spend:
    """One recorded charge."""

    seq: int
    at: dt.datetime
    researcher: str
    study_id: str
    epsilon: float
    label: str


class EpsilonBudget:
    """The epsilon ledger in the SQLite file at ``path`` (created if missing).

    Every method opens its own connection, so one object may be shared by threads and any
    number of objects (or processes) may use the same file.
    """

    def __init__(self, path: str | Path, *, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._timeout = timeout
        with self._connect() as con:
            version = con.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise DisclosureError(
                    f"{self.path}: epsilon ledger schema version {version} is not supported; "
                    f"this behindglass reads version {SCHEMA_VERSION}")
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(_SCHEMA)
            con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # isolation_level None: transactions are ours (BEGIN IMMEDIATE), not the module's
        con = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None)
        try:
            yield con
        finally:
            con.close()

    # -- reading -----------------------------------------------------------------------------
    @staticmethod
    def _total(con: sqlite3.Connection, column: str, value: str) -> float:
        # fsum in Python: correctly rounded whatever order the rows come back in
        rows = con.execute(f"SELECT epsilon FROM spend WHERE {column} = ?", (value,))
        return math.fsum(r[0] for r in rows)

    def spent(self, researcher: str) -> float:
        """Epsilon the researcher has spent at this site, over every study."""
        with self._connect() as con:
            return self._total(con, "researcher", researcher)

    def spent_on_study(self, study_id: str) -> float:
        """Epsilon spent on the study at this site, over every researcher."""
        with self._connect() as con:
            return self._total(con, "study_id", study_id)

    def remaining(self, researcher: str, study_id: str, rules: PrivacyRules) -> float:
        """The most epsilon one more release by ``researcher`` on ``study_id`` could spend."""
        with self._connect() as con:
            return max(0.0, min(
                rules.budget_per_researcher - self._total(con, "researcher", researcher),
                rules.budget_per_study - self._total(con, "study_id", study_id)))

    def history(self, researcher: str | None = None,
                study_id: str | None = None) -> list[Spend]:
        """Charges in the order they were made, optionally of one researcher and/or study."""
        where, args = [], []
        if researcher is not None:
            where.append("researcher = ?")
            args.append(researcher)
        if study_id is not None:
            where.append("study_id = ?")
            args.append(study_id)
        sql = "SELECT seq, at, researcher, study_id, epsilon, label FROM spend"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._connect() as con:
            rows = con.execute(sql + " ORDER BY seq", args).fetchall()
        return [Spend(seq=r[0], at=dt.datetime.fromisoformat(r[1]), researcher=r[2],
                      study_id=r[3], epsilon=r[4], label=r[5]) for r in rows]

    # -- charging ----------------------------------------------------------------------------
    def charge(self, researcher: str, study_id: str, epsilon: float, rules: PrivacyRules,
               *, label: str = "") -> None:
        """Record ``epsilon`` spent by ``researcher`` on ``study_id``, or raise
        :class:`DisclosureError` (recording nothing) if it would pass either budget.

        Both totals are read and the spend written under one write lock, so concurrent
        charges never overspend. ``label`` names the release (e.g. the task and analysis).
        """
        if not researcher or not study_id:
            raise DisclosureError("an epsilon charge needs a researcher and a study id")
        if not math.isfinite(epsilon) or epsilon < 0:
            raise DisclosureError(f"an epsilon charge must be a finite number >= 0, got "
                                  f"{epsilon!r}")
        with self._connect() as con, immediate(con):
            by_researcher = self._total(con, "researcher", researcher)
            on_study = self._total(con, "study_id", study_id)
            _check(f"researcher {researcher!r}", "per researcher", by_researcher,
                   rules.budget_per_researcher, epsilon)
            _check(f"study {study_id!r}", "per study", on_study, rules.budget_per_study,
                   epsilon)
            con.execute(
                "INSERT INTO spend (at, researcher, study_id, epsilon, label) "
                "VALUES (?, ?, ?, ?, ?)",
                (dt.datetime.now(dt.UTC).isoformat(), researcher, study_id,
                 float(epsilon), label))


def _check(who: str, which: str, spent: float, budget: float, epsilon: float) -> None:
    if spent + epsilon > budget + TOLERANCE:
        left = max(0.0, budget - spent)
        raise DisclosureError(
            f"{who} has spent epsilon {spent:.4g} of this site's differential-privacy budget "
            f"of {budget:g} {which}; this release needs {epsilon:.4g} and {left:.4g} is "
            "left; refused")
