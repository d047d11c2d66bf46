"""Clinical notes → the OMOP ``note`` table, scrubbed by the free-text de-identifier.

Sources: Synthea-style ``notes.csv`` (``Id, PATIENT, ENCOUNTER, DATE, TYPE, TEXT``) and FHIR
``DocumentReference`` (text attachments, base64). Each note is read in Python (never
through DuckDB, so the raw text is not spilled to disk), de-identified by
:class:`~behindglass.deid.text.deidentifier.TextDeidentifier` keyed on the note's source
patient, and only the de-identified text is staged; the raw text is dropped with its batch.
Nothing of a note's content reaches a log, a problem or the report: problems name the file
and line (or bundle entry), and the report counts spans per label.

Per row:

* ``note_id``: keyed pseudonym (namespace ``note``) of the source id, so re-ingesting the
  same extract adds no duplicate; ``person_id`` / ``visit_occurrence_id`` /
  ``provider_id`` the same keyed ids the other tables carry;
* ``note_date`` / ``note_datetime``: the date mode of every other date of that person
  (shift: the person's own offset, the same one the de-identifier applies to dates inside
  the text; year: 1 July of the year);
* ``note_type_concept_id`` 32817 (EHR); ``note_class_concept_id`` the LOINC document type
  when the vocabulary has it (the type display of notes.csv is looked up in
  :data:`LOINC_DOCUMENT_TYPES`), else 0; ``encoding_concept_id`` 32678 (UTF-8);
  ``language_concept_id`` 4180186 (English);
* ``note_title`` and ``note_source_value``: the note kind (TYPE / the type's display),
  a document class, never an identifier.
"""

from __future__ import annotations

import base64
import binascii
import csv
import datetime as dt
import json
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from behindglass.deid.dates import deidentify_dates
from behindglass.deid.pseudonym import pseudonymize
from behindglass.deid.safe_harbor import DeidConfig
from behindglass.deid.secret import SiteSecret
from behindglass.ingest.fhir_values import get, ref
from behindglass.ingest.persons import PersonIndex, pseudo
from behindglass.ingest.report import Problem

if TYPE_CHECKING:
    from behindglass.deid.text.deidentifier import TextDeidentifier
    from behindglass.deid.text.model import Detection
    from behindglass.deid.text.parallel import ParallelDetector
    from behindglass.deid.text.site_lists import SiteLists
    from behindglass.ingest.vocab import CodeMap

EHR, UTF8, ENGLISH = 32817, 32678, 4180186
LOINC = "http://loinc.org"
#: notes.csv TYPE (the LOINC display the identifiable extract writes) → LOINC code.
LOINC_DOCUMENT_TYPES = {
    "discharge summary": "18842-5", "nurse note": "34746-8",
    "diagnostic imaging study": "18748-4", "pathology study": "11526-1",
    "consult note": "11488-4", "telephone encounter note": "34748-4",
    "progress note": "11506-3", "history and physical note": "34117-2",
}
NOTE_COLUMNS = ("Id", "PATIENT", "ENCOUNTER", "DATE", "TYPE", "TEXT")
REQUIRED = ("Id", "PATIENT", "DATE", "TEXT")
BATCH = 256  # notes de-identified between two stage writes
# Notes done in this process before detection moves to worker processes (starting them
# costs about a second each; a small extract never needs them).
PARALLEL_AFTER = 2 * BATCH
_TITLE_CHARS, _SOURCE_CHARS = 250, 50  # note_title varchar(250), *_source_value varchar(50)
MODES = ("deidentify", "hold")


@dataclass
class RawNote:
    """One source note. ``text`` is identifiable: it lives only in memory, in one batch."""

    key: str | None
    patient: str | None
    encounter: str | None
    date: str | None
    kind: str
    code: str
    text: str
    where: Problem  # file and line (or entry) with an empty reason: where it came from
    author: str | None = None


Notes = Iterator[RawNote | Problem]


@dataclass
class NoteInput:
    """Notes handed to the pipeline by a reader other than the CSV one (FHIR)."""

    notes: Callable[[], Notes]
    site_lists: Callable[[], SiteLists]
    label: str


@dataclass
class NoteOutcome:
    """What the note step did, booked by the pipeline (counts only, never text)."""

    problems: list[Problem] = field(default_factory=list)
    notes: int = 0
    phi: Counter[str] = field(default_factory=Counter)
    skipped: int = 0  # notes of refused patients (reported in patients.csv)


