"""Iterative analyses at the hub: a model fitted over rounds of tasks.

An analysis whose catalog entry has ``iterative = True`` (a GLM or a Cox model fitted by
Newton steps) is not finished by one release per site. The hub keeps a *fit* per such
analysis: its state (e.g. the current coefficients), the round whose releases it awaits,
and the sites taking part. When every task of a round is settled, :func:`advance_fit`
feeds that round's releases to the analysis's ``step``, which returns the next state and
whether the fit is finished; an unfinished fit sends a new task to the same sites.

Exactness needs every site that took part in round 0 in every later round: a site that
refuses or fails later ends the fit with an error naming it, instead of an answer that is
silently no longer the pooled one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from behindglass.core.aggregates import SiteAggregate
from behindglass.core.errors import BehindGlassError
from behindglass.core.messages import Release
from behindglass.core.study import AnalysisSpec, StudySpec

log = logging.getLogger("behindglass.hub")


class IterativeAnalysis(Protocol):
    """The hub's view of an iterative catalog entry."""

    iterative: bool

    def start(self, spec: AnalysisSpec) -> dict[str, Any]: ...

    def step(self, spec: AnalysisSpec, state: dict[str, Any],
             releases: list[tuple[str, SiteAggregate]]) -> tuple[dict[str, Any], bool]: ...

    def combine(self, spec: AnalysisSpec, releases: list[tuple[str, SiteAggregate]],
                state: dict[str, Any]) -> dict[str, Any]: ...


Lookup = Callable[[str], Any]


def is_iterative(analysis: object) -> bool:
    return bool(getattr(analysis, "iterative", False))


def initial_states(spec: StudySpec, catalog: Lookup) -> dict[str, dict[str, Any]]:
    """Round-0 state of every iterative analysis of ``spec``, by analysis name."""
    return {a.name: catalog(a.kind).start(a) for a in spec.analyses
            if is_iterative(catalog(a.kind))}


@dataclass
class Fit:
    """One iterative analysis of one study, as the hub stores it."""

    analysis: str
    round: int  # the round whose releases the fit awaits (or, when done, was fitted from)
    state: dict[str, Any]
    done: bool = False
    sites: list[str] = field(default_factory=list)  # who takes part (set after round 0)
    error: str | None = None


def _withdrawn(fit: Fit, releases: list[Release], released: list[str]) -> str:
    missing = sorted(set(fit.sites) - set(released))
    reasons = []
    for r in releases:
        if r.site in missing:
            why = r.error or next((x.reason for x in r.refusals if x.analysis == fit.analysis),
                                  "released nothing for it")
            reasons.append(f"{r.site}: {why}")
    return (f"{', '.join(missing)} stopped taking part in round {fit.round}, so the fit "
            f"could no longer equal the pooled one; {'; '.join(reasons) or 'no release'}")


def advance_fit(fit: Fit, spec: AnalysisSpec, releases: list[Release],
                catalog: Lookup) -> Fit:
    """Feed round ``fit.round``'s releases to the analysis; the updated fit."""
    pairs = [(r.site, agg) for r in releases for agg in r.aggregates
             if agg.analysis == fit.analysis]
    released = [site for site, _ in pairs]
    if fit.round == 0:
        fit.sites = released
    elif set(released) != set(fit.sites):
        fit.done, fit.error = True, _withdrawn(fit, releases, released)
        return fit
    if not pairs:
        fit.done, fit.error = True, "no site released this analysis"
        return fit
    try:
        state, done = catalog(spec.kind).step(spec, fit.state, pairs)
    except BehindGlassError as exc:
        fit.done, fit.error = True, str(exc)
        return fit
    except Exception as exc:  # a bug in one analysis must not stop the study
        log.exception("step failed for %s", fit.analysis)
        fit.done, fit.error = True, f"the hub could not fit this analysis ({type(exc).__name__})"
        return fit
    fit.state, fit.done = state, done
    if not done:
        fit.round += 1
    return fit
