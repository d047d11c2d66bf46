"""Clinic letters: a consultation letter to the PCP, a return-to-work / disability letter."""

from __future__ import annotations

import random

from behindglass.synth.notes import dates, vocabulary
from behindglass.synth.notes.builder import NoteBuilder, Phi, Piece
from behindglass.synth.notes.facts import NoteFacts
from behindglass.synth.notes.phrases import age, his, values

CONSULT = """{inst}
Division of {division}
Tel {inst_phone} | Fax {fax}

{letter_date}

{pcp_full}
{pcp_address}

RE: {pformal}   DOB: {dob}   MRN: {mrn}
{address_block}

Dear {pcp_dear},

Thank you for referring {pname}, a {age} {sex}, whom I saw in clinic on {visit} for \
{reason}. {He} has a history of {comorbid}. Current medications include {meds}. \
Allergies: {allergy}.

Family history: {family}.
On examination: {vitals}. {exam}.
Recent labs: {labs}.

Assessment and plan: {assessment} May continue current {continued}. \
We will see {him} again on {next_visit}; {he} can reach us through the patient portal or \
by e-mail at the address {he} gave us ({email}).{support}

Yours sincerely,

{attending_full}
NPI {npi}
cc: {pformal}, {address_inline}
"""

DISABILITY = """{inst}
{inst_address}
Phone {inst_phone}  Fax {fax}

{letter_date}

To whom it may concern:

RE: {pformal}, date of birth {dob}
Social Security number: {ssn}
Health plan member ID: {plan}   Driver's license: {dl}

{pname} has been under my care since {since} for {reason}. {He} was hospitalized at \
{other_inst} from {admit} to {discharge}. Because of {his} condition {he} is unable to \
drive or work until {next_visit}. {He} may return to light duty after re-evaluation.

Family history is relevant: {family}.
Please contact my office at {inst_phone} with any questions.

Sincerely,
{pcp_full}
NPI {pcp_npi}   DEA {pcp_dea}
"""

TEMPLATES = {"consultation": CONSULT, "disability": DISABILITY}
_DRAWN = ("consultation", "consultation", "disability")
_DIVISIONS = ("Cardiology", "Endocrinology", "Neurology", "Gastroenterology", "Nephrology",
              "Rheumatology")
_REASONS = ("poorly controlled type 2 diabetes", "new-onset atrial fibrillation",
            "tremor, possibly early Parkinson's disease", "chronic diarrhea and weight loss",
            "rising creatinine", "inflammatory arthritis", "recurrent syncope")
_ASSESS = ("Tremor is consistent with Parkinson's disease; started carbidopa-levodopa "
           "25/100 mg TID.", "Hemoglobin A1c 9.4%; increased insulin glargine to 24 units.",
           "Holter showed paroxysmal atrial fibrillation; continue apixaban 5 mg BID.",
           "Colonoscopy findings suggest Crohn's disease; starting budesonide 9 mg daily.",
           "CKD stage 3b, likely diabetic nephropathy; start empagliflozin 10 mg daily.")
_KIN = ("father", "mother", "brother", "sister", "grandmother", "uncle")
_CAUSES = ("stroke", "myocardial infarction", "colon cancer", "Alzheimer's dementia",
           "heart failure", "pneumonia")


def family_history(rng: random.Random) -> list[Piece]:
    """Relatives' ages: over 89 is an identifier, younger is not."""
    pieces: list[Piece] = []
    for i, kin in enumerate(rng.sample(_KIN, k=2)):
        years = rng.randrange(85, 104) if rng.random() < 0.5 else rng.randrange(45, 90)
        verb = "died at " if rng.random() < 0.6 else "alive at "
        pieces += ["; " if i else "", f"{kin} {verb}", age(years),
                   f" with {rng.choice(_CAUSES)}" if verb == "alive at " else
                   f" of {rng.choice(_CAUSES)}"]
    return pieces


def write(f: NoteFacts, rng: random.Random, template: str | None = None) -> NoteBuilder:
    v = values(f, rng)
    pcp = f.clinician("pcp")
    visit = f.event or dates.shift(f.discharge, rng.randrange(5, 60))
    v.update({
        "division": rng.choice(_DIVISIONS), "reason": rng.choice(_REASONS),
        "assessment": rng.choice(_ASSESS), "him": "him" if f.sex == "M" else "her",
        "pcp_last": pcp.last, "meds": ", ".join(rng.sample(vocabulary.HOME_MEDS, k=3)),
        "continued": rng.choice(("statin", "antihypertensives", "diet")),
        "exam": rng.choice(vocabulary.EXAM_TRAPS),
        "family": lambda: family_history(rng),
        "letter_date": lambda: dates.date(dates.shift(visit, 1), rng),
        "visit": lambda: dates.date(visit, rng),
        "next_visit": lambda: dates.date(dates.shift(visit, rng.randrange(30, 120)), rng),
        "since": lambda: dates.vague(dates.shift(f.admission, -rng.randrange(200, 2000)), rng),
        "address_block": v["address"], "address_inline": v["address"],
        "pcp_dear": ["Dr. ", Phi("NAME", pcp.last, "clinician")] if pcp.credential in ("MD", "DO")
        else [Phi("NAME", pcp.name, "clinician")],
        "pcp_address": ["Internal Medicine, ", v["other_inst"]],
        "inst_address": lambda: [Phi("STREET", f"{rng.randrange(100, 9000)} Medical Center "
                                     "Drive", "institution"), ", ", v["city"], ", ", v["state"]],
        "support": (lambda: [f" {his(f).capitalize()} family set up a "
                             "support page at ", v["url"], "."]) if rng.random() < 0.7 else "",
    })
    b = NoteBuilder()
    b.fill(TEMPLATES[template or rng.choice(_DRAWN)], v)
    return b


EXPECTED = frozenset({"NAME", "DATE", "AGE", "MRN", "INSTITUTION", "PHONE", "FAX", "EMAIL",
                      "URL", "STREET", "CITY", "STATE", "ZIP", "SSN", "HEALTH_PLAN", "LICENSE"})
