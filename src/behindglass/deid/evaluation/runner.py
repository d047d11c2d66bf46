"""Run a detector over a gold corpus, time it, and score what it found."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from behindglass.deid.evaluation.metrics import DEFAULT_IGNORE, score
from behindglass.deid.evaluation.model import GoldDoc
from behindglass.deid.evaluation.report import EvalReport

Detector = Callable[[str], Iterable[Any]]  # yields Detection or (start, end, label) tuples


def evaluate(gold: Sequence[GoldDoc], detect: Detector, *, progress: bool = False,
             ignore: Iterable[str] = DEFAULT_IGNORE) -> EvalReport:
    """Call ``detect`` on each document's text and score its spans against the gold.

    Only the detector calls are timed (not loading or scoring), so the report's throughput
    is the detector's. ``progress`` writes a running count to stderr.
    """
    predicted: dict[str, list[Any]] = {}
    seconds = 0.0
    for number, doc in enumerate(gold, 1):
        started = time.perf_counter()
        # list(): a generator does its work while being consumed; time that too.
        predicted[doc.id] = list(detect(doc.text))
        seconds += time.perf_counter() - started
        if progress and (number % 50 == 0 or number == len(gold)):
            print(f"\r{number}/{len(gold)} documents", end="", file=sys.stderr, flush=True)
    if progress and gold:
        print(file=sys.stderr)
    return score(gold, predicted, ignore=ignore, seconds=seconds)
