"""The audit log's hash chain: it verifies when untouched and names the line of every kind
of tampering."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from behindglass.cli.audit_cmd import audit
from behindglass.core.errors import AuditError
from behindglass.core.signing import SigningKey
from behindglass.governance.audit import (
    GENESIS,
    AuditLog,
    AuditProblem,
    entry_hash,
    read_entries,
    verify,
)


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


# -- signed logs ------------------------------------------------------------------------------
@pytest.fixture()
def site_key() -> SigningKey:
    return SigningKey.generate()


def _write_signed(path: Path, key: SigningKey, n: int = 6) -> list[dict]:
    with AuditLog(path, signer=key) as log:
        return [log.append("decision", {"task_id": f"tk-{i}", "decision": "run"})
                for i in range(n)]


def _signed_problems(path: Path, key: SigningKey, **kwargs: str) -> list[AuditProblem]:
    return list(verify(path, key=key.public(), **kwargs).problems)


def test_signed_log_verifies_with_its_key_only(tmp_path: Path, site_key: SigningKey) -> None:
    path = tmp_path / "audit.jsonl"
    entries = _write_signed(path, site_key, 3)
    assert all(e["key"] == site_key.key_id for e in entries)
    site_key.public().verify(entries[0]["hash"], entries[0]["sig"])
    with AuditLog(path, signer=site_key) as log:  # a restart continues the signed chain
        assert log.next_seq == 3
        log.append("agent_started", {})
    report = verify(path, key=site_key.public())
    assert report.ok, str(report)
    assert f"every entry signed by key {site_key.key_id}" in str(report)
    unchecked = verify(path)  # the chain holds, but nobody checked who wrote it
    assert unchecked.ok and unchecked.signed == 4
    assert "signatures NOT checked" in str(unchecked)
    other = SigningKey.generate()
    problems = _signed_problems(path, other)
    assert [p.line for p in problems] == [1, 2, 3, 4]
    assert all(f"not by {other.key_id}" in p.message for p in problems)


def test_unsigned_log_still_verifies_but_not_against_a_key(tmp_path: Path,
                                                          site_key: SigningKey) -> None:
    path = tmp_path / "audit.jsonl"
    _write(path, 2)
    assert verify(path).ok and "unsigned" in str(verify(path))
    with AuditLog(path, signer=site_key) as log:  # signing switched on later
        log.append("agent_started", {})
    assert verify(path).ok
    problems = _signed_problems(path, site_key)
    assert [p.line for p in problems] == [1, 2]
    assert all("not signed" in p.message for p in problems)


def test_forged_entry_rehashed_without_the_key_is_caught_by_its_signature(
        tmp_path: Path, site_key: SigningKey) -> None:
    """The attacker alters line 3 and rebuilds the whole chain after it, so every hash and
    link is valid again: only the signatures can tell."""
    path = tmp_path / "audit.jsonl"
    _write_signed(path, site_key)
    entries = [e for _, e in read_entries(path)]
    entries[2]["data"]["decision"] = "refuse"
    prev = entries[1]["hash"]
    for e in entries[2:]:
        e["prev"] = prev
        e["hash"] = prev = entry_hash(e)
    _rewrite(path, [json.dumps(e) + "\n" for e in entries])
    assert verify(path).ok  # the chain alone is fooled ...
    problems = _signed_problems(path, site_key)
    assert problems[0].line == 3  # ... the signature is not, from the first forged line
    assert "forged or altered entry" in problems[0].message
    # signing with another key and naming the site's key id does not help either
    mallory = SigningKey.generate()
    entries[2]["sig"] = mallory.sign(entries[2]["hash"])
    _rewrite(path, [json.dumps(e) + "\n" for e in entries])
    assert _signed_problems(path, site_key)[0].line == 3
    # nor does stripping the signature
    del entries[2]["sig"], entries[2]["key"]
    _rewrite(path, [json.dumps(e) + "\n" for e in entries])
    first = _signed_problems(path, site_key)[0]
    assert first.line == 3 and "not signed" in first.message


def _alter(lines: list[str]) -> list[str]:
    entry = json.loads(lines[2])
    entry["data"]["decision"] = "refuse"
    lines[2] = json.dumps(entry) + "\n"
    return lines


def _delete(lines: list[str]) -> list[str]:
    del lines[2]
    return lines


def _insert(lines: list[str]) -> list[str]:
    lines.insert(2, lines[1])  # a genuine, correctly signed entry, replayed
    return lines


def _reorder(lines: list[str]) -> list[str]:
    lines[2], lines[3] = lines[3], lines[2]
    return lines


@pytest.mark.parametrize("edit", [_alter, _delete, _insert, _reorder])
def test_every_kind_of_edit_is_caught_on_a_signed_log_at_its_line(
        tmp_path: Path, site_key: SigningKey, edit) -> None:
    path = tmp_path / "audit.jsonl"
    _write_signed(path, site_key)
    _rewrite(path, edit(_lines(path)))
    problems = _signed_problems(path, site_key)
    assert problems and problems[0].line == 3, [str(p) for p in problems]


def test_cut_tail_of_a_signed_log_is_caught_with_an_expected_hash(
        tmp_path: Path, site_key: SigningKey) -> None:
    path = tmp_path / "audit.jsonl"
    entries = _write_signed(path, site_key)
    _rewrite(path, _lines(path)[:4])
    assert not _signed_problems(path, site_key)  # every remaining entry is genuine ...
    problems = _signed_problems(path, site_key, expect_hash=entries[-1]["hash"])
    assert problems and "expected hash" in problems[0].message  # ... but the head is gone


def test_appending_after_a_forged_tail_is_refused(tmp_path: Path,
                                                  site_key: SigningKey) -> None:
    path = tmp_path / "audit.jsonl"
    _write_signed(path, site_key, 2)
    lines = _lines(path)
    entry = json.loads(lines[-1])
    entry["sig"] = SigningKey.generate().sign(entry["hash"])
    lines[-1] = json.dumps(entry) + "\n"
    _rewrite(path, lines)
    with pytest.raises(AuditError, match="damaged"):
        AuditLog(path, signer=site_key)


def test_cli_verify_with_key(tmp_path: Path, site_key: SigningKey) -> None:
    path = tmp_path / "audit.jsonl"
    _write_signed(path, site_key, 3)
    pub = site_key.public().save(tmp_path / "signing.pub")
    runner = CliRunner()
    ok = runner.invoke(audit, ["verify", str(path), "--key", str(pub)])
    assert ok.exit_code == 0 and "every entry signed by key" in ok.output
    other = SigningKey.generate().public().save(tmp_path / "other.pub")
    bad = runner.invoke(audit, ["verify", str(path), "--key", str(other)])
    assert bad.exit_code == 1 and "line 1" in bad.output
    unchecked = runner.invoke(audit, ["verify", str(path)])
    assert unchecked.exit_code == 0 and "NOT checked" in unchecked.output
