"""Descriptive statistics: exact pooled mean and SD, quantiles within their stated bounds,
and what a site releases or refuses.

GiBleed (with numbers planted in ``value_as_number`` of one measurement concept, which the
shipped data leaves empty) is split over three site stores by ``person_id % 3``. Each site
runs the request's site half and the site's ``enforce``; the hub pools the releases, after
a JSON round trip. The truth is computed with pandas and numpy from the whole database's
tables: the pooled mean and SD must equal numpy's to 1e-10, and numpy's quantile must lie
within the pooled bounds.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import shutil
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest

from behindglass.analyses.catalog import get_analysis
from behindglass.analyses.descriptive import DEFAULT_EDGES, quantile_bounds
from behindglass.analyses.requests import Descriptive
from behindglass.core.aggregates import SiteAggregate
from behindglass.core.cohort import Cohort
from behindglass.core.errors import DisclosureError, SpecError
from behindglass.core.messages import Task
from behindglass.core.policy import DisclosurePolicy
from behindglass.core.sitedata import SiteContext
from behindglass.core.study import AnalysisSpec, StudySpec
from behindglass.engine.site_store import SiteStore
from behindglass.privacy.suppression import enforce
from behindglass.site.execute import check_disclosable, execute_task
from tests.integration.harness import SITES, split_sites

LAB = 3006322  # a measurement concept with 12,873 records in GiBleed, all without a number
COHORTS = {"cel": Cohort.drug(1118084), "gib": Cohort.condition(192671)}
WINDOW = (-3650, 365)
LAB_EDGES = list(range(-20, 81, 5))
VARIABLES = [
    {"variable": "age", "edges": list(range(20, 61))},  # one-year bins
    {"variable": "prior_observation_days"},
    {"variable": "post_observation_days"},
    {"variable": "measurement", "name": "lab", "concept_ids": [LAB],
     "window": list(WINDOW), "edges": LAB_EDGES},
]
QUANTILES = [0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0]
REQUEST = Descriptive("cel", variables=VARIABLES, quantiles=QUANTILES, name="D")


@pytest.fixture(scope="module")
def lab_db(gibleed_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """GiBleed with numbers (some negative, two decimals) for the LAB records."""
    db = tmp_path_factory.mktemp("descriptive") / "whole.duckdb"
    shutil.copy(gibleed_db, db)
    con = duckdb.connect(str(db))
    con.execute("UPDATE measurement SET value_as_number = "
                f"((measurement_id * 7919) % 10007) / 100.0 - 20 "
                f"WHERE measurement_concept_id = {LAB}")
    con.close()
    return db


@pytest.fixture(scope="module")
def sites(lab_db: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return split_sites(lab_db, tmp_path_factory.mktemp("descriptive_sites"))


def release(db: Path, spec: AnalysisSpec, min_cell: int) -> SiteAggregate:
    """The site half and the site's enforce, then the tables through the site's last gate
    and the whole release through JSON, as it travels."""
    policy = DisclosurePolicy(min_cell=min_cell)
    analysis = get_analysis(spec.kind)
    analysis.validate(spec)
    with SiteStore.open(db) as data:
        agg = enforce(analysis.local(SiteContext(data=data, cohorts=COHORTS, policy=policy),
                                     spec), policy)
    check_disclosable(agg.model_copy(update={"stats": ()}), spec, policy)
    return SiteAggregate.model_validate(json.loads(json.dumps(agg.to_dict())))


def pooled_result(sites: dict[str, Path], spec: AnalysisSpec, min_cell: int
                  ) -> tuple[list[tuple[str, SiteAggregate]], dict[str, Any]]:
    releases = [(s, release(sites[s], spec, min_cell)) for s in sites]
    return releases, get_analysis(spec.kind).combine(spec, releases)


@pytest.fixture(scope="module")
def pooled(sites: dict[str, Path]) -> dict[int, tuple[list, dict[str, Any]]]:
    spec = REQUEST.to_spec()
    return {k: pooled_result(sites, spec, k) for k in (1, 11)}


# -- the truth, with pandas on the whole database ------------------------------------------
@pytest.fixture(scope="module")
def truth(lab_db: Path) -> dict[str, np.ndarray]:
    with SiteStore.open(lab_db) as store:
        table, cid = store.cohort_table(COHORTS["cel"])
        q = store.backend.fetchall
        entries = pd.DataFrame(q(f"SELECT subject_id, cohort_start_date FROM {table} "
                                 f"WHERE cohort_definition_id = {cid}"),
                               columns=["person_id", "start"])
        persons = pd.DataFrame(q("SELECT person_id, year_of_birth FROM person"),
                               columns=["person_id", "yob"])
        op = pd.DataFrame(q("SELECT person_id, observation_period_start_date, "
                            "observation_period_end_date FROM observation_period"),
                          columns=["person_id", "op_start", "op_end"])
        meas = pd.DataFrame(q(f"SELECT person_id, measurement_date, value_as_number FROM "
                              f"measurement WHERE measurement_concept_id = {LAB}"),
                            columns=["person_id", "date", "v"])
    index = entries.groupby("person_id")["start"].min().rename("index").reset_index()
    index = index.merge(persons, on="person_id")  # members: persons of the person table
    age = np.array([d.year for d in index["index"]]) - index["yob"].to_numpy()
    o = index.merge(op, on="person_id")
    o = o[(o["op_start"] <= o["index"]) & (o["index"] <= o["op_end"])]
    prior = np.array([(i - s).days for i, s in zip(o["index"], o["op_start"], strict=True)])
    post = np.array([(e - i).days for i, e in zip(o["index"], o["op_end"], strict=True)])
    m = index.merge(meas, on="person_id")
    m["gap"] = [(d - i).days for d, i in zip(m["date"], m["index"], strict=True)]
    m = m[(m["gap"] >= WINDOW[0]) & (m["gap"] <= WINDOW[1]) & m["v"].notna()]
    m = m.assign(dist=m["gap"].abs())
    # closest to the index, the earlier on a tie, the mean of that day's values
    best = m.sort_values(["person_id", "dist", "gap"]).groupby("person_id").head(1)
    chosen = m.merge(best[["person_id", "gap"]], on=["person_id", "gap"])
    lab = chosen.groupby("person_id")["v"].mean().to_numpy()
    assert len(o) == len(index) and o["person_id"].is_unique
    return {"age": age.astype(float), "prior_observation_days": prior.astype(float),
            "post_observation_days": post.astype(float), "lab": lab}


# -- exact pooled moments ------------------------------------------------------------------
@pytest.mark.parametrize("min_cell", [1, 11])
@pytest.mark.parametrize("name", ["age", "prior_observation_days", "post_observation_days",
                                  "lab"])
def test_pooled_mean_and_sd_equal_numpy_on_the_whole_data(pooled, truth, name, min_cell):
    values = truth[name]
    got = pooled[min_cell][1]["variables"][name]
    assert got["complete"] and got["sites_used"] == list(SITES)
    assert got["n"] == values.size > 100
    assert math.isclose(got["mean"], values.mean(), rel_tol=1e-10, abs_tol=1e-10)
    assert math.isclose(got["sd"], values.std(ddof=1), rel_tol=1e-10)
    assert math.isclose(got["se"], values.std(ddof=1) / math.sqrt(values.size), rel_tol=1e-10)


@pytest.mark.parametrize("layout", ["one site", "ten unequal sites"])
def test_one_and_ten_sites_give_the_whole_moments(lab_db, tmp_path_factory, truth, layout):
    sites = ({"whole": lab_db} if layout == "one site"
             else split_sites(lab_db, tmp_path_factory.mktemp("ten"), n=10))
    got = pooled_result(sites, REQUEST.to_spec(), 1)[1]["variables"]
    for name, values in truth.items():
        assert got[name]["complete"] and got[name]["n"] == values.size
        assert math.isclose(got[name]["mean"], values.mean(), rel_tol=1e-10, abs_tol=1e-10)
        assert math.isclose(got[name]["sd"], values.std(ddof=1), rel_tol=1e-10)


def test_the_lab_values_are_real_numbers(truth):
    lab = truth["lab"]
    assert lab.min() < 0 < lab.max() and not np.allclose(lab, np.round(lab))


# -- quantiles within their bounds ----------------------------------------------------------
@pytest.mark.parametrize("min_cell", [1, 11])
@pytest.mark.parametrize("name", ["age", "prior_observation_days", "post_observation_days",
                                  "lab"])
def test_quantiles_lie_within_the_stated_bounds(pooled, truth, name, min_cell):
    got = pooled[min_cell][1]["variables"][name]
    for q in got["quantiles"]:
        true = float(np.quantile(truth[name], q["q"]))  # numpy's default, method="linear"
        lower = -math.inf if q["lower"] is None else q["lower"]
        upper = math.inf if q["upper"] is None else q["upper"]
        assert lower <= true <= upper, (name, q, true)
        if q["value"] is not None and q["max_error"] is not None:
            assert abs(q["value"] - true) <= q["max_error"]
            assert lower <= q["value"] <= upper


def test_complete_bins_bound_a_quantile_to_its_bins(pooled, truth):
    """No hidden cell: each bound is a bin edge, one bin width apart when the order
    statistics around the quantile share a bin."""
    got = pooled[1][1]["variables"]["lab"]
    edges = np.array(LAB_EDGES, dtype=float)
    values = np.sort(truth["lab"])
    for q in got["quantiles"]:
        assert q["bins_complete"]
        h = (values.size - 1) * q["q"]
        low_bin = np.searchsorted(edges, values[math.floor(h)], side="right")
        high_bin = np.searchsorted(edges, values[math.ceil(h)], side="right")
        assert q["lower"] == edges[low_bin - 1] and q["upper"] == edges[high_bin]
        if low_bin == high_bin:
            assert q["max_error"] == 5


def test_suppression_widens_the_bounds_but_keeps_them_sure(pooled):
    """With a minimum cell of 11 the one-year age bins at the tails are hidden: the bounds of
    the extreme quantiles widen (and still hold, above), the median's need not."""
    fine, coarse = (pooled[k][1]["variables"]["age"]["quantiles"] for k in (1, 11))
    assert not coarse[0]["bins_complete"]
    width = {q["q"]: q["max_error"] for q in fine}
    assert all(q["max_error"] is None or q["max_error"] >= width[q["q"]] for q in coarse)
    assert any(q["max_error"] is None or q["max_error"] > width[q["q"]] for q in coarse)


