"""A real network on loopback: the hub and three site agents as separate processes, each
site holding a third of Eunomia GiBleed. A characterization study goes out through the
SDK; every number that comes back is checked against SQL run directly on the site's
database, and no count below the minimum cell size may appear anywhere outside a site.
"""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import time
from pathlib import Path

import duckdb
import pytest

from behindglass.analyses.requests import Characterize, CohortCount
from behindglass.client import connect
from behindglass.core.canonical import digest
from behindglass.core.cohort import Cohort
from behindglass.governance.audit import read_entries, verify
from tests.integration.harness import DATA, MIN_CELL, SITES, Network, stop

pytestmark = pytest.mark.integration

GI_BLEED = 192671
BY = ["sex", "age_band", "race", "ethnicity", "index_year"]


# -- the direct SQL a site's numbers must match ---------------------------------------------
EVERYONE = ("SELECT person_id, min(observation_period_start_date) AS index_date "
            "FROM observation_period GROUP BY person_id")
GI_BLEED_COHORT = f"""
    WITH ids AS (SELECT {GI_BLEED} AS id UNION SELECT descendant_concept_id FROM concept_ancestor
                 WHERE ancestor_concept_id = {GI_BLEED}),
    first AS (SELECT person_id, min(condition_start_date) AS d FROM condition_occurrence
              WHERE condition_concept_id IN (SELECT id FROM ids) GROUP BY person_id)
    SELECT DISTINCT f.person_id, f.d AS index_date FROM first f JOIN observation_period op
      ON op.person_id = f.person_id
     AND f.d BETWEEN op.observation_period_start_date AND op.observation_period_end_date"""

DIM_SQL = {
    "sex": "CASE p.gender_concept_id WHEN 8507 THEN 'male' WHEN 8532 THEN 'female' "
           "ELSE 'unknown' END",
    "age_band": "CASE WHEN year(c.index_date) - p.year_of_birth >= 90 THEN '90+' ELSE "
                "CAST((year(c.index_date) - p.year_of_birth) // 10 * 10 AS VARCHAR) || '-' || "
                "CAST((year(c.index_date) - p.year_of_birth) // 10 * 10 + 9 AS VARCHAR) END",
    "race": "CASE WHEN coalesce(p.race_concept_id, 0) = 0 THEN 'unknown' ELSE coalesce("
            "(SELECT concept_name FROM concept WHERE concept_id = p.race_concept_id), "
            "'concept ' || p.race_concept_id) END",
    "ethnicity": "CASE WHEN coalesce(p.ethnicity_concept_id, 0) = 0 THEN 'unknown' ELSE "
                 "coalesce((SELECT concept_name FROM concept WHERE concept_id = "
                 "p.ethnicity_concept_id), 'concept ' || p.ethnicity_concept_id) END",
    "index_year": "CAST(year(c.index_date) AS VARCHAR)",
}


def truth(db: Path, cohort_sql: str, window: int | None) -> dict[str, dict[tuple, int]]:
    """Every table's true counts at one site, straight from its database."""
    con = duckdb.connect(str(db), read_only=True)
    out: dict[str, dict[tuple, int]] = {}
    # Eunomia's observation_period also covers ~2,650 person ids absent from person;
    # a cohort is made of persons, so those are not members
    con.execute(f"CREATE TEMP TABLE c AS SELECT * FROM ({cohort_sql}) "
                "WHERE person_id IN (SELECT person_id FROM person)")
    out["persons"] = {(): con.execute("SELECT count(*) FROM c").fetchone()[0]}
    for dim, expr in DIM_SQL.items():
        rows = con.execute(f"SELECT {expr} AS v, count(*) FROM c JOIN person p "
                           "USING (person_id) GROUP BY v").fetchall()
        out[dim] = {(str(v),): n for v, n in rows}
    for domain, table, col, date in (
            ("condition", "condition_occurrence", "condition_concept_id", "condition_start_date"),
            ("drug", "drug_exposure", "drug_concept_id", "drug_exposure_start_date")):
        since = "" if window is None else f" AND e.{date} >= c.index_date - INTERVAL {window} DAY"
        rows = con.execute(f"SELECT e.{col}, count(DISTINCT e.person_id) FROM {table} e JOIN c "
                           f"USING (person_id) WHERE e.{col} <> 0 AND e.{date} <= c.index_date"
                           f"{since} GROUP BY 1").fetchall()
        out[f"top_{domain}"] = {(str(cid),): n for cid, n in rows}
    con.close()
    return out


