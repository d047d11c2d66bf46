"""Data quality of a site's OMOP CDM store: DataQualityDashboard-style checks with
thresholds, and an Achilles-style profile, both summarised as releasable aggregates.

>>> report = run_checks(backend)                      # every check of the catalog
>>> report.profile = profile_store(backend, min_cell=11)
>>> payload = report.to_dict(min_cell=11)              # counts below 11 suppressed
"""

from behindglass.engine.quality.checks import Check, catalog
from behindglass.engine.quality.profile import profile_store
from behindglass.engine.quality.report import (
    ERROR,
    FAIL,
    NOT_APPLICABLE,
    PASS,
    CheckResult,
    DqReport,
)
from behindglass.engine.quality.run import run_checks
from behindglass.engine.quality.thresholds import Thresholds

__all__ = [
    "ERROR", "FAIL", "NOT_APPLICABLE", "PASS", "Check", "CheckResult", "DqReport",
    "Thresholds", "catalog", "profile_store", "run_checks",
]
