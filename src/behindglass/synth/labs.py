"""Measurements: blood pressure, BMI, HbA1c, creatinine with eGFR, and LDL.

Each value comes from the person's underlying state on the day of the visit, so the
numbers carry the simulation: HbA1c is high in untreated and undiagnosed diabetes and
falls on metformin and insulin, blood pressure rises with hypertension and falls on
treatment, LDL falls on a statin, eGFR falls with age, diabetes and kidney disease and
creatinine is derived from it with the MDRD equation. How often each is measured is the
site's habit (``CarePattern.measure``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from behindglass.synth import concepts as c
from behindglass.synth.encounters import HOME, IP, OP, Visits
from behindglass.synth.population import Population
from behindglass.synth.profiles import Profile
from behindglass.synth.ragged import DAYS_PER_YEAR
from behindglass.synth.treatment import Course
from behindglass.synth.writer import Categorical, Columns


@dataclass(frozen=True)
class Lab:
    concept_id: int
    loinc: str
    unit: int
    unit_source: str
    low: float
    high: float
    is_lab: bool  # a laboratory test (else a vital sign taken in the room)


LABS: dict[str, Lab] = {
    "sbp": Lab(c.SBP, "8480-6", c.MMHG, "mm[Hg]", 90, 120, False),
    "dbp": Lab(c.DBP, "8462-4", c.MMHG, "mm[Hg]", 60, 80, False),
    "bmi": Lab(c.BMI, "39156-5", c.KG_M2, "kg/m2", 18.5, 24.9, False),
    "hba1c": Lab(c.HBA1C, "4548-4", c.PERCENT, "%", 4.0, 5.6, True),
    "creatinine": Lab(c.CREATININE, "2160-0", c.MG_DL, "mg/dL", 0.6, 1.2, True),
    "egfr": Lab(c.EGFR, "77147-7", c.ML_MIN_173, "mL/min/{1.73_m2}", 60, 120, True),
    "ldl": Lab(c.LDL, "18262-6", c.MG_DL, "mg/dL", 0, 99, True),
}
_NAMES = list(LABS)


def _active(course: Course, person: np.ndarray, day: np.ndarray, drug: int | None = None
            ) -> np.ndarray:
    on = (course.start[person] <= day) & (day < course.end[person])
    return on if drug is None else on & (course.drug[person] == drug)


def measurement_rows(rng: np.random.Generator, profile: Profile, pop: Population,
                     visits: Visits, onsets: dict[str, np.ndarray], dx: dict[str, np.ndarray],
                     courses: dict[str, Course]) -> Columns:
    """MEASUREMENT rows for one block."""
    freq = profile.care.measure
    nv = len(visits)
    p, day = visits.person, visits.day.astype(np.float64)
    routine = visits.kind == OP
    age = (day - pop.birth[p]) / DAYS_PER_YEAR
    adult = age >= 18
    diagnosed_dm = dx["t2d"][p] <= day
    known_renal = (dx["ckd"][p] <= day) | diagnosed_dm
    on_statin = _active(courses["statin"], p, day)
    u = rng.random((5, nv))
    take_bp = ((routine | (visits.kind == HOME)) & (u[0] < freq["bp"])) & (age >= 3)
    take_bmi = routine & (u[1] < freq["bmi"]) & adult
    take_a1c = routine & (u[2] < np.where(diagnosed_dm, freq["hba1c_dm"], freq["hba1c"])) & adult
    take_cr = adult & ((routine & (u[3] < np.minimum(freq["creatinine"] * np.where(
        known_renal, 2.5, 1.0), 0.95))) | ((visits.kind == IP) & (u[3] < 0.9)))
    take_ldl = routine & adult & (u[4] < freq["ldl"] * np.where(on_statin, 2.0, 1.0))

    # Person-level deviations persist across visits; visit-level noise does not.
    sbp_person = rng.normal(0.0, 8.0, pop.n)
    a1c_person = rng.normal(0.0, 0.9, pop.n)
    egfr_person = rng.normal(0.0, 11.0, pop.n)

    male = pop.male[p]
    htn = onsets["htn"][p] <= day
    bp_drug = courses["antihypertensive"]
    sbp = (112 + 0.45 * np.maximum(age - 30, 0) + 0.5 * (pop.bmi[p] - 27) + 4 * male
           + sbp_person[p] + 20 * htn - 14 * _active(bp_drug, p, day, c.LISINOPRIL)
           - 14 * _active(bp_drug, p, day, c.ENALAPRIL) - 12 * _active(bp_drug, p, day, c.HCTZ)
           + rng.normal(0.0, 9.0, nv))
    sbp = np.clip(np.round(sbp), 70, 250)
    dbp = np.clip(np.round(0.45 * sbp + 18 + rng.normal(0.0, 6.0, nv)), 35, 140)
    bmi = np.round(np.maximum(pop.bmi[p] + rng.normal(0.0, 0.6, nv), 12.0), 1)

    diabetic = onsets["t2d"][p] <= day
    years_dm = np.maximum(day - onsets["t2d"][p], 0) / DAYS_PER_YEAR
    near_onset = (onsets["t2d"][p] - day) < 3 * DAYS_PER_YEAR
    healthy_a1c = 5.3 + 0.02 * (pop.bmi[p] - 27) + 0.25 * a1c_person[p] / 0.9 + 0.6 * near_onset
    dm_a1c = (8.0 + a1c_person[p] + 0.03 * np.minimum(years_dm, 20) + 0.5 * ~diagnosed_dm
              - 1.0 * _active(courses["metformin"], p, day)
              - 0.7 * _active(courses["insulin"], p, day))
    a1c = np.where(diabetic, dm_a1c, healthy_a1c) + rng.normal(0.0, 0.15, nv)
    a1c = np.clip(np.round(a1c, 1), 4.0, 15.0)

    ckd_years = np.maximum(day - onsets["ckd"][p], 0) / DAYS_PER_YEAR
    egfr_true = ((118 - 0.95 * np.maximum(age - 30, 0) - 6 * diabetic + egfr_person[p])
                 * np.where(onsets["ckd"][p] <= day, 0.6, 1.0) - 1.5 * np.minimum(ckd_years, 10))
    egfr_true = np.clip(egfr_true + rng.normal(0.0, 4.0, nv), 4.0, 150.0)
    mdrd = 175 * np.maximum(age, 18) ** -0.203 * np.where(male, 1.0, 0.742) * np.where(
        pop.group("black")[p], 1.212, 1.0)
    creatinine = np.round(np.clip((egfr_true / mdrd) ** (-1 / 1.154), 0.3, 15.0), 2)
    egfr = np.round(mdrd * creatinine ** -1.154)

    statin = courses["statin"]
    lowering = np.where(_active(statin, p, day, c.ATORVASTATIN), 0.58,
                        np.where(_active(statin, p, day, c.SIMVASTATIN), 0.68, 1.0))
    ldl = np.clip(np.round(pop.ldl[p] * lowering + rng.normal(0.0, 12.0, nv)), 20, 320)

    parts = [("sbp", take_bp, sbp), ("dbp", take_bp, dbp), ("bmi", take_bmi, bmi),
             ("hba1c", take_a1c, a1c), ("creatinine", take_cr, creatinine),
             ("egfr", take_cr, egfr), ("ldl", take_ldl, ldl)]
    visit = np.concatenate([np.flatnonzero(mask) for _, mask, _ in parts])
    which = np.concatenate([np.full(int(mask.sum()), _NAMES.index(name))
                            for name, mask, _ in parts])
    value = np.concatenate([values[mask] for _, mask, values in parts])
    order = np.lexsort((which, visit))
    visit, which, value = visit[order], which[order], value[order]
    return _columns(visits, visit, which, value, pop.male)


def _columns(visits: Visits, visit: np.ndarray, which: np.ndarray, value: np.ndarray,
             male: np.ndarray) -> Columns:
    labs = [LABS[name] for name in _NAMES]
    n = len(visit)
    pick = {f: np.array([getattr(lab, f) for lab in labs]) for f in
            ("concept_id", "unit", "low", "high", "is_lab")}
    is_lab = pick["is_lab"][which]
    creat = which == _NAMES.index("creatinine")
    low = np.where(creat, np.where(male[visits.person[visit]], 0.7, 0.5), pick["low"][which])
    high = np.where(creat, np.where(male[visits.person[visit]], 1.3, 1.1), pick["high"][which])
    return {
        "measurement_id": np.arange(n),
        "person_id": visits.person[visit],
        "measurement_concept_id": pick["concept_id"][which],
        "measurement_date": visits.day[visit],
        "measurement_datetime": visits.at_offset(visit, np.where(is_lab, 1800, 600)),
        "measurement_type_concept_id": np.where(is_lab, c.LAB, c.EHR),
        "value_as_number": value,
        "unit_concept_id": pick["unit"][which],
        "range_low": low,
        "range_high": high,
        "provider_id": visits.provider[visit],
        "visit_occurrence_id": visit,
        "measurement_source_value": Categorical(which, [lab.loinc for lab in labs]),
        "unit_source_value": Categorical(which, [lab.unit_source for lab in labs]),
    }
