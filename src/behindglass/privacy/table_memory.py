"""The site remembers the tables it released, so a later study cannot read a hidden cell off
an earlier one.

Suppression protects the analyses of one task together (:mod:`.linkage`). A researcher could
instead ask for a characterization of cohort C in one study and a contingency table of C in
the next: the differencing ledger (:mod:`.ledger`) admits the second, as it describes the
very same persons, yet the first's row sums can give back a cell the second hid. So the site
keeps, for every scoped person table it released, its scope, its true counts and which cells
it hid (``SITE_HOME/tables.sqlite``, never sent anywhere); before suppressing a new task it
recalls the tables released earlier *to the same researcher or in the same study* that count
the same persons, and protects the new task's cells and the earlier hidden ones together,
the earlier shown cells being fixed (:func:`~behindglass.privacy.suppression.
enforce_release`).

True counts of suppressed cells are stored here: the site holds the data they came from
anyway, and the check of whether the earlier and the new tables still agree (a refreshed
store can change them) needs them. A release under differential privacy is not remembered:
its noise protects it, and its noisy counts would tie nothing.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from behindglass.core.aggregates import CountTable, SiteAggregate, TableScope, person_level
from behindglass.core.sqlite_tx import apply_schema, immediate, open_wal
from behindglass.privacy.linkage import Prior

_SCHEMA = """
CREATE TABLE IF NOT EXISTS released (
    id INTEGER PRIMARY KEY,
    researcher TEXT NOT NULL,
    study_id TEXT NOT NULL,
    label TEXT NOT NULL,
    kind TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS released_tables (
    release_id INTEGER NOT NULL REFERENCES released (id),
    cohort TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS released_by_researcher ON released (researcher);
CREATE INDEX IF NOT EXISTS released_by_study ON released (study_id);
CREATE INDEX IF NOT EXISTS released_tables_by_cohort ON released_tables (cohort, release_id);
"""


def _body(table: CountTable, hidden: Iterable[tuple[str, ...]]) -> str:
    assert table.scope is not None
    return json.dumps({"table": table.model_dump(mode="json"),
                       "scope": table.scope.model_dump(mode="json"),
                       "hidden": sorted(list(k) for k in hidden)}, sort_keys=True)


def _table(body: str) -> tuple[CountTable, list[tuple[str, ...]]]:
    data = json.loads(body)
    table = CountTable.model_validate(data["table"])
    scope = TableScope.model_validate(data["scope"])
    return (table.model_copy(update={"scope": scope}),
            [tuple(k) for k in data["hidden"]])


class TableMemory:
    """The scoped person tables a site released, by researcher and study (a SQLite file)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._con = open_wal(self.path, shared=True)
        with immediate(self._con, self._lock):
            apply_schema(self._con, _SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def __enter__(self) -> TableMemory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def remember(self, researcher: str, study_id: str, label: str, raw: SiteAggregate,
                 released: SiteAggregate) -> int:
        """Keep ``raw``'s scoped person tables with the cells ``released`` hid; how many
        tables were kept (none for a release under differential privacy)."""
        if released.privacy is not None:
            return 0
        shown = {t.name: t for t in released.tables}
        rows = []
        for t in raw.tables:
            if t.scope is None or not person_level(t, raw.kind) or t.name not in shown:
                continue
            out = {c.key: c for c in shown[t.name].cells}
            # a cell missing from the release (a dropped one) is hidden too
            hidden = [c.key for c in t.cells if c.key not in out or out[c.key].suppressed]
            rows.append((t.scope.cohort, _body(t, hidden)))
        if not rows:
            return 0
        with immediate(self._con, self._lock) as con:
            cur = con.execute("INSERT INTO released (researcher, study_id, label, kind, at) "
                              "VALUES (?, ?, ?, ?, ?)",
                              (researcher, study_id, label, raw.kind, time.time()))
            con.executemany("INSERT INTO released_tables (release_id, cohort, body) "
                            "VALUES (?, ?, ?)", [(cur.lastrowid, c, b) for c, b in rows])
        return len(rows)

    def recall(self, researcher: str, study_id: str, cohorts: Iterable[str]) -> list[Prior]:
        """The earlier releases to ``researcher`` or in ``study_id`` with a table counting
        persons of one of ``cohorts`` (scope cohorts); each with all its kept tables."""
        wanted = sorted(set(cohorts))
        if not wanted:
            return []
        marks = ", ".join("?" * len(wanted))
        with self._lock:
            rows = self._con.execute(
                "SELECT r.id, r.label, r.kind, t.body FROM released r "
                "JOIN released_tables t ON t.release_id = r.id "
                "WHERE (r.researcher = ? OR r.study_id = ?) AND r.id IN ("
                f"  SELECT release_id FROM released_tables WHERE cohort IN ({marks})) "
                "ORDER BY r.id", (researcher, study_id, *wanted)).fetchall()
        grouped: dict[int, tuple[str, str, list[sqlite3.Row]]] = {}
        for row in rows:
            grouped.setdefault(row["id"], (row["label"], row["kind"], []))[2].append(row)
        out = []
        for label, kind, members in grouped.values():
            tables, hidden = [], set()
            for row in members:
                table, keys = _table(row["body"])
                tables.append(table)
                hidden |= {(table.name, k) for k in keys}
            out.append(Prior(label, kind, tuple(tables), frozenset(hidden)))
        return out
