"""A real network on loopback: the hub and three site agents as separate processes, each
site holding a third of Eunomia GiBleed. A characterization study goes out through the
SDK; every number that comes back is checked against SQL run directly on the site's
database, and no count below the minimum cell size may appear anywhere outside a site.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import pytest

from behindglass.analyses.requests import Characterize, CohortCount
from behindglass.client import connect
from behindglass.core.canonical import digest
from behindglass.core.cohort import Cohort
from behindglass.governance.audit import read_entries, verify

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SITES = ("site-a", "site-b", "site-c")
MIN_CELL = 11
GI_BLEED = 192671
BY = ["sex", "age_band", "race", "ethnicity", "index_year"]


# -- site databases ------------------------------------------------------------------------
def split_sites(full: Path, out: Path) -> dict[str, Path]:
    """Persons split by person_id % 3; tables without person_id (vocabulary, ...) whole."""
    con = duckdb.connect(str(full), read_only=True)
    tables = [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()]
    with_person = {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.columns WHERE column_name = 'person_id' "
        "AND table_schema = 'main'").fetchall()}
    con.close()
    paths = {}
    for k, site in enumerate(SITES):
        path = out / f"{site}.duckdb"
        con = duckdb.connect(str(path))
        con.execute(f"ATTACH '{full}' AS src (READ_ONLY)")
        for table in tables:
            where = f" WHERE person_id % 3 = {k}" if table in with_person else ""
            con.execute(f"CREATE TABLE {table} AS SELECT * FROM src.{table}{where}")
        con.execute("DETACH src")
        con.close()
        paths[site] = path
    return paths


@pytest.fixture(scope="module")
def site_dbs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from behindglass.omop.loader import load_omop

    src = DATA / "eunomia-gibleed"
    if not src.exists():
        pytest.skip(f"{src} not found")
    work = tmp_path_factory.mktemp("sites")
    load_omop(src, work / "full.duckdb")
    return split_sites(work / "full.duckdb", work)


# -- processes -----------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bg(*args: str) -> list[str]:
    return [sys.executable, "-m", "behindglass.cli.main", *args]


def add(kind: str, name: str, state: Path) -> str:
    done = subprocess.run(bg("hub", f"add-{kind}", name, "--state", str(state)),
                          capture_output=True, text=True, check=True, timeout=60)
    return done.stdout.strip()


def stop(proc: subprocess.Popen) -> int:
    if proc.poll() is None:
        proc.terminate()
        try:
            return proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return -9
    return proc.returncode


class Network:
    def __init__(self, work: Path, dbs: dict[str, Path]) -> None:
        self.work = work
        self.dbs = dbs
        self.state = work / "hub"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tokens = {s: add("site", s, self.state) for s in SITES}
        self.researcher = add("researcher", "alice", self.state)
        self.hub: subprocess.Popen | None = None
        self.agents: dict[str, subprocess.Popen] = {}

    def log(self, name: str) -> Path:
        return self.work / f"{name}.log"

    def audit(self, site: str) -> Path:
        return self.work / f"{site}-audit.jsonl"

    def start_hub(self) -> None:
        with open(self.log("hub"), "ab") as log:
            self.hub = subprocess.Popen(
                bg("hub", "serve", "--state", str(self.state), "--port", str(self.port),
                   "--log-level", "warning"), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.url}/api/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.hub.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"hub did not start: {self.log('hub').read_text()}")
            time.sleep(0.05)

    def wait_for_agents(self, timeout: float = 30) -> None:
        """Until every agent has asked the hub for work once (they are polling now)."""
        deadline = time.monotonic() + timeout
        headers = {"Authorization": f"Bearer {self.researcher}"}
        while time.monotonic() < deadline:
            sites = httpx.get(f"{self.url}/api/v1/sites", headers=headers).json()
            if all(s["last_seen"] for s in sites):
                return
            for site, proc in self.agents.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{site} agent exited: {self.log(site).read_text()}")
            time.sleep(0.05)
        raise RuntimeError("site agents did not start polling")

    def start_agents(self) -> None:
        for site in SITES:
            with open(self.log(site), "ab") as log:
                self.agents[site] = subprocess.Popen(
                    bg("site", "serve", "--db", str(self.dbs[site]), "--hub", self.url,
                       "--name", site, "--token", self.tokens[site],
                       "--audit", str(self.audit(site)), "--min-cell", str(MIN_CELL),
                       "--wait", "10"),
                    stdout=log, stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def network(site_dbs: dict[str, Path],
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    net = Network(tmp_path_factory.mktemp("net"), site_dbs)
    try:
        net.start_hub()
        net.start_agents()
        net.wait_for_agents()
        yield net
    finally:
        codes = {site: stop(p) for site, p in net.agents.items()}
        if net.hub is not None:
            stop(net.hub)
        net.exit_codes = codes  # type: ignore[attr-defined]


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
