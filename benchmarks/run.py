"""Run every benchmark script in this folder (or those named) and print their figures.

    python benchmarks/run.py                 # all, at their default sizes
    python benchmarks/run.py cohort round    # only bench_cohort.py and bench_round.py
    python benchmarks/run.py --quick         # smaller sizes, a smoke run

Each benchmark is a standalone script that prints its own figures and the machine;
this runner only sequences them. Results go in docs/benchmarks.md with the command.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUICK_ARGS = {
    "bench_synth.py": ["--persons", "20000"],
    "bench_cohort.py": ["--persons", "20000"],
    "bench_round.py": ["--rounds", "10", "--sites", "3"],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="benchmark names (bench_NAME.py)")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args()
    scripts = sorted(HERE.glob("bench_*.py"))
    if args.names:
        wanted = {f"bench_{n.removeprefix('bench_').removesuffix('.py')}.py" for n in args.names}
        missing = wanted - {s.name for s in scripts}
        if missing:
            parser.error(f"no such benchmark(s): {sorted(missing)}")
        scripts = [s for s in scripts if s.name in wanted]
    failed = 0
    for script in scripts:
        extra = QUICK_ARGS.get(script.name, []) if args.quick else []
        print(f"\n=== {script.name} {' '.join(extra)}", flush=True)
        start = time.perf_counter()
        code = subprocess.call([sys.executable, str(script), *extra])
        print(f"=== {script.name}: exit {code} in {time.perf_counter() - start:.1f} s", flush=True)
        failed += code != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
