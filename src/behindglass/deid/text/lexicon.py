"""Word lists the recognizers weigh: person names against clinical and common words.

* First names and surnames: the US Census Bureau's 1990 name frequency lists, as shipped by
  the ``names`` package (public-domain data; 5,163 first names, 88,799 surnames).
* ``lexicons/common_words.txt``: function words and note furniture, never a name on
  lexicon evidence alone.
* ``lexicons/clinical_words.txt``: eponyms, brand drugs, anatomy and abbreviations, plus
  the words of the concept names in the shipped OMOP vocabulary subset (drugs, conditions,
  units), so "Foley", "Murphy's sign" or "Lasix" are not names without a title beside them.

The generator of our gold corpora draws names from Faker, never from these lists, so the
recall we measure is not inflated by a shared lexicon.
"""

from __future__ import annotations

import csv
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path

_HERE = Path(__file__).resolve().parent
_WORD = re.compile(r"[^\W\d_][^\W\d_'’-]*")


def _read_words(name: str) -> frozenset[str]:
    words: set[str] = set()
    for line in (_HERE / "lexicons" / name).read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            words.update(w.lower() for w in line.split())
    return frozenset(words)


def _census(file: str) -> list[str]:
    text = resources.files("names").joinpath(file).read_text(encoding="ascii")
    return [line.split()[0].lower() for line in text.splitlines() if line.strip()]


@lru_cache(maxsize=1)
def census_first_names() -> frozenset[str]:
    """Every census first name, including those that are also words ("April", "Will")."""
    return _census_first()


@lru_cache(maxsize=1)
def _census_first() -> frozenset[str]:
    return frozenset(_census("dist.female.first")) | frozenset(_census("dist.male.first"))


@lru_cache(maxsize=1)
def first_names() -> frozenset[str]:
    return _census_first() - common_words()


@lru_cache(maxsize=1)
def surnames() -> dict[str, int]:
    """Surname -> frequency rank (1 = most common)."""
    return {name: rank for rank, name in enumerate(_census("dist.all.last"), start=1)}


@lru_cache(maxsize=1)
def common_words() -> frozenset[str]:
    return _read_words("common_words.txt")


@lru_cache(maxsize=1)
def clinical_words() -> frozenset[str]:
    words = set(_read_words("clinical_words.txt"))
    vocab = (_HERE.parent.parent / "ingest" / "shipped_vocabulary" / "concept.csv")
    lines = [x for x in vocab.read_text(encoding="utf-8").splitlines() if not x.startswith("#")]
    # Vocabulary words that are also common names ("Julian" date, "King" in a concept name)
    # would hide real people; the hand-written list above keeps the eponyms that matter.
    census_first, census_last = _census_first(), surnames()
    for row in csv.DictReader(lines):
        for w in _WORD.findall(row["concept_name"]):
            low = w.lower()
            if len(low) > 2 and low not in census_first and census_last.get(low, 10**6) > 10_000:
                words.add(low)
    return frozenset(words)


@lru_cache(maxsize=1)
def safe_words() -> frozenset[str]:
    """Words that are not names on their own: common and clinical words together."""
    return common_words() | clinical_words()


@lru_cache(maxsize=1)
def places() -> dict[str, frozenset[str]]:
    """Sections of ``lexicons/places.txt``: street designators, state codes and names."""
    sections: dict[str, set[str]] = {}
    current = ""
    for line in (_HERE / "lexicons" / "places.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if line.startswith("["):
            current = line.strip("[] \n")
            sections[current] = set()
        else:
            sections[current].update(w.lower() for w in line.split())
    return {name: frozenset(words) for name, words in sections.items()}
