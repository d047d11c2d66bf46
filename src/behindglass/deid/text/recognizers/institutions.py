"""Hospitals, clinics and other care institutions named in a note.

A run of capitalised words ending in an institution head word ("... Regional Medical
Center", "... Family Health Clinic", "St. Jude Children's Research Hospital") or of the
form "University of ... Medical Center". Departments and services ("Department of
Radiology") are not institutions and are not matched.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from behindglass.deid.text.model import Detection
from behindglass.deid.text.registry import Context, Recognizer

_HEAD = (r"(?:Medical\s+Cent(?:er|re)|Health\s+Cent(?:er|re)|Cancer\s+Cent(?:er|re)"
         r"|Surgical\s+Cent(?:er|re)|Rehabilitation\s+(?:Cent(?:er|re)|Hospital|Institute)"
         r"|Heart\s+Institute|Eye\s+Institute|Health\s+Clinic|Health\s+System|Healthcare"
         r"|Health\s+Care|Hospital|Infirmary|Clinic|Sanatorium|Hospice|Nursing\s+Home"
         r"|Nursing\s+(?:and\s+)?Rehab(?:ilitation)?|Care\s+Cent(?:er|re)|Medical\s+Group"
         r"|Health|Institute|Polyclinic|Urgent\s+Care|Dialysis\s+Cent(?:er|re)|Memorial"
         r"|Emergency\s+Dep(?:artmen)?t|Medical\s+Associates)")
# Bounded word lengths and one way to read a hyphen (inside a word) keep matching linear on
# long runs such as "Ab-Ab-Ab-..." or dashed separator lines.
_WORD = r"(?:St\.|Saint|Mt\.|[A-Z][\w'’.]{0,30}(?:-[A-Z][\w'’.]{0,30}){0,3})"
_WORD_CAPS = r"(?:ST\.|SAINT|MT\.|[A-Z][A-Z'’.]{0,30}(?:-[A-Z][A-Z'’.]{0,30}){0,3})"
_LINK = r"(?:[ \t]+(?:of|the|for|de|del|la|&)[ \t]+|[ \t]+)"


def _pattern(head: str, word: str, link: str, university: str) -> re.Pattern[str]:
    return re.compile(
        rf"(?<![\w-])(?:{university}\s+(?:{word}\s+){{0,4}}{head}"
        rf"|{word}(?:{link}{word}){{0,5}}\s+{head}(?:\s+(?:of|at|OF|AT)\s+{word}(?:\s+{word})?)?)"
        rf"(?![\w-])")


def _upper_words(pattern: str) -> str:
    # Upper-case the literal words of a pattern, leaving escapes such as \s alone.
    return re.sub(r"(?<![\\\w])([A-Za-z]+)", lambda m: m.group(1).upper(), pattern)


_INSTITUTION = _pattern(_HEAD, _WORD, _LINK, r"University\s+of")
_INSTITUTION_CAPS = _pattern(_upper_words(_HEAD), _WORD_CAPS, _upper_words(_LINK),
                             r"UNIVERSITY\s+OF")
_NOT_START = re.compile(r"^(?:(?:the|a|an|at|to|from|in|our|your|his|her|this|seen|via|per"
                        r"|transferred|transfer|admitted|discharged|arrived|returned|sent|called|referred)\s+)+",
                        re.IGNORECASE)
_GENERIC = re.compile(r"^(?:the\s+)?(?:local|community|outside|another|same)?\s*(?:hospital"
                      r"|clinic|medical\s+center|health)$", re.IGNORECASE)


class InstitutionRecognizer(Recognizer):
    name = "institutions"
    labels = ("INSTITUTION",)

    def detect(self, text: str, context: Context) -> Iterator[Detection]:
        for pattern in (_INSTITUTION, _INSTITUTION_CAPS):
            for m in pattern.finditer(text):
                start, found = m.start(), m.group()
                lead = _NOT_START.match(found)
                while lead:
                    start, found = start + lead.end(), found[lead.end():]
                    lead = _NOT_START.match(found)
                if " " not in found.strip() or _GENERIC.match(found):
                    continue
                yield Detection(start, m.end(), "INSTITUTION", self.name)

