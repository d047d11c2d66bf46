"""DRUG_ERA and CONDITION_ERA, derived from the exposures and occurrences written.

The OHDSI convention: records of the same person and concept (drugs at ingredient level,
which is what the generator prescribes) join into one era while each starts no more than
30 days after the latest end so far. ``gap_days`` counts the days of an era not covered by
any exposure.
"""

from __future__ import annotations

import numpy as np

from behindglass.synth.ragged import group_cummax, group_starts
from behindglass.synth.writer import Columns

PERSISTENCE_WINDOW = 30


def _eras(person: np.ndarray, concept: np.ndarray, start: np.ndarray, end: np.ndarray
          ) -> tuple[np.ndarray, ...]:
    """(person, concept, era start, era end, record count, covered days) per era."""
    order = np.lexsort((start, concept, person))
    person, concept = person[order], concept[order]
    start, end = start[order].astype(np.int64), end[order].astype(np.int64)
    group = person * np.int64(1 << 32) + concept
    new_group = group_starts(group)
    running_end = group_cummax(end, new_group)
    previous_end = np.empty(len(end), dtype=np.float64)
    if len(end):
        previous_end[0] = -np.inf
        previous_end[1:] = running_end[:-1]
    new_era = new_group | (start > previous_end + PERSISTENCE_WINDOW)
    first = np.flatnonzero(new_era)
    if len(first) == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty, empty, empty, empty
    era_end = np.maximum.reduceat(end, first)
    count = np.diff(np.append(first, len(start)))
    covered = np.add.reduceat(end - start, first)
    return person[first], concept[first], start[first], era_end, count, covered


def drug_era_rows(drugs: Columns) -> Columns:
    person, concept, start, end, count, covered = _eras(
        np.asarray(drugs["person_id"]), np.asarray(drugs["drug_concept_id"]),
        np.asarray(drugs["drug_exposure_start_date"]),
        np.asarray(drugs["drug_exposure_end_date"]))
    return {
        "drug_era_id": np.arange(len(person)),
        "person_id": person,
        "drug_concept_id": concept,
        "drug_era_start_date": start,
        "drug_era_end_date": end,
        "drug_exposure_count": count,
        "gap_days": np.maximum(end - start - covered, 0),
    }


def condition_era_rows(conditions: Columns) -> Columns:
    day = np.asarray(conditions["condition_start_date"])
    person, concept, start, end, count, _ = _eras(
        np.asarray(conditions["person_id"]), np.asarray(conditions["condition_concept_id"]),
        day, day)
    return {
        "condition_era_id": np.arange(len(person)),
        "person_id": person,
        "condition_concept_id": concept,
        "condition_era_start_date": start,
        "condition_era_end_date": end,
        "condition_occurrence_count": count,
    }
