"""The steward's commands end to end through click: list, read, approve, reject, and the
two-person review of held outputs; wrong moves are one-line errors with exit code 1."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from behindglass.cli.steward_cmd import (
    COMMANDS,
    approve,
    outputs,
    pass_,
    register,
    reject,
    requests,
    show,
    withhold,
)
from behindglass.core.aggregates import Cell, CountTable, SiteAggregate, StatsBlock
from behindglass.core.canonical import canonical_json, digest
from behindglass.core.messages import Refusal, Release
from behindglass.governance.approvals import STORE_FILE, ApprovalStore
from tests.unit.test_approvals import make_task


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A site home with two pending requests, as the agent leaves it."""
    with ApprovalStore(tmp_path / STORE_FILE) as store:
        for i, (title, kinds) in enumerate([("HbA1c control", ("characterize", "glm")),
                                            ("Falls in the elderly", ("cohort_count",))]):
            task = make_task(study_id=f"st-00000000000{i}", task_id=f"tk-{i}", title=title,
                             kinds=kinds)
            store.submit(task, digest(task.study.to_dict()))
    return tmp_path


def run(command: click.Command, *args: str, steward: str | None = "sam",
        home: Path | None = None) -> Result:
    env = {"BEHINDGLASS_STEWARD": steward} if steward else {}
    if home is not None:
        env["BEHINDGLASS_SITE_HOME"] = str(home)
    return CliRunner().invoke(command, list(args), env=env)


def test_requests_lists_pending_studies(home: Path) -> None:
    result = run(requests, "--home", str(home))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["ID", "STATE", "RESEARCHER", "TITLE", "ANALYSES", "SUBMITTED"]
    assert "st-000000000000" in lines[1] and "HbA1c control" in lines[1]
    assert "2: characterize, glm" in lines[1]
    assert "st-000000000001" in lines[2] and "pending" in lines[2]


def test_the_home_can_come_from_the_environment(home: Path) -> None:
    result = run(requests, "--json", home=home)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [r["study_id"] for r in data] == ["st-000000000000", "st-000000000001"]
    assert data[0]["analyses"][1] == {"name": "A1", "kind": "glm", "cohort": "all"}


def test_show_names_analyses_parameters_cohorts_and_digest(home: Path) -> None:
    result = run(show, "st-000000000000", "--home", str(home))
    assert result.exit_code == 0, result.output
    task = make_task(kinds=("characterize", "glm"))
    assert digest(task.study.to_dict()) in result.output
    assert "A0: characterize on all" in result.output
    assert "top_n = 5" in result.output
    assert "all: every person  (used by A0, A1)" in result.output
    assert "researcher  alice" in result.output


def test_approve_then_reject_is_refused_with_a_clear_error(home: Path) -> None:
    result = run(approve, "st-000000000000", "--home", str(home), "--note", "routine")
    assert result.exit_code == 0, result.output
    assert "approved st-000000000000 (HbA1c control) as sam" in result.output
    late = run(reject, "st-000000000000", "--home", str(home), "--reason", "no",
               steward="tom")
    assert late.exit_code == 1
    assert "st-000000000000" in late.output and "is approved" in late.output
    assert isinstance(late.exception, SystemExit)  # a clean exit, not a traceback
    listed = json.loads(run(requests, "--home", str(home), "--all", "--json").output)
    assert [(r["state"], r["decided_by"], r["note"]) for r in listed] == [
        ("approved", "sam", "routine"), ("pending", None, None)]
    pending = run(requests, "--home", str(home)).output.splitlines()[1:]
    assert len(pending) == 1 and pending[0].startswith("st-000000000001")
    with ApprovalStore(home / STORE_FILE) as store:
        assert [e["event"] for e in store.unaudited()][-1] == "study_approved"
        assert store.unaudited()[-1]["steward"] == "sam"


def test_reject_needs_a_reason(home: Path) -> None:
    missing = run(reject, "st-000000000001", "--home", str(home))
    assert missing.exit_code == 2 and "--reason" in missing.output
    blank = run(reject, "st-000000000001", "--home", str(home), "--reason", " ")
    assert blank.exit_code == 1 and "reason" in blank.output
    done = run(reject, "st-000000000001", "--home", str(home), "--reason", "too broad")
    assert done.exit_code == 0 and "rejected st-000000000001" in done.output
    shown = run(show, "st-000000000001", "--home", str(home))
    assert "reason      too broad" in shown.output and "by sam" in shown.output


