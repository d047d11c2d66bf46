"""Discharge summaries: a structured template, a narrative one and a transfer summary."""

from __future__ import annotations

import random

from behindglass.synth.notes import dates, vocabulary
from behindglass.synth.notes.builder import NoteBuilder
from behindglass.synth.notes.facts import NoteFacts
from behindglass.synth.notes.phrases import sentence, values

STRUCTURED = """DISCHARGE SUMMARY
{inst}

Patient: {pformal}    MRN: {mrn}    Account #: {account}
DOB: {dob}    Age: {age_n}    Sex: {sexletter}
Admission date: {admit_num}    Discharge date: {discharge_num}
Attending: {attending_full}
Primary care provider: {pcp}

ADMITTING DIAGNOSIS: {problem}

DISCHARGE DIAGNOSES:
1. {problem}
2. {secondary}

HISTORY OF PRESENT ILLNESS:
{pname} is a {age} {sex} with a history of {comorbid} who presented on {admit} with \
{presentation}. Symptoms began around {onset}.{transfer}

HOSPITAL COURSE:
Workup was notable for {findings}. {course_cap}. {procedure}. On exam: {exam}.
Vitals at discharge: {vitals}.
Labs on the day of discharge: {labs}.

DISCHARGE MEDICATIONS:
{meds}

ALLERGIES: {allergy}

DISPOSITION: Discharged {disposition} on {discharge} at {time}. Address on file: {address}. \
Contact: {relative}, {rel_phone}.
Insurance: member ID {plan}.{device_line}

FOLLOW-UP: {followup_clinician} on {followup}. Clinic phone {inst_phone}, fax {fax}.
{plan_text}
May resume usual activity as tolerated. May shower; keep the incision dry.

Electronically signed: {attending_full}  NPI {npi}  DEA {dea}
{discharge_num} {time}
"""

NARRATIVE = """{inst} - Discharge Summary

Name: {pformal}   Medical record number {mrn}
Dates of stay: {admit} to {discharge}

{pname} is a {age} {sex} with {comorbid}, admitted from the emergency department with \
{presentation}{transfer_short}. {His} {relation} reports symptoms since {onset}.

Hospital course by problem:
# {problem_title}: {findings}. {course}.
# Chronic conditions: home medications were continued except as noted. Seen overnight by
the on-call MD for agitation, resolved without medication.
{procedure}.

Condition at discharge: stable. Glasgow Coma Scale 15. {vitals}.
Medications: {meds_inline}.
Allergies: {allergy}.

Plan: {plan_text}. Follow up with {pcp} on {followup} ({inst_phone}). \
{relative} will drive {him} home to {city}, {state} later today.{device_line}
Patients may call the after-hours line with questions; {he} may return to work in 2 weeks.

Dictated by {resident} for {attending}. Transcribed {discharge_num} {time}.
"""

TRANSFER = """INTERFACILITY TRANSFER / DISCHARGE SUMMARY
From: {inst}    To: {other_inst}
Patient: {pformal}   DOB {dob}   MRN {mrn}   SSN {ssn}
Health plan: {plan}   Acct {account}

Reason for transfer: {problem} requiring a higher level of care.
Summary: {age} {sex} admitted {admit} with {presentation}. Workup: {findings}. {course_cap}.
{procedure}. Mental status: Glasgow Coma Scale 14, oriented x3.
Current vitals ({time}): {vitals}.
Active medications: {meds_inline}.
Code status: full code, confirmed with {relative} ({rel_phone}).
Accepting physician: {consultant}. Report called at {time}.
Sending physician: {attending_full}, NPI {npi}.
Date of transfer: {discharge}.
"""

TEMPLATES = {"structured": STRUCTURED, "narrative": NARRATIVE, "transfer": TRANSFER}
_DRAWN = ("structured", "narrative", "transfer")


def write(f: NoteFacts, rng: random.Random, template: str | None = None) -> NoteBuilder:
    problem = vocabulary.pick_problem(rng, f.sex, f.age)
    meds = list(problem.meds) + rng.sample(vocabulary.HOME_MEDS, k=rng.randrange(2, 5))
    v = values(f, rng)
    followup = dates.shift(f.discharge, rng.choice((7, 10, 14, 21, 28)))
    has_device = rng.random() < 0.35
    v.update({
        "sexletter": f.sex, "him": "him" if f.sex == "M" else "her",
        "problem": problem.name, "problem_title": sentence(problem.name),
        "secondary": rng.choice(vocabulary.COMORBIDITIES),
        "presentation": problem.presentation, "findings": problem.findings,
        "course": problem.course, "course_cap": sentence(problem.course),
        "plan_text": sentence(problem.plan),
        "procedure": sentence(rng.choice(vocabulary.PROCEDURES)),
        "exam": ", ".join(rng.sample(vocabulary.EXAM_TRAPS, k=2)),
        "meds": "\n".join(f"- {m}" for m in meds), "meds_inline": "; ".join(meds),
        "disposition": rng.choice(vocabulary.DISPOSITIONS),
        "followup": lambda: dates.date(followup, rng),
        "followup_clinician": v["pcp"],
        "transfer": (lambda: [f" {v['He']} was transferred from ", v["other_inst"], "."])
        if rng.random() < 0.3 else "",
        "transfer_short": (lambda: [" after transfer from ", v["other_inst"]])
        if rng.random() < 0.3 else "",
        "device_line": (lambda: ["\nImplanted device: dual-chamber pacemaker, serial ",
                                 v["device"], "."]) if has_device else "",
    })
    b = NoteBuilder()
    b.fill(TEMPLATES[template or rng.choice(_DRAWN)], v)
    return b


EXPECTED = frozenset({"NAME", "DATE", "AGE", "MRN", "ACCOUNT", "INSTITUTION", "PHONE", "FAX",
                      "STREET", "CITY", "STATE", "ZIP", "HEALTH_PLAN", "LICENSE", "DEVICE",
                      "SSN"})
