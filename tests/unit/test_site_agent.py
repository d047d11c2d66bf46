"""The site agent: what it releases passes the site's policy, refusals explain themselves
without data, and every step is in the audit log with the digest of the bytes sent."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pytest

from behindglass.core.aggregates import SiteAggregate
from behindglass.core.canonical import digest
from behindglass.core.cohort import Cohort
from behindglass.core.errors import DisclosureError
from behindglass.core.messages import Task
from behindglass.core.policy import DisclosurePolicy
from behindglass.core.study import AnalysisSpec, StudySpec
from behindglass.engine.site_store import SiteStore
from behindglass.governance.audit import read_entries, verify
from behindglass.omop.schema import create_cdm
from behindglass.site import SiteAgent, execute_task
from behindglass.site.agent import Backoff

CANARY_PERSON = 987654321  # a row value that must never leave the site
WHITE, BLACK, ASIAN = 8527, 8516, 8515


def build_site(path: Path) -> Path:
    """40 persons: 30 white, 7 black, 3 asian; a condition for 25 of them."""
    con = duckdb.connect(str(path))
    create_cdm(con)
    con.executemany("INSERT INTO concept (concept_id, concept_name) VALUES (?, ?)", [
        (WHITE, "White"), (BLACK, "Black or African American"), (ASIAN, "Asian"),
        (201826, "Type 2 diabetes mellitus"), (1503297, "Metformin")])
    races = [WHITE] * 30 + [BLACK] * 7 + [ASIAN] * 3
    for i, race in enumerate(races):
        pid = CANARY_PERSON if i == 0 else i + 1
        con.execute("INSERT INTO person (person_id, gender_concept_id, year_of_birth,"
                    " race_concept_id, ethnicity_concept_id) VALUES (?, ?, ?, ?, 0)",
                    (pid, 8532 if i % 2 else 8507, 1950 + i % 30, race))
        con.execute("INSERT INTO observation_period (observation_period_id, person_id,"
                    " observation_period_start_date, observation_period_end_date)"
                    " VALUES (?, ?, ?, ?)",
                    (i + 1, pid, dt.date(2010, 1, 1), dt.date(2020, 12, 31)))
        if i < 25:
            con.execute("INSERT INTO condition_occurrence (condition_occurrence_id, person_id,"
                        " condition_concept_id, condition_start_date) VALUES (?, ?, 201826, ?)",
                        (i + 1, pid, dt.date(2009 + (i % 3), 6, 1)))
            con.execute("INSERT INTO drug_exposure (drug_exposure_id, person_id,"
                        " drug_concept_id, drug_exposure_start_date) VALUES (?, ?, 1503297, ?)",
                        (i + 1, pid, dt.date(2009, 3, 1)))
    con.close()
    return path


def make_task(site: str = "site-a", analyses: list[AnalysisSpec] | None = None) -> Task:
    analyses = analyses or [
        AnalysisSpec(kind="characterize", name="Characterize", cohort="all",
                     params={"by": ["sex", "race", "age_band"], "top_n": 5,
                             "window_days": None}),
        AnalysisSpec(kind="cohort_count", name="CohortCount", cohort="all")]
    study = StudySpec(title="unit", cohorts={"all": Cohort.everyone()},
                      analyses=tuple(analyses))
    return Task(task_id="tk-1", study_id="st-1", site=site, researcher="alice", study=study,
                created=dt.datetime.now(dt.UTC))


def counts_in(payload: object) -> list[int]:
    """Every ``count`` anywhere in a JSON document."""
    found: list[int] = []
    if isinstance(payload, dict):
        for k, v in payload.items():
            if k == "count" and isinstance(v, int):
                found.append(v)
            found += counts_in(v)
    elif isinstance(payload, list):
        for v in payload:
            found += counts_in(v)
    return found


class FakeLink:
    """Stands in for the hub: records what the agent posts."""

    hub_url = "http://hub.invalid"

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.heads: list[tuple[int, str]] = []
        self.updates: list[tuple[str, str]] = []
        self.signatures: list[str | None] = []  # of the heads and updates, in order

    def publish_audit_head(self, seq: int, head: str, signature: str | None = None) -> None:
        self.heads.append((seq, head))
        self.signatures.append(signature)

    def update_task(self, task_id: str, state: str, detail: str | None = None,
                    signature: str | None = None) -> None:
        self.updates.append((task_id, state))
        self.signatures.append(signature)

    def post_release(self, task_id: str, body: bytes, signature: str | None = None) -> dict:
        self.bodies.append(body)
        return {"task_id": task_id, "state": "released",
                "digest": hashlib.sha256(body).hexdigest()}

    def close(self) -> None:
        pass


@pytest.fixture
def site_db(tmp_path: Path) -> Path:
    return build_site(tmp_path / "site.duckdb")


def test_the_store_really_has_a_cell_of_3(site_db: Path) -> None:
    with SiteStore.open(site_db) as data:
        assert dict(data.count_by(Cohort.everyone(), "race"))["Asian"] == 3


def test_release_has_no_count_below_min_cell(site_db: Path) -> None:
    with SiteStore.open(site_db) as data:
        out = execute_task(make_task(), data, DisclosurePolicy())
    assert not out.refusals
    cells = [c for agg in out.aggregates for t in agg.tables for c in t.cells]
    assert all(c.count is None or c.count >= 11 for c in cells)
    race = next(a for a in out.aggregates if a.analysis == "Characterize").table("race")
    assert {c.key[0]: c.suppressed for c in race.cells}["Asian"] is True


def test_agent_audits_request_decision_and_exact_release(site_db: Path, tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    link = FakeLink()
    audit = tmp_path / "audit.jsonl"
    agent = SiteAgent(hub_url=link.hub_url, name="site-a", token="t", db_path=site_db,
                      audit_path=audit, link=link)  # type: ignore[arg-type]
    with caplog.at_level(logging.DEBUG):
        release = agent.handle(make_task())
    agent.close()
    (body,) = link.bodies
    payload = json.loads(body)
    assert min(counts_in(payload)) >= 11
    assert str(CANARY_PERSON) not in body.decode()
    assert payload["audit_head"] == release.audit_head
    events = [e for _, e in read_entries(audit)]
    assert [e["event"] for e in events] == ["task_received", "decision", "decision", "release",
                                           "release_acknowledged"]
    assert {e["data"]["decision"] for e in events if e["event"] == "decision"} == {"run"}
    sent = next(e for e in events if e["event"] == "release")["data"]
    assert sent["digest"] == hashlib.sha256(body).hexdigest() == digest(payload)
    assert verify(audit).ok
    text = audit.read_text() + caplog.text
    assert str(CANARY_PERSON) not in text
    assert counts_in([e["data"] for e in events]) == []  # the audit holds shapes, not counts


def test_errors_become_refusals_without_data(site_db: Path, tmp_path: Path) -> None:
    con = duckdb.connect(str(site_db))
    con.execute("DROP TABLE drug_exposure")  # the store cannot answer drug questions now
    con.close()
    task = make_task(analyses=[
        AnalysisSpec(kind="regression", name="Model", cohort="all"),
        AnalysisSpec(kind="characterize", name="Drugs", cohort="all",
                     params={"by": ["sex"], "domains": ["drug"]}),
        AnalysisSpec(kind="cohort_count", name="CohortCount", cohort="all")])
    with SiteStore.open(site_db) as data:
        out = execute_task(task, data, DisclosurePolicy())
    reasons = {r.analysis: r.reason for r in out.refusals}
    assert "unknown analysis kind 'regression'" in reasons["Model"]
    assert "could not compute" in reasons["Drugs"] and "EngineError" in reasons["Drugs"]
    assert "drug_exposure" not in reasons["Drugs"]  # store internals stay at the site
    assert [a.analysis for a in out.aggregates] == ["CohortCount"]


def test_a_broken_suppression_is_caught_before_release(site_db: Path) -> None:
    def no_suppression(aggs: Sequence[SiteAggregate], policy: DisclosurePolicy,
                       prior: object) -> list[SiteAggregate | DisclosureError]:
        return list(aggs)

    with SiteStore.open(site_db) as data:
        out = execute_task(make_task(), data, DisclosurePolicy(), enforce=no_suppression)
    assert [r.analysis for r in out.refusals] == ["Characterize"]
    assert "below 11" in out.refusals[0].reason
    assert "3" not in out.refusals[0].reason.replace("11", "")


def test_task_for_another_site_is_not_run(site_db: Path) -> None:
    link = FakeLink()
    agent = SiteAgent(hub_url=link.hub_url, name="site-a", token="t", db_path=site_db,
                      link=link)  # type: ignore[arg-type]
    release = agent.handle(make_task(site="site-b"))
    assert release.error and "site-b" in release.error and not release.aggregates


def test_agent_keeps_retrying_a_hub_that_is_down(site_db: Path) -> None:
    agent = SiteAgent(hub_url="http://127.0.0.1:9", name="site-a", token="t",
                      db_path=site_db, poll_wait=0.1)
    result: dict = {}
    runner = threading.Thread(target=lambda: result.update(n=agent.run()))
    runner.start()
    time.sleep(1.0)
    assert runner.is_alive(), "a hub that is down must not stop the agent"
    agent.stop()
    runner.join(timeout=35)
    assert not runner.is_alive() and result["n"] == 0
    agent.close()


def test_backoff_doubles_to_a_cap() -> None:
    b = Backoff(first=1, cap=8)
    delays = [b.next() for _ in range(6)]
    assert 0.8 <= delays[0] <= 1.2 and all(d <= 8 * 1.2 for d in delays)
    assert delays[3] >= 8 * 0.8
    b.reset()
    assert b.next() <= 1.2


def test_once_handles_one_task_from_a_real_hub(site_db: Path, tmp_path: Path) -> None:
    from behindglass.hub import HubServer, create_app

    app = create_app(tmp_path / "hub")
    token = app.state.hub.add_principal("site-a", "site")
    app.state.hub.add_principal("alice", "researcher")
    with HubServer(app) as server:
        agent = SiteAgent(hub_url=server.url, name="site-a", token=token, db_path=site_db,
                          poll_wait=0.2, audit_path=tmp_path / "audit.jsonl")
        assert agent.run(once=True) == 0  # nothing to do: one empty poll, then exit
        app.state.hub.create_study("alice", make_task().study)
        assert agent.run(once=True) == 1
        agent.close()
        (release,) = app.state.hub.releases(app.state.hub.studies_of("alice")[0].study_id)
        assert min(counts_in(release.model_dump(mode="json"))) >= 11
    events = [e["event"] for _, e in read_entries(tmp_path / "audit.jsonl")]
    assert events.count("agent_started") == 2 and "release_acknowledged" in events