def counts_in(payload: object) -> list[int]:
    found: list[int] = []
    if isinstance(payload, dict):
        for k, v in payload.items():
            if k == "count" and isinstance(v, int):
                found.append(v)
            found += counts_in(v)
    elif isinstance(payload, list):
        for v in payload:
            found += counts_in(v)
    return found


# -- the test ------------------------------------------------------------------------------
def test_characterization_across_three_real_sites(network: Network) -> None:
    net = connect(network.url, network.researcher)
    cohorts = {"all": Cohort.everyone(), "gib": Cohort.condition(GI_BLEED)}
    study = net.study("GI bleed characterization", cohorts=cohorts)
    study.add(Characterize("all", by=BY, top_n=10, window_days=None, name="Everyone"))
    study.add(Characterize("gib", by=BY, top_n=10, window_days=365, name="GiBleed"))
    study.add(CohortCount("gib"))
    started = time.perf_counter()
    result = study.run(timeout=45, progress=False)
    round_trip = time.perf_counter() - started
    print(f"\nstudy round-trip with {len(SITES)} sites on loopback: {round_trip:.2f} s")
    assert result.complete and result.refusals == []

    small_cells: list[tuple[str, str, int]] = []  # (site, label, true count) never to leak
    for name, cohort_sql, window in (("Everyone", EVERYONE, None),
                                     ("GiBleed", GI_BLEED_COHORT, 365)):
        analysis = result[name]
        assert analysis.sites == list(SITES)
        truths = {s: truth(network.dbs[s], cohort_sql, window) for s in SITES}
        for table_name in analysis.tables:
            table = analysis.table(table_name)
            for row in table["rows"]:
                key = tuple(row["key"])
                numbers = [v for v in row["sites"].values() if isinstance(v, int)]
                assert row["pooled"] == (sum(numbers) if numbers else None)
                for site, value in row["sites"].items():
                    true = truths[site][table_name].get(key, 0)
                    if isinstance(value, int):
                        assert value == true, (name, table_name, key, site)
                        # a zero is the hub's inference for a category a site did not list
                        # in a breakdown of its released total; nothing small was released
                        assert value >= MIN_CELL or (value == 0 and not
                                                     table_name.startswith("top_"))
                    else:
                        assert value in ("suppressed", None)
                    if value == "suppressed":
                        assert true > 0
            if not table_name.startswith("top_"):  # every true cell was reported
                for site in SITES:
                    keys = {tuple(r["key"]) for r in table["rows"]
                            if r["sites"][site] not in (None, 0)}
                    assert keys == set(truths[site][table_name]), (name, table_name, site)
        for site in SITES:
            for table_name, cells in truths[site].items():
                small_cells += [(site, k[0] if k else table_name, n)
                                for k, n in cells.items() if 0 < n < MIN_CELL]
    assert small_cells, "the test data must contain cells below the minimum to be meaningful"
    pooled = result["CohortCount"].to_pandas()["count"].iloc[0]
    assert pooled == sum(truth(network.dbs[s], GI_BLEED_COHORT, 365)["persons"][()]
                         for s in SITES)

    # Nothing below MIN_CELL anywhere outside a site: results, hub DB, logs, audit logs.
    payload = result.to_dict()
    assert min(counts_in(payload["releases"])) >= MIN_CELL
    hub_db = sqlite3.connect(f"file:{network.state / 'hub.sqlite'}?mode=ro", uri=True)
    bodies = [json.loads(b) for (b,) in hub_db.execute("SELECT body FROM releases")]
    digests = {row[0]: row[1] for row in hub_db.execute("SELECT site, digest FROM releases")}
    hub_db.close()
    assert len(bodies) == len(SITES)
    assert min(counts_in(bodies)) >= MIN_CELL
    texts = {"hub log": network.log("hub").read_text()}
    for site in SITES:
        texts[f"{site} log"] = network.log(site).read_text()
        texts[f"{site} audit"] = network.audit(site).read_text()
        entries = [e for _, e in read_entries(network.audit(site))]
        assert counts_in([e["data"] for e in entries]) == []
        sent = [e["data"]["digest"] for e in entries if e["event"] == "release"]
        assert digests[site] in sent  # the hub holds exactly what the site audited
        assert verify(network.audit(site)).ok
    for where, text in texts.items():
        for _site, label, n in small_cells:
            assert not re.search(rf"{re.escape(label)}\W{{1,12}}{n}\b", text), (where, label)
    assert digest(bodies[0]) in digests.values()


