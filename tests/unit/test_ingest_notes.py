"""Clinical notes through ingest: notes.csv and FHIR DocumentReference are de-identified by
the free-text de-identifier into the OMOP NOTE table (or held back on request).

Canary-style: the identifiable extract's truth files (note_spans.jsonl, identifiers.jsonl)
list every identifier planted in the notes; none of the patient names, MRNs, SSNs, phone
numbers, e-mails or street addresses may survive in note_text, and dates must move by the
person's own shift (shift mode) or become their year (year mode)."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import duckdb
import pytest

from behindglass.deid.dates import shift_days
from behindglass.deid.pseudonym import pseudonymize
from behindglass.deid.text.surrogates import _pools
from behindglass.ingest import IngestError, IngestReport, ingest_fhir, ingest_synthea
from tests.unit.ingest_support import (
    NOTE_TEXT,
    PEOPLE,
    SECRET,
    config,
    leaked,
    query,
    write_extract,
    write_extras,
)

identifiable = pytest.importorskip("behindglass.synth.identifiable")
pytest.importorskip("behindglass.deid.text.deidentifier")

PERSONS, SEED = 20, 4
CANARY_LABELS = {"MRN", "SSN", "PHONE", "EMAIL", "STREET"}
MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december"]


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("notes-src")
    out = {}
    for name, fmt, layout in (("csv", "synthea-csv", "ndjson"), ("ndjson", "fhir", "ndjson"),
                              ("bundles", "fhir", "bundles")):
        identifiable.generate_identifiable("midwest-academic", PERSONS, SEED, root / name,
                                           format=fmt, fhir_layout=layout)
        out[name] = root / name
    return out


_STORES: dict[str, tuple[Path, IngestReport]] = {}


@pytest.fixture(scope="module")
def stores(sources: dict[str, Path], tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("notes-db")

    def load(name: str) -> tuple[Path, IngestReport]:
        if name not in _STORES:
            kind, mode, *hold = name.split("-")
            db = root / f"{name}.duckdb"
            notes = "hold" if hold else "deidentify"
            if kind == "csv":
                report = ingest_synthea(sources["csv"], db, SECRET, config(mode), notes=notes)
            else:
                src = sources[kind] / "fhir" if kind == "bundles" else sources[kind]
                report = ingest_fhir(src, db, SECRET, config(mode), notes=notes)
            assert report.errors == 0, report.problems
            _STORES[name] = (db, report)
        return _STORES[name]

    return load


def leaked_outside_notes(db: Path, values: list[str], work: Path) -> list[str]:
    """:func:`leaked` over every table but with note_text blanked: a surrogate name in a
    note ("Adkins") may well be another person's real surname, so note text is checked
    note by note instead (:func:`note_leaks`)."""
    copy = work / f"{db.stem}.no-note-text.duckdb"
    shutil.copyfile(db, copy)
    con = duckdb.connect(str(copy))
    try:
        con.execute("UPDATE note SET note_text = NULL")
    finally:
        con.close()
    try:
        return leaked(copy, values)
    finally:
        copy.unlink()


def note_leaks(db: Path, spans: list[dict], truth: list[dict]) -> list[tuple[str, str]]:
    """Planted values still in note_text: each note's own spans (every label but STATE,
    which Safe Harbor keeps, and AGE, whose surrogate "90+" starts with the true "90"),
    and anywhere in any note, every planted value that is not a single name word."""
    texts = _texts(db)
    # a one-word name the surrogate generator can emit cannot be told from a surrogate
    surrogate_words = {w.lower() for pool in _pools() for w in pool}
    found = []
    for span in spans:
        if span["label"] in ("STATE", "AGE", "DATE") or (
                span["label"] == "NAME" and span["value"].lower() in surrogate_words):
            continue
        text = texts.get(_note_id(span.get("row") or span["resource"]), "")
        if re.search(rf"(?<!\w){re.escape(span['value'])}(?!\w)", text):
            found.append((span["label"], span["value"]))
    blob = "\n".join(texts.values()).lower()
    for t in truth:
        value = str(t["value"]).strip().lower()
        if t["class"] in ("date", "age", "state") or len(value) < 6 or (
                t["class"] == "name" and " " not in value):
            continue
        if value in blob:
            found.append((t["class"], value))
    return found


def _notes_csv(src: Path) -> list[dict]:
    con = duckdb.connect()
    try:
        rel = con.execute(f"SELECT Id, PATIENT, ENCOUNTER, DATE, TYPE FROM read_csv("
                          f"'{src / 'notes.csv'}', all_varchar=true)")
        cols = [d[0] for d in rel.description]
        return [dict(zip(cols, row, strict=True)) for row in rel.fetchall()]
    finally:
        con.close()


def _spans(src: Path) -> list[dict]:
    return [json.loads(line) for line in (src / identifiable.NOTE_SPANS_FILE).read_text(
        encoding="utf-8").splitlines() if line.strip()]


def _texts(db: Path) -> dict[int, str]:
    return dict(query(db, "SELECT note_id, note_text FROM note"))


def _note_id(source_id: str) -> int:
    return int(pseudonymize([source_id], SECRET, "note")[0])


@pytest.mark.parametrize("name", ["csv-shift", "ndjson-shift", "bundles-shift"])
def test_every_note_is_loaded_and_linked(sources: dict[str, Path], stores, name: str) -> None:
    db, report = stores(name)
    notes = _notes_csv(sources["csv"])
    assert notes, "the extract must have notes for this test to mean anything"
    assert report.notes_deidentified == len(notes) and report.rows["note"] == len(notes)
    assert "notes.csv" not in report.held_back
    assert "DocumentReference.content" not in report.held_back
    rows = {r[0]: r[1:] for r in query(
        db, "SELECT note_id, person_id, visit_occurrence_id, note_type_concept_id, "
            "encoding_concept_id, language_concept_id, note_source_value, note_title FROM note")}
    persons = {r[0] for r in query(db, "SELECT person_id FROM person")}
    visits = {r[0] for r in query(db, "SELECT visit_occurrence_id FROM visit_occurrence")}
    for note in notes:
        person, visit, kind, enc, lang, source, title = rows[_note_id(note["Id"])]
        assert person == int(pseudonymize([note["PATIENT"]], SECRET, "person")[0])
        assert person in persons and visit in visits
        assert (kind, enc, lang) == (32817, 32678, 4180186)
        assert source == title == note["TYPE"]
    assert sum(report.note_phi.values()) > 0 and report.note_phi.get("NAME", 0) > 0


def test_csv_and_fhir_give_the_same_notes(stores) -> None:
    cols = "note_id, person_id, note_date, note_datetime, note_text, visit_occurrence_id"
    csv_rows = sorted(query(stores("csv-shift")[0], f"SELECT {cols} FROM note"))
    assert csv_rows == sorted(query(stores("ndjson-shift")[0], f"SELECT {cols} FROM note"))
    assert csv_rows == sorted(query(stores("bundles-shift")[0], f"SELECT {cols} FROM note"))


@pytest.mark.parametrize("name", ["csv-shift", "csv-year", "ndjson-shift", "bundles-shift"])
def test_no_planted_identifier_survives_in_note_text(sources: dict[str, Path], stores,
                                                     name: str) -> None:
    db, report = stores(name)
    texts = _texts(db)
    blob = "\n".join(texts.values()).lower()
    spans = _spans(sources["csv"])
    leaks = []
    for span in spans:
        text = texts[_note_id(span["row"])].lower()
        value = span["value"].lower()
        patient_name = span["label"] == "NAME" and span.get("subtype") in ("patient",
                                                                           "relative")
        if (span["label"] in CANARY_LABELS or patient_name) and re.search(
                rf"(?<!\w){re.escape(value)}(?!\w)", text):
            leaks.append((span["label"], span.get("subtype")))
    assert leaks == []
    # the structured identifiers of every patient, anywhere in any note
    truth = identifiable.read_truth((sources["csv"] / identifiable.TRUTH_FILE).read_text())
    by_person: dict[str, dict[str, str]] = {}
    for t in truth:
        if t["file"] == "patients.csv" and t["column"] in ("FIRST", "LAST"):
            by_person.setdefault(t["person"], {})[t["column"]] = t["value"]
    structured = [f"{p['FIRST']} {p['LAST']}".lower() for p in by_person.values()]
    structured += [str(t["value"]).lower() for t in truth
                   if t["class"] in ("ssn", "mrn", "phone", "email") or t.get("column")
                   == "ADDRESS"]
    assert [v for v in structured if v in blob] == []
    assert not [v for v in structured if v in repr(report).lower()]  # counts only
    assert note_leaks(db, spans, truth) == []


def _full_date(value: str) -> dt.date | None:
    """The date a span names when it has day, month and a 4-digit year (else None)."""
    v = value.strip().lower()
    month_names = "|".join(m[:3] + r"[a-z]*" for m in MONTHS)
    patterns = [
        (r"(\d{4})-(\d{1,2})-(\d{1,2})", "ymd"), (r"(\d{1,2})[/-](\d{1,2})[/-](\d{4})", "mdy"),
        (rf"({month_names})\.? (\d{{1,2}}),? (\d{{4}})", "Mdy"),
        (rf"(\d{{1,2}})-({month_names})-(\d{{4}})", "dMy"),
        (rf"(\d{{1,2}})(?:st|nd|rd|th)? of ({month_names}) (\d{{4}})", "dMy"),
    ]
    for pattern, order in patterns:
        m = re.fullmatch(pattern, v)
        if not m:
            continue
        parts = dict(zip(order, m.groups(), strict=True))
        month = parts.get("m") or parts.get("M")
        month_no = int(month) if month.isdigit() else next(
            i for i, name in enumerate(MONTHS, 1) if name.startswith(month[:3]))
        try:
            return dt.date(int(parts["y"]), month_no, int(parts["d"]))
        except ValueError:
            return None
    return None


def _renderings(day: dt.date) -> set[str]:
    month = MONTHS[day.month - 1]
    return {day.isoformat(), f"{day.month}/{day.day}/{day.year}",
            f"{day.month:02d}/{day.day:02d}/{day.year}",
            f"{day.month:02d}-{day.day:02d}-{day.year}",
            f"{day.month}-{day.day}-{day.year}", f"{month} {day.day}, {day.year}",
            f"{month[:3]} {day.day}, {day.year}", f"{day.day:02d}-{month[:3]}-{day.year}",
            f"{day.day}-{month[:3]}-{day.year}", f"{month} {day.day} {day.year}",
            f"{day.day} {month} {day.year}", f"{day.day} {month[:3]} {day.year}"} | {
        f"{day.day}{suffix} of {month} {day.year}" for suffix in ("st", "nd", "rd", "th")}


def test_shift_mode_moves_dates_by_the_persons_own_offset(sources: dict[str, Path],
                                                          stores) -> None:
    db, _ = stores("csv-shift")
    texts = _texts(db)
    checked = 0
    for span in _spans(sources["csv"]):
        if span["label"] != "DATE" or (day := _full_date(span["value"])) is None:
            continue
        offset = int(shift_days([span["person"]], SECRET, config("shift").max_shift_days)[0])
        text = texts[_note_id(span["row"])].lower()
        assert not any(r.lower() in text for r in _renderings(day)), span["value"]
        moved = day + dt.timedelta(days=offset)
        assert any(r.lower() in text for r in _renderings(moved)), (span["value"], moved)
        checked += 1
    assert checked >= 5
    # note_date moves with the person's other dates
    for note in _notes_csv(sources["csv"]):
        offset = int(shift_days([note["PATIENT"]], SECRET, config("shift").max_shift_days)[0])
        true = dt.date.fromisoformat(note["DATE"][:10])
        assert query(db, f"SELECT note_date FROM note WHERE note_id = "
                         f"{_note_id(note['Id'])}") == [(true + dt.timedelta(days=offset),)]


def test_year_mode_keeps_only_years(sources: dict[str, Path], stores) -> None:
    db, _ = stores("csv-year")
    texts = _texts(db)
    # a whole date in any numeric layout (not a blood pressure or an IP part: real days)
    full = re.compile(r"(?<![\d./-])(\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[/-]\d{1,2}[/-]\d{4})"
                      r"(?![\d./-])")
    dates = [m.group(0) for t in texts.values() for m in full.finditer(t)
             if _full_date(m.group(0)) is not None]
    assert dates == []
    checked = 0
    for span in _spans(sources["csv"]):
        if span["label"] != "DATE" or (day := _full_date(span["value"])) is None:
            continue
        text = texts[_note_id(span["row"])]
        assert not any(r.lower() in text.lower() for r in _renderings(day)), span["value"]
        assert str(day.year) in text
        checked += 1
    assert checked >= 5
    for note in _notes_csv(sources["csv"]):
        year = int(note["DATE"][:4])
        assert query(db, f"SELECT note_date FROM note WHERE note_id = "
                         f"{_note_id(note['Id'])}") == [(dt.date(year, 7, 1),)]


@pytest.mark.parametrize("name", ["csv-year-hold", "ndjson-year-hold"])
def test_hold_option_still_holds_notes_back(sources: dict[str, Path], stores,
                                            name: str) -> None:
    db, report = stores(name)
    n = len(_notes_csv(sources["csv"]))
    assert query(db, "SELECT count(*) FROM note") == [(0,)]
    assert report.notes_deidentified == 0 and report.note_phi == {}
    key = "notes.csv" if name.startswith("csv") else "DocumentReference.content"
    assert report.held_back[key] == n


def test_reingest_adds_no_duplicate_notes(sources: dict[str, Path], tmp_path: Path) -> None:
    db = tmp_path / "site.duckdb"
    first = ingest_synthea(sources["csv"], db, SECRET, config("shift"))
    again = ingest_synthea(sources["csv"], db, SECRET, config("shift"))
    assert first.added["note"] == first.notes_deidentified > 0
    assert again.added["note"] == 0
    assert query(db, "SELECT count(*) FROM note") == [(first.notes_deidentified,)]


def test_bad_note_rows_are_reported_by_line_without_values(tmp_path: Path) -> None:
    src = write_extras(write_extract(tmp_path / "src"))
    text = (src / "notes.csv").read_text()
    # note 2 (line 4: the TEXT of note 1 spans two lines) names a patient nobody knows
    text = text.replace(f'"note-1-secret","{PEOPLE[1][0]}"', '"note-1-secret","pat-nobody"')
    (src / "notes.csv").write_text(text)
    db = tmp_path / "site.duckdb"
    with pytest.raises(IngestError) as err:
        ingest_synthea(src, db, SECRET, config())
    assert [(p.file, p.line) for p in err.value.problems] == [("notes.csv", 4)]
    assert "PATIENT" in err.value.problems[0].reason and not db.exists()
    report = ingest_synthea(src, db, SECRET, config(), max_errors=1)
    assert report.notes_deidentified == len(PEOPLE) - 1
    assert [str(p) for p in report.problems] == [
        "notes.csv, line 4: PATIENT is neither in patients.csv nor in the store"]
    stored = "\n".join(t for (t,) in query(db, "SELECT note_text FROM note"))
    for value in (PEOPLE[0][4], PEOPLE[0][5], PEOPLE[0][3], PEOPLE[0][10], PEOPLE[0][13]):
        assert value not in stored
    assert NOTE_TEXT not in stored


def test_a_non_utf8_note_is_a_bad_row(tmp_path: Path) -> None:
    src = write_extras(write_extract(tmp_path / "src"))
    raw = (src / "notes.csv").read_bytes().replace(b"seen today", b"seen \xff\xfe today", 1)
    (src / "notes.csv").write_bytes(raw)
    with pytest.raises(IngestError) as err:
        ingest_synthea(src, tmp_path / "site.duckdb", SECRET, config())
    assert [(p.file, p.line, p.reason) for p in err.value.problems] == [
        ("notes.csv", 2, "not UTF-8 text")]


def test_detection_on_worker_processes_gives_the_same_notes(
        sources: dict[str, Path], stores, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from behindglass.ingest import notes as note_step

    # Move detection to worker processes from the second batch of 4 notes on.
    monkeypatch.setattr(note_step, "BATCH", 4)
    monkeypatch.setattr(note_step, "PARALLEL_AFTER", 4)
    monkeypatch.setattr(note_step.os, "cpu_count", lambda: 2)
    db = tmp_path / "parallel.duckdb"
    report = ingest_synthea(sources["csv"], db, SECRET, config("shift"))
    sequential_db, sequential = stores("csv-shift")
    assert report.notes_deidentified == sequential.notes_deidentified > 8
    assert report.note_phi == sequential.note_phi
    assert _texts(db) == _texts(sequential_db)
