"""Open a site's CDM store from one string: a DuckDB file path or a PostgreSQL URL.

``postgresql://user@host:5432/db?schema=cdm`` (or ``postgres://``) opens a
:class:`~behindglass.engine.postgres_backend.PostgresBackend`. The ``schema`` query
parameter is ours, not libpq's: it names the schema holding the CDM tables (default
``public``) and is removed before connecting; every other parameter (``sslmode``,
``connect_timeout``, ...) goes to libpq unchanged. Anything else is a DuckDB file path.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from behindglass.core.errors import EngineError
from behindglass.engine.backend import Backend
from behindglass.engine.duckdb_backend import DuckDBBackend
from behindglass.engine.postgres_backend import PostgresBackend, scrub

URL_SCHEMES = ("postgresql", "postgres")
DEFAULT_SCHEMA = "public"


def is_postgres_url(target: str | Path) -> bool:
    if not isinstance(target, str) or "://" not in target:
        return False
    return target.split("://", 1)[0].lower() in URL_SCHEMES


def split_schema(url: str) -> tuple[str, str]:
    """``(url without our schema parameter, schema)``; EngineError for a malformed URL."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a non-numeric port
    except ValueError as exc:
        raise EngineError(f"bad PostgreSQL URL {scrub(url, url)!r}: {exc}") from None
    query = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [v for k, v in query if k == "schema"]
    if len(schemas) > 1 or (schemas and not schemas[0]):
        raise EngineError(f"bad PostgreSQL URL {scrub(url, url)!r}: give one non-empty schema=")
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    return urlunsplit(parts._replace(query=rest)), (schemas[0] if schemas else DEFAULT_SCHEMA)


def open_backend(target: str | Path, *, read_only: bool = True,
                 threads: int | None = None) -> Backend:
    """The backend for ``target``. ``read_only`` and ``threads`` (the engine's worker
    threads) apply to DuckDB files; on PostgreSQL, read-only access is the connecting
    role's privileges (see PostgresBackend) and parallelism is the server's."""
    if is_postgres_url(target):
        url, schema = split_schema(str(target))
        return PostgresBackend(url, schema=schema)
    return DuckDBBackend(target, read_only=read_only, threads=threads)
