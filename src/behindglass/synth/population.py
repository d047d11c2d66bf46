"""Who the persons of a block are: demographics, risk factors and their record window.

Everything here is drawn once per person, vectorised over a block. The record window
runs from the person's first contact with the site to the extract date, or to the day
they left; death (simulated later) can end it earlier.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from behindglass.synth.profiles import AGE_BAND_EDGES, Profile
from behindglass.synth.ragged import DAYS_PER_YEAR, pick

EPOCH = date(1970, 1, 1)
RISK_GROUPS: tuple[str, ...] = ("white", "black", "mixed", "asian", "aian", "nhpi", "mena")


def day_number(d: date) -> int:
    """Days since 1970-01-01."""
    return (d - EPOCH).days


@dataclass
class Population:
    """One block of persons; every array has one entry per person."""

    n: int
    extract: int  # extract date, days since 1970-01-01
    male: np.ndarray
    birth: np.ndarray  # float days
    race: np.ndarray  # index into profile.demographics.races
    risk_group: np.ndarray  # index into RISK_GROUPS
    hispanic: np.ndarray  # bool (False where ethnicity is not collected)
    region: np.ndarray  # index into profile.demographics.regions
    smoking: np.ndarray  # 0 never, 1 former, 2 current
    bmi: np.ndarray
    ldl: np.ndarray
    start: np.ndarray  # float days: first day of the record
    end: np.ndarray  # float days: last day of the record before any death

    def age_at(self, day: np.ndarray | float) -> np.ndarray:
        return (np.asarray(day) - self.birth) / DAYS_PER_YEAR

    @property
    def age(self) -> np.ndarray:
        """Age in years at the extract date."""
        return self.age_at(float(self.extract))

    def group(self, name: str) -> np.ndarray:
        return self.risk_group == RISK_GROUPS.index(name)


def draw_population(rng: np.random.Generator, profile: Profile, n: int) -> Population:
    """Draw ``n`` persons of ``profile``."""
    demo, care = profile.demographics, profile.care
    extract = day_number(profile.extract_date)

    edges = np.array((0, *AGE_BAND_EDGES), dtype=np.float64)
    band = pick(rng, np.array(demo.age_bands), n)
    age = edges[band] + rng.random(n) * (edges[band + 1] - edges[band])
    birth = np.floor(extract - age * DAYS_PER_YEAR)
    age = (extract - birth) / DAYS_PER_YEAR
    male = rng.random(n) >= demo.female_share

    race = pick(rng, np.array([r.weight for r in demo.races]), n)
    group_of_race = np.array([RISK_GROUPS.index(r.risk_group) for r in demo.races])
    risk_group = group_of_race[race]
    if demo.hispanic_share is None:
        hispanic = np.zeros(n, dtype=bool)
    else:
        hispanic = rng.random(n) < demo.hispanic_share
    region = pick(rng, np.array([r.weight for r in demo.regions]), n)

    adult = age >= 18
    p_current = np.where(male, 1.2, 0.8) * demo.smoking_current * adult
    p_former = np.where(age >= 50, 1.0, 0.5) * demo.smoking_former * adult
    u = rng.random(n)
    smoking = np.where(u < p_current, 2, np.where(u < p_current + p_former, 1, 0)).astype(np.int8)

    black = risk_group == RISK_GROUPS.index("black")
    asian = risk_group == RISK_GROUPS.index("asian")
    midlife = (age >= 40) & (age < 70)
    bmi_adult = (demo.bmi_mean + 1.0 * midlife + 1.5 * (black & ~male) - 2.5 * asian
                 + rng.normal(0.0, 5.5, n))
    bmi_child = 16.0 + 0.35 * np.minimum(age, 18) + rng.normal(0.0, 2.5, n)
    bmi = np.clip(np.where(adult, bmi_adult, bmi_child), 13.0, 65.0)
    ldl_adult = demo.ldl_mean + 0.35 * (np.clip(age, 18, 70) - 45) + rng.normal(0.0, 30.0, n)
    ldl = np.clip(np.where(adult, ldl_adult, rng.normal(92.0, 20.0, n)), 35.0, 280.0)

    # Record window: an exponential history length, capped, never before birth.
    history = np.minimum(rng.exponential(care.history_years, n), care.max_history_years)
    history = np.maximum(history, 0.25)
    start = np.maximum(np.floor(extract - history * DAYS_PER_YEAR), birth)
    end = np.full(n, float(extract))
    span = end - start
    leaves = (rng.random(n) < care.leave_share) & (span > 180)
    left_at = np.floor(start + 90 + rng.random(n) * (span - 90))
    end = np.where(leaves, left_at, end)
    return Population(n, extract, male, birth, race, risk_group, hispanic, region, smoking,
                      bmi, ldl, start, end)