class _Big:
    """Let Python's csv read notes longer than its 128 KiB default field limit."""

    def __enter__(self) -> None:
        self.old = csv.field_size_limit()
        csv.field_size_limit(2**31 - 1)

    def __exit__(self, *exc: object) -> None:
        csv.field_size_limit(self.old)


def _decoded(fh: Any, bad: set[int]) -> Iterator[str]:
    """The file's lines as text; a line that is not UTF-8 is noted in ``bad`` (its row is
    refused) and decoded with replacement characters so the reader stays in step."""
    for number, raw in enumerate(fh, start=1):
        try:
            yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            bad.add(number)
            yield raw.decode("utf-8", errors="replace")


def csv_notes(path: Path) -> Notes:
    """The rows of a notes.csv as :class:`RawNote`, or a :class:`Problem` per bad row (the
    file's line where the row starts; TEXT spans several lines)."""
    label = path.name
    bad: set[int] = set()
    with path.open("rb") as fh, _Big():
        reader = csv.reader(_decoded(fh, bad))
        try:
            header = next(reader, None)
        except csv.Error:
            header = None
        if not header:
            yield Problem(label, 1, "no header row")
            return
        at = {h.strip().upper(): i for i, h in enumerate(header)}
        missing = [c for c in REQUIRED if c.upper() not in at]
        if missing or 1 in bad:
            yield Problem(label, 1, "the header row is not UTF-8 text" if 1 in bad else
                          f"no {', '.join(missing)} column")
            return
        cols = {c: at.get(c.upper()) for c in NOTE_COLUMNS}
        start = reader.line_num + 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error:
                yield Problem(label, start, "malformed CSV row")
                return
            end, first = reader.line_num, start
            start = end + 1
            if not any(row):
                continue
            if any(n in bad for n in range(first, end + 1)):
                yield Problem(label, first, "not UTF-8 text")
                continue
            if len(row) != len(header):
                yield Problem(label, first, "malformed CSV row (wrong number of fields)")
                continue

            def value(column: str, row: list[str] = row) -> str | None:
                i = cols[column]
                return (row[i].strip() or None) if i is not None else None

            kind = value("TYPE") or ""
            yield RawNote(value("Id"), value("PATIENT"), value("ENCOUNTER"), value("DATE"),
                          kind, LOINC_DOCUMENT_TYPES.get(kind.lower(), ""),
                          row[cols["TEXT"]] or "", Problem(label, first, ""))


# --- FHIR DocumentReference -----------------------------------------------------------

def _type(resource: dict) -> tuple[str, str]:
    """(LOINC code, display) of DocumentReference.type."""
    concept = resource.get("type")
    codings = concept.get("coding") if isinstance(concept, dict) else None
    code, display = "", ""
    for coding in codings if isinstance(codings, list) else []:
        if not isinstance(coding, dict):
            continue
        if coding.get("system") == LOINC and isinstance(coding.get("code"), str):
            code = coding["code"].strip()
            display = display or str(coding.get("display") or "").strip()
        elif not display and isinstance(coding.get("display"), str):
            display = coding["display"].strip()
    if isinstance(concept, dict) and isinstance(concept.get("text"), str) and not display:
        display = concept["text"].strip()
    return code, display


def _text_of(resource: dict) -> tuple[str | None, str | None]:
    """(text, None) from the text attachments; (None, reason) for an undecodable one;
    (None, None) when the resource has no text attachment (PDF, a URL): held back."""
    parts: list[str] = []
    for content in resource.get("content") or []:
        attachment = get(content, "attachment")
        if not isinstance(attachment, dict):
            continue
        kind = str(attachment.get("contentType") or "text/plain").lower()
        data = attachment.get("data")
        if not kind.startswith("text/") or not isinstance(data, str):
            continue
        try:
            parts.append(base64.b64decode(data, validate=False).decode("utf-8"))
        except (binascii.Error, ValueError):
            return None, "attachment data is not base64 UTF-8 text"
    return ("\n\n".join(parts), None) if parts else (None, None)