def test_quantile_bounds_by_hand():
    # bins: (-inf,0) [0,10) [10,20) [20,inf); 10 values: 0 | 4 | 6 | 0, nothing hidden
    edges = [0.0, 10.0, 20.0]
    got = quantile_bounds(0.5, np.array([0, 4, 6, 0]), [], edges)
    assert (got["lower"], got["upper"]) == (10.0, 20.0)  # order statistics 5 and 6
    assert got["value"] == pytest.approx(10 + 10 * (5 - 4) / 6)
    # one site hides bins 1 and 2 holding 5 persons: the median may be in either
    got = quantile_bounds(0.5, np.array([0, 2, 3, 0]), [({1, 2}, 5)], edges)
    assert (got["lower"], got["upper"]) == (0.0, 20.0) and not got["bins_complete"]


# -- what a site releases ------------------------------------------------------------------
def test_a_site_releases_counts_and_sums_never_extremes(pooled, truth):
    releases, _ = pooled[11]
    for _, agg in releases:
        assert {b.name for b in agg.stats} == {f"moments:{v}" for v in
                                               ("age", "prior_observation_days",
                                                "post_observation_days", "lab")}
        for b in agg.stats:
            assert b.shape == (3,) and b.values[0] >= 11
        for t in agg.tables:
            assert all(c.count is None or c.count >= 11 for c in t.cells)
        # no released number is a person's minimum or maximum value
        released = {v for b in agg.stats for v in b.values[1:]}
        assert not released & {truth["lab"].min(), truth["lab"].max()}


