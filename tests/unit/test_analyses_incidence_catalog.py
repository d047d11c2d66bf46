"""The incidence catalog analysis: parameters, the site path, exact pooling, cohort names.

GiBleed is split over three site stores by ``person_id % 3``; each runs the request through
the site's real path (validate, local, enforce, check_disclosable). The pooled overall and
by-sex rows must equal the same request on the whole database and an independent pandas
computation of CohortIncidence's rules on the whole database's cohort tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from scipy.stats import poisson

from behindglass.analyses.catalog import get_analysis
from behindglass.analyses.incidence import IncidenceAnalysis
from behindglass.analyses.requests import Incidence
from behindglass.core.aggregates import SiteAggregate
from behindglass.core.cohort import Cohort
from behindglass.core.errors import SpecError
from behindglass.core.study import AnalysisSpec, StudySpec
from behindglass.engine.site_store import SiteStore
from tests.integration.harness import SITES
from tests.unit import site_run

COHORTS = {"cel": Cohort.drug(1118084), "gib": Cohort.condition(192671),
           "sprain": Cohort.condition(81151)}
YEAR_TAR = {"start_offset": 0, "start_anchor": "start", "end_offset": 365,
            "end_anchor": "start"}
COHORT_TAR = {"start_offset": 0, "start_anchor": "start", "end_offset": 0, "end_anchor": "end"}
TARS = {"start+0..start+365": YEAR_TAR, "start+0..end+0": COHORT_TAR}
WASHOUT = 365
ALPHA = 0.1
REQUEST = Incidence("cel", ["gib", "sprain"], tars=list(TARS.values()), washout_days=WASHOUT,
                    alpha=ALPHA, name="IR")
MEASURES = ("persons_at_risk", "persons_with_outcome", "outcomes", "person_days")


def run_at(db: Path, spec: AnalysisSpec, min_cell: int) -> SiteAggregate:
    return site_run.run_at(db, spec, min_cell, COHORTS)


@pytest.fixture(scope="module")
def sites(gibleed_sites: dict[str, Path]) -> dict[str, Path]:
    return gibleed_sites


@pytest.fixture(scope="module")
def pooled(sites: dict[str, Path]) -> dict[int, dict[str, Any]]:
    spec = REQUEST.to_spec()
    out = {}
    for min_cell in (1, 11):
        releases = [(s, run_at(sites[s], spec, min_cell)) for s in SITES]
        out[min_cell] = {"releases": releases,
                         "result": get_analysis("incidence").combine(spec, releases)}
    return out


@pytest.fixture(scope="module")
def whole(gibleed_db: Path) -> dict[str, Any]:
    spec = REQUEST.to_spec()
    return get_analysis("incidence").combine(spec, [("all", run_at(gibleed_db, spec, 1))])


def rows_by_key(result: dict[str, Any]) -> dict[tuple[str, str, str, str], dict[str, Any]]:
    return {(r["outcome"], r["tar"], r["stratum"], r["value"]): r for r in result["rows"]}


# -- the truth, with pandas on the whole database's cohort tables --------------------------
def _entries(store: SiteStore, cohort: Cohort) -> pd.DataFrame:
    table, cid = store.cohort_table(cohort)
    rows = store.backend.fetchall(f"SELECT subject_id, cohort_start_date, cohort_end_date "
                                  f"FROM {table} WHERE cohort_definition_id = {cid}")
    frame = pd.DataFrame(rows, columns=["person_id", "start", "end"])
    frame[["start", "end"]] = frame[["start", "end"]].apply(pd.to_datetime)
    return frame


@pytest.fixture(scope="module")
def truth(gibleed_db: Path) -> dict[tuple[str, str, str, str], dict[str, int]]:
    """Per (outcome, TAR, stratum, value): the four measures, by CohortIncidence's rules."""
    with SiteStore.open(gibleed_db) as store:
        target = _entries(store, COHORTS["cel"])
        outcomes = {o: _entries(store, COHORTS[o]) for o in ("gib", "sprain")}
        op = pd.DataFrame(store.backend.fetchall(
            "SELECT person_id, observation_period_start_date, observation_period_end_date "
            "FROM observation_period"), columns=["person_id", "op_start", "op_end"])
        sex = dict(store.backend.fetchall("SELECT person_id, gender_concept_id FROM person"))
    op[["op_start", "op_end"]] = op[["op_start", "op_end"]].apply(pd.to_datetime)
    # a first-occurrence builder cohort has one entry per person: no TARs to merge
    assert target["person_id"].is_unique
    t = target.merge(op, on="person_id")
    t = t[(t["op_start"] <= t["start"]) & (t["start"] <= t["op_end"])]
    out = {}
    for label, tar in TARS.items():
        anchor = {"start": t["start"], "end": t["end"]}
        tar_start = (anchor[tar["start_anchor"]] + pd.to_timedelta(tar["start_offset"], "D")
                     ).combine(t["op_start"], max)
        tar_end = (anchor[tar["end_anchor"]] + pd.to_timedelta(tar["end_offset"], "D")
                   ).combine(t["op_end"], min)
        spans = pd.DataFrame({"person_id": t["person_id"], "s": tar_start, "e": tar_end})
        spans = spans[spans["s"] <= spans["e"]]
        for name, o in outcomes.items():
            j = spans.merge(o[["person_id", "start"]], on="person_id", how="left")
            prior = (j["start"] < j["s"]) & (j["start"] >= j["s"] - pd.Timedelta(WASHOUT, "D"))
            washed = set(j.loc[prior, "person_id"])
            inside = j[(j["start"] >= j["s"]) & (j["start"] <= j["e"])]
            first = inside.groupby("person_id")["start"].min()
            at_risk = spans[~spans["person_id"].isin(washed)].copy()
            at_risk["first"] = at_risk["person_id"].map(first)
            at_risk["days"] = (at_risk["first"].fillna(at_risk["e"]) - at_risk["s"]).dt.days + 1
            at_risk["sex"] = at_risk["person_id"].map(sex).map({8507: "male", 8532: "female"})
            for stratum, groups in (("all", [("all", at_risk)]),
                                    ("sex", list(at_risk.groupby("sex")))):
                for value, g in groups:
                    hit = g["first"].notna()
                    out[(name, label, stratum, value)] = {
                        "persons_at_risk": g["person_id"].nunique(),
                        "persons_with_outcome": g.loc[hit, "person_id"].nunique(),
                        "outcomes": int(hit.sum()), "person_days": int(g["days"].sum())}
    return out


