"""Ages over 89 (Safe Harbor C): "93-year-old", "93 y/o", "age 93", "alive at 95"."""

from __future__ import annotations

from collections.abc import Iterator

from behindglass.deid.text.model import Detection
from behindglass.deid.text.recognizers.patterns import compile_ci
from behindglass.deid.text.registry import Context, Recognizer

_OVER_89 = r"(?:9\d|1[0-2]\d)"
_AGE = compile_ci(rf"""
    \b(?P<a>{_OVER_89})(?=\s*(?:-|\s)?\s*(?:y(?:ea)?rs?(?:[-\s]old)?|y\.?\s?o\.?|y/o|yo|yr|y\b)
                  |\s*(?:/|-)\s*(?:m|f|male|female)\b)
  | (?:\bage[ds]?|\baged|\bat\s+age|(?:alive|died|death|passed\s+away)\s+at(?:\s+age)?
       |age/sex:?)\s*:?\s*(?P<b>{_OVER_89})\b
  | \b(?:ninety|one\s+hundred)(?:[-\s](?:one|two|three|four|five|six|seven|eight|nine))?
       (?=[-\s]y(?:ea)?rs?[-\s]old)
""")


class AgeRecognizer(Recognizer):
    name = "ages"
    labels = ("AGE",)

    def detect(self, text: str, context: Context) -> Iterator[Detection]:
        for m in _AGE.finditer(text):
            group = "a" if m.group("a") else "b" if m.group("b") else 0
            start, end = m.span(group)
            yield Detection(start, end, "AGE", self.name)
