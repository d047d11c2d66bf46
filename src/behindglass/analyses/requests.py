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
    # rate ratios (docs/statistics.md): target vs ``comparator``, and/or stratum values vs
    # ``rate_ratios["reference"]`` (e.g. {"sex": "female"})
    comparator: str | None = None
    rate_ratios: Mapping[str, Any] | None = None

    def to_spec(self) -> AnalysisSpec:
        # one outcome may be given by its name alone; a str is not a list of names
        outcomes = (self.outcomes,) if isinstance(self.outcomes, str) else tuple(self.outcomes)
        params: dict[str, Any] = {
            "tars": [dict(t) for t in self.tars], "washout_days": self.washout_days,
            "age_width": self.age_width, "alpha": self.alpha}
        if self.rate_ratios is not None or self.comparator is not None:
            params["rate_ratios"] = dict(self.rate_ratios or {"comparator": True})
        spec = AnalysisSpec(kind="incidence", name=self.name, cohort=self.cohort,
                            comparator=self.comparator, outcomes=outcomes, params=params)
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
    meta: bool = False
    name: str = "Cox"

    def to_spec(self) -> AnalysisSpec:
        spec = AnalysisSpec(kind="cox", name=self.name, cohort=self.cohort,
                            comparator=self.comparator, outcomes=(self.outcome,), params={
                                "covariates": list(self.covariates), "ties": self.ties,
                                "strata": self.strata,
                                "population": dict(self.population or {}),
                                "time_bin_days": self.time_bin_days, "ph_test": self.ph_test,
                                "alpha": self.alpha, "max_iter": self.max_iter,
                                "tol": self.tol, "meta": self.meta,
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


@dataclass(frozen=True)
class Descriptive:
    """Exact pooled mean and SD, and quantiles within stated bounds, of continuous variables
    of ``cohort``'s persons (docs/statistics.md). Each of ``variables`` is a mapping with
    ``variable`` ("age", "prior_observation_days", "post_observation_days", "measurement",
    "time_at_risk") and optionally ``name``, ``edges`` (quantile bins) and, for a measurement,
    ``concept_ids``, ``descendants``, ``window``; ``time_at_risk`` needs ``outcome``."""

    cohort: str
    variables: Sequence[Mapping[str, Any]] = ({"variable": "age"},)
    quantiles: Sequence[float] = (0.25, 0.5, 0.75)
    outcome: str | None = None
    population: Mapping[str, Any] | None = None
    name: str = "Descriptive"

    def to_spec(self) -> AnalysisSpec:
        params: dict[str, Any] = {"variables": [dict(v) for v in self.variables],
                                  "quantiles": list(self.quantiles)}
        if self.population is not None:
            params["population"] = dict(self.population)
        spec = AnalysisSpec(kind="descriptive", name=self.name, cohort=self.cohort,
                            outcomes=(self.outcome,) if self.outcome else (), params=params)
        get_analysis(spec.kind).validate(spec)
        return spec


@dataclass(frozen=True)
class Contingency:
    """Persons of ``cohort`` cross-classified by ``rows`` x ``cols``, pooled exactly, with
    chi-square and Fisher tests (docs/statistics.md). With ``population`` the persons are the
    study population of ``cohort`` (vs ``comparator``) and ``outcomes[0]``; ``cohort:<name>``
    variables need ``<name>`` among ``outcomes``."""

    cohort: str
    rows: str
    cols: str
    outcomes: Sequence[str] = ()
    comparator: str | None = None
    population: Mapping[str, Any] | None = None
    correction: bool = True
    alpha: float = 0.05
    name: str = "Contingency"

    def to_spec(self) -> AnalysisSpec:
        params: dict[str, Any] = {"rows": self.rows, "cols": self.cols,
                                  "correction": self.correction, "alpha": self.alpha}
        if self.population is not None:
            params["population"] = dict(self.population)
        spec = AnalysisSpec(kind="contingency", name=self.name, cohort=self.cohort,
                            comparator=self.comparator, outcomes=tuple(self.outcomes),
                            params=params)
        get_analysis(spec.kind).validate(spec)
        return spec


@dataclass(frozen=True)
class CohortMethod:
    """A comparative cohort study of ``outcome`` in new users of ``cohort`` (target) vs
    ``comparator``: the propensity model (exact federated logistic regression of treatment
    on ``ps_covariates``), CohortMethod's PS strata, and the unadjusted and PS-stratified
    Cox models, all equal to the pooled computation; see ``docs/comparative.md``."""

    cohort: str
    comparator: str
    outcome: str
    ps_covariates: Sequence[str] | None = None  # None: every covariate of the population
    population: Mapping[str, Any] = field(default_factory=dict)
    number_of_strata: int = 5
    ties: str = "efron"
    time_bin_days: int = 1
    balance: bool = True
    alpha: float = 0.05
    name: str = "CohortMethod"

    def to_spec(self) -> AnalysisSpec:
        params: dict[str, Any] = {
            "population": dict(self.population), "number_of_strata": self.number_of_strata,
            "ties": self.ties, "time_bin_days": self.time_bin_days, "balance": self.balance,
            "alpha": self.alpha}
        if self.ps_covariates is not None:
            params["ps_covariates"] = list(self.ps_covariates)
        spec = AnalysisSpec(kind="cohort_method", name=self.name, cohort=self.cohort,
                            comparator=self.comparator, outcomes=(self.outcome,),
                            params=params)
        get_analysis(spec.kind).validate(spec)
        return spec
