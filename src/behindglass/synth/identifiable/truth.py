"""The truth file: every identifier value planted in an identifiable export.

``identifiers.jsonl`` has one JSON object per planted value::

    {"person": "<patient Id>", "class": "ssn", "value": "123-45-6789",
     "file": "patients.csv", "column": "SSN"}

Classes follow the HIPAA Safe Harbor categories: name, address, zip, date, phone, email,
ssn, mrn, health_plan, account, license. A de-identification test reads the file and
checks that none of the values survives into the de-identified store.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

TRUTH_FILE = "identifiers.jsonl"
CLASSES = ("name", "address", "zip", "date", "phone", "email", "ssn", "mrn", "health_plan",
           "account", "license", "device")


@dataclass(frozen=True)
class Planted:
    """Where one column of identifiers went: (file, column, Safe Harbor class)."""

    file: str
    column: str
    kind: str


def truth_lines(persons: Sequence[str], values: Sequence[str], where: Planted) -> Iterable[str]:
    """JSON lines for one column; empty values are not identifiers and are skipped."""
    if where.kind not in CLASSES:
        raise ValueError(f"unknown identifier class {where.kind!r}")
    tail = (f', "file": {json.dumps(where.file)}, "column": {json.dumps(where.column)}}}\n')
    head = f', "class": "{where.kind}", "value": '
    for person, value in zip(persons, values, strict=True):
        if value:
            yield f'{{"person": "{person}"{head}{json.dumps(value, ensure_ascii=False)}{tail}'


def read_truth(text: str) -> list[dict[str, object]]:
    """Parse the contents of a truth file."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]
