"""Run the registered recognizers over a text and merge what they found.

Recall first: every detection at or above the threshold is kept, and overlapping ones are
merged into one span (the union), labelled by the longest detection inside it. Then names
are propagated: a name found once by strong evidence ("Mrs. Warren", a credential, a site
list) is found again wherever else its words occur in the same text ("Warren agreed").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from behindglass.deid.text import lexicon
from behindglass.deid.text.model import Detection
from behindglass.deid.text.recognizers.addresses import AddressRecognizer
from behindglass.deid.text.recognizers.ages import AgeRecognizer
from behindglass.deid.text.recognizers.contacts import (
    EmailRecognizer,
    IpRecognizer,
    PhoneRecognizer,
    UrlRecognizer,
)
from behindglass.deid.text.recognizers.dates import DateRecognizer
from behindglass.deid.text.recognizers.identifiers import IdentifierRecognizer
from behindglass.deid.text.recognizers.institutions import InstitutionRecognizer
from behindglass.deid.text.recognizers.names import NameRecognizer
from behindglass.deid.text.recognizers.site_list import SiteListRecognizer
from behindglass.deid.text.registry import Context, Registry
from behindglass.deid.text.site_lists import SiteLists
from behindglass.deid.text.tokens import WORD, tokenize

# On a tie in length the more specific label names the merged span.
_PRIORITY = {label: rank for rank, label in enumerate((
    "DATE", "EMAIL", "URL", "IP", "SSN", "MRN", "HEALTH_PLAN", "ACCOUNT", "LICENSE", "DEVICE",
    "VEHICLE", "FAX", "PHONE", "INSTITUTION", "STREET", "ZIP", "AGE", "NAME", "CITY",
    "STATE"))}


def default_registry(*, ner: bool | str = False, site_lists: SiteLists | None = None) -> Registry:
    """The rule recognizers, the site lists, and optionally the statistical NER vote.

    ``ner`` is False (no NER), True (the shipped spaCy model) or a model name or path.
    """
    registry = Registry([DateRecognizer(), AgeRecognizer(), PhoneRecognizer(),
                         EmailRecognizer(), UrlRecognizer(), IpRecognizer(),
                         IdentifierRecognizer(), AddressRecognizer(), InstitutionRecognizer(),
                         NameRecognizer(), SiteListRecognizer(site_lists)])
    if ner:
        from behindglass.deid.text.recognizers.ner import NerRecognizer

        registry.add(NerRecognizer() if ner is True else NerRecognizer(model=ner))
    return registry


class Analyzer:
    """Detect PHI in text with a registry of recognizers."""

    def __init__(self, registry: Registry | None = None, *, threshold: float = 0.5,
                 propagate: bool = True) -> None:
        self.registry = registry if registry is not None else default_registry()
        self.threshold = threshold
        self.propagate = propagate

    def analyze(self, text: str, context: Context | None = None) -> list[Detection]:
        context = context or Context()
        found = [d for recognizer in self.registry for d in recognizer.detect(text, context)
                 if d.score >= self.threshold]
        if self.propagate:
            found.extend(propagate_names(text, found))
        return bridge_names(text, merge(found))


def default_analyzer(*, ner: bool | str = False, site_lists: SiteLists | None = None,
                     threshold: float = 0.5) -> Analyzer:
    return Analyzer(default_registry(ner=ner, site_lists=site_lists), threshold=threshold)


def merge(detections: Iterable[Detection]) -> list[Detection]:
    """Union of overlapping detections, each labelled by its longest member."""
    ordered = sorted(detections, key=lambda d: (d.start, -d.end))
    merged: list[Detection] = []
    group: list[Detection] = []
    end = -1
    for d in ordered:
        if group and d.start >= end:
            merged.append(_one(group, end))
            group = []
        group.append(d)
        end = max(end, d.end) if len(group) > 1 else d.end
    if group:
        merged.append(_one(group, end))
    return merged


_NAME_GAP = re.compile(r"[ \t]*[,.'’-]?[ \t]*")


def bridge_names(text: str, detections: list[Detection]) -> list[Detection]:
    """Join name parts found separately across the comma or dot between them
    ("Costela" + ", " + "Maria Luísa"): the name is one identifier, and a comma left
    between two replaced parts would only mark where a name was."""
    out: list[Detection] = []
    for d in detections:
        prev = out[-1] if out else None
        if prev is not None and prev.label == d.label == "NAME" \
                and _NAME_GAP.fullmatch(text, prev.end, d.start):
            out[-1] = Detection(prev.start, d.end, "NAME", f"{prev.source}+{d.source}",
                                max(prev.score, d.score))
        else:
            out.append(d)
    return out


def _one(group: Sequence[Detection], end: int) -> Detection:
    best = min(group, key=lambda d: (-(d.end - d.start), -d.score, _PRIORITY.get(d.label, 99)))
    sources = "+".join(sorted({d.source for d in group}))
    return Detection(group[0].start, end, best.label, sources, max(d.score for d in group))


def propagate_names(text: str, found: Sequence[Detection]) -> list[Detection]:
    """Other mentions of the words of names already found in ``text``."""
    safe = lexicon.safe_words()
    words: set[str] = set()
    for d in found:
        if d.label == "NAME":
            words.update(w.lower() for w in WORD.findall(text[d.start:d.end])
                         if len(w) > 1 and w.lower() not in safe)
    if not words:
        return []
    return [Detection(t.start, t.end, "NAME", "propagation", 0.9) for t in tokenize(text)
            if t.lower in words and (t.caps_line or t.text[0].isupper())]
