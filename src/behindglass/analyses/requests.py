"""Request builders researchers use: ``Characterize("t2d", by=["sex"])`` and friends.

Each builds an :class:`~behindglass.core.study.AnalysisSpec`; its name defaults to the
builder's name, which is the key the result is found under.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from behindglass.analyses.catalog import get_analysis
from behindglass.analyses.characterize import DEFAULT_BY
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
