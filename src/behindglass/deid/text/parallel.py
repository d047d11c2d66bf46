"""PHI detection over many notes on every core, with the site secret kept in one process.

Detection is where the time goes (about 10 ms a note) and needs no secret; replacement is
cheap and keyed. So worker processes only *detect* (with the site's deny-lists), and the
calling process replaces, with the secret it never hands over: ``SiteSecret`` refuses to be
pickled on purpose. Note text travels to the workers through in-memory pipes only.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from behindglass.deid.text.analyzer import Analyzer, default_registry
from behindglass.deid.text.model import Detection
from behindglass.deid.text.registry import Context
from behindglass.deid.text.site_lists import SiteLists

_WORKER: tuple[Analyzer, SiteLists | None] | None = None


def _start(site_lists: SiteLists | None, threshold: float) -> None:
    global _WORKER
    _WORKER = (Analyzer(default_registry(), threshold=threshold), site_lists)


def _detect(item: tuple[str, str | None]) -> list[Detection]:
    assert _WORKER is not None, "worker not started"
    analyzer, lists = _WORKER
    text, patient = item
    return analyzer.analyze(text, Context(lists, patient))


class ParallelDetector:
    """A pool of detector processes; use as a context manager and call :meth:`detect`."""

    def __init__(self, site_lists: SiteLists | None, *, threshold: float = 0.5,
                 workers: int | None = None) -> None:
        self.workers = workers or max(1, os.cpu_count() or 1)
        # A fresh SiteLists without its match index: the workers build their own.
        lists = SiteLists(dict(site_lists.values)) if site_lists is not None else None
        # spawn, not fork: the parent runs DuckDB and threads, which fork does not copy safely.
        self._pool = ProcessPoolExecutor(self.workers,
                                         mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_start, initargs=(lists, threshold))

    def detect(self, items: Sequence[tuple[str, str | None]]) -> list[list[Detection]]:
        chunk = max(1, len(items) // (self.workers * 4))
        return list(self._pool.map(_detect, items, chunksize=chunk))

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> ParallelDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
