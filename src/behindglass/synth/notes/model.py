"""Spans and notes of the gold corpus, and the labels a span may carry.

A :class:`Span` is a half-open character range ``[start, end)`` of a note's text (Python
string indices, i.e. Unicode code points) with a label. :class:`Note` checks at
construction that every span's text is exactly ``text[start:end]``, that spans are sorted
and never overlap, and that every label is known: a corpus that loads is a corpus whose
offsets can be trusted by the evaluation harness.
"""

from __future__ import annotations

from dataclasses import dataclass

from behindglass.core.errors import BehindGlassError
from behindglass.deid.text.labels import LABELS, NAME_SUBTYPES  # noqa: F401  (re-exported)


class NoteError(BehindGlassError, ValueError):
    """A note or span breaks the corpus invariants (offsets, overlap, label)."""


@dataclass(frozen=True, slots=True)
class Span:
    """One planted identifier: ``text == note.text[start:end]``."""

    start: int
    end: int
    label: str
    text: str
    subtype: str | None = None

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise NoteError(f"unknown span label {self.label!r}")
        if not 0 <= self.start < self.end or self.end - self.start != len(self.text):
            raise NoteError(f"span [{self.start}, {self.end}) does not fit its text "
                            f"of {len(self.text)} characters")


@dataclass(frozen=True, slots=True)
class Note:
    """One synthetic clinical note with its gold PHI spans (sorted, non-overlapping)."""

    id: str
    kind: str
    text: str
    spans: tuple[Span, ...]
    patient: str | None = None

    def __post_init__(self) -> None:
        previous_end = 0
        for span in self.spans:
            if span.start < previous_end:
                raise NoteError(f"note {self.id}: span [{span.start}, {span.end}) overlaps "
                                "or precedes the one before it")
            if self.text[span.start:span.end] != span.text:
                raise NoteError(f"note {self.id}: span [{span.start}, {span.end}) "
                                f"{span.label} does not match the note text")
            previous_end = span.end
