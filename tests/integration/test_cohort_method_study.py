"""``behindglass study run examples/studies/celecoxib_vs_diclofenac.json`` on GiBleed split
over three real site processes gives the pooled answer: the propensity model of
statsmodels, the type-7 quantile PS strata, and PHReg's unadjusted and PS-stratified Cox
models on the study population built from the whole database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.duration.hazard_regression import PHReg

from behindglass.analyses import ps_strata
from behindglass.core.population import PopulationSettings
from behindglass.core.study import StudySpec
from behindglass.engine.site_store import SiteStore
from tests.integration.harness import SITES, study_run

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "studies" / \
    "celecoxib_vs_diclofenac.json"
TOL = 1e-8


@pytest.fixture(scope="module")
def combined(site_dbs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
             ) -> dict[str, Any]:
    out = study_run(EXAMPLE, site_dbs, tmp_path_factory.mktemp("cm-run"), 240)
    assert out["state"] == "complete"
    return out["combined"]["CelecoxibVsDiclofenac"]


@pytest.fixture(scope="module")
def pooled(site_dbs: dict[str, Path]) -> tuple[pd.DataFrame, list[str]]:
    study = StudySpec.from_file(EXAMPLE)
    (spec,) = study.analyses
    settings = PopulationSettings.model_validate(spec.params["population"])
    with SiteStore.open(site_dbs["site-a"].parent / "full.duckdb") as store:
        frame = store.population(study.cohorts[spec.cohort], study.cohorts[spec.comparator],
                                 study.cohorts[spec.outcomes[0]], settings)
    return frame, list(spec.params["ps_covariates"])


def test_the_study_run_equals_the_pooled_computation(combined, pooled) -> None:
    frame, covs = pooled
    assert "error" not in combined, combined.get("error")
    assert combined["sites"] == list(SITES)
    assert combined["population"]["persons"] == len(frame) == 2630
    # the propensity model
    x = sm.add_constant(frame[covs].astype(float))
    glm = sm.GLM(frame["treatment"].astype(float), x,
                 family=sm.families.Binomial()).fit(tol=0, atol=0, rtol=1e-10)
    rows = combined["propensity_model"]["coefficients"]
    np.testing.assert_allclose([r["coef"] for r in rows], glm.params, rtol=0, atol=TOL)
    np.testing.assert_allclose([r["se"] for r in rows], glm.bse, rtol=0, atol=TOL)
    assert combined["propensity_model"]["iterations"] == glm.fit_history["iteration"]
    # the PS strata: numpy's type-7 quantiles of the pooled scores, right-closed
    ps = ps_strata.propensity(frame[covs].to_numpy(dtype=float), [r["coef"] for r in rows])
    q = np.quantile(ps, np.arange(1, 5) / 5, method="linear")
    expected = 1 + np.searchsorted(q, ps, side="left")
    ours = ps_strata.assign(ps, combined["ps_strata"]["cuts"])
    assert np.array_equal(ours, expected)
    for row in combined["ps_strata"]["table"]:
        in_stratum = frame["treatment"][ours == row["stratum"]]
        assert row["target"] == int((in_stratum == 1).sum())
        assert row["comparator"] == int((in_stratum == 0).sum())
    # the two Cox models
    for model, strata in (("unadjusted", None), ("stratified", ours)):
        fit = PHReg(frame["survival_time"].astype(float), frame[["treatment"]].astype(float),
                    status=frame["event"].astype(float), ties="efron",
                    strata=strata).fit(tol=1e-12)
        (row,) = combined[model]["coefficients"]
        assert row["coef"] == pytest.approx(fit.params[0], abs=TOL)
        assert row["se"] == pytest.approx(fit.bse[0], abs=TOL)
        assert combined[model]["loglik"] == pytest.approx(fit.llf, abs=TOL)
        assert combined[model]["events"] == int(frame["event"].sum())
