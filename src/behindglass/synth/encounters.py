"""Visits: routine care, the visits where things were diagnosed and prescribed, acute
admissions for the simulated events, emergency and home visits.

Every clinical record is later attached to one of these visits, so the visit table is
built first and then looked up by (person, day, kind). Routine visit frequency grows with
age and the number of chronic conditions and is set per site (``CarePattern``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from behindglass.synth import concepts as c
from behindglass.synth.chronic import count_by
from behindglass.synth.outcomes import Outcomes
from behindglass.synth.population import Population
from behindglass.synth.profiles import Profile
from behindglass.synth.ragged import DAYS_PER_YEAR, expand, person_day_key
from behindglass.synth.sitetables import SiteContext
from behindglass.synth.treatment import Course
from behindglass.synth.writer import Categorical, Columns

OP, IP, ER, HOME = 0, 1, 2, 3
VISIT_CONCEPT = np.array([c.OUTPATIENT, c.INPATIENT, c.EMERGENCY, c.HOME])
VISIT_SOURCE = ["office visit", "admission", "emergency", "home visit"]
# reasons: 0 routine, 1 MI, 2 stroke, 3 GI bleed
ROUTINE, FOR_MI, FOR_STROKE, FOR_GI_BLEED = 0, 1, 2, 3


@dataclass
class Visits:
    """The visits of a block, sorted by person, day and kind."""

    person: np.ndarray
    kind: np.ndarray
    reason: np.ndarray
    day: np.ndarray  # int64 start day
    end_day: np.ndarray
    start_second: np.ndarray  # seconds after midnight
    end_second: np.ndarray
    provider: np.ndarray
    care_site: np.ndarray  # 0 = none
    key: np.ndarray  # person_day_key * 4 + kind, ascending

    def __len__(self) -> int:
        return len(self.person)

    def find(self, person: np.ndarray, day: np.ndarray, kind: int | np.ndarray) -> np.ndarray:
        """Index of a visit of ``kind`` on ``day`` (-1 if there is none)."""
        if len(self.key) == 0:
            return np.full(len(person), -1, dtype=np.int64)
        ok = np.isfinite(day)
        query = person_day_key(person, np.where(ok, day, 0.0)) * 4 + kind
        idx = np.minimum(np.searchsorted(self.key, query), len(self.key) - 1)
        return np.where(ok & (self.key[idx] == query), idx, -1)

    def start_datetime(self) -> np.ndarray:
        return self.day * 86400 + self.start_second

    def at_offset(self, index: np.ndarray, seconds: int | np.ndarray) -> np.ndarray:
        """Datetime ``seconds`` after the start of visits ``index``, kept on the start day."""
        moment = self.start_second[index] + seconds
        return self.day[index] * 86400 + np.minimum(moment, 86399)

    def end_datetime(self) -> np.ndarray:
        return self.end_day * 86400 + self.end_second


def _uniform_days(rng: np.random.Generator, owner: np.ndarray, lo: np.ndarray,
                  hi: np.ndarray) -> np.ndarray:
    return np.floor(lo[owner] + rng.random(len(owner)) * (hi[owner] - lo[owner] + 1))


def build_visits(rng: np.random.Generator, profile: Profile, pop: Population, last: np.ndarray,
                 onsets: dict[str, np.ndarray], dx: dict[str, np.ndarray],
                 courses: dict[str, Course], events: Outcomes, site: SiteContext) -> Visits:
    care = profile.care
    start = pop.start
    years = np.maximum(last - start, 0.0) / DAYS_PER_YEAR
    mid = (start + last) / 2.0
    age = pop.age_at(mid)
    chronic = count_by(onsets, mid)
    age_factor = np.where(age < 5, 2.0, np.where(age < 18, 0.8, 1.0 + np.maximum(age - 50, 0) / 40))

    persons, days, kinds, reasons = [], [], [], []

    def add(person: np.ndarray, day: np.ndarray, kind: int, reason: int = ROUTINE) -> None:
        persons.append(person)
        days.append(day)
        kinds.append(np.full(len(person), kind))
        reasons.append(np.full(len(person), reason))

    everyone = np.arange(pop.n)
    add(everyone, start, OP)  # first contact opens the record
    routine = rng.poisson(care.outpatient_rate * age_factor * (1 + 0.3 * chronic) * years)
    owner = expand(routine).owner
    add(owner, _uniform_days(rng, owner, start, last), OP)
    for day in list(dx.values()) + [course.start for course in courses.values()]:
        seen = day <= last
        add(everyone[seen], day[seen], OP)

    gib_admitted = rng.random(pop.n) < 0.7
    for event, reason in ((events.mi, FOR_MI), (events.stroke, FOR_STROKE),
                          (events.gi_bleed, FOR_GI_BLEED)):
        happened = event <= last
        admitted = happened if reason != FOR_GI_BLEED else happened & gib_admitted
        add(everyone[admitted], event[admitted], IP, reason)
        if reason == FOR_GI_BLEED:
            in_er = happened & ~gib_admitted
            add(everyone[in_er], event[in_er], ER, reason)

    er = rng.poisson(care.emergency_rate * (1 + 0.2 * chronic) * years)
    owner = expand(er).owner
    add(owner, _uniform_days(rng, owner, start, last), ER)
    ip = rng.poisson(care.inpatient_rate * (1 + np.maximum(age - 50, 0) / 15) * years)
    owner = expand(ip).owner
    add(owner, _uniform_days(rng, owner, start, last), IP)
    home_from = np.maximum(start, pop.birth + 75 * DAYS_PER_YEAR)
    home_years = np.maximum(last - home_from, 0.0) / DAYS_PER_YEAR
    owner = expand(rng.poisson(care.home_rate_elderly * home_years)).owner
    add(owner, _uniform_days(rng, owner, home_from, last), HOME)

    person = np.concatenate(persons)
    day = np.floor(np.concatenate(days)).astype(np.int64)
    kind = np.concatenate(kinds)
    reason = np.concatenate(reasons)
    key = person_day_key(person, day) * 4 + kind
    # One routine visit per person and day; acute visits are kept as they are.
    order = np.lexsort((-reason, key))
    key, kind = key[order], kind[order]
    keep = np.ones(len(key), dtype=bool)
    keep[1:] = ~((key[1:] == key[:-1]) & ((kind[1:] == OP) | (kind[1:] == HOME)))
    chosen = order[keep]
    return _fill_details(rng, pop.n, person[chosen], day[chosen], kind[keep], reason[chosen],
                         key[keep], last, site)


def _fill_details(rng: np.random.Generator, n_persons: int, person: np.ndarray,
                  day: np.ndarray, kind: np.ndarray, reason: np.ndarray, key: np.ndarray,
                  last: np.ndarray, site: SiteContext) -> Visits:
    n = len(person)
    los_mean = np.array([3.0, 4.0, 5.0, 3.0])[reason]
    overnight_er = (kind == ER) & (rng.random(n) < 0.2)
    los = np.where(kind == IP, 1 + rng.poisson(los_mean), overnight_er.astype(np.int64))
    end_day = np.minimum(day + los, np.maximum(np.floor(last[person]), day)).astype(np.int64)
    start_second = np.where((kind == OP) | (kind == HOME),
                            (8 + rng.integers(0, 9, n)) * 3600 + rng.integers(0, 4, n) * 900,
                            rng.integers(0, 86400 // 60, n) * 60)
    same_day_end = start_second + np.where(kind == ER, rng.integers(2, 8, n) * 3600,
                                           rng.integers(1, 4, n) * 900)
    end_second = np.where(kind == IP, (10 + rng.integers(0, 7, n)) * 3600,
                          np.minimum(same_day_end, 86399))
    end_second = np.where(end_day > day, end_second, np.maximum(end_second, start_second))

    primary = site.pool("primary")
    pcp = primary[rng.integers(0, len(primary), n_persons)]
    provider = pcp[person]
    other = site.pool("all")
    switch = (kind == OP) & (rng.random(n) < 0.3)
    provider = np.where(switch, other[rng.integers(0, len(other), n)], provider)
    hospital = site.pool("hospital")
    provider = np.where((kind == IP) | (kind == ER), hospital[rng.integers(0, len(hospital), n)],
                        provider)
    for why, pool in ((FOR_MI, "cardiology"), (FOR_STROKE, "neurology"),
                      (FOR_GI_BLEED, "gastroenterology")):
        specialists = site.pool(pool)
        chosen = specialists[rng.integers(0, len(specialists), n)]
        provider = np.where((reason == why) & (kind == IP), chosen, provider)

    community, hospitals, emergency = (site.sites("office", "clinic"), site.sites("hospital"),
                                       site.sites("emergency"))
    care_site = np.select(
        [kind == OP, kind == IP, kind == ER],
        [community[rng.integers(0, len(community), n)],
         hospitals[rng.integers(0, len(hospitals), n)],
         emergency[rng.integers(0, len(emergency), n)]], 0)
    return Visits(person, kind, reason, day, end_day, start_second, end_second,
                  provider, care_site, key)


def visit_rows(visits: Visits, death: np.ndarray) -> Columns:
    """VISIT_OCCURRENCE; acute admissions come in through the emergency room and go home."""
    n = len(visits)
    kind = visits.kind
    first_of_person = np.ones(n, dtype=bool)
    first_of_person[1:] = visits.person[1:] != visits.person[:-1]
    acute = (kind == IP) & (visits.reason != ROUTINE)
    went_home = (kind == IP) & (visits.end_day < death[visits.person])
    return {
        "visit_occurrence_id": np.arange(n),
        "person_id": visits.person,
        "visit_concept_id": VISIT_CONCEPT[kind],
        "visit_start_date": visits.day,
        "visit_start_datetime": visits.start_datetime(),
        "visit_end_date": visits.end_day,
        "visit_end_datetime": visits.end_datetime(),
        "visit_type_concept_id": np.full(n, c.EHR),
        "provider_id": visits.provider,
        "care_site_id": np.ma.masked_equal(visits.care_site, 0),
        "visit_source_value": Categorical(kind, VISIT_SOURCE),
        "admitted_from_concept_id": np.ma.masked_array(np.full(n, c.POS_ER), ~acute),
        "admitted_from_source_value": Categorical(np.where(acute, 0, -1), ["emergency"]),
        "discharged_to_concept_id": np.ma.masked_array(np.full(n, c.HOME), ~went_home),
        "discharged_to_source_value": Categorical(np.where(went_home, 0, -1), ["home"]),
        "preceding_visit_occurrence_id": np.ma.masked_array(np.arange(n) - 1, first_of_person),
    }
