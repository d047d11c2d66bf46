"""Treatment courses: which drug each person is given, from when to when.

A course starts after the indication is diagnosed (never before, so untreated disease
stays visible in the measurements) and runs to the end of the record unless the person
stops. Each person has at most one course per drug class; refills within a course are
laid out later by ``clinical``. NSAID courses are short for everyday pain and long for
osteoarthritis, and the ingredient mix is the site's prescribing habit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from behindglass.synth import concepts as c
from behindglass.synth.population import Population
from behindglass.synth.profiles import Profile
from behindglass.synth.ragged import DAYS_PER_YEAR, NEVER, pick


@dataclass
class Course:
    """One drug class: per person the ingredient (0 = none) and the course window."""

    drug: np.ndarray
    start: np.ndarray  # float day, NEVER when the person has no course
    end: np.ndarray
    days_supply: np.ndarray

    @property
    def given(self) -> np.ndarray:
        return np.isfinite(self.start)


def _course(rng: np.random.Generator, pop: Population, given: np.ndarray, start: np.ndarray,
            drug: np.ndarray, days_supply: np.ndarray, stop_share: float = 0.15,
            duration: np.ndarray | None = None) -> Course:
    given = given & np.isfinite(start) & (start <= pop.end)
    start = np.floor(np.where(given, start, pop.end))  # placeholder keeps arithmetic finite
    if duration is None:
        stops = rng.random(pop.n) < stop_share
        end = np.where(stops, start + rng.random(pop.n) * (pop.end - start), pop.end)
    else:
        end = np.minimum(start + duration, pop.end)
    end = np.maximum(np.floor(end), start + 1)
    return Course(np.where(given, drug, 0), np.where(given, start, NEVER),
                  np.where(given, end, NEVER), days_supply.astype(np.int64))


def _delay(rng: np.random.Generator, n: int, same_day: float, mean_days: float) -> np.ndarray:
    """Time from diagnosis to the first prescription: often the same visit."""
    return np.where(rng.random(n) < same_day, 0.0, 1.0 + rng.exponential(mean_days, n))


def draw_treatments(rng: np.random.Generator, profile: Profile, pop: Population,
                    onsets: dict[str, np.ndarray], dx: dict[str, np.ndarray]) -> dict[str, Course]:
    """All courses of a block, keyed by drug class."""
    rx, n = profile.prescribing, pop.n
    ds = pick(rng, rx.days_supply, n)
    age = pop.age
    courses: dict[str, Course] = {}

    t2d = np.isfinite(dx["t2d"])
    courses["metformin"] = _course(
        rng, pop, t2d & (rng.random(n) < rx.t2d_treated),
        dx["t2d"] + _delay(rng, n, 0.6, 30), np.full(n, c.METFORMIN), ds)
    long_standing = np.maximum(dx["t2d"], onsets["t2d"] + 5 * DAYS_PER_YEAR)
    courses["insulin"] = _course(
        rng, pop, t2d & (rng.random(n) < rx.insulin_share),
        np.maximum(long_standing, pop.start) + _delay(rng, n, 0.3, 60),
        np.full(n, c.INSULIN), ds, stop_share=0.05)

    htn = np.isfinite(dx["htn"])
    ace = pick(rng, rx.ace_mix, n)
    drug = np.where(rng.random(n) < rx.ace_share, ace, c.HCTZ)
    courses["antihypertensive"] = _course(
        rng, pop, htn & (rng.random(n) < rx.htn_treated), dx["htn"] + _delay(rng, n, 0.5, 45),
        drug, ds)

    old_htn = np.where(age >= 55, dx["htn"], NEVER)
    indication = np.minimum(np.minimum(dx["hyperlipidemia"], dx["t2d"]), old_htn)
    p_statin = (0.55 * np.isfinite(dx["hyperlipidemia"]) + 0.25 * t2d
                + 0.1 * np.isfinite(old_htn)) * rx.statin_propensity
    courses["statin"] = _course(
        rng, pop, rng.random(n) < np.minimum(p_statin, 0.95),
        indication + _delay(rng, n, 0.4, 60), pick(rng, rx.statin_mix, n), ds)

    af = np.isfinite(dx["af"])
    courses["anticoagulant"] = _course(
        rng, pop, af & (rng.random(n) < rx.anticoagulated_af), dx["af"] + _delay(rng, n, 0.7, 14),
        pick(rng, rx.anticoagulant_mix, n), ds, stop_share=0.1)

    high_risk = t2d | (np.isfinite(dx["htn"]) & (age >= 60))
    courses["aspirin"] = _course(
        rng, pop, high_risk & (rng.random(n) < rx.aspirin),
        np.minimum(dx["t2d"], dx["htn"]) + _delay(rng, n, 0.3, 90),
        np.full(n, c.ASPIRIN), ds, stop_share=0.2)

    courses["nsaid"] = _nsaid_course(rng, profile, pop, dx["oa"])
    return courses


def _nsaid_course(rng: np.random.Generator, profile: Profile, pop: Population,
                  oa_dx: np.ndarray) -> Course:
    """Long courses for osteoarthritis, short ones for everyday pain in other adults."""
    rx, n = profile.prescribing, pop.n
    oa = np.isfinite(oa_dx)
    for_oa = oa & (rng.random(n) < rx.nsaid_oa)
    everyday = ~oa & (pop.age_at(pop.end) >= 18) & (rng.random(n) < rx.nsaid_background)
    oa_start = oa_dx + _delay(rng, n, 0.4, 120)
    span = np.maximum(pop.end - np.maximum(pop.start, pop.birth + 18 * DAYS_PER_YEAR), 0.0)
    pain_start = pop.end - rng.random(n) * span
    start = np.where(for_oa, oa_start, pain_start)
    duration = np.where(for_oa, 14.0 + rng.exponential(300.0, n), 5.0 + rng.exponential(40.0, n))
    long_supply = pick(rng, {30: 0.8, 90: 0.2}, n)
    ds = np.where(for_oa, long_supply, pick(rng, {10: 0.4, 20: 0.3, 30: 0.3}, n))
    return _course(rng, pop, for_oa | everyday, start, pick(rng, rx.nsaid_mix, n), ds,
                   duration=duration)
