"""The notes seam: what a note generator returns from ``block_notes`` reaches notes.csv,
the truth file and (through ``document_references``) the FHIR output."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from behindglass.synth.identifiable import (
    TRUTH_FILE,
    documents,
    export,
    fhir_writer,
    generate_identifiable,
    read_truth,
)
from behindglass.synth.identifiable.truth import Planted, truth_lines


def _notes(records: documents.BlockRecords) -> documents.Notes:
    patients = records.cols["patients"]
    ids = [str(v) for v in patients["Id"]]
    first = [str(v) for v in patients["FIRST"]]
    text = [f"Seen today.\nPatient {f} is well." for f in first]
    where = Planted("notes.csv", "TEXT", "name")
    return documents.Notes({"PATIENT": ids, "TEXT": text}, truth_lines(ids, first, where))


def _references(records: documents.BlockRecords, notes: documents.Notes,
                file_of: Callable[[str], str]) -> tuple[list[dict], list[str]]:
    resources = [{"resourceType": "DocumentReference", "id": f"{p}-note", "status": "current",
                  "subject": {"reference": f"Patient/{p}"},
                  "content": [{"attachment": {"contentType": "text/plain",
                                              "data": base64.b64encode(t.encode()).decode()}}]}
                 for p, t in zip(notes.columns["PATIENT"], notes.columns["TEXT"], strict=True)]
    return resources, []


@pytest.fixture
def plugged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export, "block_notes", _notes)
    monkeypatch.setattr(fhir_writer, "block_notes", _notes)
    monkeypatch.setattr(fhir_writer, "document_references", _references)


def test_seam_is_empty_today(tmp_path: Path) -> None:
    generate_identifiable("rural-community", 50, 0, tmp_path / "x")
    assert not (tmp_path / "x" / documents.NOTES_FILE).exists()


@pytest.mark.usefixtures("plugged")
def test_notes_reach_csv_truth_and_fhir(tmp_path: Path) -> None:
    report = generate_identifiable("rural-community", 5_200, 0, tmp_path / "csv")
    notes = pd.read_csv(tmp_path / "csv" / "notes.csv", dtype=str)
    assert list(notes.columns) == ["PATIENT", "TEXT"] and len(notes) == 5_200  # two blocks
    assert report.rows["notes"] == 5_200
    assert notes["TEXT"].str.contains("\n").all()
    truth = read_truth((tmp_path / "csv" / TRUTH_FILE).read_text(encoding="utf-8"))
    assert sum(t["file"] == "notes.csv" for t in truth) == 5_200
    generate_identifiable("rural-community", 40, 0, tmp_path / "fhir", format="fhir")
    lines = (tmp_path / "fhir" / "DocumentReference.ndjson").read_text().splitlines()
    assert len(lines) == 40
    generate_identifiable("rural-community", 40, 0, tmp_path / "b", format="fhir",
                          fhir_layout="bundles")
    bundle = json.loads(next((tmp_path / "b" / "fhir").glob("*-*.json")).read_text())
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds[0] == "Patient" and kinds[-1] == "DocumentReference"
