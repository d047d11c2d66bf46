"""Characterization of OHDSI cohort tables at a site: covariates and incidence rates.

Everything here runs on the site's store through a :class:`~behindglass.engine.backend.Backend`
and returns per-site counts and sums, before disclosure control. The release halves
(disclosure-aware :class:`~behindglass.core.aggregates.SiteAggregate` s) and the exact
pooling live in :mod:`behindglass.analyses.covariates` and
:mod:`behindglass.analyses.incidence`.
"""

from behindglass.engine.characterization.covariates import (
    BinaryCovariate,
    CohortCovariates,
    ContinuousCovariate,
    CovariateSettings,
    compute_covariates,
)
from behindglass.engine.characterization.incidence import (
    IncidenceRow,
    TimeAtRisk,
    compute_incidence,
)
from behindglass.engine.characterization.members import DEFAULT_WINDOWS, Window

__all__ = [
    "DEFAULT_WINDOWS", "BinaryCovariate", "CohortCovariates", "ContinuousCovariate",
    "CovariateSettings", "IncidenceRow", "TimeAtRisk", "Window", "compute_covariates",
    "compute_incidence",
]