def test_a_variable_with_few_values_is_withheld(sites):
    spec = Descriptive("cel", variables=[
        {"variable": "age"},
        {"variable": "measurement", "name": "lab", "concept_ids": [LAB], "window": [0, 0],
         "edges": LAB_EDGES}], name="D").to_spec()
    agg = release(sites["site-a"], spec, 11)
    assert [b.name for b in agg.stats] == ["moments:age"]
    assert agg.table("n:lab").cells[0].suppressed
    assert "lab: fewer than 11 persons with a value; withheld" in agg.notes
    result = get_analysis("descriptive").combine(spec, [("site-a", agg)])
    assert result["variables"]["lab"]["n"] == 0 and not result["variables"]["lab"]["complete"]
    assert result["variables"]["age"]["complete"]


def test_a_small_cohort_is_refused_naming_the_rule(sites):
    spec = Descriptive("gib", name="D").to_spec()
    with SiteStore.open(sites["site-a"]) as data:
        persons = data.count_persons(COHORTS["gib"])
        policy = DisclosurePolicy(min_cell=persons + 1)
        with pytest.raises(DisclosureError) as err:
            get_analysis("descriptive").local(
                SiteContext(data=data, cohorts=COHORTS, policy=policy), spec)
    message = str(err.value)
    assert f"fewer than {persons + 1} persons" in message and "minimum cell" in message
    assert str(persons) not in message.replace(str(persons + 1), "")


