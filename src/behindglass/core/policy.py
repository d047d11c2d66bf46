"""A site's policy: the rules every release must pass, whatever produced it, and who may
run what without asking the steward.

:class:`DisclosurePolicy` is what an analysis sees at the site (minimum cell, secondary
suppression, rounding, parameters per person). :class:`SitePolicy` is the whole file a
steward keeps (``policy.toml``, see ``docs/policy.md``): disclosure rules, which analyses may
run and with which parameter limits, the differencing defence, differential privacy, and
approvals. Both are frozen and validated; unknown fields are errors, so a misspelt rule is
never silently ignored.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_MIN_CELL = 11
DEFAULT_MAX_PARAM_RATIO = 0.33  # DataSHIELD's default for regression models
POLICY_VERSION = 1


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DisclosurePolicy(_Frozen):
    min_cell: int = Field(default=DEFAULT_MIN_CELL, ge=1,
                          description="any person count below this is suppressed")
    secondary_suppression: bool = Field(
        default=True, description="suppress further cells so suppressed ones cannot be derived"
    )
    max_param_ratio: float = Field(
        default=DEFAULT_MAX_PARAM_RATIO, gt=0, le=1,
        description="a model with more parameters per person at this site is refused")
    rounding: int = Field(
        default=0, ge=0,
        description="0: counts released as they are; N > 1: every released person count is "
                    "rounded to the nearest multiple of N (never below the minimum cell)")

    @model_validator(mode="after")
    def _rounding_base(self) -> DisclosurePolicy:
        if self.rounding == 1:
            raise ValueError("rounding = 1 changes nothing: use 0 (off) or a base such as 5")
        return self


class AnalysisRules(_Frozen):
    """Which catalog analyses may run here, and limits on their parameters."""

    allowed: tuple[str, ...] | None = Field(
        default=None, description="analysis kinds this site runs; None: every installed kind")
    limits: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="per kind, parameter name -> limit: a number is the largest value "
                    "allowed; a list is the values allowed; false forbids the parameter")


class DifferencingRules(_Frozen):
    """The differencing defence: what the site remembers of its releases, and lockout."""

    enabled: bool = True
    k: int | None = Field(
        default=None, ge=1,
        description="a release is refused if, with an earlier one to the same researcher or "
                    "study, it would isolate fewer than k persons (default: min_cell)")
    lockout_after: int = Field(
        default=3, ge=1, description="differencing refusals in the window that lock a "
                                     "researcher out")
    max_repeats: int = Field(
        default=10, ge=1, description="near-identical queries (same persons) in the window "
                                      "that lock a researcher out")
    window_hours: float = Field(default=24.0, gt=0)
    lockout_hours: float = Field(default=24.0, gt=0,
                                 description="how long a lockout lasts (a steward may lift it)")


Mechanism = Literal["laplace", "gaussian"]


class PrivacyRules(_Frozen):
    """Optional differential privacy on released counts, sums, means and histograms."""

    enabled: bool = False
    mechanism: Mechanism = "laplace"
    epsilon: float = Field(default=1.0, gt=0, description="epsilon spent by one release")
    delta: float = Field(default=0.0, ge=0, lt=1,
                         description="delta per release (gaussian mechanism only)")
    budget_per_researcher: float = Field(default=10.0, gt=0)
    budget_per_study: float = Field(default=5.0, gt=0)

    @model_validator(mode="after")
    def _delta(self) -> PrivacyRules:
        if self.mechanism == "gaussian" and self.enabled and self.delta == 0:
            raise ValueError("the gaussian mechanism needs delta > 0")
        return self


class StandingApproval(_Frozen):
    """A rule that approves matching studies without a steward looking at each one."""

    name: str = Field(min_length=1)
    kinds: tuple[str, ...] = Field(min_length=1,
                                   description="every analysis of the study must be one of these")
    researchers: tuple[str, ...] = Field(
        default=(), description="researchers the rule covers; empty: every researcher")
    min_cell_at_least: int = Field(
        default=DEFAULT_MIN_CELL, ge=1,
        description="the rule applies only while the site's min_cell is at least this")


class ApprovalRules(_Frozen):
    required: bool = Field(
        default=True, description="false: every allowed study runs without approval "
                                  "(development networks only)")
    trusted_researchers: tuple[str, ...] = Field(
        default=(), description="their studies are approved automatically")
    trusted_studies: tuple[str, ...] = Field(
        default=(), description="study digests (sha256 of the study spec) approved in advance")
    standing: tuple[StandingApproval, ...] = ()
    review_kinds: tuple[str, ...] = Field(
        default=(), description="analysis kinds whose output is held for review before release")
    reviewers: int = Field(default=2, ge=1,
                           description="distinct stewards who must pass a held output")


class SitePolicy(_Frozen):
    """The site's whole policy file."""

    version: int = Field(default=POLICY_VERSION, description="policy file schema version")
    revision: str = Field(default="default",
                          description="the steward's label for this revision (in the audit)")
    disclosure: DisclosurePolicy = Field(default_factory=DisclosurePolicy)
    analyses: AnalysisRules = Field(default_factory=AnalysisRules)
    differencing: DifferencingRules = Field(default_factory=DifferencingRules)
    privacy: PrivacyRules = Field(default_factory=PrivacyRules)
    approvals: ApprovalRules = Field(default_factory=ApprovalRules)

    @model_validator(mode="after")
    def _version(self) -> SitePolicy:
        if self.version != POLICY_VERSION:
            raise ValueError(f"policy version {self.version} is not supported; this "
                             f"behindglass reads version {POLICY_VERSION}")
        return self

    @property
    def k(self) -> int:
        """Smallest group the differencing defence protects."""
        return self.differencing.k or self.disclosure.min_cell
