"""Time ``behindglass.synth.generate_site`` and report throughput and peak memory.

    .venv/bin/python benchmarks/bench_synth.py --persons 100000 --profile midwest-academic

Prints the machine, persons/s, rows/s, MB written and the peak resident memory of this
process and of its worker processes (``resource.getrusage``). The output folder is a
temporary one, removed afterwards unless ``--keep`` is given.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from behindglass.synth import PROFILES, generate_site


def _peak_mb(who: int) -> float:
    # ru_maxrss is in kilobytes on Linux and in bytes on macOS.
    peak = resource.getrusage(who).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _machine() -> str:
    try:  # the shared description, when run from the benchmarks folder
        from machine import describe  # type: ignore[import-not-found]

        return describe()
    except ImportError:
        return (f"machine: {platform.machine()} {platform.system()} {platform.release()}, "
                f"{os.cpu_count()} cpu, python {platform.python_version()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--profile", default="midwest-academic", choices=sorted(PROFILES))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--gzip", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="folder to write (default: temp)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    args = parser.parse_args(argv)

    print(_machine())
    scratch = Path(tempfile.mkdtemp(prefix="bench-synth-"))
    out = args.out or scratch / "site"
    started = time.perf_counter()
    report = generate_site(args.profile, args.persons, args.seed, out, gzip=args.gzip,
                           workers=args.workers, overwrite=True)
    seconds = time.perf_counter() - started
    size = sum(p.stat().st_size for p in report.out.iterdir()) / 1e6
    print(f"profile {args.profile}, {args.persons:,} persons, {args.workers} worker(s), "
          f"gzip={args.gzip}")
    print(f"  time        {seconds:8.2f} s")
    print(f"  persons/s   {args.persons / seconds:10,.0f}")
    print(f"  rows        {report.total_rows:10,}  ({report.total_rows / args.persons:.0f} per "
          f"person)")
    print(f"  rows/s      {report.total_rows / seconds:10,.0f}")
    print(f"  written     {size:10,.1f} MB")
    print(f"  peak RSS    {_peak_mb(resource.RUSAGE_SELF):10,.0f} MB (this process), "
          f"{_peak_mb(resource.RUSAGE_CHILDREN):,.0f} MB (largest worker)")
    print(f"  1M persons  ~{seconds * 1_000_000 / args.persons / 60:.1f} min (linear "
          f"extrapolation)")
    if not args.keep:
        shutil.rmtree(scratch, ignore_errors=True)
        if args.out is not None:
            shutil.rmtree(args.out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
