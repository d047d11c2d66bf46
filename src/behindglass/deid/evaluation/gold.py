"""``load_gold("FORMAT:PATH")``: any supported gold corpus as a list of :class:`GoldDoc`.

Formats: ``jsonl`` (our gold JSONL file), ``brat`` (a folder of .txt/.ann), ``i2b2`` (a
folder of i2b2 2014 XML files, or one file) and ``physionet`` (a ``.text`` records file
with its ``-phi.phrase`` gold file, or their folder). Folders written by our generator
carry ``notes.tsv`` and are read by the strict readers of :mod:`behindglass.synth.notes`;
folders without it are read as foreign corpora (any label, BRAT fragments, no manifest).
"""

from __future__ import annotations

from pathlib import Path

from behindglass.core.errors import LoadError
from behindglass.deid.evaluation.foreign import read_brat_any, read_i2b2_any
from behindglass.deid.evaluation.model import GoldDoc, GoldSpan, check_unique, make_doc
from behindglass.deid.evaluation.physionet import PHRASE_SUFFIXES, read_physionet
from behindglass.synth.notes.formats import read_corpus
from behindglass.synth.notes.manifest import MANIFEST
from behindglass.synth.notes.model import Note

GOLD_FORMATS = ("jsonl", "brat", "i2b2", "physionet")


def parse_spec(spec: str) -> tuple[str | None, Path]:
    """(format or None, path) from ``FORMAT:PATH`` or a bare ``PATH``."""
    head, sep, tail = spec.partition(":")
    if sep and head.lower() in GOLD_FORMATS:
        return head.lower(), Path(tail)
    if sep and head.isalpha() and len(head) > 1:
        # "csv:gold.csv" is a typo'd format, not a relative path with a colon in it.
        raise LoadError(f"unknown gold format {head!r}; choose one of {', '.join(GOLD_FORMATS)}",
                        file=tail)
    return None, Path(spec)


def detect_format(path: Path) -> str:
    if path.is_file():
        if path.suffix == ".text" or path.name.endswith(PHRASE_SUFFIXES):
            return "physionet"
        return "i2b2" if path.suffix == ".xml" else "jsonl"
    if not path.is_dir():
        raise LoadError("no such file or folder", file=str(path))
    for pattern, fmt in (("*.text", "physionet"), ("*.ann", "brat"), ("*.xml", "i2b2")):
        if any(path.glob(pattern)):
            return fmt
    raise LoadError("no gold corpus here (expected a .jsonl file, a .text records file, "
                    ".ann or .xml files)", file=str(path))


def from_note(note: Note, source: str) -> GoldDoc:
    spans = (GoldSpan(s.start, s.end, s.label, s.text) for s in note.spans)
    return make_doc(note.id, note.text, spans, source)


def _ours(path: Path, fmt: str) -> list[GoldDoc]:
    return [from_note(note, str(path)) for note in read_corpus(path, fmt)]


def load_gold(spec: str) -> list[GoldDoc]:
    """Every document of the gold corpus named by ``spec``, in corpus order."""
    fmt, path = parse_spec(spec)
    if not path.exists():
        raise LoadError("no such file or folder", file=str(path))
    fmt = fmt or detect_format(path)
    try:
        return check_unique(_load(fmt, path), str(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise LoadError(f"cannot read: {exc}", file=str(path)) from exc


def _load(fmt: str, path: Path) -> list[GoldDoc]:
    if fmt == "physionet":
        return read_physionet(path)
    if fmt == "jsonl":
        if not path.is_file():
            raise LoadError("a jsonl gold corpus is one file, not a folder", file=str(path))
        return _ours(path, "jsonl")
    if path.is_dir() and (path / MANIFEST).exists():
        return _ours(path, fmt)  # written by our generator: the strict reader
    if fmt == "i2b2":
        return read_i2b2_any(path)
    if not path.is_dir():
        raise LoadError("a brat gold corpus is a folder of .txt and .ann files", file=str(path))
    return read_brat_any(path)
