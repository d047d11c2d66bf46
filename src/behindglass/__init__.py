"""behindglass: a Data Behind Glass clinical data network.

Analyses travel to the data; only aggregates that passed each site's disclosure rules come
back. The public API is what this module exports; everything else is private.

>>> import behindglass as bg
>>> t2d = bg.Cohort.condition(201826).age_between(18, 75)
>>> t2d.to_dict()["concepts"]
{'concept_ids': [201826]}
"""

from behindglass import analyses
from behindglass.client.local_network import LocalNetwork
from behindglass.client.network import Network, StudyDraft, StudyHandle, connect
from behindglass.client.results import AnalysisResult, StudyResult
from behindglass.core.cohort import Cohort, ConceptSet
from behindglass.core.errors import (
    AuthError,
    BehindGlassError,
    DisclosureError,
    EngineError,
    LoadError,
    NetworkError,
    NotFoundError,
    SpecError,
)
from behindglass.core.policy import DisclosurePolicy
from behindglass.core.study import AnalysisSpec, StudySpec

__version__ = "0.1.0"

__all__ = [
    "AnalysisResult",
    "AnalysisSpec",
    "AuthError",
    "BehindGlassError",
    "Cohort",
    "ConceptSet",
    "DisclosureError",
    "DisclosurePolicy",
    "EngineError",
    "LoadError",
    "LocalNetwork",
    "Network",
    "NetworkError",
    "NotFoundError",
    "SpecError",
    "StudyDraft",
    "StudyHandle",
    "StudyResult",
    "StudySpec",
    "__version__",
    "analyses",
    "connect",
]
