"""Circe concept sets resolved against the site's vocabulary.

The vocabulary: 100 is the parent of 101 and 103; 102 is a child of 101 and is invalid
(``invalid_reason = 'D'``); source concept 500 maps to 100. Person ``n`` has one condition
whose concept is the n-th of (100, 101, 102, 103, 500, 999); 999 is not in the vocabulary.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from behindglass.engine.backend import Backend
from tests.spec import circe_builder as cb
from tests.spec.cdm_builder import Rows
from tests.spec.circe_builder import cohort, concept_set, item, person, tiny

Build = Callable[[Rows], Backend]
CONCEPTS = (100, 101, 102, 103, 500, 999)


def vocabulary_cdm() -> Rows:
    return tiny(
        [person(i) for i in range(1, len(CONCEPTS) + 1)],
        concept=cb.vocab(100, 101, 103, 500) + cb.vocab(102, invalid=[102]),
        concept_ancestor=cb.ancestry((100, 101), (100, 102), (101, 102), (100, 103)),
        concept_relationship=[cb.maps_to(500, 100)],
        condition_occurrence=[cb.cond_row(i, i, c, "2010-01-01")
                              for i, c in enumerate(CONCEPTS, start=1)],
    )


@pytest.fixture
def vocabulary(cdm: Build) -> Backend:
    return cdm(vocabulary_cdm())


def members(backend: Backend, *items: Any) -> list[int]:
    definition = cohort(cb.condition(1), concept_sets=[concept_set(1, *items)])
    return [r[0] for r in cb.run(backend, definition)]


def test_plain_items_and_descendants(vocabulary: Backend) -> None:
    assert members(vocabulary, 100) == [1]
    assert members(vocabulary, 100, 101) == [1, 2]
    # descendants must be valid concepts: 102 is not
    assert members(vocabulary, item(100, descendants=True)) == [1, 2, 4]
    assert members(vocabulary, item(101, descendants=True)) == [2]


def test_excluded_items(vocabulary: Backend) -> None:
    assert members(vocabulary, item(100, descendants=True), item(103, excluded=True)) == [1, 2]
    # excluding with descendants removes the whole branch
    assert members(vocabulary, item(100, descendants=True),
                   item(101, descendants=True, excluded=True)) == [1, 4]
    assert members(vocabulary, item(100, excluded=True)) == []


def test_mapped_source_concepts(vocabulary: Backend) -> None:
    assert members(vocabulary, item(100, mapped=True)) == [1, 5]
    assert members(vocabulary, item(100, descendants=True, mapped=True)) == [1, 2, 4, 5]


def test_concepts_unknown_to_the_site_match_nothing(vocabulary: Backend) -> None:
    assert members(vocabulary, 999) == []
    empty = cohort(cb.condition(1), concept_sets=[concept_set(1)])
    assert cb.run(vocabulary, empty) == []


def test_several_concept_sets_stay_apart(vocabulary: Backend) -> None:
    sets = [concept_set(1, 100), concept_set(2, 101), concept_set(3, 103)]
    definition = cohort(cb.condition(2), cb.condition(3), concept_sets=sets)
    assert [r[0] for r in cb.run(vocabulary, definition)] == [2, 4]


def test_concept_set_id_zero(vocabulary: Backend) -> None:
    # ATLAS numbers concept sets from 0
    definition = cohort(cb.condition(0), concept_sets=[concept_set(0, 101)],
                        end=cb.custom_era(0))
    assert cb.run(vocabulary, definition) == [(2, "2010-01-01", "2020-12-31")]
