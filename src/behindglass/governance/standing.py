"""Approvals a steward gave in advance, in the site's policy (``[approvals]`` in
``policy.toml``): which studies run without a steward looking at each one, and which outputs
two stewards must look at before they leave.

The order of the questions matters only for what the audit records as the reason:
``required = false`` (a development network) first, then a trusted researcher, then a study
whose exact digest the steward trusted, then the first standing rule that covers the study.
A standing rule is deliberately narrow: it covers a study only if *every* analysis is of a
kind it names, the researcher is one it names (or it names none), and the site's minimum
cell is still at least what the rule was written for — a steward who lowers ``min_cell``
has not thereby pre-approved studies under the weaker protection.
"""

from __future__ import annotations

from collections.abc import Iterable

from behindglass.core.policy import ApprovalRules, StandingApproval
from behindglass.core.study import StudySpec

NOT_REQUIRED = "approval not required"
TRUSTED_RESEARCHER = "trusted researcher"
TRUSTED_STUDY = "trusted study"
STANDING_PREFIX = "standing: "


def uncovered(rule: StandingApproval, min_cell: int, researcher: str,
              kinds: Iterable[str]) -> str | None:
    """Why ``rule`` does not cover a study with these analysis kinds, or None if it does.

    The reason names the rule and what failed, so a steward can see why a study waits."""
    outside = sorted(set(kinds) - set(rule.kinds))
    if outside:
        return (f"standing rule {rule.name!r} covers kinds {list(rule.kinds)}; the study "
                f"also asks for {outside}")
    if rule.researchers and researcher not in rule.researchers:
        return f"standing rule {rule.name!r} does not list researcher {researcher!r}"
    if min_cell < rule.min_cell_at_least:
        return (f"standing rule {rule.name!r} applies only while min_cell is at least "
                f"{rule.min_cell_at_least}; it is {min_cell}")
    return None


def automatic_approval(rules: ApprovalRules, min_cell: int, researcher: str,
                       study: StudySpec, study_digest: str) -> str | None:
    """The name of the rule that approves this study without a steward, or None.

    ``study_digest`` is the sha256 of the study's canonical JSON (what the audit records);
    a trusted study matches on it exactly, so changing one parameter needs a new approval.
    """
    if not rules.required:
        return NOT_REQUIRED
    if researcher in rules.trusted_researchers:
        return TRUSTED_RESEARCHER
    if study_digest.lower() in {d.strip().lower() for d in rules.trusted_studies}:
        return TRUSTED_STUDY
    kinds = {a.kind for a in study.analyses}
    for rule in rules.standing:
        if uncovered(rule, min_cell, researcher, kinds) is None:
            return STANDING_PREFIX + rule.name
    return None


def why_not_automatic(rules: ApprovalRules, min_cell: int, researcher: str,
                      study: StudySpec) -> list[str]:
    """For a study no rule approves: one line per standing rule saying why it does not apply
    (empty when there are no standing rules), for ``behindglass site show``."""
    kinds = {a.kind for a in study.analyses}
    return [reason for rule in rules.standing
            if (reason := uncovered(rule, min_cell, researcher, kinds)) is not None]


def needs_review(rules: ApprovalRules, kinds: Iterable[str]) -> bool:
    """True if any of these analysis kinds is one whose output the steward holds for
    two-person review (``review_kinds``) before it leaves the site."""
    return bool(set(kinds) & set(rules.review_kinds))
