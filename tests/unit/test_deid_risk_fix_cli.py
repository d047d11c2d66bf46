"""Properties of ``fix`` on random small stores, and the ``behindglass risk`` command."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from behindglass.cli.risk_cmd import risk as risk_cli
from behindglass.core.errors import SpecError
from behindglass.deid.generalise import fix
from behindglass.deid.risk import VIOLATING_KEY, assess
from tests.unit.test_deid_risk import QUASI, TINY, dump, make_store

PERSON = st.tuples(st.sampled_from([8507, 8532, 0]), st.integers(1930, 2010),
                   st.sampled_from(["02139", "02140", "10001", "60601", None]))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(people=st.lists(PERSON, min_size=1, max_size=25), k=st.integers(2, 6),
       method=st.sampled_from(["generalise", "suppress"]))
def test_fix_reaches_k_or_refuses_cleanly(people: list, k: int, method: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rows = [(i + 1, sex, yob, z) for i, (sex, yob, z) in enumerate(people)]
        path = make_store(Path(tmp) / "s.duckdb", rows)
        before = dump(path)
        try:
            result = fix(str(path), QUASI, k, method=method)
        except SpecError:
            assert dump(path) == before  # refused: nothing written
            assert method == "suppress" or len(rows) < k  # generalise's ladders reach one class
            return
        report = assess(str(path), QUASI, k)
        assert report.k_min >= k and result.after.k_min == report.k_min
        assert report.n_persons == len(rows)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return make_store(tmp_path / "site.duckdb", TINY)


def test_cli_json_report_exit_code(store: Path) -> None:
    res = CliRunner().invoke(risk_cli, [str(store), "--quasi", QUASI, "--k", "3", "--json"])
    assert res.exit_code == 1, res.output  # k violated
    data = json.loads(res.output)
    assert data["k_min"] == 1 and data["n_classes"] == 5 and not data["ok"]
    listed = data[VIOLATING_KEY]["listed"]
    assert sorted(r["person_id"] for r in listed) == [9, 10, 11, 12]
    ok = CliRunner().invoke(risk_cli, [str(store), "--quasi", "sex", "--k", "3", "--json"])
    assert ok.exit_code == 0 and json.loads(ok.output)["ok"]


def test_cli_human_view_caps_records(store: Path) -> None:
    res = CliRunner().invoke(risk_cli, [str(store), "--quasi", QUASI, "--k", "3", "--show", "1"])
    assert "k = 1 (target 3: VIOLATED)" in res.output
    assert "inside the site" in res.output
    assert res.output.count("person ") == 1 and "3 more" in res.output


def test_cli_fix_suppress(store: Path) -> None:
    res = CliRunner().invoke(risk_cli, [str(store), "--quasi", QUASI, "--k", "3",
                                        "--fix", "suppress"])
    assert res.exit_code == 0, res.output
    assert "records changed per quasi-identifier" in res.output
    assert "target 3: holds" in res.output
    res = CliRunner().invoke(risk_cli, [str(store), "--quasi", QUASI, "--k", "3",
                                        "--fix", "generalise", "--json"])
    data = json.loads(res.output)
    assert data["changed"] == {} and data["after"]["ok"]


def test_cli_errors(store: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(risk_cli, [str(tmp_path / "none.duckdb"), "--quasi", "sex"])
    assert res.exit_code != 0 and "no such site database" in str(res.exception)
    res = CliRunner().invoke(risk_cli, [str(store), "--quasi", "zipcode"])
    assert "accepted:" in str(res.exception)
    res = CliRunner().invoke(risk_cli, [str(store), "--quasi", "sex", "--k", "1"])
    assert "at least 2" in str(res.exception)
