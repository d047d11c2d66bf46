"""Standing approvals: a study runs without a steward only when a rule in the policy covers
all of it, and outputs of sensitive kinds are held for review."""

from __future__ import annotations

import pytest

from behindglass.core.canonical import digest
from behindglass.core.cohort import Cohort
from behindglass.core.policy import ApprovalRules, SitePolicy, StandingApproval
from behindglass.core.study import AnalysisSpec, StudySpec
from behindglass.governance.standing import (
    automatic_approval,
    needs_review,
    uncovered,
    why_not_automatic,
)

COUNTS = StandingApproval(name="counts", kinds=("characterize", "cohort_count"),
                          min_cell_at_least=11)


def study(*kinds: str) -> StudySpec:
    return StudySpec(title="t", cohorts={"all": Cohort.everyone()},
                     analyses=tuple(AnalysisSpec(kind=k, name=f"a{i}", cohort="all")
                                    for i, k in enumerate(kinds)))


def decide(rules: ApprovalRules, spec: StudySpec, researcher: str = "alice",
           min_cell: int = 11) -> str | None:
    return automatic_approval(rules, min_cell, researcher, spec, digest(spec.to_dict()))


def test_default_policy_approves_nothing_automatically() -> None:
    assert decide(SitePolicy().approvals, study("characterize")) is None


def test_a_standing_rule_covers_a_study_of_only_its_kinds() -> None:
    rules = ApprovalRules(standing=(COUNTS,))
    assert decide(rules, study("characterize")) == "standing: counts"
    assert decide(rules, study("characterize", "cohort_count")) == "standing: counts"


def test_one_kind_outside_the_rule_needs_the_steward() -> None:
    rules = ApprovalRules(standing=(COUNTS,))
    spec = study("characterize", "glm")
    assert decide(rules, spec) is None
    assert why_not_automatic(rules, 11, "alice", spec) == [
        "standing rule 'counts' covers kinds ['characterize', 'cohort_count']; the study "
        "also asks for ['glm']"]


def test_a_rule_naming_researchers_covers_only_them() -> None:
    rule = COUNTS.model_copy(update={"researchers": ("alice", "bea")})
    rules = ApprovalRules(standing=(rule,))
    assert decide(rules, study("characterize"), researcher="bea") == "standing: counts"
    assert decide(rules, study("characterize"), researcher="mallory") is None
    assert "does not list researcher 'mallory'" in (
        uncovered(rule, 11, "mallory", {"characterize"}) or "")


def test_lowering_min_cell_below_the_rule_suspends_it() -> None:
    rules = ApprovalRules(standing=(COUNTS.model_copy(update={"min_cell_at_least": 20}),))
    assert decide(rules, study("characterize"), min_cell=20) == "standing: counts"
    assert decide(rules, study("characterize"), min_cell=25) == "standing: counts"
    assert decide(rules, study("characterize"), min_cell=19) is None
    assert "at least 20; it is 19" in why_not_automatic(rules, 19, "alice",
                                                         study("characterize"))[0]


def test_the_first_covering_rule_is_named() -> None:
    broad = StandingApproval(name="models", kinds=("characterize", "glm"))
    rules = ApprovalRules(standing=(COUNTS, broad))
    assert decide(rules, study("characterize")) == "standing: counts"
    assert decide(rules, study("glm")) == "standing: models"
    assert decide(rules, study("glm", "cox")) is None


def test_a_trusted_study_matches_its_exact_digest_only() -> None:
    spec = study("glm")
    rules = ApprovalRules(trusted_studies=(digest(spec.to_dict()).upper(),))
    assert decide(rules, spec) == "trusted study"
    changed = StudySpec(title="t", cohorts={"all": Cohort.everyone()},
                        analyses=(AnalysisSpec(kind="glm", name="a0", cohort="all",
                                               params={"family": "poisson"}),))
    assert decide(rules, changed) is None  # one parameter changed: a new study


def test_trusted_researcher_and_not_required() -> None:
    rules = ApprovalRules(trusted_researchers=("bea",))
    assert decide(rules, study("cox"), researcher="bea") == "trusted researcher"
    assert decide(rules, study("cox"), researcher="alice") is None
    assert decide(ApprovalRules(required=False), study("cox")) == "approval not required"


@pytest.mark.parametrize(("kinds", "held"), [
    ((), False), (("characterize",), False), (("glm",), True),
    (("characterize", "glm"), True)])
def test_needs_review_for_any_sensitive_kind(kinds: tuple[str, ...], held: bool) -> None:
    rules = ApprovalRules(review_kinds=("glm", "cox"))
    assert needs_review(rules, kinds) is held
    assert needs_review(ApprovalRules(), kinds) is False
