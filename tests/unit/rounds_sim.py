"""Iterative analyses fitted in-process, round by round, as a hub and its sites would:
each site's half through the real release path (``enforce``, ``check_disclosable``, JSON
on the wire), the hub's ``step`` on what came back, its state through JSON too."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from behindglass.analyses.catalog import get_analysis
from behindglass.core.aggregates import SiteAggregate
from behindglass.core.cohort import Cohort
from behindglass.core.policy import DisclosurePolicy
from behindglass.core.sitedata import SiteContext, SiteData
from behindglass.core.study import AnalysisSpec
from behindglass.privacy.suppression import enforce
from behindglass.site.execute import check_disclosable

Meddle = Callable[[int, dict[str, Any]], dict[str, Any]]


def release(agg: SiteAggregate, spec: AnalysisSpec, policy: DisclosurePolicy
            ) -> SiteAggregate:
    """The site's release path and the wire."""
    out = enforce(agg, policy)
    check_disclosable(out, spec, policy)
    return SiteAggregate.model_validate_json(out.model_dump_json())


def fit_in_rounds(spec: AnalysisSpec, stores: Mapping[str, SiteData],
                  cohorts: Mapping[str, Cohort], min_cell: int, meddle: Meddle | None = None,
                  max_rounds: int = 200
                  ) -> tuple[dict[str, Any], int, list[tuple[str, SiteAggregate]]]:
    """(combined result, rounds, the last round's releases) of ``spec`` over ``stores``."""
    analysis: Any = get_analysis(spec.kind)
    assert analysis.iterative
    analysis.validate(spec)
    policy = DisclosurePolicy(min_cell=min_cell)
    caches: dict[str, dict[str, Any]] = {s: {} for s in stores}
    state = json.loads(json.dumps(analysis.start(spec)))
    rounds = 0
    while True:
        rounds += 1
        releases = []
        for s, data in stores.items():
            ctx = SiteContext(data=data, cohorts=cohorts, policy=policy, state=state,
                              cache=caches[s])
            releases.append((s, release(analysis.local(ctx, spec), spec, policy)))
        state, done = analysis.step(spec, state, releases)
        state = json.loads(json.dumps(state))  # the hub's state travels as JSON
        if meddle is not None:
            state = meddle(rounds, state)
        if done:
            break
        assert rounds < max_rounds
    result = analysis.combine(spec, releases, state)
    json.dumps(result)
    return result, rounds, releases
