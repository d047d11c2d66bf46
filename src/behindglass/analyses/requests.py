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
