"""Opening the site's store: once per task, and only when an analysis needs it.

A later round of a model fit answers from what the analysis kept between rounds, so the
agent does not open (and close) the store for it; a task that needs the store opens it per
task, so the site can refresh its store between tasks and a dropped database connection
costs one task, not the agent.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from behindglass.core.sitedata import SiteData

DataOpener = Callable[[], AbstractContextManager[SiteData]]


class OnDemand:
    """The site's store, opened on first use: a later round of a fit answers from what the
    analysis kept, so it need not open (and close) the store at all."""

    def __init__(self, opener: DataOpener) -> None:
        self._opener = opener
        self._context: AbstractContextManager[SiteData] | None = None
        self._data: SiteData | None = None

    def open(self) -> SiteData:
        if self._data is None:
            context = self._opener()
            self._data = context.__enter__()
            self._context = context
        return self._data

    def __getattr__(self, name: str) -> Any:
        return getattr(self.open(), name)

    def close(self) -> None:
        if self._context is not None:
            self._context.__exit__(None, None, None)
            self._context = self._data = None


def store_opener(target: str | Path, threads: int | None = None) -> DataOpener:
    """Opens the site's store per task: a DuckDB file (read-only) or a PostgreSQL URL.

    The store is opened once here so a wrong path, URL, password or schema stops the agent
    at start-up with the reason, instead of refusing every task later.
    """
    from behindglass.engine.site_store import SiteStore

    SiteStore.open(target).close()

    def open_store() -> AbstractContextManager[SiteData]:
        # per task, so the site can refresh its store between tasks (and a dropped
        # database connection costs one task, not the agent)
        return SiteStore.open(target, threads=threads)

    return open_store
