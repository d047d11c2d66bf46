"""Allowed analyses and parameter limits: what the steward lets run, checked literally and
failing closed (a limit cannot be dodged by leaving a parameter out or by a bool)."""

from __future__ import annotations

from typing import Any

import pytest

from behindglass.analyses.catalog import CATALOG
from behindglass.core.policy import AnalysisRules, ApprovalRules, SitePolicy
from behindglass.core.study import AnalysisSpec
from behindglass.privacy.allowed import check_allowed, validate_against_catalog

RULES = AnalysisRules(
    allowed=("cohort_count", "characterize", "glm"),
    limits={
        "characterize": {"top_n": 50, "by": ["sex", "age_band"], "window_days": 3650},
        "glm": {"covariates": 3, "family": ["binomial", "poisson"], "meta": False},
        "not_installed_anywhere": {"x": 1},
    },
)


def spec(kind: str = "characterize", **params: Any) -> AnalysisSpec:
    return AnalysisSpec(kind=kind, name="req", cohort="t2d", params=params)


def characterize(**overrides: Any) -> AnalysisSpec:
    params: dict[str, Any] = {"top_n": 10, "by": ["sex"], "window_days": 365}
    params.update(overrides)
    return spec("characterize", **params)


def test_defaults_allow_everything():
    assert check_allowed(AnalysisRules(), spec("cox", covariates=["treatment"] * 50)) is None
    assert check_allowed(AnalysisRules(), spec("anything")) is None


def test_kind_outside_allowed_is_refused_naming_kind_and_allowed():
    reason = check_allowed(RULES, spec("cox", covariates=["treatment"]))
    assert reason is not None
    assert "'cox'" in reason
    for kind in RULES.allowed or ():
        assert kind in reason


def test_an_empty_allowed_list_allows_nothing():
    reason = check_allowed(AnalysisRules(allowed=()), spec("cohort_count"))
    assert reason is not None and "none" in reason


def test_within_limits_runs():
    assert check_allowed(RULES, characterize()) is None
    assert check_allowed(RULES, characterize(top_n=50, by=["sex", "age_band"])) is None
    assert check_allowed(RULES, spec("glm", covariates=["treatment", "age"],
                                     family="poisson")) is None
    assert check_allowed(RULES, spec("cohort_count")) is None  # no limits for this kind


@pytest.mark.parametrize(("request_", "words"), [
    (characterize(top_n=51), ["'top_n'", "51", "at most 50"]),
    (characterize(window_days=3651), ["'window_days'", "at most 3650"]),
    # window_days = null means "any time before index": beyond any numeric limit
    (characterize(window_days=None), ["'window_days'", "number"]),
    (characterize(by=["sex", "race"]), ["'by'", "'race'", "allowed"]),
    (characterize(by="race"), ["'by'", "'race'"]),
    (spec("glm", covariates=["a", "b", "c", "d"], family="binomial"),
     ["'covariates'", "4 values", "at most 3"]),
    (spec("glm", covariates=["a"], family="gaussian"), ["'family'", "gaussian"]),
    (spec("glm", covariates=["a"], family="binomial", meta=True), ["'meta'", "may not"]),
    (spec("glm", covariates=["a"], family="binomial", meta=False), ["'meta'", "may not"]),
    (characterize(top_n=True), ["'top_n'", "number"]),
    (characterize(top_n="50"), ["'top_n'", "number"]),
    (characterize(top_n=float("nan")), ["'top_n'"]),
])
def test_limits_refuse(request_, words):
    reason = check_allowed(RULES, request_)
    assert reason is not None
    assert reason.startswith("req: ")
    for word in words:
        assert word in reason, (word, reason)


def test_a_limited_parameter_cannot_be_dodged_by_leaving_it_out():
    """characterize's default top_n is 10 and by includes race: this module cannot see
    defaults, so a limited parameter must be stated."""
    params = {"top_n": 10, "by": ["sex"], "window_days": 365}
    for missing in params:
        request = spec("characterize", **{k: v for k, v in params.items() if k != missing})
        reason = check_allowed(RULES, request)
        assert reason is not None and f"'{missing}'" in reason and "state it" in reason


def test_a_choice_list_does_not_admit_bools_as_numbers():
    rules = AnalysisRules(limits={"incidence": {"alpha_levels": [1, 2]}})
    assert check_allowed(rules, spec("incidence", alpha_levels=1)) is None
    assert check_allowed(rules, spec("incidence", alpha_levels=True)) is not None
    assert check_allowed(rules, spec("incidence", alpha_levels=[1, True])) is not None


def test_unhashable_values_are_compared_not_crashed():
    rules = AnalysisRules(limits={"characterize": {"by": ["sex"]}})
    assert check_allowed(rules, spec("characterize", by=[["sex"], {"a": 1}])) is not None


def test_the_same_request_always_gets_the_same_reason():
    request = characterize(top_n=99, by=["race"], window_days=99999)
    reasons = {check_allowed(RULES, request) for _ in range(3)}
    assert len(reasons) == 1
    assert "'by'" in reasons.pop()  # parameters are checked in name order


def test_long_values_are_not_quoted_in_full():
    reason = check_allowed(RULES, characterize(by=["x" * 500]))
    assert reason is not None and "x" * 100 not in reason


def test_validate_against_catalog_flags_misspelt_kinds():
    policy = SitePolicy(analyses=AnalysisRules(allowed=("characterize", "charaterize")),
                        approvals=ApprovalRules(review_kinds=("glmm",)))
    warnings = validate_against_catalog(policy, CATALOG)
    assert len(warnings) == 2
    assert "analyses.allowed" in warnings[0] and "'charaterize'" in warnings[0]
    assert "approvals.review_kinds" in warnings[1] and "'glmm'" in warnings[1]


def test_validate_against_catalog_accepts_unknown_kinds_in_limits():
    assert validate_against_catalog(SitePolicy(analyses=RULES), CATALOG) == []
    assert validate_against_catalog(SitePolicy(), CATALOG) == []


def test_a_dotted_name_limits_a_field_of_an_object_parameter() -> None:
    rules = AnalysisRules(limits={"glm": {"population.washout_days": 365}})
    spec = AnalysisSpec(kind="glm", name="Logistic", cohort="t", outcomes=("o",),
                        params={"population": {"washout_days": 730}})
    reason = check_allowed(rules, spec)
    assert reason is not None and "'population.washout_days'" in reason and "365" in reason
    ok = spec.model_copy(update={"params": {"population": {"washout_days": 180}}})
    assert check_allowed(rules, ok) is None
    missing = spec.model_copy(update={"params": {"population": {}}})
    assert "state it in the request" in (check_allowed(rules, missing) or "")