def document_reference(resource: dict, where: Problem) -> RawNote | Problem | None:
    """One DocumentReference as a note (None: no text to load)."""
    text, reason = _text_of(resource)
    if reason is not None:
        return Problem(where.file, where.line, reason)
    if text is None:
        return None
    context = resource.get("context")
    encounters = get(context, "encounter")
    encounter = encounters[0] if isinstance(encounters, list) and encounters else encounters
    date = resource.get("date") or get(context, "period", "start")
    authors = resource.get("author")
    author = ref(authors[0]) if isinstance(authors, list) and authors else ""
    code, display = _type(resource)
    rid = resource.get("id")
    return RawNote(rid.strip() if isinstance(rid, str) and rid.strip() else None,
                   ref(resource.get("subject")) or None, ref(encounter) or None,
                   date.strip() if isinstance(date, str) else None,
                   display, code, text, where, author or None)


def fhir_notes(paths: Iterable[Path], held: Counter[str]) -> Notes:
    """The DocumentReference resources of NDJSON files as notes; resources without a text
    attachment are counted in ``held`` (still held back: there is no text to scrub)."""
    for path in paths:
        with path.open("rb") as fh:
            for number, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                where = Problem(path.name, number, "")
                try:
                    resource = json.loads(raw.decode("utf-8-sig" if number == 1 else "utf-8"))
                except (ValueError, RecursionError):
                    yield Problem(path.name, number, "invalid JSON")
                    continue
                if not isinstance(resource, dict):
                    yield Problem(path.name, number, "not a JSON object")
                    continue
                if resource.get("resourceType") != "DocumentReference":
                    yield Problem(path.name, number, "resourceType is not DocumentReference")
                    continue
                try:
                    note = document_reference(resource, where)
                except (AttributeError, TypeError, ValueError):
                    note = Problem(path.name, number, "malformed DocumentReference resource")
                if note is None:
                    held["DocumentReference.content"] += 1
                else:
                    yield note


# --- the step -------------------------------------------------------------------------

