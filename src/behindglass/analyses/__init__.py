"""The analysis catalog and the request builders researchers use.

>>> import behindglass as bg
>>> bg.analyses.Characterize("t2d", by=["sex", "age_band"]).to_spec().kind
'characterize'
"""

from behindglass.analyses.catalog import CATALOG, get_analysis
from behindglass.analyses.requests import (
    Characterize,
    CohortCount,
    CohortMethod,
    Contingency,
    Covariates,
    Cox,
    DataQuality,
    Descriptive,
    Glm,
    Incidence,
    KaplanMeier,
)

__all__ = ["CATALOG", "Characterize", "CohortCount", "CohortMethod", "Contingency",
           "Covariates", "Cox", "DataQuality", "Descriptive", "Glm", "Incidence",
           "KaplanMeier", "get_analysis"]
