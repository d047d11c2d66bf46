"""Circe inclusion rule statistics, per mode (every qualifying event / each person's best
event), as CohortGenerator reports them.

Rule 0 "drug before": a drug (codeset 2) within 30 days before the index; rule 1
"female". Index events (primary limit All, condition 100):

* person 1 (male): 2010-01-01 without a drug (mask 0), 2011-01-01 with one (mask 1)
* person 2 (female): 2010-01-01 with a drug (mask 3)
* person 3 (female): 2010-01-01 without a drug (mask 2)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from behindglass.engine.backend import Backend
from behindglass.engine.circe.generate import CohortGeneration
from tests.spec import circe_builder as cb
from tests.spec.cdm_builder import Rows
from tests.spec.circe_builder import (
    FEMALE,
    MALE,
    cohort,
    concept_set,
    correlated,
    demographic,
    group,
    person,
    rule,
    tiny,
    window,
)

Build = Callable[[Rows], Backend]
SETS = [concept_set(1, 100), concept_set(2, 200)]
RULES = [
    rule("drug before", group("ALL", correlated(cb.drug(2), window(-30, 0)))),
    rule("female", group("ALL", demographic(Gender=cb.concepts(FEMALE)))),
]


def definition(**kw: Any) -> dict[str, Any]:
    return cohort(cb.condition(1), concept_sets=SETS, limit="All", **kw)


@pytest.fixture
def stats_cdm(cdm: Build) -> Backend:
    return cdm(tiny(
        [person(1, sex=MALE), person(2, sex=FEMALE), person(3, sex=FEMALE)],
        concept_ids=[100, 200],
        condition_occurrence=[cb.cond_row(1, 1, 100, "2010-01-01"),
                              cb.cond_row(2, 1, 100, "2011-01-01"),
                              cb.cond_row(3, 2, 100, "2010-01-01"),
                              cb.cond_row(4, 3, 100, "2010-01-01")],
        drug_exposure=[cb.drug_row(1, 1, 200, "2010-12-20"),
                       cb.drug_row(2, 2, 200, "2009-12-20")],
    ))


@pytest.fixture
def generation(stats_cdm: Backend) -> CohortGeneration:
    return cb.generate(stats_cdm, definition(rules=RULES))


def test_cohort_keeps_only_events_passing_every_rule(stats_cdm: Backend,
                                                     generation: CohortGeneration) -> None:
    assert cb.rows_of(stats_cdm, generation) == [(2, "2010-01-01", "2020-12-31")]
    assert (generation.entries, generation.persons) == (1, 1)
    assert generation.rule_names == ("drug before", "female")


def test_event_mode(generation: CohortGeneration) -> None:
    ev = generation.event
    assert ev.mode == "event"
    assert ev.masks == {0: 1, 1: 1, 2: 1, 3: 1}
    assert (ev.base, ev.final) == (4, 1)
    assert [(r.rule, r.name, r.count, r.gain, r.total) for r in ev.rules] == [
        (0, "drug before", 2, 1, 4), (1, "female", 2, 1, 4)]
    assert ev.attrition == (("qualifying events", 4), ("drug before", 2), ("female", 1))


def test_person_mode_uses_each_persons_best_event(generation: CohortGeneration) -> None:
    # person 1's best event is 2011-01-01 (one rule passed) rather than 2010-01-01 (none)
    pm = generation.person
    assert pm.mode == "person"
    assert pm.masks == {1: 1, 2: 1, 3: 1}
    assert (pm.base, pm.final) == (3, 1)
    assert [(r.count, r.gain, r.total) for r in pm.rules] == [(2, 1, 3), (2, 1, 3)]
    assert pm.attrition == (("qualifying persons", 3), ("drug before", 2), ("female", 1))


def test_best_event_ties_go_to_the_earliest(stats_cdm: Backend) -> None:
    # with only the "female" rule, person 1 passes nothing on either event and persons
    # 2 and 3 pass it: the person mode still counts person 1 once
    generation = cb.generate(stats_cdm, definition(rules=RULES[1:], expression_limit="All"))
    assert generation.event.masks == {0: 2, 1: 2}
    assert generation.person.masks == {0: 1, 1: 2}
    assert cb.rows_of(stats_cdm, generation) == [(2, "2010-01-01", "2020-12-31"),
                                                 (3, "2010-01-01", "2020-12-31")]


def test_without_rules_every_qualifying_event_is_final(stats_cdm: Backend) -> None:
    generation = cb.generate(stats_cdm, definition(expression_limit="All"))
    assert generation.event.masks == {0: 4}
    assert (generation.event.base, generation.event.final) == (4, 4)
    assert (generation.person.base, generation.person.final) == (3, 3)
    assert generation.event.rules == ()
    assert generation.event.attrition == (("qualifying events", 4),)


def test_additional_criteria_shrink_the_base(stats_cdm: Backend) -> None:
    # additional criteria come before the rules: only the events with a drug qualify
    additional = group("ALL", correlated(cb.drug(2), window(-30, 0)))
    generation = cb.generate(stats_cdm, definition(additional=additional,
                                                   qualified_limit="All", rules=RULES[1:]))
    assert generation.event.masks == {0: 1, 1: 1}
    assert (generation.event.base, generation.event.final) == (2, 1)
    assert [(r.count, r.gain) for r in generation.event.rules] == [(1, 1)]
