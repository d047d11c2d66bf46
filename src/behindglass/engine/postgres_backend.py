"""A site's CDM held in PostgreSQL, reached with psycopg 3.

The connection runs in autocommit mode so the engine's temporary tables live as long as the
connection, like DuckDB's; ``search_path`` is set to the CDM schema so the engine's
unqualified table names find the CDM (``pg_temp`` is still searched first, implicitly).

Every message this module raises names the store as ``host:port/db`` and never carries the
password: connection strings are scrubbed before any error text leaves.
"""

from __future__ import annotations

import re
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg import sql as pgsql
from psycopg.adapt import Buffer, Loader

from behindglass.core.errors import EngineError
from behindglass.engine.dialect import PostgresDialect

CONNECT_TIMEOUT_S = 10  # an unreachable server must fail, not hang the site agent
_KV_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
_URL_USERINFO = re.compile(r"(\w+://[^:/@\s]*):[^@\s]*@")


def _password(conninfo: str) -> str | None:
    if "://" in conninfo:
        try:
            pw = urlsplit(conninfo).password
        except ValueError:
            return None
        return unquote(pw) if pw else None
    found = _KV_PASSWORD.search(conninfo)
    return found.group(2).strip("'") if found else None


def scrub(text: str, conninfo: str) -> str:
    """``text`` with the password of ``conninfo`` (and any URL or key=value password) masked."""
    pw = _password(conninfo)
    if pw:
        text = text.replace(pw, "***")
    text = _URL_USERINFO.sub(r"\1:***@", text)
    return _KV_PASSWORD.sub(r"\1***", text)


def describe(conninfo: str) -> str:
    """``host:port/db`` of a connection string, for messages (never the password)."""
    try:
        params = psycopg.conninfo.conninfo_to_dict(conninfo)
    except psycopg.Error:
        return "postgres <unparsable connection string>"
    host = str(params.get("host") or "localhost")
    return f"{host}:{params.get('port') or 5432}/{params.get('dbname') or params.get('user') or ''}"


class _NumberLoader(Loader):
    """NUMERIC as DuckDB returns it: sums of integers as ``int``, the rest as ``float``.

    PostgreSQL types ``sum(bigint)`` and ``avg(...)`` as NUMERIC, which psycopg would return
    as Decimal; the analyses expect the plain numbers DuckDB gives for the same SQL.
    """

    def load(self, data: Buffer) -> int | float:
        text = bytes(data).decode("ascii")
        if text.lstrip("-").isdigit():
            return int(text)
        return float(text)


def pg_connect(conninfo: str, *, autocommit: bool = True) -> psycopg.Connection[Any]:
    """Open a connection; EngineError naming ``host:port/db`` and the reason on failure."""
    where = describe(conninfo)
    try:
        params = psycopg.conninfo.conninfo_to_dict(conninfo)
        extra: dict[str, Any] = {"application_name": params.get("application_name")
                                 or "behindglass"}
        if "connect_timeout" not in params:
            extra["connect_timeout"] = CONNECT_TIMEOUT_S
        con = psycopg.connect(conninfo, autocommit=autocommit, **extra)
    except psycopg.Error as exc:
        reason = scrub(" ".join(str(exc).split()), conninfo)  # libpq's hints span lines
        raise EngineError(f"postgres {where}: cannot connect: {reason}") from None
    con.adapters.register_loader("numeric", _NumberLoader)
    return con


class PostgresBackend:
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

    def __enter__(self) -> PostgresBackend:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

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