def test_unknown_id_and_missing_home_exit_1(home: Path, tmp_path: Path) -> None:
    unknown = run(approve, "st-ffffffffffff", "--home", str(home))
    assert unknown.exit_code == 1
    assert "no request for study st-ffffffffffff" in unknown.output
    nothing = run(show, "tk-nothing", "--home", str(home))
    assert nothing.exit_code == 1 and "tk-nothing" in nothing.output
    elsewhere = run(requests, "--home", str(tmp_path / "not-a-site"))
    assert elsewhere.exit_code == 1 and "approvals.sqlite does not exist" in elsewhere.output
    no_home = run(requests)
    assert no_home.exit_code == 2 and "--home" in no_home.output


def _release_body() -> bytes:
    table = CountTable(name="by_sex", dims=("sex",), cells=(
        Cell(key=("F",), count=20), Cell(key=("M",), suppressed=True),
        Cell(key=("U",), suppressed=True)))
    stats = StatsBlock(name="xtx", shape=(3, 3), values=tuple(float(i) for i in range(9)))
    release = Release(task_id="tk-7", site="site-a", aggregates=(
        SiteAggregate(analysis="A0", kind="characterize", tables=(table,)),
        SiteAggregate(analysis="A1", kind="glm", stats=(stats,))),
        refusals=(Refusal(analysis="A2", reason="too few events"),))
    return canonical_json(release.model_dump(mode="json")).encode("utf-8")


def test_two_person_review_through_the_cli(home: Path) -> None:
    with ApprovalStore(home / STORE_FILE) as store:
        store.hold("tk-7", "st-000000000000", _release_body(), ["characterize", "glm"])
    listed = run(outputs, "--home", str(home))
    assert listed.exit_code == 0 and "tk-7" in listed.output and "0/2" in listed.output
    shown = run(show, "tk-7", "--home", str(home))
    assert shown.exit_code == 0, shown.output
    assert "table by_sex: by sex, 3 cells (2 suppressed)" in shown.output
    assert "stats xtx: shape 3x3" in shown.output
    assert "A2: refused (too few events)" in shown.output
    assert '"count": 20' not in shown.output  # shapes only, unless --body is asked for
    assert '"count": 20' in run(show, "tk-7", "--body", "--home", str(home)).output

    first = run(pass_, "tk-7", "--home", str(home), steward="ann")
    assert first.exit_code == 0 and "1 of 2 passes; 1 more" in first.output
    again = run(pass_, "tk-7", "--home", str(home), steward="ann")
    assert again.exit_code == 1 and "ann has already reviewed" in again.output
    second = run(pass_, "tk-7", "--home", str(home), steward="bob")
    assert second.exit_code == 0 and "2 of 2 passes (by ann, bob)" in second.output
    late = run(withhold, "tk-7", "--home", str(home), "--reason", "x", steward="cat")
    assert late.exit_code == 1 and "is passed" in late.output
    assert "no held outputs" in run(outputs, "--home", str(home)).output
    every = json.loads(run(outputs, "--home", str(home), "--all", "--json").output)
    assert [(o["task_id"], o["state"]) for o in every] == [("tk-7", "passed")]


def test_withhold_through_the_cli(home: Path) -> None:
    with ApprovalStore(home / STORE_FILE) as store:
        store.hold("tk-8", "st-000000000001", b"not json", ["cohort_count"])
    shown = run(show, "tk-8", "--home", str(home))
    assert shown.exit_code == 0 and "not a release" in shown.output
    result = run(withhold, "tk-8", "--home", str(home), "--reason", "small town")
    assert result.exit_code == 0 and "withheld tk-8" in result.output
    with ApprovalStore(home / STORE_FILE) as store:
        output = store.output("tk-8")
        assert (output.state, output.reason) == ("withheld", "small town")
        assert output.reviews[0].steward == "sam"


def test_commands_register_in_the_site_group() -> None:
    group = click.Group("site")
    register(group)
    assert sorted(group.commands) == sorted(
        ["requests", "show", "approve", "reject", "outputs", "pass", "withhold"])
    assert len(COMMANDS) == 7
