"""Synthetic clinical-note throughput: notes/s per kind and for a mixed corpus, one core.

    .venv/bin/python benchmarks/bench_notes.py --count 20000
    .venv/bin/python benchmarks/bench_notes.py --count 20000 --format brat

Times ``generate_notes`` (identity draw + rendering + span checks) after a warm-up that
builds the per-locale Faker pools once per process (reported separately), then writing the
mixed corpus in the chosen format into a temporary folder. Prints the machine, wall-clock
rates and, for the mixed corpus, notes per CPU-second (robust on a busy machine).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe, peak_rss_mib

from behindglass.synth.notes import FORMATS, KINDS, LABELS, generate_notes, write_corpus


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000, help="notes per measurement")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--format", default="jsonl", choices=FORMATS)
    args = parser.parse_args(argv)

    print(describe())
    started = time.perf_counter()
    list(generate_notes(50, seed=args.seed))  # builds every locale's pools
    print(f"  warm-up (Faker pools, 50 notes)  {time.perf_counter() - started:8.2f} s")
    per_kind = max(1, args.count // 4)
    for kind in KINDS:
        started = time.perf_counter()
        n = sum(1 for _ in generate_notes(per_kind, seed=args.seed, kinds=[kind]))
        print(f"  {kind:<20} {n / (time.perf_counter() - started):10,.0f} notes/s")
    started, cpu = time.perf_counter(), time.process_time()
    notes = list(generate_notes(args.count, seed=args.seed))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    chars = sum(len(n.text) for n in notes)
    labels = Counter(s.label for n in notes for s in n.spans)
    print(f"  mixed corpus         {args.count / seconds:10,.0f} notes/s  "
          f"({args.count:,} notes, {chars / 1e6:.1f} M characters, "
          f"{sum(labels.values()):,} spans)")
    # CPU time is what one core can do when the machine is shared; wall time is above.
    print(f"  mixed corpus (CPU)   {args.count / cpu:10,.0f} notes per CPU-second")
    with tempfile.TemporaryDirectory(prefix="bench-notes-") as scratch:
        out = Path(scratch) / ("gold.jsonl" if args.format == "jsonl" else args.format)
        started = time.perf_counter()
        write_corpus(notes, out, args.format)
        print(f"  write {args.format:<14} {args.count / (time.perf_counter() - started):10,.0f}"
              f" notes/s")
    print("  spans per 1,000 notes: " + ", ".join(
        f"{label} {labels[label] * 1000 / args.count:,.0f}" for label in LABELS))
    print(f"  peak RSS    {peak_rss_mib():,.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
