"""Fixtures shared by every test folder: a PostgreSQL server for the postgres engine.

``pg_url`` is the URL of a server the tests may create schemas on:
``BEHINDGLASS_TEST_PG_URL`` if set, else a throwaway server started here for the session
(see tests/pg_server.py) and stopped at its end. With no server to be had the tests that need
one are skipped, saying why; ``BEHINDGLASS_REQUIRE_PG=1`` (set by CI) makes that a failure,
so the PostgreSQL engine can never silently go untested there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import pg_server


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    given = os.environ.get("BEHINDGLASS_TEST_PG_URL")
    if given:
        yield given
        return
    try:
        server = pg_server.start()
    except pg_server.Unavailable as exc:
        reason = (f"no PostgreSQL server for the postgres engine tests: {exc} "
                  "(install postgresql or set BEHINDGLASS_TEST_PG_URL)")
        if os.environ.get("BEHINDGLASS_REQUIRE_PG") == "1":
            pytest.fail(f"BEHINDGLASS_REQUIRE_PG=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def gibleed_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eunomia GiBleed loaded once per session into a DuckDB file; read it, never write it."""
    from behindglass.omop.loader import load_omop

    src = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "eunomia-gibleed"
    if not src.exists():
        pytest.skip(f"{src} not found in the shared data")
    db = tmp_path_factory.mktemp("gibleed") / "gibleed.duckdb"
    load_omop(src, db)
    return db


@pytest.fixture(scope="session")
def gibleed_sites(gibleed_db: Path, tmp_path_factory: pytest.TempPathFactory
                  ) -> dict[str, Path]:
    """GiBleed split over three site files by ``person_id % 3`` (read them, never write)."""
    from tests.integration.harness import split_sites

    return split_sites(gibleed_db, tmp_path_factory.mktemp("gibleed_sites"))


@pytest.fixture(scope="session")
def gibleed_ten_sites(gibleed_db: Path, tmp_path_factory: pytest.TempPathFactory
                      ) -> dict[str, Path]:
    """GiBleed split over ten site files of unequal size, about 1 : 2 : ... : 10."""
    from tests.integration.harness import split_sites

    return split_sites(gibleed_db, tmp_path_factory.mktemp("gibleed_ten"), n=10)
