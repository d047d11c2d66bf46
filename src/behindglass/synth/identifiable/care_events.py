"""Immunizations, allergies and care plans of one block, plus the entry point that builds
every supplementary Synthea file (those three, devices, imaging studies, claims).

They come from their own random stream, drawn *after* the clinical simulation from the
block's encounters and diagnoses, so the OMOP output and the other Synthea files are
unchanged, and each event falls on one of the person's real encounters (dated inside
their life). Rules are simple and documented in docs/synth-identifiable.md.
"""

from __future__ import annotations

import numpy as np

from behindglass.synth.identifiable.care_codes import (
    ALLERGIES,
    ALLERGY_WEIGHT,
    CAREPLANS,
    CHILD_SCHEDULE,
    CVX,
    CVX_COST,
    REACTIONS,
    SEVERITIES,
)
from behindglass.synth.identifiable.claims import claims
from behindglass.synth.identifiable.devices import devices
from behindglass.synth.identifiable.imaging import imaging_studies
from behindglass.synth.identifiable.synthea_csv import CODES, NAMES, iso_date, iso_time, uuids
from behindglass.synth.identifiable.timeline import (
    Timeline,
    calendar_month,
    calendar_year,
    day_of,
    timeline,
)
from behindglass.synth.profiles import Profile
from behindglass.synth.sitetables import profile_key
from behindglass.synth.writer import Columns

_CARE_STREAM = 0x2E  # extra seed word: supplementary files never share another stream
CARE_FILES = ("immunizations", "allergies", "careplans", "devices", "imaging_studies",
              "claims")

# COVID-19 vaccination campaigns: (first day, last day, share of persons aged 12+ dosed).
_COVID_ROUNDS = (("2021-01-01", "2021-06-30", 0.6), ("2021-07-01", "2021-12-31", 0.55),
                 ("2022-01-01", "2022-12-31", 0.4), ("2023-09-01", "2024-06-30", 0.25))


def care_tables(profile: Profile, seed: int, index: int, block: dict[str, Columns],
                patient: np.ndarray, visit_ids: np.ndarray,
                encounters: dict[str, object]) -> dict[str, dict[str, object]]:
    """The supplementary Synthea tables of one block (see ``CARE_FILES``)."""
    rng = np.random.default_rng(np.random.SeedSequence(
        [seed, profile_key(profile), index, _CARE_STREAM]))
    tl = timeline(profile, block)
    # Draw order is fixed: changing it changes every file below, never the others.
    return {
        "immunizations": immunizations(rng, tl, patient, visit_ids),
        "allergies": allergies(rng, tl, patient, visit_ids),
        "careplans": careplans(rng, tl, block, patient, visit_ids),
        "devices": devices(rng, tl, block, patient, visit_ids, index),
        "imaging_studies": imaging_studies(rng, tl, block, patient, visit_ids, index),
        "claims": claims(rng, block, encounters, index),
    }


