"""Running one task at a site: catalog analysis, site store, disclosure control.

For every analysis request in the task's study: look the kind up in the site's *own*
catalog, validate its parameters, run its local half on the site store; then apply the
site's suppression to all of the task's outputs at once (so no hidden cell of one can be
derived from another's tables), and check each result once more before it may leave. Anything that
goes wrong becomes a :class:`~behindglass.core.messages.Refusal` whose reason is built from
the spec and the policy only, never from an exception message of the store (a database
error can quote a value from a row).

When the study requires data quality (``StudySpec.data_quality``), the site runs its
data-quality checks once, before any analysis; below the required percent passed, every
analysis of the task is refused with a reason stating both percentages.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, cast

from behindglass.core.aggregates import NON_PERSON_KINDS, STATS_KINDS, SiteAggregate
from behindglass.core.canonical import digest
from behindglass.core.errors import DisclosureError, SpecError
from behindglass.core.messages import Refusal, Task
from behindglass.core.policy import DisclosurePolicy
from behindglass.core.sitedata import DqReportLike, SiteContext, SiteData
from behindglass.core.study import AnalysisSpec, DataQualityRequirement
from behindglass.privacy.linkage import Prior
from behindglass.site.scopes import by_members

log = logging.getLogger("behindglass.site")

Decision = Literal["run", "refuse"]


class SiteAnalysis(Protocol):
    """The two methods a site needs of a catalog entry."""

    def validate(self, spec: AnalysisSpec) -> None: ...

    def local(self, site: SiteContext, spec: AnalysisSpec) -> SiteAggregate: ...


Catalog = Callable[[str], SiteAnalysis]
# the site's suppression over the analyses of one release: each one's releasable form, or
# why it may not be released (privacy.suppression.enforce_release)
Enforce = Callable[[Sequence[SiteAggregate], DisclosurePolicy, Sequence[Prior]],
                   "list[SiteAggregate | DisclosureError]"]
# called as decide(analysis name, kind, "run" | "refuse", reason or None)
DecisionHook = Callable[[str, str, Decision, "str | None"], None]


class Guard(Protocol):
    """The site policy's checks around each analysis (see :mod:`behindglass.site.guard`)."""

    def before(self, task: Task, spec: AnalysisSpec, data: Any) -> str | None: ...

    def noise(self, task: Task, spec: AnalysisSpec,
              aggregate: SiteAggregate) -> SiteAggregate: ...

    def after(self, task: Task, aggregate: SiteAggregate) -> SiteAggregate: ...

    def recall(self, task: Task, cohorts: set[str]) -> list[Prior]: ...

    def remember(self, task: Task, spec: AnalysisSpec, raw: SiteAggregate,
                 released: SiteAggregate) -> None: ...


@dataclass
class Execution:
    """What a task produced: aggregates cleared for release and refusals with reasons."""

    aggregates: list[SiteAggregate] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)


def installed() -> tuple[Catalog, Enforce]:
    from behindglass.analyses.catalog import get_analysis
    from behindglass.privacy.suppression import enforce_release

    return get_analysis, enforce_release


def check_disclosable(agg: SiteAggregate, spec: AnalysisSpec, policy: DisclosurePolicy) -> None:
    """Last gate before release, whatever produced ``agg``: right label, no small counts.

    ``enforce`` should already guarantee this; checking again here means a bug in any
    analysis or in suppression is refused at the site instead of leaking. A table that is
    not of persons (so escapes the minimum cell) is accepted only from the kinds allowed to
    release that unit, so no analysis can pass person counts off as, say, checks.
    """
    if agg.analysis != spec.name or agg.kind != spec.kind:
        raise DisclosureError(
            f"{spec.name}: the analysis labelled its output {agg.analysis!r}/{agg.kind!r}; "
            "refused so nothing is released under a wrong name")
    if agg.stats and agg.kind not in STATS_KINDS:
        raise DisclosureError(
            f"{spec.name}: analyses of kind {agg.kind!r} may not release model statistics; "
            "refused")
    for table in agg.tables:
        if table.unit != "persons":
            if agg.kind not in NON_PERSON_KINDS.get(table.unit, frozenset()):
                raise DisclosureError(
                    f"{spec.name}: table {table.name!r} counts {table.unit}, which analyses "
                    f"of kind {agg.kind!r} may not release; refused")
            continue  # counts of checks, not persons: no minimum cell
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
    _log_failure_of(f"analysis {spec.name} ({spec.kind})", exc)


