"""Cohort count through behindglass's engine vs the equivalent hand-written DuckDB SQL.

    python benchmarks/bench_cohort.py --persons 100000
    python benchmarks/bench_cohort.py --persons 1000000

Generates a synthetic site (cached under benchmarks/out/), loads it into DuckDB, then
times the cohort "type 2 diabetes (with descendants), first occurrence in observation,
aged 18-75 at index" both ways, checks the counts agree, and prints the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe

from behindglass.core.cohort import Cohort
from behindglass.engine.site_store import SiteStore
from behindglass.omop.loader import load_omop
from behindglass.synth import generate_site

HAND_SQL = """
WITH cs AS (
  SELECT descendant_concept_id AS id FROM concept_ancestor WHERE ancestor_concept_id = 201826
  UNION SELECT 201826),
first AS (
  SELECT person_id, min(condition_start_date) AS d FROM condition_occurrence
  WHERE condition_concept_id IN (SELECT id FROM cs) GROUP BY person_id)
SELECT count(*) FROM first f
JOIN observation_period op ON op.person_id = f.person_id
  AND f.d BETWEEN op.observation_period_start_date AND op.observation_period_end_date
JOIN person p ON p.person_id = f.person_id
WHERE year(f.d) - p.year_of_birth BETWEEN 18 AND 75
"""


def site_db(persons: int, profile: str, seed: int) -> Path:
    out = Path(__file__).resolve().parent / "out" / f"{profile}-{persons}-{seed}"
    db = out.with_suffix(".duckdb")
    if not db.exists():
        start = time.perf_counter()
        generate_site(profile, persons, seed, out / "csv", progress=True)
        load_omop(out / "csv", db, progress=True)
        print(f"prepared {db.name} in {time.perf_counter() - start:.1f} s")
    return db


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--profile", default="midwest-academic")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    db = site_db(args.persons, args.profile, args.seed)
    cohort = Cohort.condition(201826).age_between(18, 75)
    ours, hand = [], []
    counts = set()
    for _ in range(args.repeat):
        with SiteStore.open(db) as data:
            start = time.perf_counter()
            counts.add(("ours", data.count_persons(cohort)))
            ours.append(time.perf_counter() - start)
        con = duckdb.connect(str(db), read_only=True)
        start = time.perf_counter()
        counts.add(("hand", con.execute(HAND_SQL).fetchone()[0]))
        hand.append(time.perf_counter() - start)
        con.close()
    values = {v for _, v in counts}
    if len(values) != 1:
        raise SystemExit(f"counts disagree: {sorted(counts)}")
    m_ours, m_hand = statistics.median(ours), statistics.median(hand)
    print(describe())
    print(f"persons: {args.persons:,}  cohort size: {values.pop():,}  repeats: {args.repeat}")
    print(f"behindglass engine: median {m_ours * 1000:.1f} ms")
    print(f"hand-written SQL:   median {m_hand * 1000:.1f} ms")
    print(f"ratio (engine / hand SQL): {m_ours / m_hand:.2f}")


if __name__ == "__main__":
    main()
