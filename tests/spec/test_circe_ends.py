"""Circe cohort exits: end strategies, censoring, the censor window, era collapsing and the
expression limit.

Every person is observed 2000-01-01..2020-12-31 unless a case says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable

from behindglass.engine.backend import Backend
from tests.spec import circe_builder as cb
from tests.spec.cdm_builder import Rows
from tests.spec.circe_builder import (
    cohort,
    concept_set,
    correlated,
    custom_era,
    date_offset,
    group,
    op,
    person,
    tiny,
    window,
)

Build = Callable[[Rows], Backend]
END = "2020-12-31"
SETS = [concept_set(1, 100), concept_set(2, 200), concept_set(3, 300)]


def test_date_offset_from_start_and_end_capped_at_observation_end(cdm: Build) -> None:
    backend = cdm(tiny(
        [person(1), person(2)], periods=[op(1), op(2, "2000-01-01", "2010-01-15")],
        concept_ids=[100],
        condition_occurrence=[cb.cond_row(1, 1, 100, "2010-01-01", "2010-01-10"),
                              cb.cond_row(2, 2, 100, "2010-01-01", "2010-01-10")],
    ))
    from_start = cohort(cb.condition(1), concept_sets=SETS, end=date_offset("StartDate", 30))
    assert cb.run(backend, from_start) == [(1, "2010-01-01", "2010-01-31"),
                                           (2, "2010-01-01", "2010-01-15")]
    from_end = cohort(cb.condition(1), concept_sets=SETS, end=date_offset("EndDate", 3))
    assert cb.run(backend, from_end) == [(1, "2010-01-01", "2010-01-13"),
                                         (2, "2010-01-01", "2010-01-13")]


def test_default_end_is_the_end_of_the_observation_period(cdm: Build) -> None:
    backend = cdm(tiny(
        [person(1)], periods=[op(1, "2000-01-01", "2005-12-31", period_id=1),
                              op(1, "2008-01-01", "2012-06-30", period_id=2)],
        concept_ids=[100], condition_occurrence=[cb.cond_row(1, 1, 100, "2010-01-01")]))
    assert cb.run(backend, cohort(cb.condition(1), concept_sets=SETS)) == [
        (1, "2010-01-01", "2012-06-30")]


def test_custom_era_with_gap_days(cdm: Build) -> None:
    # exposures 01-01..01-31 and 02-15..03-16 (15 days apart); 2011 exposure far away
    backend = cdm(tiny([person(1), person(2)], concept_ids=[200], drug_exposure=[
        cb.drug_row(1, 1, 200, "2010-01-01", days_supply=30),
        cb.drug_row(2, 1, 200, "2010-02-15", "2010-03-16"),
        cb.drug_row(3, 1, 200, "2011-01-01", days_supply=10),
        cb.drug_row(4, 2, 200, "2010-01-01"),  # no end, no supply: one day
    ]))
    gap30 = cohort(cb.drug(2), concept_sets=SETS, end=custom_era(2, gap=30))
    assert cb.run(backend, gap30) == [(1, "2010-01-01", "2010-03-16"),
                                      (2, "2010-01-01", "2010-01-02")]
    gap10 = cohort(cb.drug(2), concept_sets=SETS, end=custom_era(2, gap=10))
    assert cb.run(backend, gap10) == [(1, "2010-01-01", "2010-01-31"),
                                      (2, "2010-01-01", "2010-01-02")]


def test_custom_era_offset_and_days_supply_override(cdm: Build) -> None:
    backend = cdm(tiny([person(1)], concept_ids=[200], drug_exposure=[
        cb.drug_row(1, 1, 200, "2010-01-01", days_supply=30),
        cb.drug_row(2, 1, 200, "2010-03-01", days_supply=30),
    ]))
    offset = cohort(cb.drug(2), concept_sets=SETS, end=custom_era(2, gap=0, offset=7))
    assert cb.run(backend, offset) == [(1, "2010-01-01", "2010-02-07")]
    # every exposure lasts 60 days: 01-01..03-02 overlaps 03-01..04-30
    override = cohort(cb.drug(2), concept_sets=SETS, end=custom_era(2, days_supply=60))
    assert cb.run(backend, override) == [(1, "2010-01-01", "2010-04-30")]


def test_custom_era_offset_takes_part_in_collapsing(cdm: Build) -> None:
    # CIRCE-BE pads each exposure end by GapDays + Offset before collapsing and takes only
    # GapDays back off: exposures 01-01..01-11 and 01-21..01-31 (10 days apart) with gap 0
    # and offset 30 form one era ending 01-31 + 30
    backend = cdm(tiny([person(1)], concept_ids=[200], drug_exposure=[
        cb.drug_row(1, 1, 200, "2010-01-01", days_supply=10),
        cb.drug_row(2, 1, 200, "2010-01-21", days_supply=10),
    ]))
    definition = cohort(cb.drug(2), concept_sets=SETS, end=custom_era(2, gap=0, offset=30))
    assert cb.run(backend, definition) == [(1, "2010-01-01", "2010-03-02")]


def test_custom_era_capped_at_observation_end(cdm: Build) -> None:
    backend = cdm(tiny([person(1)], periods=[op(1, "2000-01-01", "2010-01-20")],
                       concept_ids=[200],
                       drug_exposure=[cb.drug_row(1, 1, 200, "2010-01-01", days_supply=60)]))
    definition = cohort(cb.drug(2), concept_sets=SETS, end=custom_era(2))
    assert cb.run(backend, definition) == [(1, "2010-01-01", "2010-01-20")]


def test_censoring_criteria_end_the_entry_at_the_first_censoring_event(cdm: Build) -> None:
    backend = cdm(tiny(
        [person(1), person(2), person(3)], concept_ids=[100, 300],
        condition_occurrence=[cb.cond_row(i, i, 100, "2010-01-01") for i in (1, 2, 3)],
        procedure_occurrence=[cb.proc_row(1, 1, 300, "2010-03-01"),
                              cb.proc_row(2, 1, 300, "2010-02-01"),
                              cb.proc_row(3, 2, 300, "2009-12-01"),  # before entry
                              cb.proc_row(4, 3, 300, "2010-01-01")],  # on the entry day
    ))
    definition = cohort(cb.condition(1), concept_sets=SETS, censoring=[cb.procedure(3)])
    assert cb.run(backend, definition) == [(1, "2010-01-01", "2010-02-01"),
                                           (2, "2010-01-01", END),
                                           (3, "2010-01-01", "2010-01-01")]
    # a censoring event after a DateOffset end changes nothing
    short = cohort(cb.condition(1), concept_sets=SETS, censoring=[cb.procedure(3)],
                   end=date_offset("StartDate", 10))
    assert cb.run(backend, short) == [(1, "2010-01-01", "2010-01-11"),
                                      (2, "2010-01-01", "2010-01-11"),
                                      (3, "2010-01-01", "2010-01-01")]


def test_censor_window_clips_and_drops(cdm: Build) -> None:
    backend = cdm(tiny(
        [person(1), person(2), person(3)], concept_ids=[100],
        condition_occurrence=[cb.cond_row(1, 1, 100, "2009-06-01"),
                              cb.cond_row(2, 2, 100, "2010-06-01"),
                              cb.cond_row(3, 3, 100, "2012-06-01")],
    ))
    definition = cohort(cb.condition(1), concept_sets=SETS, end=date_offset("StartDate", 365),
                        censor_start="2010-01-01", censor_end="2011-01-31")
    generation = cb.generate(backend, definition)
    assert cb.rows_of(backend, generation) == [(1, "2010-01-01", "2010-06-01"),
                                               (2, "2010-06-01", "2011-01-31")]
    assert generation.censored_persons == 1


def test_era_pad_collapses_close_entries(cdm: Build) -> None:
    # entries 01-01..01-11 and 01-31..02-10: 20 days apart
    backend = cdm(tiny([person(1)], concept_ids=[100], condition_occurrence=[
        cb.cond_row(1, 1, 100, "2010-01-01"), cb.cond_row(2, 1, 100, "2010-01-31")]))

    def rows(pad: int) -> list[tuple[int, str, str]]:
        return cb.run(backend, cohort(cb.condition(1), concept_sets=SETS, limit="All",
                                      expression_limit="All", era_pad=pad,
                                      end=date_offset("StartDate", 10)))

    assert rows(0) == [(1, "2010-01-01", "2010-01-11"), (1, "2010-01-31", "2010-02-10")]
    assert rows(19) == [(1, "2010-01-01", "2010-01-11"), (1, "2010-01-31", "2010-02-10")]
    assert rows(20) == [(1, "2010-01-01", "2010-02-10")]


def test_overlapping_entries_collapse_without_pad(cdm: Build) -> None:
    backend = cdm(tiny([person(1)], concept_ids=[100], condition_occurrence=[
        cb.cond_row(1, 1, 100, "2010-01-01"), cb.cond_row(2, 1, 100, "2010-01-05")]))
    definition = cohort(cb.condition(1), concept_sets=SETS, limit="All",
                        expression_limit="All", end=date_offset("StartDate", 10))
    assert cb.run(backend, definition) == [(1, "2010-01-01", "2010-01-15")]


def test_expression_limit_after_inclusion_rules(cdm: Build) -> None:
    # events 2010, 2011, 2012; the rule (a drug within 30 days before) fails for 2010
    backend = cdm(tiny([person(1)], concept_ids=[100, 200], condition_occurrence=[
        cb.cond_row(i, 1, 100, f"{2009 + i}-01-01") for i in (1, 2, 3)],
        drug_exposure=[cb.drug_row(1, 1, 200, "2010-12-20"),
                       cb.drug_row(2, 1, 200, "2011-12-20")]))
    rule = cb.rule("drug before", group("ALL", correlated(cb.drug(2), window(-30, 0))))

    def rows(limit: str) -> list[tuple[int, str, str]]:
        return cb.run(backend, cohort(cb.condition(1), concept_sets=SETS, limit="All",
                                      rules=[rule], expression_limit=limit,
                                      end=date_offset("StartDate", 1)))

    assert rows("First") == [(1, "2011-01-01", "2011-01-02")]
    assert rows("Last") == [(1, "2012-01-01", "2012-01-02")]
    assert rows("All") == [(1, "2011-01-01", "2011-01-02"), (1, "2012-01-01", "2012-01-02")]


def test_custom_era_for_an_index_outside_every_era_ends_with_observation(cdm: Build) -> None:
    # the condition index is not inside a drug era; drug source concepts count as well
    backend = cdm(tiny([person(1), person(2)], concept_ids=[100, 200], condition_occurrence=[
        cb.cond_row(1, 1, 100, "2010-01-01"), cb.cond_row(2, 2, 100, "2010-01-01")],
        drug_exposure=[cb.drug_row(1, 1, 200, "2009-01-01", days_supply=10),
                       cb.drug_row(2, 2, 999, "2009-12-20", days_supply=30,
                                   drug_source_concept_id=200)]))
    definition = cohort(cb.condition(1), concept_sets=SETS, end=custom_era(2))
    assert cb.run(backend, definition) == [(1, "2010-01-01", END),
                                           (2, "2010-01-01", "2010-01-19")]


def test_negative_date_offset_before_entry_drops_the_entry(cdm: Build) -> None:
    backend = cdm(tiny([person(1)], concept_ids=[100], condition_occurrence=[
        cb.cond_row(1, 1, 100, "2010-01-01", "2010-01-20")]))
    before = cohort(cb.condition(1), concept_sets=SETS, end=date_offset("StartDate", -5))
    assert cb.run(backend, before) == []
    from_end = cohort(cb.condition(1), concept_sets=SETS, end=date_offset("EndDate", -5))
    assert cb.run(backend, from_end) == [(1, "2010-01-01", "2010-01-15")]


def test_censoring_criteria_with_their_own_correlated_criteria(cdm: Build) -> None:
    # only a drug followed within 5 days by the procedure censors
    backend = cdm(tiny(
        [person(1), person(2)], concept_ids=[100, 200, 300],
        condition_occurrence=[cb.cond_row(i, i, 100, "2010-01-01") for i in (1, 2)],
        drug_exposure=[cb.drug_row(1, 1, 200, "2010-02-01"),
                       cb.drug_row(2, 2, 200, "2010-03-01")],
        procedure_occurrence=[cb.proc_row(1, 1, 300, "2010-02-03")],
    ))
    censor = cb.drug(2, CorrelatedCriteria=group("ALL", correlated(cb.procedure(3),
                                                                   window(0, 5))))
    definition = cohort(cb.condition(1), concept_sets=SETS, censoring=[censor])
    assert cb.run(backend, definition) == [(1, "2010-01-01", "2010-02-01"),
                                           (2, "2010-01-01", END)]
