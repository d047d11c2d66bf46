"""Pooled characterization equals the answer on all rows, whatever the split into sites.

Eunomia GiBleed is split into 1, 3 and 10 sites of unequal size (one of them empty): each
site's cohort table holds only its own persons, so running the engine on it is what that
site would compute. The sites' releases pass the site's disclosure control and are
combined; the pooled counts must equal the counts on all rows exactly and the means and
SDs must match pandas / numpy on all rows to 1e-9. The truth is computed here with pandas
from the raw CDM tables, not with the engine's SQL.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy.stats import poisson

from behindglass.analyses.covariates import (
    combine_covariates,
    release_covariates,
    smd_binary,
    smd_continuous,
    standardized_differences,
)
from behindglass.analyses.incidence import (
    combine_incidence,
    hide_small,
    poisson_interval,
    rate_per_1000py,
    release_incidence,
)
from behindglass.core.aggregates import SiteAggregate
from behindglass.core.policy import DisclosurePolicy
from behindglass.engine.backend import Backend
from behindglass.engine.characterization import (
    CovariateSettings,
    TimeAtRisk,
    compute_covariates,
    compute_incidence,
)
from behindglass.engine.duckdb_backend import DuckDBBackend
from behindglass.privacy.suppression import enforce

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
GIBLEED = DATA / "eunomia-gibleed"
CELECOXIB, DICLOFENAC, GI_BLEED = 1118084, 1124300, 192671
TARGET, COMPARATOR, OUTCOME = 1, 2, 3
SETTINGS = CovariateSettings(domains=("condition_occurrence", "drug_era", "measurement"),
                             count_domains=("condition_occurrence", "visit_occurrence"))
TAR = TimeAtRisk(0, "start", 365, "start")

COHORTS_SQL = f"""
SELECT CASE WHEN ca.ancestor_concept_id = {CELECOXIB} THEN {TARGET} ELSE {COMPARATOR} END
         AS cohort_definition_id,
       d.person_id AS subject_id, MIN(d.drug_exposure_start_date) AS cohort_start_date,
       MIN(d.drug_exposure_start_date) + 30 AS cohort_end_date
FROM drug_exposure d JOIN concept_ancestor ca ON ca.descendant_concept_id = d.drug_concept_id
 AND ca.ancestor_concept_id IN ({CELECOXIB}, {DICLOFENAC})
