"""Copy a site's CDM from its DuckDB store into a PostgreSQL schema.

The PostgreSQL DDL is the same generated CDM v5.4 DDL as DuckDB's (:mod:`.schema`) with the
one type name PostgreSQL spells differently. Rows travel with ``COPY ... FROM STDIN`` in CSV,
one DuckDB record batch at a time, so a table is never held in memory whole. Everything
happens in one PostgreSQL transaction: on any error the schema is left exactly as it was.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pyarrow.csv as pa_csv
from psycopg import sql as pgsql

from behindglass.core.errors import LoadError
from behindglass.omop.postgres_connection import describe, pg_connect
from behindglass.omop.schema import TableSpec, cdm_tables, existing_row_counts, quote

# DuckDB type names of schema.py that PostgreSQL spells differently.
PG_TYPES = {"DOUBLE": "DOUBLE PRECISION"}
BATCH_ROWS = 100_000

Progress = Callable[[str, int, int], None]  # (table, rows copied so far, rows in table)


@dataclass
class CopyReport:
    target: str  # host:port/db schema=..., never a password
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows copied
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def pg_create_table_sql(table: TableSpec, schema: str) -> str:
    """``CREATE TABLE`` for one CDM table in ``schema`` (PostgreSQL type names)."""
    cols = ",\n".join(
        f"  {quote(f.name)} {PG_TYPES.get(f.sql_type, f.sql_type)}"
        f"{' NOT NULL' if f.not_null else ''}"
        for f in table.fields
    )
    return f"CREATE TABLE {quote(schema)}.{quote(table.name)} (\n{cols}\n)"


def create_cdm_postgres(con: psycopg.Connection[Any], schema: str) -> None:
    """Create ``schema`` (if needed) and every CDM v5.4 table in it, dropping the CDM
    tables already there. Callers check first that those hold nothing worth keeping."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}".encode())
    for table in cdm_tables().values():
        con.execute(f"DROP TABLE IF EXISTS {quote(schema)}.{quote(table.name)}".encode())
        con.execute(pg_create_table_sql(table, schema).encode())


def tables_with_rows(con: psycopg.Connection[Any], schema: str) -> list[str]:
    """The CDM tables of ``schema`` holding at least one row."""
    present = {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
        [schema]).fetchall()}
    full = []
    for name in cdm_tables():
        if name in present:
            query = f"SELECT EXISTS (SELECT 1 FROM {quote(schema)}.{quote(name)})"
            if con.execute(query.encode()).fetchone() == (True,):
                full.append(name)
    return full


def copy_cdm_to_postgres(
    duckdb_path: str | Path,
    url_or_conninfo: str,
    schema: str,
    *,
    replace: bool = False,
    progress: Progress | None = None,
) -> CopyReport:
    """Create the CDM v5.4 in ``schema`` and copy into it every CDM table of the DuckDB
    store ``duckdb_path``. Refuses a schema whose CDM tables hold rows unless ``replace``.
    All or nothing: raises LoadError (EngineError if the server cannot be reached) and
    leaves the schema as it was."""
    started = time.perf_counter()
    path = Path(duckdb_path)
    if not path.exists():
        raise LoadError("no such DuckDB database", file=str(path))
    try:
        duck = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise LoadError(f"cannot open as DuckDB: {exc}", file=str(path)) from None
    try:
        counts = existing_row_counts(duck)
        if not counts:
            raise LoadError("holds no OMOP CDM table", file=str(path))
        pg = pg_connect(url_or_conninfo, autocommit=True)
        report = CopyReport(target=f"postgres {describe(url_or_conninfo)} schema={schema}")
        try:
            _copy_all(duck, pg, schema, counts, report, replace=replace, progress=progress)
        finally:
            pg.close()
    finally:
        duck.close()
    report.seconds = time.perf_counter() - started
    return report


def _copy_all(duck: duckdb.DuckDBPyConnection, pg: psycopg.Connection[Any], schema: str,
              counts: dict[str, int], report: CopyReport, *, replace: bool,
              progress: Progress | None) -> None:
    try:
        with pg.transaction():  # explicit BEGIN/COMMIT; rolled back on any exception
            full = tables_with_rows(pg, schema)
            if full and not replace:
                raise LoadError(
                    f"{report.target} already holds CDM rows ({', '.join(full)}); "
                    "pass replace (--replace) to overwrite them")
            create_cdm_postgres(pg, schema)
            for name, total in counts.items():
                report.rows[name] = (
                    _copy_table(duck, pg, schema, cdm_tables()[name], total, progress)
                    if total else 0)
                if total:
                    pg.execute(f"ANALYZE {quote(schema)}.{quote(name)}".encode())
    except psycopg.Error as exc:
        raise LoadError(f"{report.target}: copy failed, nothing written: {exc}") from None
    except duckdb.Error as exc:
        raise LoadError(f"reading the DuckDB store failed, nothing written: {exc}") from None


def _copy_table(duck: duckdb.DuckDBPyConnection, pg: psycopg.Connection[Any], schema: str,
                table: TableSpec, total: int, progress: Progress | None) -> int:
    have = {r[0].lower() for r in duck.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ?"
        " AND table_schema = 'main' AND table_catalog = current_database()",
        [table.name]).fetchall()}
    cols = [f for f in table.fields if f.name in have]  # absent columns stay NULL
    # Casting to the schema's types makes DuckDB write values PostgreSQL parses as such.
    select = ", ".join(f"CAST({quote(f.name)} AS {f.sql_type})" for f in cols)
    reader = duck.execute(f"SELECT {select} FROM {quote(table.name)}").to_arrow_reader(
        BATCH_ROWS)
    target = pgsql.SQL("COPY {}.{} ({}) FROM STDIN (FORMAT csv)").format(
        pgsql.Identifier(schema), pgsql.Identifier(table.name),
        pgsql.SQL(", ").join(pgsql.Identifier(f.name) for f in cols))
    options = pa_csv.WriteOptions(include_header=False)
    done = 0
    with pg.cursor() as cur, cur.copy(target) as copy:
        for batch in reader:
            buf = io.BytesIO()
            pa_csv.write_csv(batch, buf, options)
            copy.write(buf.getvalue())
            done += batch.num_rows
            if progress is not None:
                progress(table.name, done, total)
    return done
