"""What makes one synthetic network member different from another.

A :class:`Profile` is plain, frozen data: who lives in the catchment (demographics), how
common disease is (epidemiology), how the site delivers care (care pattern, prescribing),
how it writes things down (coding habits) and how likely bad outcomes are once all of that
is accounted for (outcome model). The simulation in this package is the same for every
site; only these numbers change, which is what makes a model trained at one site
measurably miscalibrated at another. The built-in profiles live in ``profile_catalog``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

# Upper edges of the age bands that ``Demographics.age_bands`` weights (years, at the
# data extract date); the first band starts at 0.
AGE_BAND_EDGES: tuple[int, ...] = (5, 18, 30, 45, 65, 75, 85, 100)

# Outcomes with a site-specific baseline and coefficient scale.
OUTCOMES: tuple[str, ...] = ("mi", "stroke", "gi_bleed", "death")


@dataclass(frozen=True)
class RaceGroup:
    """One recorded race category and the risk group it stands for in the simulation.

    ``concept_id`` is what the site writes (0 where it does not collect race);
    ``risk_group`` is what drives disease risk, so a site that does not record race still
    has the underlying differences in its population.
    """

    concept_id: int
    source_value: str
    weight: float
    risk_group: str  # white, black, mixed, asian, aian, nhpi, mena


@dataclass(frozen=True)
class Region:
    """A place persons live: written to LOCATION (state, 3-digit ZIP prefix, city)."""

    state: str
    zip3: str | None  # None where the country has no numeric postal prefix (Canada)
    city: str
    weight: float
    source_value: str = ""


@dataclass(frozen=True)
class CareSite:
    """A facility of the site; ``kind`` is hospital, emergency, clinic or office."""

    name: str
    place_of_service: int
    kind: str


@dataclass(frozen=True)
class Payer:
    """A payer persons are enrolled with (source value only: no payer concept is coded)."""

    source_value: str
    weight: float
    plan_source_value: str = ""


@dataclass(frozen=True)
class Demographics:
    age_bands: tuple[float, ...]  # weights for the bands ending at AGE_BAND_EDGES
    female_share: float
    races: tuple[RaceGroup, ...]
    hispanic_share: float | None  # None: ethnicity not collected (written as 0)
    regions: tuple[Region, ...]
    smoking_current: float  # share of adults who smoke now
    smoking_former: float  # share of adults aged 50+ who used to smoke
    bmi_mean: float  # adult mean body-mass index
    ldl_mean: float  # adult mean LDL cholesterol, mg/dL


@dataclass(frozen=True)
class Epidemiology:
    # log-odds shift of the lifetime-by-now probability of each chronic condition
    # (keys: names in ``chronic.CONDITIONS``); 0 = the reference population
    condition_shift: Mapping[str, float]
    t2d_prevalence: tuple[float, float]  # expected recorded T2D prevalence (all ages)


@dataclass(frozen=True)
class CarePattern:
    history_years: float  # mean length of a person's record before the extract date
    max_history_years: float
    leave_share: float  # share of persons who leave the site before the extract date
    outpatient_rate: float  # outpatient visits per person-year of a healthy adult
    emergency_rate: float
    inpatient_rate: float  # admissions per person-year unrelated to the modelled events
    home_rate_elderly: float  # home visits per person-year at age 75+
    providers_per_1000: float
    specialist_share: float
    pci_after_mi: float  # share of MI admissions with a coronary intervention
    # per-outpatient-visit probability of each measurement
    measure: Mapping[str, float]
    cost_level: float  # prices relative to a US academic centre (all costs in USD)


@dataclass(frozen=True)
class Prescribing:
    t2d_treated: float
    insulin_share: float  # of diabetics with more than five years of disease
    htn_treated: float
    ace_share: float  # ACE inhibitor (vs thiazide) as first-line antihypertensive
    ace_mix: Mapping[int, float]  # ingredient concept -> share
    statin_propensity: float
    statin_mix: Mapping[int, float]
    nsaid_oa: float  # share of osteoarthritis patients given an NSAID course
    nsaid_background: float  # share of other adults given a short NSAID course
    nsaid_mix: Mapping[int, float]
    anticoagulated_af: float
    anticoagulant_mix: Mapping[int, float]
    aspirin: float  # share of persons at high cardiovascular risk on aspirin
    days_supply: Mapping[int, float]  # days -> share of fills


@dataclass(frozen=True)
class CodingHabits:
    capture: float  # probability a chronic condition is ever recorded
    diabetes_parent_share: float  # T2D coded as the parent "Diabetes mellitus"
    htn_parent_share: float  # coded as "Hypertensive disorder"
    ckd_stage_share: float  # CKD coded as "stage 3" rather than the parent
    depression_specific_share: float  # coded as "Major depressive disorder"
    oa_knee_share: float  # osteoarthritis coded as "of knee"
    condition_type: int  # condition_type_concept_id
    death_type: int  # death_type_concept_id
    repeat_diagnosis: float  # chance a known chronic condition is coded again at a visit


@dataclass(frozen=True)
class OutcomeModel:
    # added to the log-hazard of each outcome (keys: OUTCOMES)
    baseline_shift: Mapping[str, float]
    # multiplies every covariate effect on the log-hazard (keys: OUTCOMES)
    effect_scale: Mapping[str, float]


@dataclass(frozen=True)
class Profile:
    """One kind of network member; see ``profile_catalog`` for the built-ins."""

    name: str
    description: str
    country: str
    id_offset: int  # person_id = id_offset + 1, 2, ...
    extract_date: date
    demographics: Demographics
    epidemiology: Epidemiology
    care: CarePattern
    prescribing: Prescribing
    coding: CodingHabits
    outcomes: OutcomeModel
    care_sites: tuple[CareSite, ...]
    payers: tuple[Payer, ...]
    medicare_at_65: bool = False  # US: switch to Medicare at the 65th birthday
    holder: str = "behindglass synthetic network"

    def shift(self, outcome: str) -> float:
        return self.outcomes.baseline_shift.get(outcome, 0.0)

    def scale(self, outcome: str) -> float:
        return self.outcomes.effect_scale.get(outcome, 1.0)
