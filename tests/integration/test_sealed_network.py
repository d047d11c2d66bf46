"""Sealed results on real processes: a ``LocalNetwork`` study that asks for sealed results
gives the researcher exactly the combined result of the same study unsealed, while the
hub's state file never holds a released label in clear."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from behindglass.analyses.requests import Characterize, Incidence
from behindglass.client import connect
from behindglass.client.local_network import LocalNetwork
from behindglass.client.results import StudyResult
from behindglass.core.canonical import canonical_json
from behindglass.core.cohort import Cohort
from behindglass.core.errors import SignatureError, SpecError
from tests.unit.test_site_agent import build_site

SITES = ("site-a", "site-b")
LABEL = b"Metformin"  # a concept label the characterization releases


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNetwork]:
    work = tmp_path_factory.mktemp("sealed")
    dbs = {s: build_site(work / f"{s}.duckdb") for s in SITES}
    with LocalNetwork(dbs, workdir=work / "net", min_cell=5, poll_wait=2.0) as local:
        yield local


def _hub_bytes(net: LocalNetwork) -> bytes:
    """The hub's state file (and its WAL) as bytes, and every row of it as SQL text: a long
    value spans overflow pages, so the file alone could split a label in two."""
    files = sorted((net.workdir / "hub").glob("hub.sqlite*"))
    con = sqlite3.connect(f"file:{files[0]}?mode=ro", uri=True)
    try:
        dump = "\n".join(con.iterdump()).encode("utf-8")
    finally:
        con.close()
    return b"".join(p.read_bytes() for p in files) + dump


def _run(net: LocalNetwork, sealed: bool) -> StudyResult:
    with net.connect() as researcher:
        draft = researcher.study("T2D, sealed" if sealed else "T2D", seal_results=sealed,
                                 cohorts={"all": Cohort.everyone(),
                                          "t2d": Cohort.condition(201826)})
        draft.add(Characterize("all", by=["sex", "race"], top_n=3, window_days=None))
        draft.add(Incidence("all", "t2d", washout_days=None))
        return draft.run(timeout=90, progress=False)


def test_sealed_results_combine_as_the_hub_would(net: LocalNetwork) -> None:
    sealed = _run(net, sealed=True)
    # every release reached the hub sealed and was checked against its site's key
    assert sorted(r.site for r in sealed.received.releases) == list(SITES)
    assert all(r.sealed and not r.aggregates for r in sealed.received.releases)
    assert all("sealed" in c["detail"] for c in sealed.received.combined.values())
    stored = _hub_bytes(net)
    assert sealed.received.releases[0].sealed.encode() in stored  # the search sees rows
    assert LABEL not in stored, "a released label reached the hub in clear"
    for site in SITES:  # the site's audit says to whom it sealed, and what
        audit = net.audit_path(site).read_text(encoding="utf-8")
        assert '"sealed_to"' in audit and '"Characterize"' in audit

    plain = _run(net, sealed=False)
    assert not any(r.sealed for r in plain.raw.releases)
    assert LABEL in _hub_bytes(net)  # the same search finds a label released in clear
    assert set(sealed.raw.combined) == {"Characterize", "Incidence"}
    assert canonical_json(sealed.raw.combined) == canonical_json(plain.raw.combined)
    assert sealed["Characterize"].to_pandas(table="sex")["count"].sum() == 80
    assert "error" not in sealed.raw.combined["Incidence"]


def test_sealed_results_need_the_researchers_key(net: LocalNetwork) -> None:
    with net.connect() as researcher:
        draft = researcher.study("sealed", seal_results=True,
                                 cohorts={"all": Cohort.everyone()})
        handle = draft.add(Characterize("all", by=["sex"], top_n=0)).submit()
        handle.wait(timeout=60, progress=False)
        keyless = connect(net.url, net.researcher_token, roster=researcher.roster)
        with pytest.raises(SignatureError, match="encryption_key"):
            keyless.get(handle.study_id).results()
        assert handle.results()["Characterize"].sites == list(SITES)


def test_a_sealed_study_on_a_development_hub_is_refused(tmp_path: Path) -> None:
    db = build_site(tmp_path / "a.duckdb")
    with LocalNetwork({"site-a": db}, workdir=tmp_path / "net", signed=False,
                      poll_wait=2.0) as dev, dev.connect() as researcher:
        draft = researcher.study("sealed", seal_results=True,
                                 cohorts={"all": Cohort.everyone()})
        with pytest.raises(SpecError, match="development mode"):
            draft.add(Characterize("all", by=["sex"], top_n=0)).submit()
