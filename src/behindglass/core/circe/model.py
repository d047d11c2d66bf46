"""A Circe cohort expression as frozen dataclasses.

Field names follow Circe's JSON keys in snake case; the parser (:mod:`.parse`) fills them
and checks every value, so the engine can trust what it compiles.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal, Union

LimitType = Literal["First", "All", "Last"]
GroupType = Literal["ALL", "ANY", "AT_LEAST", "AT_MOST"]
Op = Literal["lt", "lte", "eq", "!eq", "gt", "gte", "bt", "!bt"]
TextOp = Literal["eq", "!eq", "startsWith", "endsWith", "contains", "!contains"]


@dataclass(frozen=True)
class ConceptSetItem:
    concept_id: int
    is_excluded: bool = False
    include_descendants: bool = False
    include_mapped: bool = False


@dataclass(frozen=True)
class ConceptSet:
    id: int
    name: str
    items: tuple[ConceptSetItem, ...]


@dataclass(frozen=True)
class NumericRange:
    op: Op
    value: float
    extent: float | None = None


@dataclass(frozen=True)
class DateRange:
    op: Op
    value: dt.date
    extent: dt.date | None = None


@dataclass(frozen=True)
class TextFilter:
    op: TextOp
    text: str


@dataclass(frozen=True)
class CodesetIn:
    codeset_id: int
    is_exclusion: bool = False


@dataclass(frozen=True)
class DateAdjustment:
    start_with: Literal["START_DATE", "END_DATE"]
    start_offset: int
    end_with: Literal["START_DATE", "END_DATE"]
    end_offset: int


@dataclass(frozen=True)
class Period:
    start: dt.date | None
    end: dt.date | None


AttrValue = Union[
    bool, int, NumericRange, DateRange, TextFilter, CodesetIn, DateAdjustment, Period,
    tuple[int, ...], "CriteriaGroup",
]


@dataclass(frozen=True)
class Criterion:
    """Events of one domain (``ConditionOccurrence``, ``DrugEra``, ...) with filters.

    ``attrs`` holds every non-null attribute of the JSON object, keyed by Circe's name;
    concept lists are stored as tuples of concept ids.
    """

    domain: str
    attrs: tuple[tuple[str, AttrValue], ...] = ()

    def get(self, name: str) -> AttrValue | None:
        for key, value in self.attrs:
            if key == name:
                return value
        return None


@dataclass(frozen=True)
class WindowBound:
    days: int | None  # None: unbounded (to the edge of the observation period)
    coeff: int  # -1 before, +1 after


@dataclass(frozen=True)
class Window:
    start: WindowBound
    end: WindowBound
    use_index_end: bool = False
    use_event_end: bool = False


@dataclass(frozen=True)
class Occurrence:
    type: Literal[0, 1, 2]  # exactly, at most, at least
    count: int
    is_distinct: bool = False
    count_column: str | None = None


@dataclass(frozen=True)
class CorrelatedCriterion:
    criterion: Criterion
    start_window: Window | None = None
    end_window: Window | None = None
    restrict_visit: bool = False
    ignore_observation_period: bool = False
    occurrence: Occurrence = Occurrence(type=2, count=1)


@dataclass(frozen=True)
class DemographicCriterion:
    age: NumericRange | None = None
    gender: tuple[int, ...] = ()
    gender_cs: CodesetIn | None = None
    race: tuple[int, ...] = ()
    race_cs: CodesetIn | None = None
    ethnicity: tuple[int, ...] = ()
    ethnicity_cs: CodesetIn | None = None
    occurrence_start_date: DateRange | None = None
    occurrence_end_date: DateRange | None = None


@dataclass(frozen=True)
class CriteriaGroup:
    type: GroupType = "ALL"
    count: int | None = None
    criteria: tuple[CorrelatedCriterion, ...] = ()
    demographics: tuple[DemographicCriterion, ...] = ()
    groups: tuple[CriteriaGroup, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not (self.criteria or self.demographics or self.groups)


@dataclass(frozen=True)
class InclusionRule:
    name: str
    description: str | None
    expression: CriteriaGroup


@dataclass(frozen=True)
class DateOffsetEnd:
    date_field: Literal["StartDate", "EndDate"]
    offset: int


@dataclass(frozen=True)
class CustomEraEnd:
    drug_codeset_id: int
    gap_days: int = 0
    offset: int = 0
    days_supply_override: int | None = None


@dataclass(frozen=True)
class CohortExpression:
    concept_sets: tuple[ConceptSet, ...]
    primary_criteria: tuple[Criterion, ...]
    prior_days: int = 0
    post_days: int = 0
    primary_limit: LimitType = "First"
    additional_criteria: CriteriaGroup | None = None
    qualified_limit: LimitType = "First"
    expression_limit: LimitType = "First"
    inclusion_rules: tuple[InclusionRule, ...] = ()
    end_strategy: DateOffsetEnd | CustomEraEnd | None = None
    censoring_criteria: tuple[Criterion, ...] = ()
    censor_window: Period = Period(None, None)
    era_pad: int = 0
    title: str | None = None

    def concept_set(self, codeset_id: int) -> ConceptSet:
        for cs in self.concept_sets:
            if cs.id == codeset_id:
                return cs
        raise KeyError(codeset_id)
