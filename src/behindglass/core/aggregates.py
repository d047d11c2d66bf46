"""Aggregate types: the only shapes of data that may leave a site.

Everything a site releases is a :class:`SiteAggregate` made of :class:`CountTable` s.
A cell's count is either a number that passed the site's disclosure rules or ``None``
with ``suppressed=True``; there is no third way to carry a value.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Cell(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    key: tuple[str, ...]
    count: int | None = Field(default=None, ge=0)
    suppressed: bool = False

    @model_validator(mode="after")
    def _one_of(self) -> Cell:
        if self.suppressed == (self.count is not None):
            raise ValueError("a cell is either suppressed (count None) or has a count")
        return self


class CountTable(BaseModel):
    """Person counts by zero or more dimensions.

    ``margin`` is the key of the table whose single cell these cells add up to (for example
    the cohort's person count); secondary suppression uses it, so a suppressed cell cannot
    be recovered by subtraction.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    dims: tuple[str, ...] = ()
    cells: tuple[Cell, ...] = ()
    margin: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)

    def value(self, *key: str) -> int | None:
        for cell in self.cells:
            if cell.key == tuple(key):
                return cell.count
        return None


class SiteAggregate(BaseModel):
    """One analysis request's released output from one site."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    analysis: str
    kind: str
    tables: tuple[CountTable, ...] = ()
    notes: tuple[str, ...] = ()

    def table(self, name: str) -> CountTable:
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(f"no table {name!r} in {self.analysis}; tables: "
                       f"{[t.name for t in self.tables]}")

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
