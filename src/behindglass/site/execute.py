"""Running one task at a site: catalog analysis, site store, disclosure control.

For every analysis request in the task's study: look the kind up in the site's *own*
catalog, validate its parameters, run its local half on the site store, apply the site's
disclosure policy, then check the result once more before it may leave. Anything that
goes wrong becomes a :class:`~behindglass.core.messages.Refusal` whose reason is built from
the spec and the policy only, never from an exception message of the store (a database
error can quote a value from a row).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from behindglass.core.aggregates import SiteAggregate
from behindglass.core.cohort import Cohort
from behindglass.core.errors import DisclosureError, SpecError
from behindglass.core.messages import Refusal, Task
from behindglass.core.policy import DisclosurePolicy
from behindglass.core.sitedata import SiteData
from behindglass.core.study import AnalysisSpec

log = logging.getLogger("behindglass.site")

Decision = Literal["run", "refuse"]


class SiteAnalysis(Protocol):
    """The two methods a site needs of a catalog entry."""

    def validate(self, spec: AnalysisSpec) -> None: ...

    def local(self, data: SiteData, cohort: Cohort, spec: AnalysisSpec) -> SiteAggregate: ...


Catalog = Callable[[str], SiteAnalysis]
Enforce = Callable[[SiteAggregate, DisclosurePolicy], SiteAggregate]
# called as decide(analysis name, kind, "run" | "refuse", reason or None)
DecisionHook = Callable[[str, str, Decision, "str | None"], None]


@dataclass
class Execution:
    """What a task produced: aggregates cleared for release and refusals with reasons."""

    aggregates: list[SiteAggregate] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)


def installed() -> tuple[Catalog, Enforce]:
    from behindglass.analyses.catalog import get_analysis
    from behindglass.privacy.suppression import enforce

    return get_analysis, enforce


def check_disclosable(agg: SiteAggregate, spec: AnalysisSpec, policy: DisclosurePolicy) -> None:
    """Last gate before release, whatever produced ``agg``: right label, no small counts.

    ``enforce`` should already guarantee this; checking again here means a bug in any
    analysis or in suppression is refused at the site instead of leaking.
    """
    if agg.analysis != spec.name or agg.kind != spec.kind:
        raise DisclosureError(
            f"{spec.name}: the analysis labelled its output {agg.analysis!r}/{agg.kind!r}; "
            "refused so nothing is released under a wrong name")
    for table in agg.tables:
        for cell in table.cells:
            if cell.count is not None and cell.count < policy.min_cell:
                # the message names the table only; the count itself must not travel
                raise DisclosureError(
                    f"{spec.name}: table {table.name!r} still held a count below "
                    f"{policy.min_cell} after disclosure control; refused")


def _safe_reason(spec: AnalysisSpec, exc: BaseException) -> str:
    """A refusal reason that cannot carry row data."""
    if isinstance(exc, SpecError | DisclosureError):
        return str(exc)  # built from the spec and the policy
    return (f"{spec.name}: the site could not compute this analysis "
            f"({type(exc).__name__}); details are in the site's own log")


def _log_failure(spec: AnalysisSpec, exc: BaseException) -> None:
    # Code locations only: the exception's message could quote a value from the store.
    frames = traceback.extract_tb(exc.__traceback__)
    where = " <- ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}" for f in frames[::-1][:6])
    log.warning("analysis %s (%s) failed: %s at %s", spec.name, spec.kind,
                type(exc).__name__, where or "?")


def execute_task(task: Task, data: SiteData, policy: DisclosurePolicy, *,
                 catalog: Catalog | None = None, enforce: Enforce | None = None,
                 decide: DecisionHook | None = None) -> Execution:
    """Run every analysis of ``task`` on ``data`` under ``policy``."""
    if catalog is None or enforce is None:
        default_catalog, default_enforce = installed()
        catalog = catalog or default_catalog
        enforce = enforce or default_enforce
    out = Execution()

    def refuse(spec: AnalysisSpec, reason: str) -> None:
        out.refusals.append(Refusal(analysis=spec.name, reason=reason))
        if decide:
            decide(spec.name, spec.kind, "refuse", reason)

    for spec in task.study.analyses:
        try:
            analysis = catalog(spec.kind)
            analysis.validate(spec)
        except SpecError as exc:
            refuse(spec, str(exc))
            continue
        if decide:
            decide(spec.name, spec.kind, "run", None)
        cohort = task.study.cohorts[spec.cohort]
        try:
            raw = analysis.local(data, cohort, spec)
            released = enforce(raw, policy)
            check_disclosable(released, spec, policy)
        except Exception as exc:  # each analysis fails alone; the reason stays generic
            if not isinstance(exc, SpecError | DisclosureError):
                _log_failure(spec, exc)
            refuse(spec, _safe_reason(spec, exc))
            continue
        out.aggregates.append(released)
    return out


def summarize(agg: SiteAggregate) -> dict[str, Any]:
    """Shape of a release for logs and the audit: names and cell tallies, no counts."""
    cells = [c for t in agg.tables for c in t.cells]
    return {"analysis": agg.analysis, "kind": agg.kind, "tables": len(agg.tables),
            "cells": len(cells), "suppressed": sum(c.suppressed for c in cells)}
