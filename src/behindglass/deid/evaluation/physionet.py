"""The PhysioNet deid corpus layout: a ``.text`` records file and a ``.phi.phrase`` gold file.

Records file (``NAME.text``), one block per note::

    START_OF_RECORD=<patient>||||<note>||||
    <text, any number of lines>
    ||||END_OF_RECORD

A record's text is everything after the header line's newline up to ``||||END_OF_RECORD``,
less the one newline that ends the text's last line. Gold file (``NAME-phi.phrase`` or
``NAME.phi.phrase``), one PHI per line, whitespace separated::

    <patient> <note> <start> <end> <type, one or more words> <phrase, one or more words>

``start`` and ``end`` are character offsets into the record's text. Files in the wild use
both an exclusive and an inclusive ``end``, so each line is checked: the span is
``text[start:end]`` when its words equal the line's last words, else ``text[start:end+1]``;
the words before the phrase are the type. A line that fits neither is a LoadError. The
document id is ``<patient>:<note>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from behindglass.core.errors import LoadError
from behindglass.deid.evaluation.labels import label_from_physionet
from behindglass.deid.evaluation.model import GoldDoc, GoldSpan, check_unique, make_doc

START, END = "START_OF_RECORD=", "||||END_OF_RECORD"
_HEADER = re.compile(r"START_OF_RECORD=([^|\s]+)\|\|\|\|([^|\s]+)\|\|\|\|[ \t\r]*\n")
PHRASE_SUFFIXES = ("-phi.phrase", ".phi.phrase")


def find_pair(path: Path) -> tuple[Path, Path]:
    """(records file, gold file) from either of them or from their folder."""
    if path.is_dir():
        texts = sorted(path.glob("*.text"))
        if len(texts) != 1:
            raise LoadError(f"expected exactly one .text records file, found {len(texts)}",
                            file=str(path))
        path = texts[0]
    name = path.name
    for suffix in PHRASE_SUFFIXES:
        if name.endswith(suffix):
            text_path = path.with_name(name.removesuffix(suffix) + ".text")
            if not text_path.exists():
                raise LoadError(f"no records file {text_path.name} next to it", file=str(path))
            return text_path, path
    stem = name.removesuffix(".text")
    for suffix in PHRASE_SUFFIXES:
        if (phrase := path.with_name(stem + suffix)).exists():
            return path, phrase
    raise LoadError(f"no gold file {stem}-phi.phrase or {stem}.phi.phrase next to it",
                    file=str(path))


def _decode(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # The 2000s-era corpus is not always UTF-8; latin-1 keeps one character per byte.
        return data.decode("latin-1")


def _line_of(data: str, pos: int) -> int:
    return data.count("\n", 0, pos) + 1


def parse_records(data: str, source: str) -> dict[tuple[str, str], str]:
    records: dict[tuple[str, str], str] = {}
    pos = 0
    while True:
        while pos < len(data) and data[pos].isspace():
            pos += 1
        if pos >= len(data):
            return records
        header = _HEADER.match(data, pos)
        if header is None:
            raise LoadError("expected START_OF_RECORD=<patient>||||<note>|||| on its own line",
                            file=source, line=_line_of(data, pos))
        stop = data.find(END, header.end())
        if stop < 0:
            raise LoadError("record has no ||||END_OF_RECORD", file=source,
                            line=_line_of(data, pos))
        text = data[header.end():stop].removesuffix("\n")
        key = (header.group(1), header.group(2))
        if key in records:
            raise LoadError(f"record {key[0]}:{key[1]} occurs twice", file=source,
                            line=_line_of(data, pos))
        records[key] = text
        pos = stop + len(END)


def _span(text: str, start: int, end: int, rest: list[str]) -> GoldSpan | None:
    for stop in (end, end + 1):  # exclusive end first, then inclusive
        if not 0 <= start < stop <= len(text):
            continue
        words = text[start:stop].split()
        if words and len(rest) > len(words) and rest[-len(words):] == words:
            kind = " ".join(rest[:-len(words)])
            return GoldSpan(start, stop, label_from_physionet(kind), text[start:stop])
    return None


def parse_phrases(data: str, records: dict[tuple[str, str], str],
                  source: str) -> dict[tuple[str, str], set[GoldSpan]]:
    spans: dict[tuple[str, str], set[GoldSpan]] = {key: set() for key in records}
    for number, line in enumerate(data.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 6:
            raise LoadError("expected <patient> <note> <start> <end> <type> <phrase>",
                            file=source, line=number)
        key = (fields[0], fields[1])
        if key not in records:
            raise LoadError(f"no record {fields[0]}:{fields[1]} in the records file",
                            file=source, line=number)
        try:
            start, end = int(fields[2]), int(fields[3])
        except ValueError as exc:
            raise LoadError("start and end must be integers", file=source,
                            line=number) from exc
        span = _span(records[key], start, end, fields[4:])
        if span is None:
            raise LoadError(f"the phrase matches neither text[{start}:{end}] nor "
                            f"text[{start}:{end + 1}] of record {key[0]}:{key[1]}",
                            file=source, line=number)
        spans[key].add(span)  # a set: a repeated line must not count twice
    return spans


def read_physionet(path: Path) -> list[GoldDoc]:
    text_path, phrase_path = find_pair(path)
    records = parse_records(_decode(text_path), str(text_path))
    spans = parse_phrases(_decode(phrase_path), records, str(phrase_path))
    docs = [make_doc(f"{patient}:{note}", text, spans[(patient, note)], str(phrase_path))
            for (patient, note), text in records.items()]
    return check_unique(docs, str(text_path))


def _record_key(doc_id: str) -> tuple[str, str]:
    patient, _, note = doc_id.rpartition(":")
    return (patient, note) if patient and note else (doc_id, "1")


def write_physionet(docs: Iterable[GoldDoc], text_path: Path | str,
                    phrase_path: Path | str) -> int:
    """Write ``docs`` as a records file and a gold file (exclusive ends); return the count.

    A document id ``P:N`` becomes patient ``P``, note ``N``; any other id ``X`` becomes
    patient ``X``, note ``1`` (and reads back as ``X:1``). Types are our labels.
    """
    records, phrases = [], []
    for doc in docs:
        patient, note = _record_key(doc.id)
        if any(ch.isspace() or ch == "|" for ch in patient + note):
            raise LoadError(f"document id {doc.id!r} cannot be a PhysioNet patient:note key "
                            "(no whitespace or '|')", file=str(text_path))
        if END in doc.text:
            raise LoadError(f"document {doc.id!r} contains {END}", file=str(text_path))
        records.append(f"{START}{patient}||||{note}||||\n{doc.text}\n{END}\n")
        phrases += [f"{patient} {note} {s.start} {s.end} {s.label} {' '.join(s.text.split())}\n"
                    for s in doc.spans]
    for path, lines in ((text_path, records), (phrase_path, phrases)):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text("".join(lines), encoding="utf-8", newline="")
    return len(records)
