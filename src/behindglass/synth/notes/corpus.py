"""Gold corpora: a deterministic stream of notes for a seed and a split.

Splits are disjoint seed streams. Patient ``p`` of split ``s`` and seed ``n`` draws all its
randomness from ``random.Random("behindglass-notes/<s>/<n>/<p>")`` (string seeds are hashed
with SHA-512 by ``random``, identically in every process and on every platform), so
``dev`` and ``validation`` never share a stream whatever seeds are chosen, and a
recognizer tuned on ``dev`` has never seen a ``validation`` patient. Note and patient ids
carry the split name as well. The first ``k`` notes of a corpus do not depend on how
many notes are asked for.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator

from behindglass.synth.notes.facts import NoteFacts, facts_from_faker
from behindglass.synth.notes.kinds import KINDS, write_note
from behindglass.synth.notes.model import Note, NoteError

SPLITS = ("dev", "validation")
NOTES_PER_PATIENT = (1, 1, 1, 2, 2, 3, 4)  # several notes about the same person, as in an EHR


def patient_stream(seed: int, split: str, index: int) -> random.Random:
    return random.Random(f"behindglass-notes/{split}/{seed}/{index}")


def generate_notes(count: int, seed: int = 0, split: str = "dev",
                   kinds: Iterable[str] | None = None, locale: str | None = None,
                   on_patient: Callable[[NoteFacts], None] | None = None) -> Iterator[Note]:
    """Yield ``count`` notes; ``kinds`` restricts (and is weighted by) the note kinds.

    ``on_patient`` is called with each patient's facts before their notes (e.g. to build
    the site deny-lists a hospital would hold for those patients).
    """
    if split not in SPLITS:
        raise NoteError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    chosen = tuple(kinds) if kinds else tuple(KINDS)
    unknown = [k for k in chosen if k not in KINDS]
    if unknown:
        raise NoteError(f"unknown note kind(s) {', '.join(unknown)}; "
                        f"choose from {', '.join(KINDS)}")
    if count < 0:
        raise NoteError("count must not be negative")
    weights = tuple(KINDS[k].weight for k in chosen)
    made, patient = 0, 0
    while made < count:
        rng = patient_stream(seed, split, patient)
        facts = facts_from_faker(rng, locale, patient=f"{split}-s{seed}-p{patient:06d}")
        if on_patient is not None:
            on_patient(facts)
        for _ in range(rng.choice(NOTES_PER_PATIENT)):
            if made == count:
                break
            kind = rng.choices(chosen, weights)[0]
            yield write_note(kind, facts, rng, f"{split}-s{seed}-n{made:06d}")
            made += 1
        patient += 1


def site_list_pairs(facts: NoteFacts) -> list[tuple[str, str]]:
    """What a hospital's structured data holds about this patient and their care team, as
    ``(label, value)`` pairs for :class:`~behindglass.deid.text.site_lists.SiteLists`.

    Relatives are left out on purpose: many EHRs do not hold them, so an evaluation with
    site lists still measures how relatives' names are found in the text itself.
    """
    pairs = [("NAME", f"{facts.first} {facts.middle} {facts.last}".replace("  ", " ")),
             ("NAME", facts.name), ("STREET", facts.street), ("CITY", facts.city),
             ("ZIP", facts.zip), ("PHONE", facts.phone), ("EMAIL", facts.email),
             ("SSN", facts.ssn), ("MRN", facts.mrn), ("ACCOUNT", facts.account),
             ("HEALTH_PLAN", facts.health_plan), ("LICENSE", facts.drivers_license),
             ("DEVICE", facts.device_id), ("VEHICLE", facts.plate), ("VEHICLE", facts.vin),
             ("INSTITUTION", facts.institution), ("INSTITUTION", facts.other_institution),
             ("PHONE", facts.institution_phone), ("FAX", facts.institution_fax)]
    for clinician in facts.clinicians:
        pairs += [("NAME", clinician.name), ("LICENSE", clinician.npi),
                  ("LICENSE", clinician.dea)]
    return [(label, value) for label, value in pairs if value]
