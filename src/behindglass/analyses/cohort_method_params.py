"""The parameters of a ``cohort_method`` request, checked, and the catalog requests of its
tracks (the propensity model as a ``glm``, the two Cox models as ``cox``) built from them.

See ``docs/comparative.md`` for every parameter.
"""

from __future__ import annotations

import dataclasses
import math

from behindglass.analyses.cox import cox_params
from behindglass.analyses.glm import glm_params
from behindglass.analyses.params import check_alpha, check_keys, one_outcome, population_param
from behindglass.core.errors import SpecError
from behindglass.core.population import (
    DEMOGRAPHIC_COLUMNS,
    OUTCOME_COLUMNS,
    PopulationSettings,
)
from behindglass.core.study import AnalysisSpec

STRATUM = "_ps_stratum"  # the stratum column the stratified Cox reads; never a covariate
# name (those start with a letter)
PARAMS = {"population", "ps_covariates", "number_of_strata", "base_selection", "ties",
          "time_bin_days", "alpha", "ps_max_iter", "ps_tol", "cox_max_iter", "cox_tol",
          "quantile_grid", "balance"}
MAX_STRATA = 20
GRID_RANGE = (8, 1024)


# -- parameters ---------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class CmParams:
    population: PopulationSettings
    covariates: tuple[str, ...]
    strata: int
    grid: int
    balance: bool
    alpha: float
    ps_spec: AnalysisSpec  # the propensity model, as a glm request
    unadjusted_spec: AnalysisSpec  # the Cox models, as cox requests
    stratified_spec: AnalysisSpec


def _int(spec: AnalysisSpec, key: str, default: int, lo: int, hi: int) -> int:
    v = spec.params.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise SpecError(f"{spec.name}: cohort_method parameter {key!r} must be a whole "
                        f"number from {lo} to {hi}, got {v!r}")
    return v


def _tol(spec: AnalysisSpec, key: str, default: float) -> float:
    v = spec.params.get(key, default)
    if (isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v)
            or not 0 < v < 0.1):
        raise SpecError(f"{spec.name}: cohort_method parameter {key!r} must be a number "
                        f"strictly between 0 and 0.1, got {v!r}")
    return float(v)


def cm_params(spec: AnalysisSpec) -> CmParams:
    """The request's parameters, checked, with defaults filled in (SpecError otherwise)."""
    p = spec.params
    check_keys(spec, PARAMS)
    if not spec.comparator:
        raise SpecError(f"{spec.name}: cohort_method compares two cohorts; name the "
                        "'comparator'")
    one_outcome(spec, "cohort_method")
    population = population_param(spec)
    pop = p.get("population") or {}
    allowed = [c for c in population.columns if c not in OUTCOME_COLUMNS]
    default = [*(DEMOGRAPHIC_COLUMNS if population.demographics else ()),
               *(c.name for c in population.covariates)]
    covs = p.get("ps_covariates", default)
    if (not isinstance(covs, list | tuple) or not covs
            or not all(isinstance(c, str) for c in covs)):
        raise SpecError(f"{spec.name}: cohort_method parameter 'ps_covariates' must be a "
                        f"non-empty list of covariate columns, got {covs!r}")
    bad = [c for c in covs if c not in allowed]
    if bad:
        raise SpecError(f"{spec.name}: 'ps_covariates' names {bad}, which are not covariate "
                        f"columns of the population; available: {allowed}")
    strata = _int(spec, "number_of_strata", 5, 1, MAX_STRATA)
    if p.get("base_selection", "all") != "all":
        # with "target" or "comparator" the cut between two scores of the base group may
        # split the other group's scores, which counts alone cannot place exactly
        raise SpecError(f"{spec.name}: cohort_method parameter 'base_selection' must be "
                        f"'all' (strata from every person's score), got "
                        f"{p['base_selection']!r}")
    grid = _int(spec, "quantile_grid", 256, *GRID_RANGE)
    balance = p.get("balance", True)
    if not isinstance(balance, bool):
        raise SpecError(f"{spec.name}: cohort_method parameter 'balance' must be true or "
                        f"false, got {balance!r}")
    alpha = check_alpha(spec)
    ps_max_iter = _int(spec, "ps_max_iter", 25, 1, 1000)
    cox_max_iter = _int(spec, "cox_max_iter", 30, 1, 200)
    ps_tol, cox_tol = (_tol(spec, k, d) for k, d in (("ps_tol", 1e-10), ("cox_tol", 1e-9)))
    base = {"cohort": spec.cohort, "comparator": spec.comparator, "outcomes": spec.outcomes,
            "name": spec.name}
    ps_spec = AnalysisSpec(kind="glm", **base, params={
        "family": "binomial", "outcome_column": "treatment", "covariates": list(covs),
        "population": pop, "max_iter": ps_max_iter, "tol": ps_tol, "alpha": alpha})
    cox = {"covariates": ["treatment"], "ties": p.get("ties", "efron"),
           "population": pop, "time_bin_days": p.get("time_bin_days", 1),
           "max_iter": cox_max_iter, "tol": cox_tol, "alpha": alpha, "ph_test": None}
    unadjusted = AnalysisSpec(kind="cox", **base, params=cox)
    stratified = AnalysisSpec(kind="cox", **base, params={**cox, "strata": STRATUM})
    for sub in (ps_spec, unadjusted, stratified):
        try:
            (glm_params if sub.kind == "glm" else cox_params)(sub)
        except SpecError as exc:  # say which of this request's parameters is at fault
            raise SpecError(str(exc).replace(f" {sub.kind} parameter ", " parameter ")
                            ) from None
    return CmParams(population=population, covariates=tuple(covs), strata=strata, grid=grid,
                    balance=balance, alpha=alpha, ps_spec=ps_spec, unadjusted_spec=unadjusted,
                    stratified_spec=stratified)
