"""Combining one analysis over what the sites released: the step the hub takes for every
study and the researcher's SDK takes for a sealed one, so both give the same answer.

An analysis no site released is ``None`` (left out of the results); one whose combine
fails carries an ``error`` instead of tables, so one broken analysis does not hide the
others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from behindglass.core.errors import BehindGlassError
from behindglass.core.messages import Release
from behindglass.core.study import AnalysisSpec

log = logging.getLogger("behindglass.analyses")


def combine_released(analysis: AnalysisSpec, releases: Iterable[Release],
                     catalog: Callable[[str], Any], *, round_: int = 0,
                     state: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """``analysis`` combined over its aggregates of round ``round_``; an iterative
    analysis's combine also takes the hub's final ``state``."""
    pairs = [(release.site, agg) for release in releases if release.round == round_
             for agg in release.aggregates if agg.analysis == analysis.name]
    if not pairs:
        return None
    head = {"kind": analysis.kind, "analysis": analysis.name}
    try:
        entry = catalog(analysis.kind)
        return (entry.combine(analysis, pairs, state) if state is not None
                else entry.combine(analysis, pairs))
    except BehindGlassError as exc:
        return {**head, "error": str(exc)}
    except Exception as exc:  # a bug in one analysis must not take down the results
        log.exception("combine failed for %s", analysis.name)
        return {**head, "error": f"combine failed ({type(exc).__name__})"}
