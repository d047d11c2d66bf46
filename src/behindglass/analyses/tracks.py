"""Catalog analyses run as *tracks* inside another analysis' rounds.

A composite analysis (a comparative study: a propensity model, then Cox models) fits
several existing iterative analyses side by side, each by its own site and hub halves and
with its own disclosure rules. At the site, each track is handed the study population the
composite built once, through a stand-in store, and keeps its own cache; what it releases
goes out inside the composite's release with its table and block names prefixed
``"<track>/"``. At the hub, :func:`unwrap` strips the prefix so the track's own ``step``
and ``combine`` see exactly the aggregates they would have seen alone.
"""

from __future__ import annotations

from typing import Any, cast

import pandas as pd

from behindglass.core.aggregates import CountTable, SiteAggregate, StatsBlock
from behindglass.core.cohort import Cohort
from behindglass.core.population import PopulationSettings
from behindglass.core.sitedata import SiteContext, SiteData

Parts = tuple[list[CountTable], list[StatsBlock], list[str]]


class FrameStore:
    """A stand-in store whose study population is a frame built already (whatever cohorts
    and settings are asked for: the composite built it from the same request)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame

    def population(self, target: Cohort, comparator: Cohort | None, outcome: Cohort,
                   settings: PopulationSettings) -> pd.DataFrame:
        return self.frame


def context(site: SiteContext, frame: pd.DataFrame, track: str,
            state: dict[str, Any]) -> SiteContext:
    """The track's own view of the site: the frame, this round's track state, and a cache
    of its own inside the composite's."""
    return SiteContext(data=cast(SiteData, FrameStore(frame)), cohorts=site.cohorts,
                       policy=site.policy, state=state,
                       cache=site.cache.setdefault(f"track:{track}", {}))


def wrap(track: str, agg: SiteAggregate) -> Parts:
    """A track's release as tables, blocks and notes named for the composite's."""
    pre = f"{track}/"
    tables = [t.model_copy(update={"name": pre + t.name,
                                   "margin": pre + t.margin if t.margin else None})
              for t in agg.tables]
    blocks = [b.model_copy(update={"name": pre + b.name}) for b in agg.stats]
    return tables, blocks, [f"{track}: {n}" for n in agg.notes]


def unwrap(track: str, kind: str, releases: list[tuple[str, SiteAggregate]]
           ) -> list[tuple[str, SiteAggregate]]:
    """Each site's release of one track, as that track's own analysis released it."""
    pre = f"{track}/"
    out = []
    for site, agg in releases:
        tables = tuple(t.model_copy(update={
            "name": t.name.removeprefix(pre),
            "margin": t.margin.removeprefix(pre) if t.margin else None})
            for t in agg.tables if t.name.startswith(pre))
        blocks = tuple(b.model_copy(update={"name": b.name.removeprefix(pre)})
                       for b in agg.stats if b.name.startswith(pre))
        out.append((site, SiteAggregate(analysis=agg.analysis, kind=kind, tables=tables,
                                        stats=blocks)))
    return out
