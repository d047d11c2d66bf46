"""Tiny hand-made CDMs, built the same way on every engine the spec tests run on.

A case gives only the rows it needs, as dicts of column -> value; every other CDM table
exists and is empty, and every column a row does not name is NULL.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import duckdb

from behindglass.engine.backend import Backend
from behindglass.engine.duckdb_backend import DuckDBBackend
from behindglass.engine.postgres_backend import PostgresBackend, pg_connect
from behindglass.omop.postgres_copy import create_cdm_postgres
from behindglass.omop.schema import create_cdm, quote, table_spec

Rows = Mapping[str, Sequence[Mapping[str, Any]]]


def _check_columns(table: str, rows: Sequence[Mapping[str, Any]]) -> list[str]:
    known = set(table_spec(table).columns)
    used: list[str] = []
    for row in rows:
        for col in row:
            if col not in known:
                raise KeyError(f"{table} has no column {col!r}")
            if col not in used:
                used.append(col)
    return used


def _value(v: Any) -> Any:
    if isinstance(v, str) and len(v) == 10 and v[4] == "-" and v[7] == "-":
        return dt.date.fromisoformat(v)
    return v


def duckdb_cdm(tables: Rows) -> Backend:
    """An in-memory DuckDB CDM holding ``tables``."""
    con = duckdb.connect(":memory:")
    create_cdm(con)
    for table, rows in tables.items():
        cols = _check_columns(table, rows)
        if not rows:
            continue
        marks = ", ".join("?" for _ in cols)
        con.executemany(
            f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c in cols)}) VALUES ({marks})",
            [[_value(r.get(c)) for c in cols] for r in rows],
        )
    return DuckDBBackend.from_connection(con, label="tiny-cdm")


def postgres_cdm(tables: Rows, *, url: str) -> PostgresBackend:
    """A fresh schema on the server at ``url`` holding the whole CDM and ``tables``; drop it
    with :func:`drop_postgres_cdm`. Random schema names keep cases (and runs) apart."""
    schema = f"spec_{uuid.uuid4().hex[:12]}"
    con = pg_connect(url, autocommit=True)
    try:
        with con.transaction():
            create_cdm_postgres(con, schema)
            for table, rows in tables.items():
                cols = _check_columns(table, rows)
                if not rows:
                    continue
                marks = ", ".join("%s" for _ in cols)
                insert = (f"INSERT INTO {quote(schema)}.{quote(table)} "
                          f"({', '.join(quote(c) for c in cols)}) VALUES ({marks})")
                with con.cursor() as cur:
                    cur.executemany(insert.encode(),
                                    [[_value(r.get(c)) for c in cols] for r in rows])
    finally:
        con.close()
    return PostgresBackend(url, schema=schema)


def drop_postgres_cdm(backend: PostgresBackend) -> None:
    """Drop the schema :func:`postgres_cdm` made, then close the connection."""
    try:
        backend.execute(f"DROP SCHEMA IF EXISTS {quote(backend.schema)} CASCADE")
    finally:
        backend.close()
