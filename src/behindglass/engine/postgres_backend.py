"""A site's CDM held in PostgreSQL, reached with psycopg 3.

The connection runs in autocommit mode so the engine's temporary tables live as long as the
connection, like DuckDB's; ``search_path`` is set to the CDM schema so the engine's
unqualified table names find the CDM (``pg_temp`` is still searched first, implicitly).

Every message this module raises names the store as ``host:port/db`` and never carries the
password: connection strings are scrubbed before any error text leaves.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import psycopg
from psycopg import sql as pgsql

from behindglass.core.errors import EngineError
from behindglass.engine.backend import ClosesOnExit
from behindglass.engine.dialect import PostgresDialect
from behindglass.omop.postgres_connection import describe, pg_connect, scrub

__all__ = ["PostgresBackend", "describe", "pg_connect", "scrub"]

class PostgresBackend(ClosesOnExit):
    """A :class:`~behindglass.engine.backend.Backend` on one schema of a PostgreSQL database.

    Read-only access is the database's business: connect as a role with ``SELECT`` on the
    CDM schema and ``TEMPORARY`` on the database (a read-only transaction would refuse the
    engine's temporary tables).
    """

    def __init__(self, conninfo: str, *, schema: str = "public") -> None:
        self.dialect = PostgresDialect()
        self.schema = schema
        self.con = pg_connect(conninfo, autocommit=True)
        info = self.con.info
        self.label = f"postgres {info.host}:{info.port}/{info.dbname} schema={schema}"
        try:
            found = self.con.execute(
                "SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema]).fetchone()
            if found is None:
                raise EngineError(f"{self.label}: no such schema {schema!r}")
            self.con.execute(pgsql.SQL("SET search_path TO {}").format(pgsql.Identifier(schema)))
        except BaseException:
            self.con.close()
            raise

    def execute(self, sql: str) -> None:
        try:
            self.con.execute(sql.encode())  # bytes: psycopg types str queries as literals
        except psycopg.Error as exc:
            raise EngineError(f"{self.label}: query failed: {exc}") from None

    def fetchall(self, sql: str) -> list[tuple[Any, ...]]:
        try:
            return self.con.execute(sql.encode()).fetchall()
        except psycopg.Error as exc:
            raise EngineError(f"{self.label}: query failed: {exc}") from None

    def fetch_frame(self, sql: str) -> pd.DataFrame:
        try:
            cur = self.con.execute(sql.encode())
            rows = cur.fetchall()
        except psycopg.Error as exc:
            raise EngineError(f"{self.label}: query failed: {exc}") from None
        names = [c.name for c in cur.description or []]
        return pd.DataFrame.from_records(rows, columns=names)

    def columns(self, sql: str) -> list[str]:
        try:
            cur = self.con.execute(f"SELECT * FROM ({sql}) AS q LIMIT 0".encode())
        except psycopg.Error as exc:
            raise EngineError(f"{self.label}: query failed: {exc}") from None
        return [c.name.lower() for c in cur.description or []]

    def tables(self) -> set[str]:
        try:
            rows = self.con.execute(
                "SELECT lower(table_name) FROM information_schema.tables"
                " WHERE table_schema = %s", [self.schema]).fetchall()
        except psycopg.Error as exc:
            raise EngineError(f"{self.label}: cannot list tables: {exc}") from None
        return {r[0] for r in rows}

    def close(self) -> None:
        self.con.close()
