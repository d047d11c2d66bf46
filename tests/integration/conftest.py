"""Fixtures of the integration tests: GiBleed split over three sites, and a running network."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import DATA, Network, split_sites, stop


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
    net = Network(tmp_path_factory.mktemp("net"), site_dbs)
    try:
        net.start_hub()
        net.start_agents()
        net.wait_for_agents()
        yield net
    finally:
        codes = {site: stop(p) for site, p in net.agents.items()}
        if net.hub is not None:
            stop(net.hub)
        net.exit_codes = codes  # type: ignore[attr-defined]


