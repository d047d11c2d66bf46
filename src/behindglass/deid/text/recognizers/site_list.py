"""The site's own deny-lists: names, record numbers, addresses and places it already holds.

Names match whole or by part (a patient's surname alone is still the patient), ignoring
case in ALL-CAPS lines; a part that is a common or clinical word ("Foley", "May") matches
only inside the whole name. Identifiers match ignoring case and the separators inside
them ("MR-273 8791" is "MR2738791"). Streets, cities and institutions match as phrases.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from behindglass.deid.text import lexicon
from behindglass.deid.text.labels import IDENTIFIER_LABELS
from behindglass.deid.text.model import Detection
from behindglass.deid.text.registry import Context, Recognizer
from behindglass.deid.text.site_lists import SiteLists
from behindglass.deid.text.tokens import WORD, tokenize

_CODE_LABELS = IDENTIFIER_LABELS | {"PHONE", "FAX", "ZIP"}
_PHRASE_LABELS = ("STREET", "CITY", "STATE", "INSTITUTION", "EMAIL", "URL", "IP")
_GROUP_RUN = re.compile(r"(?<![\w])[A-Za-z0-9]+(?:[-./() ]{1,2}[A-Za-z0-9]+){0,7}")
_GROUP = re.compile(r"[A-Za-z0-9]+")
_PHRASE_TOKEN = re.compile(r"[\w@]+(?:['’.\-@/:][\w@]+)*")
_MIN_CODE = 4


def _compact(value: str) -> str:
    return "".join(_GROUP.findall(value)).lower()


@dataclass
class _Index:
    name_parts: frozenset[str]
    # whole names with a part that is a common or clinical word, by first word
    names_whole: dict[str, list[tuple[str, ...]]]
    codes: dict[str, str]
    phrases: dict[str, list[tuple[tuple[str, ...], str]]]


def _index(lists: SiteLists) -> _Index:
    cached = lists.cache.get("site_list_index")
    if isinstance(cached, _Index):
        return cached
    safe = lexicon.safe_words()
    parts: set[str] = set()
    whole: dict[str, list[tuple[str, ...]]] = {}
    for name in lists.get("NAME"):
        words = tuple(w.lower() for w in WORD.findall(name))
        if len(words) > 1 and any(w in safe for w in words):
            whole.setdefault(words[0], []).append(words)
            inverted = (words[-1], *words[:-1])  # "Lawson, April"
            whole.setdefault(inverted[0], []).append(inverted)
        parts.update(w for w in words if len(w) > 1 and w not in safe)
    codes = {}
    for label in _CODE_LABELS:
        for value in lists.get(label):
            key = _compact(value)
            if len(key) >= _MIN_CODE:
                codes[key] = label
    phrases: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    for label in _PHRASE_LABELS:
        for value in lists.get(label):
            words = tuple(w.lower() for w in _PHRASE_TOKEN.findall(value))
            if not words or (len(words) == 1 and words[0] in lexicon.common_words()):
                continue
            phrases.setdefault(words[0], []).append((words, label))
    for options in phrases.values():
        options.sort(key=lambda item: -len(item[0]))
    built = _Index(frozenset(parts), whole, codes, phrases)
    lists.cache["site_list_index"] = built
    return built


class SiteListRecognizer(Recognizer):
    name = "site_lists"
    labels = ("NAME", *sorted(_CODE_LABELS), *_PHRASE_LABELS)

    def __init__(self, lists: SiteLists | None = None) -> None:
        self.lists = lists  # when None, the lists of the Context are used

    def detect(self, text: str, context: Context) -> Iterator[Detection]:
        lists = self.lists or context.site_lists
        if lists is None:
            return
        index = _index(lists)
        yield from self._names(text, index)
        yield from self._codes(text, index)
        yield from self._phrases(text, index)

    def _names(self, text: str, index: _Index) -> Iterator[Detection]:
        tokens = tokenize(text)
        lowers = [t.lower for t in tokens]
        hits = [t.lower in index.name_parts and (t.caps_line or t.text[0].isupper())
                for t in tokens]
        for i, tok in enumerate(tokens):
            # A lower-case particle of a known name ("da", "van der") next to a hit.
            if not hits[i] and tok.lower in index.name_parts and tok.text.islower() and (
                    (i > 0 and hits[i - 1]) or (i + 1 < len(tokens) and hits[i + 1])
                    or (i + 2 < len(tokens) and tokens[i + 1].lower in index.name_parts
                        and hits[i + 2])):
                yield Detection(tok.start, tok.end, "NAME", self.name)
            if hits[i]:
                yield Detection(tok.start, tok.end, "NAME", self.name)
            for words in index.names_whole.get(tok.lower, ()):
                n = len(words)
                if tuple(lowers[i:i + n]) == words:
                    yield Detection(tok.start, tokens[i + n - 1].end, "NAME", self.name)

    def _codes(self, text: str, index: _Index) -> Iterator[Detection]:
        if not index.codes:
            return
        for run in _GROUP_RUN.finditer(text):
            groups = list(_GROUP.finditer(run.group()))
            for a in range(len(groups)):
                key = ""
                for b in range(a, min(len(groups), a + 6)):
                    key += groups[b].group().lower()
                    label = index.codes.get(key)
                    if label is not None:
                        yield Detection(run.start() + groups[a].start(),
                                        run.start() + groups[b].end(), label, self.name)

    def _phrases(self, text: str, index: _Index) -> Iterator[Detection]:
        if not index.phrases:
            return
        tokens = list(_PHRASE_TOKEN.finditer(text))
        lowers = [t.group().lower() for t in tokens]
        for i, low in enumerate(lowers):
            for words, label in index.phrases.get(low, ()):
                n = len(words)
                if tuple(lowers[i:i + n]) != words:
                    continue
                if n == 1 and not tokens[i].group()[0].isupper():
                    continue
                yield Detection(tokens[i].start(), tokens[i + n - 1].end(), label, self.name)
                break
