"""The encounters of one simulated block as arrays the supplementary files draw from.

Immunizations, allergies, devices, care plans and imaging studies are attached to
encounters the clinical simulation already produced, so every such event falls on a
real visit of the person, inside their life and observation period.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from behindglass.synth import concepts as c
from behindglass.synth.profiles import Profile
from behindglass.synth.ragged import DAYS_PER_YEAR
from behindglass.synth.writer import Columns

DAY = 86_400
EPOCH_ORDINAL = 719_163  # date(1970, 1, 1).toordinal()


@dataclass(frozen=True)
class Timeline:
    """Per encounter (block-local visit index) and per person arrays of one block."""

    person: np.ndarray  # encounter -> block-local person index
    start: np.ndarray  # encounter start, epoch seconds
    day: np.ndarray  # encounter start, days since 1970-01-01
    age: np.ndarray  # age in years at the encounter
    kind: np.ndarray  # visit_concept_id
    order: np.ndarray  # encounter indices sorted by (person, start)
    birth_day: np.ndarray  # per person
    end_day: np.ndarray  # per person: death day, else the extract date
    dead: np.ndarray  # per person

    @property
    def ambulatory(self) -> np.ndarray:
        return self.kind == c.OUTPATIENT

    def first_per_key(self, key: np.ndarray, eligible: np.ndarray) -> np.ndarray:
        """The earliest eligible encounter for each distinct ``key`` value (keys must
        include the person, so that a key never spans two persons)."""
        idx = self.order[eligible[self.order]]
        _, first = np.unique(key[idx], return_index=True)
        return idx[np.sort(first)]


def timeline(profile: Profile, block: dict[str, Columns]) -> Timeline:
    visits, person = block["visit_occurrence"], block["person"]
    n = len(person["person_id"])
    who = np.asarray(visits["person_id"], dtype=np.int64)
    start = np.asarray(visits["visit_start_datetime"], dtype=np.int64)
    day = start // DAY
    birth = np.asarray(person["birth_datetime"], dtype=np.int64) // DAY
    end = np.full(n, profile.extract_date.toordinal() - EPOCH_ORDINAL, dtype=np.int64)
    death = block["death"]
    dead = np.zeros(n, dtype=bool)
    dead[np.asarray(death["person_id"])] = True
    end[np.asarray(death["person_id"])] = np.asarray(death["death_date"], dtype=np.int64)
    return Timeline(person=who, start=start, day=day,
                    age=(day - birth[who]) / DAYS_PER_YEAR,
                    kind=np.asarray(visits["visit_concept_id"]),
                    order=np.lexsort((start, who)), birth_day=birth, end_day=end, dead=dead)


def calendar_year(day: np.ndarray) -> np.ndarray:
    return np.asarray(day, dtype="datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970


def calendar_month(day: np.ndarray) -> np.ndarray:
    """Month 1–12 of each day."""
    months = np.asarray(day, dtype="datetime64[D]").astype("datetime64[M]").astype(np.int64)
    return months % 12 + 1


def day_of(iso: str) -> int:
    return int(np.datetime64(iso, "D").astype(np.int64))
