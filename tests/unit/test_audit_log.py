"""The audit log's hash chain: it verifies when untouched and names the line of every kind
of tampering."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from behindglass.cli.audit_cmd import audit
from behindglass.core.errors import AuditError
from behindglass.governance.audit import GENESIS, AuditLog, entry_hash, read_entries, verify


def _write(path: Path, n: int = 6) -> list[dict]:
    with AuditLog(path) as log:
        return [log.append("decision", {"task_id": f"tk-{i}", "decision": "run"})
                for i in range(n)]


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def _rewrite(path: Path, lines: list[str]) -> None:
    path.write_text("".join(lines), encoding="utf-8")


def _problem_lines(path: Path) -> list[int]:
    return [p.line for p in verify(path).problems]


def test_chain_verifies_and_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    entries = _write(path, 3)
    assert entries[0]["prev"] == GENESIS
    assert all(e["hash"] == entry_hash(e) for e in entries)
    with AuditLog(path) as log:  # a restarted agent continues the same chain
        assert log.head == entries[-1]["hash"]
        assert log.next_seq == 3
        log.append("agent_started", {})
    report = verify(path)
    assert report.ok, str(report)
    assert report.entries == 4
    assert [e["seq"] for _, e in read_entries(path)] == [0, 1, 2, 3]
    assert "OK, 4 entries" in str(report)


def test_altered_entry_is_reported_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _write(path)
    lines = _lines(path)
    entry = json.loads(lines[2])
    entry["data"]["decision"] = "refuse"
    lines[2] = json.dumps(entry) + "\n"
    _rewrite(path, lines)
    report = verify(path)
    assert not report.ok
    assert _problem_lines(path) == [3]
    assert "altered" in str(report.problems[0])


def test_altered_entry_with_recomputed_hash_breaks_the_next_link(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _write(path)
    lines = _lines(path)
    entry = json.loads(lines[2])
    entry["data"]["decision"] = "refuse"
    entry["hash"] = entry_hash(entry)
    lines[2] = json.dumps(entry) + "\n"
    _rewrite(path, lines)
    assert _problem_lines(path) == [4]
    assert "chain broken" in str(verify(path).problems[0])


def test_deleted_entry_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _write(path)
    lines = _lines(path)
    del lines[2]
    _rewrite(path, lines)
    problems = verify(path).problems
    assert {p.line for p in problems} == {3}
    assert any("deleted" in p.message for p in problems)


def test_reordered_entries_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _write(path)
    lines = _lines(path)
    lines[2], lines[3] = lines[3], lines[2]
    _rewrite(path, lines)
    problems = verify(path).problems
    assert problems and problems[0].line == 3
    assert any("reordered" in p.message or "deleted" in p.message for p in problems)


def test_inserted_entry_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    entries = _write(path)
    forged = {"seq": 2, "time": entries[1]["time"], "event": "decision",
              "data": {"task_id": "tk-forged"}, "prev": entries[1]["hash"]}
    forged["hash"] = entry_hash(forged)  # a well-formed entry, chained to line 2
    lines = _lines(path)
    lines.insert(2, json.dumps(forged) + "\n")
    _rewrite(path, lines)
    problems = verify(path).problems
    assert problems and problems[0].line == 4  # the original third entry no longer chains
    assert not verify(path).ok


def test_cut_tail_is_caught_with_an_expected_hash(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    entries = _write(path)
    _rewrite(path, _lines(path)[:4])
    assert verify(path).ok  # a shorter chain is still a chain ...
    report = verify(path, expect_hash=entries[-1]["hash"])
    assert not report.ok  # ... but the hub's recorded head is gone
    assert "expected hash" in str(report)
    assert verify(path, expect_hash=entries[2]["hash"]).ok


def test_garbage_line_and_damaged_tail(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _write(path, 3)
    with open(path, "a", encoding="utf-8") as f:
        f.write('{"seq": 3, "half a line\n')
    assert _problem_lines(path) == [4]
    with pytest.raises(AuditError, match="damaged"):
        AuditLog(path)  # appending after damage would bury it


def test_one_writer_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path), pytest.raises(AuditError, match="in use"):
        AuditLog(path)


def test_cli_verify_and_show(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _write(path, 3)
    runner = CliRunner()
    ok = runner.invoke(audit, ["verify", str(path)])
    assert ok.exit_code == 0 and "OK, 3 entries" in ok.output
    shown = runner.invoke(audit, ["show", str(path), "--tail", "2"])
    assert shown.exit_code == 0 and len(shown.output.splitlines()) == 2
    as_json = runner.invoke(audit, ["show", str(path), "--json"])
    assert [json.loads(line)["seq"] for line in as_json.output.splitlines()] == [0, 1, 2]
    lines = _lines(path)
    del lines[1]
    _rewrite(path, lines)
    bad = runner.invoke(audit, ["verify", str(path)])
    assert bad.exit_code == 1 and "line 2" in bad.output
