"""Foreign gold labels mapped onto ours, so that per-label scores line up across corpora.

Three sources: i2b2 2014 ``TYPE`` attributes, BRAT entity types (ours, i2b2 TYPEs, or
anything else) and the free-text PHI types of the PhysioNet deid corpus. A label without a
counterpart is kept, upper-cased with ``-`` and spaces turned into ``_``, so it is still
scored (and can be ignored by name). The tables are documented in docs/deid-eval.md.
"""

from __future__ import annotations

import re

from behindglass.deid.text.labels import LABELS

# i2b2 2014 TYPE (and a few common spellings) -> our label. ROOM, DEPARTMENT, COUNTRY,
# LOCATION-OTHER, PROFESSION and BIOID have no counterpart and are kept.
I2B2_TYPES: dict[str, str] = {
    "PATIENT": "NAME", "DOCTOR": "NAME", "USERNAME": "NAME",
    "HOSPITAL": "INSTITUTION", "ORGANIZATION": "INSTITUTION",
    "STREET": "STREET", "CITY": "CITY", "STATE": "STATE", "ZIP": "ZIP",
    "AGE": "AGE", "DATE": "DATE",
    "PHONE": "PHONE", "FAX": "FAX", "EMAIL": "EMAIL", "URL": "URL", "IPADDR": "IP",
    "SSN": "SSN", "MEDICALRECORD": "MRN", "HEALTHPLAN": "HEALTH_PLAN", "ACCOUNT": "ACCOUNT",
    "LICENSE": "LICENSE", "VEHICLE": "VEHICLE", "DEVICE": "DEVICE",
    # IDNUM is i2b2's "any other identifying number": Safe Harbor (R), which we call ID.
    "IDNUM": "ID",
}

# PhysioNet deid PHI types are free phrases ("Patient Name", "Phone/Pager", "Age > 89").
# Words are matched whole and case-insensitively; the first row with a matching word wins,
# so the specific rows come before the generic ones ("Hospital Name" is an INSTITUTION,
# "Phone Number" a PHONE, "Patient ID" an ID).
PHYSIONET_KEYWORDS: tuple[tuple[frozenset[str], str], ...] = tuple(
    (frozenset(words.split()), label) for words, label in (
        ("email e-mail", "EMAIL"),
        ("url web website", "URL"),
        ("ip ipaddr", "IP"),
        ("ssn social", "SSN"),
        ("mrn medicalrecord record", "MRN"),
        ("insurance healthplan", "HEALTH_PLAN"),
        ("account", "ACCOUNT"),
        ("license licence", "LICENSE"),
        ("vehicle plate", "VEHICLE"),
        ("device serial", "DEVICE"),
        ("hospital institution clinic organization organisation facility company",
         "INSTITUTION"),
        ("street address", "STREET"),
        ("city town", "CITY"),
        ("state", "STATE"),
        ("zip zipcode postcode postal", "ZIP"),
        ("country", "COUNTRY"),
        ("date holiday year month day", "DATE"),
        ("age", "AGE"),
        ("phone telephone pager tel beeper", "PHONE"),
        ("fax", "FAX"),
        ("id identifier number", "ID"),
        ("name patient doctor clinician physician provider relative proxy username",
         "NAME"),
        ("location", "LOCATION_OTHER"),
    ))
_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def foreign_label(raw: str) -> str:
    """``raw`` upper-cased with runs of spaces, ``-`` and ``/`` turned into one ``_``."""
    return re.sub(r"[\s/-]+", "_", raw.strip()).upper()


def label_from_i2b2(element: str, kind: str | None) -> str:
    """Our label for an i2b2 tag ``<element TYPE=kind>`` (the element when TYPE is absent)."""
    name = foreign_label(kind or element)
    if name in LABELS:
        return name
    return I2B2_TYPES.get(name.replace("_", ""), name)


def label_from_brat(entity: str) -> str:
    """Our label for a BRAT entity type: ours as is, else an i2b2 TYPE, else kept."""
    return label_from_i2b2(entity, None)


def label_from_physionet(kind: str) -> str:
    """Our label for a PhysioNet PHI type phrase, by the first matching keyword row."""
    if foreign_label(kind) in LABELS:  # our own labels, as write_physionet writes them
        return foreign_label(kind)
    lowered = kind.lower()
    words = set(_WORD.findall(lowered)) | set(re.findall(r"[a-z0-9]+", lowered))
    for keywords, label in PHYSIONET_KEYWORDS:
        if words & keywords:
            return label
    return foreign_label(kind) or "UNKNOWN"
