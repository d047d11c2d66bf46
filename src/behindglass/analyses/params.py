"""Checks shared by the analyses' parameter validation; every error names the request and
the parameter, so the hub's 422 and a site's refusal say what to fix."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from behindglass.core.errors import SpecError
from behindglass.core.population import PopulationSettings
from behindglass.core.study import AnalysisSpec


def check_keys(spec: AnalysisSpec, allowed: Iterable[str]) -> None:
    """SpecError listing any parameter the analysis does not take."""
    allowed = set(allowed)
    unknown = sorted(set(spec.params) - allowed)
    if unknown:
        raise SpecError(
            f"{spec.name}: unknown parameter(s) {unknown} for {spec.kind}; "
            f"accepted: {sorted(allowed)}"
        )


def check_alpha(spec: AnalysisSpec, default: float = 0.05) -> float:
    """The request's ``alpha``: a finite number strictly between 0 and 1."""
    alpha: Any = spec.params.get("alpha", default)
    if (not isinstance(alpha, int | float) or isinstance(alpha, bool)
            or not math.isfinite(alpha) or not 0 < alpha < 1):
        raise SpecError(f"{spec.name}: 'alpha' must be a number strictly between 0 and 1, "
                        f"got {alpha!r}")
    return float(alpha)


def one_outcome(spec: AnalysisSpec, what: str) -> None:
    """SpecError unless the request names exactly one outcome cohort."""
    if len(spec.outcomes) != 1:
        raise SpecError(f"{spec.name}: {what} needs exactly one outcome cohort in "
                        f"'outcomes', got {list(spec.outcomes)}")


def population_param(spec: AnalysisSpec) -> PopulationSettings:
    """The request's ``population`` (an object of study-population settings), checked."""
    raw: Any = spec.params.get("population") or {}
    if not isinstance(raw, dict):
        raise SpecError(f"{spec.name}: 'population' must be an object of population "
                        f"settings, got {raw!r}")
    return PopulationSettings.from_dict(raw, where=f"{spec.name}: population")
