"""Iterative analyses over rounds: a real hub on loopback, three site agents, and a
stand-in analysis that needs four rounds. The hub must send each round to the sites that
took part, carry its state, keep the study running until the fit is done, combine from the
final round only, and end the fit with a clear error when a site withdraws midway."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any, ClassVar

import pytest

from behindglass.analyses.catalog import get_analysis
from behindglass.core.aggregates import SiteAggregate, StatsBlock
from behindglass.core.errors import DisclosureError
from behindglass.core.sitedata import SiteContext
from behindglass.core.study import AnalysisSpec, StudySpec
from behindglass.hub import HubServer, create_app
from behindglass.site import SiteAgent

ROUNDS = 4


@dataclasses.dataclass(frozen=True)
class Mean:
    """Pooled mean persons per site, 'fitted' in ROUNDS rounds. Its kind is a stats kind
    so the site's release gate lets its StatsBlocks through."""

    kind: ClassVar[str] = "glm"
    iterative: ClassVar[bool] = True
    refuse_in_round: int | None = None

    def validate(self, spec: AnalysisSpec) -> None:
        pass

    def start(self, spec: AnalysisSpec) -> dict[str, Any]:
        return {"round": 0, "seen": []}

    def local(self, site: SiteContext, spec: AnalysisSpec) -> SiteAggregate:
        assert site.state is not None
        if site.state["round"] == self.refuse_in_round:
            raise DisclosureError(f"{spec.name}: refused in round {self.refuse_in_round}")
        if "n" not in site.cache:  # the data set is built once per study, kept between rounds
            site.cache["n"] = site.data.count_persons(site.cohort(spec.cohort))
            site.cache["built"] = site.cache.get("built", 0) + 1
        return SiteAggregate(analysis=spec.name, kind=self.kind, stats=(
            StatsBlock(name="n", shape=(2,), values=(site.cache["n"], site.cache["built"])),
            StatsBlock(name="round", values=(site.state["round"],), shape=())))

    def step(self, spec: AnalysisSpec, state: dict[str, Any],
             releases: list[tuple[str, SiteAggregate]]) -> tuple[dict[str, Any], bool]:
        rounds = {int(a.block("round").values[0]) for _, a in releases}
        assert rounds == {state["round"]}, "every site answered the round it was sent"
        seen = [*state["seen"], sorted(s for s, _ in releases)]
        nxt = {"round": state["round"] + 1, "seen": seen}
        return nxt, nxt["round"] == ROUNDS

    def combine(self, spec: AnalysisSpec, releases: list[tuple[str, SiteAggregate]],
                state: dict[str, Any]) -> dict[str, Any]:
        n = [a.block("n").values for _, a in releases]
        return {"kind": self.kind, "analysis": spec.name, "rounds": state["round"],
                "seen": state["seen"], "persons": sum(v[0] for v in n),
                "built": max(v[1] for v in n),
                "final_round": {int(a.block("round").values[0]) for _, a in releases}.pop()}


def catalog_with(mean: Mean):
    # the stand-in takes the place of the real "glm" entry in this test's catalogs
    return lambda kind: mean if kind == "glm" else get_analysis(kind)


def study() -> StudySpec:
    return StudySpec.from_dict({
        "title": "rounds", "cohorts": {"all": {}},
        "analyses": [{"kind": "glm", "name": "Mean", "cohort": "all"},
                     {"kind": "cohort_count", "name": "Count", "cohort": "all"}]})


def run_network(tmp_path: Path, db: Path, site_catalogs: dict[str, Any]) -> Any:
    from behindglass.client import connect

    app = create_app(tmp_path / "hub", catalog=catalog_with(Mean()))
    tokens = {s: app.state.hub.add_principal(s, "site") for s in site_catalogs}
    researcher = app.state.hub.add_principal("alice", "researcher")
    with HubServer(app) as server:
        agents = [SiteAgent(hub_url=server.url, name=s, token=tokens[s], db_path=db,
                            poll_wait=0.5, catalog=c) for s, c in site_catalogs.items()]
        threads = [threading.Thread(target=a.run, daemon=True) for a in agents]
        for t in threads:
            t.start()
        try:
            net = connect(server.url, researcher)
            handle = net.submit(study())
            handle.wait(timeout=60, progress=False)
            return handle.results(), handle.status()
        finally:
            for a in agents:
                a.stop()
            for t in threads:
                t.join(timeout=10)
            for a in agents:
                a.close()