def _log_failure_of(what: str, exc: BaseException) -> None:
    # Code locations only: the exception's message could quote a value from the store.
    frames = traceback.extract_tb(exc.__traceback__)
    where = " <- ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}" for f in frames[::-1][:6])
    log.warning("%s failed: %s at %s", what, type(exc).__name__, where or "?")


class _QualityOnce:
    """The site's data, with each distinct data-quality run computed once per task: the
    study's requirement and any data_quality analysis with the same thresholds share one
    run of the checks (a few seconds on a real store)."""

    def __init__(self, data: SiteData) -> None:
        self._data = data
        self._reports: dict[tuple[tuple[str, float], ...], DqReportLike] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._data, name)

    def data_quality(self, thresholds: Mapping[str, float] | None = None) -> DqReportLike:
        key = tuple(sorted((thresholds or {}).items()))
        if key not in self._reports:
            self._reports[key] = self._data.data_quality(dict(key))
        return self._reports[key]


def quality_gate(required: DataQualityRequirement, data: SiteData) -> str | None:
    """Why the site may not run the study's analyses (None: it may).

    The reason states the site's percent passed and the minimum: counts of checks, never a
    row count or a value."""
    try:
        results = data.data_quality(required.thresholds).results
    except Exception as exc:
        _log_failure_of("data-quality requirement", exc)
        return (f"the study requires data quality, and the site could not run its "
                f"data-quality checks ({type(exc).__name__}); details are in the site's own "
                "log; no analysis was run")
    passed = sum(r.status == "pass" for r in results)
    failed = sum(r.status == "fail" for r in results)
    if passed + failed == 0:
        return (f"the study requires at least {required.min_pct_passed:g}% of data-quality "
                "checks passed; no check at this site passed or failed, so its percent "
                "passed is undefined; no analysis was run")
    pct = 100.0 * passed / (passed + failed)
    if pct >= required.min_pct_passed:
        return None
    # two decimals as in DQD, more when two would round up to the minimum itself
    shown = f"{pct:.2f}" if round(pct, 2) < required.min_pct_passed else f"{pct:.6f}"
    return (f"site data quality below the study's requirement: {shown}% of data-quality "
            f"checks passed ({passed} of {passed + failed}), the study requires at least "
            f"{required.min_pct_passed:g}%; no analysis was run")