def _timestamp(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        ts = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if ts.tzinfo is not None:  # as the other tables read instants: UTC, naive
        ts = ts.astimezone(dt.UTC).replace(tzinfo=None)
    return ts


class _NoPool:
    """Marks that worker processes failed once: stay in this process from then on."""

    def close(self) -> None:
        pass


_NO_POOL = _NoPool()


@dataclass
class NoteStep:
    """Checks, de-identifies and stages notes batch by batch."""

    persons: PersonIndex
    secret: SiteSecret
    cfg: DeidConfig
    deid: TextDeidentifier
    codes: CodeMap
    write: Callable[[str, pa.Table], None]
    lock: threading.Lock
    progress: Callable[[str, int], None] | None = None
    _pool: ParallelDetector | _NoPool | None = None

    def run(self, notes: Notes, label: str) -> NoteOutcome:
        out = NoteOutcome()
        batch: list[RawNote] = []
        try:
            for item in notes:
                if isinstance(item, Problem):
                    out.problems.append(item)
                    continue
                batch.append(item)
                if len(batch) >= BATCH:
                    self._batch(batch, out, label)
                    batch = []  # the raw texts go with the list
            if batch:
                self._batch(batch, out, label)
        finally:
            if self._pool is not None:
                self._pool.close()
                self._pool = None
        return out

    def _detections(self, notes: list[RawNote], done: int) -> list[list[Detection]]:
        """Spans of every note: in this process for a small load, on every core once the
        load is large enough to repay starting the workers."""
        from behindglass.deid.text.parallel import ParallelDetector

        if self._pool is None and done >= PARALLEL_AFTER and (os.cpu_count() or 1) > 1:
            self._pool = ParallelDetector(self.deid.site_lists,
                                          threshold=self.deid.analyzer.threshold)
        if isinstance(self._pool, ParallelDetector):
            try:
                return self._pool.detect([(n.text, n.patient) for n in notes])
            except BrokenProcessPool:
                # A worker could not start (e.g. a calling script without a __main__ guard,
                # which spawned workers re-run): finish in this process, slower but whole.
                self._pool.close()
                self._pool = _NO_POOL
        return [self.deid.detect(n.text, patient=n.patient) for n in notes]

    def _check(self, notes: list[RawNote], out: NoteOutcome) -> tuple[list[RawNote], list[int],
                                                                       list[dt.datetime]]:
        keys = pa.array([n.patient or "" for n in notes], pa.string())
        rows = self.persons.find(keys)
        refused = set(self.persons.refused.to_pylist())
        unknown_ids = pseudo(pa.array([n.patient for n in notes], pa.string()), self.secret,
                             "person").fill_null(0).to_numpy(zero_copy_only=False)
        stored = self.persons.in_store(unknown_ids)
        keep, ids, stamps = [], [], []
        for i, note in enumerate(notes):
            ts = _timestamp(note.date)
            reason = None
            if note.patient is None:
                reason = "missing PATIENT"
            elif note.patient in refused:
                out.skipped += 1
                continue
            elif rows[i] < 0 and not stored[i]:
                reason = "PATIENT is neither in patients.csv nor in the store"
            elif note.key is None:
                reason = "missing Id"
            elif ts is None:
                reason = "DATE is missing or not a date"
            if reason is not None:
                out.problems.append(Problem(note.where.file, note.where.line, reason))
                continue
            keep.append(note)
            ids.append(int(self.persons.person_id[rows[i]]) if rows[i] >= 0
                       else int(unknown_ids[i]))
            stamps.append(ts)
        return keep, ids, stamps

    def _batch(self, notes: list[RawNote], out: NoteOutcome, label: str) -> None:
        keep, ids, stamps = self._check(notes, out)
        if not keep:
            return
        texts: list[str] = []
        for note, found in zip(keep, self._detections(keep, out.notes), strict=True):
            text, counts = scrub(self.deid, note.text, note.patient, found)
            texts.append(text)
            out.phi.update(counts)
        patients = pa.array([n.patient for n in keep], pa.string())
        when = deidentify_dates(pa.array(stamps, pa.timestamp("us")), mode=self.cfg.date_mode,
                                person_keys=patients, secret=self.secret,
                                max_days=self.cfg.max_shift_days)
        n = len(keep)
        table = pa.table({
            "note_id": pseudonymize(pa.array([x.key for x in keep], pa.string()), self.secret,
                                    "note"),
            "person_id": pa.array(np.asarray(ids, dtype=np.int64)),
            "note_date": when.cast(pa.date32()), "note_datetime": when,
            "note_type_concept_id": np.full(n, EHR, np.int64),
            "note_class_concept_id": self.codes.map(
                pa.array([x.code or None for x in keep], pa.string()), "LOINC"),
            "note_title": pa.array([k[:_TITLE_CHARS] or None for k in
                                    (x.kind for x in keep)], pa.string()),
            "note_text": pa.array(texts, pa.string()),
            "encoding_concept_id": np.full(n, UTF8, np.int64),
            "language_concept_id": np.full(n, ENGLISH, np.int64),
            "provider_id": pseudo(pa.array([x.author for x in keep], pa.string()), self.secret,
                                  "provider"),
            "visit_occurrence_id": pseudo(pa.array([x.encounter for x in keep], pa.string()),
                                          self.secret, "visit"),
            "note_source_value": pa.array([k[:_SOURCE_CHARS] or None for k in
                                           (x.kind for x in keep)], pa.string()),
            "_ord": pa.array([x.where.line for x in keep], pa.int64()),
        })
        with self.lock:
            self.write("note", table)
            out.notes += n
            if self.progress:
                self.progress(f"{label} (de-identified)", out.notes)


def scrub(deid: TextDeidentifier, text: str, patient: str | None,
          found: list[Detection] | None = None) -> tuple[str, Counter[str]]:
    """The de-identified text and the number of PHI spans replaced per label (detected
    once, here or by the caller; spans of the labels the de-identifier keeps, STATE, are
    not counted)."""
    if found is None:
        found = deid.detect(text, patient=patient)
    counts = Counter(d.label for d in found if d.label not in deid.keep)
    return deid.replace(text, found, patient=patient), counts


def text_deidentifier(secret: SiteSecret, cfg: DeidConfig,
                      site_lists: SiteLists) -> TextDeidentifier:
    """The de-identifier of an ingest: the site secret, the ingest's date mode (year → year
    only, shift → the person's own offset, the same ``max_shift_days``)."""
    # imported here: hold mode and the structured tables never load the text engine
    from behindglass.deid.text.deidentifier import TextDeidentifier

    return TextDeidentifier(secret, site_lists=site_lists, mode="surrogate",
                            date_mode=cfg.date_mode, max_shift_days=cfg.max_shift_days)
