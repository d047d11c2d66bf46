"""Connections to a PostgreSQL server holding a CDM, shared by the loader
(:mod:`behindglass.omop.postgres_copy`) and the engine's
:class:`~behindglass.engine.postgres_backend.PostgresBackend`.

Every message names the server as ``host:port/db`` and never carries the password:
connection strings are scrubbed before any error text leaves.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg.adapt import Buffer, Loader

from behindglass.core.errors import EngineError

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
