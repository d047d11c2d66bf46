"""Models fitted across three real site processes equal the models fitted on the pooled rows.

New users of celecoxib versus diclofenac in Eunomia GiBleed (split three ways by person),
outcome GI bleed: a logistic regression and a Cox model go out through the hub in rounds;
the answers must equal statsmodels on the study population built from the whole database,
to 1e-8, with the same number of iterations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import statsmodels.api as sm
from statsmodels.duration.hazard_regression import PHReg

from behindglass.analyses.requests import Cox, Glm, KaplanMeier
from behindglass.client import connect
from behindglass.core.cohort import Cohort
from behindglass.core.population import PopulationSettings
from behindglass.engine.site_store import SiteStore
from tests.integration.harness import SITES, Network

pytestmark = pytest.mark.integration

CELECOXIB, DICLOFENAC, GI_BLEED = 1118084, 1124300, 192671
POPULATION: dict[str, Any] = {"washout_days": 365, "remove_prior_outcome": True,
                              "risk_window_end": 0, "end_anchor": "cohort end"}
COHORTS = {"celecoxib": Cohort.drug(CELECOXIB), "diclofenac": Cohort.drug(DICLOFENAC),
           "gib": Cohort.condition(GI_BLEED)}


@pytest.fixture(scope="module")
def pooled(site_dbs: dict[str, Path]):
    """The study population of the whole of GiBleed, as one site would build it."""
    with SiteStore.open(site_dbs["site-a"].parent / "full.duckdb") as store:
        return store.population(COHORTS["celecoxib"], COHORTS["diclofenac"], COHORTS["gib"],
                                PopulationSettings.model_validate(POPULATION))


@pytest.fixture(scope="module")
def result(network: Network):
    net = connect(network.url, network.researcher)
    study = net.study("celecoxib vs diclofenac, GI bleed", cohorts=COHORTS)
    study.add(Glm("celecoxib", "gib", comparator="diclofenac",
                  covariates=["treatment", "age", "male"], population=POPULATION,
                  name="Logistic"))
    study.add(Cox("celecoxib", "gib", comparator="diclofenac", covariates=["treatment"],
                  population=POPULATION, name="Cox"))
    study.add(KaplanMeier("celecoxib", "diclofenac", "gib", population=POPULATION,
                          name="KM"))
    return study.run(timeout=120, progress=False)


def test_the_study_completes_at_every_site(result) -> None:
    assert result.complete and result.refusals == []
    for name in ("Logistic", "Cox", "KM"):
        assert result[name].combined.get("error") is None, result[name].combined


def test_federated_logistic_regression_equals_the_pooled_fit(result, pooled) -> None:
    combined = result["Logistic"].combined
    x = sm.add_constant(pooled[["treatment", "age", "male"]].astype(float))
    fit = sm.GLM(pooled["event"].astype(float), x, family=sm.families.Binomial()).fit()
    ours = list(combined["coefficients"])
    assert len(ours) == len(x.columns)
    for row, col in zip(ours, x.columns, strict=True):  # intercept first, then in order
        assert row["coef"] == pytest.approx(fit.params[col], rel=1e-8, abs=1e-10)
        assert row["se"] == pytest.approx(fit.bse[col], rel=1e-8)
    assert combined["log_likelihood"] == pytest.approx(fit.llf, rel=1e-10)
    assert combined["iterations"] == fit.fit_history["iteration"]
    assert combined["n"] == len(pooled) and combined["sites"] == list(SITES)


def test_federated_cox_equals_the_pooled_fit(result, pooled) -> None:
    combined = result["Cox"].combined
    fit = PHReg(pooled["survival_time"].astype(float), pooled[["treatment"]].astype(float),
                status=pooled["event"].astype(float), ties="efron").fit()
    (row,) = combined["coefficients"]
    assert row["covariate"] == "treatment"
    assert row["coef"] == pytest.approx(fit.params[0], rel=1e-8)
    assert row["se"] == pytest.approx(fit.bse[0], rel=1e-8)
    assert combined["loglik"] == pytest.approx(fit.llf, rel=1e-10)
    assert combined["events"] == int(pooled["event"].sum())
    assert combined["persons"] == len(pooled) and combined["converged"]


def test_kaplan_meier_pools_every_person_in_a_safe_form(result, pooled) -> None:
    combined = result["KM"].combined
    assert combined["sites"] == list(SITES) and not combined["rejected"]
    for group, treatment in (("target", 1), ("comparator", 0)):
        rows = pooled[pooled["treatment"] == treatment]
        g = combined["groups"][group]
        assert g["persons"] == len(rows) and g["events"] == int(rows["event"].sum())
        curve = [r["survival"] for r in g["table"]]
        assert all(0 <= v <= 1 for v in curve) and np.all(np.diff(curve) <= 1e-12)
    # what left the sites: interval counts, each 0 or at least the minimum cell
    for release in result.raw.releases:
        for agg in release.aggregates:
            if agg.kind == "kaplan_meier":
                for block in agg.stats:
                    if block.name in ("km:target", "km:comparator"):
                        counts = np.asarray(block.values).reshape(block.shape)[:, 1:]
                        assert np.all((counts == 0) | (counts >= 11))
