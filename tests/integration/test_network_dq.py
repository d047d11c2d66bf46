"""Data quality across a real network: the hub and three site agents on loopback, each
site holding a third of GiBleed. The pooled data-quality summary must equal the sum of
``run_checks`` on each site's own store, and a study requiring more data quality than the
sites have is refused at every site, with the reason visible in the study's result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from behindglass.analyses.requests import CohortCount, DataQuality
from behindglass.client import connect
from behindglass.core.cohort import Cohort
from behindglass.engine.duckdb_backend import DuckDBBackend
from behindglass.engine.quality import run_checks
from tests.integration.harness import MIN_CELL, SITES, Network

pytestmark = pytest.mark.integration

COUNTS = ("checks", "passed", "failed", "not_applicable", "errors")


def site_truth(db: Path) -> dict[str, Any]:
    with DuckDBBackend(db, read_only=True) as backend:
        report = run_checks(backend)
    return {"summary": report.summary(),
            "failed": {r.check.check_id: r for r in report.failed}}


def study(analyses: list[dict[str, Any]], requirement: dict[str, Any] | None = None,
          title: str = "data quality") -> dict[str, Any]:
    data: dict[str, Any] = {"title": title, "cohorts": {"all": Cohort.everyone().to_dict()},
                            "analyses": analyses}
    if requirement is not None:
        data["data_quality"] = requirement
    return data


DQ = {"kind": "data_quality", "name": "DQ", "cohort": "all", "params": {"detail": True}}
COUNT = {"kind": "cohort_count", "name": "Count", "cohort": "all"}


def run(network: Network, spec: dict[str, Any]) -> Any:
    net = connect(network.url, network.researcher)
    handle = net.submit(spec)
    handle.wait(timeout=120, progress=False)
    return handle.results()


def test_data_quality_across_three_real_sites(network: Network) -> None:
    result = run(network, study([DQ]))
    assert result.complete and result.refusals == []
    combined = result["DQ"].combined
    assert combined["sites"] == list(SITES)
    truths = {s: site_truth(network.dbs[s]) for s in SITES}
    for site in SITES:
        mine = {k: v for k, v in combined["per_site"][site].items() if k != "by_context"}
        assert mine == truths[site]["summary"], site
    for key in COUNTS:
        assert combined["network"][key] == sum(t["summary"][key] for t in truths.values()), key
    passed, failed = combined["network"]["passed"], combined["network"]["failed"]
    assert failed > 0
    assert combined["network"]["pct_passed"] == round(100.0 * passed / (passed + failed), 2)
    for cat, counts in combined["network"]["by_category"].items():
        for status, n in counts.items():
            assert n == sum(t["summary"]["by_category"].get(cat, {}).get(status, 0)
                            for t in truths.values()), (cat, status)
    # each listed failure is one every listing site really failed, with enough rows
    assert combined["failed_checks"]
    for entry in combined["failed_checks"]:
        assert entry["sites_failing"] == len(entry["sites"])
        for site in entry["sites"]:
            r = truths[site]["failed"][entry["check_id"]]
            assert r.check.name in ("cdmTable", "cdmField") or r.num_violated >= MIN_CELL
        expected = [s for s in SITES if entry["check_id"] in truths[s]["failed"]
                    and (truths[s]["failed"][entry["check_id"]].num_violated or 0) >= MIN_CELL]
        assert set(expected) <= set(entry["sites"])


def test_a_study_requiring_more_quality_than_the_sites_have_is_refused(
        network: Network) -> None:
    truths = {s: site_truth(network.dbs[s])["summary"] for s in SITES}
    assert all(50 <= t["pct_passed"] < 99.9 for t in truths.values())

    strict = run(network, study([COUNT, DQ], {"min_pct_passed": 99.9}, "strict"))
    assert strict.complete
    refusals = {(r.site, r.analysis): r.reason for r in strict.refusals}
    assert set(refusals) == {(s, a) for s in SITES for a in ("Count", "DQ")}
    for (site, _), reason in refusals.items():
        assert f"{truths[site]['pct_passed']:.2f}% of data-quality checks passed" in reason
        assert "requires at least 99.9%" in reason
    assert strict.raw.combined == {}
    assert all(not r.aggregates for r in strict.raw.releases)

    # the same through the SDK's builders
    draft = connect(network.url, network.researcher).study(
        "lenient", cohorts={"all": Cohort.everyone()}, data_quality={"min_pct_passed": 50})
    draft.add(CohortCount("all", name="Count")).add(DataQuality("all", detail=True, name="DQ"))
    lenient = draft.run(timeout=120, progress=False)
    assert lenient.complete and lenient.refusals == []
    assert lenient["Count"].sites == list(SITES) and lenient["DQ"].sites == list(SITES)
    assert lenient["DQ"].combined["network"]["checks"] == sum(t["checks"]
                                                              for t in truths.values())
