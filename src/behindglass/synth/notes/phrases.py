"""Ways of writing a person, an age or an address, each returning pieces with spans.

Titles ("Dr.", "Mr.", "Mrs."), credentials ("MD", "RN") and relationship words ("wife")
stay outside NAME spans: alone they are not identifiers and a de-identifier must keep them.
"""

from __future__ import annotations

import random

from behindglass.synth.notes.builder import Phi, Piece
from behindglass.synth.notes.facts import Clinician, NoteFacts, Relative


def age(years: int) -> Piece:
    """Ages over 89 are identifiers (Safe Harbor C); younger ages are plain text."""
    return Phi("AGE", str(years)) if years > 89 else str(years)


def age_phrase(years: int, rng: random.Random, terse: bool = False) -> list[Piece]:
    form = rng.choice(("{}-year-old", "{} yo", "{} y/o") if terse else
                      ("{}-year-old", "{}-year-old", "{} y/o"))
    head, tail = form.split("{}")
    return [head, age(years), tail]


def patient_name(f: NoteFacts, rng: random.Random, formal: bool = False) -> list[Piece]:
    """Headers use full forms ("Last, First"); prose uses titles and first names too."""
    form = rng.randrange(3) if formal else rng.choice((0, 1, 3, 3, 4))
    if form == 0:
        return [Phi("NAME", f.name, "patient")]
    if form == 1:
        middle = f" {f.middle[0]}." if f.middle else ""
        return [Phi("NAME", f"{f.first}{middle} {f.last}", "patient")]
    if form == 2:
        return [Phi("NAME", f"{f.last}, {f.first}", "patient")]
    if form == 3:
        return ["Mr. " if f.sex == "M" else rng.choice(("Ms. ", "Mrs. ")),
                Phi("NAME", f.last, "patient")]
    return [Phi("NAME", f.first, "patient")]


def sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def clinician_name(c: Clinician, rng: random.Random) -> list[Piece]:
    doctor = c.credential in ("MD", "DO")
    form = rng.randrange(4)
    if form == 0 and doctor:
        return ["Dr. ", Phi("NAME", c.last, "clinician")]
    if form == 1 and doctor:
        return ["Dr. ", Phi("NAME", f"{c.first[0]}. {c.last}", "clinician")]
    return [Phi("NAME", c.name, "clinician"), f", {c.credential}"]


def relative_name(r: Relative, rng: random.Random) -> list[Piece]:
    if rng.random() < 0.5:
        return [Phi("NAME", r.first, "relative")]
    return [Phi("NAME", r.name, "relative")]


def relative_with_role(r: Relative, rng: random.Random, possessive: str) -> list[Piece]:
    """"his daughter Ana" / "Ana Ruiz (daughter)"."""
    if rng.random() < 0.6:
        return [f"{possessive} {r.relation} ", *relative_name(r, rng)]
    return [*relative_name(r, rng), f" ({r.relation})"]


def address(f: NoteFacts, sep: str = ", ") -> list[Piece]:
    return [Phi("STREET", f.street), sep, Phi("CITY", f.city), ", ", Phi("STATE", f.state),
            " ", Phi("ZIP", f.zip)]


def he(f: NoteFacts) -> str:
    return "he" if f.sex == "M" else "she"


def his(f: NoteFacts) -> str:
    return "his" if f.sex == "M" else "her"


def sexword(f: NoteFacts, rng: random.Random) -> str:
    if f.sex == "M":
        return rng.choice(("man", "male", "gentleman"))
    return rng.choice(("woman", "female", "lady"))


def values(f: NoteFacts, rng: random.Random) -> dict[str, object]:
    """The placeholders every note kind shares; callables render afresh per occurrence."""
    from behindglass.synth.notes import dates, vocabulary

    attending, pcp = f.clinician("attending"), f.clinician("pcp")
    relative = f.relatives[0]
    return {
        "pname": lambda: patient_name(f, rng), "pformal": lambda: patient_name(f, rng, True),
        "age": lambda: age_phrase(f.age, rng), "age_n": lambda: age(f.age),
        "sex": lambda: sexword(f, rng), "he": he(f), "He": he(f).capitalize(), "his": his(f),
        "His": his(f).capitalize(),
        "dob": lambda: dates.date(f.birth_date, rng, dates.NUMERIC, weekday=0),
        "admit": lambda: dates.date(f.admission, rng),
        "discharge": lambda: dates.date(f.discharge, rng),
        "admit_num": lambda: dates.date(f.admission, rng, dates.NUMERIC, weekday=0),
        "discharge_num": lambda: dates.date(f.discharge, rng, dates.NUMERIC, weekday=0),
        "onset": lambda: dates.vague(dates.shift(f.admission, -rng.randrange(20, 900)), rng),
        "mrn": Phi("MRN", f.mrn), "account": Phi("ACCOUNT", f.account),
        "plan": Phi("HEALTH_PLAN", f.health_plan), "ssn": Phi("SSN", f.ssn),
        "dl": Phi("LICENSE", f.drivers_license, "drivers"),
        "npi": Phi("LICENSE", attending.npi, "npi"), "dea": Phi("LICENSE", attending.dea, "dea"),
        "pcp_npi": Phi("LICENSE", pcp.npi, "npi"), "pcp_dea": Phi("LICENSE", pcp.dea, "dea"),
        "device": Phi("DEVICE", f.device_id), "plate": Phi("VEHICLE", f.plate),
        "vin": Phi("VEHICLE", f.vin), "ip": Phi("IP", f.ip), "url": Phi("URL", f.url),
        "email": Phi("EMAIL", f.email), "phone": Phi("PHONE", f.phone),
        "inst": Phi("INSTITUTION", f.institution),
        "other_inst": Phi("INSTITUTION", f.other_institution),
        "inst_phone": Phi("PHONE", f.institution_phone), "fax": Phi("FAX", f.institution_fax),
        "address": lambda: address(f), "city": Phi("CITY", f.city),
        "state": Phi("STATE", f.state), "zip": Phi("ZIP", f.zip),
        "street": Phi("STREET", f.street),
        "attending": lambda: clinician_name(attending, rng),
        "attending_full": [Phi("NAME", attending.name, "clinician"), f", {attending.credential}"],
        "resident": lambda: clinician_name(f.clinician("resident"), rng),
        "nurse": lambda: clinician_name(f.clinician("nurse"), rng),
        "consultant": lambda: clinician_name(f.clinician("consultant"), rng),
        "radiologist": lambda: clinician_name(f.clinician("radiologist"), rng),
        "pathologist": lambda: clinician_name(f.clinician("pathologist"), rng),
        "pcp": lambda: clinician_name(pcp, rng),
        "pcp_full": [Phi("NAME", pcp.name, "clinician"), f", {pcp.credential}"],
        "relative": lambda: relative_with_role(relative, rng, his(f)),
        "relative_name": lambda: relative_name(relative, rng),
        "relation": relative.relation, "rel_phone": Phi("PHONE", relative.phone),
        "time": lambda: vocabulary.clock(rng), "vitals": lambda: vocabulary.vitals(rng),
        "labs": lambda: vocabulary.labs(rng), "allergy": rng.choice(vocabulary.ALLERGIES),
        "comorbid": lambda: vocabulary.comorbidities(rng),
    }
