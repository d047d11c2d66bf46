"""Run the check catalog on a store: decide what applies, batch the rest, keep going.

Every check of one table that is an aggregate over its rows is evaluated in one scan
(chunks of :data:`BATCH` checks); checks with their own query run alone. A check on an
absent or empty table, or that reads an absent column or table, is not applicable. When a
batch fails, its checks run one by one so that only the failing check reports ``error``.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from typing import Any

from behindglass.engine.backend import Backend
from behindglass.engine.quality.checks import META_CHECKS, Check, catalog, col, count_if, non_null
from behindglass.engine.quality.report import (
    ERROR,
    FAIL,
    NOT_APPLICABLE,
    PASS,
    CheckResult,
    DqReport,
)
from behindglass.engine.quality.thresholds import Thresholds
from behindglass.omop.schema import CDM_VERSION, cdm_tables, quote

BATCH = 120
Progress = Callable[[str, int, int], None]  # (what is running, units done, units in all)


class StoreFacts:
    """What the store holds: tables, their columns and declared types, and row counts."""

    def __init__(self, backend: Backend) -> None:
        self.tables = {t for t in backend.tables() if t in cdm_tables()}
        self.columns: dict[str, set[str]] = {}
        self.rows: dict[str, int] = {}
        for name in self.tables:
            self.columns[name] = set(backend.columns(f"SELECT * FROM {quote(name)}"))
            self.rows[name] = int(backend.fetchall(f"SELECT COUNT(*) FROM {quote(name)}")[0][0])
        self.types: dict[tuple[str, str], str] = {}
        self.types_error: str | None = None
        try:
            for table, column, kind in backend.fetchall(
                "SELECT table_name, column_name, data_type FROM information_schema.columns"
                " WHERE table_schema = current_schema()"
            ):
                self.types[(str(table).lower(), str(column).lower())] = str(kind).lower()
        except Exception as exc:  # the catalog is not readable: cdmDatatype reports why
            self.types_error = str(exc)

    def has(self, table: str, column: str | None = None) -> bool:
        if table not in self.tables:
            return False
        return column is None or column in self.columns[table]


def _datatype_numerator(check: Check, declared: str) -> str:
    """Violations of ``cdmDatatype`` given the column's declared type."""
    assert check.field is not None
    c, expected = col(check.field), cdm_tables()[check.table].field(check.field).datatype
    text = any(k in declared for k in ("char", "text", "string"))
    if expected == "integer":
        if "int" in declared:
            return "0"
        if any(k in declared for k in ("double", "float", "real", "numeric", "decimal")):
            return count_if(f"{c} <> FLOOR({c})")
        if text:
            return count_if(f"TRANSLATE(TRIM({c}), '0123456789', '') NOT IN ('', '-')")
    elif expected == "float":
        if any(k in declared for k in ("int", "double", "float", "real", "numeric", "decimal")):
            return "0"
        if text:
            return count_if(f"TRANSLATE(TRIM({c}), '0123456789.eE+-', '') <> ''")
    elif "date" in declared or "timestamp" in declared:
        return "0"
    return non_null(check.field)  # a type that cannot hold the value at all


def _precheck(check: Check, facts: StoreFacts) -> tuple[str, str | None] | None:
    """A verdict reached without reading rows, or None when the check must run."""
    present = facts.has(check.table)
    if check.name == "cdmTable":
        return (PASS, None) if present else (FAIL, "table absent")
    if not present:
        return NOT_APPLICABLE, "table absent"
    if check.name == "cdmField":
        return (PASS, None) if facts.has(check.table, check.field) else (FAIL, "column absent")
    if facts.rows[check.table] == 0:
        return NOT_APPLICABLE, "table is empty"
    for column in check.columns:
        if not facts.has(check.table, column):
            return NOT_APPLICABLE, f"column {column} absent"
    for other in check.tables:
        if not facts.has(other):
            return NOT_APPLICABLE, f"needs table {other}"
    if check.name == "cdmDatatype" and facts.types_error:
        return ERROR, f"column types unreadable: {facts.types_error}"
    return None


def _person_facts(facts: StoreFacts) -> str:
    birth = ("CAST(p.birth_datetime AS DATE)" if facts.has("person", "birth_datetime")
             else "CAST(NULL AS DATE)")
    gender = "p.gender_concept_id" if facts.has("person", "gender_concept_id") else "NULL"
    if facts.has("death", "death_date"):
        death_join = (" LEFT JOIN (SELECT person_id, MIN(death_date) AS death_date FROM death"
                      " GROUP BY person_id) dd ON dd.person_id = p.person_id")
        death = "MIN(dd.death_date)"
    else:
        death_join, death = "", "CAST(NULL AS DATE)"
    return (f"SELECT p.person_id, MIN({gender}) AS gender_concept_id,"
            f" MIN(p.year_of_birth) AS year_of_birth, MIN({birth}) AS birth_date,"
            f" {death} AS death_date FROM person p{death_join} GROUP BY p.person_id")


