"""Assemble a note from literal text and planted identifiers, recording offsets as it goes.

Offsets are never searched for afterwards: each identifier's start is the length of the
text written before it, so a value that also occurs elsewhere in the note (a surname that
is also a street name, "May" the month and "may" the verb) is labelled only where it was
planted. Case folding for ALL-CAPS notes happens per piece *before* its offset is taken,
because ``str.upper`` may change a string's length ("ß" -> "SS").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from string import Formatter
from typing import NamedTuple

from behindglass.synth.notes.model import Note, NoteError, Span


class Phi(NamedTuple):
    """An identifier value to plant: becomes one labelled span."""

    label: str
    text: str
    subtype: str | None = None


Piece = str | Phi
Value = Piece | Iterable[Piece] | Callable[[], "Piece | Iterable[Piece]"]


class NoteBuilder:
    """Append-only text with spans; ``upper`` writes everything in capitals."""

    __slots__ = ("_hook", "_parts", "_pos", "_spans", "upper")

    def __init__(self, *, upper: bool = False,
                 literal_hook: Callable[[str], str] | None = None) -> None:
        self.upper = upper
        self._hook = literal_hook
        self._parts: list[str] = []
        self._spans: list[Span] = []
        self._pos = 0

    def text(self, literal: str) -> None:
        if self._hook is not None:
            literal = self._hook(literal)
        if self.upper:
            literal = literal.upper()
        self._parts.append(literal)
        self._pos += len(literal)

    def phi(self, label: str, value: str, subtype: str | None = None) -> None:
        if self.upper:
            value = value.upper()
        if not value or value != value.strip():
            raise NoteError(f"a {label} value is empty or has surrounding blanks")
        end = self._pos + len(value)
        self._spans.append(Span(self._pos, end, label, value, subtype))
        self._parts.append(value)
        self._pos = end

    def add(self, piece: Value) -> None:
        """Append a literal, an identifier, a sequence of them, or what a callable returns."""
        if callable(piece):
            piece = piece()
        if isinstance(piece, Phi):
            self.phi(*piece)
        elif isinstance(piece, str):
            self.text(piece)
        else:
            for part in piece:
                self.add(part)

    def fill(self, template: str, values: Mapping[str, Value]) -> None:
        """Write ``template``, replacing each ``{field}`` by ``values[field]``.

        Callables are called once per occurrence, so the same field can render a date in a
        different form each time it appears, as clinicians do.
        """
        for literal, field in _parsed(template):
            if literal:
                self.text(literal)
            if field is not None:
                self.add(values[field])

    def build(self, note_id: str, kind: str, patient: str | None) -> Note:
        return Note(note_id, kind, "".join(self._parts), tuple(self._spans), patient)


@lru_cache(maxsize=512)
def _parsed(template: str) -> tuple[tuple[str, str | None], ...]:
    # Formatter handles "{{" escapes; templates are parsed once per process.
    return tuple((literal, field) for literal, field, _, _ in Formatter().parse(template))
