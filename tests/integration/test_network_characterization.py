"""Covariates with SMDs and incidence rates as federated analyses on a real network.

The hub and three site agents (GiBleed split by ``person_id % 3``, min cell 11) run a study
of celecoxib vs diclofenac new users (covariates and SMDs) and of GI bleed incidence in
celecoxib new users. Every pooled number the sites released whole must equal the same
analysis run on the undivided database; no count below 11 may appear in what left a site.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import pytest

from behindglass.analyses.catalog import get_analysis
from behindglass.analyses.requests import Covariates, Incidence
from behindglass.client import connect
from behindglass.core.cohort import Cohort
from behindglass.core.messages import Task
from behindglass.core.policy import DisclosurePolicy
from behindglass.core.study import StudySpec
from behindglass.engine.site_store import SiteStore
from behindglass.site.execute import execute_task
from tests.integration.harness import MIN_CELL, SITES, Network

pytestmark = pytest.mark.integration

COHORTS = {"celecoxib": Cohort.drug(1118084), "diclofenac": Cohort.drug(1124300),
           "gi_bleed": Cohort.condition(192671)}
REQUESTS = (
    Covariates("celecoxib", comparator="diclofenac", windows=[[None, 0]],
               domains=["condition_occurrence"], count_domains=["visit_occurrence"],
               name="Covariates"),
    Incidence("celecoxib", ["gi_bleed"], washout_days=99999, name="Incidence", tars=[
        {"start_offset": 0, "start_anchor": "start", "end_offset": 365, "end_anchor": "start"},
        {"start_offset": 0, "start_anchor": "start", "end_offset": 0, "end_anchor": "end"}]),
)
MEASURES = ("persons_at_risk", "persons_with_outcome", "outcomes", "person_days")


def on_whole_database(full: Path, study: StudySpec) -> dict[str, dict[str, Any]]:
    """Each analysis run by one site holding every person, min cell 1, then combined."""
    task = Task(task_id="t", study_id="s", site="all", researcher="r", study=study,
                created=dt.datetime.now(dt.UTC))
    with SiteStore.open(full) as data:
        done = execute_task(task, data, DisclosurePolicy(min_cell=1))
    assert done.refusals == []
    specs = {a.name: a for a in study.analyses}
    return {agg.analysis: get_analysis(agg.kind).combine(specs[agg.analysis], [("all", agg)])
            for agg in done.aggregates}


def site_numbers(value: Any) -> list[int]:
    """The person counts in one site's entry of a combined row."""
    if isinstance(value, int):
        return [value]
    if isinstance(value, dict):  # continuous covariate {n, mean, sd}; incidence measures
        return [x for k, x in value.items() if k in ("n", *MEASURES) and isinstance(x, int)]
    return []  # "suppressed" or None


def small_numbers(node: Any, where: str = "") -> list[str]:
    """Where a site's number below MIN_CELL shows in a combined result.

    A per-site plain 0 is the hub's inference for a category missing from a breakdown of a
    released total, not something a site released; a pooled ``count`` is 0 only when every
    site suppressed the row.
    """
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{where}.{key}"
            if key == "sites" and isinstance(value, dict):
                found += [f"{here}.{site}={x}" for site, v in value.items()
                          for x in site_numbers(v)
                          if x < MIN_CELL and not (x == 0 and isinstance(v, int))]
            elif key == "count" and isinstance(value, int) and 0 < value < MIN_CELL:
                found.append(f"{here}={value}")
            else:
                found += small_numbers(value, here)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += small_numbers(value, f"{where}[{i}]")
    return found


def released_counts(payload: Any) -> list[int]:
    if isinstance(payload, dict):
        out = [payload["count"]] if isinstance(payload.get("count"), int) else []
        return out + [c for v in payload.values() for c in released_counts(v)]
    if isinstance(payload, list):
        return [c for v in payload for c in released_counts(v)]
    return []


