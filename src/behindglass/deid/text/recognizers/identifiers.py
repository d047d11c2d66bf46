"""Record numbers and other identifiers: SSN, MRN, account, health plan, licence, device and
vehicle numbers.

Two kinds of evidence. A context word ("MRN", "acct", "member ID", "serial", "plate",
"NPI", ...) names the class of the identifier that follows it. Without one, a token that
looks like an identifier (a long digit run, or letters and digits mixed) is still reported,
as MRN, because an unexplained record number in a note is almost always one (recall first).
Tokens that are measurements, doses, dates, times or clinical codes do not have that shape.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from behindglass.deid.text.model import Detection
from behindglass.deid.text.registry import Context, Recognizer

# context word -> label; longest alternatives first so "medical record number" wins over "number".
_CONTEXT: tuple[tuple[str, str], ...] = (
    (r"social\s+security(?:\s+(?:number|no\.?|#))?|\bssn\b|\bss#", "SSN"),
    (r"medical\s+record(?:\s+(?:number|no\.?|#))?|\bmrn\b|\bmr\s?#|\bmr\s+(?:number|no\.?)"
     r"|\bunit\s+(?:number|no\.?)|\bhospital\s+(?:number|no\.?)|\bchart\s*(?:#|number|no\.?)",
     "MRN"),
    (r"(?:visit\s+|billing\s+)?account(?:\s+(?:number|no\.?))?\s*#?|\bacct\.?\s*#?|\bhar\b"
     r"|\bfin\b|\bencounter\s+(?:number|no\.?|#)", "ACCOUNT"),
    (r"health\s+plan(?:\s+member)?(?:\s+id)?|member\s+id(?:\s+is)?|\bplan\s+id|policy"
     r"(?:\s+(?:number|no\.?|#))?|insurance\s+(?:id|number|no\.?)|subscriber\s+id|medicaid"
     r"(?:\s+id)?|medicare(?:\s+id)?|\bmbi\b", "HEALTH_PLAN"),
    (r"driver'?s\s+licen[cs]e(?:\s+(?:number|no\.?|#))?|\blicen[cs]e\s*(?:number|no\.?|#)?"
     r"|\bnpi\b|\bdea\b|\bupin\b|\bdl\s*#?|passport(?:\s+(?:number|no\.?|#))?", "LICENSE"),
    (r"serial(?:\s+(?:number|no\.?|#))?\s*#?|\bs/n\b|\bsn\b|\budi\b|\bmodel\s+(?:number|no\.?)"
     r"|\bdevice\s+id|\blot\s+(?:number|no\.?|#)", "DEVICE"),
    (r"(?:license|licence|vehicle)\s+plate|\bplate\s*(?:number|no\.?|#)?|\btag\s+#|\bvin\b",
     "VEHICLE"),
)
_CONTEXT_RE = [(re.compile(rf"(?:{p})\s*(?:[:#=]|is|was)?\s*$", re.IGNORECASE), label)
               for p, label in _CONTEXT]
# One identifier token: letters/digits with inner separators, at least 3 digits... or the UDI
# carrier form (01)...(17)...(21)...
_TOKEN = re.compile(r"""(?<![\w@/.-])(?:
      (?:\(\d{2}\)[0-9A-Z-]+){2,}              # GS1 UDI: (01)...(17)...(21)...
    | \d{3}\s\d{2}\s\d{4}                     # SSN written with spaces
    | [A-Z]+\d+[A-Z0-9]*/\d{3,}                   # "XW277/90683": letters, a slash
    | [A-Z0-9]+(?:[-.][A-Z0-9]+)*
    )(?![\w@/]|[.-]\w)""", re.VERBOSE | re.IGNORECASE)
# A plate written with a space ("WV 7035", "JKP 761") is only read after its context word.
_PLATE = re.compile(r"\bplate\s*(?:number|no\.?|#)?\s*[:#]?\s*"
                    r"(?P<plate>[A-Z0-9]{1,4}[\s-][A-Z0-9]{2,5})\b", re.IGNORECASE)
_DIGITS = re.compile(r"\d")
# Shapes that are clinical, not identifiers: doses, vitals, lab values, codes, times.
_CLINICAL = re.compile(r"""^(?:
      \d{1,4}(?:\.\d+)?                          # a number up to 4 digits (1000 mg, 0400)
    | [A-Z]\d{2}(?:\.\d{1,4})?                   # ICD-10 code shape E11.9
    | \d{1,3}[A-Z]{1,3}                           # 20G, 4L, 2S
    | [A-Z]{1,4}\d{1,2}                           # T1b, N0, SL12? (short)
    | [A-Z]{1,2}\d[A-Z]\d?                        # pT1b, C5a
    | 0\.\d+ | \d+(?:\.\d+)?(?:MG|MCG|ML|G|L|MM|CM|KG|MMHG|MEQ|U|IU|H|HR|HRS|MIN)
    )$""", re.VERBOSE | re.IGNORECASE)


_RANGE = re.compile(r"(\d{1,4})-(\d{1,4})")


def _is_range_or_shift(token: str) -> bool:
    """"250-300" (a range) and "1900-0700" (a nursing shift) are not identifiers."""
    m = _RANGE.fullmatch(token)
    if not m:
        return False
    a, b = m.group(1), m.group(2)
    clock = len(a) == len(b) == 4 and int(a[:2]) < 24 and int(b[:2]) < 24 \
        and int(a[2:]) < 60 and int(b[2:]) < 60
    return clock or int(a) < int(b)


def _shape_is_identifier(token: str) -> bool:
    if _is_range_or_shift(token):
        return False
    digits = len(_DIGITS.findall(token))
    if digits < 4 or _CLINICAL.match(token):
        return False
    if "/" in token:
        return True
    if " " in token:  # the spaced shapes above are identifiers only with a context word
        return bool(re.fullmatch(r"\d{3} \d{2} \d{4}", token))
    compact = re.sub(r"[-.]", "", token)
    letters = sum(c.isalpha() for c in compact)
    # Five or more digits, or letters and at least four digits mixed (MR2738791, 7SN3-ZT2-AB09).
    return digits >= 5 or (letters >= 1 and digits >= 4)


class IdentifierRecognizer(Recognizer):
    name = "identifiers"
    labels = ("SSN", "MRN", "ACCOUNT", "HEALTH_PLAN", "LICENSE", "DEVICE", "VEHICLE")

    def detect(self, text: str, context: Context) -> Iterator[Detection]:
        for m in _PLATE.finditer(text):
            yield Detection(*m.span("plate"), "VEHICLE", self.name)
        for m in _TOKEN.finditer(text):
            token = m.group()
            label = self._context_label(text, m.start())
            score = 1.0
            if label is None:
                if not _shape_is_identifier(token):
                    continue
                # Without a context word the class is a guess; a phone or ZIP rule that
                # found the same span names it better.
                label = "SSN" if re.fullmatch(r"\d{3}[- ]\d{2}[- ]\d{4}", token) else "MRN"
                score = 0.95
            elif not any(c.isdigit() for c in token):
                continue
            yield Detection(m.start(), m.end(), label, self.name, score)

    @staticmethod
    def _context_label(text: str, start: int) -> str | None:
        before = text[max(0, start - 40):start]
        for pattern, label in _CONTEXT_RE:
            if pattern.search(before):
                return label
        return None
