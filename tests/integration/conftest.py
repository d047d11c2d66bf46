"""Fixtures of the integration tests: GiBleed split over three sites, and a running network."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import DATA, Network, running, split_sites


@pytest.fixture(scope="session")
def site_dbs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from behindglass.omop.loader import load_omop

    src = DATA / "eunomia-gibleed"
    if not src.exists():
        pytest.skip(f"{src} not found")
    work = tmp_path_factory.mktemp("sites")
    load_omop(src, work / "full.duckdb")
    return split_sites(work / "full.duckdb", work)


@pytest.fixture(scope="module")
def network(site_dbs: dict[str, Path],
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    with running(tmp_path_factory.mktemp("net"), site_dbs) as net:
        yield net
