"""devices.csv: implanted cardiac devices, coronary stents and face masks, each with a
GS1-style UDI whose serial number is unique in the extract.

Devices follow the person's own clinical record: a stent for most percutaneous coronary
interventions (at that procedure), a pacemaker for some persons with atrial fibrillation
and a defibrillator for some with heart failure (at the first diagnosis' encounter), and
a face mask at an ambulatory encounter in the COVID-19 years. The UDI is a planted
identifier (class ``device``): a device serial number is a Safe Harbor identifier.
"""

from __future__ import annotations

import numpy as np

from behindglass.synth import concepts as c
from behindglass.synth.identifiable.care_codes import (
    DEVICE_LIFETIME_YEARS,
    DEVICE_MODELS,
    DEVICES,
)
from behindglass.synth.identifiable.identities import block_unique
from behindglass.synth.identifiable.synthea_csv import iso_time
from behindglass.synth.identifiable.timeline import DAY, Timeline, day_of
from behindglass.synth.writer import Columns

_MASK_YEARS = ("2020-03-15", "2022-06-30")
_LOT_LETTERS = np.array(list("ABCDEFGHJKLMNPRSTUVWXYZ"), dtype=object)


def gtin_check_digit(body: str) -> str:
    """GS1 mod-10 check digit of a 13-digit GTIN-14 body (weights 3,1,3,… from the right)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


def _yymmdd(day: np.ndarray) -> list[str]:
    return [str(d)[2:].replace("-", "") for d in np.asarray(day, dtype="datetime64[D]")]


def _first_diagnosis(block: dict[str, Columns], concept_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(person, visit) of each person's first diagnosis row of ``concept_id``."""
    cond = block["condition_occurrence"]
    who = np.asarray(cond["person_id"], dtype=np.int64)
    rows = np.flatnonzero(np.asarray(cond["condition_concept_id"]) == concept_id)
    rows = rows[np.lexsort((np.asarray(cond["condition_start_date"])[rows], who[rows]))]
    _, first = np.unique(who[rows], return_index=True)
    rows = rows[first]
    return who[rows], np.asarray(cond["visit_occurrence_id"], dtype=np.int64)[rows]


def devices(rng: np.random.Generator, tl: Timeline, block: dict[str, Columns],
            patient: np.ndarray, visit_ids: np.ndarray, index: int) -> dict[str, object]:
    proc = block["procedure_occurrence"]
    pci = np.flatnonzero(np.asarray(proc["procedure_concept_id"]) == c.PCI)
    pci = pci[rng.random(len(pci)) < 0.9]
    stent_visit = np.asarray(proc["visit_occurrence_id"], dtype=np.int64)[pci]
    stent_time = np.asarray(proc["procedure_datetime"], dtype=np.int64)[pci]
    visits, codes, starts = [stent_visit], ["705643001"] * len(pci), [stent_time]
    for concept, code, share in ((c.AFIB, "706004007", 0.08),
                                 (c.HEART_FAILURE, "72506001", 0.12)):
        _, visit = _first_diagnosis(block, concept)
        visit = visit[rng.random(len(visit)) < share]
        visits.append(visit)
        starts.append(tl.start[visit])
        codes.extend([code] * len(visit))
    window = tl.ambulatory & (tl.day >= day_of(_MASK_YEARS[0])) & (tl.day <= day_of(_MASK_YEARS[1]))
    masks = tl.first_per_key(tl.person, window)
    masks = masks[rng.random(len(masks)) < 0.03]
    visits.append(masks)
    starts.append(tl.start[masks])
    codes.extend(["261352009"] * len(masks))
    visit = np.concatenate(visits)
    start = np.concatenate(starts)
    code = np.array(codes, dtype=object)
    order = np.lexsort((code.astype(str), start, tl.person[visit]))
    visit, start, code = visit[order], start[order], code[order]
    who = tl.person[visit]
    n = len(visit)
    # A mask is worn for two weeks; implants stay (STOP empty) unless removed at death.
    is_mask = code == "261352009"
    stop = np.minimum(start + 14 * DAY, tl.end_day[who] * DAY + DAY - 1)
    model = rng.integers(0, 3, n)
    gtin = [f"{DEVICE_MODELS[k][m]}" for k, m in zip(code, model, strict=True)]
    gtin = [g + gtin_check_digit(g) for g in gtin]
    made = start // DAY - rng.integers(30, 400, n)
    lifetime = np.array([DEVICE_LIFETIME_YEARS[k] for k in code]) * 365
    expires = made + lifetime
    lot = [f"{a}{b}{d:05d}" for a, b, d in zip(_LOT_LETTERS[rng.integers(0, 23, n)],
                                              _LOT_LETTERS[rng.integers(0, 23, n)],
                                              rng.integers(0, 100_000, n), strict=True)]
    serial = block_unique(rng, index, n)
    made_s, exp_s = _yymmdd(made), _yymmdd(expires)
    udi = [f"(01){g}(11){m}(17){e}(10){lt}(21){s}"
           for g, m, e, lt, s in zip(gtin, made_s, exp_s, lot, serial, strict=True)]
    stop_text = np.where(is_mask, np.asarray(iso_time(stop).to_pylist(), dtype=object), "")
    return {"START": iso_time(start), "STOP": stop_text, "PATIENT": patient[who],
            "ENCOUNTER": visit_ids[visit], "CODE": code,
            "DESCRIPTION": np.array([DEVICES[k] for k in code], dtype=object), "UDI": udi,
            # The parts of the UDI, for FHIR Device; not CSV columns.
            "_gtin": gtin, "_lot": lot, "_serial": serial,
            "_made": np.asarray(made, dtype="datetime64[D]").astype(str),
            "_expires": np.asarray(expires, dtype="datetime64[D]").astype(str)}
