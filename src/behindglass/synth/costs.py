"""COST rows for every visit and every drug fill, in US dollars at the site's price level.

Visits are priced by setting and length of stay (admissions for MI, stroke and GI bleed
cost more), fills by ingredient and days' supply. Each row points at the payer plan period
covering the day of the event.
"""

from __future__ import annotations

import numpy as np

from behindglass.synth import concepts as c
from behindglass.synth.encounters import ER, FOR_GI_BLEED, FOR_MI, FOR_STROKE, HOME, IP, OP, Visits
from behindglass.synth.profiles import Profile
from behindglass.synth.ragged import person_day_key
from behindglass.synth.writer import Categorical, Columns

DAILY_PRICE: dict[int, float] = {
    c.METFORMIN: 0.15, c.INSULIN: 9.0, c.LISINOPRIL: 0.12, c.ENALAPRIL: 0.15, c.HCTZ: 0.10,
    c.CELECOXIB: 1.10, c.DICLOFENAC: 0.30, c.IBUPROFEN: 0.10, c.NAPROXEN: 0.20,
    c.WARFARIN: 0.15, c.APIXABAN: 17.0, c.ASPIRIN: 0.03, c.ATORVASTATIN: 0.20,
    c.SIMVASTATIN: 0.12,
}
_BASE_BY_KIND = {OP: 180.0, IP: 4200.0, ER: 1200.0, HOME: 150.0}
_REVENUE = {OP: "0510", IP: "0100", ER: "0450", HOME: "0550"}
_DRG = {FOR_MI: "280", FOR_STROKE: "065", FOR_GI_BLEED: "377"}


def plan_lookup(payer: Columns, person: np.ndarray, day: np.ndarray) -> np.ndarray:
    """payer_plan_period_id (block-local) covering each (person, day)."""
    keys = person_day_key(np.asarray(payer["person_id"]),
                          np.asarray(payer["payer_plan_period_start_date"], dtype=np.float64))
    idx = np.searchsorted(keys, person_day_key(person, day.astype(np.float64)), side="right") - 1
    return np.asarray(payer["payer_plan_period_id"])[np.maximum(idx, 0)]


def _split(rng: np.random.Generator, allowed: np.ndarray, copay: np.ndarray
           ) -> dict[str, np.ndarray]:
    share = rng.uniform(0.78, 0.95, len(allowed))
    by_payer = np.round(allowed * share, 2)
    by_patient = np.round(allowed - by_payer, 2)
    copay = np.minimum(copay, by_patient)
    return {"total_paid": np.round(allowed, 2), "paid_by_payer": by_payer,
            "paid_by_patient": by_patient, "paid_patient_copay": np.round(copay, 2),
            "paid_patient_coinsurance": np.round(by_patient - copay, 2),
            "paid_patient_deductible": np.zeros(len(allowed)), "paid_by_primary": by_payer,
            "amount_allowed": np.round(allowed, 2)}


def visit_costs(rng: np.random.Generator, profile: Profile, visits: Visits,
                payer: Columns) -> Columns:
    n = len(visits)
    kind = visits.kind
    stay = np.maximum(visits.end_day - visits.day, 0) + 1
    base = np.select([kind == k for k in _BASE_BY_KIND], list(_BASE_BY_KIND.values()))
    base = np.where(kind == IP, base * stay, base)
    base = base * np.select([visits.reason == FOR_MI, visits.reason == FOR_STROKE,
                             visits.reason == FOR_GI_BLEED], [2.5, 1.8, 1.3], 1.0)
    allowed = base * profile.care.cost_level * rng.lognormal(0.0, 0.35, n)
    revenue_keys = sorted(_REVENUE)
    drg_code = np.where(kind == IP, np.select(
        [visits.reason == r for r in _DRG], list(range(len(_DRG))), len(_DRG)), -1)
    return {
        "cost_id": np.arange(n),
        "cost_event_id": np.arange(n),
        "cost_domain_id": Categorical(np.zeros(n, dtype=np.int64), ["Visit"]),
        "cost_type_concept_id": np.full(n, c.COST_RECORD),
        "currency_concept_id": np.full(n, c.USD),
        "total_charge": np.round(allowed * 2.0, 2),
        "total_cost": np.round(allowed * 0.8, 2),
        **_split(rng, allowed, np.where(kind == OP, 30.0 * profile.care.cost_level, 0.0)),
        "payer_plan_period_id": plan_lookup(payer, visits.person, visits.day),
        "revenue_code_source_value": Categorical(np.searchsorted(revenue_keys, kind),
                                                 [_REVENUE[k] for k in revenue_keys]),
        "drg_source_value": Categorical(drg_code, [*_DRG.values(), "871"]),
    }


def drug_costs(rng: np.random.Generator, profile: Profile, drugs: Columns,
               payer: Columns) -> Columns:
    concept = np.asarray(drugs["drug_concept_id"])
    supply = np.asarray(drugs["days_supply"], dtype=np.float64)
    n = len(concept)
    price = np.zeros(n)
    for ingredient, daily in DAILY_PRICE.items():
        price = np.where(concept == ingredient, daily, price)
    level = profile.care.cost_level
    ingredient_cost = np.round(price * supply * level * rng.lognormal(0.0, 0.15, n), 2)
    fee = np.round(rng.uniform(2.0, 10.0, n) * level, 2)
    total = ingredient_cost + fee
    return {
        "cost_id": np.arange(n),
        "cost_event_id": np.arange(n),
        "cost_domain_id": Categorical(np.zeros(n, dtype=np.int64), ["Drug"]),
        "cost_type_concept_id": np.full(n, c.COST_RECORD),
        "currency_concept_id": np.full(n, c.USD),
        "total_charge": np.round(total * 1.3, 2),
        "total_cost": np.round(total, 2),
        **_split(rng, total, np.minimum(10.0 * level, total)),
        "paid_ingredient_cost": ingredient_cost,
        "paid_dispensing_fee": fee,
        "payer_plan_period_id": plan_lookup(payer, np.asarray(drugs["person_id"]),
                                            np.asarray(drugs["drug_exposure_start_date"])),
    }
