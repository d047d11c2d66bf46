"""BRAT standoff: ``<id>.txt`` (the note) and ``<id>.ann`` (its spans) per note.

Each span is a text-bound annotation ``T<n>\\t<LABEL> <start> <end>\\t<text>``; a NAME's
subtype is an attribute ``A<n>\\tSubtype T<n> <subtype>``. Offsets are character offsets
into the .txt file, which is written as UTF-8 with ``\\n`` line ends and nothing added, as
BRAT requires. ``annotation.conf`` lets the BRAT web tool display the corpus as is.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from behindglass.core.errors import LoadError
from behindglass.synth.notes.manifest import check_id, read_manifest, write_manifest
from behindglass.synth.notes.model import LABELS, NAME_SUBTYPES, Note, NoteError, Span

_SUBTYPES = ("drivers", "npi", "dea", "institution")


def annotations(note: Note) -> str:
    lines: list[str] = []
    attribute = 0
    for i, span in enumerate(note.spans, 1):
        if "\n" in span.text or "\r" in span.text:
            raise NoteError(f"note {note.id}: BRAT cannot store a span across lines")
        lines.append(f"T{i}\t{span.label} {span.start} {span.end}\t{span.text}\n")
        if span.subtype is not None:
            attribute += 1
            lines.append(f"A{attribute}\tSubtype T{i} {span.subtype}\n")
    return "".join(lines)


def _config() -> str:
    values = "|".join((*NAME_SUBTYPES, *_SUBTYPES))
    return ("[entities]\n" + "\n".join(LABELS) + "\n[relations]\n<OVERLAP>\tArg1:<ANY>, "
            "Arg2:<ANY>, <OVL-TYPE>:<ANY>\n[events]\n[attributes]\n"
            f"Subtype\tArg:<ENTITY>, Value:{values}\n")


def write_brat(notes: Iterable[Note], folder: Path | str) -> int:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Note] = []
    for note in notes:
        stem = check_id(note.id)
        (folder / f"{stem}.txt").write_text(note.text, encoding="utf-8", newline="")
        (folder / f"{stem}.ann").write_text(annotations(note), encoding="utf-8", newline="")
        written.append(note)
    write_manifest(folder, written)
    (folder / "annotation.conf").write_text(_config(), encoding="utf-8", newline="\n")
    return len(written)


def parse_ann(ann: str, text: str, note_id: str, kind: str, patient: str | None,
              source: str) -> Note:
    """A note from its .ann contents and its text."""
    spans: dict[str, tuple[int, int, str, str]] = {}
    subtypes: dict[str, str] = {}
    for number, line in enumerate(ann.split("\n"), 1):
        if not line or line.startswith("#"):
            continue
        fields = line.split("\t", 2)
        try:
            if fields[0].startswith("T"):
                label, start, end = fields[1].split(" ")
                spans[fields[0]] = (int(start), int(end), label, fields[2])
            elif fields[0].startswith("A"):
                name, target, value = fields[1].split(" ")
                if name == "Subtype":
                    subtypes[target] = value
        except (IndexError, ValueError) as exc:
            raise LoadError("not a BRAT annotation line (discontinuous spans are not "
                            "supported)", file=source, line=number) from exc
    ordered = sorted(spans.items(), key=lambda item: (item[1][0], item[1][1]))
    try:
        return Note(note_id, kind, text, tuple(Span(*v, subtypes.get(k)) for k, v in ordered),
                    patient)
    except NoteError as exc:
        raise LoadError(str(exc), file=source) from exc


def read_brat(folder: Path | str) -> list[Note]:
    folder = Path(folder)
    notes = []
    for note_id, kind, patient in read_manifest(folder, ".txt"):
        txt, ann = folder / f"{note_id}.txt", folder / f"{note_id}.ann"
        if not txt.exists() or not ann.exists():
            raise LoadError(f"missing {txt.name} or {ann.name}", file=str(folder))
        notes.append(parse_ann(_read(ann), _read(txt), note_id, kind, patient, str(ann)))
    return notes


def _read(path: Path) -> str:
    # newline="" keeps "\r" characters: offsets count every character of the file.
    with path.open(encoding="utf-8", newline="") as fh:
        return fh.read()
