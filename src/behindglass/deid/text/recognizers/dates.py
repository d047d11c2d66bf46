"""Dates in the forms clinicians write them, and the holidays and seasons that date events.

Numeric dates are checked for a plausible month and day, and ratios that share their shape
(blood pressure 124/92, "25/100 mg", ventilator settings 14/450/5/40) are skipped by
context. Years alone are not PHI under Safe Harbor and are not reported.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from behindglass.deid.text.model import Detection
from behindglass.deid.text.recognizers.patterns import MONTH, ORDINAL, WEEKDAY, compile_ci
from behindglass.deid.text.registry import Context, Recognizer

_YEAR = r"(?:1[89]\d\d|20\d\d)"
_DAY = rf"(?:[0-3]?\d{ORDINAL}?)"
_NAMED = compile_ci(rf"""
    \b(?:{WEEKDAY},?\s+)?(?:
        (?:the\s+)?{_DAY}\s+(?:of\s+)?{MONTH}(?:,?\s+{_YEAR}\b|\b(?![-/]))    # 22nd of July 2019
      | {MONTH}\s*{_DAY}\b(?:,?\s*{_YEAR}\b)?                                 # Jul 22, 2019
      | {MONTH},?\s+{_YEAR}\b                                                 # July 2019
      | {_DAY}[-\s]{MONTH}[-\s]{_YEAR}\b                                      # 19-Sep-2019
      | {_DAY}[-]{MONTH}\b                                                    # 19-Sep
    )""")
_NUMERIC = re.compile(r"""
    (?<![\w./+-])(?:
        (?P<ymd>(?:1[89]|20)\d\d[-/.](?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01]))   # 2019-07-22
      | (?P<mdy>(?P<a>\d{1,2})(?P<sep>[-/.])(?P<b>\d{1,2})(?:(?P=sep)(?P<y>\d{4}|\d{2}))?)
      | (?P<my>(?:0?[1-9]|1[0-2])/(?:1[89]|20)\d\d)                                     # 07/2019
    )(?![\w/+]|\.\d|-\d)""", re.VERBOSE)
_HOLIDAY = compile_ci(rf"""
    \b(?:(?:christmas|xmas|thanksgiving|easter|new\s+year'?s(?:\s+(?:day|eve))?|halloween
        |independence\s+day|fourth\s+of\s+july|4th\s+of\s+july|labor\s+day|memorial\s+day
        |valentine'?s\s+day|mother'?s\s+day|father'?s\s+day|hanukkah|ramadan|passover
        |diwali)(?:\s+(?:day|eve))?(?:\s+(?:of\s+)?{_YEAR})?
      |(?:(?:early|late|mid)[-\s])?(?:spring|summer|fall|autumn|winter)\s+(?:of\s+)?{_YEAR}
    )\b""")
# A month named alone dates an event too ("not seen since November"); "May" and "March"
# are also words and count only after a preposition.
_MONTH_ALONE = re.compile(
    r"\b(?:(?-i:January|February|April|June|July|August|September|October|November|December"
    r"|JANUARY|FEBRUARY|APRIL|JUNE|JULY|AUGUST|SEPTEMBER|OCTOBER|NOVEMBER|DECEMBER)"
    r"|(?:(?<=since\s)|(?<=until\s)|(?<=in\s)|(?<=early\s)|(?<=late\s)|(?<=of\s)|(?<=mid-))"
    r"(?:january|february|march|april|may|june|july|august|september|october|november"
    r"|december))\b",
    re.IGNORECASE)
# Words just before a slash pair that make it a ratio, not a date.
_RATIO_BEFORE = re.compile(r"(?:\bbp|\bb/p|blood pressure|\bvent|\bac|\bsimv|\bpeep|\bps"
                           r"|\bbipap|\bcpap|\bpain|\bstrength|\bpower|\bgrade|\bmurmur|\bapgars?"
                           r"|\breflexes|\brated|\bd5|\bd10|\bmotor|\bratio|\bscore|\bx|\bcarbidopa-levodopa|\bsinemet|\bg|\bp)"
                           r"[\s:]*$", re.IGNORECASE)
_DATE_WORD_BEFORE = re.compile(
    r"(?:^|\n|\bon|\bsince|\buntil|\bfrom|\bto|\bdated?|\bdob|\bby|\bbefore|\bafter|\bseen"
    r"|\bvisit|\bthrough|\bdue|\badmitted|\bdischarged|\bscheduled(?:\s+for)?|\breported"
    r"|\breceived|\bcollected|\bstay|\bfor|\b(?:mon|tues|wednes|thurs|fri|satur|sun)day,?)"
    r"[ \t]*:?[ \t]*$", re.IGNORECASE)
# A date standing on its own line or followed by a clock time.
_DATE_AFTER = re.compile(r"[ \t]*(?:\n|$|\d{1,2}:\d{2})")
_UNIT_AFTER = re.compile(r"\s*(?:mg|mcg|g\b|ml|mmhg|units?|%|cm|mm|kg|lb|meq|mmol|x\b)",
                         re.IGNORECASE)


def _plausible(m: re.Match[str], text: str) -> bool:
    if m.group("ymd") or m.group("my"):
        return True
    a, b, year = int(m.group("a")), int(m.group("b")), m.group("y")
    if year is None and m.group("sep") == "/" and 1 <= a <= 12 and b > 31 \
            and len(m.group("b")) == 2 and not _RATIO_BEFORE.search(text[max(0, m.start() - 24):
                                                                          m.start()]):
        return not _UNIT_AFTER.match(text, m.end())  # month/year: "CABG in 3/80"
    month_first = 1 <= a <= 12 and 1 <= b <= 31
    day_first = 1 <= b <= 12 and 1 <= a <= 31
    if not (month_first or day_first):
        return False
    before = text[max(0, m.start() - 24):m.start()]
    if _RATIO_BEFORE.search(before) or _UNIT_AFTER.match(text, m.end()):
        return False
    if year is None:
        # A bare "a/b" is a date only with a slash or dash and no decimal point: 3.5 is not.
        if m.group("sep") == ".":
            return False
        # "2/3 of" and "0/14 involved" read as fractions; "4/5", "2/6", "7/10" are scales
        # (strength, murmurs, pain) unless a date word comes right before.
        if re.match(r"\s+(?:of|involved|positive|negative|ns|normal|strength|power|systolic"
                    r"|diastolic|murmur)\b", text[m.end():], re.IGNORECASE):
            return False
        scale = b in (4, 5, 6, 10) and a <= b
        return not scale or bool(_DATE_WORD_BEFORE.search(before)) \
            or bool(_DATE_AFTER.match(text, m.end()))
    return True


class DateRecognizer(Recognizer):
    name = "dates"
    labels = ("DATE",)

    def detect(self, text: str, context: Context) -> Iterator[Detection]:
        for m in _NAMED.finditer(text):
            yield Detection(m.start(), m.end(), "DATE", self.name)
        for m in _MONTH_ALONE.finditer(text):
            yield Detection(m.start(), m.end(), "DATE", self.name)
        for m in _HOLIDAY.finditer(text):
            yield Detection(m.start(), m.end(), "DATE", self.name)
        for m in _NUMERIC.finditer(text):
            if _plausible(m, text):
                yield Detection(m.start(), m.end(), "DATE", self.name)
