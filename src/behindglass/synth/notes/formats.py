"""Write and read a corpus in any of the three gold formats."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from behindglass.core.errors import LoadError
from behindglass.synth.notes.brat import read_brat, write_brat
from behindglass.synth.notes.gold_jsonl import read_jsonl, write_jsonl
from behindglass.synth.notes.i2b2 import read_i2b2, write_i2b2
from behindglass.synth.notes.model import Note

WRITERS: dict[str, Callable[[Iterable[Note], Path | str], int]] = {
    "jsonl": write_jsonl, "brat": write_brat, "i2b2": write_i2b2}
READERS: dict[str, Callable[[Path | str], list[Note]]] = {
    "jsonl": read_jsonl, "brat": read_brat, "i2b2": read_i2b2}
FORMATS = tuple(WRITERS)


def write_corpus(notes: Iterable[Note], out: Path | str, format: str = "jsonl") -> int:
    """Write notes to ``out`` (a file for jsonl, a folder for brat and i2b2); return count."""
    if format not in WRITERS:
        raise LoadError(f"unknown corpus format {format!r}; choose one of {', '.join(FORMATS)}")
    return WRITERS[format](notes, out)


def detect_format(path: Path | str) -> str:
    path = Path(path)
    if path.is_file():
        return "jsonl"
    if any(path.glob("*.ann")):
        return "brat"
    if any(path.glob("*.xml")):
        return "i2b2"
    raise LoadError("no gold corpus here (expected a .jsonl file, or .ann or .xml files)",
                    file=str(path))


def read_corpus(path: Path | str, format: str | None = None) -> list[Note]:
    """Read a corpus written by :func:`write_corpus` (format detected when not given)."""
    chosen = format or detect_format(path)
    if chosen not in READERS:
        raise LoadError(f"unknown corpus format {chosen!r}; choose one of {', '.join(FORMATS)}")
    return READERS[chosen](path)
