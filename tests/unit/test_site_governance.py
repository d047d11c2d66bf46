"""The site agent with a home: a study runs only once approved, a sensitive output leaves
only once two stewards passed it, disallowed analyses are refused, and the differencing
defence refuses a population that differs from an earlier release by fewer than k persons.

Each test drives a real agent on a real DuckDB store; only the hub is a stand-in that
records what the agent sends (tests/integration covers the real hub)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from behindglass.core.cohort import Cohort
from behindglass.core.study import AnalysisSpec, StudySpec
from behindglass.governance.approvals import ApprovalStore
from behindglass.governance.audit import read_entries, verify
from behindglass.site import SiteAgent
from behindglass.site.home import SiteHome
from behindglass.site.policy_file import policy_template
from tests.unit.test_site_agent import FakeLink, build_site, make_task

COUNT = AnalysisSpec(kind="cohort_count", name="CohortCount", cohort="all")
TRUSTED = '[approvals]\ntrusted_researchers = ["alice", "bob"]\n'


@pytest.fixture(scope="module")
def site_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_site(tmp_path_factory.mktemp("gov") / "site.duckdb")


def agent_with(tmp_path: Path, site_db: Path, policy: str) -> tuple[SiteAgent, FakeLink]:
    home = SiteHome.init(tmp_path / "home", policy_template())
    home.policy_path.write_text('version = 1\nrevision = "test"\n' + policy, encoding="utf-8")
    link = FakeLink()
    agent = SiteAgent(hub_url=link.hub_url, name="site-a", token="t", db_path=site_db,
                      home=home.root, link=link)  # type: ignore[arg-type]
    return agent, link


def sent(link: FakeLink) -> list[dict]:
    return [json.loads(b) for b in link.bodies]


def study_task(cohort: Cohort, *, study_id: str, task_id: str, researcher: str = "alice"):
    study = StudySpec(title="t", cohorts={"all": cohort}, analyses=(COUNT,))
    return make_task().model_copy(update={"study": study, "study_id": study_id,
                                          "task_id": task_id, "researcher": researcher})


def test_a_study_waits_for_the_steward_then_runs(site_db: Path, tmp_path: Path) -> None:
    agent, link = agent_with(tmp_path, site_db, "")
    assert agent.handle(make_task()) is None
    assert link.updates == [("tk-1", "awaiting_approval")] and not link.bodies
    with ApprovalStore(agent.home.approvals_path) as store:  # type: ignore[union-attr]
        assert store.get("st-1").state == "pending"
        store.approve("st-1", "bob", note="fine")
    assert agent._steward_turn() == 1
    agent.close()
    assert link.updates[-1] == ("tk-1", "running")
    [release] = sent(link)
    assert {a["analysis"] for a in release["aggregates"]} == {"Characterize", "CohortCount"}
    events = [e["event"] for _, e in read_entries(agent.home.audit_path)]  # type: ignore[union-attr]
    assert "approval_requested" in events and "steward_study_approved" in events
    assert events.index("steward_study_approved") < events.index("release")
    assert verify(agent.home.audit_path).ok  # type: ignore[union-attr]
    # the head published after the release is in the chain: a later cut would show
    seq, head = link.heads[-1]
    assert verify(agent.home.audit_path, expect_hash=head).ok  # type: ignore[union-attr]
    entries = [e for _, e in read_entries(agent.home.audit_path)]  # type: ignore[union-attr]
    assert entries[seq]["hash"] == head


def test_a_rejected_study_is_refused_with_the_stewards_reason(site_db: Path,
                                                             tmp_path: Path) -> None:
    agent, link = agent_with(tmp_path, site_db, "")
    agent.handle(make_task())
    with ApprovalStore(agent.home.approvals_path) as store:  # type: ignore[union-attr]
        store.reject("st-1", "bob", reason="no protocol on file")
    agent._steward_turn()
    agent._steward_turn()  # told once, not again
    agent.close()
    [release] = sent(link)
    assert not release["aggregates"]
    assert {r["analysis"] for r in release["refusals"]} == {"Characterize", "CohortCount"}
    assert all("no protocol on file" in r["reason"] for r in release["refusals"])
    # nor after a restart: the site remembers that the hub was told
    again = SiteAgent(hub_url=link.hub_url, name="site-a", token="t", db_path=site_db,
                      home=agent.home.root, link=link)  # type: ignore[arg-type, union-attr]
    again._steward_turn()
    again.close()
    assert len(link.bodies) == 1


def test_a_standing_rule_approves_without_a_steward(site_db: Path, tmp_path: Path) -> None:
    rule = ('[[approvals.standing]]\nname = "counts"\nkinds = ["characterize", '
            '"cohort_count"]\nresearchers = ["alice"]\n')
    agent, _ = agent_with(tmp_path, site_db, rule)
    release = agent.handle(make_task())
    assert release is not None and len(release.aggregates) == 2
    # the same rule does not cover another researcher
    other = make_task().model_copy(update={"study_id": "st-2", "task_id": "tk-2",
                                           "researcher": "mallory"})
    assert agent.handle(other) is None
    agent.close()
    with ApprovalStore(agent.home.approvals_path) as store:  # type: ignore[union-attr]
        assert store.get("st-1").rule == "standing: counts"
        assert store.get("st-2").state == "pending"


def test_a_later_round_of_an_unapproved_study_is_refused(site_db: Path,
                                                         tmp_path: Path) -> None:
    agent, _ = agent_with(tmp_path, site_db, "")
    task = make_task().model_copy(update={"round": 1})
    release = agent.handle(task)
    agent.close()
    assert release is not None and not release.aggregates
    assert all("not approved" in r.reason for r in release.refusals)


def test_an_analysis_the_policy_does_not_allow_is_refused(site_db: Path,
                                                          tmp_path: Path) -> None:
    agent, _ = agent_with(tmp_path, site_db,
                             TRUSTED + '\n[analyses]\nallowed = ["characterize"]\n')
    release = agent.handle(make_task())
    agent.close()
    assert release is not None
    assert [a.analysis for a in release.aggregates] == ["Characterize"]
    [refusal] = release.refusals
    assert refusal.analysis == "CohortCount" and "cohort_count" in refusal.reason


def test_a_sensitive_output_leaves_only_after_two_stewards(site_db: Path,
                                                           tmp_path: Path) -> None:
    agent, link = agent_with(tmp_path, site_db,
                             '[approvals]\ntrusted_researchers = ["alice"]\n'
                             'review_kinds = ["characterize"]\nreviewers = 2\n')
    assert agent.handle(make_task()) is None
    assert link.updates == [("tk-1", "awaiting_review")] and not link.bodies
    path = agent.home.approvals_path  # type: ignore[union-attr]
    with ApprovalStore(path) as store:
        store.review("tk-1", "bob", passed=True)
    agent._steward_turn()
    assert not link.bodies  # one steward is not enough
    with ApprovalStore(path) as store:
        store.review("tk-1", "carol", passed=True)
    agent._steward_turn()
    agent._steward_turn()
    agent.close()
    [release] = sent(link)
    assert {a["analysis"] for a in release["aggregates"]} == {"Characterize", "CohortCount"}


def test_differencing_everyone_then_everyone_but_those_born_1950(site_db: Path,
                                                                  tmp_path: Path) -> None:
    """The store has 40 persons, 2 born in 1950 (aged 60 at index): the second study would
    describe those 2 by difference, so it is refused; the message says nothing of them."""
    agent, _ = agent_with(tmp_path, site_db, TRUSTED)
    first = agent.handle(study_task(Cohort.everyone(), study_id="st-1", task_id="tk-1"))
    assert first is not None and first.aggregates
    attack = agent.handle(study_task(Cohort.everyone().age_between(0, 59),
                                     study_id="st-2", task_id="tk-2"))
    assert attack is not None and not attack.aggregates
    [refusal] = attack.refusals
    assert "differencing" in refusal.reason
    assert not any(ch.isdigit() for ch in refusal.reason.replace("11", ""))
    # the same query again is no attack: the same persons as before
    again = agent.handle(study_task(Cohort.everyone(), study_id="st-3", task_id="tk-3"))
    assert again is not None and again.aggregates
    # another researcher, another study: nothing released to her yet
    other = agent.handle(study_task(Cohort.everyone().age_between(0, 59), study_id="st-4",
                                    task_id="tk-4", researcher="bob"))
    agent.close()
    assert other is not None and other.aggregates is not None
    events = [e for _, e in read_entries(agent.home.audit_path)]  # type: ignore[union-attr]
    refused = [e for e in events if e["event"] == "decision" and e["data"]["decision"] ==
               "refuse"]
    assert [e["data"]["task_id"] for e in refused] == ["tk-2"]


def test_repeated_attacks_lock_the_researcher_out(site_db: Path, tmp_path: Path) -> None:
    agent, _ = agent_with(tmp_path, site_db,
                             TRUSTED + "\n[differencing]\nlockout_after = 2\n")
    agent.handle(study_task(Cohort.everyone(), study_id="st-1", task_id="tk-1"))
    for n, age in enumerate((59, 58), start=2):
        agent.handle(study_task(Cohort.everyone().age_between(0, age), study_id=f"st-{n}",
                                task_id=f"tk-{n}"))
    # locked out: even the harmless query is refused now, for the lockout
    release = agent.handle(study_task(Cohort.everyone(), study_id="st-9", task_id="tk-9"))
    agent.close()
    assert release is not None and not release.aggregates
    assert "lock" in release.refusals[0].reason


def test_differential_privacy_and_rounding_on_the_release_path(site_db: Path,
                                                               tmp_path: Path) -> None:
    """With DP on, each released aggregate names its mechanism and epsilon, the researcher's
    budget is charged, no count is below the minimum cell, and rounding applies after it;
    once the study's budget is spent, the next release is refused."""
    agent, _ = agent_with(tmp_path, site_db, TRUSTED + "\n[disclosure]\nrounding = 5\n"
                          "\n[privacy]\nenabled = true\nepsilon = 1.0\n"
                          "budget_per_study = 2.5\n")
    release = agent.handle(make_task())
    assert release is not None and len(release.aggregates) == 2
    for aggregate in release.aggregates:
        assert aggregate.privacy is not None and aggregate.privacy.mechanism == "laplace"
        assert 0 < aggregate.privacy.epsilon <= 1.0
        counts = [c.count for t in aggregate.tables for c in t.cells if c.count is not None]
        assert all(c % 5 == 0 and c >= 11 for c in counts)
    spent = agent._guard.budget.spent("alice")  # type: ignore[union-attr]
    assert spent == pytest.approx(sum(a.privacy.epsilon for a in release.aggregates))
    second = agent.handle(make_task().model_copy(update={"task_id": "tk-2"}))
    agent.close()
    assert second is not None and not second.aggregates  # 2 of 2.5 spent
    assert any("budget" in r.reason for r in second.refusals)
