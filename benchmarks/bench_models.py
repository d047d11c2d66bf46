"""Models fitted across sites, end to end on loopback: logistic regression and Cox with 20
covariates over 10 sites.

    python benchmarks/bench_models.py --sites 10 --persons 100000

Builds (once, cached under benchmarks/out/) GiBleed replicated to ``--persons`` persons;
every site agent serves that same file (read-only), so the network holds ``--sites`` x
``--persons`` person rows. Then starts a real hub and the site agents (separate processes,
HTTP on loopback), submits one study per model and times it from submission to the
combined result; a second, identical submission shows the time without the start-up of
the agents' imports. Each model: everyone, from their first osteoarthritis diagnosis
(every GiBleed person has one), outcome GI bleed until the end of observation; covariates
age, sex and 18 of the commonest conditions and drugs recorded before.
Prints seconds per study, rounds and the machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gibleed_scale import build
from machine import describe

from behindglass.analyses.requests import Cox, Glm
from behindglass.client.local_network import LocalNetwork
from behindglass.core.cohort import Cohort

HERE = Path(__file__).resolve().parent
GI_BLEED = 192671
OSTEOARTHRITIS = 80180  # every GiBleed person has it: the target is everyone, at a real age


def common_concepts(db: Path, per_domain: int) -> list[dict[str, Any]]:
    """The commonest condition and drug concepts (GI bleed and its kin left out)."""
    con = duckdb.connect(str(db), read_only=True)
    out = []
    for domain, table, col in (("condition", "condition_occurrence", "condition_concept_id"),
                               ("drug", "drug_exposure", "drug_concept_id")):
        rows = con.execute(
            f"SELECT {col}, count(DISTINCT person_id) n FROM {table} WHERE {col} <> 0"
            f" AND {col} NOT IN (SELECT descendant_concept_id FROM concept_ancestor"
            f" WHERE ancestor_concept_id = {GI_BLEED}) AND {col} NOT IN ({GI_BLEED},"
            f" {OSTEOARTHRITIS})"
            f" GROUP BY 1 ORDER BY n DESC, 1 LIMIT {per_domain}").fetchall()
        out += [{"name": f"{domain}_{cid}", "domain": domain, "concept_ids": [int(cid)],
                 "descendants": False, "window": [None, 0]} for cid, _ in rows]
    con.close()
    return out


def timed(net: Any, title: str, request: Any) -> tuple[float, int, dict[str, Any]]:
    cohorts = {"all": Cohort.condition(OSTEOARTHRITIS), "gib": Cohort.condition(GI_BLEED)}
    started = time.perf_counter()
    study = net.study(title, cohorts=cohorts)
    study.add(request)
    result = study.run(timeout=1800, progress=False)
    seconds = time.perf_counter() - started
    combined = result[request.name].combined
    if combined.get("error") or result.refusals:
        raise SystemExit(f"{title}: {combined.get('error')} {result.refusals}")
    return seconds, int(combined["iterations"]), combined


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=10)
    parser.add_argument("--persons", type=int, default=100_000, help="persons per site")
    args = parser.parse_args()
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    db = out / f"gibleed-{args.persons}.duckdb"
    if not db.exists():
        t = time.perf_counter()
        build(db, args.persons)
        print(f"built {db.name} in {time.perf_counter() - t:.1f} s", flush=True)
    covariates = common_concepts(db, 9)
    population = {"washout_days": 0, "remove_prior_outcome": False,
                  "covariates": covariates}
    names = ["age", "male"] + [c["name"] for c in covariates]
    logistic = Glm("all", "gib", covariates=names, population=population, name="Logistic")
    cox = Cox("all", "gib", covariates=names, population=population, name="Cox",
              ph_test=None)
    print(describe())
    print(f"{args.sites} sites x {args.persons:,} persons, {len(names)} covariates")
    with tempfile.TemporaryDirectory(prefix="bench-models-") as tmp:
        sites = {f"site-{i:02d}": db for i in range(args.sites)}
        local = LocalNetwork(sites, workdir=tmp, min_cell=11, poll_wait=20.0)
        with local, local.connect() as net:
            for label, request in (("logistic", logistic), ("cox", cox)):
                for attempt in ("first", "again"):
                    seconds, rounds, combined = timed(net, f"{label} {attempt}", request)
                    print(f"{label:<9} {attempt:<6} {seconds:7.2f} s  iterations {rounds:>2}"
                          f"  n {combined.get('n') or combined.get('persons'):,}", flush=True)


if __name__ == "__main__":
    main()
