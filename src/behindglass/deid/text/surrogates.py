"""Replacements for detected PHI: realistic surrogates or redaction tags.

Surrogates "hide in plain sight": a leaked real identifier among fakes is hard to tell
apart. Every surrogate is a keyed function (HMAC with the site secret) of the patient and
the original value, so the same real name becomes the same fake name in every note of a
patient, and differently for another patient or another site. Words of a name are
replaced one by one, so "Ebony Warren", "Mrs. Warren" and "WARREN" stay one person.
Dates move by the patient's shift, the same as the patient's structured dates.
"""

from __future__ import annotations

import re
from functools import lru_cache

from behindglass.deid.geography import load_restricted_zip3
from behindglass.deid.secret import SiteSecret
from behindglass.deid.text import date_text, lexicon
from behindglass.deid.text.tokens import WORD

NAMESPACE = "text-surrogate"
_INSTITUTION_HEAD = re.compile(r"(?i)\b(?:regional\s+|general\s+|community\s+|memorial\s+)?"
                               r"(?:medical\s+cent(?:er|re)|health\s+(?:center|clinic|system)"
                               r"|hospital|clinic|infirmary|institute|health\s*care|hospice)\b.*$")
_PARTICLES = frozenset({"de", "da", "del", "della", "der", "den", "di", "do", "dos", "das",
                        "du", "van", "von", "ter", "la", "le", "y", "e"})
_STREET_SUFFIXES = ("Street", "Avenue", "Road", "Lane", "Court", "Drive", "Place", "Way")
_CITY_SUFFIXES = ("ton", "ville", "field", "burg", "ford", "wood", "port", "dale")


@lru_cache(maxsize=1)
def _pools() -> tuple[tuple[str, ...], tuple[str, ...]]:
    safe = lexicon.safe_words()
    first = tuple(sorted(n for n in lexicon.first_names() if n not in safe and len(n) > 2))
    ranked = sorted(lexicon.surnames().items(), key=lambda kv: kv[1])
    last = tuple(n for n, _ in ranked[:5000] if n not in safe and len(n) > 2)
    return first, last


class Surrogates:
    """Keyed, deterministic surrogates for one site secret."""

    def __init__(self, secret: SiteSecret) -> None:
        self._secret = secret

    def _digest(self, *parts: str) -> bytes:
        mac = self._secret.keyed(NAMESPACE)
        for part in parts:
            mac.update(part.encode("utf-8") + b"\x00")
        return mac.digest()

    def _pick(self, pool: tuple[str, ...], *parts: str) -> str:
        return pool[int.from_bytes(self._digest(*parts)[:8], "big") % len(pool)]

    def name(self, original: str, patient: str | None) -> str:
        first, last = _pools()
        key = patient or ""

        def swap(m: re.Match[str]) -> str:
            word = m.group()
            if word in _PARTICLES:  # "de", "van der": carry no identity, keep the shape
                return word
            if len(word) == 1:  # an initial stays an initial, of the surrogate
                return self._pick(tuple("ABCDEFGHJKLMNPRSTW"), key, "initial", word.lower())
            pool = first if word.lower() in lexicon.first_names() else last
            return _case_like(self._pick(pool, key, "name", word.lower()), word)

        return WORD.sub(swap, original)

    def code(self, original: str, patient: str | None, label: str) -> str:
        """Same shape: each digit a digit, each letter a letter, separators kept."""
        digest = self._digest(patient or "", label, re.sub(r"\W", "", original).lower())
        out = []
        for i, ch in enumerate(original):
            b = digest[i % len(digest)] ^ (i * 31 & 0xFF)
            if ch.isdigit():
                out.append(str(b % 10))
            elif ch.isalpha() and ch.isascii():
                letter = chr(ord("A") + b % 26)
                out.append(letter if ch.isupper() else letter.lower())
            else:
                out.append(ch)
        return "".join(out)

    def email(self, original: str, patient: str | None) -> str:
        _, last = _pools()
        user = self._pick(last, patient or "", "email", original.lower())
        return f"{user}{int.from_bytes(self._digest('n', original)[:2], 'big') % 100}@example.com"

    def url(self, original: str, patient: str | None) -> str:
        token = self.code("a1b2c3d4", patient, "url:" + original).lower()
        return f"https://example.org/{token}"

    def ip(self, original: str, patient: str | None) -> str:
        return f"192.0.2.{self._digest(patient or '', 'ip', original)[0] % 254 + 1}"

    def street(self, original: str, patient: str | None) -> str:
        _, last = _pools()
        number = re.search(r"\d+", original)
        num = self.code(number.group(), patient, "house") if number else "1"
        name = self._pick(last, patient or "", "street", original.lower()).capitalize()
        suffix = self._pick(_STREET_SUFFIXES, patient or "", "suffix", original.lower())
        return _case_like(f"{num.lstrip('0') or '1'} {name} {suffix}", original)

    def city(self, original: str, patient: str | None) -> str:
        _, last = _pools()
        stem = self._pick(last, patient or "", "city", original.lower())
        suffix = self._pick(_CITY_SUFFIXES, patient or "", "csuffix", original.lower())
        return _case_like((stem + suffix).capitalize(), original)

    def institution(self, original: str, patient: str | None) -> str:
        _, last = _pools()
        head = _INSTITUTION_HEAD.search(original)
        stem = self._pick(last, "", "institution", original.lower()).capitalize()
        return _case_like(f"{stem} {head.group() if head else 'Medical Center'}", original)

    def zip(self, original: str, patient: str | None) -> str:
        digits = re.sub(r"\D", "", original)
        if re.fullmatch(r"\d{5}(?:-\d{4})?", original):
            # Safe Harbor allows the ZIP3 (or 000 where fewer than 20,000 people live); the
            # last two digits are keyed noise that never equals the real ones.
            prefix = digits[:3]
            prefix = "000" if prefix in load_restricted_zip3().prefixes else prefix
            tail = int(self.code("00", patient, "zip:" + original))
            if f"{tail:02d}" == digits[3:5]:
                tail = (tail + 1) % 100
            return f"{prefix}{tail:02d}"
        return self.code(original, patient, "zip")


def _case_like(value: str, like: str) -> str:
    letters = [c for c in like if c.isalpha()]
    if letters and all(c.isupper() for c in letters) and len(letters) > 1:
        return value.upper()
    if letters and all(c.islower() for c in letters):
        return value.lower()
    return value[:1].upper() + value[1:] if value.islower() else value


def shifted_date(original: str, days: int | None, date_mode: str) -> str | None:
    """A date in text under ``date_mode`` ("shift", "year" or "tag"); None means tag it."""
    if date_mode == "shift" and days is not None:
        return date_text.shift(original, days)
    if date_mode == "year":
        year = date_text.year_of(original)
        return None if year is None else str(year)
    return None