@pytest.fixture(scope="module")
def run(network: Network) -> tuple[Any, dict[str, dict[str, Any]]]:
    net = connect(network.url, network.researcher)
    draft = net.study("celecoxib vs diclofenac: covariates and GI bleed", cohorts=COHORTS)
    for request in REQUESTS:
        draft.add(request)
    started = time.perf_counter()
    result = draft.run(timeout=60, progress=False)
    print(f"\ncovariates + incidence study round-trip: {time.perf_counter() - started:.1f} s")
    assert result.complete and result.refusals == []
    full = network.dbs["site-a"].parent / "full.duckdb"
    return result, on_whole_database(full, draft.spec)


def test_covariates_and_smd_equal_the_whole_database(run: tuple[Any, dict]) -> None:
    result, whole = run
    cov = result["Covariates"].combined
    assert cov["kind"] == "covariates" and cov["sites"] == list(SITES)
    assert (cov["target"]["cohort"], cov["comparator"]["cohort"]) == ("celecoxib", "diclofenac")
    for role in ("target", "comparator"):
        pooled, truth = cov[role], whole["Covariates"][role]
        assert pooled["persons"]["complete"]
        assert pooled["persons"]["count"] == truth["persons"]["count"] > 800
        true_binary = {r["covariate_id"]: r for r in truth["binary"]}
        complete = [r for r in pooled["binary"] if r["complete"]]
        assert len(complete) > 30
        for row in complete:
            assert row["count"] == true_binary[row["covariate_id"]]["count"], row
        true_cont = {r["covariate_id"]: r for r in truth["continuous"]}
        for row in pooled["continuous"]:
            if row["complete"]:
                t = true_cont[row["covariate_id"]]
                assert (row["n"], row["sum"], row["sum_sq"]) == (t["n"], t["sum"], t["sum_sq"])
    true_smd = {r["covariate_id"]: r for r in whole["Covariates"]["smd"]}
    exact = [r for r in cov["smd"] if r["complete"]]
    assert len(exact) > 20
    for row in exact:
        true = true_smd[row["covariate_id"]]["smd"]  # None: no spread in either cohort
        assert row["smd"] == (None if true is None else pytest.approx(true, rel=1e-9)), row
    # what tells these new users apart on GiBleed: peptic ulcer any time before
    ulcer = next(r for r in cov["smd"] if r["covariate_id"] == 4027663 * 1000 + 101)
    assert ulcer["complete"] and ulcer["smd"] > 0.3


def test_incidence_equals_the_whole_database(run: tuple[Any, dict]) -> None:
    result, whole = run
    ir = result["Incidence"].combined
    assert ir["target"] == "celecoxib" and ir["outcomes"] == ["gi_bleed"]
    truth = {(r["tar"], r["stratum"], r["value"]): r for r in whole["Incidence"]["rows"]}
    complete = [r for r in ir["rows"] if r["complete"]]
    assert {r["tar"] for r in complete if r["stratum"] == "all"} == {
        "start+0..start+365", "start+0..end+0"}
    for row in complete:
        assert (row["target"], row["outcome"]) == ("celecoxib", "gi_bleed")
        t = truth[(row["tar"], row["stratum"], row["value"])]
        assert {m: row[m] for m in MEASURES} == {m: t[m] for m in MEASURES}, row
        assert row["incidence_rate_per_1000py"] == pytest.approx(
            t["incidence_rate_per_1000py"], rel=1e-12)
    year = next(r for r in complete if (r["tar"], r["stratum"]) == ("start+0..start+365", "all"))
    assert year["outcomes"] > 100 and year["ci_lower"] < year["incidence_rate_per_1000py"]


def test_nothing_below_the_minimum_cell_left_a_site(run: tuple[Any, dict]) -> None:
    result, _ = run
    payload = result.to_dict()
    counts = released_counts(payload["releases"])
    assert counts and min(counts) >= MIN_CELL
    assert small_numbers(payload["combined"]) == []
    # ...and the check has teeth: run on the whole database at min cell 1, it finds some
    _, whole = run
    assert small_numbers(whole)
