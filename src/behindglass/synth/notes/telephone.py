"""Telephone and portal messages: short, informal, full of contact details."""

from __future__ import annotations

import random

from behindglass.synth.notes import dates
from behindglass.synth.notes.builder import NoteBuilder, Phi
from behindglass.synth.notes.facts import NoteFacts
from behindglass.synth.notes.phrases import values

CALL = """TELEPHONE ENCOUNTER
{msg_date} {time}    Taken by: {nurse}
Caller: {relative} calling on behalf of {pformal} (DOB {dob}, MRN {mrn}).
Callback number: {rel_phone}. Patient's home phone: {phone}.
Reason for call: {reason}
Details: {details} Pt is a {age} {sex}. Denies chest pain or fever. Last dose at {time}.
Pharmacy on file: {pharmacy}, fax {fax}.
Action: Routed to {pcp}. Per MD, advised {advice} Caller verbalized understanding.
"""

PORTAL = """PATIENT PORTAL MESSAGE
Received {msg_date} at {time} from {email} (login from IP address {ip}).
Patient: {pname}   MRN {mrn}   Age {age_n}

"Hi, this is {first_name}. {portal_body} My insurance changed, new member ID is {plan} and \
the billing office said my account {account} is on hold. Can someone call me at {phone}? \
Thanks"

Reply by {nurse} on {reply_date}: {advice} {pcp} reviewed. {He} may upload photos through \
the portal. Fundraising page mentioned by pt: {url}.
"""

ADMIN = """Phone note - {msg_date}
{pname} called ({phone}). Requests: (1) replacement for {his} {device_kind}, serial {device}; \
(2) disability parking placard form for vehicle plate {plate}; (3) refill of oxycodone, \
controlled substance pickup requires photo ID - driver's license {dl} verified.
Identity verified with DOB {dob} and SSN {ssn}. Plan ID {plan}.
Form faxed to {inst} DME office at {fax}. {pcp} to sign. Called back at {time}, left \
message. Pt is a {age} {sex}; {he} lives at {street}, {city}.
"""

TEMPLATES = {"call": CALL, "portal": PORTAL, "administrative": ADMIN}
_DRAWN = ("call", "portal", "administrative")
_CALLS = (  # (reason, details)
    ("worsening swelling of both legs", "Reports weight up 3 lb in 2 days, taking Lasix 20 mg "
     "daily as prescribed."),
    ("request for refill", "Ran out of metoprolol 2 days ago. HR at home 104."),
    ("blood sugars running 250-300", "Glucose 280 this AM before breakfast, took glargine "
     "18 units last night."),
    ("catheter problem", "Foley catheter leaking at the insertion site since this morning."),
    ("medication question", "Tremor worse since carbidopa-levodopa dose was reduced."),
    ("fall at home, no injury", "Slipped in the bathroom at 06:30, able to stand, no head "
     "strike. Takes Eliquis 5 mg BID."),
)
_ADVICE = ("to hold the evening dose and recheck BP in the morning.",
           "to go to the ED if short of breath. May take Tylenol 650 mg q6h PRN pain.",
           "increase furosemide to 40 mg x 3 days, BMP on Monday.",
           "keep the appointment; may call back with readings.")
_PORTAL = ("My feet are more swollen since Saturday.", "The new pills make me dizzy.",
           "I need a letter for work.", "My sugar was 310 this morning.")
_PHARMACIES = ("CVS Pharmacy", "Walgreens", "Rite Aid", "the hospital outpatient pharmacy")


def write(f: NoteFacts, rng: random.Random, template: str | None = None) -> NoteBuilder:
    v = values(f, rng)
    day = f.event or dates.shift(f.discharge, rng.randrange(1, 90))
    call = rng.choice(_CALLS)
    v.update({
        "msg_date": lambda: dates.date(day, rng),
        "reply_date": lambda: dates.date(dates.shift(day, rng.randrange(0, 2)), rng),
        "reason": call[0], "details": call[1],
        "advice": rng.choice(_ADVICE), "portal_body": rng.choice(_PORTAL),
        "pharmacy": rng.choice(_PHARMACIES), "first_name": Phi("NAME", f.first, "patient"),
        "device_kind": rng.choice(("CPAP machine", "insulin pump", "home oxygen concentrator")),
    })
    b = NoteBuilder()
    b.fill(TEMPLATES[template or rng.choice(_DRAWN)], v)
    return b


EXPECTED = frozenset({"NAME", "DATE", "AGE", "MRN", "PHONE", "FAX", "EMAIL", "IP", "URL", "SSN",
                      "HEALTH_PLAN", "ACCOUNT", "LICENSE", "DEVICE", "VEHICLE", "INSTITUTION",
                      "STREET", "CITY"})
