"""Clinical notes in the identifiable extract: notes.csv, DocumentReference, truth offsets."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from behindglass.synth.identifiable import (
    CLASSES,
    NOTE_SPANS_FILE,
    TRUTH_FILE,
    generate_identifiable,
    read_truth,
)
from behindglass.synth.identifiable.clinical_notes import DOCUMENT_TYPES, STORE_CLASSES
from behindglass.synth.notes.traps import trap_matches

PERSONS, SEED = 3_000, 4


def _csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def csv_extract(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("notes") / "csv"
    generate_identifiable("midwest-academic", PERSONS, SEED, out)
    return out


@pytest.fixture(scope="module")
def fhir_extract(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("notes") / "fhir"
    generate_identifiable("midwest-academic", PERSONS, SEED, out, format="fhir")
    return out


def _years(birth: str, on: str) -> int:
    b, d = dt.date.fromisoformat(birth[:10]), dt.date.fromisoformat(on[:10])
    return d.year - b.year - ((d.month, d.day) < (b.month, b.day))


def _spans(folder: Path) -> list[dict]:
    return read_truth((folder / NOTE_SPANS_FILE).read_text(encoding="utf-8"))


def test_notes_csv_has_the_columns_and_kinds(csv_extract: Path) -> None:
    notes = _csv(csv_extract / "notes.csv")
    assert list(notes.columns) == ["Id", "PATIENT", "ENCOUNTER", "DATE", "TYPE", "TEXT"]
    assert set(notes["TYPE"]) == {display for _, display in DOCUMENT_TYPES.values()}
    assert notes["TEXT"].str.contains("\n").all() and notes["Id"].is_unique
    assert notes["TEXT"].str.contains('"').any()  # quoted fields survive the CSV round trip


def test_notes_belong_to_their_patient_encounter_and_date(csv_extract: Path) -> None:
    notes = _csv(csv_extract / "notes.csv")
    enc = _csv(csv_extract / "encounters.csv").set_index("Id")
    joined = notes.merge(enc[["PATIENT", "START", "STOP", "ENCOUNTERCLASS"]],
                         left_on="ENCOUNTER", right_index=True, suffixes=("", "_enc"))
    assert len(joined) == len(notes)
    assert (joined["PATIENT"] == joined["PATIENT_enc"]).all()
    day = joined["DATE"].str[:10]
    assert ((day >= joined["START"].str[:10]) & (day <= joined["STOP"].str[:10])).all()
    discharge = joined[joined["TYPE"] == "Discharge summary"]
    assert (discharge["ENCOUNTERCLASS"] == "inpatient").all()
    # Every inpatient stay of an adult (18+ at admission) has exactly one discharge summary.
    births = _csv(csv_extract / "patients.csv").set_index("Id")["BIRTHDATE"]
    stays = enc[enc["ENCOUNTERCLASS"] == "inpatient"]
    adult = {e for e, s, p in zip(stays.index, stays["START"], stays["PATIENT"], strict=True)
             if _years(births[p], s) >= 18}
    assert set(discharge["ENCOUNTER"]) == adult and discharge["ENCOUNTER"].is_unique
    ages = [_years(births[p], d) for p, d in zip(joined["PATIENT"], joined["DATE"], strict=True)]
    assert min(ages) >= 18


def test_every_span_offset_matches_notes_csv(csv_extract: Path) -> None:
    text = _csv(csv_extract / "notes.csv").set_index("Id")
    patient = text["PATIENT"]
    spans = _spans(csv_extract)
    assert len(spans) > 10 * len(text)
    for s in spans:
        assert s["file"] == "notes.csv" and s["column"] == "TEXT"
        assert text.at[s["row"], "TEXT"][s["start"]:s["end"]] == s["value"]
        assert patient[s["row"]] == s["person"]
    labels = {s["label"] for s in spans}
    assert labels >= {"NAME", "DATE", "MRN", "PHONE", "STREET", "ZIP", "SSN", "DEVICE",
                      "HEALTH_PLAN", "ACCOUNT", "LICENSE", "EMAIL", "URL", "IP", "VEHICLE",
                      "INSTITUTION", "AGE", "FAX", "CITY", "STATE"}


def test_store_level_truth_lists_the_identifying_spans(csv_extract: Path) -> None:
    truth = [t for t in read_truth((csv_extract / TRUTH_FILE).read_text(encoding="utf-8"))
             if t["file"] == "notes.csv"]
    spans = _spans(csv_extract)
    assert {t["class"] for t in truth} == STORE_CLASSES
    assert {t["class"] for t in truth} <= set(CLASSES)
    keyed = {(s["row"], s["start"]) for s in spans}
    assert all((t["row"], t["start"]) in keyed for t in truth)
    assert len(truth) == sum(s["class"] in STORE_CLASSES for s in spans)


def test_notes_plant_the_patients_own_identifiers(csv_extract: Path) -> None:
    notes = _csv(csv_extract / "notes.csv").set_index("Id")
    contacts = _csv(csv_extract / "patient_contacts.csv").set_index("PATIENT")
    patients = _csv(csv_extract / "patients.csv").set_index("Id")
    checked = 0
    for s in _spans(csv_extract):
        person = s["person"]
        upper = notes.at[s["row"], "TYPE"] == "Nurse Note"
        fold = str.upper if upper else str
        if s["label"] == "MRN":
            assert s["value"] == fold(contacts.at[person, "MRN"])
            checked += 1
        elif s["label"] == "SSN":
            assert s["value"] == fold(patients.at[person, "SSN"])
        elif s["label"] == "NAME" and s["subtype"] == "patient":
            assert fold(patients.at[person, "LAST"]) in s["value"] or s["value"] == fold(
                patients.at[person, "FIRST"])
    assert checked > 100


def test_ages_over_89_are_spans_and_traps_are_not(csv_extract: Path) -> None:
    notes = _csv(csv_extract / "notes.csv").set_index("Id")
    spans = _spans(csv_extract)
    ages = [int(s["value"]) for s in spans if s["label"] == "AGE"]
    assert ages and min(ages) > 89
    by_row: dict[str, list[tuple[int, int]]] = {}
    for s in spans:
        by_row.setdefault(s["row"], []).append((s["start"], s["end"]))
    for row, text in notes["TEXT"].items():
        for _, a, b in trap_matches(text):
            assert not any(s < b and a < e for s, e in by_row.get(row, ())), row


def test_document_references_carry_the_same_text_and_spans(csv_extract: Path,
                                                           fhir_extract: Path) -> None:
    notes = _csv(csv_extract / "notes.csv").set_index("Id")
    docs = {}
    for line in (fhir_extract / "DocumentReference.ndjson").open(encoding="utf-8"):
        doc = json.loads(line)
        attachment = doc["content"][0]["attachment"]
        assert attachment["contentType"].startswith("text/plain")
        text = base64.b64decode(attachment["data"]).decode("utf-8")
        assert text == notes.at[doc["id"], "TEXT"]
        assert doc["subject"]["reference"] == f"Patient/{notes.at[doc['id'], 'PATIENT']}"
        assert doc["context"]["encounter"][0]["reference"] == (
            f"Encounter/{notes.at[doc['id'], 'ENCOUNTER']}")
        assert doc["date"].startswith(notes.at[doc["id"], "DATE"][:10])
        docs[doc["id"]] = text
    assert len(docs) == len(notes)
    spans = _spans(fhir_extract)
    assert len(spans) == len(_spans(csv_extract))
    for s in spans:
        assert s["file"] == "DocumentReference.ndjson"
        assert docs[s["resource"]][s["start"]:s["end"]] == s["value"]


def test_bundles_hold_each_patients_documents(tmp_path: Path) -> None:
    out = tmp_path / "b"
    generate_identifiable("rural-community", 600, 2, out, format="fhir", fhir_layout="bundles")
    spans = _spans(out)
    assert spans
    for s in spans[:500]:
        bundle = json.loads((out / s["file"]).read_text(encoding="utf-8"))
        docs = {e["resource"]["id"]: e["resource"] for e in bundle["entry"]
                if e["resource"]["resourceType"] == "DocumentReference"}
        text = base64.b64decode(docs[s["resource"]]["content"][0]["attachment"]["data"])
        assert text.decode("utf-8")[s["start"]:s["end"]] == s["value"]


def test_notes_are_deterministic(tmp_path: Path) -> None:
    for name in ("a", "b"):
        generate_identifiable("canada-network", 400, 9, tmp_path / name)
    for file in ("notes.csv", NOTE_SPANS_FILE, TRUTH_FILE):
        a, b = ((tmp_path / n / file).read_bytes() for n in ("a", "b"))
        assert hashlib.sha256(a).digest() == hashlib.sha256(b).digest(), file
