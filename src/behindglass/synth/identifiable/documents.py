"""Clinical notes of a block, as both identifiable writers receive them.

Both writers call :func:`block_notes` once per block with a :class:`BlockRecords`, which
holds everything known about the block's persons: the OMOP block, every Synthea table
(identities in ``cols["patients"]`` and ``cols["patient_contacts"]``, encounters,
imaging studies, …), the patient UUIDs and the site's providers and organizations. The
notes themselves are planned and rendered by ``clinical_notes`` (which events get which
note) with the note generator of ``synth.notes``.

* The Synthea CSV writer appends ``notes.columns`` to ``notes.csv`` (Id, PATIENT,
  ENCOUNTER, DATE, TYPE, TEXT; multi-line TEXT, CSV-quoted), ``notes.truth`` to
  identifiers.jsonl and ``notes.spans`` to note_spans.jsonl.
* The FHIR writer calls :func:`document_references`: one DocumentReference per note
  (``DocumentReference.ndjson``, or into the patient's bundle: ``file_of(patient)`` names
  the file) with the same text base64-encoded, and the same span lines keyed by resource id.

Determinism: notes draw only from ``records.rng(NOTES_STREAM)``, so adding them changed
no other file.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from behindglass.synth.identifiable import clinical_notes as cn
from behindglass.synth.identifiable.synthea_csv import as_list
from behindglass.synth.notes import Note
from behindglass.synth.profiles import Profile
from behindglass.synth.sitetables import profile_key
from behindglass.synth.writer import Columns

NOTES_FILE = "notes.csv"
NOTES_COLUMNS = ("Id", "PATIENT", "ENCOUNTER", "DATE", "TYPE", "TEXT")
DOCUMENT_COLUMN = "DocumentReference.content.attachment.data"
LOINC = "http://loinc.org"
_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category"


@dataclass(frozen=True)
class BlockRecords:
    """One block as both writers see it."""

    profile: Profile
    seed: int
    index: int  # block index (blocks of ``synth.generate.BLOCK`` persons)
    block: dict[str, Columns]  # the OMOP tables, block-local ids
    cols: dict[str, dict[str, object]]  # Synthea tables by name (see synthea_csv.HEADERS)
    patient: np.ndarray  # patient UUID by block-local person index
    site: dict[str, dict[str, object]] = field(default_factory=dict)  # providers, organizations

    def rng(self, stream: int) -> np.random.Generator:
        """A generator of its own for ``stream`` (an extra seed word)."""
        return np.random.default_rng(np.random.SeedSequence(
            [self.seed, profile_key(self.profile), self.index, stream]))


@dataclass(frozen=True)
class Notes:
    """The notes of one block: ``notes.csv`` columns and their truth lines."""

    columns: dict[str, object]  # column name -> values, one entry per note, in file order
    truth: list[str]  # identifiers.jsonl lines, file "notes.csv"
    spans: list[str] = field(default_factory=list)  # note_spans.jsonl lines, file "notes.csv"
    notes: tuple[Note, ...] = ()  # the rendered notes, in row order
    authors: list[str] = field(default_factory=list)  # provider UUID per note
    periods: list[tuple[str, str]] = field(default_factory=list)  # encounter START, STOP


def block_notes(records: BlockRecords) -> Notes:
    """The notes of one block (see ``clinical_notes`` for which events get one)."""
    rng = records.rng(cn.NOTES_STREAM)
    jobs = cn.plan(records.cols, rng)
    region = records.profile.demographics.regions[0]
    institution = cn.site_institution(records.profile.name, region.city, records.seed)
    notes, ids = cn.render(jobs, records.cols, records.site, rng, institution,
                           records.profile.extract_date)
    enc = {k: as_list(records.cols["encounters"][k])
           for k in ("Id", "START", "STOP", "PROVIDER")}
    columns: dict[str, object] = {
        "Id": ids, "PATIENT": [n.patient for n in notes],
        "ENCOUNTER": [enc["Id"][j.encounter] for j in jobs], "DATE": [j.when for j in jobs],
        "TYPE": [cn.DOCUMENT_TYPES[n.kind][1] for n in notes], "TEXT": [n.text for n in notes]}
    spans: list[str] = []
    truth: list[str] = []
    for note in notes:
        every, store = cn.span_lines(note, NOTES_FILE, "TEXT", "row")
        spans += every
        truth += store
    return Notes(columns, truth, spans, tuple(notes),
                 [enc["PROVIDER"][j.encounter] for j in jobs],
                 [(enc["START"][j.encounter], enc["STOP"][j.encounter]) for j in jobs])


def document_references(records: BlockRecords, notes: Notes, file_of: Callable[[str], str],
                        ) -> tuple[list[dict], list[str], list[str]]:
    """DocumentReference resources for ``notes``, their identifiers.jsonl lines and their
    note_spans.jsonl lines (offsets into the decoded attachment text)."""
    resources: list[dict] = []
    truth: list[str] = []
    spans: list[str] = []
    cols = notes.columns
    for note, encounter, when, author, (start, stop) in zip(
            notes.notes, cols["ENCOUNTER"], cols["DATE"], notes.authors,  # type: ignore[call-overload]
            notes.periods, strict=True):
        code, display = cn.DOCUMENT_TYPES[note.kind]
        resources.append({
            "resourceType": "DocumentReference", "id": note.id, "status": "current",
            "docStatus": "final",
            "type": {"coding": [{"system": LOINC, "code": code, "display": display}],
                     "text": display},
            "category": [{"coding": [{"system": _CATEGORY, "code": "clinical-note",
                                      "display": "Clinical Note"}]}],
            "subject": {"reference": f"Patient/{note.patient}"}, "date": when,
            "author": [{"reference": f"Practitioner/{author}"}],
            "content": [{"attachment": {
                "contentType": "text/plain", "language": "en", "title": display,
                "data": base64.b64encode(note.text.encode("utf-8")).decode("ascii")}}],
            "context": {"encounter": [{"reference": f"Encounter/{encounter}"}],
                        "period": {"start": start, "end": stop}}})
        every, store = cn.span_lines(note, file_of(str(note.patient)), DOCUMENT_COLUMN,
                                     "resource")
        spans += every
        truth += store
    return resources, truth, spans
