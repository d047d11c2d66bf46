"""i2b2 2014 XML and BRAT standoff written by anyone: no manifest, any label.

Our own corpora (with ``notes.tsv``) go through the strict readers of
:mod:`behindglass.synth.notes`; these readers take what other tools and shared-task corpora
produce. i2b2: every ``*.xml`` of a folder (or one file), ``<deIdi2b2><TEXT>`` holding the
text and ``<TAGS>`` holding ``<NAME id start end text TYPE comment/>``-style tags. BRAT:
every ``*.txt`` with its ``*.ann``; text-bound lines ``T1<TAB>LABEL start end<TAB>text``,
where a discontinuous annotation ``LABEL 0 4;9 15`` becomes one span per fragment; every
other line kind (attributes, relations, notes, comments) is skipped.
"""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

from behindglass.core.errors import LoadError
from behindglass.deid.evaluation.labels import label_from_brat, label_from_i2b2
from behindglass.deid.evaluation.model import GoldDoc, GoldSpan, make_doc


def parse_i2b2(data: bytes, doc_id: str, source: str) -> GoldDoc:
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        raise LoadError(f"not XML: {exc}", file=source) from exc
    text_node = root.find("TEXT")
    if root.tag != "deIdi2b2" or text_node is None:
        raise LoadError("not an i2b2 deIdi2b2 document (no <deIdi2b2> with a <TEXT>)",
                        file=source)
    text = text_node.text or ""
    tags = root.find("TAGS")
    spans = []
    for number, tag in enumerate(tags if tags is not None else (), 1):
        try:
            start, end = int(tag.get("start", "")), int(tag.get("end", ""))
        except ValueError as exc:
            raise LoadError(f"tag {number} <{tag.tag} id={tag.get('id')!r}> has no integer "
                            "start and end", file=source) from exc
        # Older i2b2 releases leave out text=; then the offsets alone define the span.
        span_text = tag.get("text")
        if span_text is None:
            span_text = text[start:end]
        spans.append(GoldSpan(start, end, label_from_i2b2(tag.tag, tag.get("TYPE")),
                              span_text))
    return make_doc(doc_id, text, spans, source)


def read_i2b2_any(path: Path) -> list[GoldDoc]:
    files = [path] if path.is_file() else sorted(path.glob("*.xml"))
    if not files:
        raise LoadError("no .xml files", file=str(path))
    return [parse_i2b2(f.read_bytes(), f.stem, str(f)) for f in files]


def parse_ann(ann: str, text: str, doc_id: str, source: str) -> GoldDoc:
    spans: list[GoldSpan] = []
    for number, line in enumerate(ann.split("\n"), 1):
        if not line.startswith("T"):
            continue
        fields = line.rstrip("\r").split("\t")
        try:
            entity, _, ranges = fields[1].partition(" ")
            fragments = [tuple(int(x) for x in part.split()) for part in ranges.split(";")]
            if not entity or any(len(f) != 2 for f in fragments):
                raise ValueError(fields[1])
        except (IndexError, ValueError) as exc:
            raise LoadError("not a BRAT text-bound line (T<n><TAB>LABEL start end[;start "
                            "end...]<TAB>text)", file=source, line=number) from exc
        label = label_from_brat(entity)
        pieces = []
        for start, end in fragments:
            if not 0 <= start < end <= len(text):
                raise LoadError(f"{entity} fragment [{start}, {end}) lies outside the text "
                                f"of {len(text)} characters", file=source, line=number)
            pieces.append(text[start:end])
            spans.append(GoldSpan(start, end, label, text[start:end]))
        # BRAT writes a discontinuous span's text as its fragments joined by one space.
        if len(fields) > 2 and " ".join(pieces) != fields[2]:
            raise LoadError(f"{entity} annotation text does not match the text at its "
                            "offsets", file=source, line=number)
    return make_doc(doc_id, text, spans, source)


def read_brat_any(folder: Path) -> list[GoldDoc]:
    texts = sorted(folder.glob("*.txt"))
    if not texts:
        raise LoadError("no .txt files", file=str(folder))
    docs = []
    for txt in texts:
        ann = txt.with_suffix(".ann")
        if not ann.exists():
            raise LoadError(f"{txt.name} has no {ann.name}", file=str(folder))
        docs.append(parse_ann(_read(ann), _read(txt), txt.stem, str(ann)))
    return docs


def _read(path: Path) -> str:
    # newline="" keeps "\r": BRAT offsets count every character of the file.
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            return fh.read()
    except UnicodeDecodeError as exc:
        raise LoadError(f"not UTF-8: {exc}", file=str(path)) from exc
