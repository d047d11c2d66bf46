"""Spec tests run every case on every engine present: the ``cdm`` fixture is parametrized
over engines and builds the case's tiny CDM on each.

The PostgreSQL cases take their server from the session fixture ``pg_url`` (tests/conftest.py):
they are skipped when no server can be had, and fail instead when CI requires one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from behindglass.engine.backend import Backend
from behindglass.engine.postgres_backend import PostgresBackend
from tests.spec.cdm_builder import Rows, drop_postgres_cdm, duckdb_cdm, postgres_cdm

ENGINES = ["duckdb", "postgres"]


@pytest.fixture(params=ENGINES)
def cdm(request: pytest.FixtureRequest) -> Iterator[Callable[[Rows], Backend]]:
    opened: list[Backend] = []
    # Asked for only by the postgres cases, so DuckDB-only runs never start a server.
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else ""

    def build(tables: Rows) -> Backend:
        backend: Backend
        if request.param == "duckdb":
            backend = duckdb_cdm(tables)
        elif request.param == "postgres":
            backend = postgres_cdm(tables, url=url)
        else:  # pragma: no cover - engines are added to ENGINES with a builder above
            raise NotImplementedError(request.param)
        opened.append(backend)
        return backend

    yield build
    for backend in opened:
        if isinstance(backend, PostgresBackend):
            drop_postgres_cdm(backend)
        else:
            backend.close()
