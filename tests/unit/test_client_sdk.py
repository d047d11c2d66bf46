"""The researcher SDK and the ``study`` CLI: drafting, clear errors, waiting, and results
that show suppressed cells as suppressed, never as numbers."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from behindglass.analyses.requests import Characterize, CohortCount
from behindglass.cli.study_cmd import study as study_cli
from behindglass.client import StudyResult, StudyTimeoutError, connect
from behindglass.core.cohort import Cohort
from behindglass.core.errors import AuthError, NetworkError, NotFoundError, SpecError
from behindglass.core.messages import StudyResults
from behindglass.core.study import StudySpec
from behindglass.hub import HubServer, create_app
from behindglass.site import SiteAgent
from tests.unit.test_site_agent import build_site  # the same small store


@pytest.fixture
def network(tmp_path: Path) -> Iterator[dict]:
    """A hub on a thread with two registered sites; only site-a runs an agent."""
    app = create_app(tmp_path / "hub")
    tokens = {"alice": app.state.hub.add_principal("alice", "researcher"),
              "site-a": app.state.hub.add_principal("site-a", "site"),
              "site-b": app.state.hub.add_principal("site-b", "site")}
    server = HubServer(app).start()
    agent = SiteAgent(hub_url=server.url, name="site-a", token=tokens["site-a"],
                      db_path=build_site(tmp_path / "a.duckdb"), poll_wait=2,
                      audit_path=tmp_path / "a-audit.jsonl")
    thread = threading.Thread(target=agent.run, daemon=True)
    thread.start()
    try:
        yield {"url": server.url, "tokens": tokens}
    finally:
        agent.stop()
        server.stop()  # answers the agent's parked poll, so it sees the stop at once
        thread.join(timeout=10)
        agent.close()


def test_run_a_study_and_read_it(network: dict) -> None:
    net = connect(network["url"], network["tokens"]["alice"])
    draft = net.study("Who is here", cohorts={"all": Cohort.everyone()}, sites=["site-a"])
    draft.add(Characterize("all", by=["sex", "race"], top_n=3, window_days=None))
    draft.add(CohortCount("all"))
    assert isinstance(draft.spec, StudySpec) and draft.spec.sites == ("site-a",)
    result = draft.run(timeout=20, progress=False)
    assert result.complete and result.names == ("Characterize", "CohortCount")
    char = result["Characterize"]
    assert {"persons", "sex", "race", "top_condition"} <= set(char.tables)
    race = char.to_pandas(table="race")
    asian = race.set_index("race").loc["Asian"]
    assert asian["suppressed"] and pd.isna(asian["count"])  # 3 persons: shown as suppressed
    by_site = char.to_pandas(level="site", table="sex")
    assert list(by_site.columns) == ["site", "sex", "count", "suppressed", "reported"]
    assert by_site["count"].sum() == char.to_pandas(table="sex")["count"].sum()
    top = char.to_pandas(table="top_condition")
    # 9 persons had it before index: below 11, so dropped with its label, not just blanked
    assert top.empty
    assert "Type 2 diabetes" not in str(result.to_dict()["combined"]["Characterize"])
    text = char.summary()
    assert "suppressed" in text and "Asian" in text
    assert result["CohortCount"].to_pandas()["count"].iloc[0] == 40
    assert [s.study_id for s in net.studies()] == [result.study_id]
    assert net.get(result.study_id).status().state == "complete"
    assert StudyResults.model_validate(result.to_dict()).study_id == result.study_id
    assert result.refusals == []


def test_errors_are_clear(network: dict, tmp_path: Path) -> None:
    with pytest.raises(AuthError, match="unknown token"):
        connect(network["url"], "nonsense").studies()
    net = connect(network["url"], network["tokens"]["alice"])
    with pytest.raises(NotFoundError, match="st-nope"):
        net.get("st-nope")
    draft = net.study("x", cohorts={"all": Cohort.everyone()}, sites=["site-q"])
    draft.add(CohortCount("all"))
    with pytest.raises(SpecError, match="site-q"):
        draft.submit()
    with pytest.raises(SpecError, match="already has an analysis"):
        draft.add(CohortCount("all"))
    with pytest.raises(SpecError, match="cohort 'nobody'"):
        draft.add(CohortCount("nobody", name="Other"))
    with pytest.raises(NetworkError, match="cannot reach hub"):
        connect("http://127.0.0.1:9", "t").studies()


def test_wait_times_out_naming_the_silent_site(network: dict) -> None:
    net = connect(network["url"], network["tokens"]["alice"])
    draft = net.study("x", cohorts={"all": Cohort.everyone()}, sites=["site-a", "site-b"])
    handle = draft.add(CohortCount("all")).submit()
    with pytest.raises(StudyTimeoutError, match=r"site-b \(pending\)"):
        handle.wait(timeout=1.5, progress=False)
    partial = handle.results()  # what site-a released is readable already
    assert not partial.complete and "partial" in partial.summary()
    assert partial["CohortCount"].sites == ["site-a"]
    assert partial["CohortCount"].to_pandas(level="pooled")["count"].iloc[0] == 40


def test_cli_submit_status_results(network: dict, tmp_path: Path) -> None:
    spec = {"title": "cli", "sites": ["site-a"], "cohorts": {"all": {}},
            "analyses": [{"kind": "cohort_count", "name": "CohortCount", "cohort": "all"}]}
    path = tmp_path / "study.json"
    path.write_text(json.dumps(spec))
    runner = CliRunner()
    env = {"BEHINDGLASS_TOKEN": network["tokens"]["alice"], "BEHINDGLASS_HUB": network["url"]}
    out = runner.invoke(study_cli, ["submit", str(path), "--wait", "--json"], env=env)
    assert out.exit_code == 0, out.output
    results = json.loads(out.output)
    sid = results["study_id"]
    assert results["combined"]["CohortCount"]["tables"]["persons"]["rows"][0]["pooled"] == 40
    status = runner.invoke(study_cli, ["status", sid], env=env)
    assert "site-a" in status.output and "released" in status.output
    table = runner.invoke(study_cli, ["results", sid], env=env)
    assert "CohortCount" in table.output and "40" in table.output
    raw = runner.invoke(study_cli, ["results", sid, "--json"], env=env)
    assert json.loads(raw.output)["study_id"] == sid


def _result_with(sites: dict[str, object]) -> StudyResult:
    spec = StudySpec(title="t", cohorts={"all": Cohort.everyone()},
                     analyses=({"kind": "characterize", "name": "Characterize",
                                "cohort": "all"},))  # type: ignore[arg-type]
    numbers = [v for v in sites.values() if isinstance(v, int)]
    combined = {"Characterize": {"kind": "characterize", "analysis": "Characterize",
                                 "sites": list(sites), "tables": {"sex": {
                                     "dims": ["sex"], "labels": {}, "rows": [{
                                         "key": ["female"], "sites": sites,
                                         "pooled": sum(numbers) if numbers else None,
                                         "complete": len(numbers) == len(sites)}]}}}}
    return StudyResult(StudyResults(study_id="st-1", title="t", state="complete", study=spec,
                                    releases=(), combined=combined))


def test_suppressed_and_missing_are_never_numbers() -> None:
    res = _result_with({"site-a": 600, "site-b": "suppressed", "site-c": None})
    pooled = res["Characterize"].to_pandas()
    assert pooled["count"].iloc[0] == 600 and not pooled["complete"].iloc[0]
    assert pooled["suppressed"].iloc[0]
    site = res["Characterize"].to_pandas(level="site").set_index("site")
    assert pd.isna(site.loc["site-b", "count"]) and site.loc["site-b", "suppressed"]
    assert pd.isna(site.loc["site-c", "count"]) and not site.loc["site-c", "reported"]
    assert str(site["count"].dtype) == "Int64"
    text = res.summary()
    assert "600+" in text and "suppressed" in text and "lower bound" in text
    hidden = _result_with({"site-a": "suppressed", "site-b": "suppressed"})
    assert pd.isna(hidden["Characterize"].to_pandas()["count"].iloc[0])
    with pytest.raises(KeyError, match="no analysis"):
        res["Regression"]
    with pytest.raises(ValueError, match="level"):
        res["Characterize"].to_pandas(level="row")  # type: ignore[arg-type]


def test_progress_view_draws_per_site_state() -> None:
    import io

    from rich.console import Console

    from behindglass.client.progress import StudyProgress
    from behindglass.core.messages import StudyStatus, TaskStatus

    now = dt.datetime.now(dt.UTC)
    status = StudyStatus(study_id="st-1", title="T", researcher="alice", state="running",
                         created=now, tasks=(
                             TaskStatus(task_id="a", site="site-a", state="released", updated=now),
                             TaskStatus(task_id="b", site="site-b", state="pending", updated=now)))
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    with StudyProgress(console=console) as view:
        view.update(status)
    text = out.getvalue()
    assert "site-a" in text and "released" in text and "1/2 sites done" in text
    quiet = io.StringIO()
    with StudyProgress(console=Console(file=quiet)) as view:  # not a terminal: silent
        view.update(status)
    assert quiet.getvalue() == ""
