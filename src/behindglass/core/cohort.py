"""Cohort definitions as plain, immutable, validated data.

A cohort is a set of persons, each with an index date: the first qualifying event in a
domain (or the start of observation for :meth:`Cohort.everyone`), filtered by age at index,
sex and required observation before and after index. Researchers build these with the
fluent methods below, or bring an OHDSI Circe definition (:meth:`Cohort.from_circe`); the
model serialises to JSON and that JSON is what travels to a site. No code ever does.

Sites run every cohort through one engine: a builder cohort is the Circe expression of
:meth:`Cohort.to_circe`, so it has Circe's semantics exactly (a concept counts only if the
site's vocabulary has it; descendants come from ``concept_ancestor``; the cohort ends at the
end of the observation period that contains the index).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from behindglass.core.canonical import digest
from behindglass.core.circe import CohortExpression, parse_circe
from behindglass.core.circe.parse import read_json
from behindglass.core.errors import SpecError

Domain = Literal[
    "condition", "drug", "procedure", "measurement", "observation", "visit", "device", "death"
]
Sex = Literal["male", "female"]


SEX_CONCEPTS = {"male": 8507, "female": 8532}
_CIRCE_DOMAIN = {
    "condition": "ConditionOccurrence", "drug": "DrugExposure",
    "procedure": "ProcedureOccurrence", "measurement": "Measurement",
    "observation": "Observation", "visit": "VisitOccurrence", "device": "DeviceExposure",
    "death": "Death",
}


def _range(low: Any, high: Any) -> dict[str, Any]:
    """A Circe numeric or date range from optional inclusive bounds."""
    if low is not None and high is not None:
        return {"Value": low, "Op": "bt", "Extent": high}
    return {"Value": low, "Op": "gte"} if low is not None else {"Value": high, "Op": "lte"}


class ConceptSet(BaseModel):
    """Standard concept ids, optionally with all their descendants (via concept_ancestor)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    concept_ids: tuple[int, ...] = Field(min_length=1)
    descendants: bool = True
    exclude: tuple[int, ...] = ()

    @model_validator(mode="after")
    def _positive(self) -> ConceptSet:
        bad = [c for c in (*self.concept_ids, *self.exclude) if c <= 0]
        if bad:
            raise ValueError(f"concept ids must be positive integers, got {bad}")
        return self


