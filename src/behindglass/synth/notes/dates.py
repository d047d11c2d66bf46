"""Dates in the many spellings clinicians use, each planted as one DATE span.

Weekday names are not identifiers under Safe Harbor and stay outside the span
("Monday, July 22nd" labels only "July 22nd"). Holidays and seasons with a year
("Christmas 2019", "the summer of 2018") are dates; a bare year is never written, so no
template has to decide whether a lone "2019" is PHI.
"""

from __future__ import annotations

import datetime as dt
import random

from behindglass.synth.notes.builder import Phi, Piece

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
HOLIDAYS = ("Christmas", "Thanksgiving", "New Year's", "Easter", "Labor Day",
            "Fourth of July", "Memorial Day", "Halloween")
SEASONS = ("spring", "summer", "fall", "winter")


def ordinal(day: int) -> str:
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _forms(d: dt.date) -> tuple[str, ...]:
    m, day, y = d.month, d.day, d.year
    month = MONTHS[m - 1]
    return (
        f"{m}/{day}", f"{m:02d}/{day:02d}/{y}", f"{m}/{day}/{y % 100:02d}",
        f"{m:02d}-{day:02d}-{y}",
        d.isoformat(), f"{month[:3]} {day}", f"{month[:3]} {day}, {y}", f"{month} {ordinal(day)}",
        f"{month} {day}, {y}", f"{ordinal(day)} of {month} {y}", f"{day} {month} {y}",
        f"{day:02d}-{month[:3]}-{y}", f"{m}/{day}/{y}", f"{month} {day}",
    )


FORM_COUNT = 14
NUMERIC = (1, 2, 3, 4, 12)  # indexes of all-digit forms, for terse notes and headers


def date_text(d: dt.date, rng: random.Random, forms: tuple[int, ...] | None = None) -> str:
    return _forms(d)[rng.choice(forms) if forms else rng.randrange(FORM_COUNT)]


def date(d: dt.date, rng: random.Random, forms: tuple[int, ...] | None = None,
         weekday: float = 0.08) -> list[Piece]:
    """A DATE span, sometimes preceded by its (unlabelled) weekday."""
    pieces: list[Piece] = []
    if rng.random() < weekday:
        pieces.append(f"{WEEKDAYS[d.weekday()]}, ")
    pieces.append(Phi("DATE", date_text(d, rng, forms)))
    return pieces


def vague(d: dt.date, rng: random.Random) -> list[Piece]:
    """A holiday or season with its year, or a month and year: how histories date things."""
    roll = rng.random()
    if roll < 0.4:
        return [Phi("DATE", f"{rng.choice(HOLIDAYS)} {d.year}")]
    if roll < 0.7:
        return ["the " if rng.random() < 0.5 else "",
                Phi("DATE", f"{SEASONS[(d.month % 12) // 3]} of {d.year}")]
    return [Phi("DATE", f"{MONTHS[d.month - 1]} {d.year}")]


def shift(d: dt.date, days: int) -> dt.date:
    return d + dt.timedelta(days=days)
