"""A real network on loopback for integration tests: the hub and three site agents as
separate processes, each site holding a third of Eunomia GiBleed (persons split by
``person_id % 3``). Test modules get it through the ``network`` fixture of conftest.py.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import httpx

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SITES = ("site-a", "site-b", "site-c")
MIN_CELL = 11


# -- site databases ------------------------------------------------------------------------
def unequal_sites(n: int) -> dict[str, str]:
    """``n`` site names, each with the SQL condition on ``person_id`` that picks its persons:
    residues of ``person_id % (1 + 2 + ... + n)`` in runs of 1, 2, ..., n, so the sites
    hold roughly 1 : 2 : ... : n of the persons."""
    total, start, out = n * (n + 1) // 2, 0, {}
    for k in range(n):
        out[f"site-{k:02d}"] = (f"person_id % {total} BETWEEN {start} AND {start + k}")
        start += k + 1
    return out


def split_sites(full: Path, out: Path, n: int | None = None) -> dict[str, Path]:
    """Persons split by person_id % 3 over SITES, or over ``n`` sites of unequal size
    (:func:`unequal_sites`); tables without person_id (vocabulary, ...) whole."""
    rules = ({site: f"person_id % 3 = {k}" for k, site in enumerate(SITES)} if n is None
             else unequal_sites(n))
    con = duckdb.connect(str(full), read_only=True)
    tables = [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()]
    with_person = {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.columns WHERE column_name = 'person_id' "
        "AND table_schema = 'main'").fetchall()}
    con.close()
    paths = {}
    for site, rule in rules.items():
        path = out / f"{site}.duckdb"
        con = duckdb.connect(str(path))
        con.execute(f"ATTACH '{full}' AS src (READ_ONLY)")
        for table in tables:
            where = f" WHERE {rule}" if table in with_person else ""
            con.execute(f"CREATE TABLE {table} AS SELECT * FROM src.{table}{where}")
        con.execute("DETACH src")
        con.close()
        paths[site] = path
    return paths


# -- processes -----------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bg(*args: str) -> list[str]:
    return [sys.executable, "-m", "behindglass.cli.main", *args]


def study_run(study: Path, site_dbs: dict[str, Path], work: Path, timeout: int
              ) -> dict[str, Any]:
    """``behindglass study run STUDY --sites ... --json`` as a user runs it; its JSON."""
    sites = ",".join(f"{s}={site_dbs[s]}" for s in SITES)
    done = subprocess.run(bg("study", "run", str(study), "--sites", sites, "--json",
                             "--workdir", str(work), "--timeout", str(timeout)),
                          capture_output=True, text=True, timeout=timeout + 60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


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
                       "--wait", "10", "--threads", "1"),
                    stdout=log, stderr=subprocess.STDOUT)


@contextlib.contextmanager
def running(work: Path, dbs: dict[str, Path] | dict[str, str]) -> Iterator[Network]:
    """A hub and one agent per store, started, and stopped on exit."""
    net = Network(work, dbs)  # type: ignore[arg-type]
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
