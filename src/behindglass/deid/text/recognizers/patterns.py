"""Regular-expression building blocks shared by the rule recognizers.

Every pattern is written for mixed-case text and compiled case-insensitively where the
words are keywords, so ALL-CAPS nursing notes match the same rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from behindglass.deid.text.model import Detection
from behindglass.deid.text.registry import Context, Recognizer

MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december")
# "Sept" is common in notes; "Mar" and "May" are also words, handled by requiring a day/year.
MONTH = (r"(?:jan(?:uary|\.)?|feb(?:ruary|\.)?|mar(?:ch|\.)?|apr(?:il|\.)?|may|jun(?:e|\.)?"
         r"|jul(?:y|\.)?|aug(?:ust|\.)?|sep(?:t(?:ember)?)?\.?|oct(?:ober|\.)?|nov(?:ember|\.)?"
         r"|dec(?:ember|\.)?)")
WEEKDAY = (r"(?:mon(?:day)?|tue(?:s(?:day)?)?|wed(?:nesday)?|thu(?:r(?:s(?:day)?)?)?"
           r"|fri(?:day)?|sat(?:urday)?|sun(?:day)?)")
ORDINAL = r"(?:st|nd|rd|th)"


def compile_ci(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE | re.VERBOSE)


def spans_of(pattern: re.Pattern[str], text: str, label: str, source: str,
             group: int | str = 0, score: float = 1.0) -> Iterator[Detection]:
    for m in pattern.finditer(text):
        start, end = m.span(group)
        if start < end:
            yield Detection(start, end, label, source, score)


def word_set(words: Iterable[str]) -> frozenset[str]:
    return frozenset(w.strip().lower() for w in words if w.strip())


class PatternRecognizer(Recognizer):
    """A recognizer that is nothing but regular expressions for one label."""

    patterns: tuple[re.Pattern[str], ...] = ()

    def detect(self, text: str, context: Context) -> Iterator[Detection]:
        for pattern in self.patterns:
            yield from spans_of(pattern, text, self.labels[0], self.name)
