"""``generate_site``: one synthetic OMOP CDM v5.4 data set, streamed to CSV.

Persons are simulated in fixed blocks of ``BLOCK`` persons, each with its own random
stream (``SeedSequence([seed, profile, block])``), so the files are byte-identical for
the same profile, persons and seed whatever the chunk size or number of workers. Blocks
produce block-local, 0-based ids; this module turns them into CDM ids with running
counters in block order and appends every table to its file. Everything is written to a
hidden sibling folder first and renamed into place at the end, so an interrupted run
never leaves a half data set behind.
"""

from __future__ import annotations

import os
import shutil
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from behindglass.core.errors import BehindGlassError
from behindglass.synth.chronic import diagnose, draw_conditions
from behindglass.synth.clinical import condition_rows, drug_rows, smoking_rows
from behindglass.synth.costs import drug_costs, visit_costs
from behindglass.synth.encounters import build_visits, visit_rows
from behindglass.synth.eras import condition_era_rows, drug_era_rows
from behindglass.synth.labs import measurement_rows
from behindglass.synth.outcomes import apply_events, draw_outcomes
from behindglass.synth.population import draw_population
from behindglass.synth.procedures import procedure_rows
from behindglass.synth.profile_catalog import PROFILES
from behindglass.synth.profiles import Profile
from behindglass.synth.ragged import NEVER
from behindglass.synth.registry import (
    death_rows,
    observation_period_rows,
    payer_rows,
    person_rows,
)
from behindglass.synth.schema import CLINICAL_TABLES
from behindglass.synth.sitetables import SiteContext, build_site, profile_key
from behindglass.synth.treatment import draw_treatments
from behindglass.synth.vocabulary import vocabulary_tables
from behindglass.synth.writer import Columns, TableWriter, column_length, format_csv

BLOCK = 5_000
DEFAULT_CHUNK = 50_000

# Block-local id columns and the table whose running counter turns them into CDM ids.
ID_COUNTERS: dict[str, str] = {
    "visit_occurrence_id": "visit_occurrence",
    "preceding_visit_occurrence_id": "visit_occurrence",
    "condition_occurrence_id": "condition_occurrence",
    "drug_exposure_id": "drug_exposure",
    "procedure_occurrence_id": "procedure_occurrence",
    "measurement_id": "measurement",
    "observation_id": "observation",
    "observation_period_id": "observation_period",
    "payer_plan_period_id": "payer_plan_period",
    "drug_era_id": "drug_era",
    "condition_era_id": "condition_era",
}
COST_EVENT_COUNTER = {"visit": "visit_occurrence", "drug": "drug_exposure"}


@dataclass(frozen=True)
class SynthReport:
    """What ``generate_site`` wrote."""

    profile: str
    persons: int
    seed: int
    out: Path
    gzip: bool
    rows: dict[str, int]
    seconds: float
    workers: int = 1
    files: tuple[str, ...] = field(default_factory=tuple)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def persons_per_second(self) -> float:
        return self.persons / self.seconds if self.seconds > 0 else float("inf")


