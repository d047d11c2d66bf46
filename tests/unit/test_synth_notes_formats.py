"""Gold corpus formats (JSONL, BRAT, i2b2 XML): exact round trips, bytes, errors, CLI."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from behindglass.cli.notes_cmd import notes as notes_cli
from behindglass.core.errors import LoadError
from behindglass.synth.notes import (
    FORMATS,
    KINDS,
    LABELS,
    Note,
    NoteError,
    Span,
    generate_notes,
    read_corpus,
    write_corpus,
)


def _target(root: Path, fmt: str) -> Path:
    return root / ("gold.jsonl" if fmt == "jsonl" else fmt)


def _digest(path: Path) -> str:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def sample() -> list[Note]:
    return list(generate_notes(200, seed=21))


@pytest.mark.parametrize("fmt", FORMATS)
def test_write_then_read_is_exact(fmt: str, sample: list[Note], tmp_path: Path) -> None:
    out = _target(tmp_path, fmt)
    assert write_corpus(sample, out, fmt) == len(sample)
    back = read_corpus(out, fmt)
    assert back == sample
    assert read_corpus(out) == sample  # format detected
    assert {n.kind for n in back} == set(KINDS)


@pytest.mark.parametrize("fmt", FORMATS)
def test_same_seed_same_bytes(fmt: str, tmp_path: Path) -> None:
    a, b = _target(tmp_path / "a", fmt), _target(tmp_path / "b", fmt)
    write_corpus(generate_notes(60, seed=8), a, fmt)
    write_corpus(generate_notes(60, seed=8), b, fmt)
    assert _digest(a) == _digest(b)
    c = _target(tmp_path / "c", fmt)
    write_corpus(generate_notes(60, seed=9), c, fmt)
    assert _digest(a) != _digest(c)


_chars = st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff")
_text = st.text(alphabet=st.one_of(_chars, st.sampled_from("\n<>&\"']]>")), max_size=40)
_value = st.text(alphabet=st.one_of(_chars, st.sampled_from("<>&\"' ]]>")), min_size=1,
                 max_size=12).map(str.strip).filter(bool)


@st.composite
def _notes(draw: st.DrawFn) -> Note:
    parts, spans, pos = [], [], 0
    for _ in range(draw(st.integers(0, 6))):
        gap = draw(_text)
        value = draw(_value)
        label = draw(st.sampled_from(sorted(LABELS)))
        subtype = draw(st.sampled_from([None, "patient", "relative", "clinician"])) \
            if label == "NAME" else draw(st.sampled_from([None, "npi"]))
        pos += len(gap)
        spans.append(Span(pos, pos + len(value), label, value, subtype))
        parts += [gap, value]
        pos += len(value)
    parts.append(draw(_text))
    note_id = draw(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,10}", fullmatch=True))
    patient = draw(st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9-]{1,8}", fullmatch=True)))
    return Note(note_id, draw(st.sampled_from(sorted(KINDS))), "".join(parts), tuple(spans),
                patient)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(note=_notes())
def test_any_note_round_trips_in_every_format(note: Note, tmp_path: Path) -> None:
    # Unicode, XML metacharacters, quotes and "]]>" in text and in span values.
    for fmt in FORMATS:
        out = _target(tmp_path / f"h{abs(hash(note))}", fmt)
        write_corpus([note], out, fmt)
        assert read_corpus(out, fmt) == [note], fmt


def test_i2b2_refuses_text_it_cannot_carry(tmp_path: Path) -> None:
    note = Note("x", "telephone", "line one\r\nline two", ())
    with pytest.raises(NoteError):
        write_corpus([note], tmp_path / "i", "i2b2")


def test_i2b2_reads_files_without_our_extra_attributes(tmp_path: Path) -> None:
    folder = tmp_path / "foreign"
    folder.mkdir()
    (folder / "100-01.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8" ?>\n<deIdi2b2><TEXT><![CDATA[Dr. Ann Lee saw '
        'him 2/3.]]></TEXT><TAGS><NAME id="P0" start="4" end="11" text="Ann Lee" '
        'TYPE="DOCTOR" comment="" /><DATE id="P1" start="20" end="23" text="2/3" TYPE="DATE" '
        'comment="" /></TAGS></deIdi2b2>', encoding="utf-8")
    (note,) = read_corpus(folder)
    assert note.id == "100-01" and note.kind == "unknown"
    assert [(s.label, s.subtype, s.text) for s in note.spans] == [
        ("NAME", "clinician", "Ann Lee"), ("DATE", None, "2/3")]


def test_readers_report_bad_files(tmp_path: Path, sample: list[Note]) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a"}\n', encoding="utf-8")
    with pytest.raises(LoadError, match="line 1"):
        read_corpus(bad)
    brat = tmp_path / "brat"
    write_corpus(sample[:3], brat, "brat")
    ann = brat / f"{sample[0].id}.ann"
    first = ann.read_text(encoding="utf-8").split("\n")[0].split("\t")
    label, start, end = first[1].split(" ")
    first[1] = f"{label} {int(start) + 1} {int(end) + 1}"  # offsets moved by one
    ann.write_text("\t".join(first) + "\n", encoding="utf-8")
    with pytest.raises(LoadError, match="does not match"):
        read_corpus(brat)
    with pytest.raises(LoadError):
        read_corpus(tmp_path / "nothing-here")


@pytest.mark.parametrize("fmt", FORMATS)
def test_cli_generate_writes_a_readable_corpus(fmt: str, tmp_path: Path) -> None:
    out = _target(tmp_path, fmt)
    args = ["generate", "--count", "30", "--seed", "4", "--out", str(out), "--format", fmt,
            "--split", "validation", "--kinds", "radiology,telephone"]
    result = CliRunner().invoke(notes_cli, args)
    assert result.exit_code == 0, result.output
    back = read_corpus(out, fmt)
    assert back == list(generate_notes(30, 4, "validation", ["radiology", "telephone"]))
    assert {n.kind for n in back} <= {"radiology", "telephone"}
    assert all(n.id.startswith("validation-") for n in back)
    again = CliRunner().invoke(notes_cli, args)
    assert again.exit_code != 0 and "--force" in again.output
    assert CliRunner().invoke(notes_cli, [*args, "--force", "--quiet"]).exit_code == 0
    stats = CliRunner().invoke(notes_cli, ["stats", str(out)])
    assert stats.exit_code == 0 and "30 notes" in stats.output


def test_cli_rejects_unknown_kind(tmp_path: Path) -> None:
    result = CliRunner().invoke(notes_cli, ["generate", "--out", str(tmp_path / "x.jsonl"),
                                            "--kinds", "discharge_summary,opnote"])
    assert result.exit_code == 2 and "opnote" in result.output
