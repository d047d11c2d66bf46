"""Cohort semantics on the tiny store, whose answers are known by construction."""

from __future__ import annotations

from pathlib import Path

import pytest

from behindglass.core.cohort import Cohort
from behindglass.core.errors import EngineError
from behindglass.engine.site_store import SiteStore
from tests.unit.conftest import DM, T2D


@pytest.fixture
def data(tiny_cdm: Path):
    with SiteStore.open(tiny_cdm) as d:
        yield d


def members(data: SiteStore, cohort: Cohort) -> set[int]:
    table = data.members(cohort)
    return {r[0] for r in data._query(f"SELECT person_id FROM {table}")}


def test_everyone_is_every_observed_person(data):
    assert data.count_persons(Cohort.everyone()) == 40


def test_exact_concept_excludes_out_of_observation_first_event(data):
    # person 5's only T2D record precedes observation: not a member
    assert members(data, Cohort.condition(T2D)) == set(range(1, 31)) - {5}


def test_descendants_expand_through_concept_ancestor(data):
    with_desc = members(data, Cohort.condition(DM))
    without = members(data, Cohort.condition(DM, descendants=False))
    assert with_desc == (set(range(1, 34)) - {5})
    assert without == {31, 32, 33}


def test_exclusion_removes_descendant(data):
    assert members(data, Cohort.condition(DM, exclude=[T2D])) == {31, 32, 33}


def test_prior_observation_requirement(data):
    # person 6 has 31 days of observation before index
    cohort = Cohort.condition(T2D).observed(prior_days=365)
    assert 6 not in members(data, cohort)
    assert 6 in members(data, Cohort.condition(T2D).observed(prior_days=31))


def test_first_occurrence_index_date(data):
    table = data.members(Cohort.condition(T2D))
    (index,) = data._query(f"SELECT index_date FROM {table} WHERE person_id = 7")[0]
    assert str(index) == "2015-06-01"


def test_age_and_sex_filters(data):
    # born 1950 -> age 65 at 2015 index: persons 1-10 (5 excluded, observed issue)
    older = Cohort.condition(T2D).age_between(60, 70)
    assert members(data, older) == set(range(1, 11)) - {5}
    assert members(data, Cohort.condition(T2D).sex_in("male")) == set(range(21, 31))


def test_count_by_dimensions(data):
    cohort = Cohort.condition(T2D)
    assert dict(data.count_by(cohort, "sex")) == {"female": 19, "male": 10}
    assert dict(data.count_by(cohort, "age_band")) == {"60-69": 9, "40-49": 20}
    assert dict(data.count_by(cohort, "race")) == {"White": 29}
    assert dict(data.count_by(cohort, "ethnicity")) == {"unknown": 29}


def test_top_concepts_respect_window(data):
    cohort = Cohort.condition(T2D)
    top = data.top_concepts(cohort, "condition", 5, 365)
    assert top[0] == (T2D, "Type 2 diabetes mellitus", 29)
    assert (320128, "Essential hypertension", 3) not in top  # 2014-01-01 is > 365 days back
    anytime = data.top_concepts(cohort, "condition", 5, None)
    assert (320128, "Essential hypertension", 3) in anytime
    drugs = data.top_concepts(cohort, "drug", 5, 365)
    # persons 1-12, less 5 (not a member) and 6 (metformin after their 2015-02-01 index)
    assert drugs == [(1503297, "metformin", 10)]


def test_missing_database_is_a_clear_error(tmp_path):
    with pytest.raises(EngineError, match="no such site database"):
        SiteStore.open(tmp_path / "absent.duckdb")
