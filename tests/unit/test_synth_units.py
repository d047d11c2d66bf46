"""The vectorised building blocks: hazard sampling, eras, ragged expansion."""

from __future__ import annotations

import numpy as np

from behindglass.synth.eras import condition_era_rows, drug_era_rows
from behindglass.synth.outcomes import first_event
from behindglass.synth.ragged import NEVER, expand, group_cummax
from behindglass.synth.vocabulary import ancestry, vocabulary_tables


def test_first_event_matches_the_exponential_law() -> None:
    rng = np.random.default_rng(0)
    n = 200_000
    start, end = np.zeros(n), np.full(n, 365.25 * 10)
    rate = 0.1  # per year
    day = first_event(rng, start, end, np.full(n, np.log(rate)), [])
    expected = 1 - np.exp(-rate * 10)
    assert abs(np.isfinite(day).mean() - expected) < 0.005
    assert day[np.isfinite(day)].max() < end[0]


def test_a_factor_multiplies_the_hazard_only_while_active() -> None:
    rng = np.random.default_rng(1)
    n = 200_000
    start, end = np.zeros(n), np.full(n, 3652.5)
    on, off = np.full(n, 1826.25), np.full(n, NEVER)  # active in the second half
    day = first_event(rng, start, end, np.full(n, np.log(0.02)), [(on, off, np.log(3.0))])
    first_half = ((day < 1826.25) & np.isfinite(day)).mean()
    second_half = ((day >= 1826.25) & np.isfinite(day)).mean()
    assert abs(first_half - (1 - np.exp(-0.1))) < 0.005
    assert abs(second_half - np.exp(-0.1) * (1 - np.exp(-0.3))) < 0.005


def test_expand_and_group_cummax() -> None:
    flat = expand(np.array([2, 0, 3]))
    assert flat.owner.tolist() == [0, 0, 2, 2, 2]
    assert flat.rank.tolist() == [0, 1, 0, 1, 2]
    running = group_cummax(np.array([5.0, 3.0, 1.0, 4.0, 2.0]),
                           np.array([True, False, True, False, False]))
    assert running.tolist() == [5.0, 5.0, 1.0, 4.0, 4.0]


def test_eras_join_records_within_thirty_days() -> None:
    drugs = {"person_id": np.array([1, 1, 1, 2]), "drug_concept_id": np.array([7, 7, 7, 7]),
             "drug_exposure_start_date": np.array([0, 35, 200, 0]),
             "drug_exposure_end_date": np.array([30, 65, 230, 30])}
    eras = drug_era_rows(drugs)
    assert eras["drug_era_start_date"].tolist() == [0, 200, 0]
    assert eras["drug_era_end_date"].tolist() == [65, 230, 30]
    assert eras["drug_exposure_count"].tolist() == [2, 1, 1]
    assert eras["gap_days"].tolist() == [5, 0, 0]
    conditions = {"person_id": np.array([1, 1, 1]), "condition_concept_id": np.array([9, 9, 9]),
                  "condition_start_date": np.array([0, 20, 100])}
    assert condition_era_rows(conditions)["condition_occurrence_count"].tolist() == [2, 1]


def test_vocabulary_tables_are_consistent() -> None:
    tables = vocabulary_tables()
    concepts = set(tables["concept"]["concept_id"])
    rows = ancestry()
    assert {a for a, _, _, _ in rows} <= concepts and {d for _, d, _, _ in rows} <= concepts
    assert all(lo <= hi for _, _, lo, hi in rows)
    assert set(tables["domain"]["domain_concept_id"]) <= concepts
    assert set(tables["vocabulary"]["vocabulary_concept_id"]) <= concepts
    assert set(tables["relationship"]["relationship_concept_id"]) <= concepts
