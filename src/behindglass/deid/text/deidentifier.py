"""De-identify note text: detect PHI, then replace it with surrogates or tags.

``TextDeidentifier`` is what ingest, the CLI and a site's own scripts call. It holds the
site secret (for consistent surrogates and the per-patient date shift), the site's
deny-lists, and the analyzer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Literal

from behindglass.core.errors import DeidError
from behindglass.deid.dates import shift_days
from behindglass.deid.secret import SiteSecret
from behindglass.deid.text.analyzer import Analyzer, default_registry
from behindglass.deid.text.model import Detection
from behindglass.deid.text.registry import Context
from behindglass.deid.text.site_lists import SiteLists
from behindglass.deid.text.surrogates import Surrogates, shifted_date

Mode = Literal["surrogate", "tag"]
DateMode = Literal["shift", "year", "tag"]
MODES = ("surrogate", "tag")
DATE_MODES = ("shift", "year", "tag")
# STATE is not a Safe Harbor identifier; it is kept unless a site asks otherwise.
DEFAULT_KEEP = frozenset({"STATE"})
_CODES = frozenset({"SSN", "MRN", "HEALTH_PLAN", "ACCOUNT", "LICENSE", "VEHICLE", "DEVICE",
                    "PHONE", "FAX"})


class TextDeidentifier:
    """Detect and replace PHI in free text for one site.

    ``patient`` (in :meth:`detect` and :meth:`deidentify`) is the source person key, the
    same key structured de-identification uses, so a note's dates move with its patient's
    other dates and its surrogate names match across the patient's notes.
    """

    def __init__(self, secret: SiteSecret, *, site_lists: SiteLists | None = None,
                 mode: Mode = "surrogate", date_mode: DateMode = "shift",
                 max_shift_days: int = 365, ner: bool | str = False,
                 keep: frozenset[str] = DEFAULT_KEEP, threshold: float = 0.5) -> None:
        if mode not in MODES:
            raise DeidError(f"unknown text de-identification mode {mode!r}; "
                            f"choose one of {', '.join(MODES)}")
        if date_mode not in DATE_MODES:
            raise DeidError(f"unknown date mode {date_mode!r}; choose one of "
                            f"{', '.join(DATE_MODES)}")
        self.secret = secret
        self.site_lists = site_lists
        self.mode = mode
        self.date_mode = date_mode
        self.max_shift_days = max_shift_days
        self.keep = frozenset(keep)
        self.analyzer = Analyzer(default_registry(ner=ner), threshold=threshold)
        self.surrogates = Surrogates(secret)
        self.replaced: Counter[str] = Counter()

    def detect(self, text: str, *, patient: str | None = None) -> list[Detection]:
        return self.analyzer.analyze(text, Context(self.site_lists, patient))

    def deidentify(self, text: str, *, patient: str | None = None) -> str:
        return self.replace(text, self.detect(text, patient=patient), patient=patient)

    def replace(self, text: str, detections: Sequence[Detection], *,
                patient: str | None = None) -> str:
        """``text`` with every detection replaced (detections must not overlap)."""
        days = self._shift(patient)
        out: list[str] = []
        pos = 0
        for d in sorted(detections, key=lambda x: x.start):
            if d.start < pos:
                raise DeidError("detections overlap; merge them before replacing")
            if d.label in self.keep:
                continue
            out.append(text[pos:d.start])
            out.append(self._replacement(text[d.start:d.end], d.label, patient, days))
            self.replaced[d.label] += 1
            pos = d.end
        out.append(text[pos:])
        return "".join(out)

    def _shift(self, patient: str | None) -> int | None:
        if patient is None or self.date_mode != "shift":
            return None
        return int(shift_days([patient], self.secret, self.max_shift_days)[0])

    def _replacement(self, original: str, label: str, patient: str | None,
                     days: int | None) -> str:
        if self.mode == "tag":
            return f"[{label}]"
        if label == "DATE":
            return shifted_date(original, days, self.date_mode) or "[DATE]"
        if label == "AGE":
            return "90+"
        s = self.surrogates
        makers: dict[str, Callable[[str, str | None], str]] = {
            "NAME": s.name, "EMAIL": s.email, "URL": s.url, "IP": s.ip, "STREET": s.street,
            "CITY": s.city, "INSTITUTION": s.institution, "ZIP": s.zip,
            "STATE": lambda o, p: "[STATE]"}
        if label in makers:
            return makers[label](original, patient)
        if label in _CODES:
            return s.code(original, patient, label)
        return f"[{label}]"
