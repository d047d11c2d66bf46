"""Outcomes depend on covariates and treatment, and differ between sites enough that a
model trained at one site is visibly miscalibrated at another."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from behindglass.synth import generate_site

NSAIDS = "(1118084, 1124300, 1177480, 1115008)"


def _connect(folder: Path, tables: tuple[str, ...]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for table in tables:
        con.execute(f"create table {table} as select * from read_csv('{folder}/{table}.csv')")
    return con


@pytest.fixture(scope="module")
def brazil(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    """A site where diclofenac is the everyday NSAID; large enough for stable rates."""
    out = generate_site("urban-brazil", 20_000, 7, tmp_path_factory.mktemp("gib") / "br").out
    return _connect(out, ("observation_period", "condition_occurrence", "drug_era"))


def test_gi_bleed_rate_is_higher_on_diclofenac_than_without_nsaids(brazil) -> None:
    """Incidence of a first GI bleed during diclofenac eras vs in never-NSAID person-time."""
    rows = brazil.execute(f"""
        with bleed as (select person_id, min(condition_start_date) as first_day
                       from condition_occurrence where condition_concept_id = 192671
                       group by 1),
             eras as (select * from drug_era where drug_concept_id = 1124300),
             never as (select * from observation_period where person_id not in
                       (select person_id from drug_era where drug_concept_id in {NSAIDS}))
        select (select count(*) from eras e join bleed b on b.person_id = e.person_id
                and b.first_day between e.drug_era_start_date and e.drug_era_end_date),
               (select sum(drug_era_end_date - drug_era_start_date + 1) from eras) / 365.25,
               (select count(*) from never n join bleed b using (person_id)),
               (select sum(observation_period_end_date - observation_period_start_date + 1)
                from never) / 365.25""").fetchone()
    exposed_events, exposed_years, other_events, other_years = rows
    ratio = (exposed_events / exposed_years) / (other_events / other_years)
    # Poisson test of the exposed count against the unexposed rate: far beyond noise.
    expected = exposed_years * other_events / other_years
    z = (exposed_events - expected) / math.sqrt(expected)
    assert exposed_events >= 10
    assert ratio > 3.0 and z > 5, (rows, ratio, z)


def test_diclofenac_bleeds_more_than_celecoxib_by_design() -> None:
    from behindglass.synth.concepts import CELECOXIB, DICLOFENAC, IBUPROFEN
    from behindglass.synth.outcomes import NSAID_LOG_HR

    assert NSAID_LOG_HR[DICLOFENAC] > NSAID_LOG_HR[IBUPROFEN] > NSAID_LOG_HR[CELECOXIB] > 0


COVARIATES = ["age", "male", "t2d", "htn", "smoker", "years"]


def _mi_frame(folder: Path) -> pd.DataFrame:
    con = _connect(folder, ("person", "observation_period", "condition_occurrence", "observation"))

    def has(ids: str) -> str:
        return (f"(p.person_id in (select person_id from condition_occurrence "
                f"where condition_concept_id in ({ids})))::int")

    frame = con.execute(f"""
        select year(o.observation_period_start_date) - p.year_of_birth as age,
               (p.gender_concept_id = 8507)::int as male,
               {has("201826, 201820")} as t2d, {has("320128, 316866")} as htn,
               (p.person_id in (select person_id from observation
                                where observation_concept_id = 43054909))::int as smoker,
               (o.observation_period_end_date - o.observation_period_start_date) / 365.25 as years,
               {has("4329847")} as mi
        from person p join observation_period o using (person_id)""").df()
    return frame[frame.age >= 18]


@pytest.fixture(scope="module")
def mi_frames(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    root = tmp_path_factory.mktemp("mi")
    return {name: _mi_frame(generate_site(name, 5_000, 3, root / name).out)
            for name in ("midwest-academic", "rural-community")}


def test_mi_risk_follows_covariates(mi_frames: dict[str, pd.DataFrame]) -> None:
    train = mi_frames["midwest-academic"]
    fit = sm.Logit(train.mi, sm.add_constant(train[COVARIATES].astype(float))).fit(disp=0)
    assert fit.params["age"] > 0.03 and fit.pvalues["age"] < 1e-6
    assert fit.params["male"] > 0.2 and fit.params["t2d"] > 0.2
    assert fit.params["smoker"] > 0.2


def test_model_from_one_site_is_miscalibrated_at_another(mi_frames) -> None:
    train, other = mi_frames["midwest-academic"], mi_frames["rural-community"]
    fit = sm.Logit(train.mi, sm.add_constant(train[COVARIATES].astype(float))).fit(disp=0)
    own = fit.predict(sm.add_constant(train[COVARIATES].astype(float))).mean()
    predicted = fit.predict(sm.add_constant(other[COVARIATES].astype(float))).mean()
    observed = other.mi.mean()
    assert abs(own / train.mi.mean() - 1) < 0.01  # calibrated in the large where it was fit
    ratio = observed / predicted
    se = math.sqrt((1 - observed) / (observed * len(other)))  # of log(observed), roughly
    assert ratio > 1.2 and np.log(ratio) > 4 * se, (observed, predicted)
