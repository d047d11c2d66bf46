"""``ingest_fhir(validate=True)``: resources the FHIR R4B models refuse are reported by
file and line (or bundle entry), count against the budget, and are not loaded."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from behindglass.ingest import IngestError, ingest_fhir
from tests.unit.ingest_support import SECRET, config
from tests.unit.test_ingest_fhir_samples import resources, write_ndjson

pytest.importorskip("fhir.resources")

SECRET_VALUE = "quigglesworth-plain-text"


def _broken() -> dict[str, list[dict]]:
    by_type = resources()
    by_type["Condition"][1]["clinicalStatus"] = {"coding": SECRET_VALUE}  # not a list
    return by_type


def _conditions(db: Path) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM condition_occurrence").fetchone()[0]
    finally:
        con.close()


def test_valid_samples_pass_and_load_the_same(tmp_path: Path) -> None:
    src = write_ndjson(tmp_path / "src")
    plain = ingest_fhir(src, tmp_path / "a.duckdb", SECRET, config())
    checked = ingest_fhir(src, tmp_path / "b.duckdb", SECRET, config(), validate=True)
    assert checked.errors == 0 and checked.rows == plain.rows


def test_invalid_resource_is_reported_and_left_out(tmp_path: Path) -> None:
    src = write_ndjson(tmp_path / "src", _broken())
    with pytest.raises(IngestError) as err:
        ingest_fhir(src, tmp_path / "db.duckdb", SECRET, config(), validate=True)
    [problem] = err.value.problems
    assert (problem.file, problem.line) == ("Condition.ndjson", 2)
    assert problem.reason.startswith("not valid FHIR R4B (clinicalStatus.coding")
    assert SECRET_VALUE not in str(err.value)
    assert not (tmp_path / "db.duckdb").exists()
    report = ingest_fhir(src, tmp_path / "db.duckdb", SECRET, config(), validate=True,
                         max_errors=1)
    assert [(p.file, p.line) for p in report.problems] == [("Condition.ndjson", 2)]
    assert _conditions(tmp_path / "db.duckdb") == 2  # of 3: the invalid one is not loaded
    # without validation the same resource loads (its clinicalStatus is never read)
    ingest_fhir(src, tmp_path / "plain.duckdb", SECRET, config())
    assert _conditions(tmp_path / "plain.duckdb") == 3


def test_invalid_bundle_entry_is_reported_by_entry(tmp_path: Path) -> None:
    items = [r for rs in _broken().values() for r in rs]
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": r} for r in items]}
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    index = next(i for i, r in enumerate(items)
                 if r["resourceType"] == "Condition" and "clinicalStatus" in r)
    with pytest.raises(IngestError) as err:
        ingest_fhir(path, tmp_path / "db.duckdb", SECRET, config(), validate=True)
    assert [p.file for p in err.value.problems] == [f"bundle.json#entry[{index}]"]


def test_cli_validate_flag(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from behindglass.cli.ingest_cmd import ingest
    from behindglass.deid.secret import SiteSecret

    key = tmp_path / "site.key"
    SiteSecret.generate(key)
    src = write_ndjson(tmp_path / "src", _broken())
    args = [str(src), "--format", "fhir", "--db", str(tmp_path / "s.duckdb"),
            "--secret-file", str(key), "--reference-date", "2026-01-01"]
    assert CliRunner().invoke(ingest, args).exit_code == 0
    result = CliRunner().invoke(ingest, [*args, "--validate"])
    assert result.exit_code != 0 and "not valid FHIR R4B" in result.output
