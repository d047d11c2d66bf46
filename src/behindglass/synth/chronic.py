"""Chronic conditions: who has them by the extract date and when they began.

Each condition is a logistic model of "has it by now" on age, sex, body-mass index,
smoking, risk group and earlier conditions in the list (so diabetes raises the odds of
kidney disease, hypertension of heart failure, and so on), shifted per site by
``Epidemiology.condition_shift``. Onset age is drawn between a minimum age and the
current age, skewed towards the present for conditions of later life.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from behindglass.synth import concepts as c
from behindglass.synth.population import Population
from behindglass.synth.profiles import Profile
from behindglass.synth.ragged import DAYS_PER_YEAR, NEVER, logistic


@dataclass(frozen=True)
class ChronicCondition:
    name: str
    concept_id: int
    min_age: float
    intercept: float  # log-odds at the reference age with no risk factors
    age_ref: float
    age_slope: float  # per year
    effects: Mapping[str, float] = field(default_factory=dict)  # covariate -> log-odds
    onset_skew: float = 2.0  # onset fraction of the eligible span ~ U**(1/skew)
    sex: str | None = None  # "female" / "male" for sex-specific cancers


# Order matters: a condition may use any earlier one as a covariate.
CONDITIONS: tuple[ChronicCondition, ...] = (
    ChronicCondition("t2d", c.T2DM, 20, -2.3, 55, 0.045,
                     {"bmi": 0.11, "black": 0.45, "mixed": 0.25, "hispanic": 0.4,
                      "asian": 0.45, "aian": 0.7, "mena": 0.7}, onset_skew=2.0),
    ChronicCondition("htn", c.ESSENTIAL_HTN, 20, -0.85, 55, 0.07,
                     {"bmi": 0.07, "black": 0.6, "mixed": 0.25, "t2d": 0.6, "male": 0.15},
                     onset_skew=2.0),
    ChronicCondition("hyperlipidemia", c.HYPERLIPIDEMIA, 20, -1.45, 55, 0.04,
                     {"ldl": 0.025, "t2d": 0.5, "htn": 0.3}, onset_skew=2.0),
    ChronicCondition("af", c.AFIB, 30, -3.3, 70, 0.08,
                     {"male": 0.35, "htn": 0.45, "bmi": 0.03}, onset_skew=3.0),
    ChronicCondition("hf", c.HEART_FAILURE, 35, -3.7, 70, 0.07,
                     {"htn": 0.8, "t2d": 0.6, "af": 0.9, "male": 0.3, "current": 0.3},
                     onset_skew=3.0),
    ChronicCondition("ckd", c.CKD, 25, -3.1, 65, 0.06,
                     {"t2d": 1.0, "htn": 0.8, "black": 0.35}, onset_skew=3.0),
    ChronicCondition("copd", c.COPD, 35, -3.3, 65, 0.055,
                     {"current": 1.9, "former": 1.1}, onset_skew=2.5),
    ChronicCondition("depression", c.DEPRESSIVE_DISORDER, 12, -2.2, 45, -0.005,
                     {"female": 0.6, "current": 0.3}, onset_skew=1.0),
    ChronicCondition("oa", c.OSTEOARTHRITIS, 35, -1.75, 65, 0.07,
                     {"bmi": 0.05, "female": 0.35}, onset_skew=2.5),
    ChronicCondition("breast_cancer", c.BREAST_CANCER, 30, -3.2, 65, 0.045, {},
                     onset_skew=4.0, sex="female"),
    ChronicCondition("prostate_cancer", c.PROSTATE_CANCER, 45, -3.2, 70, 0.08, {},
                     onset_skew=4.0, sex="male"),
    ChronicCondition("lung_cancer", c.LUNG_CANCER, 40, -6.3, 68, 0.06,
                     {"current": 2.3, "former": 1.4}, onset_skew=6.0),
    ChronicCondition("colon_cancer", c.COLON_CANCER, 35, -5.3, 68, 0.06,
                     {"bmi": 0.02}, onset_skew=5.0),
)

CANCERS: tuple[str, ...] = ("breast_cancer", "prostate_cancer", "lung_cancer", "colon_cancer")


def _covariates(pop: Population) -> dict[str, np.ndarray]:
    cov = {
        "male": pop.male.astype(np.float64),
        "female": (~pop.male).astype(np.float64),
        "bmi": pop.bmi - 28.0,
        "ldl": pop.ldl - 120.0,
        "current": (pop.smoking == 2).astype(np.float64),
        "former": (pop.smoking == 1).astype(np.float64),
        "hispanic": pop.hispanic.astype(np.float64),
    }
    for group in ("black", "mixed", "asian", "aian", "mena"):
        cov[group] = pop.group(group).astype(np.float64)
    return cov


def draw_conditions(rng: np.random.Generator, profile: Profile,
                    pop: Population) -> dict[str, np.ndarray]:
    """Onset day of every chronic condition per person (``NEVER`` when absent)."""
    cov = _covariates(pop)
    age = pop.age
    shifts = profile.epidemiology.condition_shift
    onsets: dict[str, np.ndarray] = {}
    for cond in CONDITIONS:
        logit = cond.intercept + shifts.get(cond.name, 0.0) + cond.age_slope * (age - cond.age_ref)
        for name, effect in cond.effects.items():
            logit = logit + effect * cov[name]
        p = logistic(logit) * (age >= cond.min_age)
        if cond.sex == "female":
            p = p * ~pop.male
        elif cond.sex == "male":
            p = p * pop.male
        has = rng.random(pop.n) < p
        fraction = rng.random(pop.n) ** (1.0 / cond.onset_skew)
        onset_age = cond.min_age + fraction * np.maximum(age - cond.min_age, 0.0)
        onset = np.floor(pop.birth + onset_age * DAYS_PER_YEAR)
        onsets[cond.name] = np.where(has, np.minimum(onset, pop.extract), NEVER)
        cov[cond.name] = has.astype(np.float64)
    return onsets


def diagnose(rng: np.random.Generator, profile: Profile, pop: Population,
             onsets: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Day each condition is first recorded (``NEVER`` if not captured in the record).

    Conditions present before the record starts are picked up in the first months of
    care; new ones shortly after onset. A share set by the site's capture rate is never
    written down at all.
    """
    dx: dict[str, np.ndarray] = {}
    for name, onset in onsets.items():
        prevalent = onset < pop.start
        delay = np.where(prevalent, rng.exponential(90.0, pop.n), rng.exponential(25.0, pop.n))
        day = np.floor(np.maximum(onset, pop.start) + delay)
        captured = rng.random(pop.n) < profile.coding.capture
        dx[name] = np.where(captured & np.isfinite(onset) & (day <= pop.end), day, NEVER)
    return dx


def count_by(onsets: dict[str, np.ndarray], day: np.ndarray) -> np.ndarray:
    """How many chronic conditions each person has on ``day``."""
    total = np.zeros(len(day))
    for onset in onsets.values():
        total += onset <= day
    return total
