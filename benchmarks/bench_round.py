"""Federated round latency: submit a study, wait until every site has released.

    python benchmarks/bench_round.py --sites 3 --rounds 30
    python benchmarks/bench_round.py --sites 10 --rounds 30

Starts a real hub and N real site agents on loopback (all sites share one small synthetic
store, opened read-only by each agent), then times R sequential cohort-count studies from
submission to the last site's release, and prints p50 and p95.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe

from behindglass.analyses.requests import CohortCount
from behindglass.client.local_network import LocalNetwork
from behindglass.core.cohort import Cohort
from behindglass.omop.loader import load_omop
from behindglass.synth import generate_site


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--persons", type=int, default=2_000, help="persons in the site store")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        generate_site("midwest-academic", args.persons, 1, work / "omop")
        db = work / "site.duckdb"
        load_omop(work / "omop", db)
        sites = {f"site-{i:02d}": db for i in range(args.sites)}
        with LocalNetwork(sites, workdir=work / "net") as network:
            net = network.connect()
            latencies = []
            for r in range(args.rounds + 1):
                study = net.study(f"round {r}", cohorts={"t2d": Cohort.condition(201826)})
                study.add(CohortCount("t2d"))
                start = time.perf_counter()
                study.run(timeout=60, progress=False)
                if r:  # the first round warms up each agent's connection and store
                    latencies.append(time.perf_counter() - start)
    print(describe())
    print(f"sites: {args.sites}  rounds: {args.rounds}  (cohort count, {args.persons:,} persons "
          "per site)")
    print(f"round latency p50: {percentile(latencies, 0.5) * 1000:.0f} ms  "
          f"p95: {percentile(latencies, 0.95) * 1000:.0f} ms  "
          f"mean: {statistics.mean(latencies) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
