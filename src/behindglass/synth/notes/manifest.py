"""``notes.tsv``: note id, kind and patient of a folder corpus (BRAT or i2b2 layout).

Neither standoff format has a place for note-level metadata, so folder corpora carry this
small tab-separated index; readers that do not know it still see ordinary BRAT / i2b2 files.
It also fixes the order of the notes, which a directory listing would not.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from behindglass.core.errors import LoadError
from behindglass.synth.notes.model import Note

MANIFEST = "notes.tsv"
_HEADER = "id\tkind\tpatient\n"


def check_id(note_id: str) -> str:
    """Note ids become file names: keep them to one safe path component."""
    if not note_id or note_id.startswith(".") or any(ch in note_id for ch in "/\\\t\n\r"):
        raise LoadError(f"note id {note_id!r} cannot be used as a file name")
    return note_id


def write_manifest(folder: Path, notes: Iterable[Note]) -> None:
    rows = "".join(f"{check_id(n.id)}\t{n.kind}\t{n.patient or ''}\n" for n in notes)
    (folder / MANIFEST).write_text(_HEADER + rows, encoding="utf-8", newline="\n")


def read_manifest(folder: Path, suffix: str) -> list[tuple[str, str, str | None]]:
    """(id, kind, patient) per note; without a manifest, every ``*<suffix>`` file, sorted."""
    path = folder / MANIFEST
    if not path.exists():
        return [(p.name.removesuffix(suffix), "unknown", None)
                for p in sorted(folder.glob(f"*{suffix}"))]
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines()[1:], 2):
        parts = line.split("\t")
        if len(parts) != 3:
            raise LoadError("expected id, kind and patient separated by tabs",
                            file=str(path), line=number)
        rows.append((check_id(parts[0]), parts[1], parts[2] or None))
    return rows
