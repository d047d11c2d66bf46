"""Request builders researchers use: ``Characterize("t2d", by=["sex"])`` and friends.

Each builds an :class:`~behindglass.core.study.AnalysisSpec`; its name defaults to the
builder's name, which is the key the result is found under.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from behindglass.analyses.catalog import get_analysis
from behindglass.analyses.characterize import DEFAULT_BY
from behindglass.analyses.covariates import COUNT_DOMAINS, COVARIATE_DOMAINS, DEFAULT_WINDOWS
from behindglass.analyses.incidence import DEFAULT_TAR
from behindglass.core.study import AnalysisSpec


@dataclass(frozen=True)
class CohortCount:
    cohort: str
    name: str = "CohortCount"

    def to_spec(self) -> AnalysisSpec:
        spec = AnalysisSpec(kind="cohort_count", name=self.name, cohort=self.cohort)
        get_analysis(spec.kind).validate(spec)
        return spec


@dataclass(frozen=True)
class Characterize:
    cohort: str
    by: Sequence[str] = DEFAULT_BY
    top_n: int = 10
    window_days: int | None = 365
    domains: Sequence[str] = field(default=("condition", "drug"))
    name: str = "Characterize"

    def to_spec(self) -> AnalysisSpec:
        spec = AnalysisSpec(kind="characterize", name=self.name, cohort=self.cohort, params={
            "by": list(self.by), "top_n": self.top_n, "window_days": self.window_days,
            "domains": list(self.domains),
        })
        get_analysis(spec.kind).validate(spec)
        return spec


@dataclass(frozen=True)
class Covariates:
    """FeatureExtraction-style covariates of ``cohort``; with a ``comparator``, of both
    cohorts and the standardized mean difference of every covariate."""

    cohort: str
    comparator: str | None = None
    windows: Sequence[Sequence[int | None]] = DEFAULT_WINDOWS
    domains: Sequence[str] = COVARIATE_DOMAINS
    count_domains: Sequence[str] = COUNT_DOMAINS
    demographics: bool = True
    name: str = "Covariates"

    def to_spec(self) -> AnalysisSpec:
        spec = AnalysisSpec(kind="covariates", name=self.name, cohort=self.cohort,
                            comparator=self.comparator, params={
                                "windows": [list(w) for w in self.windows],
                                "domains": list(self.domains),
                                "count_domains": list(self.count_domains),
                                "demographics": self.demographics,
                            })
        get_analysis(spec.kind).validate(spec)
        return spec


@dataclass(frozen=True)
class Incidence:
    """Incidence of each of ``outcomes`` (cohort names) in ``cohort``'s time at risk.

    Each time at risk is a mapping with ``start_offset``, ``start_anchor``, ``end_offset``
    and ``end_anchor`` (anchors ``"start"``/``"end"`` of the cohort entry).
    """

    cohort: str
    outcomes: str | Sequence[str]
    tars: Sequence[Mapping[str, Any]] = (DEFAULT_TAR,)
    washout_days: int | None = None
    age_width: int = 10
    alpha: float = 0.05
    name: str = "Incidence"

    def to_spec(self) -> AnalysisSpec:
        # one outcome may be given by its name alone; a str is not a list of names
        outcomes = (self.outcomes,) if isinstance(self.outcomes, str) else tuple(self.outcomes)
        spec = AnalysisSpec(kind="incidence", name=self.name, cohort=self.cohort,
                            outcomes=outcomes, params={
                                "tars": [dict(t) for t in self.tars],
                                "washout_days": self.washout_days,
                                "age_width": self.age_width, "alpha": self.alpha,
                            })
        get_analysis(spec.kind).validate(spec)
        return spec


@dataclass(frozen=True)
class DataQuality:
    """Every site's DataQualityDashboard-style checks, summarised per site and pooled.

    ``cohort`` only satisfies the study format (any cohort of the study; it is not used).
    ``thresholds`` override failure thresholds by check-id prefix; ``detail`` also lists the
    failed checks (those with enough violating rows to be releasable).
    """

    cohort: str
    thresholds: Mapping[str, float] | None = None
    detail: bool = False
    name: str = "DataQuality"

    def to_spec(self) -> AnalysisSpec:
        params: dict[str, Any] = {"detail": self.detail}
        if self.thresholds:
            params["thresholds"] = dict(self.thresholds)
        spec = AnalysisSpec(kind="data_quality", name=self.name, cohort=self.cohort,
                            params=params)
        get_analysis(spec.kind).validate(spec)
        return spec


@dataclass(frozen=True)
class KaplanMeier:
    """Kaplan-Meier curves of ``cohort`` (target) and ``comparator`` to ``outcome``, with the
    log-rank test between them (docs/survival.md). ``time_bin_days`` rounds times up to bin
    ends before release; ``population`` holds the analysis population's settings."""

    cohort: str
    comparator: str
    outcome: str
    time_bin_days: int = 1
    conf_type: str = "log-log"
    alpha: float = 0.05
    at_risk_times: Sequence[int] | None = None
    min_count: int | None = None
    population: Mapping[str, Any] | None = None
    name: str = "KaplanMeier"

    def to_spec(self) -> AnalysisSpec:
        params: dict[str, Any] = {"time_bin_days": self.time_bin_days,
                                  "conf_type": self.conf_type, "alpha": self.alpha}
        if self.at_risk_times is not None:
            params["at_risk_times"] = list(self.at_risk_times)
        if self.min_count is not None:
            params["min_count"] = self.min_count
        if self.population:
            params["population"] = dict(self.population)
        spec = AnalysisSpec(kind="kaplan_meier", name=self.name, cohort=self.cohort,
                            comparator=self.comparator, outcomes=(self.outcome,),
                            params=params)
        get_analysis(spec.kind).validate(spec)
        return spec


