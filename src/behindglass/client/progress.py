"""A live view of a study's per-site progress while the researcher waits.

Drawn with rich on stderr, and only on a terminal: in a notebook log, a pipe or CI it
stays silent, so output meant for files is never mixed with progress bars.
"""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from behindglass.core.messages import StudyStatus

STATE_STYLE = {"pending": "yellow", "running": "cyan", "released": "green",
               "refused": "magenta", "failed": "red"}
STATE_TEXT = {"pending": "waiting for the site", "running": "running at the site",
              "released": "released", "refused": "refused", "failed": "failed"}


class StudyProgress:
    """Context manager; call :meth:`update` with each new :class:`StudyStatus`."""

    def __init__(self, enabled: bool = True, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.enabled = enabled and self.console.is_terminal
        self._live: Live | None = None
        self._started = time.monotonic()
        self._status: StudyStatus | None = None

    def __enter__(self) -> StudyProgress:
        if self.enabled:
            # redrawn from the latest status on every refresh, so the clock keeps ticking
            # while the hub holds a long-poll
            self._live = Live(console=self.console, refresh_per_second=4, transient=False,
                              get_renderable=self._renderable)
            self._live.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._live is not None:
            self._live.__exit__(exc_type, exc, tb)
            self._live = None

    def update(self, status: StudyStatus) -> None:
        self._status = status
        if self._live is not None:
            self._live.refresh()

    def _renderable(self) -> Group | Text:
        return Text("submitting…") if self._status is None else self.render(self._status)

    def render(self, status: StudyStatus) -> Group:
        done = sum(t.state in ("released", "refused", "failed") for t in status.tasks)
        elapsed = time.monotonic() - self._started
        head = Text.assemble((f"{status.title}", "bold"), f"  {status.study_id}  ",
                             (f"{done}/{len(status.tasks)} sites done", "bold"),
                             f"  {elapsed:.0f} s")
        table = Table(box=None, pad_edge=False, show_header=True, header_style="dim")
        table.add_column("site")
        table.add_column("state")
        table.add_column("detail", style="dim")
        for task in status.tasks:
            table.add_row(task.site,
                          Text(STATE_TEXT.get(task.state, task.state),
                               style=STATE_STYLE.get(task.state, "")),
                          task.detail or "")
        return Group(head, table)
