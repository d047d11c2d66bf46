"""Synthetic clinical notes with planted PHI at exact offsets: the de-identifier's gold corpus.

Six note kinds (discharge summary, ICU nursing note, radiology, pathology, clinic letter,
telephone message) are rendered from a patient's :class:`NoteFacts`; every identifier is
planted as a :class:`Span` whose ``[start, end)`` offsets are recorded while the text is
built. Corpora are deterministic per seed and split and can be written as gold JSONL, BRAT
standoff or i2b2 2014 XML. See docs/synth-notes.md.
"""

from behindglass.synth.notes.corpus import SPLITS, generate_notes
from behindglass.synth.notes.facts import Clinician, NoteFacts, Relative, facts_from_faker
from behindglass.synth.notes.formats import FORMATS, read_corpus, write_corpus
from behindglass.synth.notes.kinds import KINDS, write_note
from behindglass.synth.notes.model import LABELS, NAME_SUBTYPES, Note, NoteError, Span
from behindglass.synth.notes.traps import TRAPS

__all__ = ["FORMATS", "KINDS", "LABELS", "NAME_SUBTYPES", "SPLITS", "TRAPS", "Clinician", "Note",
           "NoteError", "NoteFacts", "Relative", "Span", "facts_from_faker", "generate_notes",
           "read_corpus", "write_corpus", "write_note"]