def _scan_sql(table: str, parts: Sequence[tuple[str, str]], facts: StoreFacts,
              with_person: bool) -> str:
    cols = ", ".join(f"{num}, {den}" for num, den in parts)
    if not with_person:
        return f"SELECT {cols} FROM {quote(table)} t"
    return (f"WITH pd AS ({_person_facts(facts)}) SELECT {cols} FROM {quote(table)} t"
            " LEFT JOIN pd ON pd.person_id = t.person_id")


class Runner:
    def __init__(self, backend: Backend, thresholds: Thresholds, facts: StoreFacts) -> None:
        self.backend, self.thresholds, self.facts = backend, thresholds, facts
        self.results: dict[str, CheckResult] = {}

    def verdict(self, check: Check, num: Any, den: Any) -> None:
        threshold = self.thresholds.for_check(check.check_id, check.default_threshold)
        num, den = int(num or 0), int(den or 0)
        if den == 0:
            status, note = NOT_APPLICABLE, "no rows to check"
        else:
            status, note = (FAIL if 100.0 * num / den > threshold else PASS), None
        self.results[check.check_id] = CheckResult(check, status, threshold, num, den, note)

    def settle(self, check: Check, status: str, note: str | None) -> None:
        threshold = self.thresholds.for_check(check.check_id, check.default_threshold)
        n = {PASS: 0, FAIL: 1}.get(status)
        self.results[check.check_id] = CheckResult(
            check, status, threshold, n, 1 if n is not None else None, note)

    def scan(self, table: str, checks: Sequence[tuple[Check, str, str]]) -> None:
        with_person = any(c.person_facts for c, _, _ in checks)
        sql = _scan_sql(table, [(n, d) for _, n, d in checks], self.facts, with_person)
        try:
            row = self.backend.fetchall(sql)[0]
        except Exception:
            if len(checks) == 1:
                raise
            for one in checks:
                self.scan_one(table, one)
            return
        for i, (check, _, _) in enumerate(checks):
            self.verdict(check, row[2 * i], row[2 * i + 1])

    def scan_one(self, table: str, one: tuple[Check, str, str]) -> None:
        try:
            self.scan(table, [one])
        except Exception as exc:
            self.settle(one[0], ERROR, str(exc))

    def query(self, check: Check) -> None:
        assert check.query is not None
        try:
            row = self.backend.fetchall(check.query)[0]
        except Exception as exc:
            self.settle(check, ERROR, str(exc))
            return
        self.verdict(check, row[0], row[1])


def run_checks(backend: Backend, *, thresholds: Thresholds | None = None,
               today: dt.date | None = None, progress: Progress | None = None,
               names: set[str] | None = None) -> DqReport:
    """Run every check (or those whose name is in ``names``) on ``backend``."""
    started = time.perf_counter()
    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    thresholds = thresholds or Thresholds()
    checks = [c for c in catalog(backend.dialect, today) if names is None or c.name in names]
    facts = StoreFacts(backend)
    runner = Runner(backend, thresholds, facts)
    scans: dict[str, list[tuple[Check, str, str]]] = {}
    queries: list[Check] = []
    for check in checks:
        verdict = _precheck(check, facts)
        if verdict is not None:
            runner.settle(check, *verdict)
        elif check.name == "cdmDatatype":
            assert check.field is not None
            declared = facts.types.get((check.table, check.field), "")
            scans.setdefault(check.table, []).append(
                (check, _datatype_numerator(check, declared), non_null(check.field)))
        elif check.name in META_CHECKS:  # pragma: no cover - every meta check is above
            raise AssertionError(check.name)
        elif check.query is not None:
            queries.append(check)
        else:
            assert check.numerator is not None
            scans.setdefault(check.table, []).append(
                (check, check.numerator, check.denominator))
    units: list[tuple[str, Callable[[], None]]] = []
    for table, items in scans.items():
        for start in range(0, len(items), BATCH):
            chunk = items[start:start + BATCH]
            units.append((table, lambda t=table, c=chunk: runner.scan(t, c)))
    for check in queries:
        units.append((f"{check.name} {check.table}", lambda c=check: runner.query(c)))
    for done, (label, unit) in enumerate(units):
        if progress:
            progress(label, done, len(units))
        unit()
    if progress:
        progress("done", len(units), len(units))
    results = [runner.results[c.check_id] for c in checks]
    return DqReport(results=results, engine=backend.dialect.name, cdm_version=CDM_VERSION,
                    generated_at=stamp, seconds=time.perf_counter() - started,
                    thresholds_overridden=sorted(thresholds.overrides))
