"""The person-level tables: PERSON, OBSERVATION_PERIOD, DEATH and PAYER_PLAN_PERIOD.

Race and ethnicity are written the way the site records them: a standard concept where it
has one, 0 with the local label as source value where it does not (Brazil's "parda",
Israel's population groups, Canada's uncollected race).
"""

from __future__ import annotations

import numpy as np

from behindglass.synth import concepts as c
from behindglass.synth.chronic import CANCERS
from behindglass.synth.clinical import icd10
from behindglass.synth.outcomes import THIRTY_DAYS, Outcomes
from behindglass.synth.population import EPOCH, Population
from behindglass.synth.profiles import Profile
from behindglass.synth.ragged import DAYS_PER_YEAR, expand
from behindglass.synth.writer import Categorical, Columns


def _calendar(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    as_dates = (np.datetime64(EPOCH.isoformat()) + days.astype("timedelta64[D]"))
    years = as_dates.astype("datetime64[Y]")
    months = as_dates.astype("datetime64[M]")
    year = years.astype(np.int64) + 1970
    month = (months - years).astype(np.int64) + 1
    day = (as_dates - months).astype(np.int64) + 1
    return year, month, day


def person_rows(profile: Profile, pop: Population, site_regions: np.ndarray) -> Columns:
    races = profile.demographics.races
    year, month, day = _calendar(pop.birth.astype(np.int64))
    if profile.demographics.hispanic_share is None:
        ethnicity = np.zeros(pop.n, dtype=np.int64)
        ethnicity_source = Categorical(np.full(pop.n, -1), [])
    else:
        ethnicity = np.where(pop.hispanic, c.HISPANIC, c.NOT_HISPANIC)
        ethnicity_source = Categorical(pop.hispanic.astype(np.int64), ["Not Hispanic", "Hispanic"])
    race_source = [r.source_value for r in races]
    race_codes = np.where(np.array([bool(s) for s in race_source])[pop.race], pop.race, -1)
    return {
        "person_id": np.arange(pop.n),
        "gender_concept_id": np.where(pop.male, c.MALE, c.FEMALE),
        "year_of_birth": year,
        "month_of_birth": month,
        "day_of_birth": day,
        "birth_datetime": pop.birth.astype(np.int64) * 86400,
        "race_concept_id": np.array([r.concept_id for r in races])[pop.race],
        "ethnicity_concept_id": ethnicity,
        "location_id": site_regions[pop.region],
        "gender_source_value": Categorical(pop.male.astype(np.int64), ["F", "M"]),
        "race_source_value": Categorical(race_codes, race_source),
        "ethnicity_source_value": ethnicity_source,
    }


def observation_period_rows(pop: Population, last: np.ndarray) -> Columns:
    return {
        "observation_period_id": np.arange(pop.n),
        "person_id": np.arange(pop.n),
        "observation_period_start_date": pop.start,
        "observation_period_end_date": last,
        "period_type_concept_id": np.full(pop.n, c.EHR_EPISODE),
    }


def death_rows(profile: Profile, onsets: dict[str, np.ndarray], events: Outcomes) -> Columns:
    """DEATH with the most plausible cause: a recent acute event, else cancer, HF, COPD."""
    died = np.flatnonzero(np.isfinite(events.death))
    day = events.death[died]
    cause = np.zeros(len(died), dtype=np.int64)
    candidates = [("copd", c.COPD), ("hf", c.HEART_FAILURE)] + [
        (name, concept) for name, concept in zip(
            CANCERS, (c.BREAST_CANCER, c.PROSTATE_CANCER, c.LUNG_CANCER, c.COLON_CANCER),
            strict=True)]
    for name, concept in candidates:  # later entries win
        cause = np.where(onsets[name][died] <= day, concept, cause)
    for event, concept in ((events.gi_bleed, c.GI_BLEED), (events.stroke, c.STROKE),
                           (events.mi, c.MI)):
        recent = (day - event[died] >= 0) & (day - event[died] <= THIRTY_DAYS)
        cause = np.where(recent, concept, cause)
    source = icd10(cause)
    source = Categorical(np.where(cause == 0, len(source.categories), source.codes),
                         [*source.categories, "R99"])
    return {
        "person_id": died,
        "death_date": day,
        "death_type_concept_id": np.full(len(died), profile.coding.death_type),
        "cause_concept_id": cause,
        "cause_source_value": source,
    }


def payer_rows(rng: np.random.Generator, profile: Profile, pop: Population,
               last: np.ndarray) -> Columns:
    """One enrolment per person; in the US a second one (Medicare) from age 65."""
    payers = profile.payers
    payer = rng.choice(len(payers), size=pop.n, p=np.array([x.weight for x in payers]) /
                       sum(x.weight for x in payers))
    at_65 = np.floor(pop.birth + 65 * DAYS_PER_YEAR)
    if profile.medicare_at_65:
        medicare_only = at_65 <= pop.start
        split = (at_65 > pop.start) & (at_65 <= last)
    else:
        medicare_only = np.zeros(pop.n, dtype=bool)
        split = medicare_only
    flat = expand(1 + split.astype(np.int64))
    o, second = flat.owner, flat.rank == 1
    start = np.where(second, at_65[o], pop.start[o])
    end = np.where(split[o] & ~second, at_65[o] - 1, last[o])
    is_medicare = second | medicare_only[o]
    names = [x.source_value for x in payers] + ["Medicare"]
    plans = [x.plan_source_value for x in payers] + ["Medicare Part A/B"]
    code = np.where(is_medicare, len(payers), payer[o])
    return {
        "payer_plan_period_id": np.arange(len(o)),
        "person_id": o,
        "payer_plan_period_start_date": start,
        "payer_plan_period_end_date": end,
        "payer_source_value": Categorical(code, names),
        "plan_source_value": Categorical(np.where(np.array([bool(s) for s in plans])[code], code,
                                                  -1), plans),
    }
