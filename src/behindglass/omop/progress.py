"""A rich progress display for long loads: the whole load weighted by bytes, plus the
table being read, which advances with DuckDB's own query progress (polled from a thread,
since the loading thread is inside DuckDB)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

_POLL_SECONDS = 0.1


class LoadProgress:
    """Shows progress when ``enabled``; otherwise every method does nothing."""

    def __init__(self, enabled: bool, *, console: Console | None = None) -> None:
        self.enabled = enabled
        self._progress: Progress | None = None
        self._overall: int | None = None
        self._console = console or Console(stderr=True)

    def __enter__(self) -> LoadProgress:
        if self.enabled:
            self._progress = Progress(
                TextColumn("[bold]{task.description:<24}"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[note]}"),
                TimeElapsedColumn(),
                console=self._console,
                transient=False,
            )
            self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)  # type: ignore[arg-type]
            self._progress = None

    def start(self, total_bytes: int, tables: int) -> None:
        """Announce the whole load."""
        if self._progress is not None:
            self._overall = self._progress.add_task(
                "all tables", total=max(total_bytes, 1), note=f"{tables} files"
            )

    @contextmanager
    def table(
        self, con: duckdb.DuckDBPyConnection, name: str, size: int
    ) -> Iterator[dict[str, int]]:
        """Track one table; the caller may put ``rows`` in the yielded dict for the display."""
        result: dict[str, int] = {}
        if self._progress is None:
            yield result
            return
        task = self._progress.add_task(name, total=100, note="")
        stop = threading.Event()
        poller = threading.Thread(target=self._poll, args=(con, task, stop), daemon=True)
        poller.start()
        try:
            yield result
        finally:
            stop.set()
            poller.join()
            note = f"{result['rows']:,} rows" if "rows" in result else ""
            self._progress.update(task, completed=100, note=note)
            if self._overall is not None:
                self._progress.advance(self._overall, size)

    def _poll(self, con: duckdb.DuckDBPyConnection, task: int, stop: threading.Event) -> None:
        assert self._progress is not None
        while not stop.wait(_POLL_SECONDS):
            try:
                pct = con.query_progress()
            except duckdb.Error:
                return
            if pct >= 0:
                self._progress.update(task, completed=min(pct, 99.0))


def configure_connection(con: duckdb.DuckDBPyConnection, enabled: bool) -> None:
    """Let DuckDB track query progress for our bar without drawing its own."""
    con.execute("SET enable_progress_bar_print = false")
    con.execute(f"SET enable_progress_bar = {'true' if enabled else 'false'}")
