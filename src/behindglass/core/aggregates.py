"""Aggregate types: the only shapes of data that may leave a site.

Everything a site releases is a :class:`SiteAggregate` made of :class:`CountTable` s.
A cell's count is either a number that passed the site's disclosure rules or ``None``
with ``suppressed=True``; there is no third way to carry a value.

A table counts persons unless it says otherwise (``unit``). Person counts are subject to
minimum-cell suppression; a table of another unit (data-quality checks) is not, so only the
analysis kinds listed in :data:`NON_PERSON_KINDS` may release one: anything else calling
person counts "checks" is refused at the site.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Literal

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


Unit = Literal["persons", "checks"]

# unit -> the analysis kinds allowed to release tables of that unit. Kept short on purpose:
# each entry is a kind whose site half is trusted to count things that are not persons.
NON_PERSON_KINDS: Mapping[str, frozenset[str]] = MappingProxyType({
    "checks": frozenset({"data_quality"}),
})


MEMBER_AXIS = "member_of:"  # + a cohort's fingerprint: the axis of membership (yes / no)


class TableScope(BaseModel):
    """Which persons a table counts and what it classifies them by, in words shared by every
    analysis, so the site can tie the tables of *different* analyses of one release together
    (a characterization by sex and a contingency table by sex x outcome of the same cohort)
    and suppress across them. It is the site's own note: it is never serialised, so it never
    leaves the site (``CountTable.scope`` is excluded from every dump).

    ``cohort`` is the definition fingerprint of the cohort whose persons (each once, at
    first entry) are counted; the site may replace it by a fingerprint of the members, so
    two definitions with the same persons are tied too. ``subset`` narrows them ("" : all
    of them; otherwise a stable description, for example persons with a value of one
    variable). ``axes`` names what each of the table's dimensions classifies by: two tables
    share an axis name only if their keys on it mean the same. A scoped table lists every
    non-zero cell (an unlisted key is an exact zero), so its cells add up to its persons.

    ``coarser`` (one-dimension tables only): other axes the table also classifies by, each
    with the map from its keys to that axis's keys (many to one), for a table finer than
    another analysis's (covariates' five-year age groups under characterization's ten-year
    bands; its concept ids of sex under ``male``/``female``/``unknown``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    cohort: str
    subset: str = ""
    axes: tuple[str, ...] = ()
    coarser: dict[str, dict[str, str]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_dimension(self) -> TableScope:
        if self.coarser and len(self.axes) != 1:
            raise ValueError("only a one-dimension table may name coarser axes")
        return self


class CountTable(BaseModel):
    """Counts (of persons, unless ``unit`` says otherwise) by zero or more dimensions.

    ``margin`` is the key of the table whose single cell these cells add up to (for example
    the cohort's person count); secondary suppression uses it, so a suppressed cell cannot
    be recovered by subtraction. ``scope`` (site-only, never serialised) says which persons
    it counts by what, for suppression across the analyses of one release.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    dims: tuple[str, ...] = ()
    cells: tuple[Cell, ...] = ()
    margin: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    unit: Unit = "persons"
    scope: TableScope | None = Field(default=None, exclude=True, repr=False)

    @model_validator(mode="after")
    def _scope_fits(self) -> CountTable:
        if self.scope is not None and len(self.scope.axes) != len(self.dims):
            raise ValueError(f"{self.name}: scope names {len(self.scope.axes)} axes for "
                             f"{len(self.dims)} dimensions")
        return self

    def value(self, *key: str) -> int | None:
        for cell in self.cells:
            if cell.key == tuple(key):
                return cell.count
        return None


# analysis kinds whose site half releases model statistics (sums of squares and cross
# products, score vectors, risk-set sums): each applies its own disclosure rules (minimum
# events, covariate patterns, parameters per observation) before releasing any
STATS_KINDS: frozenset[str] = frozenset({"glm", "cox", "kaplan_meier", "cohort_method",
                                       "descriptive"})


def _all_finite(values: tuple[float, ...]) -> bool:
    # fsum runs in C and is inf or nan exactly when a value is; only a sum of finite
    # values too large for a double needs the slow look at each value
    try:
        return math.isfinite(math.fsum(values))
    except OverflowError:
        return all(math.isfinite(v) for v in values)


class StatsBlock(BaseModel):
    """A named array of model statistics, row-major: ``values`` has ``prod(shape)`` numbers.

    Floats travel as JSON numbers, which Python writes with ``repr`` and reads back to the
    same double, so pooling at the hub is exact to the last bit of each site's sums.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    shape: tuple[int, ...] = ()
    values: tuple[float, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> StatsBlock:
        size = 1
        for n in self.shape:
            if n < 0:
                raise ValueError(f"{self.name}: negative dimension in shape {self.shape}")
            size *= n
        if size != len(self.values):
            raise ValueError(f"{self.name}: shape {self.shape} needs {size} values, "
                             f"got {len(self.values)}")
        if not _all_finite(self.values):
            raise ValueError(f"{self.name}: values must be finite numbers")
        return self


def person_level(table: CountTable, kind: str) -> bool:
    """Whether person disclosure rules apply to ``table`` released by an analysis of
    ``kind``: always for person tables, and for any other unit the kind may not release
    (so a mislabelled table is still suppressed as persons before it is refused)."""
    return table.unit == "persons" or kind not in NON_PERSON_KINDS.get(table.unit, frozenset())


class PrivacyNote(BaseModel):
    """How differential privacy changed a release (``privacy.dp``): the mechanism, the
    epsilon (and delta) the release spent, and the noise scale of each noisy table or
    statistic (Laplace ``b``: variance ``2 b**2``; Gaussian: the standard deviation)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mechanism: Literal["laplace", "gaussian"]
    epsilon: float = Field(ge=0)
    delta: float = Field(default=0.0, ge=0, lt=1)
    scales: dict[str, float] = Field(default_factory=dict)
    note: str = ""


class SiteAggregate(BaseModel):
    """One analysis request's released output from one site."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    analysis: str
    kind: str
    tables: tuple[CountTable, ...] = ()
    stats: tuple[StatsBlock, ...] = ()
    notes: tuple[str, ...] = ()
    privacy: PrivacyNote | None = None  # set when the site released it under DP
    # site-only, never serialised: for each variable whose values the statistics sum, the
    # bounds the request set on those values (a descriptive request's bin edges), which
    # differential privacy clamps to
    bounds: dict[str, tuple[float, ...]] = Field(default_factory=dict, exclude=True,
                                                 repr=False)

    def block(self, name: str) -> StatsBlock:
        for b in self.stats:
            if b.name == name:
                return b
        raise KeyError(f"no statistics {name!r} in {self.analysis}; blocks: "
                       f"{[b.name for b in self.stats]}")

    def table(self, name: str) -> CountTable:
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(f"no table {name!r} in {self.analysis}; tables: "
                       f"{[t.name for t in self.tables]}")

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
