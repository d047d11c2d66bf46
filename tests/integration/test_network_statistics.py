"""Rate ratios, contingency tables and descriptive statistics on a real network.

The hub and three site agents (GiBleed split by ``person_id % 3``, min cell 11) run one study:
GI bleed incidence in celecoxib vs diclofenac new users with rate ratios, a treatment x
outcome table of their study population, a sex x GI-bleed table of the celecoxib users, and
the age and follow-up of the celecoxib users. Each pooled answer must equal the same
analysis run on the undivided database (means and SDs to 1e-10), and nothing below the
minimum cell may have left a site.
"""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

from behindglass.analyses.requests import Contingency, Descriptive, Incidence
from behindglass.client import connect
from behindglass.core.cohort import Cohort
from tests.integration.harness import MIN_CELL, SITES, Network
from tests.integration.test_network_characterization import on_whole_database

pytestmark = pytest.mark.integration

COHORTS = {"celecoxib": Cohort.drug(1118084), "diclofenac": Cohort.drug(1124300),
           "gi_bleed": Cohort.condition(192671)}
YEAR = {"start_offset": 0, "start_anchor": "start", "end_offset": 365, "end_anchor": "start"}
POPULATION = {"risk_window_end": 365, "end_anchor": "cohort start"}
REQUESTS = (
    Incidence("celecoxib", "gi_bleed", comparator="diclofenac", tars=[YEAR],
              rate_ratios={"reference": {"sex": "female"}}, name="IRR"),
    Contingency("celecoxib", "treatment", "outcome", outcomes=["gi_bleed"],
                comparator="diclofenac", population=POPULATION, name="TreatmentByOutcome"),
    Contingency("celecoxib", "sex", "cohort:gi_bleed", outcomes=["gi_bleed"],
                name="SexByBleed"),
    Descriptive("celecoxib", variables=[{"variable": "age"},
                                        {"variable": "post_observation_days"}],
                quantiles=[0.5], name="Describe"),
)


@pytest.fixture(scope="module")
def run(network: Network) -> tuple[Any, dict[str, dict[str, Any]]]:
    net = connect(network.url, network.researcher)
    draft = net.study("celecoxib vs diclofenac: statistics", cohorts=COHORTS)
    for request in REQUESTS:
        draft.add(request)
    started = time.perf_counter()
    result = draft.run(timeout=60, progress=False)
    print(f"\nstatistics study round-trip: {time.perf_counter() - started:.1f} s")
    assert result.complete
    assert result.refusals == []
    full = network.dbs["site-a"].parent / "full.duckdb"
    return result, on_whole_database(full, draft.spec)


def test_rate_ratios_equal_the_whole_database(run):
    result, whole = run
    got = {(r["contrast"], r["target"], r["value"]): r
           for r in result["IRR"].combined["rate_ratios"]}
    truth = {(r["contrast"], r["target"], r["value"]): r for r in whole["IRR"]["rate_ratios"]}
    for key in [("target_vs_comparator", "celecoxib", "all"),
                ("target_vs_comparator", "celecoxib", "male"),
                ("stratum", "celecoxib", "male"), ("stratum", "diclofenac", "male")]:
        g, t = got[key], truth[key]
        assert g["computable"], g
        for k in ("outcomes", "person_days", "ref_outcomes", "ref_person_days"):
            assert g[k] == t[k]
        for k in ("irr", "ci_lower", "ci_upper", "p_value"):
            assert math.isclose(g[k], t[k], rel_tol=1e-12)
    overall = got[("target_vs_comparator", "celecoxib", "all")]
    assert overall["ci_lower"] > 1  # celecoxib users bleed more often in GiBleed


@pytest.mark.parametrize("name", ["TreatmentByOutcome", "SexByBleed"])
def test_contingency_tables_equal_the_whole_database(run, name):
    result, whole = run
    got, truth = result[name].combined, whole[name]
    assert got["complete"] and got["sites"] == list(SITES)
    assert (got["row_levels"], got["col_levels"], got["counts"]) == (
        truth["row_levels"], truth["col_levels"], truth["counts"])
    for test in ("chi_square", "fisher"):
        assert got[test] == truth[test]


def test_descriptive_statistics_equal_the_whole_database(run):
    result, whole = run
    got, truth = result["Describe"].combined, whole["Describe"]
    for name in ("age", "post_observation_days"):
        g, t = got["variables"][name], truth["variables"][name]
        assert g["complete"] and g["n"] == t["n"] > 1000
        assert math.isclose(g["mean"], t["mean"], rel_tol=1e-10)
        assert math.isclose(g["sd"], t["sd"], rel_tol=1e-10)


def test_nothing_below_the_minimum_cell_left_a_site(run):
    result, _ = run
    for release in result.raw.releases:
        for agg in release.aggregates:
            counts = [c.count for t in agg.tables for c in t.cells if c.count is not None]
            assert not counts or min(counts) >= MIN_CELL, agg.analysis
