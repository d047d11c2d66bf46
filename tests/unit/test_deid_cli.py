"""`behindglass deid detect | text | eval` end to end on a small generated gold corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from behindglass.cli.deid_cmd import deid
from behindglass.cli.notes_cmd import notes
from behindglass.deid.secret import SiteSecret


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("gold")
    gold, lists = root / "val.jsonl", root / "lists"
    result = CliRunner().invoke(notes, ["generate", "--count", "40", "--seed", "3", "--split",
                                        "validation", "--out", str(gold), "--site-lists",
                                        str(lists), "--quiet"])
    assert result.exit_code == 0, result.output
    return gold, lists


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_eval_json_reports_every_documented_key(corpus: tuple[Path, Path]) -> None:
    gold, lists = corpus
    result = CliRunner().invoke(deid, ["eval", "--gold", f"jsonl:{gold}", "--site-lists",
                                       str(lists), "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert {"overall", "labels", "ignored", "documents", "throughput"} <= set(report)
    assert report["gold"] == f"jsonl:{gold}" and report["site_lists"] is True
    assert report["documents"]["n"] == 40
    # 40 notes carry hundreds of spans; with the site's lists almost none may leak.
    assert report["overall"]["leak_free_recall"]["n"] > 300
    assert report["overall"]["leak_free_recall"]["value"] >= 0.98
    assert "STATE" in report["ignored"]


def test_detect_writes_offsets_into_the_input(corpus: tuple[Path, Path],
                                              tmp_path: Path) -> None:
    gold, _ = corpus
    rows = _rows(gold)[:10]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"id": r["id"], "text": r["text"]}) + "\n"
                              for r in rows), encoding="utf-8")
    out = tmp_path / "spans.jsonl"
    result = CliRunner().invoke(deid, ["detect", str(source), str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    found = _rows(out)
    assert [f["id"] for f in found] == [r["id"] for r in rows]
    for row, hit in zip(rows, found, strict=True):
        assert hit["spans"], row["id"]
        for span in hit["spans"]:
            assert set(span) == {"start", "end", "type"}
            assert 0 <= span["start"] < span["end"] <= len(row["text"])
        # every gold MRN is inside a detected span
        for gold_span in (s for s in row["spans"] if s["label"] == "MRN"):
            assert any(s["start"] <= gold_span["start"] and gold_span["end"] <= s["end"]
                       for s in hit["spans"])


def test_text_on_a_folder_leaves_no_planted_identifier(corpus: tuple[Path, Path],
                                                        tmp_path: Path) -> None:
    gold, lists = corpus
    rows = _rows(gold)[:15]
    notes_in = tmp_path / "notes"
    (notes_in / "sub").mkdir(parents=True)
    for i, row in enumerate(rows):
        (notes_in / ("sub" if i % 2 else "") / f"{row['id']}.txt").write_text(
            row["text"], encoding="utf-8")
    secret = tmp_path / "site.secret"
    SiteSecret.generate(secret)
    out = tmp_path / "clean"
    result = CliRunner().invoke(deid, ["text", str(notes_in), str(out), "--secret-file",
                                       str(secret), "--site-lists", str(lists)])
    assert result.exit_code == 0, result.output
    assert "replaced: NAME" in result.output or "NAME" in result.output
    written = sorted(p.relative_to(out) for p in out.rglob("*.txt"))
    assert written == sorted(p.relative_to(notes_in) for p in notes_in.rglob("*.txt"))
    for i, row in enumerate(rows):
        clean = (out / ("sub" if i % 2 else "") / f"{row['id']}.txt").read_text(encoding="utf-8")
        for span in row["spans"]:
            if span["label"] in {"NAME", "MRN", "SSN", "PHONE", "EMAIL", "STREET"} \
                    and len(span["text"]) > 3:
                assert span["text"] not in clean, (row["id"], span["label"])


def test_text_jsonl_keeps_ids_and_tags(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": "n1", "text": "Seen by Dr. Ana Silva on 3/4/2021."})
                      + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(deid, ["text", str(source), str(out), "--mode", "tag",
                                       "--date-mode", "tag", "--quiet"])
    assert result.exit_code == 0, result.output
    assert _rows(out) == [{"id": "n1", "text": "Seen by Dr. [NAME] on [DATE]."}]


def test_bad_input_is_named_and_nothing_is_written(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": 1, "text": "ok"}\n{"id": 2}\n', encoding="utf-8")
    out = tmp_path / "spans.jsonl"
    result = CliRunner().invoke(deid, ["detect", str(source), str(out), "--quiet"])
    assert result.exit_code != 0
    assert "line 2" in str(result.exception) and "in.jsonl" in str(result.exception)
    assert not out.exists() and not list(tmp_path.glob(".spans.jsonl.*"))


def test_text_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    source = tmp_path / "note.txt"
    source.write_text("Patient: Ana Silva", encoding="utf-8")
    out = tmp_path / "out.txt"
    out.write_text("keep me", encoding="utf-8")
    result = CliRunner().invoke(deid, ["text", str(source), str(out), "--quiet"])
    assert result.exit_code != 0 and "--force" in result.output
    assert out.read_text(encoding="utf-8") == "keep me"
    assert CliRunner().invoke(deid, ["text", str(source), str(out), "--force", "--quiet",
                                     "--mode", "tag"]).exit_code == 0
    assert out.read_text(encoding="utf-8") == "Patient: [NAME]"


def test_dicom_is_part_of_the_group() -> None:
    assert "dicom" in deid.commands
    result = CliRunner().invoke(deid, ["dicom", "--help"])
    assert result.exit_code == 0 and "IN_DIR" in result.output


def test_site_lists_from_an_identifiable_extract(tmp_path: Path) -> None:
    from behindglass.cli.synth_cmd import synth
    from behindglass.deid.text.site_lists import SiteLists

    extract = tmp_path / "extract"
    made = CliRunner().invoke(synth, ["--profile", "rural-community", "--persons", "12",
                                      "--seed", "5", "--out", str(extract), "--identifiable",
                                      "--format", "synthea-csv"])
    assert made.exit_code == 0, made.output
    out = tmp_path / "lists"
    result = CliRunner().invoke(deid, ["site-lists", str(extract), str(out), "--format",
                                       "synthea-csv"])
    assert result.exit_code == 0, result.output
    lists = SiteLists.load(out)
    truth = [json.loads(line) for line in
             (extract / "identifiers.jsonl").read_text(encoding="utf-8").splitlines()]
    assert truth
    assert lists.counts()["MRN"] >= 12 and lists.counts()["NAME"] >= 12
    # every patient's SSN and MRN in the truth file is on the list
    mrns = {t["value"] for t in truth if t["class"] == "mrn" and t["column"] == "MRN"}
    assert mrns and mrns <= set(lists.get("MRN"))
    ssns = {t["value"] for t in truth if t["class"] == "ssn" and t["file"] == "patients.csv"}
    assert ssns and ssns <= set(lists.get("SSN"))
