"""behindglass.client: the researcher SDK.

``connect(url, token)`` gives a :class:`Network`; draft a study with ``net.study(...)``,
``.add()`` analysis requests, ``.run()`` it, and read :class:`StudyResult` /
:class:`AnalysisResult` objects.
"""

from behindglass.client.network import (
    Network,
    StudyDraft,
    StudyHandle,
    StudyTimeoutError,
    connect,
)
from behindglass.client.results import AnalysisResult, SiteRefusal, StudyResult

__all__ = [
    "AnalysisResult",
    "Network",
    "SiteRefusal",
    "StudyDraft",
    "StudyHandle",
    "StudyResult",
    "StudyTimeoutError",
    "connect",
]
