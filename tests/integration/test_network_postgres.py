"""A site whose OMOP store is a PostgreSQL schema takes part in a network like any other.

site-c's third of GiBleed is copied into a schema of a real PostgreSQL server; its agent is
started with a ``postgresql://...?schema=`` URL. A study with a Circe cohort and a builder
cohort must give, at that site, exactly what the same site gives from its DuckDB file, and
the pooled answers must be GiBleed's published ones.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from behindglass.analyses.requests import Characterize, CohortCount
from behindglass.client import connect
from behindglass.core.cohort import Cohort
from behindglass.core.policy import DisclosurePolicy
from behindglass.core.study import StudySpec
from behindglass.engine.postgres_backend import pg_connect
from behindglass.engine.site_store import SiteStore
from behindglass.omop.postgres_copy import copy_cdm_to_postgres
from behindglass.omop.schema import quote
from behindglass.site.execute import execute_task
from tests.integration.harness import DATA, SITES, Network, bg, running

pytestmark = pytest.mark.integration

MALE = DATA / "ohdsi-cohort-definitions" / "cdmconnector" / "example_cohorts" / "GIBleed_male.json"
GI_BLEED = 192671


def with_schema(url: str, schema: str) -> str:
    return url + ("&" if "?" in url else "?") + f"schema={schema}"


@pytest.fixture(scope="module")
def pg_site(site_dbs: dict[str, Path], pg_url: str) -> Iterator[str]:
    """site-c's store copied into a fresh schema; yields its URL."""
    schema = f"site_c_{uuid.uuid4().hex[:8]}"
    copy_cdm_to_postgres(site_dbs["site-c"], pg_url, schema)
    yield with_schema(pg_url, schema)
    con = pg_connect(pg_url)
    con.execute(f"DROP SCHEMA IF EXISTS {quote(schema)} CASCADE".encode())
    con.commit()
    con.close()


@pytest.fixture(scope="module")
def mixed_network(site_dbs: dict[str, Path], pg_site: str,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    dbs = {**site_dbs, "site-c": pg_site}
    with running(tmp_path_factory.mktemp("mixed"), dbs) as net:
        yield net


def study_spec() -> StudySpec:
    cohorts = {"male": Cohort.from_circe(MALE), "gib": Cohort.condition(GI_BLEED)}
    analyses = (CohortCount("male").to_spec(),
                Characterize("gib", by=["sex", "age_band", "index_year"], top_n=5,
                             window_days=365, name="GI bleed").to_spec())
    return StudySpec(title="mixed engines", cohorts=cohorts, analyses=analyses)


def test_a_postgres_site_releases_what_its_duckdb_twin_releases(
        site_dbs: dict[str, Path], pg_site: str) -> None:
    from behindglass.core.messages import Task

    task = Task(task_id="t1", study_id="s1", site="site-c", researcher="alice",
                study=study_spec(), created=dt.datetime.now(dt.UTC))
    released = {}
    for label, target in (("duckdb", site_dbs["site-c"]), ("postgres", pg_site)):
        with SiteStore.open(target) as store:
            out = execute_task(task, store, DisclosurePolicy())
        assert out.refusals == []
        released[label] = [a.to_dict() for a in out.aggregates]
    assert released["postgres"] == released["duckdb"]


def test_network_with_a_postgres_site_gives_the_published_counts(
        mixed_network: Network) -> None:
    net = connect(mixed_network.url, mixed_network.researcher)
    spec = study_spec()
    study = net.study(spec.title, cohorts=dict(spec.cohorts))
    study.add(CohortCount("male"))
    study.add(Characterize("gib", by=["sex"], top_n=0, name="GI bleed"))
    result = study.run(timeout=60, progress=False)
    assert result.complete and result.refusals == []
    assert result["CohortCount"].to_pandas()["count"].iloc[0] == 237  # CDMConnector's answer
    persons = result["GI bleed"].table("persons")["rows"][0]
    assert persons["pooled"] == 479 and set(persons["sites"]) == set(SITES)


def test_a_wrong_postgres_url_stops_the_agent_at_start(pg_url: str, tmp_path: Path) -> None:
    done = subprocess.run(
        bg("site", "serve", "--db", with_schema(pg_url, "no_such_schema"),
           "--hub", "http://127.0.0.1:9", "--name", "x", "--token", "t", "--once"),
        capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "no_such_schema" in done.stderr


@pytest.mark.parametrize("duplicates", ["keep_first", "keep_all"])
def test_the_study_population_is_the_same_frame_on_postgres(
        site_dbs: dict[str, Path], pg_site: str, duplicates: str) -> None:
    from behindglass.core.population import PopulationSettings

    covariates = [
        {"name": "nsaid_any", "domain": "drug", "concept_ids": [1118084, 1124300],
         "window": [-365, -1]},
        {"name": "gi_before", "domain": "condition", "concept_ids": [GI_BLEED],
         "descendants": True, "window": [None, -1]},
        {"name": "sprain", "domain": "condition", "concept_ids": [81151],
         "descendants": False, "window": [-30, 30]},
        {"name": "vaccine", "domain": "drug", "concept_ids": [40213154]},
        {"name": "visit_proc", "domain": "procedure", "concept_ids": [4107731]},
    ]
    settings = PopulationSettings.from_dict({
        "washout_days": 180, "remove_duplicate_subjects": duplicates,
        "remove_prior_outcome": True, "risk_window_end": 30, "end_anchor": "cohort start",
        "covariates": covariates})
    target, comparator = Cohort.drug(1118084), Cohort.drug(1124300)
    frames = []
    for where in (site_dbs["site-c"], pg_site):
        with SiteStore.open(where) as store:
            frames.append(store.population(target, comparator, Cohort.condition(GI_BLEED),
                                           settings))
    duck, pg = frames
    assert len(duck) > 50 and duck[[c["name"] for c in covariates]].to_numpy().any()
    assert list(pg.columns) == list(duck.columns)
    assert (pg.dtypes == "int64").all()
    assert pg.equals(duck)
