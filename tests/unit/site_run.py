"""One analysis request through a site's whole path (catalog, store, disclosure control)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path

from behindglass.core.aggregates import SiteAggregate
from behindglass.core.cohort import Cohort
from behindglass.core.messages import Task
from behindglass.core.policy import DisclosurePolicy
from behindglass.core.study import AnalysisSpec, StudySpec
from behindglass.engine.site_store import SiteStore
from behindglass.site.execute import execute_task


def run_at(db: Path, spec: AnalysisSpec, min_cell: int,
           cohorts: Mapping[str, Cohort]) -> SiteAggregate:
    """The site's release of ``spec`` on ``db``; fails on any refusal."""
    study = StudySpec(title="t", cohorts=dict(cohorts), analyses=(spec,))
    task = Task(task_id="t", study_id="s", site="x", researcher="r", study=study,
                created=dt.datetime.now(dt.UTC))
    with SiteStore.open(db) as data:
        done = execute_task(task, data, DisclosurePolicy(min_cell=min_cell))
    assert done.refusals == []
    (agg,) = done.aggregates
    return agg
