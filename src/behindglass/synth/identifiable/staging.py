"""What both identifiable writers (Synthea CSV and FHIR) share: an output folder that
appears only when complete, the truth and crosswalk files, and the block loop with its
progress bar. The block sequence and seeds are those of the OMOP export, so the same
arguments describe the same people in every format."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from behindglass.synth.generate import BLOCK, _prepare, _publish, simulate_block
from behindglass.synth.identifiable.truth import NOTE_SPANS_FILE, TRUTH_FILE
from behindglass.synth.profiles import Profile
from behindglass.synth.sitetables import SiteContext

CROSSWALK_HEADER = "PATIENT,PERSON_ID\n"


@contextmanager
def staged_output(out: Path, overwrite: bool) -> Iterator[tuple[Path, dict[str, IO[Any]]]]:
    """A hidden folder to write into and a dict for its open files; published (renamed to
    ``out``) on success, removed on any failure, so no half extract is ever left."""
    partial = _prepare(out, overwrite)
    handles: dict[str, IO[Any]] = {}
    try:
        yield partial, handles
        for handle in handles.values():
            handle.close()
        _publish(partial, out)
    except BaseException:
        for handle in handles.values():
            handle.close()
        shutil.rmtree(partial, ignore_errors=True)
        raise


@contextmanager
def truth_files(partial: Path, crosswalk_name: str,
                ) -> Iterator[tuple[IO[str], IO[str], IO[str]]]:
    """The truth file, the patient → person_id crosswalk (with its header) and the note
    span file."""
    with (partial / TRUTH_FILE).open("w", encoding="utf-8", newline="\n") as truth, \
            (partial / crosswalk_name).open("w", encoding="ascii") as crosswalk, \
            (partial / NOTE_SPANS_FILE).open("w", encoding="utf-8", newline="\n") as spans:
        crosswalk.write(CROSSWALK_HEADER)
        yield truth, crosswalk, spans


def simulated_blocks(profile: Profile, site: SiteContext, seed: int, persons: int, *,
                     label: str, progress: bool) -> Iterator[tuple[int, int, Any]]:
    """(block index, persons in it, simulated block) in OMOP-export order, with a progress
    bar on a terminal."""
    console = Console(stderr=True)
    with Progress(
            TextColumn(f"[bold]{profile.name}[/] {label}"), BarColumn(),
            MofNCompleteColumn(), TextColumn("persons"), TimeRemainingColumn(),
            console=console, disable=not (progress and console.is_terminal),
            transient=True) as bar:
        task = bar.add_task("persons", total=persons)
        for index, first in enumerate(range(0, persons, BLOCK)):
            n = min(BLOCK, persons - first)
            yield index, n, simulate_block(profile, site, seed, index, n)
            bar.advance(task, n)
