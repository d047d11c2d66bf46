"""Loading an OMOP CSV extract (folder or zip, CDM 5.3 or 5.4) into a CDM v5.4 DuckDB store.

All or nothing: a load either completes or leaves the database as it was.

* :func:`load_into` runs the whole load in **one transaction** on an open connection and
  rolls back on any error.
* :func:`load_omop` never writes to the target file until everything has been read and
  checked: it loads into a staging file next to it, then either renames the staging file
  into place (new database) or copies its tables into the existing database in one
  transaction. A failed load therefore leaves an existing file byte-for-byte unchanged.

A database already holding CDM rows is refused unless ``replace=True``, which replaces
**every** CDM table (tables absent from the source end up empty); tables that are not part
of the CDM (other layers' state) are never touched.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from behindglass import __version__
from behindglass.core.errors import LoadError
from behindglass.omop import cdm53
from behindglass.omop.progress import LoadProgress, configure_connection
from behindglass.omop.schema import (
    cdm_tables,
    create_cdm,
    create_table_sql,
    existing_row_counts,
    literal,
    quote,
)
from behindglass.omop.source import Source, open_source
from behindglass.omop.table_load import (
    TablePlan,
    check_primary_key,
    load_table,
    plan_table,
    required_null_warnings,
)

PROVENANCE_NAME = "behindglass.omop.load"


@dataclass
class LoadReport:
    """What a load did: rows per table, the CDM version found, and what to look at."""

    source: str
    cdm_version: str = "5.4"  # version the source was written in: "5.3", "5.4" or "5.3+5.4"
    rows: dict[str, int] = field(default_factory=dict)  # rows read per table with a file
    renamed: dict[str, dict[str, str]] = field(default_factory=dict)  # 5.3 -> 5.4 names
    filled: dict[str, list[str]] = field(default_factory=dict)  # columns absent, now NULL
    warnings: list[str] = field(default_factory=list)
    database: str | None = None
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def empty_tables(self) -> list[str]:
        """CDM tables the source did not provide (created empty)."""
        return [t for t in cdm_tables() if t not in self.rows]


def _looks_like_data(name: str) -> bool:
    # README, LICENSE and PROVENANCE files sit next to extracts; data in another format
    # (parquet, tsv, a nested zip) deserves a word.
    return name.lower().endswith((".csv", ".gz", ".zip", ".parquet", ".tsv", ".bz2", ".zst"))


def _plan(source: Source, report: LoadReport) -> list[TablePlan]:
    tables = cdm_tables()
    for name in source.ignored:
        if _looks_like_data(name):
            report.warnings.append(f"{source.label}: ignored {name} (only <table>.csv and "
                                   "<table>.csv.gz files are read)")
    for table, spec in tables.items():
        if spec.required and table not in source.files:
            raise LoadError(
                f"required table {table} is missing (expected {table}.csv or {table}.csv.gz, "
                "any letter case)",
                file=source.label,
            )
    plans = []
    for table, sf in source.files.items():
        if table in cdm53.DROPPED_TABLES:
            report.warnings.append(f"{sf.label}: skipped, {table} is a CDM 5.3 table with no "
                                   "5.4 counterpart")
        elif table not in tables:
            report.warnings.append(f"{sf.label}: skipped, {table} is not a CDM v5.4 table")
    for table, spec in tables.items():  # spec order: person first, so its errors come first
        if table in source.files:
            plans.append(plan_table(spec, source.files[table]))
    return plans


def _note_mapping(plan: TablePlan, report: LoadReport) -> None:
    """Record renames and filled columns; warn about what a 5.3 -> 5.4 mapping does not
    explain (call once the source's version is known)."""
    name, label = plan.spec.name, plan.file.label
    if plan.renamed:
        report.renamed[name] = dict(plan.renamed)
    if not plan.header:
        report.warnings.append(f"{label}: empty file, table {name} left empty")
        return
    if plan.filled:
        report.filled[name] = list(plan.filled)
        from_53 = plan.evidence == "5.3" or (
            plan.evidence is None and report.cdm_version.startswith("5.3")
        )
        expected = set(cdm53.ADDED_IN_54.get(name, ())) if from_53 else set()
        unexpected = [
            c for c in plan.filled if c not in expected and (name, c) not in cdm53.FILLED
        ]
        if unexpected:
            report.warnings.append(f"{label}: columns not in the file, loaded as NULL: "
                                   + ", ".join(unexpected))
    if plan.extra:
        report.warnings.append(f"{label}: ignored columns that are not in CDM v5.4 {name}: "
                               + ", ".join(plan.extra))


def _refuse_if_holding_data(counts: dict[str, int], where: str) -> None:
    full = {t: n for t, n in counts.items() if n}
    if full:
        shown = ", ".join(f"{t} ({n:,} rows)" for t, n in list(full.items())[:4])
        more = f" and {len(full) - 4} more tables" if len(full) > 4 else ""
        raise LoadError(
            f"already holds OMOP data: {shown}{more}; use --replace (replace=True) to "
            "replace every CDM table in one transaction",
            file=where,
        )


def _record_provenance(con: duckdb.DuckDBPyConnection, report: LoadReport) -> None:
    """One METADATA row saying what was loaded, from what, by which version of us."""
    text = (
        f"source={Path(report.source).name}; source_cdm_version={report.cdm_version}; "
        f"rows={report.total_rows}; behindglass={__version__}"
    )
    # Values are inlined: binding Python parameters makes duckdb import pandas (0.4 s).
    con.execute(
        "INSERT INTO metadata (metadata_id, metadata_concept_id, metadata_type_concept_id, "
        "name, value_as_string, metadata_date, metadata_datetime) "
        f"SELECT coalesce(max(metadata_id), 0) + 1, 0, 0, {literal(PROVENANCE_NAME)}, "
        f"{literal(text)}, "
        "current_date, CAST(current_timestamp AS TIMESTAMP) FROM metadata"
    )


def _load_all(
    con: duckdb.DuckDBPyConnection,
    plans: list[TablePlan],
    report: LoadReport,
    *,
    progress: bool,
    strict: bool,
) -> None:
    with LoadProgress(progress) as bar:
        bar.start(sum(p.file.size for p in plans), len(plans))
        for plan in plans:
            target = quote(plan.spec.name)
            with bar.table(con, plan.spec.name, plan.file.size) as shown:
                rows = load_table(con, plan, target)
                shown["rows"] = rows
            report.warnings.extend(check_primary_key(con, plan, target, strict=strict))
            report.warnings.extend(required_null_warnings(con, plan, target, strict=strict))
            report.rows[plan.spec.name] = rows


def _settings(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    names = ("enable_progress_bar", "enable_progress_bar_print")
    return {n: con.execute(f"SELECT current_setting('{n}')").fetchone()[0] for n in names}


def load_into(
    con: duckdb.DuckDBPyConnection,
    src: str | Path,
    *,
    replace: bool = False,
    progress: bool = False,
    strict: bool = False,
    workdir: str | Path | None = None,
) -> LoadReport:
    """Load ``src`` into the open connection ``con`` in one transaction (call it outside
    any transaction); on error everything is rolled back. Refuses if CDM tables hold rows,
    unless ``replace``. ``workdir`` is where a zip is unpacked (default: system temp).
    Other arguments as for :func:`load_omop`."""
    started = time.perf_counter()
    report = LoadReport(source=str(src))
    with open_source(src, workdir=workdir) as source:
        plans = _plan(source, report)
        saved = _settings(con)
        configure_connection(con, progress)
        con.execute("BEGIN TRANSACTION")
        try:
            if not replace:
                _refuse_if_holding_data(existing_row_counts(con), "the database")
            create_cdm(con, replace=True)
            _load_all(con, plans, report, progress=progress, strict=strict)
            cdm_text = con.execute("SELECT any_value(cdm_version) FROM cdm_source").fetchone()[0]
            report.cdm_version = cdm53.detect_version((p.evidence for p in plans), cdm_text)
            for plan in plans:
                _note_mapping(plan, report)
            if "cdm_source" not in report.rows or not report.rows["cdm_source"]:
                report.warnings.append("no cdm_source row: the store will not name its source")
            _record_provenance(con, report)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            for name, value in saved.items():
                con.execute(f"SET {name} = {value}")
    report.seconds = time.perf_counter() - started
    return report


def _connect(db: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(str(db), read_only=read_only)
    except duckdb.Error as exc:
        raise LoadError(f"cannot open as a DuckDB database: {exc}", file=str(db)) from None


def _copy_into(db: Path, staged: Path, replace: bool) -> None:
    """Replace the CDM tables of an existing database by the staged ones, atomically."""
    con = _connect(db)
    try:
        configure_connection(con, False)  # DuckDB would draw its own bar on a long copy
        con.execute(f"ATTACH {literal(str(staged))} AS bg_staged (READ_ONLY)")
        con.execute("BEGIN TRANSACTION")
        try:
            if not replace:  # checked before staging too; a writer may have come since
                _refuse_if_holding_data(existing_row_counts(con), str(db))
            for table in cdm_tables().values():
                con.execute(create_table_sql(table, replace=True))
                con.execute(f"INSERT INTO {quote(table.name)} "
                            f"SELECT * FROM bg_staged.main.{quote(table.name)}")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("DETACH bg_staged")
    finally:
        con.close()


def load_omop(
    src: str | Path,
    db: str | Path,
    *,
    replace: bool = False,
    progress: bool = False,
    strict: bool = False,
) -> LoadReport:
    """Load the OMOP CSV folder or zip ``src`` into the DuckDB file ``db`` (created if
    needed). On any error raises :class:`LoadError` and leaves ``db`` unchanged.

    ``replace`` replaces every CDM table of a ``db`` that already holds OMOP rows (refused
    otherwise); ``progress`` draws a rich progress display on stderr; ``strict`` makes every
    breach of the spec an error (NULL in any required field, any duplicated key) instead of
    a warning.
    """
    started = time.perf_counter()
    db = Path(db)
    exists = db.exists()
    if exists and not replace:  # refuse early, before the long part
        con = _connect(db, read_only=True)
        try:
            _refuse_if_holding_data(existing_row_counts(con), str(db))
        finally:
            con.close()
    db.parent.mkdir(parents=True, exist_ok=True)
    staged = db.with_name(f".{db.name}.loading-{uuid.uuid4().hex[:8]}")
    try:
        con = duckdb.connect(str(staged))
        try:
            report = load_into(
                con, src, replace=True, progress=progress, strict=strict, workdir=db.parent
            )
            con.execute("CHECKPOINT")
        finally:
            con.close()
        if exists:
            _copy_into(db, staged, replace)
        else:
            os.replace(staged, db)
    finally:
        for leftover in (staged, staged.with_name(staged.name + ".wal")):
            leftover.unlink(missing_ok=True)
        shutil.rmtree(staged.with_name(staged.name + ".tmp"), ignore_errors=True)  # spills
    report.database = str(db)
    report.seconds = time.perf_counter() - started
    return report
