"""Clinical notes of a block: the seam where the note generator (``synth/notes``) plugs
into both identifiable writers. Nothing is generated here yet.

Both writers call :func:`block_notes` once per block with a :class:`BlockRecords`, which
holds everything known about the block's persons: the OMOP block, every Synthea table
(identities in ``cols["patients"]`` and ``cols["patient_contacts"]``, encounters,
conditions, …) and the patient UUIDs. When it returns :class:`Notes`:

* the Synthea CSV writer appends ``notes.columns`` to ``notes.csv`` (header = the column
  names, in order) and ``notes.truth`` to the truth file;
* the FHIR writer calls :func:`document_references` and writes the resources it returns
  (``DocumentReference.ndjson``, or into each patient's bundle: the owner is read from
  ``subject``) and the truth lines (``file_of(patient)`` names the file a patient's
  resources go to, which depends on the layout).

Determinism: draw from ``records.rng(stream)`` with a stream word of your own, never from
another module's generator, so adding notes changes no other file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from behindglass.synth.profiles import Profile
from behindglass.synth.sitetables import profile_key
from behindglass.synth.writer import Columns

NOTES_FILE = "notes.csv"


@dataclass(frozen=True)
class BlockRecords:
    """One block as both writers see it."""

    profile: Profile
    seed: int
    index: int  # block index (blocks of ``synth.generate.BLOCK`` persons)
    block: dict[str, Columns]  # the OMOP tables, block-local ids
    cols: dict[str, dict[str, object]]  # Synthea tables by name (see synthea_csv.HEADERS)
    patient: np.ndarray  # patient UUID by block-local person index

    def rng(self, stream: int) -> np.random.Generator:
        """A generator of its own for ``stream`` (an extra seed word)."""
        return np.random.default_rng(np.random.SeedSequence(
            [self.seed, profile_key(self.profile), self.index, stream]))


@dataclass(frozen=True)
class Notes:
    """The notes of one block: ``notes.csv`` columns and their truth-file lines."""

    columns: dict[str, object]  # column name -> values, one entry per note, in file order
    truth: list[str]  # identifiers.jsonl lines (see truth.truth_lines), file "notes.csv"


def block_notes(records: BlockRecords) -> Notes | None:
    """The notes of one block, or None while no note generator is plugged in."""
    return None


def document_references(records: BlockRecords, notes: Notes,
                        file_of: Callable[[str], str]) -> tuple[list[dict], list[str]]:
    """DocumentReference resources for ``notes`` and their truth lines (FHIR writer)."""
    return [], []
