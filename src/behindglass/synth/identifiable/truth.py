"""The truth file: every identifier value planted in an identifiable export.

``identifiers.jsonl`` has one JSON object per planted value::

    {"person": "<patient Id>", "class": "ssn", "value": "123-45-6789",
     "file": "patients.csv", "column": "SSN"}

Classes follow the HIPAA Safe Harbor categories: name, address, zip, date, phone, email,
ssn, mrn, health_plan, account, license, device (device serial numbers / UDIs) and
other_id (any other unique identifying number, e.g. DICOM UIDs); clinical notes add fax,
url, ip, vehicle and institution. A de-identification test reads the file and checks that
none of the values survives into the de-identified store.

Clinical notes also write ``note_spans.jsonl``: one line per PHI span of every note, the
same keys plus the note's key (``row`` = notes.csv Id, or ``resource`` = DocumentReference
id), ``start`` / ``end`` offsets into the note text, the note label and its subtype. It is
the gold for the free-text de-identifier; identifiers.jsonl repeats only the spans whose
values identify on their own (see ``clinical_notes.STORE_CLASSES``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring as _quote  # type: ignore[attr-defined]

TRUTH_FILE = "identifiers.jsonl"
NOTE_SPANS_FILE = "note_spans.jsonl"  # every PHI span of every clinical note, with offsets
CLASSES = ("name", "address", "zip", "date", "phone", "email", "ssn", "mrn", "health_plan",
           "account", "license", "device", "other_id", "fax", "url", "ip", "vehicle",
           "institution")


@dataclass(frozen=True)
class Planted:
    """Where one column of identifiers went: (file, column, Safe Harbor class)."""

    file: str
    column: str
    kind: str


def truth_lines(persons: Sequence[str], values: Sequence[str], where: Planted,
                files: Sequence[str] | None = None) -> list[str]:
    """JSON lines for one column; empty values are not identifiers and are skipped.

    ``files`` names each value's file where it differs per person (one FHIR bundle per
    patient); by default every value is in ``where.file``.
    """
    if where.kind not in CLASSES:
        raise ValueError(f"unknown identifier class {where.kind!r}")
    if len(persons) != len(values) or (files is not None and len(files) != len(values)):
        raise ValueError("persons, values and files must have the same length")
    column = f', "column": {json.dumps(where.column)}}}\n'
    head = f', "class": "{where.kind}", "value": '
    # Millions of lines: quote with json's C string encoder (what json.dumps calls).
    if files is None:
        tail = f', "file": {json.dumps(where.file)}{column}'
        return [f'{{"person": "{p}"{head}{_quote(v)}{tail}'
                for p, v in zip(persons, values, strict=True) if v]
    return [f'{{"person": "{p}"{head}{_quote(v)}, "file": {_quote(f)}{column}'
            for p, v, f in zip(persons, values, files, strict=True) if v]


def read_truth(text: str) -> list[dict[str, object]]:
    """Parse the contents of a truth file."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]
