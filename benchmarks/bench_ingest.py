"""Ingest plus de-identification speed: identifiable Synthea CSV in, OMOP store out.

    python benchmarks/bench_ingest.py --persons 100000
    python benchmarks/bench_ingest.py --persons 100000 --dates shift
    python benchmarks/bench_ingest.py --persons 20000 --format fhir
    python benchmarks/bench_ingest.py --persons 20000 --format fhir --layout bundles

Generates an identifiable synthetic extract (not timed), then times `ingest_synthea` (or
`ingest_fhir`) into a fresh DuckDB store and prints persons per minute (goal: at least
100,000 on 2 cores). ``--layout bundles`` repacks the FHIR NDJSON export (not timed) into
collection Bundle files of ``--bundle-entries`` entries each (about one patient's worth,
like Synthea's one bundle per patient), so the bundle reader is timed on the same data.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
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


def to_bundles(src: Path, out: Path, entries: int) -> None:
    """Repack every ``<Type>.ndjson`` of ``src`` into collection Bundles of ``entries``
    entries (the lines are copied as they are: no JSON parsing here)."""
    out.mkdir()
    batch: list[str] = []
    files = 0

    def flush() -> None:
        nonlocal files
        if batch:
            body = ",".join('{"resource":' + line + "}" for line in batch)
            (out / f"bundle-{files:07d}.json").write_text(
                '{"resourceType":"Bundle","type":"collection","entry":[' + body + "]}")
            files += 1
            batch.clear()

    for path in sorted(src.glob("*.ndjson")):
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    batch.append(line.rstrip("\n"))
                if len(batch) >= entries:
                    flush()
    flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--profile", default="midwest-academic")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dates", choices=["year", "shift"], default="year")
    parser.add_argument("--format", choices=["synthea-csv", "fhir"], default="synthea-csv")
    parser.add_argument("--layout", choices=["ndjson", "bundles"], default="ndjson",
                        help="FHIR only: bulk-export NDJSON or a folder of Bundle files")
    parser.add_argument("--bundle-entries", type=int, default=300)
    parser.add_argument("--notes", choices=["deidentify", "hold"], default="deidentify",
                        help="run the text de-identifier over the notes (default) or hold "
                             "them back")
    parser.add_argument("--validate", action="store_true",
                        help="FHIR only: validate every resource with fhir.resources")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        start = time.perf_counter()
        generate_identifiable(args.profile, args.persons, args.seed, work / "extract",
                              format=args.format)
        if args.layout == "bundles":
            to_bundles(work / "extract", work / "bundles", args.bundle_entries)
            shutil.rmtree(work / "extract")
            (work / "bundles").rename(work / "extract")
        made = time.perf_counter() - start
        secret = SiteSecret.generate(work / "site.secret")
        config = DeidConfig(date_mode=args.dates, reference_date=dt.date(2026, 1, 1))
        start = time.perf_counter()
        if args.format == "fhir":
            report = ingest_fhir(work / "extract", work / "site.duckdb", secret, config,
                                 validate=args.validate, notes=args.notes)
        else:
            report = ingest_synthea(work / "extract", work / "site.duckdb", secret, config,
                                    notes=args.notes)
        seconds = time.perf_counter() - start
    rows = sum(report.rows.values()) if isinstance(report.rows, dict) else 0
    print(describe())
    layout = f" ({args.layout}{', validated' if args.validate else ''})" \
        if args.format == "fhir" else ""
    print(f"profile {args.profile}, {args.persons:,} persons, {args.format}{layout}, "
          f"dates={args.dates}, notes={args.notes} "
          f"(extract generated in {made:.1f} s, not timed)")
    print(f"  ingest + de-identification  {seconds:.1f} s")
    print(f"  persons/minute              {args.persons / seconds * 60:,.0f}")
    print(f"  OMOP rows written           {rows:,}")
    print(f"  peak RSS                    {peak_rss_mib():,.0f} MiB")


if __name__ == "__main__":
    main()
