"""``behindglass dq`` on Eunomia GiBleed: the JSON it prints, its exit codes, thresholds
files, and that the profile it releases holds no small count."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from behindglass.cli.main import cli
from behindglass.core.errors import SpecError

TOP_KEYS = {"cdm_version", "engine", "generated_at", "seconds", "min_cell",
            "thresholds_overridden", "summary", "checks"}
CHECK_KEYS = {"check_id", "name", "level", "category", "subcategory", "context", "table",
              "field", "concept_id", "unit_concept_id", "description", "status", "threshold",
              "num_violated", "denominator", "pct_violated", "note"}


@pytest.fixture(scope="module")
def gibleed(gibleed_db: Path) -> Path:
    return gibleed_db


def dq(*args: str) -> tuple[int, Any, str]:
    result = CliRunner().invoke(cli, ["dq", *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    payload = json.loads(result.stdout) if "--json" in args else result.stdout
    return result.exit_code, payload, result.stderr


@pytest.fixture(scope="module")
def report(gibleed: Path) -> dict[str, Any]:
    code, payload, _ = dq(str(gibleed), "--json", "--profile", "--no-progress")
    assert code == 0
    return payload


def by_id(payload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["check_id"]: c for c in payload["checks"]}


def test_json_keys_and_summary(report: dict[str, Any]) -> None:
    assert set(report) == TOP_KEYS | {"profile"}
    assert all(set(c) == CHECK_KEYS for c in report["checks"])
    s = report["summary"]
    assert s["checks"] == len(report["checks"]) > 1500
    assert s["passed"] + s["failed"] + s["not_applicable"] + s["errors"] == s["checks"]
    assert s["errors"] == 0
    assert report["min_cell"] == 11 and report["cdm_version"] == "5.4"
    assert report["seconds"] < 60


def test_known_gibleed_findings(report: dict[str, Any]) -> None:
    checks = by_id(report)
    assert checks["cdmTable.person"]["status"] == "pass"
    # GiBleed repeats some drug_exposure ids (8,768 of 67,707 rows)
    pk = checks["isPrimaryKey.drug_exposure.drug_exposure_id"]
    assert pk["status"] == "fail" and pk["num_violated"] == 8768
    assert pk["denominator"] == 67707 and pk["pct_violated"] == 12.95
    assert checks["isRequired.person.gender_concept_id"]["status"] == "pass"
    assert checks["plausibleGender.procedure_occurrence.procedure_concept_id.4275113"][
        "status"] == "pass"
    assert checks["isRequired.device_exposure.device_concept_id"]["status"] == "not_applicable"
    assert checks["measurePersonCompleteness.condition_occurrence"]["num_violated"] == 0


def test_profile_releases_no_small_count(report: dict[str, Any]) -> None:
    profile = report["profile"]
    assert profile["persons"]["persons"] == 2694
    genders = {g["concept_name"]: g["persons"] for g in profile["persons"]["by_gender"]}
    assert genders == {"FEMALE": 1373, "MALE": 1321}
    assert profile["domains"]["condition_occurrence"]["records"] == 65332

    def ints(node: Any) -> list[int]:
        if isinstance(node, bool):
            return []
        if isinstance(node, int):
            return [node]
        if isinstance(node, dict):
            return [i for k, v in node.items() if k not in ("concept_id", "min_cell")
                    for i in ints(v)]
        if isinstance(node, list):
            return [i for v in node for i in ints(v)]
        return []

    counts = ints(profile) + [i for c in report["checks"]
                              for i in ints({"n": c["num_violated"], "d": c["denominator"]})]
    assert counts and not [n for n in counts if 0 < n < 11]
    assert "<11" in json.dumps(profile)


def test_fail_on_fail_and_human_view(gibleed: Path) -> None:
    code, out, _ = dq(str(gibleed), "--no-progress", "--show", "3")
    assert code == 0
    assert "checks:" in out and "failed checks" in out and "more (use --json)" in out
    code, _, _ = dq(str(gibleed), "--no-progress", "--fail-on-fail")
    assert code == 1
    code, _, _ = dq(str(gibleed), "--no-progress", "--fail-on-fail", "--check", "cdmTable",
                    "--check", "isRequired")
    assert code == 0


def test_thresholds_file(gibleed: Path, tmp_path: Path) -> None:
    conf = tmp_path / "dq.toml"
    conf.write_text('[thresholds]\n"isPrimaryKey.drug_exposure" = 20\nisPrimaryKye = 1\n',
                    encoding="utf-8")
    code, payload, err = dq(str(gibleed), "--json", "--no-progress", "--check",
                            "isPrimaryKey", "--thresholds", str(conf))
    assert code == 0
    checks = by_id(payload)
    assert checks["isPrimaryKey.drug_exposure.drug_exposure_id"]["status"] == "pass"
    assert checks["isPrimaryKey.drug_exposure.drug_exposure_id"]["threshold"] == 20
    assert checks["isPrimaryKey.measurement.measurement_id"]["status"] == "fail"
    assert {c["name"] for c in payload["checks"]} == {"isPrimaryKey"}
    assert "isPrimaryKye" in err
    assert payload["thresholds_overridden"] == ["isPrimaryKey.drug_exposure", "isPrimaryKye"]
    conf.write_text("[thresholds]\nisRequired = 250\n", encoding="utf-8")
    with pytest.raises(SpecError, match="not a percentage"):
        dq(str(gibleed), "--json", "--thresholds", str(conf))


def test_unknown_check_name_is_refused(gibleed: Path) -> None:
    code, _, err = dq(str(gibleed), "--check", "isRequred")
    assert code == 2 and "isRequred" in err


def test_a_site_below_the_required_quality_does_not_join(gibleed: Path) -> None:
    res = CliRunner().invoke(cli, ["site", "serve", "--db", str(gibleed), "--hub",
                                   "http://127.0.0.1:9", "--name", "x", "--token", "t",
                                   "--require-dq", "99.9", "--once"])
    assert res.exit_code != 0
    assert "below the required 99.9%" in res.output
    assert "% of checks passed" in res.output


def test_a_site_above_the_required_quality_joins_and_audits_it(gibleed: Path,
                                                               tmp_path: Path) -> None:
    from behindglass.governance.audit import read_entries
    from behindglass.hub import HubServer, create_app

    app = create_app(tmp_path / "hub")
    token = app.state.hub.add_principal("site-a", "site")
    audit = tmp_path / "audit.jsonl"
    with HubServer(app) as server:
        res = CliRunner().invoke(cli, ["site", "serve", "--db", str(gibleed), "--hub",
                                       server.url, "--name", "site-a", "--token", token,
                                       "--require-dq", "50", "--once", "--wait", "0.1",
                                       "--audit", str(audit)])
    assert res.exit_code == 0, res.output
    started = next(e for _, e in read_entries(audit) if e["event"] == "agent_started")
    quality = started["data"]["data_quality"]
    assert quality["checks"] == 2073 and 50 <= quality["pct_passed"] < 100
