"""``behindglass study run STUDY.json --sites NAME=DB,... --json``: a whole study on a local
network (a real hub and site agents on loopback, started and stopped for the run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from behindglass.cli.main import cli
from tests.integration.harness import DATA, SITES, study_run

pytestmark = pytest.mark.integration

MALE = DATA / "ohdsi-cohort-definitions" / "cdmconnector" / "example_cohorts" / "GIBleed_male.json"


def test_study_run_prints_the_combined_result(site_dbs: dict[str, Path], tmp_path: Path):
    study = {"title": "run", "cohorts": {"male": {"circe": json.loads(MALE.read_text())}},
             "analyses": [{"kind": "cohort_count", "name": "Count", "cohort": "male"}]}
    path = tmp_path / "study.json"
    path.write_text(json.dumps(study))
    work = tmp_path / "work"
    result = study_run(path, site_dbs, work, 120)
    assert result["state"] == "complete"
    row = result["combined"]["Count"]["tables"]["persons"]["rows"][0]
    assert row["pooled"] == 237 and set(row["sites"]) == set(SITES)  # CDMConnector's count
    for site in SITES:  # every site kept its own audit log under the work directory
        assert (work / "sites" / site / "audit" / "audit.jsonl").stat().st_size > 0


@pytest.mark.parametrize("sites, message", [
    ("a", "give NAME=DB"), ("a=x.duckdb,a=y.duckdb", "given twice"), (",", "at least one"),
])
def test_bad_sites_are_named(tmp_path: Path, sites: str, message: str) -> None:
    path = tmp_path / "study.json"
    path.write_text(json.dumps({"title": "t", "cohorts": {"all": {}}, "analyses": [
        {"kind": "cohort_count", "name": "C", "cohort": "all"}]}))
    res = CliRunner().invoke(cli, ["study", "run", str(path), "--sites", sites])
    assert res.exit_code != 0 and message in res.output