GROUP BY 1, 2
UNION ALL
SELECT {OUTCOME}, person_id, MIN(condition_start_date), MIN(condition_start_date)
FROM condition_occurrence WHERE condition_concept_id = {GI_BLEED} GROUP BY person_id
"""


@pytest.fixture(scope="module")
def gibleed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    from behindglass.omop.loader import load_omop

    if not GIBLEED.exists():
        pytest.skip(f"{GIBLEED} not found")
    db = tmp_path_factory.mktemp("gibleed") / "gibleed.duckdb"
    load_omop(GIBLEED, db)
    con = duckdb.connect(str(db))
    con.execute("INSERT INTO cohort (cohort_definition_id, subject_id, cohort_start_date, "
                "cohort_end_date) " + COHORTS_SQL)
    backend = DuckDBBackend.from_connection(con, "gibleed")
    yield backend
    backend.close()


def df(backend: Backend, sql: str) -> pd.DataFrame:
    assert isinstance(backend, DuckDBBackend)
    return backend.con.execute(sql).df()


def site_splits(backend: Backend, k: int) -> list[list[int]]:
    """All persons of the cohort table in ``k`` sites of unequal size; site 0 is empty when
    there are several."""
    persons = sorted(int(p) for (p,) in backend.fetchall(
        "SELECT DISTINCT subject_id FROM cohort"))
    if k == 1:
        return [persons]
    weights = [0, *range(1, k)]
    cuts = np.cumsum(weights) / sum(weights) * len(persons)
    bounds = [0, *(round(float(c)) for c in cuts)]
    return [persons[bounds[i]:bounds[i + 1]] for i in range(k)]


def site_table(backend: Backend, persons: list[int]) -> str:
    backend.execute("DROP TABLE IF EXISTS site_cohort")
    ids = ", ".join(map(str, persons)) or "NULL"
    backend.execute(f"CREATE TEMPORARY TABLE site_cohort AS SELECT * FROM cohort "
                    f"WHERE subject_id IN ({ids})")
    return "site_cohort"


def run_sites(backend: Backend, k: int, cohort_id: int, min_cell: int = 1
              ) -> list[tuple[str, SiteAggregate]]:
    policy = DisclosurePolicy(min_cell=min_cell)
    out = []
    for i, persons in enumerate(site_splits(backend, k)):
        cov = compute_covariates(backend, site_table(backend, persons), cohort_id, SETTINGS)
        # max_dominance off: this checks the pooling arithmetic on every covariate
        out.append((f"site{i}", enforce(release_covariates("cov", cov, min_cell=min_cell,
                                                           max_dominance=1.0), policy)))
    return out


# -- the truth, with pandas on all rows --------------------------------------------------------
def members(backend: Backend, cohort_id: int) -> pd.DataFrame:
    m = df(backend, f"SELECT subject_id AS person_id, cohort_start_date AS index_date "
                    f"FROM cohort WHERE cohort_definition_id = {cohort_id}")
    m["index_date"] = pd.to_datetime(m["index_date"])
    persons = df(backend, "SELECT person_id, gender_concept_id, year_of_birth FROM person")
    m = m.merge(persons, on="person_id")
    m["age"] = m["index_date"].dt.year - m["year_of_birth"]
    op = df(backend, "SELECT person_id, observation_period_start_date AS s, "
                     "observation_period_end_date AS e FROM observation_period")
    op[["s", "e"]] = op[["s", "e"]].apply(pd.to_datetime)
    j = m.merge(op, on="person_id")
    j = j[(j["s"] <= j["index_date"]) & (j["index_date"] <= j["e"])]
    m = m.merge(j[["person_id", "s", "e"]], on="person_id", how="left")
    m["prior_obs"] = (m["index_date"] - m["s"]).dt.days
    return m


def in_window(m: pd.DataFrame, table: str, concept: str, date: str, lo: int | None,
              hi: int) -> pd.DataFrame:
    x = df_cache[table]
    j = m[["person_id", "index_date"]].merge(x[["person_id", concept, date]], on="person_id")
    off = (j[date] - j["index_date"]).dt.days
    keep = (off <= hi) if lo is None else off.between(lo, hi)
    j = j[keep & (j[concept] != 0)]
    return j


df_cache: dict[str, pd.DataFrame] = {}


@pytest.fixture(scope="module")
def truth(gibleed: Backend) -> dict[int, dict[str, Any]]:
    for table, date in (("condition_occurrence", "condition_start_date"),
                        ("visit_occurrence", "visit_start_date")):
        t = df(gibleed, f"SELECT * FROM {table}")
        t[date] = pd.to_datetime(t[date])
        df_cache[table] = t
    out = {}
    for cid in (TARGET, COMPARATOR):
        m = members(gibleed, cid)
        cond = in_window(m, "condition_occurrence", "condition_concept_id",
                         "condition_start_date", -365, 0)
        distinct = in_window(m, "condition_occurrence", "condition_concept_id",
                             "condition_start_date", None, 0)
        per_person = distinct.groupby("person_id")["condition_concept_id"].nunique()
        counts = m["person_id"].map(per_person).fillna(0).to_numpy(dtype=float)
        out[cid] = {
            "persons": len(m),
            "male": int((m["gender_concept_id"] == 8507).sum()),
            "age": m["age"].to_numpy(dtype=float),
            "prior_obs": m["prior_obs"].dropna().to_numpy(dtype=float),
            "cond_365": cond.groupby("condition_concept_id")["person_id"].nunique().to_dict(),
            "cond_count_any": counts,
        }
    return out


def cont(result: dict[str, Any], name: str) -> dict[str, Any]:
    (row,) = [r for r in result["continuous"] if r["analysis_name"] == name]
    return row


# -- covariates --------------------------------------------------------------------------------
@pytest.mark.parametrize("k", [1, 3, 10])
def test_pooled_covariates_equal_all_rows(gibleed: Backend, truth: dict[int, Any],
                                          k: int) -> None:
    releases = run_sites(gibleed, k, TARGET)
    pooled = combine_covariates(releases)
    t = truth[TARGET]
    assert pooled["persons"]["count"] == t["persons"]
    assert pooled["persons"]["complete"] == (k == 1)  # the empty site's 0 is suppressed
    sex = {r["covariate_id"]: r["count"] for r in pooled["binary"] if r["analysis_id"] == 1}
    assert sex[8507001] == t["male"]
    cond = {r["concept_id"]: r["count"] for r in pooled["binary"]
            if r["analysis_name"] == "condition_occurrence:-365:0"}
    assert cond == t["cond_365"]
    for name, values in (("age", t["age"]), ("prior_observation_days", t["prior_obs"]),
                         ("condition_occurrence_count:any:0", t["cond_count_any"])):
        row = cont(pooled, name)
        assert row["n"] == len(values)
        assert row["mean"] == pytest.approx(float(np.mean(values)), rel=1e-9, abs=1e-9)
        assert row["sd"] == pytest.approx(float(np.std(values, ddof=1)), rel=1e-9, abs=1e-9)
        assert row["min"] is None and row["max"] is None  # extremes stay at the site


def test_pooled_equals_one_site_whatever_the_split(gibleed: Backend) -> None:
    one = combine_covariates(run_sites(gibleed, 1, TARGET))
    ten = combine_covariates(run_sites(gibleed, 10, TARGET))
    key = lambda r: (r["covariate_id"], r["count"])  # noqa: E731
    assert sorted(map(key, one["binary"])) == sorted(map(key, ten["binary"]))
    for a, b in zip(one["continuous"], ten["continuous"], strict=True):
        assert (a["covariate_id"], a["n"], a["sum"], a["sum_sq"]) == (
            b["covariate_id"], b["n"], b["sum"], b["sum_sq"])


def test_smd_against_direct_formula(gibleed: Backend, truth: dict[int, Any]) -> None:
    a = combine_covariates(run_sites(gibleed, 3, TARGET))
    b = combine_covariates(run_sites(gibleed, 3, COMPARATOR))
    smd = {r["covariate_id"]: r for r in standardized_differences(a, b)}
    ta, tb = truth[TARGET], truth[COMPARATOR]
    p1, p2 = ta["male"] / ta["persons"], tb["male"] / tb["persons"]
    direct = (p1 - p2) / math.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / 2)
    assert smd[8507001]["smd"] == pytest.approx(direct, abs=1e-9)
    x, y = ta["age"], tb["age"]
    direct = (x.mean() - y.mean()) / math.sqrt((x.var(ddof=1) + y.var(ddof=1)) / 2)
    assert smd[1002]["smd"] == pytest.approx(direct, abs=1e-9)
    assert smd_binary(0.0, 0.0) is None and smd_continuous(1.0, 0.0, 1.0, 0.0) is None
    assert smd_binary(0.5, 0.5) == 0.0


def test_small_sites_release_nothing_recoverable(gibleed: Backend) -> None:
    releases = run_sites(gibleed, 10, TARGET, min_cell=11)
    for site, agg in releases:
        tables = {t.name: t for t in agg.tables}
        persons = tables["persons"].cells[0]
        for t in agg.tables:
            for c in t.cells:  # nothing below the cell size leaves
                assert c.suppressed or c.count is None or c.count >= 11, (site, t.name)
            if t.name.startswith("continuous:"):
                stats = {c.key[0]: c.count for c in t.cells}
                assert stats["n"] >= 11 and set(stats) == {"n", "sum_x1", "sum_x1_sq"}
            if t.margin == "persons" and persons.count is not None:
                hidden = [c for c in t.cells if c.suppressed]
                assert len(hidden) != 1, (site, t.name)  # a lone hole is subtraction away
    pooled = combine_covariates(releases)
    assert any(not r["complete"] for r in pooled["binary"])


def test_continuous_withheld_below_min_cell(gibleed: Backend) -> None:
    persons = site_splits(gibleed, 1)[0][:5]
    cov = compute_covariates(gibleed, site_table(gibleed, persons), TARGET, SETTINGS)
    assert cov.persons > 0
    rel = release_covariates("cov", cov, min_cell=cov.persons + 1)
    assert not [t for t in rel.tables if t.name.startswith("continuous:")]
    assert rel.notes and "withheld" in rel.notes[0]
    rel = release_covariates("cov", cov, min_cell=1, release_extremes=True, max_dominance=1.0)
    age = combine_covariates([("s", rel)])
    assert cont(age, "age")["min"] is not None


# -- incidence ---------------------------------------------------------------------------------
def incidence_truth(backend: Backend) -> dict[str, int]:
    m = members(backend, TARGET)
    o = df(backend, f"SELECT subject_id AS person_id, cohort_start_date AS o "
                    f"FROM cohort WHERE cohort_definition_id = {OUTCOME}")
    o["o"] = pd.to_datetime(o["o"])
    m = m[m["s"].notna()].merge(o, on="person_id", how="left")
    m["tar_end"] = np.minimum(m["index_date"] + pd.Timedelta(days=365), m["e"])
    m = m[~(m["o"] < m["index_date"])]  # washout: any earlier outcome
    hit = m["o"].notna() & (m["o"] <= m["tar_end"])
    end = m["o"].where(hit, m["tar_end"])
    return {"persons_at_risk": len(m), "outcomes": int(hit.sum()),
            "person_days": int(((end - m["index_date"]).dt.days + 1).sum())}


@pytest.mark.parametrize("k", [1, 3, 10])
def test_pooled_incidence_equals_all_rows(gibleed: Backend, k: int) -> None:
    policy = DisclosurePolicy(min_cell=1)
    releases = []
    for i, persons in enumerate(site_splits(gibleed, k)):
        table = site_table(gibleed, persons)
        rows = compute_incidence(gibleed, table, [TARGET], table, [OUTCOME], [TAR],
                                 washout_days=99999)
        releases.append((f"site{i}", enforce(release_incidence("ir", rows, min_cell=1),
                                             policy)))
    pooled = combine_incidence(releases)
    (overall,) = [r for r in pooled["rows"] if r["stratum"] == "all"]
    truth = incidence_truth(gibleed)
    assert {m: overall[m] for m in truth} == truth
    # site 0 has no one at risk: its missing row is an exact zero, so the row is complete
    assert overall["sites_used"] == [f"site{i}" for i in range(k)]
    assert overall["complete"]
    if k > 1:
        assert overall["sites"]["site0"] is None  # no per-site number the site did not send
    py = truth["person_days"] / 365.25
    assert overall["incidence_rate_per_1000py"] == pytest.approx(
        1000 * truth["outcomes"] / py, rel=1e-12)
    # exact Poisson limits: P(X >= k | lower) = P(X <= k | upper) = 2.5 %
    lo, hi = overall["ci_lower"] * py / 1000, overall["ci_upper"] * py / 1000
    assert poisson.sf(truth["outcomes"] - 1, lo) == pytest.approx(0.025, abs=1e-9)
    assert poisson.cdf(truth["outcomes"], hi) == pytest.approx(0.025, abs=1e-9)
    sexes = [r for r in pooled["rows"] if r["stratum"] == "sex"]
    if k == 1:
        assert sum(r["persons_at_risk"] for r in sexes) == truth["persons_at_risk"]
        assert sum(r["person_days"] for r in sexes) == truth["person_days"]


def test_poisson_interval_edges() -> None:
    lo, hi = poisson_interval(0)
    assert lo == 0.0 and poisson.cdf(0, hi) == pytest.approx(0.025, abs=1e-12)
    assert rate_per_1000py(3, 0)["rate"] is None
    r = rate_per_1000py(10, 36525)
    assert r["rate"] == pytest.approx(100.0)


def test_incidence_strata_suppressed_as_a_whole(gibleed: Backend) -> None:
    rows = compute_incidence(gibleed, "cohort", [TARGET], "cohort", [OUTCOME], [TAR],
                             washout_days=99999, age_width=5)
    min_cell = 20
    rel = enforce(release_incidence("ir", rows, min_cell=min_cell),
                  DisclosurePolicy(min_cell=min_cell))
    truth = {(r.stratum, r.value): r for r in rows}
    hidden_any = False
    for t in rel.tables:
        stratum = t.name.rsplit(":", 1)[1]
        cells = {c.key: c.count for c in t.cells}
        values = {v for v, _ in cells}
        for v in values:
            if (v, "person_days") in cells:
                assert cells[(v, "persons_at_risk")] is not None
            assert all(c >= min_cell for c in cells.values() if c is not None)
        if stratum != "all":
            all_values = [v for (s, v) in truth if s == stratum]
            missing = [v for v in all_values if (v, "persons_at_risk") not in cells]
            hidden_any |= bool(missing)
            assert len(missing) != 1  # never a lone hole
            mass = sum(truth[(stratum, v)].persons_at_risk for v in missing)
            assert mass == 0 or mass >= min_cell
    assert hidden_any


def test_hide_small() -> None:
    assert hide_small({"a": 5, "b": 50, "c": 60}, 11) == {"a", "b"}
    assert hide_small({"a": 5, "b": 50}, 11, partition=False) == {"a"}
    assert hide_small({"a": 0, "b": 3, "c": 100}, 11) == {"a", "b", "c"}
    assert hide_small({"a": 20, "b": 30}, 11) == set()
    # a stratum hidden for its persons hides a second outcome count with it
    assert hide_small({"a": 30, "b": 40, "c": 50}, 11, already={"a"}) == {"a", "b"}