def execute_task(task: Task, data: SiteData, policy: DisclosurePolicy, *,
                 catalog: Catalog | None = None, enforce: Enforce | None = None,
                 decide: DecisionHook | None = None,
                 caches: dict[str, dict[str, Any]] | None = None,
                 guard: Guard | None = None) -> Execution:
    """Run the analyses of ``task`` on ``data`` under ``policy``.

    Round 0 runs every analysis of the study; a later round (an iterative fit) runs only
    those the task names, each with the hub's state for it. ``caches`` holds, per analysis
    name, what an iterative analysis keeps at this site between the rounds of one study.
    ``guard`` applies the site policy beyond suppression: allowed analyses and limits and
    the differencing ledger before an analysis runs, rounding and differential privacy after.
    """
    caches = {} if caches is None else caches
    if catalog is None or enforce is None:
        default_catalog, default_enforce = installed()
        catalog = catalog or default_catalog
        enforce = enforce or default_enforce
    out = Execution()
    data = cast(SiteData, _QualityOnce(data))

    def refuse(spec: AnalysisSpec, reason: str) -> None:
        out.refusals.append(Refusal(analysis=spec.name, reason=reason))
        if decide:
            decide(spec.name, spec.kind, "refuse", reason)

    if task.study.data_quality is not None and task.round == 0:
        reason = quality_gate(task.study.data_quality, data)
        if reason is not None:
            for spec in task.study.analyses:
                refuse(spec, reason)
            return out
    wanted = task.analyses
    ran: list[tuple[AnalysisSpec, SiteAggregate]] = []
    for spec in task.study.analyses:
        if wanted is not None and spec.name not in wanted:
            continue
        try:
            analysis = catalog(spec.kind)
            analysis.validate(spec)
        except SpecError as exc:
            refuse(spec, str(exc))
            continue
        if guard is not None:
            try:
                reason = guard.before(task, spec, data)
            except Exception as exc:
                _log_failure(spec, exc)
                reason = _safe_reason(spec, exc)
            if reason is not None:
                refuse(spec, reason)
                continue
        if decide:
            decide(spec.name, spec.kind, "run", None)
        site = SiteContext(data=data, cohorts=task.study.cohorts, policy=policy,
                           state=task.states.get(spec.name),
                           cache=caches.setdefault(spec.name, {}))
        try:
            raw = analysis.local(site, spec)
            if guard is not None:
                raw = guard.noise(task, spec, raw)
        except Exception as exc:  # each analysis fails alone; the reason stays generic
            _refuse_failed(refuse, spec, exc)
            continue
        ran.append((spec, raw))
    raws, results = _suppress(ran, task, data, policy, enforce, guard)
    for (spec, _), raw, result in zip(ran, raws, results, strict=True):
        try:
            if isinstance(result, Exception):
                raise result
            released = result if guard is None else guard.after(task, result)
            check_disclosable(released, spec, policy)
            if guard is not None:  # before it leaves: a later study is checked against it
                guard.remember(task, spec, raw, result)
        except Exception as exc:
            _refuse_failed(refuse, spec, exc)
            continue
        out.aggregates.append(released)
    return out


def _suppress(ran: list[tuple[AnalysisSpec, SiteAggregate]], task: Task, data: SiteData,
              policy: DisclosurePolicy, enforce: Enforce, guard: Guard | None
              ) -> tuple[list[SiteAggregate], list[SiteAggregate | DisclosureError] |
                         list[Exception]]:
    """Suppression over every analysis at once, and the tables released earlier to the same
    researcher or study that count the same persons: a cell hidden in one cannot be read
    off another. Returns the outputs with their scopes by members, and each one's result.
    A failure of the step itself refuses every analysis (none is judged safe)."""
    raws = [raw for _, raw in ran]
    try:
        raws = by_members(raws, task.study.cohorts, getattr(data, "person_ids", None))
        cohorts = {t.scope.cohort for a in raws for t in a.tables if t.scope is not None}
        prior = guard.recall(task, cohorts) if guard is not None and cohorts else []
        return raws, enforce(raws, policy, prior)
    except Exception as exc:
        _log_failure_of("suppression across the analyses of the task", exc)
        return raws, [exc] * len(raws)


def _refuse_failed(refuse: Callable[[AnalysisSpec, str], None], spec: AnalysisSpec,
                   exc: BaseException) -> None:
    if not isinstance(exc, SpecError | DisclosureError):
        _log_failure(spec, exc)
    refuse(spec, _safe_reason(spec, exc))


def summarize(agg: SiteAggregate) -> dict[str, Any]:
    """Shape of a release for logs and the audit: names and cell tallies, no counts."""
    cells = [c for t in agg.tables for c in t.cells]
    return {"analysis": agg.analysis, "kind": agg.kind, "tables": len(agg.tables),
            "cells": len(cells), "suppressed": sum(c.suppressed for c in cells),
            "digest": digest(agg.model_dump(mode="json"))}
