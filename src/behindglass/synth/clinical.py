"""Condition, drug and smoking records, attached to the visits they were made at.

This is where coding habits show: a site may code type 2 diabetes to the parent
"Diabetes mellitus", hypertension to "Hypertensive disorder", CKD by stage, and re-codes
known conditions at later visits at its own rate. Drug courses become refills of the
site's usual days' supply with occasional gaps, the first fill tied to the prescribing
visit. All ids here are block-local and 0-based; ``generate`` turns them into CDM ids.
"""

from __future__ import annotations

import numpy as np

from behindglass.synth import concepts as c
from behindglass.synth.chronic import CONDITIONS
from behindglass.synth.encounters import ER, HOME, IP, OP, Visits
from behindglass.synth.outcomes import Outcomes
from behindglass.synth.population import Population
from behindglass.synth.profiles import Profile
from behindglass.synth.ragged import expand
from behindglass.synth.treatment import Course
from behindglass.synth.writer import Categorical, Columns

ICD10: dict[int, str] = {
    c.T2DM: "E11.9", c.DIABETES: "E14.9", c.ESSENTIAL_HTN: "I10", c.HYPERTENSIVE_DISORDER: "I15.9",
    c.HYPERLIPIDEMIA: "E78.5", c.AFIB: "I48.91", c.HEART_FAILURE: "I50.9", c.CKD: "N18.9",
    c.CKD_STAGE3: "N18.30", c.COPD: "J44.9", c.DEPRESSIVE_DISORDER: "F32.A",
    c.MAJOR_DEPRESSION: "F32.9", c.OSTEOARTHRITIS: "M19.90", c.OA_KNEE: "M17.9",
    c.BREAST_CANCER: "C50.919", c.PROSTATE_CANCER: "C61", c.LUNG_CANCER: "C34.90",
    c.COLON_CANCER: "C18.9", c.MI: "I21.9", c.STROKE: "I63.9", c.GI_BLEED: "K92.2",
}
_ICD_KEYS = np.array(sorted(ICD10))
_ICD_VALUES = [ICD10[k] for k in _ICD_KEYS]

# RxNorm ingredient codes (the drug_source_value) and units per day of supply.
RXNORM_CODE: dict[int, str] = {
    c.METFORMIN: "6809", c.INSULIN: "253182", c.LISINOPRIL: "29046", c.ENALAPRIL: "3827",
    c.HCTZ: "5487", c.CELECOXIB: "140587", c.DICLOFENAC: "3355", c.IBUPROFEN: "5640",
    c.NAPROXEN: "7258", c.WARFARIN: "11289", c.APIXABAN: "1364430", c.ASPIRIN: "1191",
    c.ATORVASTATIN: "83367", c.SIMVASTATIN: "36567",
}
_RX_KEYS = np.array(sorted(RXNORM_CODE))
UNITS_PER_DAY = {c.METFORMIN: 2.0, c.INSULIN: 0.4, c.CELECOXIB: 1.0, c.DICLOFENAC: 2.0,
                 c.IBUPROFEN: 3.0, c.NAPROXEN: 2.0, c.APIXABAN: 2.0}


def icd10(concepts: np.ndarray) -> Categorical:
    return Categorical(np.searchsorted(_ICD_KEYS, concepts), _ICD_VALUES)


def _coded(rng: np.random.Generator, profile: Profile, name: str, n: int) -> np.ndarray:
    """The concept a site writes for a chronic condition, person by person."""
    habits = profile.coding
    u = rng.random(n)
    variants = {
        "t2d": (c.DIABETES, habits.diabetes_parent_share, c.T2DM),
        "htn": (c.HYPERTENSIVE_DISORDER, habits.htn_parent_share, c.ESSENTIAL_HTN),
        "ckd": (c.CKD_STAGE3, habits.ckd_stage_share, c.CKD),
        "depression": (c.MAJOR_DEPRESSION, habits.depression_specific_share,
                       c.DEPRESSIVE_DISORDER),
        "oa": (c.OA_KNEE, habits.oa_knee_share, c.OSTEOARTHRITIS),
    }
    if name in variants:
        alternative, share, usual = variants[name]
        return np.where(u < share, alternative, usual)
    return np.full(n, next(x.concept_id for x in CONDITIONS if x.name == name))


