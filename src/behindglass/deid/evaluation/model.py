"""Gold documents as the evaluation harness sees them, whatever file format they came from.

A :class:`GoldSpan` is a half-open character range ``[start, end)`` of its document's text
(Python string indices) with a label: one of ours (``behindglass.deid.text.labels``) when
the source label maps to one, otherwise the source label upper-cased (``PROFESSION``,
``COUNTRY``, ``LOCATION_OTHER``...). Unlike the synthetic corpus, foreign corpora may
annotate overlapping spans, so spans are sorted but may overlap.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from behindglass.core.errors import LoadError


@dataclass(frozen=True, slots=True, order=True)
class GoldSpan:
    """One annotated identifier: ``text == document.text[start:end]``."""

    start: int
    end: int
    label: str
    text: str


@dataclass(frozen=True, slots=True)
class GoldDoc:
    """One document with its gold PHI spans, sorted by (start, end)."""

    id: str
    text: str
    spans: tuple[GoldSpan, ...]


def make_doc(doc_id: str, text: str, spans: Iterable[GoldSpan], source: str,
             line: int | None = None) -> GoldDoc:
    """A checked :class:`GoldDoc`; every broken offset is a :class:`LoadError` at ``source``.

    A span must lie inside the text, match it exactly, and contain a visible character
    (the metrics are defined on non-whitespace characters, so a blank span could never be
    scored).
    """
    checked = []
    for span in spans:
        where = f"document {doc_id!r}: {span.label} span [{span.start}, {span.end})"
        if not 0 <= span.start < span.end <= len(text):
            raise LoadError(f"{where} lies outside the text of {len(text)} characters",
                            file=source, line=line)
        if text[span.start:span.end] != span.text:
            # Gold text can be real PHI: say where, never quote it.
            raise LoadError(f"{where} does not match the text at those offsets",
                            file=source, line=line)
        if not span.text.strip():
            raise LoadError(f"{where} is only whitespace", file=source, line=line)
        checked.append(span)
    return GoldDoc(doc_id, text, tuple(sorted(checked)))


def check_unique(docs: list[GoldDoc], source: str) -> list[GoldDoc]:
    seen: set[str] = set()
    for doc in docs:
        if doc.id in seen:
            raise LoadError(f"document id {doc.id!r} occurs more than once", file=source)
        seen.add(doc.id)
    return docs
