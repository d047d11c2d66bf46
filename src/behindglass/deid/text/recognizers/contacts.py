"""Phone and fax numbers, e-mail addresses, URLs and IP addresses.

A phone number is a run of 7 to 15 digits in groups (national and international forms);
the word "fax" shortly before or after makes it a FAX. Runs that are dates, times or
measurements do not have the group shape and are not matched.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from behindglass.deid.text.model import Detection
from behindglass.deid.text.recognizers.patterns import PatternRecognizer
from behindglass.deid.text.registry import Context, Recognizer

_PHONE = re.compile(r"""
    (?<![\w.+/-])(?:
        \+\d{1,3}[\s.-]?(?:\(\d{1,4}\)[\s.-]?)?\d{1,4}(?:[\s.-]\d{2,8}){1,4}      # +1 615 595 9570
      | \(\d{2,4}\)\s?\d{3,5}[\s.-]?\d{3,5}                                   # (312) 973-3527
      | \d{3}[.-]\d{3}[.-]\d{4}                                               # 847.985.1790
      | \d{3}\s\d{3}\s\d{4}                                                   # 087 464 2422
      | 0\d{1,4}[\s-]\d{3,8}(?:[\s-]\d{3,5})?                                 # 0171 0034403
      | \d{2}\s\d{4}\s\d{4}                                                   # 55 0095 2056
      | 0\d(?:[\s.]\d{2}){4}                                                  # 01 34 37 71 95
      | \d{3}-\d{4}                                                           # 555-1234
    )(?:\s?(?:x|ext\.?)\s?\d{1,5})?(?![\w/]|[.-]\d)""", re.VERBOSE | re.IGNORECASE)
# "0700-1900": a nursing shift, not a number to call.
_SHIFT = re.compile(r"(?:[01]\d|2[0-3])[0-5]\d-(?:[01]\d|2[0-3])[0-5]\d")
_FAX_NEAR = re.compile(r"\bfax(?:ed)?\b[^\n\d]{0,30}$", re.IGNORECASE)
_FAX_AFTER = re.compile(r"\)?\s*\(?fax\b", re.IGNORECASE)
_PHONE_NEAR = re.compile(r"\b(?:phone|tel|cell|call|mobile|pager|contact)\b[^\n\d]{0,20}$",
                         re.IGNORECASE)
_EMAIL = re.compile(r"(?<![\w.%+-])[\w.%+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){0,8}\.[a-z]{2,24}\b",
                    re.IGNORECASE)
_URL = re.compile(r"""\b(?:(?:https?|ftp)://|www\.)[^\s<>"')\]]+[^\s<>"')\].,;:!?]
                      |(?<![\w.-])[\w-]{1,63}(?:\.[\w-]{1,63}){0,8}\.(?:com|org|net|edu|gov|io|me|info|us|uk|de|nl
                         |fr|br|mx|ie|ca|health|care)/[^\s<>"')\]]*[^\s<>"')\].,;:!?]""",
                  re.VERBOSE | re.IGNORECASE)
_IPV4 = re.compile(r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}"
                   r"(?:25[0-5]|2[0-4]\d|1?\d?\d)(?!\w|\.\d)")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}(?![\w:])", re.IGNORECASE)


class PhoneRecognizer(Recognizer):
    name = "phones"
    labels = ("PHONE", "FAX")

    def detect(self, text: str, context: Context) -> Iterator[Detection]:
        for m in _PHONE.finditer(text):
            if _SHIFT.fullmatch(m.group()):
                continue
            digits = sum(c.isdigit() for c in m.group())
            if digits < 7 and not _PHONE_NEAR.search(text, max(0, m.start() - 30), m.start()):
                continue
            before = text[max(0, m.start() - 40):m.start()]
            fax = bool(_FAX_NEAR.search(before)) or bool(_FAX_AFTER.match(text, m.end()))
            yield Detection(m.start(), m.end(), "FAX" if fax else "PHONE", self.name)


class EmailRecognizer(PatternRecognizer):
    name = "emails"
    labels = ("EMAIL",)
    patterns = (_EMAIL,)


class UrlRecognizer(PatternRecognizer):
    name = "urls"
    labels = ("URL",)
    patterns = (_URL,)


class IpRecognizer(PatternRecognizer):
    name = "ips"
    labels = ("IP",)
    patterns = (_IPV4, _IPV6)