@dataclass(frozen=True)
class Cox:
    """Cox proportional hazards of ``outcome`` in ``cohort`` (vs ``comparator``), fitted
    exactly across sites over several rounds; see ``docs/models.md``."""

    cohort: str
    outcome: str
    comparator: str | None = None
    covariates: Sequence[str] = ("treatment",)
    ties: str = "efron"
    strata: str | None = None
    population: Mapping[str, Any] | None = None
    time_bin_days: int = 1
    ph_test: str | None = "rank"
    alpha: float = 0.05
    max_iter: int = 30
    tol: float = 1e-9
    name: str = "Cox"

    def to_spec(self) -> AnalysisSpec:
        spec = AnalysisSpec(kind="cox", name=self.name, cohort=self.cohort,
                            comparator=self.comparator, outcomes=(self.outcome,), params={
                                "covariates": list(self.covariates), "ties": self.ties,
                                "strata": self.strata,
                                "population": dict(self.population or {}),
                                "time_bin_days": self.time_bin_days, "ph_test": self.ph_test,
                                "alpha": self.alpha, "max_iter": self.max_iter,
                                "tol": self.tol,
                            })
        get_analysis(spec.kind).validate(spec)
        return spec


@dataclass(frozen=True)
class Glm:
    """A GLM of ``outcome`` in ``cohort`` (vs ``comparator``), fitted exactly across sites.

    ``family`` "binomial" (logistic, outcome ``event``), "poisson" (``outcome_count``,
    offset log(``time_at_risk``)) or "gaussian" (give ``outcome_column``); ``covariates``
    are population columns; ``population`` is a PopulationSettings mapping; ``meta`` also
    fits each site alone and meta-analyses the estimates. See docs/models.md.
    """

    cohort: str
    outcome: str
    comparator: str | None = None
    family: str = "binomial"
    covariates: Sequence[str] = ("treatment",)
    outcome_column: str | None = None
    offset: str | None = "default"
    site_effects: bool = False
    population: Mapping[str, Any] = field(default_factory=dict)
    meta: bool = False
    max_iter: int = 25
    tol: float = 1e-10
    alpha: float = 0.05
    name: str = "Glm"

    def to_spec(self) -> AnalysisSpec:
        params: dict[str, Any] = {
            "family": self.family, "covariates": list(self.covariates),
            "site_effects": self.site_effects, "population": dict(self.population),
            "meta": self.meta, "max_iter": self.max_iter, "tol": self.tol,
            "alpha": self.alpha}
        if self.outcome_column is not None:
            params["outcome_column"] = self.outcome_column
        if self.offset != "default":
            params["offset"] = self.offset
        spec = AnalysisSpec(kind="glm", name=self.name, cohort=self.cohort,
                            comparator=self.comparator, outcomes=(self.outcome,), params=params)
        get_analysis(spec.kind).validate(spec)
        return spec