def _run_task(db: Path, spec: AnalysisSpec, min_cell: int):
    study = StudySpec(title="t", cohorts=COHORTS, analyses=(spec,))
    task = Task(task_id="t", study_id="s", site="x", researcher="r", study=study,
                created=dt.datetime.now(dt.UTC))
    with SiteStore.open(db) as data:
        return execute_task(task, data, DisclosurePolicy(min_cell=min_cell))


def test_the_site_path_refuses_a_small_cohort(sites):
    done = _run_task(sites["site-a"], Descriptive("gib", name="D").to_spec(), 100_000)
    assert done.aggregates == []
    (refusal,) = done.refusals
    assert "fewer than 100000 persons" in refusal.reason


def test_the_site_path_releases_the_moments(sites, pooled):
    done = _run_task(sites["site-a"], REQUEST.to_spec(), 11)
    assert done.refusals == []
    (agg,) = done.aggregates
    assert agg == pooled[11][0][0][1]


# -- time at risk of the study population --------------------------------------------------
def test_time_at_risk_of_the_study_population(sites, lab_db):
    population = {"washout_days": 365, "risk_window_end": 365, "end_anchor": "cohort start"}
    spec = Descriptive("cel", variables=[{"variable": "time_at_risk"}], outcome="gib",
                       population=population, quantiles=[0.5], name="T").to_spec()
    _, result = pooled_result(sites, spec, 11)
    with SiteStore.open(lab_db) as store:
        from behindglass.core.population import PopulationSettings

        frame = store.population(COHORTS["cel"], None, COHORTS["gib"],
                                 PopulationSettings.from_dict(population))
    values = frame["time_at_risk"].to_numpy(dtype=float)
    got = result["variables"]["time_at_risk"]
    assert got["n"] == values.size
    assert math.isclose(got["mean"], values.mean(), rel_tol=1e-10)
    assert math.isclose(got["sd"], values.std(ddof=1), rel_tol=1e-10)
    (median,) = got["quantiles"]
    assert median["lower"] <= np.median(values) <= median["upper"]
    assert got["edges"] == list(DEFAULT_EDGES["time_at_risk"])


# -- parameters ----------------------------------------------------------------------------
@pytest.mark.parametrize("params, message", [
    ({"colour": 1}, r"unknown parameter\(s\) \['colour'\]"),
    ({"variables": []}, "'variables' must be a list of 1 to 20"),
    ({"variables": [{"variable": "height"}]}, "'variable' must be one of"),
    ({"variables": [{"variable": "measurement", "concept_ids": [LAB]}]}, "bin 'edges'"),
    ({"variables": [{"variable": "measurement", "edges": [1]}]}, "'concept_ids'"),
    ({"variables": [{"variable": "age", "edges": [3, 2]}]}, "strictly increasing"),
    ({"variables": [{"variable": "age", "edges": [0, math.inf]}]}, "finite"),
    ({"variables": [{"variable": "age", "window": [0, 1]}]}, "apply to a measurement only"),
    ({"variables": [{"variable": "measurement", "concept_ids": [LAB], "edges": [1],
                     "window": [5, 1]}]}, "'window'"),
    ({"variables": [{"variable": "age"}, {"variable": "age"}]}, "names repeat"),
    ({"variables": [{"variable": "age"}, {"variable": "age", "name": "age2",
                                          "edges": [41, 61]}]}, "asked for twice"),
    ({"variables": [{"variable": "age", "name": "Age!"}]}, "lower-case identifier"),
    ({"quantiles": [1.5]}, "'quantiles'"),
    ({"variables": [{"variable": "time_at_risk"}]}, "exactly one outcome"),
    ({"population": {}}, "for 'time_at_risk' only"),
])
def test_bad_parameters_are_named(params, message):
    spec = AnalysisSpec(kind="descriptive", name="D", cohort="cel", params=params)
    with pytest.raises(SpecError, match=message) as err:
        get_analysis("descriptive").validate(spec)
    assert str(err.value).startswith("D: ")


def test_builder_and_study_json():
    spec = REQUEST.to_spec()
    assert spec.kind == "descriptive" and spec.params["quantiles"] == QUANTILES
    study = StudySpec(title="t", cohorts=COHORTS, analyses=(spec,))
    assert StudySpec.from_dict(json.loads(json.dumps(study.to_dict()))) == study
    with pytest.raises(SpecError, match="comparator"):
        get_analysis("descriptive").validate(spec.model_copy(update={"comparator": "gib"}))
