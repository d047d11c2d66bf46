"""Circe observation windows, primary / qualified limits, correlated criteria windows,
occurrence counts, nested groups and demographic criteria.

Unless a case says otherwise every person is observed 2000-01-01..2020-12-31 and has one
index condition (concept 100, codeset 1) on 2010-01-01 ending 2010-01-10; codeset 2 is the
drug 200 (and 201) the correlated criteria look for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from behindglass.engine.backend import Backend
from tests.spec import circe_builder as cb
from tests.spec.cdm_builder import Rows
from tests.spec.circe_builder import (
    FEMALE,
    MALE,
    at_least,
    at_most,
    cohort,
    concept_set,
    correlated,
    demographic,
    exactly,
    group,
    num,
    op,
    person,
    tiny,
    window,
)

Build = Callable[[Rows], Backend]
END = "2020-12-31"
INDEX = "2010-01-01"
SETS = [concept_set(1, 100), concept_set(2, 200, 201)]


def world(n: int, drugs: Sequence[dict[str, Any]] = (), *, periods: Sequence[Any] | None = None,
          people: Sequence[dict[str, Any]] | None = None, **tables: Any) -> Rows:
    """``n`` persons, each with the index condition, plus ``drugs``."""
    return tiny(people if people is not None else [person(i) for i in range(1, n + 1)],
                periods=periods, concept_ids=[100, 200, 201],
                condition_occurrence=[cb.cond_row(i, i, 100, INDEX, "2010-01-10")
                                      for i in range(1, n + 1)],
                drug_exposure=list(drugs), **tables)


def with_drug(cc: dict[str, Any], **kw: Any) -> dict[str, Any]:
    """A cohort on the index condition whose additional criteria are ``cc``."""
    return cohort(cb.condition(1), concept_sets=SETS, additional=group("ALL", cc), **kw)


def subjects(backend: Backend, definition: dict[str, Any]) -> list[int]:
    return sorted({r[0] for r in cb.run(backend, definition)})


# --------------------------------------------------------------------------- primary

def test_observation_window_prior_and_post_days(cdm: Build) -> None:
    backend = cdm(tiny(
        [person(i) for i in (1, 2, 3)], concept_ids=[100],
        periods=[op(1), op(2, "2009-06-01", "2020-12-31"), op(3, "2000-01-01", "2010-07-15")],
        condition_occurrence=[cb.cond_row(1, 1, 100, "2010-01-01"),
                              cb.cond_row(2, 2, 100, "2009-07-01"),  # 30 days observed
                              cb.cond_row(3, 2, 100, "2010-07-01"),  # 395 days observed
                              cb.cond_row(4, 3, 100, "2010-07-01")],  # 14 days left
    ))
    rows = cb.run(backend, cohort(cb.condition(1), concept_sets=SETS, prior=365, post=30))
    # the first event outside the window does not stop a later one from entering
    assert rows == [(1, "2010-01-01", END), (2, "2010-07-01", END)]


def test_primary_limit_first_last_all(cdm: Build) -> None:
    backend = cdm(tiny([person(1)], concept_ids=[100], condition_occurrence=[
        cb.cond_row(1, 1, 100, d) for d in ("2010-01-01", "2011-01-01", "2012-01-01")]))
    short = cb.date_offset("StartDate", 1)

    def rows(limit: str) -> list[tuple[int, str, str]]:
        return cb.run(backend, cohort(cb.condition(1), concept_sets=SETS, limit=limit,
                                      expression_limit="All", end=short))

    assert rows("First") == [(1, "2010-01-01", "2010-01-02")]
    assert rows("Last") == [(1, "2012-01-01", "2012-01-02")]
    assert rows("All") == [(1, "2010-01-01", "2010-01-02"), (1, "2011-01-01", "2011-01-02"),
                           (1, "2012-01-01", "2012-01-02")]


def test_additional_criteria_with_qualified_limit(cdm: Build) -> None:
    # events 2010 and 2011; only the 2011 one has the drug in the 30 days before
    backend = cdm(tiny([person(1)], concept_ids=[100, 200], condition_occurrence=[
        cb.cond_row(1, 1, 100, "2010-01-01"), cb.cond_row(2, 1, 100, "2011-01-01"),
        cb.cond_row(3, 1, 100, "2012-01-01")],
        drug_exposure=[cb.drug_row(1, 1, 200, "2010-12-15"),
                       cb.drug_row(2, 1, 200, "2011-12-20")]))
    cc = correlated(cb.drug(2), window(-30, 0))
    short = cb.date_offset("StartDate", 1)
    first = with_drug(cc, limit="All", end=short, expression_limit="All")
    assert cb.run(backend, first) == [(1, "2011-01-01", "2011-01-02")]
    last = with_drug(cc, limit="All", end=short, qualified_limit="Last",
                     expression_limit="All")
    assert cb.run(backend, last) == [(1, "2012-01-01", "2012-01-02")]
    every = with_drug(cc, limit="All", end=short, qualified_limit="All",
                      expression_limit="All")
    assert cb.run(backend, every) == [(1, "2011-01-01", "2011-01-02"),
                                      (1, "2012-01-01", "2012-01-02")]
    # the primary limit (First) comes before the additional criteria
    assert cb.run(backend, with_drug(cc, end=short)) == []


# --------------------------------------------------------------------------- windows

def test_start_window_bounds_are_inclusive(cdm: Build) -> None:
    backend = cdm(world(4, [cb.drug_row(1, 1, 200, "2009-12-02"),  # 30 days before
                            cb.drug_row(2, 2, 200, "2009-12-01"),  # 31 days before
                            cb.drug_row(3, 3, 200, "2010-01-01"),  # same day
                            cb.drug_row(4, 4, 200, "2010-01-02")]))  # 1 day after
    assert subjects(backend, with_drug(correlated(cb.drug(2), window(-30, 0)))) == [1, 3]
    assert subjects(backend, with_drug(correlated(cb.drug(2), window(1, 5)))) == [4]
    assert subjects(backend, with_drug(correlated(cb.drug(2), window(None, -1)))) == [1, 2]


def test_use_index_end_and_use_event_end(cdm: Build) -> None:
    # index ends 2010-01-10
    backend = cdm(world(2, [cb.drug_row(1, 1, 200, "2010-01-15"),
                            cb.drug_row(2, 2, 200, "2009-12-01", "2010-01-05")]))
    after_end = correlated(cb.drug(2), window(0, 10, index_end=True))
    assert subjects(backend, with_drug(after_end)) == [1]
    after_start = correlated(cb.drug(2), window(0, 10))
    assert subjects(backend, with_drug(after_start)) == []
    ending = correlated(cb.drug(2), window(0, 10, event_end=True))
    assert subjects(backend, with_drug(ending)) == [2]


def test_end_window_compares_the_event_end(cdm: Build) -> None:
    backend = cdm(world(2, [cb.drug_row(1, 1, 200, "2009-12-01", "2010-01-05"),
                            cb.drug_row(2, 2, 200, "2009-12-01", "2009-12-05")]))
    ends = correlated(cb.drug(2), window(None, 0), end=window(0, None, event_end=True))
    assert subjects(backend, with_drug(ends)) == [1]
    starts = correlated(cb.drug(2), window(None, 0), end=window(0, None, event_end=False))
    assert subjects(backend, with_drug(starts)) == []
    # an end window without UseEventEnd compares the event end (CIRCE-BE's default)
    default = correlated(cb.drug(2), window(None, 0), end=window(0, None))
    assert subjects(backend, with_drug(default)) == [1]


def test_unbounded_window_stays_in_observation_unless_ignored(cdm: Build) -> None:
    # person 1's drug precedes the observation period; person 2's is inside it
    backend = cdm(world(2, [cb.drug_row(1, 1, 200, "2004-01-01"),
                            cb.drug_row(2, 2, 200, "2008-01-01")],
                        periods=[op(1, "2005-01-01"), op(2, "2005-01-01")]))
    assert subjects(backend, with_drug(correlated(cb.drug(2), window(None, 0)))) == [2]
    ignoring = correlated(cb.drug(2), window(None, 0), ignore_op=True)
    assert subjects(backend, with_drug(ignoring)) == [1, 2]
    bounded = correlated(cb.drug(2), window(-3000, 0), ignore_op=True)
    assert subjects(backend, with_drug(bounded)) == [1, 2]


def test_restrict_visit(cdm: Build) -> None:
    backend = cdm(tiny(
        [person(1), person(2)], concept_ids=[100, 200],
        visit_occurrence=[cb.visit_row(10, 1, 9201, INDEX, "2010-01-03"),
                          cb.visit_row(20, 2, 9201, INDEX, "2010-01-03"),
                          cb.visit_row(21, 2, 9202, INDEX, "2010-01-03")],
        condition_occurrence=[cb.cond_row(1, 1, 100, INDEX, visit_occurrence_id=10),
                              cb.cond_row(2, 2, 100, INDEX, visit_occurrence_id=20)],
        drug_exposure=[cb.drug_row(1, 1, 200, INDEX, visit_occurrence_id=10),
                       cb.drug_row(2, 2, 200, INDEX, visit_occurrence_id=21)],
    ))
    cc = correlated(cb.drug(2), window(0, 0), restrict_visit=True)
    assert subjects(backend, with_drug(cc)) == [1]
    loose = correlated(cb.drug(2), window(0, 0))
    assert subjects(backend, with_drug(loose)) == [1, 2]


# --------------------------------------------------------------------------- occurrence

def test_occurrence_exactly_at_most_at_least(cdm: Build) -> None:
    # drugs in the year before: person 1 none, 2 one, 3 two, 4 three
    drugs = [cb.drug_row(1, 2, 200, "2009-06-01"),
             cb.drug_row(2, 3, 200, "2009-06-01"), cb.drug_row(3, 3, 200, "2009-07-01"),
             cb.drug_row(4, 4, 200, "2009-06-01"), cb.drug_row(5, 4, 200, "2009-07-01"),
             cb.drug_row(6, 4, 200, "2009-08-01")]
    backend = cdm(world(4, drugs))

    def who(occ: dict[str, Any]) -> list[int]:
        return subjects(backend, with_drug(correlated(cb.drug(2), window(-365, 0), occ=occ)))

    assert who(exactly(0)) == [1]
    assert who(exactly(2)) == [3]
    assert who(at_most(1)) == [1, 2]
    assert who(at_least(2)) == [3, 4]
    assert who(at_least(0)) == [1, 2, 3, 4]


def test_occurrence_distinct_count_columns(cdm: Build) -> None:
    # person 1: concepts 200 and 201 on different days; person 2: 200 twice on one day;
    # person 3: 200 on two days
    drugs = [cb.drug_row(1, 1, 200, "2009-06-01"), cb.drug_row(2, 1, 201, "2009-07-01"),
             cb.drug_row(3, 2, 200, "2009-06-01"), cb.drug_row(4, 2, 200, "2009-06-01"),
             cb.drug_row(5, 3, 200, "2009-06-01"), cb.drug_row(6, 3, 200, "2009-08-01")]
    backend = cdm(world(3, drugs))

    def who(occ: dict[str, Any]) -> list[int]:
        return subjects(backend, with_drug(correlated(cb.drug(2), window(-365, 0), occ=occ)))

    assert who(at_least(2)) == [1, 2, 3]
    assert who(at_least(2, distinct=True)) == [1]  # distinct concepts by default
    assert who(at_least(2, distinct=True, column="DOMAIN_CONCEPT")) == [1]
    assert who(at_least(2, distinct=True, column="START_DATE")) == [1, 3]


# --------------------------------------------------------------------------- groups

def test_group_types_and_nesting(cdm: Build) -> None:
    # a: drug before index; b: drug after index; c: procedure before index
    backend = cdm(world(
        4,
        [cb.drug_row(1, 1, 200, "2009-06-01"), cb.drug_row(2, 1, 200, "2010-06-01"),
         cb.drug_row(3, 2, 200, "2009-06-01"),
         cb.drug_row(4, 3, 200, "2010-06-01")],
        procedure_occurrence=[cb.proc_row(1, 1, 300, "2009-06-01"),
                              cb.proc_row(2, 3, 300, "2009-06-01")],
    ))
    before = correlated(cb.drug(2), window(None, -1))
    after = correlated(cb.drug(2), window(1, None))
    proc = correlated(cb.procedure(), window(None, -1))

    def who(g: dict[str, Any]) -> list[int]:
        return subjects(backend, cohort(cb.condition(1), concept_sets=SETS,
                                        rules=[cb.rule("r", g)]))

    # person 1: a b c; 2: a; 3: b c; 4: none
    assert who(group("ALL", before, after, proc)) == [1]
    assert who(group("ANY", before, after)) == [1, 2, 3]
    assert who(group("AT_LEAST", before, after, proc, count=2)) == [1, 3]
    assert who(group("AT_MOST", before, after, proc, count=1)) == [2, 4]
    assert who(group("ALL", before, group("ANY", after, proc))) == [1]
    assert who(group("ANY", group("ALL", before, proc), group("ALL", after, proc))) == [1, 3]
    assert who(group("ALL")) == [1, 2, 3, 4]  # an empty rule passes everyone


def test_demographic_criteria(cdm: Build) -> None:
    people = [person(1, sex=MALE, yob=1950, race=8527, ethnicity=38003564),
              person(2, sex=FEMALE, yob=1980, race=8516, ethnicity=38003563),
              person(3, sex=FEMALE, yob=1960, race=8527, ethnicity=38003564)]
    backend = cdm(world(3, people=people))

    def who(**attrs: Any) -> list[int]:
        return subjects(backend, cohort(cb.condition(1), concept_sets=SETS,
                                        additional=group("ALL", demographic(**attrs))))

    assert who(Age=num("gte", 50)) == [1, 3]  # 60, 30, 50 at 2010
    assert who(Gender=cb.concepts(FEMALE)) == [2, 3]
    assert who(Race=cb.concepts(8527)) == [1, 3]
    assert who(Ethnicity=cb.concepts(38003563)) == [2]
    assert who(OccurrenceStartDate=cb.dates("gt", "2009-12-31")) == [1, 2, 3]
    assert who(OccurrenceEndDate=cb.dates("lt", "2010-01-10")) == []


def test_correlated_criteria_nested_in_a_criterion(cdm: Build) -> None:
    # the index condition itself must have a drug within 7 days after it
    backend = cdm(world(2, [cb.drug_row(1, 1, 200, "2010-01-05"),
                            cb.drug_row(2, 2, 200, "2010-02-05")]))
    nested = cb.condition(1, CorrelatedCriteria=group(
        "ALL", correlated(cb.drug(2), window(0, 7))))
    assert cb.run(backend, cohort(nested, concept_sets=SETS)) == [(1, INDEX, END)]


def test_correlated_events_must_lie_in_the_index_observation_period(cdm: Build) -> None:
    # person 1's drug lies in an earlier observation period than the index
    backend = cdm(world(2, [cb.drug_row(1, 1, 200, "2004-01-01"),
                            cb.drug_row(2, 2, 200, "2008-01-01")],
                        periods=[op(1, "2000-01-01", "2005-12-31", period_id=1),
                                 op(1, "2007-01-01", "2020-12-31", period_id=2),
                                 op(2, "2000-01-01", "2020-12-31", period_id=3)]))
    assert subjects(backend, with_drug(correlated(cb.drug(2), window(-3650, 0)))) == [2]
    ignoring = correlated(cb.drug(2), window(-3650, 0), ignore_op=True)
    assert subjects(backend, with_drug(ignoring)) == [1, 2]


def test_distinct_visits_and_end_dates(cdm: Build) -> None:
    # person 1: two drugs in one visit, same end; person 2: two drugs in two visits
    drugs = [cb.drug_row(1, 1, 200, "2009-06-01", "2009-06-10", visit_occurrence_id=10),
             cb.drug_row(2, 1, 201, "2009-06-02", "2009-06-10", visit_occurrence_id=10),
             cb.drug_row(3, 2, 200, "2009-06-01", "2009-06-10", visit_occurrence_id=20),
             cb.drug_row(4, 2, 200, "2009-07-01", "2009-07-10", visit_occurrence_id=21)]
    backend = cdm(world(2, drugs))

    def who(column: str) -> list[int]:
        occ = at_least(2, distinct=True, column=column)
        return subjects(backend, with_drug(correlated(cb.drug(2), window(-365, 0), occ=occ)))

    assert who("VISIT_ID") == [2]
    assert who("END_DATE") == [2]
    assert who("START_DATE") == [1, 2]


def test_at_most_zero_and_at_least_zero_groups(cdm: Build) -> None:
    backend = cdm(world(2, [cb.drug_row(1, 1, 200, "2009-06-01")]))
    before = correlated(cb.drug(2), window(None, 0))

    def who(g: dict[str, Any]) -> list[int]:
        return subjects(backend, cohort(cb.condition(1), concept_sets=SETS, additional=g))

    assert who(group("AT_MOST", before, count=0)) == [2]
    assert who(group("AT_LEAST", before, count=0)) == [1, 2]
    assert who(group("ANY", before, demographic(Gender=cb.concepts(FEMALE)))) == [1]


def test_distinct_durations(cdm: Build) -> None:
    # person 1: two 9-day exposures; person 2: a 9-day and a 19-day exposure
    backend = cdm(world(2, [cb.drug_row(1, 1, 200, "2009-06-01", "2009-06-10"),
                            cb.drug_row(2, 1, 200, "2009-07-01", "2009-07-10"),
                            cb.drug_row(3, 2, 200, "2009-06-01", "2009-06-10"),
                            cb.drug_row(4, 2, 200, "2009-07-01", "2009-07-20")]))
    occ = at_least(2, distinct=True, column="DURATION")
    cc = correlated(cb.drug(2), window(-365, 0), occ=occ)
    assert subjects(backend, with_drug(cc)) == [2]


def test_windows_use_the_adjusted_dates_of_correlated_events(cdm: Build) -> None:
    # drugs on 2009-12-25 and 2009-12-01, moved 10 days later: only the first lands
    # in the 30 days after the index
    backend = cdm(world(2, [cb.drug_row(1, 1, 200, "2009-12-25", "2009-12-30"),
                            cb.drug_row(2, 2, 200, "2009-12-01", "2009-12-05")]))
    adjusted = cb.drug(2, DateAdjustment=cb.date_adjustment("START_DATE", 10, "END_DATE", 10))
    assert subjects(backend, with_drug(correlated(adjusted, window(0, 30)))) == [1]
    assert subjects(backend, with_drug(correlated(cb.drug(2), window(0, 30)))) == []
