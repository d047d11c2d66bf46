"""ICU nursing notes: ALL CAPS, shorthand, abbreviations and the odd typo.

Identifiers are written in capitals too ("PT'S WIFE MARIA O'NEIL AT BEDSIDE"): many
recognizers lean on capitalisation and must be tested without it. Typos touch literal text
only, so planted values stay exact.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from behindglass.synth.notes import dates, vocabulary
from behindglass.synth.notes.builder import NoteBuilder
from behindglass.synth.notes.facts import NoteFacts
from behindglass.synth.notes.phrases import age_phrase, values

SHIFT = """NSG NOTE {shift_time}
PT IS A {age} {sexletter} ADMITTED {admit_num} W/ {problem_short}. PMH {pmh}. {allergy_caps}.
NEURO: A+OX{orient}, GCS {gcs}, PERRLA, MAE. {parkinson}
CV: {vitals}. {rhythm}. +PULSES X4. TELE: NSR W/ OCC PVCS.
RESP: LS {lungs}, {o2}. C/O SOB W/ EXERTION. IS 1000.
GI/GU: ABD SOFT, +BS. TOLERATING {diet}. FOLEY CATHETER DRAINING CLEAR YELLOW URINE, \
UOP 40-60 ML/HR.
SKIN: INTACT, TURNED Q2H. BRADEN 14.
LINES: R IJ TLC, L PIV 20G. {device_line}
SOCIAL: {relative} AT BEDSIDE, UPDATED BY {resident}. CALL BACK # {rel_phone}. \
FAMILY TO VISIT {weekday}.
PLAN: CONT {plan_meds}, MONITOR LYTES, AM LABS. MD AWARE. WILL CONT TO MONITOR.
{nurse}
"""

EVENT = """ICU NURSING PROGRESS NOTE - {admit_num}
{pformal}, MRN {mrn}, {age}
S/P {problem_short}, TRANSFERRED FROM {other_inst} ({city}) {transfer_time}.
EVENTS: AT {time} PT BECAME AGITATED, PULLED AT NGT. HALDOL 2 MG IV GIVEN PER {resident}. \
RESTRAINTS NOT REQ. GLASGOW COMA SCALE 13.
VS: {vitals}. {rhythm}.
LABS: K {k}, MG {mg}, REPLETED PER PROTOCOL. ABG 7.{ph}/{pco2}/{po2}.
I/O: {intake}/{output} ML. FOLEY IN PLACE.
{mvc_line}
FAMILY: {relative} CALLED AT {time}, {rel_phone}. QUESTIONS ANSWERED. \
MAY VISIT AFTER {visit_time}.
CODE STATUS: {code}. NKDA. ON-CALL MD AWARE, CHARGE RN NOTIFIED.
{nurse}
"""

ADMIT = """MICU ADMISSION NSG NOTE
PT {pname} ({age}) ARRIVED TO {inst} MICU {admit_num} AT {time} FROM ED.
DX: {problem_short}. HX {pmh}.
ON ARRIVAL: {vitals}. {rhythm}. GCS {gcs}.
{o2}. FOLEY PLACED. SKIN W/ STAGE 2 SACRAL PI.
PT'S {relation_caps} {relative_name} PRESENT, LIVES W/ PT AT {street}, {city}. CONTACT {rel_phone}.
{device_line}
MEDS: {plan_meds}. PRN TYLENOL 650 MG Q6H.
WILL CONT TO MONITOR, MD AWARE.
{nurse}
"""

TEMPLATES = {"shift": SHIFT, "event": EVENT, "admission": ADMIT}
_DRAWN = ("shift", "event", "admission")
_TYPOS = {"PATIENT": "PATEINT", "RECEIVED": "RECIEVED", "MONITOR": "MONTIOR",
          "CONT ": "CNOT ", "TOLERATING": "TOLERTING", "QUESTIONS": "QUESITONS",
          "PRESENT": "PRESNET", "BEDSIDE": "BEDSDIE", "AGITATED": "AGITATD"}


def _typos(rng: random.Random) -> Callable[[str], str]:
    def hook(literal: str) -> str:
        for right, wrong in _TYPOS.items():
            if right in literal and rng.random() < 0.15:
                return literal.replace(right, wrong, 1)
        return literal
    return hook


def write(f: NoteFacts, rng: random.Random, template: str | None = None) -> NoteBuilder:
    problem = vocabulary.pick_problem(rng, f.sex, f.age)
    v = values(f, rng)
    relative = f.relatives[0]
    v.update({
        "sexletter": f.sex, "problem_short": problem.short,
        "pmh": ", ".join(rng.sample(vocabulary.ICU_COMORBIDITIES, k=3)),
        "allergy_caps": rng.choice(("NKDA", "ALLERGIC TO PCN", "NKDA", "SULFA ALLERGY")),
        "orient": str(rng.randrange(1, 4)), "gcs": str(rng.randrange(9, 16)),
        "parkinson": "BASELINE TREMOR FROM PARKINSON'S." if rng.random() < 0.3 else "",
        "age": lambda: age_phrase(f.age, rng, terse=True),
        "vitals": lambda: vocabulary.vitals(rng, icu=True),
        "rhythm": rng.choice(("SR 80S", "AFIB 110S", "ST 100S", "NSR")),
        "lungs": rng.choice(("CLEAR", "COARSE BILAT", "DIMINISHED BASES", "CRACKLES RLL")),
        "o2": rng.choice(("2L NC", "4L NC SATS 94%", "BIPAP 12/5", "VENT AC 14/450/5/40%")),
        "diet": rng.choice(("CARDIAC DIET", "TF @ 50 ML/HR", "CLEARS", "NPO AFTER MN")),
        "plan_meds": "; ".join(problem.meds[:2]),
        "shift_time": rng.choice(("0700-1900", "1900-0700", "7P-7A", "7A-7P")),
        "k": f"{rng.uniform(2.9, 5.4):.1f}", "mg": f"{rng.uniform(1.3, 2.4):.1f}",
        "ph": str(rng.randrange(18, 48)), "pco2": str(rng.randrange(30, 70)),
        "po2": str(rng.randrange(55, 140)), "intake": f"{rng.randrange(800, 3200)}",
        "output": f"{rng.randrange(400, 2800)}", "code": rng.choice(("FULL CODE", "DNR/DNI")),
        "visit_time": vocabulary.clock(rng, military=True),
        "time": lambda: vocabulary.clock(rng, military=rng.random() < 0.7),
        "transfer_time": (lambda: dates.date(f.admission, rng, dates.NUMERIC, weekday=0))
        if rng.random() < 0.5 else "TODAY",
        "weekday": rng.choice(dates.WEEKDAYS), "relation_caps": relative.relation,
        "device_line": (lambda: ["PACER INTERROGATED, SERIAL # ", v["device"], "."])
        if rng.random() < 0.4 else "",
        "mvc_line": (lambda: ["MECH OF INJURY: DRIVER IN MVC, VEHICLE PLATE ", v["plate"],
                              ", VIN ", v["vin"], ", PER POLICE REPORT."])
        if rng.random() < 0.45 else "",
    })
    b = NoteBuilder(upper=True, literal_hook=_typos(rng))
    b.fill(TEMPLATES[template or rng.choice(_DRAWN)], v)
    return b


EXPECTED = frozenset({"NAME", "DATE", "AGE", "MRN", "PHONE", "INSTITUTION", "CITY", "STREET",
                      "VEHICLE", "DEVICE"})