def simulate_block(profile: Profile, site: SiteContext, seed: int, block: int,
                   n: int) -> dict[str, Columns]:
    """All clinical tables for ``n`` persons, with block-local 0-based ids.

    Keys are table names; COST comes in two parts, ``cost@visit`` and ``cost@drug``.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, profile_key(profile), block]))
    pop = draw_population(rng, profile, n)
    onsets = draw_conditions(rng, profile, pop)
    dx = diagnose(rng, profile, pop, onsets)
    courses = draw_treatments(rng, profile, pop, onsets, dx)
    events = draw_outcomes(rng, profile, pop, onsets, courses)
    last = apply_events(rng, pop, courses, events)
    dx = {name: np.where(day <= last, day, NEVER) for name, day in dx.items()}
    visits = build_visits(rng, profile, pop, last, onsets, dx, courses, events, site)
    conditions = condition_rows(rng, profile, visits, dx, events, last)
    drugs = drug_rows(rng, visits, courses, last)
    payer = payer_rows(rng, profile, pop, last)
    return {
        "person": person_rows(profile, pop, site.region_location),
        "observation_period": observation_period_rows(pop, last),
        "visit_occurrence": visit_rows(visits, events.death),
        "condition_occurrence": conditions,
        "drug_exposure": drugs,
        "procedure_occurrence": procedure_rows(rng, profile, pop, visits, onsets, dx),
        "measurement": measurement_rows(rng, profile, pop, visits, onsets, dx, courses),
        "observation": smoking_rows(rng, pop, visits),
        "death": death_rows(profile, onsets, events),
        "payer_plan_period": payer,
        "cost@visit": visit_costs(rng, profile, visits, payer),
        "cost@drug": drug_costs(rng, profile, drugs, payer),
        "drug_era": drug_era_rows(drugs),
        "condition_era": condition_era_rows(conditions),
    }


def renumber(outputs: dict[str, Columns], base: dict[str, int], person_base: int) -> None:
    """Turn block-local ids into CDM ids in place, given the counters before this block."""
    next_cost = base["cost"]
    for key, columns in outputs.items():
        table, _, part = key.partition("@")
        for name, value in columns.items():
            if not isinstance(value, np.ndarray):
                continue
            if name == "person_id":
                columns[name] = value + person_base
            elif name == "cost_id":
                columns[name] = value + next_cost
            elif name == "cost_event_id":
                columns[name] = value + base[COST_EVENT_COUNTER[part]]
            elif name in ID_COUNTERS:
                columns[name] = value + base[ID_COUNTERS[name]]
        if table == "cost":
            next_cost += column_length(columns)


class _Numbering:
    """Running CDM id counters; blocks are numbered strictly in block order."""

    def __init__(self, profile: Profile) -> None:
        self.counters = {table: 1 for table in CLINICAL_TABLES}
        self.person_base = profile.id_offset + 1

    def next(self, counts: dict[str, int], persons: int) -> tuple[dict[str, int], int]:
        """The (counters, first person id) of a block with ``counts`` rows per output."""
        base, person_base = dict(self.counters), self.person_base
        for key, rows in counts.items():
            self.counters[key.partition("@")[0]] += rows
        self.person_base += persons
        return base, person_base


Chunk = list[tuple[str, bytes, int]]  # (table, CSV bytes, rows) ready to append


def format_block(outputs: dict[str, Columns], gzip: bool) -> Chunk:
    """CSV bytes of every table of a renumbered block (the costly part of writing)."""
    return [(key.partition("@")[0], format_csv(key.partition("@")[0], columns, gzip=gzip),
             column_length(columns)) for key, columns in outputs.items()]


# Worker-process state: simulated blocks wait here, keyed by block index, until the main
# process has numbered them; only row counts and finished CSV bytes cross the pipe.
_PENDING: dict[int, dict[str, Columns]] = {}
_SITES: dict[tuple[str, int, int], SiteContext] = {}


def _simulate_task(profile: Profile, persons: int, seed: int,
                   blocks: list[tuple[int, int]]) -> list[dict[str, int]]:
    key = (profile.name, persons, seed)
    if key not in _SITES:
        _SITES[key] = build_site(profile, persons, seed)
    counts = []
    for index, n in blocks:
        outputs = simulate_block(profile, _SITES[key], seed, index, n)
        _PENDING[index] = outputs
        counts.append({name: column_length(columns) for name, columns in outputs.items()})
    return counts


def _format_task(blocks: list[tuple[int, int]], bases: list[tuple[dict[str, int], int]],
                 gzip: bool, folder: Path) -> list[list[tuple[str, Path, int]]]:
    """Number and format pending blocks into part files: (table, part file, rows)."""
    parts = []
    for (index, _), (base, person_base) in zip(blocks, bases, strict=True):
        outputs = _PENDING.pop(index)
        renumber(outputs, base, person_base)
        written: dict[str, tuple[Path, int]] = {}
        for table, data, rows in format_block(outputs, gzip):
            path, before = written.get(table, (folder / f"{index:07d}.{table}.part", 0))
            with path.open("ab") as handle:
                handle.write(data)
            written[table] = (path, before + rows)
        parts.append([(table, path, rows) for table, (path, rows) in written.items()])
    return parts


def _chunks(profile: Profile, persons: int, seed: int, site: SiteContext, chunk_size: int,
            workers: int, writer: TableWriter) -> Iterator[int]:
    """Simulate, number, format and append every block in block order; yields persons.

    With several workers, each worker process simulates its share of blocks, reports row
    counts, and keeps the rows until this process has assigned their ids (which must
    happen in block order); it then formats them into part files that are moved onto the
    table files in order. Only row counts and file names travel between processes.
    """
    gzip = writer.gzip
    blocks = [(i, min(BLOCK, persons - first)) for i, first in enumerate(range(0, persons, BLOCK))]
    numbering = _Numbering(profile)
    if workers <= 1:
        for index, n in blocks:
            outputs = simulate_block(profile, site, seed, index, n)
            base, person_base = numbering.next(
                {key: column_length(columns) for key, columns in outputs.items()}, n)
            renumber(outputs, base, person_base)
            for table, data, rows in format_block(outputs, gzip):
                writer.append(table, data, rows)
            yield n
        return
    tasks = [[block] for block in blocks]
    # chunk_size bounds how many persons are simulated ahead of the writer (memory).
    window = max(2 * workers, chunk_size // BLOCK)
    # One single-process executor per worker, so a task's rows stay where they were made.
    pools = [ProcessPoolExecutor(max_workers=1) for _ in range(workers)]
    try:
        counting: deque[tuple[int, Future[list[dict[str, int]]]]] = deque()
        formatting: deque[tuple[int, Future[list[list[tuple[str, Path, int]]]]]] = deque()
        submitted = 0
        while submitted < len(tasks) or counting or formatting:
            while submitted < len(tasks) and len(counting) + len(formatting) < window:
                pool = pools[submitted % workers]
                counting.append((submitted, pool.submit(_simulate_task, profile, persons, seed,
                                                        tasks[submitted])))
                submitted += 1
            if counting and len(formatting) < workers:
                number, future = counting.popleft()
                bases = [numbering.next(counts, n)
                         for (_, n), counts in zip(tasks[number], future.result(), strict=True)]
                formatting.append((number, pools[number % workers].submit(
                    _format_task, tasks[number], bases, gzip, writer.folder)))
                continue
            number, done = formatting.popleft()
            for (_, n), parts in zip(tasks[number], done.result(), strict=True):
                for table, path, rows in parts:
                    writer.append_file(table, path, rows)
                yield n
    finally:
        for pool in pools:
            pool.shutdown(wait=True, cancel_futures=True)


def _prepare(out: Path, overwrite: bool) -> Path:
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise BehindGlassError(f"{out} exists and is not empty; choose another folder or "
                               "replace it (--force, overwrite=True)")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    return partial


def _publish(partial: Path, out: Path) -> None:
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        out.rename(old)
        partial.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        partial.rename(out)


def generate_site(profile: str | Profile, persons: int, seed: int, out: Path | str, *,
                  gzip: bool = False, chunk_size: int = DEFAULT_CHUNK, progress: bool = False,
                  workers: int = 1, overwrite: bool = False) -> SynthReport:
    """Write one synthetic site as OMOP CDM v5.4 CSV files into ``out``.

    ``profile`` is a key of ``PROFILES`` (or a ``Profile``). ``chunk_size`` is the number
    of persons handed to a worker at a time (whole blocks of ``BLOCK``); it bounds memory
    and does not change the output. ``workers`` > 1 simulates blocks in that many
    processes while this one writes. An existing non-empty ``out`` is replaced only with
    ``overwrite=True``.
    """
    chosen = profile if isinstance(profile, Profile) else PROFILES.get(profile)
    if chosen is None:
        raise BehindGlassError(f"unknown profile {profile!r}; choose one of "
                               f"{', '.join(sorted(PROFILES))}")
    if persons < 1:
        raise BehindGlassError("persons must be at least 1")
    out = Path(out)
    started = time.perf_counter()
    partial = _prepare(out, overwrite)
    writer = TableWriter(partial, gzip=gzip)
    try:
        for table in CLINICAL_TABLES:
            writer.open(table)
        site = build_site(chosen, persons, seed)
        for table, columns in {**site.tables, **vocabulary_tables()}.items():
            writer.write(table, columns)
        console = Console(stderr=True)
        with Progress(TextColumn(f"[bold]{chosen.name}[/]"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("persons"), TimeRemainingColumn(), console=console,
                      disable=not (progress and console.is_terminal), transient=True) as bar:
            task = bar.add_task("persons", total=persons)
            for n in _chunks(chosen, persons, seed, site, chunk_size, workers, writer):
                bar.advance(task, n)
        rows = writer.close()
        files = tuple(sorted(p.name for p in partial.iterdir()))
        _publish(partial, out)
    except BaseException:
        writer.close()
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return SynthReport(chosen.name, persons, seed, out, gzip, rows,
                       time.perf_counter() - started, workers, files)
