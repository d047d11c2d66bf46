"""Procedures: what is done at admissions for the simulated events, at diagnosis, and as
screening at routine visits. The coronary intervention rate after MI is a site habit."""

from __future__ import annotations

import numpy as np

from behindglass.synth import concepts as c
from behindglass.synth.encounters import (
    ER,
    FOR_GI_BLEED,
    FOR_MI,
    FOR_STROKE,
    IP,
    OP,
    ROUTINE,
    Visits,
)
from behindglass.synth.population import Population
from behindglass.synth.profiles import Profile
from behindglass.synth.ragged import DAYS_PER_YEAR
from behindglass.synth.writer import Categorical, Columns

SNOMED_CODE: dict[int, str] = {
    c.COLONOSCOPY: "73761001", c.TRANSFUSION: "180207008", c.PCI: "415070008",
    c.ECG: "29303009", c.MAMMOGRAPHY: "71651007", c.HEMODIALYSIS: "302497006",
    c.CHEST_XRAY: "399208008", c.ECHO: "40701008", c.CT_HEAD: "303653007",
    c.CHEMOTHERAPY: "367336001",
}
_KEYS = np.array(sorted(SNOMED_CODE))


def procedure_rows(rng: np.random.Generator, profile: Profile, pop: Population,
                   visits: Visits, onsets: dict[str, np.ndarray],
                   dx: dict[str, np.ndarray]) -> Columns:
    """PROCEDURE_OCCURRENCE rows for one block."""
    kind, reason, p = visits.kind, visits.reason, visits.person
    day = visits.day.astype(np.float64)
    age = (day - pop.birth[p]) / DAYS_PER_YEAR
    female = ~pop.male[p]
    routine = (kind == OP) & (reason == ROUTINE)
    rules: list[tuple[np.ndarray, float | np.ndarray, int]] = [
        ((kind == IP) & (reason == FOR_MI), 0.95, c.ECG),
        ((kind == IP) & (reason == FOR_MI), profile.care.pci_after_mi, c.PCI),
        ((kind == IP) & (reason == FOR_MI), 0.5, c.ECHO),
        ((kind == IP) & (reason == FOR_STROKE), 0.95, c.CT_HEAD),
        ((kind == IP) & (reason == FOR_GI_BLEED), 0.5, c.COLONOSCOPY),
        (reason == FOR_GI_BLEED, 0.4, c.TRANSFUSION),
        ((kind == IP) & (reason == ROUTINE), 0.3, c.ECG),
        ((kind == IP) & (reason == ROUTINE), 0.25, c.CHEST_XRAY),
        (kind == ER, 0.2, c.ECG),
        (kind == ER, 0.12, c.CHEST_XRAY),
        (routine & female & (age >= 50) & (age < 75), 0.08, c.MAMMOGRAPHY),
        (routine & (age >= 50) & (age < 76), 0.02, c.COLONOSCOPY),
        (routine & (age >= 50), 0.04, c.ECG),
        (routine & (day - onsets["ckd"][p] > 5 * DAYS_PER_YEAR), 0.03, c.HEMODIALYSIS),
    ]
    everyone = np.arange(pop.n)
    for name, prob, concept in (("hf", 0.7, c.ECHO), ("copd", 0.6, c.CHEST_XRAY),
                                ("lung_cancer", 0.6, c.CHEMOTHERAPY),
                                ("colon_cancer", 0.5, c.CHEMOTHERAPY),
                                ("breast_cancer", 0.5, c.CHEMOTHERAPY)):
        at = visits.find(everyone, dx[name], OP)
        mask = np.zeros(len(visits), dtype=bool)
        mask[at[at >= 0]] = True
        rules.append((mask, prob, concept))

    visit_parts, concept_parts = [], []
    for mask, prob, concept in rules:
        chosen = np.flatnonzero(mask & (rng.random(len(visits)) < prob))
        visit_parts.append(chosen)
        concept_parts.append(np.full(len(chosen), concept))
    visit = np.concatenate(visit_parts)
    concept = np.concatenate(concept_parts)
    pairs = np.unique(np.stack([visit, concept], axis=1), axis=0)
    visit, concept = pairs[:, 0], pairs[:, 1]
    n = len(visit)
    return {
        "procedure_occurrence_id": np.arange(n),
        "person_id": visits.person[visit],
        "procedure_concept_id": concept,
        "procedure_date": visits.day[visit],
        "procedure_datetime": visits.at_offset(visit, 1800),
        "procedure_type_concept_id": np.full(n, c.EHR),
        "quantity": np.ones(n, dtype=np.int64),
        "provider_id": visits.provider[visit],
        "visit_occurrence_id": visit,
        "procedure_source_value": Categorical(np.searchsorted(_KEYS, concept),
                                              [SNOMED_CODE[k] for k in _KEYS]),
    }