# -- parameters ----------------------------------------------------------------------------
@pytest.mark.parametrize("params, message", [
    ({"colour": 1}, r"unknown parameter\(s\) \['colour'\]"),
    ({"tars": []}, "'tars' must be a list of 1 to"),
    ({"tars": "start..end"}, "'tars' must be a list"),
    ({"tars": [{"start": 0}]}, "keys from"),
    ({"tars": [{"start_anchor": "index"}]}, "'start_anchor' must be 'start' or 'end'"),
    ({"tars": [{"end_offset": 1.5}]}, "'end_offset' must be a whole number"),
    ({"tars": [{"end_offset": True}]}, "'end_offset'"),
    ({"tars": [{}, COHORT_TAR]}, "repeat"),
    ({"washout_days": -1}, "'washout_days' must be an integer"),
    ({"washout_days": "365"}, "'washout_days'"),
    ({"age_width": 7}, r"'age_width' must be one of \[1, 5, 10\]"),
    ({"age_width": True}, "'age_width'"),
    ({"alpha": 0}, "'alpha' must be a number strictly between 0 and 1"),
    ({"alpha": 1.0}, "'alpha'"),
    ({"alpha": "0.05"}, "'alpha'"),
])
def test_bad_parameters_are_named(params: dict[str, Any], message: str) -> None:
    spec = AnalysisSpec(kind="incidence", name="IR", cohort="cel", outcomes=("gib",),
                        params=params)
    with pytest.raises(SpecError, match=message) as err:
        get_analysis("incidence").validate(spec)
    assert str(err.value).startswith("IR: ")


@pytest.mark.parametrize("changes, message", [
    ({"outcomes": ()}, "incidence needs 1 to 50 outcome cohorts"),
    ({"outcomes": ("gib", "gib")}, "'outcomes' repeat"),
    ({"comparator": "dic"}, "incidence takes no comparator"),
])
def test_cohorts_are_checked(changes: dict[str, Any], message: str) -> None:
    spec = AnalysisSpec(kind="incidence", name="IR", cohort="cel",
                        **{"outcomes": ("gib",), **changes})
    with pytest.raises(SpecError, match=message):
        get_analysis("incidence").validate(spec)


