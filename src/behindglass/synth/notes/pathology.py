"""Surgical pathology reports: biopsy, resection and placenta."""

from __future__ import annotations

import random

from behindglass.synth.notes import dates
from behindglass.synth.notes.builder import NoteBuilder
from behindglass.synth.notes.facts import NoteFacts
from behindglass.synth.notes.phrases import values

BIOPSY = """SURGICAL PATHOLOGY REPORT
{inst}, Department of Pathology and Laboratory Medicine
Patient: {pformal}   MRN: {mrn}   Age/Sex: {age_n}/{sexletter}   Account: {account}
Collected: {collected}   Received: {received}   Reported: {reported}
Submitting physician: {attending}   Copy to: {pcp}

CLINICAL HISTORY: {age} {sex}; {history}.
SPECIMEN: {specimen}
GROSS DESCRIPTION: Received in formalin labeled with the patient's name and medical record \
number are {gross}. Entirely submitted in cassettes A1-A{cassettes}.
MICROSCOPIC DESCRIPTION: {micro}
DIAGNOSIS:
{diagnosis}
Immunohistochemistry: {ihc}. Controls stain appropriately.

I have personally reviewed the slides and rendered the diagnosis.
{pathologist}   {reported_num}
Questions: pathology office {inst_phone}; fax {fax}.
"""

RESECTION = """Pathology Report - {inst}
Name: {pname}; MR# {mrn}; DOB {dob}
Procedure date: {collected}. Surgeon: {consultant}.
Specimen: {specimen}
Synoptic summary: {synoptic}
Margins: negative, closest 0.4 cm. Lymph nodes: 0/14 involved. Tumor size {size} cm.
Diagnosis: {diagnosis}
Note: Results discussed with {consultant} on {reported} at {time}.
Signed out by {pathologist}.
"""

PLACENTA = """PLACENTAL PATHOLOGY
{inst}  MRN {mrn}
Mother: {pformal}, {age_n} years. Delivered {collected}.
Clinical: term spontaneous vaginal delivery; infant Apgar scores 8 and 9. Postpartum \
hemorrhage with estimated blood loss 1,200 mL.
Gross: 520 g trimmed placenta, 3-vessel cord, membranes complete.
Diagnosis: Placenta with mild acute chorioamnionitis; no villitis.
{pathologist}  Reported {reported}. Fax copy to {fax}.
"""

TEMPLATES = {"biopsy": BIOPSY, "resection": RESECTION, "placenta": PLACENTA}
_CASES = (
    ("colon, sigmoid, biopsy", "three tan soft tissue fragments, 0.2 to 0.5 cm",
     "Fragments of colonic mucosa with crypt distortion and basal plasmacytosis.",
     "Colonic mucosa with chronic active colitis, consistent with Crohn's disease. "
     "Negative for dysplasia.", "CMV negative", "history of Crohn's disease, surveillance"),
    ("skin, left forearm, shave", "a 0.7 x 0.5 cm tan-pink shave of skin",
     "Atypical melanocytes in nests at the dermal-epidermal junction with pagetoid spread.",
     "Melanoma in situ, lentigo maligna type; peripheral margin involved.",
     "SOX10 and MelanA highlight the junctional component", "changing pigmented lesion"),
    ("lymph node, right cervical, excision", "a 2.1 cm rubbery lymph node",
     "Effaced architecture with scattered Reed-Sternberg cells in a mixed background.",
     "Classic Hodgkin lymphoma, nodular sclerosis type.", "CD30 and CD15 positive, CD45 "
     "negative", "cervical lymphadenopathy and night sweats"),
    ("prostate, needle core biopsies (12)", "twelve cores, 0.8 to 1.6 cm",
     "Infiltrating small glands with prominent nucleoli.",
     "Prostatic adenocarcinoma, Gleason score 3+4=7 (Grade Group 2), in 4 of 12 cores.",
     "p63 and HMWCK negative in atypical glands", "PSA 8.4 ng/mL"),
    ("breast, left, core biopsy", "three cores of fibrofatty tissue, up to 1.5 cm",
     "Invasive carcinoma forming tubules in less than 10% of the tumor.",
     "Invasive ductal carcinoma, Nottingham grade 2.", "ER 95%, PR 60%, HER2 1+",
     "BI-RADS 5 mass at 2 o'clock"),
)

# Resections carry their own specimen, synoptic and diagnosis, so a report never pairs a
# breast specimen with a pancreatic operation.
_RESECTIONS = (
    ("pancreas, head, pancreaticoduodenectomy", "Procedure: pancreaticoduodenectomy (Whipple). "
     "Histologic type: ductal adenocarcinoma. pT2 pN0.",
     "Pancreatic ductal adenocarcinoma, moderately differentiated.", "3.2 x 2.8 x 2.1"),
    ("colon, right, hemicolectomy", "Procedure: right hemicolectomy. Histologic type: "
     "adenocarcinoma. pT3 pN0.", "Invasive adenocarcinoma of the cecum, moderately "
     "differentiated; no lymphovascular invasion.", "4.1 x 3.5 x 1.2"),
    ("breast, left, partial mastectomy", "Procedure: partial mastectomy. Histologic type: "
     "invasive ductal carcinoma. pT1c pN0.", "Invasive ductal carcinoma, Nottingham grade 2.",
     "1.6 x 1.4 x 1.1"),
    ("lung, right upper lobe, lobectomy", "Procedure: lobectomy. Histologic type: "
     "adenocarcinoma, acinar predominant. pT1b pN0.",
     "Lung adenocarcinoma, acinar predominant, 15% solid.", "1.8 x 1.5 x 1.3"),
)


def write(f: NoteFacts, rng: random.Random, template: str | None = None) -> NoteBuilder:
    v = values(f, rng)
    specimen, gross, micro, diagnosis, ihc, history = rng.choice(_CASES)
    collected = f.event or dates.shift(f.admission, rng.randrange(0, 3))
    reported = dates.shift(collected, rng.randrange(1, 6))
    v.update({
        "sexletter": f.sex, "specimen": specimen, "gross": gross, "micro": micro,
        "diagnosis": diagnosis, "ihc": ihc, "history": history,
        "cassettes": str(rng.randrange(1, 6)),
        "collected": lambda: dates.date(collected, rng),
        "received": lambda: dates.date(collected, rng, dates.NUMERIC, weekday=0),
        "reported": lambda: dates.date(reported, rng),
        "reported_num": lambda: dates.date(reported, rng, dates.NUMERIC, weekday=0),
    })
    drawn = rng.choice(("biopsy", "biopsy", "resection"))
    if f.sex == "F" and f.age < 45 and rng.random() < 0.5:
        drawn = "placenta"
    if (template or drawn) == "resection":
        specimen, synoptic, diagnosis, size = rng.choice(_RESECTIONS)
        v.update({"specimen": specimen, "synoptic": synoptic, "diagnosis": diagnosis,
                  "size": size})
    b = NoteBuilder()
    b.fill(TEMPLATES[template or drawn], v)
    return b


EXPECTED = frozenset({"NAME", "DATE", "AGE", "MRN", "ACCOUNT", "INSTITUTION", "PHONE", "FAX"})
