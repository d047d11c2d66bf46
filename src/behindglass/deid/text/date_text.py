"""Read a date as written in a note and write it back moved, in the same style.

"07/22/2019" shifted by -30 days is "06/22/2019"; "Jul 22" is "Jun 22"; "22nd of July,
2019" is "22nd of June, 2019"; "2019-07-22" is "2019-06-22". Month-first is assumed for
ambiguous numeric dates (US notes) unless the first number cannot be a month. A date
without a year is shifted within a leap year so that February 29 survives. Holidays
become the shifted calendar date; seasons keep their word and take the shifted year.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from behindglass.deid.text.recognizers.patterns import MONTHS

_NUMERIC = re.compile(r"^(?P<a>\d{1,4})(?P<s>[-/.])(?P<b>\d{1,2})(?:(?P=s)(?P<c>\d{2,4}))?$")
_MONTH_WORD = re.compile(r"[A-Za-z]+\.?")
_HOLIDAYS = {"christmas": (12, 25), "xmas": (12, 25), "halloween": (10, 31),
             "independence day": (7, 4), "fourth of july": (7, 4), "4th of july": (7, 4),
             "new year's day": (1, 1), "new years day": (1, 1), "new year's": (1, 1),
             "new year's eve": (12, 31), "valentine's day": (2, 14)}
_SEASON = re.compile(r"(?P<lead>.*?\b(?:spring|summer|fall|autumn|winter)\b(?:\s+of)?\s+)"
                     r"(?P<year>\d{4})$", re.IGNORECASE)
_SEASON_MONTH = {"spring": 4, "summer": 7, "fall": 10, "autumn": 10, "winter": 1}
_LEAP = 2000


@dataclass(frozen=True)
class ParsedDate:
    date: dt.date
    has_year: bool


def parse(text: str) -> ParsedDate | None:
    """The calendar date a detected date string names, when it names one."""
    s = text.strip()
    m = _NUMERIC.match(s)
    if m:
        return _numeric(m)
    low = " ".join(s.lower().replace(",", " ").split())
    for name, (month, day) in _HOLIDAYS.items():
        if low.startswith(name):
            year = re.search(r"\d{4}", low)
            return _make(int(year.group()) if year else None, month, day)
    season = _SEASON.match(s)
    if season:
        word = re.search(r"spring|summer|fall|autumn|winter", s, re.IGNORECASE)
        assert word is not None
        return _make(int(season.group("year")), _SEASON_MONTH[word.group().lower()], 15)
    month = _month_of(s)
    if month is None:
        return None
    numbers = [int(x) for x in re.findall(r"\d+", s)]
    year = next((n for n in numbers if n >= 1000), None)
    days = [n for n in numbers if n < 100]
    return _make(year, month, days[0] if days else 1) if days or year else None


def shift(text: str, days: int) -> str | None:
    """``text`` with its date moved by ``days``; None if the text is not a readable date."""
    parsed = parse(text)
    if parsed is None:
        return None
    moved = parsed.date + dt.timedelta(days=days)
    s = text.strip()
    m = _NUMERIC.match(s)
    if m:
        return _render_numeric(m, moved)
    low = s.lower()
    if any(low.startswith(h) for h in _HOLIDAYS):
        return (moved.strftime("%B ") + str(moved.day)
                + (f", {moved.year}" if parsed.has_year else ""))
    season = _SEASON.match(s)
    if season:
        return season.group("lead") + str(moved.year)
    return _render_named(s, moved, parsed.has_year)


def year_of(text: str) -> int | None:
    parsed = parse(text)
    return parsed.date.year if parsed and parsed.has_year else None


def _make(year: int | None, month: int, day: int) -> ParsedDate | None:
    try:
        return ParsedDate(dt.date(year or _LEAP, month, day), year is not None)
    except ValueError:
        return None


def _numeric(m: re.Match[str]) -> ParsedDate | None:
    a, b, c = m.group("a"), int(m.group("b")), m.group("c")
    if len(a) == 4:  # 2019-07-22
        return _make(int(a), b, int(c)) if c else None
    first = int(a)
    year = None if c is None else _full_year(c)
    if first > 12:  # day first: 22/07/2019
        return _make(year, b, first)
    return _make(year, first, b)


def _full_year(c: str) -> int:
    if len(c) == 4:
        return int(c)
    two = int(c)
    return 2000 + two if two <= (dt.date.today().year % 100) else 1900 + two


def _render_numeric(m: re.Match[str], moved: dt.date) -> str:
    a, sep, b, c = m.group("a"), m.group("s"), m.group("b"), m.group("c")
    if len(a) == 4:  # ISO and its kin are always fixed width
        return f"{moved.year}{sep}{moved.month:02d}{sep}{moved.day:02d}"
    day_first = int(a) > 12
    first, second = (moved.day, moved.month) if day_first else (moved.month, moved.day)
    # A leading zero anywhere means a fixed-width style ("07/22/2019"); else none ("7/4").
    width = "02" if a.startswith("0") or b.startswith("0") else ""
    out = f"{first:{width}d}{sep}{second:{width}d}"
    if c is not None:
        out += sep + (str(moved.year) if len(c) == 4 else f"{moved.year % 100:02d}")
    return out


def _month_of(s: str) -> int | None:
    for word in _MONTH_WORD.findall(s):
        w = word.rstrip(".").lower()
        for i, name in enumerate(MONTHS, start=1):
            if (len(w) >= 3 and name.startswith(w)) or (w == "sept" and i == 9):
                return i
    return None


def _render_named(s: str, moved: dt.date, has_year: bool) -> str:
    """Replace the month word, the day number and the year in place."""
    out = s
    for word in _MONTH_WORD.findall(s):
        w = word.rstrip(".")
        if _month_of(w) is not None and not re.fullmatch(
                r"(?i)mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun|\w+day", w):
            full = MONTHS[moved.month - 1]
            new = full if len(w) > 4 or w.lower() in MONTHS else (
                "sept" if full == "september" and len(w) == 4 else full[:3])
            new = new.upper() if w.isupper() else new.capitalize() if w[0].isupper() else new
            out = out.replace(w, new, 1)
            break
    out = re.sub(r"\b\d{4}\b", str(moved.year), out, count=1) if has_year else out
    out = re.sub(r"\b(?<!\d)(\d{1,2})(st|nd|rd|th|ST|ND|RD|TH)?\b(?!\d)",
                 lambda m: _day(moved.day, m.group(1), m.group(2)), out, count=1)
    # A weekday no longer matches the moved date: drop it rather than state a false day.
    return re.sub(r"^(?i:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,?\s+)", "", out)


def _day(day: int, digits: str, suffix: str | None) -> str:
    text = f"{day:02d}" if digits.startswith("0") else str(day)
    if not suffix:
        return text
    ordinal = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return text + (ordinal.upper() if suffix.isupper() else ordinal)
