"""Characterization: the site half against the tiny store, the hub half on releases."""

from __future__ import annotations

from pathlib import Path

import pytest

from behindglass.analyses.catalog import get_analysis
from behindglass.analyses.requests import Characterize, CohortCount
from behindglass.core.cohort import Cohort
from behindglass.core.errors import SpecError
from behindglass.core.policy import DisclosurePolicy
from behindglass.core.sitedata import SiteContext, SiteData
from behindglass.core.study import AnalysisSpec, StudySpec
from behindglass.engine.site_store import SiteStore
from behindglass.privacy.suppression import enforce
from tests.unit.conftest import T2D


def at(data: SiteData, cohort: Cohort, spec: AnalysisSpec) -> SiteContext:
    return SiteContext(data=data, cohorts={spec.cohort: cohort}, policy=DisclosurePolicy())


def test_local_then_enforce(tiny_cdm: Path):
    spec = Characterize("t2d", top_n=3).to_spec()
    analysis = get_analysis("characterize")
    with SiteStore.open(tiny_cdm) as data:
        raw = analysis.local(at(data, Cohort.condition(T2D), spec), spec)
    assert raw.table("persons").value() == 29
    assert raw.table("sex").value("male") == 10
    released = enforce(raw, DisclosurePolicy())
    # male 10 < 11 is suppressed, and female (19) with it, as the total would reveal it
    assert released.table("sex").value("male") is None
    assert released.table("sex").value("female") is None
    assert released.table("persons").value() == 29
    assert released.table("top_drug").value("1503297") is None  # 10 persons


def test_combine_pools_and_flags_incomplete(tiny_cdm: Path):
    spec = Characterize("t2d", by=["age_band"], top_n=0).to_spec()
    analysis = get_analysis("characterize")
    with SiteStore.open(tiny_cdm) as data:
        raw = analysis.local(at(data, Cohort.condition(T2D), spec), spec)
    agg = enforce(raw, DisclosurePolicy(min_cell=5))
    small = enforce(raw, DisclosurePolicy(min_cell=21))
    combined = analysis.combine(spec, [("a", agg), ("b", agg), ("c", small)])
    persons = combined["tables"]["persons"]["rows"][0]
    assert persons["pooled"] == 87 and persons["complete"]
    band = {tuple(r["key"]): r for r in combined["tables"]["age_band"]["rows"]}
    assert band[("40-49",)]["pooled"] == 40  # 20 + 20, site c suppressed it
    assert band[("40-49",)]["complete"] is False
    assert band[("40-49",)]["sites"]["c"] == "suppressed"


def test_cohort_count_request(tiny_cdm: Path):
    spec = CohortCount("all").to_spec()
    with SiteStore.open(tiny_cdm) as data:
        agg = get_analysis(spec.kind).local(at(data, Cohort.everyone(), spec), spec)
    assert agg.table("persons").value() == 40


@pytest.mark.parametrize("params, message", [
    ({"by": ["zodiac"]}, "'by' must be a list"),
    ({"top_n": 1000}, "'top_n' must be an integer"),
    ({"window_days": -1}, "'window_days'"),
    ({"domains": ["note"]}, "'domains'"),
    ({"colour": 1}, "unknown parameter"),
])
def test_bad_parameters_are_named(params, message):
    spec = AnalysisSpec(kind="characterize", name="C", cohort="t2d", params=params)
    with pytest.raises(SpecError, match=message):
        get_analysis("characterize").validate(spec)


def test_unknown_kind_lists_catalog():
    with pytest.raises(SpecError, match="characterize"):
        get_analysis("run_my_python")


def test_study_spec_round_trip_and_reference_check():
    spec = StudySpec(title="t", cohorts={"t2d": Cohort.condition(T2D).age_between(18, 75)},
                     analyses=(Characterize("t2d").to_spec(),))
    again = StudySpec.from_dict(spec.to_dict())
    assert again == spec
    bad = spec.to_dict()
    bad["analyses"][0]["cohort"] = "missing"
    with pytest.raises(SpecError, match="refers to cohort 'missing'"):
        StudySpec.from_dict(bad)


def test_absent_category_in_a_breakdown_is_an_exact_zero(tiny_cdm: Path):
    spec = Characterize("t2d", by=["race"], top_n=0).to_spec()
    analysis = get_analysis("characterize")
    with SiteStore.open(tiny_cdm) as data:
        everyone = analysis.local(at(data, Cohort.everyone(), spec), spec)
        t2d = analysis.local(at(data, Cohort.condition(T2D), spec), spec)
    policy = DisclosurePolicy(min_cell=1)
    combined = analysis.combine(spec, [("a", enforce(everyone, policy)),
                                       ("b", enforce(t2d, policy))])
    black = next(r for r in combined["tables"]["race"]["rows"]
                 if r["key"] == ["Black or African American"])
    assert black["sites"] == {"a": 5, "b": 0}
    assert black["pooled"] == 5 and black["complete"] is True
