"""The gold JSONL format: one note per line with its spans.

``{"id", "kind", "patient", "text", "spans": [{"start", "end", "label", "text", "subtype"}]}``
UTF-8, non-ASCII characters written as themselves, keys in this order, ``\\n`` line ends.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from behindglass.core.errors import LoadError
from behindglass.synth.notes.model import Note, NoteError, Span


def note_to_json(note: Note) -> str:
    return json.dumps({
        "id": note.id, "kind": note.kind, "patient": note.patient, "text": note.text,
        "spans": [{"start": s.start, "end": s.end, "label": s.label, "text": s.text,
                   "subtype": s.subtype} for s in note.spans],
    }, ensure_ascii=False)


def note_from_json(line: str) -> Note:
    obj = json.loads(line)
    spans = tuple(Span(int(s["start"]), int(s["end"]), s["label"], s["text"], s.get("subtype"))
                  for s in obj["spans"])
    return Note(obj["id"], obj["kind"], obj["text"], spans, obj.get("patient"))


def write_jsonl(notes: Iterable[Note], path: Path | str) -> int:
    count = 0
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with Path(path).open("w", encoding="utf-8", newline="\n") as out:
        for note in notes:
            out.write(note_to_json(note) + "\n")
            count += 1
    return count


def read_jsonl(path: Path | str) -> list[Note]:
    notes = []
    with Path(path).open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                notes.append(note_from_json(line))
            except (ValueError, KeyError, TypeError, NoteError) as exc:
                raise LoadError(f"not a gold note ({type(exc).__name__}: {exc})",
                                file=str(path), line=number) from exc
    return notes