def immunizations(rng: np.random.Generator, tl: Timeline, patient: np.ndarray,
                  visit_ids: np.ndarray) -> dict[str, object]:
    """Vaccines given at ambulatory encounters: the childhood schedule, yearly flu, Td every
    ten years, zoster and pneumococcal vaccines for older adults, COVID-19 from 2021."""
    amb, age, person = tl.ambulatory, tl.age, tl.person
    picked: list[np.ndarray] = []
    codes: list[str] = []

    def give(encounters: np.ndarray, code: str, share: float) -> None:
        chosen = rng.random(len(encounters)) < share
        picked.append(encounters[chosen])
        codes.extend([code] * int(chosen.sum()))

    for code, windows in CHILD_SCHEDULE.items():
        for low, high in windows:
            give(tl.first_per_key(person, amb & (age >= low) & (age < high)), code, 0.9)
    # Flu: one dose per season (September to March), more often for children and the old.
    month = calendar_month(tl.day)
    season = calendar_year(tl.day) - (month < 8)
    in_season = amb & ((month >= 9) | (month <= 3)) & (age >= 0.5)
    flu = tl.first_per_key(person * 512 + (season - 1900), in_season)
    flu_share = np.where(age < 18, 0.45, np.where(age < 65, 0.38, 0.7))
    chosen = rng.random(len(flu)) < flu_share[flu]
    preservative = rng.random(len(flu)) < 0.15  # multi-dose vials: CVX 141
    for code, mask in (("140", chosen & ~preservative), ("141", chosen & preservative)):
        picked.append(flu[mask])
        codes.extend([code] * int(mask.sum()))
    give(tl.first_per_key(person * 16 + (age // 10).astype(np.int64), amb & (age >= 19)),
         "113", 0.35)
    give(tl.first_per_key(person, amb & (age >= 50)), "121", 0.35)
    give(tl.first_per_key(person, amb & (age >= 65)), "33", 0.6)
    give(tl.first_per_key(person, amb & (age >= 65.5)), "133", 0.45)
    for first, last, share in _COVID_ROUNDS:
        window = amb & (age >= 12) & (tl.day >= day_of(first)) & (tl.day <= day_of(last))
        give(tl.first_per_key(person, window), "208", share)
    enc = np.concatenate(picked) if picked else np.empty(0, dtype=np.int64)
    code = np.array(codes, dtype=object)
    order = np.lexsort((code.astype(str), tl.start[enc], person[enc]))
    enc, code = enc[order], code[order]
    return {"DATE": iso_time(tl.start[enc]), "PATIENT": patient[person[enc]],
            "ENCOUNTER": visit_ids[enc], "CODE": code,
            "DESCRIPTION": np.array([CVX[k] for k in code], dtype=object),
            "BASE_COST": np.array([f"{CVX_COST[k]:.2f}" for k in code], dtype=object)}


def _random_encounter(rng: np.random.Generator, tl: Timeline, owners: np.ndarray) -> np.ndarray:
    """One encounter of each given person, uniformly among their encounters."""
    counts = np.bincount(tl.person, minlength=len(tl.birth_day))
    first = np.cumsum(counts) - counts  # offsets into tl.order
    pick = first[owners] + (rng.random(len(owners)) * counts[owners]).astype(np.int64)
    return tl.order[pick]


def allergies(rng: np.random.Generator, tl: Timeline, patient: np.ndarray,
              visit_ids: np.ndarray) -> dict[str, object]:
    """About a fifth of persons with any encounter have 1–3 distinct allergies, recorded at
    one of their encounters; a third of children's food allergies are later outgrown."""
    n = len(tl.birth_day)
    seen = np.bincount(tl.person, minlength=n) > 0
    how_many = rng.choice([1, 2, 3], size=n, p=[0.6, 0.3, 0.1])
    count = np.where(seen & (rng.random(n) < 0.2), how_many, 0)
    codes = np.array(list(ALLERGIES), dtype=object)
    weight = np.array([ALLERGY_WEIGHT[k] for k in codes])
    # Distinct allergens per person: the top-k of Gumbel-perturbed log weights.
    ranked = np.argsort(-(np.log(weight) + rng.gumbel(size=(n, len(codes)))), axis=1)
    owner = np.repeat(np.arange(n), count)
    slot = np.arange(len(owner)) - np.repeat(np.cumsum(count) - count, count)
    code = codes[ranked[owner, slot]]
    enc = _random_encounter(rng, tl, owner)
    info = [ALLERGIES[k] for k in code]
    food = np.array([i[1] == "food" for i in info], dtype=bool)
    outgrown = food & (tl.age[enc] < 10) & (rng.random(len(owner)) < 0.33)
    last_visit = np.zeros(n, dtype=np.int64)
    np.maximum.at(last_visit, tl.person, tl.day)
    stop_day = np.ma.masked_array(last_visit[owner], mask=~outgrown | (last_visit[owner]
                                                                        <= tl.day[enc]))
    reaction_pick = rng.integers(0, 3, len(owner))
    severity = rng.choice(3, size=(len(owner), 2), p=[0.5, 0.4, 0.1])
    second = rng.random(len(owner)) < 0.4
    first_reaction = np.array([i[3][r] for i, r in zip(info, reaction_pick, strict=True)],
                              dtype=object)
    second_reaction = np.array([i[3][(r + 1) % 3] if s else ""
                                for i, r, s in zip(info, reaction_pick, second, strict=True)],
                               dtype=object)
    severities = np.array(SEVERITIES, dtype=object)
    return {
        "START": iso_date(tl.day[enc]), "STOP": [v or "" for v in iso_date(stop_day).to_pylist()],
        "PATIENT": patient[owner], "ENCOUNTER": visit_ids[enc], "CODE": code,
        "SYSTEM": np.full(len(owner), "SNOMED-CT", dtype=object),
        "DESCRIPTION": np.array([i[0] for i in info], dtype=object),
        "TYPE": np.array([i[2] for i in info], dtype=object),
        "CATEGORY": np.array([i[1] for i in info], dtype=object),
        "REACTION1": first_reaction,
        "DESCRIPTION1": np.array([REACTIONS[r] for r in first_reaction], dtype=object),
        "SEVERITY1": severities[severity[:, 0]],
        "REACTION2": second_reaction,
        "DESCRIPTION2": np.array([REACTIONS.get(r, "") for r in second_reaction], dtype=object),
        "SEVERITY2": np.where(second, severities[severity[:, 1]], ""),
    }


def careplans(rng: np.random.Generator, tl: Timeline, block: dict[str, Columns],
              patient: np.ndarray, visit_ids: np.ndarray) -> dict[str, object]:
    """A care plan for most persons diagnosed with diabetes, COPD, heart failure or
    hyperlipidemia, started at the first diagnosis and stopped at death."""
    cond = block["condition_occurrence"]
    concept = np.asarray(cond["condition_concept_id"])
    person = np.asarray(cond["person_id"], dtype=np.int64)
    day = np.asarray(cond["condition_start_date"], dtype=np.int64)
    order = np.lexsort((day, person))
    rows_out: list[np.ndarray] = []
    plan: list[str] = []
    for code, (_, targets) in CAREPLANS.items():
        rows = order[np.isin(concept[order], targets)]
        _, first = np.unique(person[rows], return_index=True)
        rows = rows[np.sort(first)]
        rows = rows[rng.random(len(rows)) < 0.85]
        rows_out.append(rows)
        plan.extend([code] * len(rows))
    row = np.concatenate(rows_out) if rows_out else np.empty(0, dtype=np.int64)
    code = np.array(plan, dtype=object)
    order = np.lexsort((code.astype(str), day[row], person[row]))
    row, code = row[order], code[order]
    who = person[row]
    stop = np.ma.masked_array(tl.end_day[who], mask=~tl.dead[who])
    reason = concept[row]
    return {"Id": uuids(rng, len(row)), "START": iso_date(day[row]),
            "STOP": [v or "" for v in iso_date(stop).to_pylist()], "PATIENT": patient[who],
            "ENCOUNTER": visit_ids[np.asarray(cond["visit_occurrence_id"])[row]], "CODE": code,
            "DESCRIPTION": np.array([CAREPLANS[k][0] for k in code], dtype=object),
            "REASONCODE": np.array([CODES[int(r)] for r in reason], dtype=object),
            "REASONDESCRIPTION": np.array([NAMES[int(r)] for r in reason], dtype=object),
            "_condition_row": row}  # for FHIR CarePlan.addresses; not a CSV column
