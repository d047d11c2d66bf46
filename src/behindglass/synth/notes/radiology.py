"""Radiology reports: chest x-ray, CT head and a device-check study."""

from __future__ import annotations

import random

from behindglass.synth.notes import dates
from behindglass.synth.notes.builder import NoteBuilder
from behindglass.synth.notes.facts import NoteFacts
from behindglass.synth.notes.phrases import values

CHEST = """{inst} - Department of Radiology
EXAM: XR CHEST 2 VIEWS    Date of service: {study_date} {time}
Patient: {pformal}    MRN: {mrn}    DOB: {dob}    Visit account: {account}
Ordering provider: {attending}

CLINICAL HISTORY: {age} {sex}. {indication}.
COMPARISON: {comparison}.

FINDINGS:
{chest_findings} Cardiomediastinal silhouette is {heart}. No pneumothorax.{device_text}

IMPRESSION:
{impression}

Findings were communicated to {resident} by telephone at {time} on {study_date}; \
read-back confirmed. Reading room: {inst_phone}.
Electronically signed by {radiologist} {study_num}
"""

CT_HEAD = """CT HEAD WITHOUT CONTRAST
{pformal} | MRN {mrn} | {age} | {inst}
Exam date: {study_date}
INDICATION: fall with head strike; on anticoagulation. Glasgow Coma Scale 14 at triage.
TECHNIQUE: Axial images from skull base to vertex without IV contrast. \
DLP 980 mGy-cm. CTDIvol 55.2 mGy.
COMPARISON: MRI brain from {other_inst} dated {prior_date}.
FINDINGS: {ct_findings} Ventricles are proportionate to sulci. Mastoid air cells and \
paranasal sinuses are clear. Chronic small vessel ischemic change, age-appropriate.
IMPRESSION: {ct_impression}
Critical result discussed with {attending} at {time}.
{radiologist}
"""

DEVICE = """MRI SAFETY SCREENING AND CHEST RADIOGRAPH FOR DEVICE LOCALIZATION
Patient {pformal}, MRN {mrn}, DOB {dob}. Study date {study_date}.
Requested by {pcp} ({fax} fax).
Device on file: implantable cardioverter-defibrillator, serial number {device}, \
manufacturer registration card on file. Leads terminate in the right atrium and right \
ventricular apex. No lead fracture. Swan-Ganz catheter not seen.
History: {age} {sex}. {indication}.
Impression: Device and leads in expected position. MR-conditional status must be \
verified before scanning; scheduled for {followup}.
Reported by {radiologist}, {inst}.
"""

BREAST_US = """{inst} - Breast Imaging
US BREAST BILATERAL LIMITED    {study_date}
Patient: {pformal}   MRN: {mrn}   DOB: {dob}   Acct: {account}
Referring: {pcp}
HISTORY: {age} {sex}, recall from screening mammogram for an asymmetry.
COMPARISON: screening mammogram of {same_day}.
FINDINGS: Targeted ultrasound at 2 o'clock, 4 cm from the nipple, shows a {us_finding}. \
No suspicious axillary lymph nodes.
IMPRESSION: {us_impression}
Results given to the patient at {time}; letter sent to the address on file.
{radiologist}   Breast imaging: {inst_phone}
"""

TEMPLATES = {"chest_xray": CHEST, "ct_head": CT_HEAD, "device": DEVICE,
             "breast_ultrasound": BREAST_US}
_DRAWN = ("chest_xray", "ct_head", "device")  # the ultrasound is written on request
_INDICATIONS = ("Shortness of breath and fever", "Cough for two weeks",
                "Post-operative day 1 after CABG", "Evaluate line placement",
                "History of Hodgkin lymphoma, surveillance", "Hypoxia on the ward")
_CHEST = ("Patchy opacity in the right lower lobe.", "Lungs are clear.",
          "Small bilateral pleural effusions with bibasilar atelectasis.",
          "Mild interstitial edema.", "Right IJ central venous catheter tip at the cavoatrial "
          "junction.")
_IMPRESSION = ("1. Right lower lobe pneumonia. 2. No pneumothorax.",
               "No acute cardiopulmonary process.", "Mild pulmonary edema, increased since "
               "the prior exam.", "Lines and tubes in satisfactory position.")
_US_FINDINGS = ("0.8 cm oval circumscribed anechoic mass with posterior enhancement",
                "1.1 cm oval parallel hypoechoic mass with circumscribed margins",
                "0.9 cm irregular hypoechoic mass with angular margins")
_US_IMPRESSIONS = ("Simple cyst. BI-RADS 2: benign.",
                   "Probable fibroadenoma. BI-RADS 3: short-interval follow-up in 6 months.",
                   "Suspicious mass. BI-RADS 4B: ultrasound-guided core biopsy recommended.")
_CT = ("No acute intracranial hemorrhage, mass effect or midline shift.",
       "Small right frontal subdural hematoma measuring 6 mm, without midline shift.",
       "Hypodensity in the left MCA territory consistent with evolving infarct.")
_CT_IMP = ("No acute intracranial abnormality.", "Acute right subdural hematoma, 6 mm.",
           "Subacute left MCA infarct. No hemorrhagic transformation.")


def write(f: NoteFacts, rng: random.Random, template: str | None = None) -> NoteBuilder:
    v = values(f, rng)
    study = f.event or dates.shift(f.admission,
                                   rng.randrange(0, max(1, (f.discharge - f.admission).days)))
    prior = dates.shift(study, -rng.randrange(30, 1500))
    v.update({
        "study_date": lambda: dates.date(study, rng),
        "study_num": lambda: dates.date(study, rng, dates.NUMERIC, weekday=0),
        "prior_date": lambda: dates.date(prior, rng),
        "comparison": (lambda: ["chest radiograph from ", *dates.date(prior, rng)])
        if rng.random() < 0.7 else "None",
        "indication": rng.choice(_INDICATIONS), "chest_findings": rng.choice(_CHEST),
        "heart": rng.choice(("normal in size", "mildly enlarged", "stable")),
        "impression": rng.choice(_IMPRESSION), "ct_findings": rng.choice(_CT),
        "ct_impression": rng.choice(_CT_IMP),
        "same_day": lambda: dates.date(study, rng),
        "us_finding": rng.choice(_US_FINDINGS), "us_impression": rng.choice(_US_IMPRESSIONS),
        "followup": lambda: dates.date(dates.shift(study, rng.randrange(2, 30)), rng),
        "device_text": (lambda: [" Pacemaker generator in the left chest (serial ", v["device"],
                                 ") with leads intact."]) if rng.random() < 0.4 else "",
    })
    b = NoteBuilder()
    b.fill(TEMPLATES[template or rng.choice(_DRAWN)], v)
    return b


EXPECTED = frozenset({"NAME", "DATE", "AGE", "MRN", "ACCOUNT", "INSTITUTION", "PHONE", "FAX",
                      "DEVICE"})
