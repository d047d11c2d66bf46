"""Data quality across the network: the data_quality analysis (site half, disclosure
control, hub half), the study option "sites must pass data quality", and the rule that only
that analysis may release counts that are not of persons."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from behindglass.analyses.catalog import get_analysis
from behindglass.analyses.data_quality import DataQualityAnalysis
from behindglass.core.aggregates import Cell, CountTable, SiteAggregate
from behindglass.core.cohort import Cohort
from behindglass.core.errors import DisclosureError, SpecError
from behindglass.core.messages import Task
from behindglass.core.policy import DisclosurePolicy
from behindglass.core.sitedata import SiteContext
from behindglass.core.study import AnalysisSpec, DataQualityRequirement, StudySpec
from behindglass.engine.quality import Thresholds, run_checks
from behindglass.engine.site_store import SiteStore
from behindglass.privacy.suppression import enforce
from behindglass.site import check_disclosable, execute_task
from behindglass.site.execute import quality_gate
from tests.spec.cdm_builder import duckdb_cdm
from tests.spec.test_dq_checks import clean

MIN_CELL = 11
POLICY = DisclosurePolicy(min_cell=MIN_CELL)
# the clean tiny CDM fails these five checks by construction (race/ethnicity 0, a vocabulary
# without domain/vocabulary/class rows); tolerating them makes it pass every check
TOLERATE = {"standardConceptRecordCompleteness.person": 100, "isForeignKey.concept": 100}


def dq_spec(name: str = "DQ", **params: Any) -> AnalysisSpec:
    return AnalysisSpec(kind="data_quality", name=name, cohort="all", params=params)


def study(analyses: list[AnalysisSpec], data_quality: dict[str, Any] | None = None) -> StudySpec:
    data: dict[str, Any] = {"title": "dq", "cohorts": {"all": Cohort.everyone().to_dict()},
                            "analyses": [a.model_dump() for a in analyses]}
    if data_quality is not None:
        data["data_quality"] = data_quality
    return StudySpec.from_dict(data)


def task(spec: StudySpec) -> Task:
    return Task(task_id="tk-dq", study_id="st-dq", site="site-a", researcher="alice",
                study=spec, created=dt.datetime.now(dt.UTC))


def without_context(summary: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if k != "by_context"}


# -- validation ----------------------------------------------------------------------------
@pytest.mark.parametrize(("requirement", "message"), [
    ({}, "min_pct_passed: Field required"),
    ({"min_pct_passed": True}, "must be a number of percent"),
    ({"min_pct_passed": "90"}, "must be a number of percent"),
    ({"min_pct_passed": 100.5}, "not a percentage in 0..100"),
    ({"min_pct_passed": 90, "thresholds": {"isRequired": -1}}, "not a percentage"),
    ({"min_pct_passed": 90, "thresholds": {"isRequired": "5"}}, "must be a number"),
    ({"min_pct_passed": 90, "thresholds": {".x": 5}}, "invalid check-id prefix"),
    ({"min_pct_passed": 90, "thresholds": ["isRequired"]}, "must be an object"),
    ({"min_pct_passed": 90, "pct": 3}, "Extra inputs are not permitted"),
])
def test_requirement_validation_errors(requirement: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        study([dq_spec()], requirement)


def test_study_round_trip_with_requirement() -> None:
    spec = study([dq_spec(detail=True)], {"min_pct_passed": 90,
                                          "thresholds": {"isRequired.person": 5}})
    data = spec.to_dict()
    assert data["data_quality"] == {"min_pct_passed": 90.0,
                                    "thresholds": {"isRequired.person": 5.0}}
    again = StudySpec.from_dict(data)
    assert again == spec and again.to_dict() == data
    # a study without the option serialises as before (its digest does not change)
    assert "data_quality" not in study([dq_spec()]).to_dict()


@pytest.mark.parametrize(("spec", "message"), [
    (dq_spec(thresholds={"isRequired": 200}), "not a percentage in 0..100"),
    (dq_spec(thresholds={"isRequired": None}), "must be a number of percent"),
    (dq_spec(thresholds="isRequired=5"), "must be an object"),
    (dq_spec(detail="yes"), "'detail' must be true or false"),
    (dq_spec(checks=["isRequired"]), r"unknown parameter\(s\) \['checks'\]"),
    (AnalysisSpec(kind="data_quality", name="DQ", cohort="all", comparator="all"),
     "takes no comparator"),
])
def test_analysis_validation_errors(spec: AnalysisSpec, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        get_analysis("data_quality").validate(spec)


def test_analysis_is_in_the_catalog_and_accepts_its_parameters() -> None:
    analysis = get_analysis("data_quality")
    assert isinstance(analysis, DataQualityAnalysis)
    analysis.validate(dq_spec(thresholds={"isRequired": 5, "plausibleValueLow": 2.5},
                              detail=True))


# -- local -> enforce -> combine on GiBleed ------------------------------------------------
@pytest.fixture(scope="module")
def gibleed_truth(gibleed_db: Path) -> tuple[Any, SiteAggregate]:
    """run_checks on GiBleed, and the released data_quality aggregate of the same store."""
    spec = dq_spec(detail=True)
    with SiteStore.open(gibleed_db) as store:
        report = run_checks(store.backend)
        raw = DataQualityAnalysis().local(
            SiteContext(data=store, cohorts={"all": Cohort.everyone()}, policy=POLICY), spec)
    released = enforce(raw, POLICY)
    check_disclosable(released, spec, POLICY)
    return report, released


def test_gibleed_summary_equals_run_checks(gibleed_truth: tuple[Any, SiteAggregate]) -> None:
    report, released = gibleed_truth
    combined = DataQualityAnalysis().combine(dq_spec(detail=True),
                                             [("a", released), ("b", released)])
    truth = report.summary()
    assert truth["failed"] > 0 and truth["passed"] > 0  # GiBleed fails ~77 checks
    assert without_context(combined["per_site"]["a"]) == truth
    network = combined["network"]
    for key in ("checks", "passed", "failed", "not_applicable", "errors"):
        assert network[key] == 2 * truth[key], key
    assert network["pct_passed"] == truth["pct_passed"]  # same store twice, same share
    assert network["by_category"] == {
        cat: {s: 2 * n for s, n in counts.items()} for cat, counts in truth["by_category"].items()}
    contexts: dict[str, int] = {}
    for r in report.results:
        contexts[r.check.context] = contexts.get(r.check.context, 0) + 1
    assert {c: sum(v.values()) for c, v in combined["per_site"]["a"]["by_context"].items()} \
        == contexts
    assert combined["sites"] == ["a", "b"] and "status" in combined["tables"]


def test_gibleed_failed_checks_never_show_a_small_row_count(
        gibleed_truth: tuple[Any, SiteAggregate]) -> None:
    report, released = gibleed_truth
    combined = DataQualityAnalysis().combine(dq_spec(detail=True), [("a", released)])
    listed = {e["check_id"]: e for e in combined["failed_checks"]}
    small = [r for r in report.failed if r.num_violated is not None
             and 0 < r.num_violated < MIN_CELL and r.check.name not in ("cdmTable", "cdmField")]
    assert small, "GiBleed has checks failed by fewer than 11 rows; they make this test"
    assert not set(listed) & {r.check.check_id for r in small}
    for r in report.failed:
        if r.check.check_id not in listed:
            continue
        entry = listed[r.check.check_id]
        assert entry["sites_failing"] == 1 and entry["category"] == r.check.category
        shown = r.to_dict(MIN_CELL)  # the engine's own disclosure rules (report.py)
        releasable = isinstance(shown["num_violated"], int) and isinstance(
            shown["denominator"], int) and r.check.name not in ("cdmTable", "cdmField")
        if releasable:
            assert (entry["violated"], entry["rows"]) == (r.num_violated, r.denominator)
        else:
            assert entry["violated"] is None and entry["complete"] is False
    assert len(listed) == sum(
        1 for r in report.failed if r.check.name in ("cdmTable", "cdmField")
        or (r.num_violated or 0) >= MIN_CELL)
    person_counts = [c.count for t in released.tables if t.unit == "persons"
                     for c in t.cells if c.count is not None]
    assert person_counts and min(person_counts) >= MIN_CELL


def test_without_detail_no_check_is_named(gibleed_truth: tuple[Any, SiteAggregate],
                                          gibleed_db: Path) -> None:
    with SiteStore.open(gibleed_db) as store:
        raw = DataQualityAnalysis().local(
            SiteContext(data=store, cohorts={}, policy=POLICY), dq_spec())
    assert [t.name for t in raw.tables] == ["status", "status_by_category",
                                            "status_by_context"]
    combined = DataQualityAnalysis().combine(dq_spec(), [("a", enforce(raw, POLICY))])
    assert combined["failed_checks"] == [] and combined["detail"] is False
    assert without_context(combined["network"]) == gibleed_truth[0].summary()


# -- the study requirement -----------------------------------------------------------------
def broken_rows() -> dict[str, list[dict[str, Any]]]:
    rows = copy.deepcopy(clean())
    rows["person"][1]["gender_concept_id"] = None               # isRequired, ...
    rows["condition_occurrence"][1]["person_id"] = 99            # isForeignKey
    rows["condition_occurrence"][0]["condition_concept_id"] = 44819  # not standard
    return rows


def tiny_store(rows: Mapping[str, Any]) -> SiteStore:
    return SiteStore(duckdb_cdm(rows))


REQUIREMENT = {"min_pct_passed": 100, "thresholds": TOLERATE}
ANALYSES = [AnalysisSpec(kind="cohort_count", name="Count", cohort="all"), dq_spec()]


def test_a_broken_store_fails_the_requirement_and_refuses_every_analysis() -> None:
    decisions: list[tuple[str, str, str | None]] = []
    with tiny_store(broken_rows()) as store:
        truth = run_checks(store.backend, thresholds=Thresholds(TOLERATE)).summary()
        out = execute_task(task(study(ANALYSES, REQUIREMENT)), store, POLICY,
                           decide=lambda a, _k, d, r: decisions.append((a, d, r)))
    assert truth["failed"] > 0 and truth["pct_passed"] < 100
    assert out.aggregates == []
    assert [r.analysis for r in out.refusals] == ["Count", "DQ"]
    for refusal in out.refusals:
        assert f"{truth['pct_passed']:.2f}% of data-quality checks passed" in refusal.reason
        assert "requires at least 100%" in refusal.reason
    assert [d for _, d, _ in decisions] == ["refuse", "refuse"]


def test_a_clean_store_passes_the_requirement_and_runs_as_usual() -> None:
    with tiny_store(clean()) as store:
        truth = run_checks(store.backend, thresholds=Thresholds(TOLERATE)).summary()
        out = execute_task(task(study(ANALYSES, REQUIREMENT)), store, POLICY)
        # without the tolerances, the same clean store is below 100% and is refused
        strict = execute_task(task(study(ANALYSES, {"min_pct_passed": 100})), store, POLICY)
    assert truth["failed"] == 0 and truth["pct_passed"] == 100.0
    assert out.refusals == [] and [a.analysis for a in out.aggregates] == ["Count", "DQ"]
    assert len(strict.refusals) == 2 and not strict.aggregates


def test_no_requirement_means_no_gate() -> None:
    with tiny_store(broken_rows()) as store:
        out = execute_task(task(study(ANALYSES)), store, POLICY)
    assert out.refusals == [] and len(out.aggregates) == 2


class Counting:
    """A site store that counts its data-quality runs."""

    def __init__(self, store: SiteStore) -> None:
        self.store, self.runs = store, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def data_quality(self, thresholds: Mapping[str, float] | None = None) -> Any:
        self.runs += 1
        return self.store.data_quality(thresholds)


def test_checks_run_once_per_task() -> None:
    analyses = [dq_spec("DQ1", thresholds=TOLERATE), dq_spec("DQ2", thresholds=TOLERATE,
                                                             detail=True),
                AnalysisSpec(kind="cohort_count", name="Count", cohort="all")]
    with tiny_store(clean()) as store:
        data = Counting(store)
        out = execute_task(task(study(analyses, REQUIREMENT)), data, POLICY)  # type: ignore[arg-type]
    assert out.refusals == [] and len(out.aggregates) == 3
    assert data.runs == 1


def test_a_failing_quality_run_refuses_without_its_message() -> None:
    class Broken:
        def data_quality(self, thresholds: Any = None) -> Any:
            raise RuntimeError("could not cast '987654321' in row 12")

    out = execute_task(task(study(ANALYSES, REQUIREMENT)), Broken(), POLICY)  # type: ignore[arg-type]
    assert len(out.refusals) == 2 and not out.aggregates
    for refusal in out.refusals:
        assert "RuntimeError" in refusal.reason and "987654321" not in refusal.reason


# -- only the data-quality kind may release counts that are not of persons -----------------
def sneaky(kind: str = "characterize", unit: str = "checks") -> SiteAggregate:
    """Person counts (one of them 3) labelled as a table of checks."""
    return SiteAggregate(analysis="Sneak", kind=kind, tables=(
        CountTable(name="race", dims=("race",), unit=unit,  # type: ignore[arg-type]
                   cells=(Cell(key=("White",), count=300), Cell(key=("Asian",), count=3))),))


def test_person_counts_cannot_be_sneaked_out_as_checks() -> None:
    spec = AnalysisSpec(kind="characterize", name="Sneak", cohort="all")
    with pytest.raises(DisclosureError, match="counts checks, which analyses of kind "
                                              "'characterize' may not release"):
        check_disclosable(sneaky(), spec, POLICY)
    # enforce treats the table as persons anyway: the 3 does not survive suppression
    assert enforce(sneaky(), POLICY).tables[0].value("Asian") is None

    class Sneak:
        def validate(self, spec: AnalysisSpec) -> None:
            pass

        def local(self, site: SiteContext, spec: AnalysisSpec) -> SiteAggregate:
            return sneaky()

    out = execute_task(task(study([spec])),
                       object(), POLICY,  # type: ignore[arg-type]
                       catalog=lambda kind: Sneak(),
                       enforce=lambda aggs, policy, prior: list(aggs))  # broken: the gate holds
    assert out.aggregates == []
    assert "may not release" in out.refusals[0].reason


def test_checks_tables_of_the_data_quality_kind_pass_and_its_person_tables_do_not() -> None:
    spec = dq_spec("Sneak")
    ok = sneaky(kind="data_quality")
    check_disclosable(enforce(ok, POLICY), spec, POLICY)  # counts of checks may be small
    assert enforce(ok, POLICY) == ok
    with pytest.raises(DisclosureError, match="count below 11"):
        check_disclosable(sneaky(kind="data_quality", unit="persons"), spec, POLICY)
    assert sneaky().tables[0].unit == "checks"
    assert CountTable(name="x").unit == "persons"  # the default is the strict one


class Fake:
    """A store whose checks come out as given: status -> how many."""

    def __init__(self, **statuses: int) -> None:
        check = SimpleNamespace(check_id="c", name="isRequired", category="Completeness",
                                subcategory="", context="Verification", table="person")
        self.results = [SimpleNamespace(check=check, status=s, threshold=0.0,
                                        num_violated=None, denominator=None)
                        for s, n in statuses.items() for _ in range(n)]

    def data_quality(self, thresholds: Any = None) -> Any:
        return self


@pytest.mark.parametrize(("statuses", "minimum", "expected"), [
    ({"pass": 99_999, "fail": 1}, 100, "99.999000% of data-quality checks passed"),
    ({"pass": 9, "fail": 1}, 90, None),
    ({"pass": 8, "fail": 2}, 90, "80.00% of data-quality checks passed (8 of 10)"),
    ({"not_applicable": 5, "error": 1}, 10, "no check at this site passed or failed"),
])
def test_quality_gate_edges(statuses: dict[str, int], minimum: float,
                            expected: str | None) -> None:
    required = DataQualityRequirement(min_pct_passed=minimum)
    reason = quality_gate(required, Fake(**statuses))  # type: ignore[arg-type]
    if expected is None:
        assert reason is None
    else:
        assert reason is not None and expected in reason and f"{minimum:g}%" in reason