def test_circe_cohort_across_three_sites_reproduces_the_published_count(
        network: Network) -> None:
    """CDMConnector's GIBleed_male.json gives 237 persons on the whole of GiBleed; split
    across three sites and run by each site's own Circe engine, the pooled count is the
    same, and each site's number is what ``cohort generate`` finds on its own store."""
    from behindglass.core.circe import load_circe
    from behindglass.engine.circe import generate_cohort
    from behindglass.engine.duckdb_backend import DuckDBBackend

    path = DATA / "ohdsi-cohort-definitions" / "cdmconnector" / "example_cohorts"
    male = Cohort.from_circe(path / "GIBleed_male.json")
    net = connect(network.url, network.researcher)
    study = net.study("GI bleed, male (Circe)", cohorts={"male": male})
    study.add(CohortCount("male"))
    study.add(Characterize("male", by=["sex", "age_band"], top_n=5, window_days=None,
                           name="Male GI bleed"))
    result = study.run(timeout=45, progress=False)
    assert result.complete and result.refusals == []
    per_site = {}
    for site in SITES:
        with DuckDBBackend(network.dbs[site]) as backend:
            per_site[site] = generate_cohort(backend, load_circe(path / "GIBleed_male.json")
                                             ).persons
    assert sum(per_site.values()) == 237
    assert result["CohortCount"].to_pandas()["count"].iloc[0] == 237
    sex = result["Male GI bleed"].table("sex")
    rows = {tuple(r["key"]): r for r in sex["rows"]}
    assert set(rows) == {("male",)}  # the inclusion rule "Male" held at every site
    assert rows[("male",)]["sites"] == per_site


def test_sites_ride_out_a_hub_restart_and_stop_cleanly(network: Network) -> None:
    assert network.hub is not None
    assert stop(network.hub) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it got
    time.sleep(1.0)  # the agents are retrying now
    network.start_hub()
    net = connect(network.url, network.researcher)
    study = net.study("after restart", cohorts={"all": Cohort.everyone()})
    result = study.add(CohortCount("all")).run(timeout=30, progress=False)
    assert result.complete and result["CohortCount"].sites == list(SITES)
    assert len(net.studies()) == 3  # the earlier studies survived the restart
    for site, proc in network.agents.items():
        assert proc.poll() is None, f"{site} agent died: {network.log(site).read_text()}"
        # Ctrl-C at one site, a service manager's SIGTERM at the others
        proc.send_signal(signal.SIGINT if site == "site-a" else signal.SIGTERM)
        assert proc.wait(timeout=10) == 0, network.log(site).read_text()
        assert verify(network.audit(site)).ok
        events = [e["event"] for _, e in read_entries(network.audit(site))]
        assert events[-1] == "agent_stopped"