def test_builder() -> None:
    spec = Incidence("cel", "gib").to_spec()  # one outcome by name alone
    assert spec.outcomes == ("gib",) and spec.kind == "incidence"
    assert spec.params == {"tars": [COHORT_TAR], "washout_days": None, "age_width": 10,
                           "alpha": 0.05}
    assert get_analysis("incidence") == IncidenceAnalysis()
    with pytest.raises(SpecError, match="'age_width'"):
        Incidence("cel", ["gib"], age_width=3).to_spec()
    study = StudySpec(title="t", cohorts=COHORTS, analyses=(REQUEST.to_spec(),))
    assert StudySpec.from_dict(study.to_dict()) == study


# -- site and hub --------------------------------------------------------------------------
def test_no_release_holds_a_count_below_min_cell(pooled: dict[int, Any]) -> None:
    counts = [c.count for _, agg in pooled[11]["releases"] for t in agg.tables
              for c in t.cells if c.count is not None]
    assert counts and min(counts) >= 11
    small = [c.count for _, agg in pooled[1]["releases"] for t in agg.tables
             for c in t.cells if c.count is not None and c.count < 11]
    assert small, "the split must hold small strata for the check above to mean anything"
    for _, agg in pooled[11]["releases"]:  # the site numbers target 1, outcomes 1 and 2
        assert {tuple(t.name.split(":")[1:3]) for t in agg.tables} == {("1", "1"), ("1", "2")}


def test_result_names_the_study_cohorts(pooled: dict[int, Any]) -> None:
    result = pooled[11]["result"]
    assert result["kind"] == "incidence" and result["analysis"] == "IR"
    assert result["target"] == "cel" and result["outcomes"] == ["gib", "sprain"]
    assert result["alpha"] == ALPHA and result["sites"] == list(SITES)
    names = {(r["target_id"], r["outcome_id"], r["target"], r["outcome"])
             for r in result["rows"]}
    assert names == {(1, 1, "cel", "gib"), (1, 2, "cel", "sprain")}
    assert {r["tar"] for r in result["rows"]} == set(TARS)


def test_pooled_equals_the_whole_database_and_pandas(pooled: dict[int, Any],
                                                     whole: dict[str, Any],
                                                     truth: dict[tuple, dict[str, int]]
                                                     ) -> None:
    split, full = rows_by_key(pooled[1]["result"]), rows_by_key(whole)
    checked = 0
    for key, expected in truth.items():
        assert {m: full[key][m] for m in MEASURES} == expected, key
        row = split[key]
        # even at min_cell 1 a site with no outcome in a stratum hides it (0 < 1), so
        # the rare outcome's strata may be incomplete; GI bleed's and the overall are not
        if key[0] == "gib" or key[2] == "all":
            assert row["complete"], key
        if row["complete"]:
            assert {m: row[m] for m in MEASURES} == expected, key
            checked += 1
    assert checked >= 2 * 3 + 2  # GI bleed: TARs x (overall, female, male); sprain overall
    # every row complete at min_cell 11 is exact too
    safe = [(k, r) for k, r in rows_by_key(pooled[11]["result"]).items() if r["complete"]]
    assert len(safe) >= 10
    for key, row in safe:
        assert {m: row[m] for m in MEASURES} == {m: full[key][m] for m in MEASURES}, key


def test_rate_and_exact_interval(pooled: dict[int, Any]) -> None:
    row = rows_by_key(pooled[11]["result"])[("gib", "start+0..start+365", "all", "all")]
    py = row["person_days"] / 365.25
    k = row["outcomes"]
    assert row["incidence_rate_per_1000py"] == pytest.approx(1000 * k / py, rel=1e-12)
    assert row["incidence_proportion_per_1000"] == pytest.approx(
        1000 * row["persons_with_outcome"] / row["persons_at_risk"], rel=1e-12)
    lower, upper = row["ci_lower"] * py / 1000, row["ci_upper"] * py / 1000
    # Garwood: each tail holds alpha / 2 (alpha 0.1 here, as the request asked)
    assert poisson.sf(k - 1, lower) == pytest.approx(ALPHA / 2, abs=1e-6)
    assert poisson.cdf(k, upper) == pytest.approx(ALPHA / 2, abs=1e-6)
