"""One interface to a site's OMOP store, whatever engine holds it.

The engine layer (cohorts, characterization, data quality) talks only to a
:class:`Backend`: it runs SQL written through the backend's :class:`SqlDialect` and fetches
small results. DuckDB is the embedded default; PostgreSQL runs the same queries.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any, Protocol, Self

import pandas as pd

from behindglass.engine.dialect import SqlDialect


class Backend(Protocol):
    """A connection to one CDM store. Implementations raise EngineError on any failure,
    naming the store and the reason."""

    dialect: SqlDialect
    label: str  # how error messages name the store (a file name, or host/db/schema)

    def execute(self, sql: str) -> None:
        """Run a statement that returns nothing (DDL, temp tables)."""
        ...

    def fetchall(self, sql: str) -> list[tuple[Any, ...]]:
        """Run a query and return its rows."""
        ...

    def fetch_frame(self, sql: str) -> pd.DataFrame:
        """Run a query and return its rows as a data frame (for large results: fetched in
        the engine's own columnar form where it has one, not row by row)."""
        ...

    def columns(self, sql: str) -> list[str]:
        """Names of the columns ``sql`` returns (without fetching its rows)."""
        ...

    def tables(self) -> set[str]:
        """Lower-case names of the tables of the CDM schema."""
        ...

    def close(self) -> None:
        ...


class ClosesOnExit:
    """``with`` support for anything with a ``close()``: backends and the site store."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()  # type: ignore[attr-defined]


def temp_table(backend: Backend, name: str, select_sql: str) -> str:
    """(Re)create temporary table ``name`` from ``select_sql``; returns the name."""
    backend.execute(backend.dialect.drop_table(name))
    backend.execute(backend.dialect.create_temp_table(name, select_sql))
    return name


def int_list(values: Sequence[int]) -> str:
    """A SQL list of integers; refuses anything that is not an int (no injection path)."""
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"not an integer: {v!r}")
        out.append(str(v))
    return ", ".join(out) if out else "NULL"
