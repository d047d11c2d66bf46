"""Text that looks like PHI but is not: what a de-identifier must leave alone.

Each category is a set of regular expressions (case-insensitive) matching phrases the
templates write. The gold corpus never labels them, and the tests check that every match
lies outside every span; the evaluation harness can use the same patterns to count
over-redaction separately from missed PHI.
"""

from __future__ import annotations

import re

TRAPS: dict[str, tuple[str, ...]] = {
    # Eponyms: diseases, signs, scores, devices and procedures named after people.
    "eponym": (r"Parkinson's", r"Foley", r"Glasgow Coma Scale", r"Apgar", r"Crohn's",
               r"Hodgkin", r"Alzheimer's", r"Swan-Ganz", r"Babinski", r"Murphy's sign",
               r"Whipple", r"Hashimoto's", r"Graves' disease", r"Barrett's", r"Bell's palsy",
               r"Meniere's", r"Sjogren's", r"Kernig's", r"Brudzinski's", r"Reed-Sternberg",
               r"Gleason", r"Nottingham", r"Braden"),
    "drug": (r"\bmetoprolol\b", r"\bfurosemide\b", r"\bLasix\b", r"\bTylenol\b",
             r"\bapixaban\b", r"\bEliquis\b", r"\bcarbidopa-levodopa\b", r"\blisinopril\b",
             r"\batorvastatin\b", r"\binsulin glargine\b", r"\bHaldol\b", r"\blorazepam\b"),
    "unit": (r"\d mg\b", r"mg/dL", r"mmol/L", r"ng/mL", r"pg/mL", r"mGy", r"mL/hr",
             r"\d units\b"),
    # "May" as a verb, capitalised at the start of an instruction.
    "modal_may": (r"\bmay (?:resume|shower|continue|return|take|upload|visit|call)\b",),
    # Titles and credentials alone. Credentials after a name are not listed: "Katelynshire,
    # MD" (a city and Maryland) and "5195 NP" (a Dutch postcode) are spelled the same way.
    "title": (r"\bDr\.", r"\bMD aware\b", r"\bper MD\b", r"\bon-call MD\b",
              r"\bRN notified\b"),
    "vitals": (r"\bHR \d{2,3}\b", r"\bBP \d{2,3}/\d{2,3}\b", r"\bRR \d{1,2}\b",
               r"\bSpO2 \d{2,3}%"),
    "lab": (r"\bNa \d{3}\b", r"\bK \d\.\d\b", r"\bCr \d\.\d\b", r"\bHgb \d+\.\d\b",
            r"\bINR \d\.\d\b", r"\bWBC \d+\.\d\b", r"\blactate \d\.\d\b"),
    "time": (r"\bat \d{1,2}:\d{2}\b", r"\b\d{1,2}:\d{2} [AP]M\b", r"\b(?:07|19)00-(?:07|19)00\b"),
    "weekday": (r"\b(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b",),
}
PATTERNS: dict[str, re.Pattern[str]] = {
    category: re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)
    for category, patterns in TRAPS.items()
}


def trap_matches(text: str) -> list[tuple[str, int, int]]:
    """(category, start, end) of every trap phrase in ``text``."""
    return [(category, m.start(), m.end()) for category, pattern in PATTERNS.items()
            for m in pattern.finditer(text)]
