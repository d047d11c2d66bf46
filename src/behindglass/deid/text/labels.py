"""The PHI labels text de-identification detects, and the Safe Harbor identifier each is.

One catalogue for detectors, surrogates, gold corpora and evaluation: 45 CFR
164.514(b)(2)(i)(A)-(R). STATE is not a Safe Harbor identifier (only units smaller than a
state are); it has its own label so an evaluator can score or ignore it.
"""

from __future__ import annotations

LABELS: dict[str, str] = {
    "NAME": "A", "STREET": "B", "CITY": "B", "ZIP": "B", "STATE": "-", "INSTITUTION": "B",
    "DATE": "C", "AGE": "C", "PHONE": "D", "FAX": "E", "EMAIL": "F", "SSN": "G", "MRN": "H",
    "HEALTH_PLAN": "I", "ACCOUNT": "J", "LICENSE": "K", "VEHICLE": "L", "DEVICE": "M",
    "URL": "N", "IP": "O",
}
NAME_SUBTYPES = ("patient", "relative", "clinician")
# Labels that name an identifier (every character must go), as opposed to context.
IDENTIFIER_LABELS = frozenset({"SSN", "MRN", "HEALTH_PLAN", "ACCOUNT", "LICENSE", "VEHICLE",
                               "DEVICE"})
