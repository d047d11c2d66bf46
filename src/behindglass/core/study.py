"""Study specifications: named cohorts plus analysis requests with parameters.

A study is data. Each analysis request names an analysis from the sites' installed
catalog (``kind``) and gives it parameters; sites never run researcher code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from behindglass.core.cohort import Cohort, _first_error
from behindglass.core.errors import SpecError

STUDY_FORMAT = "behindglass.study/1"


class AnalysisSpec(BaseModel):
    """One analysis request: which catalog analysis, on which cohort, with which parameters."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str = Field(min_length=1, description="catalog name, e.g. 'characterize'")
    name: str = Field(min_length=1, description="label of this request within the study")
    cohort: str = Field(min_length=1, description="key into the study's cohorts")
    params: dict[str, Any] = Field(default_factory=dict)


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

    @model_validator(mode="after")
    def _references(self) -> StudySpec:
        if self.format != STUDY_FORMAT:
            raise ValueError(f"format must be {STUDY_FORMAT!r}, got {self.format!r}")
        names = [a.name for a in self.analyses]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"analysis names must be unique within a study; repeated: {dupes}")
        for i, a in enumerate(self.analyses):
            if a.cohort not in self.cohorts:
                raise ValueError(
                    f"analyses[{i}] ({a.name}) refers to cohort {a.cohort!r}, which is not "
                    f"defined; defined cohorts: {sorted(self.cohorts)}"
                )
        return self

    def to_dict(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", exclude_none=True)
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
