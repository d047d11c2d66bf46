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

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

DEFAULT_MIN_CELL = 11
DEFAULT_MAX_PARAM_RATIO = 0.33  # DataSHIELD's default for regression models
# one person's largest share of a released block of moments (docs/statistics.md, dominance)
DEFAULT_MAX_DOMINANCE = 0.8
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
    max_dominance: float = Field(
        default=DEFAULT_MAX_DOMINANCE, gt=0, le=1, allow_inf_nan=False,
        description="moments (n, sum, sum of squares) of a variable are withheld when one "
                    "person's squared deviation from the mean is more than this share of "
                    "their sum of squared deviations (two persons: halfway from it to 1): "
                    "their values could be solved for; 1.0: off")

    @field_validator("rounding")
    @classmethod
    def _rounding_base(cls, value: int) -> int:
        # a field validator (not a model one) so the error names disclosure.rounding
        if value == 1:
            raise ValueError("rounding = 1 changes nothing: use 0 (off) or a base such as 5")
        return value


class AnalysisRules(_Frozen):
    """Which catalog analyses may run here, and limits on their parameters."""

    allowed: tuple[str, ...] | None = Field(
        default=None, description="analysis kinds this site runs; None: every installed kind")
    limits: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="per kind, parameter name -> limit: a number is the largest value "
                    "allowed; a list is the values allowed; false forbids the parameter")

    @field_validator("limits")
    @classmethod
    def _limit_values(cls, limits: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        # checked here so a limit that could never mean anything (true, a table, infinity)
        # is a load error instead of a rule the site silently cannot apply
        for kind, params in limits.items():
            for param, limit in params.items():
                where = f"{kind}.{param}"
                if limit is False or isinstance(limit, list | tuple):
                    continue
                if limit is True:
                    raise ValueError(f"{where} = true sets no limit: give a largest value, "
                                     "a list of allowed values, or false to forbid it")
                if isinstance(limit, int | float):
                    if not math.isfinite(limit) or limit < 0:
                        raise ValueError(f"{where}: a numeric limit must be a finite number "
                                         f">= 0, got {limit!r}")
                    continue
                raise ValueError(f"{where}: a limit is a number, a list of allowed values or "
                                 f"false, not a {type(limit).__name__}")
        return limits


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
    window_hours: float = Field(default=24.0, gt=0, allow_inf_nan=False,
                                description="how far back releases and refusals are counted")
    lockout_hours: float = Field(default=24.0, gt=0, allow_inf_nan=False,
                                 description="how long a lockout lasts (a steward may lift it)")


Mechanism = Literal["laplace", "gaussian"]


class PrivacyRules(_Frozen):
    """Optional differential privacy on released counts, sums, means and histograms."""

    enabled: bool = False
    mechanism: Mechanism = "laplace"
    epsilon: float = Field(default=1.0, gt=0, allow_inf_nan=False,
                           description="epsilon spent by one release")
    # validate_default: the gaussian check below must also run when delta is left out
    delta: float = Field(default=0.0, ge=0, lt=1, validate_default=True,
                         description="delta per release (gaussian mechanism only)")
    budget_per_researcher: float = Field(
        default=10.0, gt=0, allow_inf_nan=False,
        description="total epsilon one researcher may spend at this site")
    budget_per_study: float = Field(default=5.0, gt=0, allow_inf_nan=False,
                                    description="total epsilon one study may spend here")

    @field_validator("delta")
    @classmethod
    def _delta(cls, value: float, info: ValidationInfo) -> float:
        # a field validator (not a model one) so the error names privacy.delta
        if (value == 0 and info.data.get("enabled")
                and info.data.get("mechanism") == "gaussian"):
            raise ValueError("the gaussian mechanism needs delta > 0")
        return value


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

    @field_validator("version")
    @classmethod
    def _version(cls, value: int) -> int:
        if value != POLICY_VERSION:
            raise ValueError(f"policy version {value} is not supported; this "
                             f"behindglass reads version {POLICY_VERSION}")
        return value

    @property
    def k(self) -> int:
        """Smallest group the differencing defence protects."""
        return self.differencing.k or self.disclosure.min_cell
