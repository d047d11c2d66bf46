"""The note kinds and :func:`write_note`, the one entry point that renders a note."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from behindglass.synth.notes import discharge, letter, nursing, pathology, radiology, telephone
from behindglass.synth.notes.builder import NoteBuilder
from behindglass.synth.notes.facts import NoteFacts
from behindglass.synth.notes.model import Note, NoteError


@dataclass(frozen=True)
class Kind:
    name: str
    title: str
    write: Callable[[NoteFacts, random.Random, str | None], NoteBuilder]
    expected: frozenset[str]  # labels that every large enough sample of this kind contains
    weight: float  # share in a mixed corpus
    templates: tuple[str, ...]  # names a caller may ask for (write_note(template=...))


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("discharge_summary", "Discharge summary", discharge.write, discharge.EXPECTED, 0.2,
         tuple(discharge.TEMPLATES)),
    Kind("icu_nursing", "ICU nursing note (all caps)", nursing.write, nursing.EXPECTED, 0.25,
         tuple(nursing.TEMPLATES)),
    Kind("radiology", "Radiology report", radiology.write, radiology.EXPECTED, 0.15,
         tuple(radiology.TEMPLATES)),
    Kind("pathology", "Pathology report", pathology.write, pathology.EXPECTED, 0.1,
         tuple(pathology.TEMPLATES)),
    Kind("clinic_letter", "Clinic letter", letter.write, letter.EXPECTED, 0.15,
         tuple(letter.TEMPLATES)),
    Kind("telephone", "Telephone / portal message", telephone.write, telephone.EXPECTED, 0.15,
         tuple(telephone.TEMPLATES)),
)}


def write_note(kind: str, facts: NoteFacts, rng: random.Random, note_id: str = "note",
               template: str | None = None) -> Note:
    """Render one note of ``kind`` about ``facts``, drawing choices from ``rng``.

    ``template`` asks for one of the kind's templates (``KINDS[kind].templates``), e.g.
    the breast ultrasound for an ultrasound study; by default one is drawn.
    """
    chosen = KINDS.get(kind)
    if chosen is None:
        raise NoteError(f"unknown note kind {kind!r}; choose one of {', '.join(KINDS)}")
    if template is not None and template not in chosen.templates:
        raise NoteError(f"{kind} has no template {template!r}; choose one of "
                        f"{', '.join(chosen.templates)}")
    return chosen.write(facts, rng, template).build(note_id, kind, facts.patient)
