"""The covariates catalog analysis: parameters, the site path, exact pooling and SMDs.

GiBleed is split over three site stores by ``person_id % 3``; each runs the request through
the site's real path (validate, local, enforce, check_disclosable) and the hub half pools
the releases. Pooled values must equal the same request run on the whole database, and the
SMDs must equal a hand computation from the pooled counts.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from behindglass.analyses.catalog import get_analysis
from behindglass.analyses.covariates import CovariatesAnalysis, role_release
from behindglass.analyses.requests import Covariates
from behindglass.core.aggregates import SiteAggregate
from behindglass.core.cohort import Cohort
from behindglass.core.errors import SpecError
from behindglass.core.policy import DisclosurePolicy
from behindglass.core.sitedata import SiteContext
from behindglass.core.study import AnalysisSpec, StudySpec
from behindglass.engine.characterization import BinaryCovariate, CohortCovariates
from behindglass.engine.site_store import SiteStore
from behindglass.privacy.suppression import enforce
from behindglass.site.execute import check_disclosable
from tests.integration.harness import SITES
from tests.unit import site_run

CELECOXIB_JSON = (Path(__file__).resolve().parents[2].parent / "shared" / "data"
                  / "ohdsi-cohort-definitions" / "cohortgenerator-testdata" / "celecoxib.json")
COHORTS = {"cel": Cohort.drug(1118084), "dic": Cohort.drug(1124300)}
# a few windows and domains keep the test fast; the engine's own tests cover the rest
REQUEST = Covariates("cel", comparator="dic", windows=[[-365, 0], [None, 0]],
                     domains=["condition_occurrence", "drug_era"],
                     count_domains=["condition_occurrence"], name="CelVsDic")


def run_at(db: Path, spec: AnalysisSpec, min_cell: int,
           cohorts: dict[str, Cohort] = COHORTS) -> SiteAggregate:
    return site_run.run_at(db, spec, min_cell, cohorts)


@pytest.fixture(scope="module")
def sites(gibleed_sites: dict[str, Path]) -> dict[str, Path]:
    return gibleed_sites


@pytest.fixture(scope="module")
def pooled(sites: dict[str, Path]) -> dict[int, dict[str, Any]]:
    """The request pooled over the three sites, at min_cell 1 and 11."""
    spec = REQUEST.to_spec()
    out = {}
    for min_cell in (1, 11):
        releases = [(s, run_at(sites[s], spec, min_cell)) for s in SITES]
        out[min_cell] = {"releases": releases,
                         "result": get_analysis("covariates").combine(spec, releases)}
    return out


@pytest.fixture(scope="module")
def whole(gibleed_db: Path) -> dict[str, Any]:
    spec = REQUEST.to_spec()
    return get_analysis("covariates").combine(spec, [("all", run_at(gibleed_db, spec, 1))])


def by_id(part: dict[str, Any], kind: str) -> dict[int, dict[str, Any]]:
    return {r["covariate_id"]: r for r in part[kind]}


# -- parameters ----------------------------------------------------------------------------
@pytest.mark.parametrize("params, message", [
    ({"colour": 1}, r"unknown parameter\(s\) \['colour'\]"),
    ({"windows": "all"}, "'windows' must be a list"),
    ({"windows": [[0, -30]]}, "start <= end"),
    ({"windows": [[-30]]}, r"\[start_day or null, end_day\]"),
    ({"windows": [[None, True]]}, "each of 'windows'"),
    ({"windows": [[-30, 0], [-30, 0]]}, "repeat"),
    ({"windows": [[-10**6, 0]]}, "100000"),
    ({"windows": [[-i, 0] for i in range(100)]}, "at most 99"),
    ({"domains": ["note"]}, "'domains' must be a list"),
    ({"domains": ["drug_era", "drug_era"]}, "'domains'"),
    ({"count_domains": ["condition_era"]}, "'count_domains'"),
    ({"demographics": "yes"}, "'demographics' must be true or false"),
])
def test_bad_parameters_are_named(params: dict[str, Any], message: str) -> None:
    spec = AnalysisSpec(kind="covariates", name="Cov", cohort="cel", params=params)
    with pytest.raises(SpecError, match=message) as err:
        get_analysis("covariates").validate(spec)
    assert str(err.value).startswith("Cov: ")


def test_cohort_roles_are_checked() -> None:
    analysis = get_analysis("covariates")
    with pytest.raises(SpecError, match="covariates take no outcomes"):
        analysis.validate(AnalysisSpec(kind="covariates", name="C", cohort="a",
                                       outcomes=("o",)))
    with pytest.raises(SpecError, match="comparator must be another cohort"):
        analysis.validate(AnalysisSpec(kind="covariates", name="C", cohort="a",
                                       comparator="a"))


def test_builder_defaults_are_featureextractions() -> None:
    spec = Covariates("cel").to_spec()
    assert spec.kind == "covariates" and spec.comparator is None
    assert spec.params["windows"] == [[None, 0], [-365, 0], [-180, 0], [-30, 0]]
    assert len(spec.params["domains"]) == 7 and spec.params["demographics"] is True
    assert get_analysis("covariates") == CovariatesAnalysis()
    with pytest.raises(SpecError, match="'windows'"):
        Covariates("cel", windows=[[5, 1]]).to_spec()
    again = StudySpec.from_dict(StudySpec(title="t", cohorts=COHORTS,
                                          analyses=(REQUEST.to_spec(),)).to_dict())
    assert again.analyses[0] == REQUEST.to_spec()


# -- the site half -------------------------------------------------------------------------
class _FixedData:
    """A store whose cohorts have 30 women and 5 men (the men must not be derivable)."""

    def covariates(self, cohort: Cohort, **_: Any) -> CohortCovariates:
        return CohortCovariates(persons=35, binary=(
            BinaryCovariate(8532001, "sex = female", 1, "sex", 8532, 30),
            BinaryCovariate(8507001, "sex = male", 1, "sex", 8507, 5)), continuous=())


def test_prefixed_margin_keeps_secondary_suppression() -> None:
    spec = Covariates("a", comparator="b", name="C").to_spec()
    site = SiteContext(data=_FixedData(), cohorts={"a": Cohort.everyone(),  # type: ignore[arg-type]
                                                   "b": Cohort.drug(1)},
                       policy=DisclosurePolicy(min_cell=11))
    raw = get_analysis("covariates").local(site, spec)
    assert [t.name for t in raw.tables] == ["target|persons", "target|binary:1:sex",
                                            "comparator|persons", "comparator|binary:1:sex"]
    assert raw.table("comparator|binary:1:sex").margin == "comparator|persons"
    released = enforce(raw, site.policy)
    check_disclosable(released, spec, site.policy)
    for role in ("target", "comparator"):
        sex = released.table(f"{role}|binary:1:sex")
        # 5 men: suppressed; 30 women too, else 35 - 30 would give the men away
        assert [c.suppressed for c in sex.cells] == [True, True]
        assert released.table(f"{role}|persons").value() == 35
    alone = role_release(released, "comparator")
    assert [t.name for t in alone.tables] == ["persons", "binary:1:sex"]
    assert alone.table("binary:1:sex").margin == "persons"


def test_no_release_holds_a_count_below_min_cell(pooled: dict[int, Any]) -> None:
    counts = [c.count for _, agg in pooled[11]["releases"] for t in agg.tables
              for c in t.cells if c.count is not None]
    assert counts and min(counts) >= 11
    suppressed = [t for _, agg in pooled[11]["releases"] for t in agg.tables
                  if t.margin and any(c.suppressed for c in t.cells)]
    assert suppressed, "GiBleed thirds must have small demographic cells for this to test"
    for table in suppressed:  # never one hidden cell alone: it would be total minus the rest
        assert sum(c.suppressed for c in table.cells) >= 2, table.name
    # at min_cell 1 something small was released, so min_cell 11 did suppress
    small = [c.count for _, agg in pooled[1]["releases"] for t in agg.tables
             for c in t.cells if c.count is not None and c.count < 11]
    assert small


# -- the hub half --------------------------------------------------------------------------
def test_result_shape_names_the_cohorts(pooled: dict[int, Any]) -> None:
    result = pooled[11]["result"]
    assert result["kind"] == "covariates" and result["analysis"] == "CelVsDic"
    assert result["sites"] == list(SITES)
    assert result["target"]["cohort"] == "cel" and result["comparator"]["cohort"] == "dic"
    assert result["smd"] and all(s in result["notes"] for s in SITES)


@pytest.mark.parametrize("role", ["target", "comparator"])
def test_pooled_over_three_sites_equals_the_whole_database(
        pooled: dict[int, Any], whole: dict[str, Any], role: str) -> None:
    split, full = pooled[1]["result"][role], whole[role]
    assert split["persons"]["count"] == full["persons"]["count"] > 800
    assert split["persons"]["complete"]
    a_bin, b_bin = by_id(split, "binary"), by_id(full, "binary")
    assert set(a_bin) == set(b_bin) and len(a_bin) > 100
    for cid, row in a_bin.items():
        # a concept no one at a site has is not listed there, so only the demographic
        # tables (which list every person) can be complete for every row
        assert row["complete"] or row["analysis_id"] > 6, cid
        assert row["count"] == b_bin[cid]["count"], cid
        assert row["proportion"] == b_bin[cid]["proportion"]
    a_con, b_con = by_id(split, "continuous"), by_id(full, "continuous")
    assert set(a_con) == set(b_con) and len(a_con) == 6  # 4 demographic + 2 windows
    for cid, row in a_con.items():
        assert row["complete"]
        assert (row["n"], row["sum"], row["sum_sq"]) == (b_con[cid]["n"], b_con[cid]["sum"],
                                                         b_con[cid]["sum_sq"])
        assert row["sd"] == pytest.approx(b_con[cid]["sd"], rel=1e-12)
    # at min_cell 11 every row the three sites released whole is still exact
    safe = pooled[11]["result"][role]
    exact = [r for r in safe["binary"] if r["complete"]]
    assert len(exact) > 50
    for row in exact:
        assert row["count"] == b_bin[row["covariate_id"]]["count"]
    partial = [r for r in safe["binary"] if not r["complete"]]
    assert partial and all(r["count"] <= b_bin[r["covariate_id"]]["count"] for r in partial)


def test_age_matches_pandas_on_the_whole_database(gibleed_db: Path,
                                                  pooled: dict[int, Any]) -> None:
    with SiteStore.open(gibleed_db) as store:
        table, cid = store.cohort_table(COHORTS["cel"])
        rows = store.backend.fetchall(
            f"SELECT c.subject_id, MIN(c.cohort_start_date), p.year_of_birth, "
            f"p.gender_concept_id FROM {table} c JOIN person p ON p.person_id = c.subject_id "
            f"WHERE c.cohort_definition_id = {cid} GROUP BY 1, 3, 4")
    m = pd.DataFrame(rows, columns=["person_id", "index_date", "yob", "sex"])
    ages = (pd.to_datetime(m["index_date"]).dt.year - m["yob"]).to_numpy(dtype=float)
    target = pooled[11]["result"]["target"]
    age = by_id(target, "continuous")[1002]
    assert age["n"] == len(m) and age["complete"]
    assert age["mean"] == pytest.approx(ages.mean(), abs=1e-9)
    assert age["sd"] == pytest.approx(np.std(ages, ddof=1), abs=1e-9)
    assert by_id(target, "binary")[8507001]["count"] == int((m["sex"] == 8507).sum())


def test_smd_equals_a_hand_computation(pooled: dict[int, Any]) -> None:
    result = pooled[11]["result"]
    t, c = result["target"], result["comparator"]
    nt, nc = t["persons"]["count"], c["persons"]["count"]
    smd = {r["covariate_id"]: r for r in result["smd"]}
    for cid in (8507001, 8532001):  # sex, always complete on GiBleed
        p1 = by_id(t, "binary")[cid]["count"] / nt
        p2 = by_id(c, "binary")[cid]["count"] / nc
        hand = (p1 - p2) / math.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / 2)
        assert smd[cid]["smd"] == pytest.approx(hand, rel=1e-12)
        assert smd[cid]["complete"]
    ages = by_id(t, "continuous")[1002], by_id(c, "continuous")[1002]
    hand = (ages[0]["mean"] - ages[1]["mean"]) / math.sqrt(
        (ages[0]["sd"] ** 2 + ages[1]["sd"] ** 2) / 2)
    assert smd[1002]["smd"] == pytest.approx(hand, rel=1e-12)
    # peptic ulcer any time prior (window 2 of the request: analysis 102)
    ulcer = smd[4027663 * 1000 + 102]
    assert ulcer["target"] > ulcer["comparator"] and ulcer["smd"] > 0.3


def test_without_comparator_and_a_circe_cohort(sites: dict[str, Path]) -> None:
    spec = Covariates("celx", windows=[], demographics=True, name="Circe").to_spec()
    cohorts = {"celx": Cohort.from_circe(CELECOXIB_JSON)}
    releases = [(s, run_at(sites[s], spec, 11, cohorts)) for s in SITES]
    for _, agg in releases:
        assert all(t.name.startswith("target|") for t in agg.tables)
    result = get_analysis("covariates").combine(spec, releases)
    assert "comparator" not in result and "smd" not in result
    assert result["target"]["cohort"] == "celx"
    persons = result["target"]["persons"]
    assert persons["complete"] and persons["count"] == sum(persons["sites"].values()) > 1000
    # no windows: demographics only
    assert {r["analysis_name"] for r in result["target"]["binary"]} <= {
        "sex", "age_group", "race", "ethnicity", "index_year"}
