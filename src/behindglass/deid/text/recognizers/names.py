"""Person names: patients, relatives and clinicians.

Evidence, strongest first:

* a title before the name ("Dr. Hövel", "MRS. WARREN") or a credential after it
  ("Yvette Evans, DO", "LILIANA MAYORGA, RN");
* a field label or phrase that introduces a person ("Patient:", "RE:", "cc:", "Dictated
  by", "Dear", "Hi, this is"), a relation word ("her mother Vicki", "HIS WIFE MILA",
  "Kelly (mother)");
* the census name lexicons: a known first name followed by another capitalised word, or
  "Surname, Firstname" (mixed-case text only; in capitals a pair of known names).

A candidate word must not be a common word; after a title, clinical words are allowed
("Dr. Murphy") but a possessive eponym ("Murphy's sign") never is a name. Other mentions of
a name found here are picked up by the analyzer's propagation step.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from functools import lru_cache

from behindglass.deid.text import lexicon
from behindglass.deid.text.model import Detection
from behindglass.deid.text.registry import Context, Recognizer
from behindglass.deid.text.tokens import Token, tokenize

PARTICLES = frozenset({"de", "da", "del", "della", "der", "den", "di", "do", "dos", "das", "du",
                       "van", "von", "ter", "la", "le", "bin", "ben", "al", "el", "y", "st"})
RELATIONS = (r"wife|husband|daughter|son|mother|father|sister|brother|niece|nephew|aunt|uncle"
             r"|cousin|granddaughter|grandson|grandmother|grandfather|partner|friend|spouse"
             r"|fianc[eé]e?|boyfriend|girlfriend|guardian|caregiver|neighbou?r|step\w+")
_TITLE = re.compile(r"\b(?:dr|mr|mrs|ms|miss|mx|prof|doctor)\b\.?\s+$", re.IGNORECASE)
_STRONG = re.compile(
    r"(?:\bpatient|\bpt|\bname|\bre|\bcc|\battending|\bsurgeon|\bprovider|\bphysician|\bpcp"
    r"|\bresident|\bfellow|\bnurse|\bradiologist|\bpathologist|\bclinician|\bcaller"
    r"|\bsigned(?:\s+out)?\s+by|\bdictated\s+by|\btranscribed\s+by|\breply\s+by|\bseen\s+by"
    r"|\breviewed\s+by|\bread\s+by|\bverified\s+by|\bcontact|\bdear|\bthis\s+is|\bi\s+am"
    r"|\bcommunicated\s+to|\bdiscussed\s+with|\bspoke\s+(?:with|to)|\bupdated\s+by"
    r"|\bcalled\s+by|\bon\s+behalf\s+of|\breferring|\bfrom|\bto|\bfor|\bwith|\bper|\bby)"
    r"\s*[:,#-]?\s*$", re.IGNORECASE)
_RELATION_BEFORE = re.compile(rf"\b(?:{RELATIONS})\b\s*[:,]?\s*$", re.IGNORECASE)
_RELATION_AFTER = re.compile(rf"\s*[(,]\s*(?:his|her|the\s+patient'?s|pt'?s)?\s*"
                             rf"(?:{RELATIONS})\b", re.IGNORECASE)
_CREDENTIAL = re.compile(
    r"(?:,[ \t]{0,3}|[ \t]{1,3})(?:M\.?D|D\.?O|R\.?N|N\.?P|PA-C|P\.?A|Ph\.?D|MBBS|LPN|CNA|CRNA"
    r"|DDS|DMD|PharmD"
    r"|MSW|LCSW|FNP(?:-BC)?|APRN|CNM|DNP|RD|FACP|FACS|MPH)\b\.?")
_EPONYM_AFTER = re.compile(r"['’]s?\s+(?:sign|signs|disease|syndrome|test|maneuver|manoeuvre"
                           r"|criteria|phenomenon|reflex|law|node|nodes|ulcer|palsy|triad"
                           r"|score|scale|classification|fracture|procedure|operation|tube"
                           r"|catheter|lymphoma|sarcoma|tumou?r|esophagus|thyroiditis"
                           r"|contracture|cyst|diverticulum|hernia|point|position)\b",
                           re.IGNORECASE)
# A patient header: the name right before the record number or birth date.
_HEADER_AFTER = re.compile(r"\s*(?:,|\||;|\s)\s*(?:MRN|MR\s?#|DOB|D\.O\.B|Medical\s+record"
                           r"|\(DOB|\(\d{1,3}\s*(?:Y/?O|YO|yo|y/o|-?YEAR))", re.IGNORECASE)
# What persons do in notes: "Sevim called", "Murilo da Mota is a 40-year-old".
_VERB_AFTER = re.compile(r"\s+(?:called|calls|phoned|returned\s+(?:my|the|our)\s+call|left\s+a"
                         r"\s+(?:message|voicemail)|has\s+been\s+under|is\s+an?\s+\d{1,3}[-\s]"
                         r"(?:year|yo\b|y/o|y\.o\.|month|week|day))")
_TRAILER = re.compile(r"(?m)^[ \t]*[A-Z]{2,4}[ \t]*[:/][ \t]*(?P<a>[a-z]{2,20})"
                      r"(?:[ \t]*/[ \t]*(?P<b>[a-z]{2,20}))?[ \t]*$")
_TIGHT_INVERTED = re.compile(r"(?<![\w,'’-])(?P<last>[A-Z][A-Za-z'’-]{1,40}),"
                             r"(?P<first>[A-Z][A-Za-z'’-]{1,40})(?![\w,])")
_GAP = re.compile(r"\.?[ \t]{1,2}|\.")  # space, or the dot of an initial
_MAX_PARTS = 4
Candidate = tuple[int, int, float]  # first token, last token, score


# Words that never start or continue a name, whatever the evidence around them.
_NEVER = frozenset({"the", "a", "an", "and", "or", "of", "to", "in", "on", "at", "for", "with",
                    "by", "is", "was", "be", "has", "had", "his", "her", "their", "our", "your",
                    "my", "this", "that", "who", "which", "md", "rn", "do", "np", "pa", "dob",
                    "mrn", "ssn", "phd", "pt", "called", "calling", "reports", "said", "states",
                    "re", "cc", "dr", "mr", "mrs", "ms", "am", "pm", "if", "per", "date", "age",
                    "sex", "phone", "room", "bed", "unit", "fax", "tel", "acct", "account", "npi",
                    "name", "charge", "primary", "covering", "triage", "staff", "float"})
TITLE, STRONG, WEAK = "title", "strong", "weak"
# Words after which "X Y, MD" is a person even in capitals: "UPDATED BY X Y, MD".
_INTRODUCERS = frozenset({"by", "per", "dr", "cc"})


@lru_cache(maxsize=3)
def _blocked(evidence: str) -> frozenset[str]:
    if evidence == TITLE:
        return _NEVER
    if evidence == STRONG:
        return _NEVER | (lexicon.common_words() - lexicon.first_names())
    return _NEVER | lexicon.safe_words()


def _known(tok: Token) -> bool:
    return tok.lower in lexicon.first_names() or tok.lower in lexicon.surnames()


def _joined(text: str, prev: Token, tok: Token) -> bool:
    """Adjacent words of one name: a space or two, or the dot of an initial ("J. Smith")."""
    gap = text[prev.end:tok.start]
    return bool(_GAP.fullmatch(gap)) and ("." not in gap or prev.initial)


def _name_like(tok: Token, evidence: str, *, inside: bool = False) -> bool:
    """Could ``tok`` be part of a name? ``inside``: it follows a name word already, where a
    capitalised common word in mixed-case text is a surname ("Johnny Day")."""
    if tok.initial:
        return True
    if len(tok.text) < 2:
        return False
    if tok.lower in _blocked(evidence) and not (
            inside and evidence != WEAK and tok.lower not in _NEVER
            and (tok.lower in lexicon.surnames() if tok.caps_line else tok.text[0].isupper())):
        return False
    return tok.caps_line or tok.text[0].isupper()


class NameRecognizer(Recognizer):
    name = "names"
    labels = ("NAME",)

    def detect(self, text: str, context: Context) -> Iterator[Detection]:
        tokens = tokenize(text)
        for first, last, score in self._candidates(text, tokens):
            start, end = tokens[first].start, tokens[last].end
            if tokens[last].initial and end < len(text) and text[end] == ".":
                end += 1
            if score < 1.0 and _EPONYM_AFTER.match(text, end):
                continue
            yield Detection(start, end, "NAME", self.name, score)

    def _candidates(self, text: str, tokens: Sequence[Token]) -> Iterator[Candidate]:
        for i, tok in enumerate(tokens):
            before = text[max(0, tok.start - 40):tok.start]
            if "\n" in before:
                before = before[before.rindex("\n") + 1:]
            if _TITLE.search(before):
                yield from self._run(text, tokens, i, TITLE, 1.0)
            elif _RELATION_BEFORE.search(before):
                yield from self._run(text, tokens, i, STRONG, 1.0, limit=3)
            elif _STRONG.search(before):
                yield from self._strong(text, tokens, i)
            yield from self._lexical(text, tokens, i)
        yield from self._credentialled(text, tokens)
        yield from self._before(text, tokens, _RELATION_AFTER, STRONG)
        yield from self._before(text, tokens, _HEADER_AFTER, STRONG, lexical=True)
        yield from self._before(text, tokens, _VERB_AFTER, STRONG)
        yield from self._trailers(text, tokens)

    def _run(self, text: str, tokens: Sequence[Token], i: int, evidence: str, score: float,
             limit: int = _MAX_PARTS, comma_first: bool = False) -> Iterator[Candidate]:
        last = self._extend(text, tokens, i, evidence, limit)
        if last is None:
            return
        if comma_first and last + 1 < len(tokens):
            nxt = tokens[last + 1]
            gap = text[tokens[last].end:nxt.start]
            if re.fullmatch(r",[ \t]{1,2}", gap) and _name_like(nxt, evidence, inside=True) \
                    and not _CREDENTIAL.match(text, tokens[last].end):
                last = self._extend(text, tokens, last + 1, evidence, 2) or last
        yield i, last, score

    def _extend(self, text: str, tokens: Sequence[Token], i: int, evidence: str,
                limit: int) -> int | None:
        if tokens[i].text in PARTICLES:  # "de Vries", "van den Berg"
            k = i
            while k < len(tokens) and tokens[k].text in PARTICLES and k - i < 3:
                k += 1
            if k == len(tokens) or not all(_GAP.fullmatch(text[tokens[x].end:tokens[x + 1].start])
                                           for x in range(i, k)):
                return None
            if not _name_like(tokens[k], evidence):
                return None
            return self._extend(text, tokens, k, evidence, limit)
        if not _name_like(tokens[i], evidence):
            return None
        last, parts, j = i, 1, i + 1
        while j < len(tokens) and parts < limit:
            tok, prev = tokens[j], tokens[j - 1]
            if not _joined(text, prev, tok):
                break
            if tok.text in PARTICLES:  # "van der Veen": particles, then a name word
                k = j
                while k < len(tokens) - 1 and tokens[k].text in PARTICLES and k - j < 3 \
                        and _GAP.fullmatch(text[tokens[k].end:tokens[k + 1].start]):
                    k += 1
                if k > j and tokens[k].text not in PARTICLES \
                        and _name_like(tokens[k], evidence, inside=True):
                    j = k
                    continue
                break
            if not _name_like(tok, evidence, inside=True):
                break
            # In capitals any word looks like a name: after a title, "MRS. WARREN AGREED"
            # stops at WARREN unless the next word is a known name or follows an initial.
            if evidence == TITLE and tok.caps_line and not (
                    tok.initial or prev.initial or _known(tok) or prev.lower in PARTICLES
                    or "'" in tok.text or "-" in tok.text):
                break
            last, parts, j = j, parts + 1, j + 1
        return last

    def _strong(self, text: str, tokens: Sequence[Token], i: int) -> Iterator[Candidate]:
        last = self._extend(text, tokens, i, STRONG, _MAX_PARTS)
        if last is None:
            return
        first_known = tokens[i].lower in lexicon.first_names()
        surname = tokens[i].lower in lexicon.surnames()
        # Weak connective words ("to", "with", "by") need lexicon support or two name words.
        before = text[max(0, tokens[i].start - 12):tokens[i].start].lower()
        weak = re.search(r"\b(?:from|to|for|with|per|by)\s*$", before) is not None
        if weak and (tokens[i].caps_line or not (first_known or (last > i and surname))):
            return
        yield from self._run(text, tokens, i, STRONG if not weak else WEAK, 1.0,
                             comma_first=True)

    def _lexical(self, text: str, tokens: Sequence[Token], i: int) -> Iterator[Candidate]:
        tok = tokens[i]
        low = tok.lower
        if low in lexicon.safe_words() or len(low) < 2 or not tok.text[0].isupper():
            return
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        gap = text[tok.end:nxt.start] if nxt else ""
        if low in lexicon.first_names():
            last = self._extend(text, tokens, i, WEAK, 3)
            if last is not None and last > i and (not tok.caps_line or any(
                    tokens[k].lower in lexicon.surnames() or tokens[k].initial
                    for k in range(i + 1, last + 1))):
                yield i, last, 0.9
            elif not tok.caps_line and len(low) > 2:
                yield i, i, 0.6  # a first name alone ("Johnny called")
        elif nxt and low in lexicon.surnames() and re.fullmatch(r",[ \t]{1,2}", gap) \
                and not (len(nxt.text) == 2 and nxt.text.isupper()) \
                and nxt.lower in lexicon.first_names() and (nxt.caps_line or nxt.text[0].isupper()):
            yield i, i + 1, 0.9

    def _credentialled(self, text: str, tokens: Sequence[Token]) -> Iterator[Candidate]:
        ends = {tok.end: k for k, tok in enumerate(tokens)}
        for m in _CREDENTIAL.finditer(text):
            k = ends.get(m.start())
            if k is None:
                continue
            if tokens[k].caps_line and m.group().strip(", .") in ("DO", "PA", "RD") \
                    and not m.group().startswith(","):
                continue
            while k > 0 and tokens[k].text in PARTICLES:  # "Dussen van, NP"
                k -= 1
            first = k
            while first > 0 and k - first + 1 < _MAX_PARTS:
                prev = tokens[first - 1]
                if not _joined(text, prev, tokens[first]):
                    break
                if not _name_like(prev, TITLE) and prev.text not in PARTICLES:
                    break
                first -= 1
            while first < k and tokens[first].text in PARTICLES:
                first += 1
            line_start = text.rfind("\n", 0, tokens[first].start) + 1
            signature = not text[line_start:tokens[first].start].strip() or (
                first > 0 and tokens[first - 1].lower in _INTRODUCERS)
            if tokens[k].caps_line and not signature and not any(  # "CHARGE RN" in capitals
                    _known(tokens[x]) and _name_like(tokens[x], STRONG)
                    for x in range(first, k + 1)):
                continue
            if tokens[k].caps_line:
                while first < k and not (_name_like(tokens[first], STRONG)
                                         or tokens[first].lower in lexicon.census_first_names()):
                    first += 1
            if _name_like(tokens[k], TITLE) and _name_like(tokens[first], TITLE):
                end = m.start() if tokens[ends[m.start()]].text in PARTICLES else tokens[k].end
                yield first, ends.get(end, k), 1.0

    def _trailers(self, text: str, tokens: Sequence[Token]) -> Iterator[Candidate]:
        """Dictation trailers ("XGT:holmes", "GPP/church/olinger": the typist's name) and
        header names written "OROZCO,KYLE"."""
        starts = {tok.start: k for k, tok in enumerate(tokens)}
        for m in _TRAILER.finditer(text):
            for group in ("a", "b"):
                if m.group(group) and m.start(group) in starts:
                    k = starts[m.start(group)]
                    yield k, k, 1.0
        for m in _TIGHT_INVERTED.finditer(text):
            a, b = starts.get(m.start("last")), starts.get(m.start("first"))
            if a is not None and b is not None and (
                    _known(tokens[a]) or _known(tokens[b])) and _name_like(tokens[b], STRONG):
                yield a, b, 1.0

    def _before(self, text: str, tokens: Sequence[Token], after: re.Pattern[str],
                evidence: str, lexical: bool = False) -> Iterator[Candidate]:
        """Names just before a phrase that follows persons: "(mother)", ", MRN"."""
        for k, tok in enumerate(tokens):
            if not after.match(text, tok.end):
                continue
            # "Brianna Day (sister)": a surname that is also a word, after a first name;
            # "April (wife)": a first name that is also a word, right before the relation.
            inside = k > 0 and _joined(text, tokens[k - 1], tok) \
                and _name_like(tokens[k - 1], evidence)
            if not (_name_like(tok, evidence, inside=inside) or (
                    after is _RELATION_AFTER and tok.text[0].isupper()
                    and tok.lower in lexicon.census_first_names())):
                continue
            first = k
            while first > 0 and k - first < 4 and _joined(text, tokens[first - 1], tokens[first]):
                prev = tokens[first - 1]
                if _name_like(prev, evidence):
                    first -= 1
                elif prev.text in PARTICLES and first > 1 and _joined(
                        text, tokens[first - 2], prev) and _name_like(tokens[first - 2], evidence):
                    first -= 2  # "Murilo da Mota"
                else:
                    break
            # "Potter, Emily, MRN": a surname before a comma belongs to the name too.
            comma = text[tokens[first - 1].end:tokens[first].start] if first > 0 else ""
            if first == k and re.fullmatch(r",[ \t]{1,2}", comma) \
                    and _name_like(tokens[first - 1], evidence):
                first -= 1
            line_start = text.rfind("\n", 0, tokens[first].start) + 1
            at_line_start = not text[line_start:tokens[first].start].strip()
            if lexical and not at_line_start and not any(tokens[x].lower in lexicon.first_names()
                                   or tokens[x].lower in lexicon.surnames()
                                   for x in range(first, k + 1)):
                continue
            yield first, k, 1.0