class Cohort(BaseModel):
    """A cohort definition. Build with :meth:`condition`, :meth:`drug`, ... or :meth:`everyone`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    domain: Domain | None = None
    concepts: ConceptSet | None = None
    first_occurrence: bool = True
    age_min: int | None = Field(default=None, ge=0, le=130)
    age_max: int | None = Field(default=None, ge=0, le=130)
    sex: tuple[Sex, ...] | None = None
    prior_observation_days: int = Field(default=0, ge=0)
    post_observation_days: int = Field(default=0, ge=0)
    index_start: dt.date | None = None
    index_end: dt.date | None = None
    circe: dict[str, Any] | None = Field(
        default=None, description="an OHDSI Circe cohort expression, run unchanged at sites")

    @model_validator(mode="after")
    def _consistent(self) -> Cohort:
        if self.circe is not None:
            if self.model_dump(exclude={"circe"}) != Cohort().model_dump(exclude={"circe"}):
                raise ValueError("a Circe cohort carries its whole definition in 'circe'; "
                                 "do not combine it with builder fields")
            try:
                parse_circe(self.circe, where="circe")
            except SpecError as exc:
                raise ValueError(str(exc)) from None
            return self
        if (self.domain is None) != (self.concepts is None):
            raise ValueError("domain and concepts go together: give both or neither")
        if self.domain == "death" and self.concepts is None:
            raise ValueError("a death cohort needs a concept set (use any cause of death id)")
        if self.age_min is not None and self.age_max is not None and self.age_min > self.age_max:
            raise ValueError(f"age_min {self.age_min} is above age_max {self.age_max}")
        if self.index_start and self.index_end and self.index_start > self.index_end:
            raise ValueError(f"index_start {self.index_start} is after index_end {self.index_end}")
        if self.sex is not None and len(self.sex) == 0:
            raise ValueError("sex filter is empty: give at least one of 'male', 'female'")
        return self

    # -- builders -----------------------------------------------------------------------
    @classmethod
    def from_circe(cls, definition: str | Path | dict[str, Any]) -> Cohort:
        """A cohort from an OHDSI Circe definition: a JSON file as ATLAS exports it, or
        the parsed dict. Sites run it with their Circe engine, unchanged."""
        if isinstance(definition, dict):
            data, where = definition, "circe"
        else:
            data, where = read_json(definition), Path(definition).name
        if not isinstance(data, dict):
            raise SpecError(f"{where}: a Circe definition is a JSON object")
        parse_circe(data, where=where)  # errors name the file and the JSON path
        return cls(circe=data)

    @property
    def expression(self) -> CohortExpression:
        """The parsed Circe expression every site runs (a builder cohort's own, too)."""
        return parse_circe(self.circe if self.circe is not None else self.to_circe())

    def to_circe(self) -> dict[str, Any]:
        """This cohort as an OHDSI Circe expression (a Circe cohort: its own definition).

        Entry: the domain's events of the concept set (the first ever, if
        ``first_occurrence``; otherwise the earliest one inside observation), with the
        required observation around it; age, sex and the index date range then filter
        that index event, as Circe's additional criteria do.
        """
        if self.circe is not None:
            return self.circe
        criteria: dict[str, Any] = {"First": True} if self.first_occurrence else {}
        concept_sets: list[dict[str, Any]] = []
        if self.domain is None:
            primary = {"ObservationPeriod": {"First": True}}
        else:
            assert self.concepts is not None
            cs = self.concepts
            items = [{"concept": {"CONCEPT_ID": c}, "includeDescendants": cs.descendants}
                     for c in cs.concept_ids]
            items += [{"concept": {"CONCEPT_ID": c}, "includeDescendants": cs.descendants,
                       "isExcluded": True} for c in cs.exclude]
            concept_sets.append({"id": 0, "name": f"{self.domain} concepts",
                                 "expression": {"items": items}})
            primary = {_CIRCE_DOMAIN[self.domain]: {"CodesetId": 0, **criteria}}
        demographic: dict[str, Any] = {}
        if self.age_min is not None or self.age_max is not None:
            demographic["Age"] = _range(self.age_min, self.age_max)
        if self.sex is not None:
            demographic["Gender"] = [{"CONCEPT_ID": SEX_CONCEPTS[s]} for s in self.sex]
        if self.index_start is not None or self.index_end is not None:
            demographic["OccurrenceStartDate"] = _range(
                self.index_start and self.index_start.isoformat(),
                self.index_end and self.index_end.isoformat())
        expression: dict[str, Any] = {
            "ConceptSets": concept_sets,
            "PrimaryCriteria": {
                "CriteriaList": [primary],
                "ObservationWindow": {"PriorDays": self.prior_observation_days,
                                      "PostDays": self.post_observation_days},
                "PrimaryCriteriaLimit": {"Type": "First"},
            },
            "QualifiedLimit": {"Type": "First"},
            "ExpressionLimit": {"Type": "First"},
            "InclusionRules": [],
            "CollapseSettings": {"CollapseType": "ERA", "EraPad": 0},
        }
        if demographic:
            expression["AdditionalCriteria"] = {
                "Type": "ALL", "CriteriaList": [], "DemographicCriteriaList": [demographic],
                "Groups": []}
        return expression

    @classmethod
    def everyone(cls) -> Cohort:
        """Every person with an observation period; index = start of their first one."""
        return cls()

    @classmethod
    def _entry(cls, domain: Domain, ids: int | tuple[int, ...] | list[int], descendants: bool,
               exclude: tuple[int, ...] | list[int]) -> Cohort:
        concept_ids = (ids,) if isinstance(ids, int) else tuple(ids)
        try:
            cs = ConceptSet(concept_ids=concept_ids, descendants=descendants,
                            exclude=tuple(exclude))
            return cls(domain=domain, concepts=cs)
        except ValidationError as exc:
            raise SpecError(_first_error(exc)) from None

    @classmethod
    def condition(cls, concept_ids: int | list[int], descendants: bool = True,
                  exclude: tuple[int, ...] | list[int] = ()) -> Cohort:
        return cls._entry("condition", concept_ids, descendants, exclude)

    @classmethod
    def drug(cls, concept_ids: int | list[int], descendants: bool = True,
             exclude: tuple[int, ...] | list[int] = ()) -> Cohort:
        return cls._entry("drug", concept_ids, descendants, exclude)

    @classmethod
    def procedure(cls, concept_ids: int | list[int], descendants: bool = True,
                  exclude: tuple[int, ...] | list[int] = ()) -> Cohort:
        return cls._entry("procedure", concept_ids, descendants, exclude)

    @classmethod
    def measurement(cls, concept_ids: int | list[int], descendants: bool = True,
                    exclude: tuple[int, ...] | list[int] = ()) -> Cohort:
        return cls._entry("measurement", concept_ids, descendants, exclude)

    @classmethod
    def visit(cls, concept_ids: int | list[int], descendants: bool = True,
              exclude: tuple[int, ...] | list[int] = ()) -> Cohort:
        return cls._entry("visit", concept_ids, descendants, exclude)

    def _with(self, **changes: Any) -> Cohort:
        try:
            return Cohort.model_validate({**self.model_dump(), **changes})
        except ValidationError as exc:
            raise SpecError(_first_error(exc)) from None

    def age_between(self, low: int | None, high: int | None) -> Cohort:
        """Keep persons whose age at index (in whole years) is within [low, high]."""
        return self._with(age_min=low, age_max=high)

    def sex_in(self, *sexes: Sex) -> Cohort:
        return self._with(sex=tuple(sexes))

    def all_occurrences(self) -> Cohort:
        """Index on any qualifying event, not only the first (earliest qualifying one kept)."""
        return self._with(first_occurrence=False)

    def observed(self, prior_days: int = 0, post_days: int = 0) -> Cohort:
        """Require continuous observation before and after index."""
        return self._with(prior_observation_days=prior_days, post_observation_days=post_days)

    def index_between(self, start: dt.date | str | None, end: dt.date | str | None) -> Cohort:
        return self._with(index_start=start, index_end=end)

    # -- serialisation --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_defaults=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "cohort") -> Cohort:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise SpecError(f"{where}: {_first_error(exc)}") from None

    @property
    def fingerprint(self) -> str:
        """Stable hash of the definition (used to cache materialised cohorts at a site)."""
        return digest(self.to_dict())[:16]


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err.get("loc", ()))
    msg = err.get("msg", "invalid value").removeprefix("Value error, ")
    return f"{loc}: {msg}" if loc else msg