def condition_rows(rng: np.random.Generator, profile: Profile, visits: Visits,
                   dx: dict[str, np.ndarray], events: Outcomes, last: np.ndarray) -> Columns:
    """CONDITION_OCCURRENCE: first diagnoses, repeat codings and acute events."""
    persons, concepts, at = [], [], []
    everyone = np.arange(len(last))
    for name, day in dx.items():
        seen = day <= last
        who = everyone[seen]
        visit = visits.find(who, day[seen], OP)
        concept = _coded(rng, profile, name, len(last))[seen]
        persons.append(who[visit >= 0])
        concepts.append(concept[visit >= 0])
        at.append(visit[visit >= 0])
    person, concept, visit = map(np.concatenate, (persons, concepts, at))

    # Known conditions are coded again at some later routine visits.
    routine = np.flatnonzero((visits.kind == OP) | (visits.kind == HOME))
    owner_end = np.searchsorted(visits.person[routine], np.arange(len(last)), side="right")
    position = np.searchsorted(routine, visit)
    later = owner_end[person] - position - 1
    repeats = np.minimum(rng.poisson(profile.coding.repeat_diagnosis * later), later)
    flat = expand(repeats)
    chosen = routine[position[flat.owner] + 1 + np.floor(rng.random(len(flat.owner)) *
                                                         later[flat.owner]).astype(np.int64)]
    pairs = np.unique(np.stack([flat.owner, chosen], axis=1), axis=0)
    person = np.concatenate([person, person[pairs[:, 0]]])
    concept = np.concatenate([concept, concept[pairs[:, 0]]])
    visit = np.concatenate([visit, pairs[:, 1]])

    for day, concept_id in ((events.mi, c.MI), (events.stroke, c.STROKE),
                            (events.gi_bleed, c.GI_BLEED)):
        seen = day <= last
        who = everyone[seen]
        found = np.maximum(visits.find(who, day[seen], IP), visits.find(who, day[seen], ER))
        person = np.concatenate([person, who[found >= 0]])
        concept = np.concatenate([concept, np.full(int((found >= 0).sum()), concept_id)])
        visit = np.concatenate([visit, found[found >= 0]])

    order = np.lexsort((concept, visit))
    person, concept, visit = person[order], concept[order], visit[order]
    n = len(person)
    return {
        "condition_occurrence_id": np.arange(n),
        "person_id": person,
        "condition_concept_id": concept,
        "condition_start_date": visits.day[visit],
        "condition_start_datetime": visits.start_datetime()[visit],
        "condition_type_concept_id": np.full(n, profile.coding.condition_type),
        "provider_id": visits.provider[visit],
        "visit_occurrence_id": visit,
        "condition_source_value": icd10(concept),
        "condition_source_concept_id": np.zeros(n, dtype=np.int64),
    }


def drug_rows(rng: np.random.Generator, visits: Visits, courses: dict[str, Course],
              last: np.ndarray) -> Columns:
    """DRUG_EXPOSURE: every fill of every course, refills following the days' supply."""
    drug = np.concatenate([k.drug for k in courses.values()])
    start = np.concatenate([k.start for k in courses.values()])
    end = np.concatenate([k.end for k in courses.values()])
    supply = np.concatenate([k.days_supply for k in courses.values()]).astype(np.float64)
    person = np.tile(np.arange(len(last)), len(courses))
    given = np.isfinite(start)
    drug, start, end, supply, person = (a[given] for a in (drug, start, end, supply, person))
    first_visit = visits.find(person, start, OP)

    fills = np.ceil((end - start) / supply).astype(np.int64) + 1
    flat = expand(fills)
    o = flat.owner
    gap = np.where(rng.random(len(o)) < 0.04, rng.integers(35, 90, len(o)),
                   rng.integers(0, 6, len(o)))
    gap = np.where(flat.rank == 0, 0, gap)
    cumulative_gap = np.cumsum(gap) - np.cumsum(gap)[flat.start[o]]
    fill_start = start[o] + flat.rank * supply[o] + cumulative_gap
    keep = fill_start < end[o]
    o, rank, fill_start = o[keep], flat.rank[keep], fill_start[keep]
    fill_end = np.minimum(fill_start + supply[o], np.maximum(last[person[o]], fill_start))
    concept = drug[o]
    per_day = np.ones(len(o))
    for ingredient, units in UNITS_PER_DAY.items():
        per_day = np.where(concept == ingredient, units, per_day)
    visit = np.where(rank == 0, first_visit[o], -1)
    prescriber = np.where(first_visit >= 0, visits.provider[np.maximum(first_visit, 0)], -1)[o]
    n = len(o)
    return {
        "drug_exposure_id": np.arange(n),
        "person_id": person[o],
        "drug_concept_id": concept,
        "drug_exposure_start_date": fill_start,
        "drug_exposure_end_date": fill_end,
        "drug_type_concept_id": np.full(n, c.EHR_PRESCRIPTION),
        "quantity": np.round(supply[o] * per_day, 1),
        "days_supply": supply[o].astype(np.int64),
        "route_concept_id": np.where(concept == c.INSULIN, c.SUBCUTANEOUS, c.ORAL),
        "provider_id": np.ma.masked_less(prescriber, 0),
        "visit_occurrence_id": np.ma.masked_less(visit, 0),
        "drug_source_value": Categorical(np.searchsorted(_RX_KEYS, concept),
                                         [RXNORM_CODE[k] for k in _RX_KEYS]),
        "route_source_value": Categorical((concept == c.INSULIN).astype(np.int64),
                                          ["oral", "subcutaneous"]),
    }


def smoking_rows(rng: np.random.Generator, pop: Population, visits: Visits) -> Columns:
    """OBSERVATION: current smoking recorded at the first visit for most smokers."""
    who = np.flatnonzero((pop.smoking == 2) & (rng.random(pop.n) < 0.85))
    visit = visits.find(who, pop.start[who], OP)
    who, visit = who[visit >= 0], visit[visit >= 0]
    n = len(who)
    return {
        "observation_id": np.arange(n),
        "person_id": who,
        "observation_concept_id": np.full(n, c.SMOKING_STATUS),
        "observation_date": visits.day[visit],
        "observation_datetime": visits.start_datetime()[visit],
        "observation_type_concept_id": np.full(n, c.EHR),
        "value_as_string": Categorical(np.zeros(n, dtype=np.int64), ["Current every day smoker"]),
        "value_as_concept_id": np.full(n, c.SMOKES_DAILY),
        "provider_id": visits.provider[visit],
        "visit_occurrence_id": visit,
        "observation_source_value": Categorical(np.zeros(n, dtype=np.int64), ["72166-2"]),
    }
