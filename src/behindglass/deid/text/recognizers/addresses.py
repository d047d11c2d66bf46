"""Street addresses, cities, states and postal codes.

A street is found by its shape (a house number and a street designator: "5 Hall Court",
"Zobelplatz 96", "Avenida Gamboa 870", "53 Traci Isle Suite 014") or by a phrase that
introduces an address ("Address on file:", "lives at"). The comma-separated parts that
follow a street on the same line are the city, then the state or region with its postal
code. A city is also read from "City, ST" with a US state code, from "home to City,
Region", and from "Hospital (City)".
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from behindglass.deid.text import lexicon
from behindglass.deid.text.model import Detection
from behindglass.deid.text.registry import Context, Recognizer


def _alternation(words: frozenset[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


def _suffix_cases() -> str:
    # "Court", "COURT" and "Ct" but not "court": a lower-case designator is prose.
    words = sorted(lexicon.places()["street_suffixes"], key=len, reverse=True)
    return "|".join(f"{re.escape(w.capitalize())}|{re.escape(w.upper())}" for w in words)


_P = lexicon.places()
_UPPER = r"[A-ZÀ-ÖØ-Þ]"
_NAMEWORD = rf"(?-i:{_UPPER}[\w'’.]{{0,40}})"  # capitalised, also in ALL CAPS
_LINKWORD = r"(?:de|da|do|das|dos|del|la|los|las|van|von|der|den)"
_UNIT = (r"(?:,?[ \t]+(?:apt\.?|apartment|suite|ste\.?|unit|\#|flat|room|bldg\.?|interior"
         r"|int\.?|piso|depto\.?)[ \t]*\#?[ \t]*[\w-]+)?")
_SUFFIX = _alternation(_P["street_suffixes"])
_COMPOUND = _alternation(_P["street_compounds"])
# Short prefixes ("Rua", "Via") in capitals are too often abbreviations ("VIA HFNC").
_PREFIX = "|".join(f"{w.capitalize()}|{w.upper()}" if len(w) > 3 else w.capitalize()
                   for w in sorted((re.escape(x) for x in _P["street_prefixes"]),
                                   key=len, reverse=True))
_WORDS = rf"(?:(?:{_LINKWORD}[ \t]+){{0,2}}{_NAMEWORD}[ \t]+){{0,4}}"
_STREET = re.compile(rf"""(?<![\w-])(?:
      \d{{1,6}}[A-Z]?,?[ \t]+(?:[NSEW]\.?[ \t]+)?(?P<words>(?:{_NAMEWORD}[ \t]+){{1,4}})
      (?-i:{_suffix_cases()})\.?
    | (?:{_NAMEWORD}-)*(?-i:{_UPPER})[^\W\d_]*(?:{_COMPOUND})\.?[ \t]+\d{{1,5}}(?:/\d{{1,4}})?[a-z]?
    | (?-i:{_PREFIX})\.?[ \t]+{_WORDS}?\d{{1,5}}(?:[ \t]\d{{3}})?
    | (?-i:{_PREFIX})[ \t]+(?:{_LINKWORD}[ \t]+){{0,2}}{_NAMEWORD}
      (?:[ \t]+(?:{_LINKWORD}[ \t]+){{0,2}}{_NAMEWORD}){{0,3}}
    ){_UNIT}(?![\w-])""", re.VERBOSE | re.IGNORECASE)
# Words that make "2 MG IV GIVEN PER DR." or "1152 ML. FOLEY IN PLACE" prose, not a street.
_NOT_STREET_WORDS = frozenset({"mg", "mcg", "ml", "l", "g", "kg", "nc", "iv", "po", "pr", "sl",
                               "units", "unit", "given", "per", "in", "on", "at", "to", "of",
                               "the", "and", "via", "foley", "am", "pm", "x", "q", "hr", "hrs",
                               "min", "cm", "mm", "times", "doses", "tabs", "weeks", "days"})
_INTRO = re.compile(r"(?:\baddress(?:\s+on\s+file)?\s*:|\blives\s+(?:w/\s*pt\s+)?at\b"
                    r"|\bresides\s+at\b|\b(?:home|mailing|street)\s+address\s*:?)[ \t]*",
                    re.IGNORECASE)
_POSTAL = re.compile(r"""(?:
      \d{5}(?:-\d{3,4})?                              # US ZIP, BR CEP 01234-567, DE, MX, FR
    | [A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}                # UK N77 1BT
    | [A-Z]\d[A-Z]\s?\d[A-Z]\d                         # CA J1A 9L6
    | \d{4}\s?[A-Z]{2}                                 # NL 3910 MC
    | [A-Z]\d{2}\s?[A-Z\d]{4,5}                        # IE eircode W74HCEP, Y73 3DH2
    | \d{8} | \d{5}-\d{3}                               # BR CEP
    | \d{4}                                            # AT, CH, BE, DK
    )$""", re.VERBOSE | re.IGNORECASE)
# "street, city, region POSTAL" ending a line or sentence: an address whatever its language.
_SEG = r"(?:[^,\n:;|().]|\.(?!\s))"  # no sentence end inside a part
_TAIL = re.compile(rf"(?P<street>{_SEG}{{3,60}}),[ \t]*(?P<city>{_SEG}{{2,40}}),[ \t]*"
                   rf"(?P<region>{_SEG}{{2,40}}?)[ \t]+(?P<zip>[A-Z0-9][A-Z0-9 -]{{2,9}}[A-Z0-9])"
                   rf"(?=[ \t]*(?:\n|$|[.;)]))")
_STATE_CODE = _alternation(_P["us_states"])
_CITY_STATE = re.compile(
    rf"(?<![\w'’.-])(?P<city>[A-Z][\w'’.-]{{0,40}}(?:[ -][A-Z][\w'’.-]{{0,40}}){{0,3}}),\s+"
    rf"(?P<state>{_STATE_CODE.upper()})"
    rf"(?:\s+(?P<zip>\d{{5}}(?:-\d{{3,4}})?))?\b")
_PROSE = frozenset({"lives", "lived", "living", "resides", "moved", "transferred", "from", "to",
                    "in", "at", "near", "visiting", "born"})
_CREDENTIAL_CODES = frozenset({"MD", "PA", "DO", "RN", "NP", "OT", "PT", "RD", "DC"})
_HOME_TO = re.compile(r"\b(?:home\s+to|discharged\s+to|lives\s+in|resides\s+in|moved\s+to"
                      r"|relocated\s+to)\s+(?P<city>[^\W\d_][\w'’.-]*(?:\s+[^\W\d_][\w'’.-]*){0,3}?)"
                      r"(?:,\s+(?P<state>(?-i:[A-Z]{2}\b|[A-Z][\w'’.-]*(?:\s+(?:and\s+)?[A-Z][\w'’.-]*)"
                      r"{0,2})))?"
                      r"(?=\s+(?:later|today|tomorrow|on|by|with|and|in|after|for|last|next|this"
                      r"|since|ago|at|to|from|\d)\b|\s*[.;,\n]|$)",
                      re.IGNORECASE)
_PAREN_CITY = re.compile(r"(?:hospital|cent(?:er|re)|clinic|infirmary)\s*\((?P<city>[^\W\d_]"
                         r"[\w'’. -]{1,40})\)", re.IGNORECASE)
_LOWER_WORDS = frozenset({"los", "las", "de", "del", "da", "do", "dos", "das", "la", "le", "les",
                          "bajos", "altos", "sur", "norte", "upon", "on", "am", "an",
                          "im", "ob", "der", "and", "y", "e", "en"})


def _segment_ok(segment: str, caps: bool) -> bool:
    words = segment.split()
    if not 1 <= len(words) <= 5 or any(c.isdigit() for c in segment):
        return False
    return caps or (words[0][0].isupper() and all(
        w[0].isupper() or w.lower() in _LOWER_WORDS for w in words))


class AddressRecognizer(Recognizer):
    name = "addresses"
    labels = ("STREET", "CITY", "STATE", "ZIP")

    def detect(self, text: str, context: Context) -> Iterator[Detection]:
        streets: list[tuple[int, int]] = [m.span() for m in _STREET.finditer(text)
                                          if _street_words_ok(m.group("words"))]
        for m in _INTRO.finditer(text):
            end = _line_end(text, m.end())
            first = re.match(r"[^,\n]+", text[m.end():end])
            if first and not any(s <= m.end() < e for s, e in streets):
                streets.append((m.end(), m.end() + len(first.group().rstrip(". "))))
        for start, end in streets:
            yield Detection(start, end, "STREET", self.name)
            yield from self._after_street(text, end)
        for m in _TAIL.finditer(text):
            if _POSTAL.match(m.group("zip")) and any(c.isdigit() for c in m.group("zip")):
                street = m.group("street")
                lead = len(street) - len(street.lstrip())
                words = street.split()
                # "Lives at 5 Hall Court": the prose before the house number is not the street.
                while len(words) > 1 and (words[0].lower() in lexicon.common_words()
                                          or words[0].lower() in _PROSE):
                    lead = street.index(words[1], lead + len(words[0]))
                    words = words[1:]
                yield Detection(m.start("street") + lead, m.end("street"), "STREET", self.name)
                yield Detection(*m.span("city"), "CITY", self.name)
                yield Detection(*m.span("region"), "STATE", self.name)
                yield Detection(*m.span("zip"), "ZIP", self.name)
        for m in _CITY_STATE.finditer(text):
            if m.group("state") in _CREDENTIAL_CODES and not m.group("zip"):
                continue  # "Kathleen Rosario, MD": a credential, not Maryland
            start = m.start("city")
            for word in m.group("city").split()[:-1]:  # "LIVES IN BOSTON": prose first
                if word.lower() not in lexicon.common_words() and word.lower() not in _PROSE:
                    break
                start = text.index(word, start) + len(word) + 1
            yield Detection(start, m.end("city"), "CITY", self.name)
            yield Detection(*m.span("state"), "STATE", self.name)
            if m.group("zip"):
                yield Detection(*m.span("zip"), "ZIP", self.name)
        for m in _HOME_TO.finditer(text):
            city = m.group("city")
            if city.lower() in lexicon.common_words() or not (city[0].isupper()):
                continue
            yield Detection(*m.span("city"), "CITY", self.name, 0.9)
            if m.group("state"):
                yield Detection(*m.span("state"), "STATE", self.name, 0.9)
        for m in _PAREN_CITY.finditer(text):
            yield Detection(*m.span("city"), "CITY", self.name)

    def _after_street(self, text: str, pos: int) -> Iterator[Detection]:
        end = _line_end(text, pos)
        caps = text[pos:end].isupper()
        parts = 0
        while parts < 3:
            m = re.match(r",\s*([^,\n;]+?)(?=,|;|\n|\.\s|\.$|$)", text[pos:end])
            if not m:
                return
            seg_start = pos + m.start(1)
            segment = m.group(1).rstrip(" .;)")
            seg_end = seg_start + len(segment)
            postal = _split_postal(segment)
            if postal is not None:
                region_end = seg_start + postal
                region = text[seg_start:region_end].rstrip()
                if region and parts >= 1:
                    yield Detection(seg_start, seg_start + len(region), "STATE", self.name)
                elif region:
                    yield Detection(seg_start, seg_start + len(region), "CITY", self.name)
                yield Detection(region_end, seg_end, "ZIP", self.name)
                return
            if not _segment_ok(segment, caps):
                return
            label = "CITY" if parts == 0 else "STATE"
            yield Detection(seg_start, seg_end, label, self.name)
            pos, parts = seg_end, parts + 1


def _street_words_ok(words: str | None) -> bool:
    return words is None or not any(w.strip(".").lower() in _NOT_STREET_WORDS
                                    for w in words.split())


def _split_postal(segment: str) -> int | None:
    """Offset in ``segment`` where a trailing postal code starts, if it ends with one."""
    words = segment.split(" ")
    for take in (2, 1):
        if len(words) > take - 1:
            tail = " ".join(words[-take:])
            if _POSTAL.match(tail) and any(c.isdigit() for c in tail):
                return len(segment) - len(tail)
    return None


def _line_end(text: str, pos: int) -> int:
    newline = text.find("\n", pos)
    return len(text) if newline < 0 else newline
