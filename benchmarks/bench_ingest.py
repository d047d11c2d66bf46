"""Ingest plus de-identification speed: identifiable Synthea CSV in, OMOP store out.

    python benchmarks/bench_ingest.py --persons 100000
    python benchmarks/bench_ingest.py --persons 100000 --dates shift
    python benchmarks/bench_ingest.py --persons 20000 --format fhir

Generates an identifiable synthetic extract (not timed), then times `ingest_synthea` into a
fresh DuckDB store and prints persons per minute (goal: at least 100,000 on 2 cores).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe, peak_rss_mib

from behindglass.deid.safe_harbor import DeidConfig
from behindglass.deid.secret import SiteSecret
from behindglass.ingest import ingest_fhir, ingest_synthea
from behindglass.synth.identifiable import generate_identifiable


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--profile", default="midwest-academic")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dates", choices=["year", "shift"], default="year")
    parser.add_argument("--format", choices=["synthea-csv", "fhir"], default="synthea-csv")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        start = time.perf_counter()
        generate_identifiable(args.profile, args.persons, args.seed, work / "extract",
                              format=args.format)
        made = time.perf_counter() - start
        secret = SiteSecret.generate(work / "site.secret")
        config = DeidConfig(date_mode=args.dates, reference_date=dt.date(2026, 1, 1))
        start = time.perf_counter()
        ingest = ingest_fhir if args.format == "fhir" else ingest_synthea
        report = ingest(work / "extract", work / "site.duckdb", secret, config)
        seconds = time.perf_counter() - start
    rows = sum(report.rows.values()) if isinstance(report.rows, dict) else 0
    print(describe())
    print(f"profile {args.profile}, {args.persons:,} persons, {args.format}, dates={args.dates} "
          f"(extract generated in {made:.1f} s, not timed)")
    print(f"  ingest + de-identification  {seconds:.1f} s")
    print(f"  persons/minute              {args.persons / seconds * 60:,.0f}")
    print(f"  OMOP rows written           {rows:,}")
    print(f"  peak RSS                    {peak_rss_mib():,.0f} MiB")


if __name__ == "__main__":
    main()
