"""Acute outcomes and death, from hazards that depend on covariates and treatment.

Each outcome has a person-level log-hazard (age, sex, smoking, LDL, ...) plus time-varying
factors that switch on and off: a chronic condition from its onset, a drug for the length
of its course, a recent event for the weeks after it. ``first_event`` samples the first
event of such a piecewise-constant hazard exactly and fully vectorised. Sites differ by a
baseline shift and a scale on every covariate effect (``OutcomeModel``); treatment effects
are the same everywhere, so effect estimates are comparable across sites.

Rates are per person-year and deliberately several times higher than in real life.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from behindglass.synth import concepts as c
from behindglass.synth.chronic import CANCERS
from behindglass.synth.population import Population
from behindglass.synth.profiles import Profile
from behindglass.synth.ragged import DAYS_PER_YEAR, NEVER
from behindglass.synth.treatment import Course

Factor = tuple[np.ndarray, np.ndarray, np.ndarray | float]  # (from day, to day, log-HR)

# Relative risks of upper-GI bleeding during exposure (same at every site).
NSAID_LOG_HR = {c.DICLOFENAC: np.log(5.0), c.NAPROXEN: np.log(3.5), c.IBUPROFEN: np.log(2.5),
                c.CELECOXIB: np.log(1.6)}
ANTICOAGULANT_LOG_HR = {c.WARFARIN: np.log(2.8), c.APIXABAN: np.log(1.8)}
STROKE_PREVENTION_LOG_HR = {c.WARFARIN: -0.9, c.APIXABAN: -1.0}
THIRTY_DAYS = 30.0


def first_event(rng: np.random.Generator, start: np.ndarray, end: np.ndarray,
                log_rate: np.ndarray, factors: Sequence[Factor]) -> np.ndarray:
    """Day of the first event in [start, end) under a piecewise-constant hazard.

    ``log_rate`` is the per-year log-hazard with every factor off; each factor adds its
    log hazard ratio while ``from <= t < to``. Returns ``NEVER`` where no event occurs.
    """
    n = len(start)
    if n == 0:
        return np.empty(0)
    points = [start, end]
    for lo, hi, _ in factors:
        points.append(np.clip(lo, start, end))
        points.append(np.clip(hi, start, end))
    bounds = np.sort(np.stack(points, axis=1), axis=1)
    seg_lo, seg_hi = bounds[:, :-1], bounds[:, 1:]
    middle = (seg_lo + seg_hi) / 2.0
    log_r = np.repeat(log_rate[:, None], seg_lo.shape[1], axis=1)
    for lo, hi, beta in factors:
        active = (middle >= lo[:, None]) & (middle < hi[:, None])
        log_r = log_r + np.asarray(beta, dtype=np.float64).reshape(-1, 1) * active
    rate = np.exp(log_r) / DAYS_PER_YEAR
    cumulative = np.cumsum(rate * (seg_hi - seg_lo), axis=1)
    threshold = rng.exponential(1.0, n)
    hit = cumulative[:, -1] > threshold
    k = np.argmax(cumulative > threshold[:, None], axis=1)
    rows = np.arange(n)
    before = np.where(k > 0, cumulative[rows, np.maximum(k - 1, 0)], 0.0)
    day = seg_lo[rows, k] + (threshold - before) / rate[rows, k]
    return np.where(hit, np.floor(day), NEVER)


@dataclass
class Outcomes:
    mi: np.ndarray
    stroke: np.ndarray
    gi_bleed: np.ndarray
    death: np.ndarray


def _since(onset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return onset, np.full(len(onset), NEVER)


def _weeks_after(day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return day, day + THIRTY_DAYS


def _by_drug(course: Course, table: dict[int, float]) -> Factor:
    beta = np.zeros(len(course.drug))
    for drug, value in table.items():
        beta = np.where(course.drug == drug, value, beta)
    return course.start, course.end, beta


def draw_outcomes(rng: np.random.Generator, profile: Profile, pop: Population,
                  onsets: dict[str, np.ndarray], courses: dict[str, Course]) -> Outcomes:
    """First MI, stroke and GI bleed within the record, then death."""
    start, end = pop.start, pop.end
    age = pop.age_at((start + end) / 2.0)
    male = pop.male.astype(np.float64)
    current = (pop.smoking == 2).astype(np.float64)
    former = (pop.smoking == 1).astype(np.float64)

    s = profile.scale("mi")
    mi_rate = (np.log(0.004) + profile.shift("mi")
               + s * (0.065 * (age - 60) + 0.6 * male + 0.008 * (pop.ldl - 120)
                      + 0.7 * current + 0.3 * former + 0.02 * (pop.bmi - 28)))
    mi = first_event(rng, start, end, mi_rate, [
        (*_since(onsets["t2d"]), s * 0.7), (*_since(onsets["htn"]), s * 0.5),
        (courses["statin"].start, courses["statin"].end, -0.4),
        (courses["aspirin"].start, courses["aspirin"].end, -0.15)])

    s = profile.scale("stroke")
    stroke_rate = (np.log(0.004) + profile.shift("stroke")
                   + s * (0.07 * (age - 65) + 0.15 * male + 0.5 * current))
    stroke = first_event(rng, start, end, stroke_rate, [
        (*_since(onsets["htn"]), s * 0.8), (*_since(onsets["af"]), s * 1.1),
        (*_since(onsets["t2d"]), s * 0.4),
        _by_drug(courses["anticoagulant"], STROKE_PREVENTION_LOG_HR)])

    s = profile.scale("gi_bleed")
    gib_rate = np.log(0.01) + profile.shift("gi_bleed") + s * (0.035 * (age - 65) + 0.2 * male)
    gi_bleed = first_event(rng, start, end, gib_rate, [
        (*_since(onsets["ckd"]), s * 0.4), _by_drug(courses["nsaid"], NSAID_LOG_HR),
        _by_drug(courses["anticoagulant"], ANTICOAGULANT_LOG_HR),
        (courses["aspirin"].start, courses["aspirin"].end, np.log(1.7))])

    s = profile.scale("death")
    death_rate = (np.log(0.007) + profile.shift("death")
                  + s * (0.085 * (age - 70) + 0.3 * male + 0.45 * current))
    factors: list[Factor] = [
        (*_since(onsets["hf"]), s * 1.1), (*_since(onsets["ckd"]), s * 0.5),
        (*_since(onsets["copd"]), s * 0.7), (*_since(onsets["t2d"]), s * 0.3),
        (*_weeks_after(mi), 3.0), (*_since(mi), s * 0.7), (*_weeks_after(stroke), 2.5),
        (*_since(stroke), s * 0.6), (*_weeks_after(gi_bleed), 2.0)]
    for name, beta in zip(CANCERS, (0.9, 0.6, 2.3, 1.3), strict=True):
        factors.append((*_since(onsets[name]), s * beta))
    death = first_event(rng, start, end, death_rate, factors)

    # Events after death did not happen.
    return Outcomes(np.where(mi <= death, mi, NEVER), np.where(stroke <= death, stroke, NEVER),
                    np.where(gi_bleed <= death, gi_bleed, NEVER), death)


def apply_events(rng: np.random.Generator, pop: Population, courses: dict[str, Course],
                 events: Outcomes) -> np.ndarray:
    """React to events and close the record; returns the last observed day per person.

    A GI bleed stops the NSAID; after an MI most untreated persons start a statin; every
    course ends at the end of the record.
    """
    last = np.minimum(pop.end, events.death)
    nsaid = courses["nsaid"]
    bled_on_nsaid = (events.gi_bleed >= nsaid.start) & (events.gi_bleed < nsaid.end)
    nsaid.end = np.where(bled_on_nsaid, events.gi_bleed, nsaid.end)

    statin = courses["statin"]
    starts = (np.isfinite(events.mi) & ~statin.given & (rng.random(pop.n) < 0.8)
              & (events.mi + 3 < last))
    statin.drug = np.where(starts, c.ATORVASTATIN, statin.drug)
    statin.start = np.where(starts, events.mi + 3, statin.start)
    statin.end = np.where(starts, last, statin.end)

    for course in courses.values():
        ended = course.start > last
        course.drug = np.where(ended, 0, course.drug)
        course.start = np.where(ended, NEVER, course.start)
        course.end = np.where(ended, NEVER, np.minimum(course.end, last))
    return last
