"""Study specifications: named cohorts plus analysis requests with parameters.

A study is data. Each analysis request names an analysis from the sites' installed
catalog (``kind``) and gives it parameters; sites never run researcher code.

A study may also require that sites pass their data-quality checks
(:class:`DataQualityRequirement`): a site below the required share of passed checks
refuses every analysis of the study.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from behindglass.core.cohort import Cohort, _first_error
from behindglass.core.errors import SpecError

STUDY_FORMAT = "behindglass.study/1"


class AnalysisSpec(BaseModel):
    """One analysis request: which catalog analysis, on which cohort, with which parameters."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str = Field(min_length=1, description="catalog name, e.g. 'characterize'")
    name: str = Field(min_length=1, description="label of this request within the study")
    cohort: str = Field(min_length=1, description="key into the study's cohorts (the target)")
    comparator: str | None = Field(
        default=None, min_length=1, description="a second cohort compared with the target")
    outcomes: tuple[str, ...] = Field(
        default=(), description="outcome cohorts (incidence of each in the target)")
    params: dict[str, Any] = Field(default_factory=dict)

    @property
    def cohort_names(self) -> tuple[str, ...]:
        """Every cohort this request uses: target, comparator, outcomes."""
        names = (self.cohort,) + ((self.comparator,) if self.comparator else ())
        return names + self.outcomes


def check_thresholds(value: Any) -> dict[str, float]:
    """Data-quality threshold overrides: check-id prefix -> percent of violating rows
    tolerated (0..100). The same rules as the engine's ``Thresholds``, checked here so the
    hub rejects a bad study before any site sees it. Raises ValueError."""
    if not isinstance(value, dict):
        raise ValueError(f"thresholds must be an object of check-id prefix -> percent, "
                         f"got {type(value).__name__}")
    clean: dict[str, float] = {}
    for key, pct in value.items():
        if not isinstance(key, str) or not key or key.startswith(".") or key.endswith("."):
            raise ValueError(f"thresholds: invalid check-id prefix {key!r}")
        # bool is an int in Python; a threshold of True is a mistake, not 1%
        if isinstance(pct, bool) or not isinstance(pct, int | float):
            raise ValueError(f"thresholds: {key} must be a number of percent, not {pct!r}")
        if not 0 <= pct <= 100:
            raise ValueError(f"thresholds: {key} = {pct} is not a percentage in 0..100")
        clean[key] = float(pct)
    return clean


class DataQualityRequirement(BaseModel):
    """Sites must pass their data-quality checks before running the study's analyses.

    ``min_pct_passed`` is DataQualityDashboard's percent passed: passed / (passed + failed)
    checks, with ``thresholds`` overriding failure thresholds by check-id prefix."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_pct_passed: float = Field(description="smallest percent of checks passed, 0..100")
    thresholds: dict[str, float] = Field(default_factory=dict)

    @field_validator("min_pct_passed", mode="before")
    @classmethod
    def _percent(cls, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"min_pct_passed must be a number of percent, not {value!r}")
        if not 0 <= value <= 100:
            raise ValueError(f"min_pct_passed = {value} is not a percentage in 0..100")
        return float(value)

    @field_validator("thresholds", mode="before")
    @classmethod
    def _thresholds(cls, value: Any) -> dict[str, float]:
        return check_thresholds(value)


class StudySpec(BaseModel):
    """A whole study, as the researcher submits it and every site receives it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: str = STUDY_FORMAT
    title: str = Field(min_length=1, max_length=300)
    description: str = ""
    cohorts: dict[str, Cohort] = Field(min_length=1)
    analyses: tuple[AnalysisSpec, ...] = Field(min_length=1)
    sites: tuple[str, ...] | None = Field(
        default=None, description="site names to run at; None means every registered site"
    )
    data_quality: DataQualityRequirement | None = Field(
        default=None, description="sites below this data quality refuse every analysis")
    seal_results: bool = Field(
        default=False, description="sites encrypt their releases to the researcher, so the "
                                   "hub relays only ciphertext and the researcher's SDK "
                                   "combines (docs/identity.md); not for iterative analyses")

    @model_validator(mode="after")
    def _references(self) -> StudySpec:
        if self.format != STUDY_FORMAT:
            raise ValueError(f"format must be {STUDY_FORMAT!r}, got {self.format!r}")
        names = [a.name for a in self.analyses]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"analysis names must be unique within a study; repeated: {dupes}")
        for i, a in enumerate(self.analyses):
            for ref in a.cohort_names:
                if ref not in self.cohorts:
                    raise ValueError(
                        f"analyses[{i}] ({a.name}) refers to cohort {ref!r}, which is not "
                        f"defined; defined cohorts: {sorted(self.cohorts)}"
                    )
        return self

    def to_dict(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", exclude_none=True)
        for analysis in data["analyses"]:
            if not analysis["outcomes"]:
                del analysis["outcomes"]  # studies without outcomes keep their digest
        if not data["seal_results"]:
            del data["seal_results"]  # so do studies that do not seal
        data["cohorts"] = {k: c.to_dict() for k, c in self.cohorts.items()}
        return data

    @classmethod
    def from_dict(cls, data: Any, where: str = "study") -> StudySpec:
        if not isinstance(data, dict):
            raise SpecError(f"{where}: a study must be a JSON object, got {type(data).__name__}")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise SpecError(f"{where}: {_first_error(exc)}") from None

    @classmethod
    def from_file(cls, path: str | Path) -> StudySpec:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SpecError(f"{path}: no such file") from None
        except json.JSONDecodeError as exc:
            raise SpecError(f"{path}: line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
        return cls.from_dict(data, where=str(path))