def test_a_fit_runs_its_rounds_and_combines_from_the_last(tiny_cdm: Path, tmp_path: Path):
    sites = {s: catalog_with(Mean()) for s in ("site-a", "site-b", "site-c")}
    result, status = run_network(tmp_path, tiny_cdm, sites)
    assert result.complete and result.refusals == []
    mean = result["Mean"].combined
    assert mean["rounds"] == ROUNDS and mean["final_round"] == ROUNDS - 1
    assert mean["seen"] == [sorted(sites)] * ROUNDS
    assert mean["persons"] == 3 * 40
    assert mean["built"] == 1, "each site built its data set once, in round 0"
    # round 0 ran both analyses; later rounds only the fit
    rounds = sorted({t.round for t in status.tasks})
    assert rounds == list(range(ROUNDS))
    later = [r for r in result.raw.releases if r.round > 0]
    assert later and all([a.analysis for a in r.aggregates] == ["Mean"] for r in later)
    assert result["Count"].table("persons")["rows"][0]["pooled"] == 120


def test_a_site_withdrawing_midway_ends_the_fit_with_its_reason(tiny_cdm: Path,
                                                                tmp_path: Path):
    sites = {"site-a": catalog_with(Mean()), "site-b": catalog_with(Mean()),
             "site-c": catalog_with(Mean(refuse_in_round=2))}
    result, _ = run_network(tmp_path, tiny_cdm, sites)
    assert result.complete
    error = result["Mean"].combined["error"]
    assert "site-c stopped taking part in round 2" in error
    assert "refused in round 2" in error
    assert result["Count"].table("persons")["rows"][0]["pooled"] == 120


def test_stats_from_a_kind_not_allowed_are_refused() -> None:
    from behindglass.core.policy import DisclosurePolicy
    from behindglass.site.execute import check_disclosable

    spec = AnalysisSpec(kind="characterize", name="C", cohort="all")
    agg = SiteAggregate(analysis="C", kind="characterize",
                        stats=(StatsBlock(name="x", shape=(1,), values=(3.0,)),))
    with pytest.raises(DisclosureError, match="may not release model statistics"):
        check_disclosable(agg, spec, DisclosurePolicy())


@pytest.mark.parametrize("bad", [{"shape": (2,), "values": (1.0,)},
                                 {"shape": (1,), "values": (float("nan"),)}])
def test_a_stats_block_is_consistent_and_finite(bad: dict) -> None:
    with pytest.raises(ValueError):
        StatsBlock(name="x", **bad)


def test_a_schema_1_state_file_is_upgraded_in_place(tmp_path: Path) -> None:
    import sqlite3

    from behindglass.hub.state import HubState

    old = HubState(tmp_path)  # build a state, then strip it back to schema 1
    old.add_principal("site-a", "site")
    old.add_principal("alice", "researcher")
    study_id, _ = old.create_study("alice", study())
    old.close()
    con = sqlite3.connect(tmp_path / "hub.sqlite")
    con.execute("DROP TABLE fits")
    for column in ("round", "analyses", "states"):
        con.execute(f"ALTER TABLE tasks DROP COLUMN {column}")
    con.execute("PRAGMA user_version=1")
    con.commit()
    con.close()
    hub = HubState(tmp_path)
    task = hub.claim_next("site-a")
    assert task is not None and task.study_id == study_id
    assert task.round == 0 and task.analyses is None and task.states == {}
    assert hub.fits(study_id) == {}
    hub.close()
