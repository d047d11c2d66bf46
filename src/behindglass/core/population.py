"""The settings of a comparative study's per-person analysis data set ("study population").

A site builds the frame from a target cohort, an optional comparator cohort and an outcome
cohort, the way OHDSI CohortMethod's ``getDbCohortMethodData`` + ``createStudyPopulation``
do (with ``firstExposureOnly = TRUE``, ``restrictToCommonPeriod = FALSE``,
``maxDaysAtRisk = 99999``, ``censorAtNewRiskWindow = FALSE``). The frame never leaves the
site; analyses (regressions, survival) release aggregates of it. The rules, in the order
they are applied:

1. **Entry.** Each person's first entry of each cohort (earliest ``cohort_start_date``,
   then earliest end date) is their index in that cohort; its ``cohort_end_date`` is the
   "cohort end" anchor. Persons missing from ``person`` are dropped (demographics need the
   row), and so is an entry whose start lies in no observation period (CohortMethod joins
   ``observation_period`` on ``cohort_start_date BETWEEN start AND end``). The observation
   period containing the index is *the* period of the entry below.
2. **Duplicate subjects** (persons in both target and comparator; ``removeDuplicateSubjects``):
   ``keep_all`` keeps both rows (such a person has one row per cohort); ``remove_all``
   drops the person from both; ``keep_first`` keeps only the cohort the person entered
   first, and drops the person altogether when both start on the same day. This happens
   before the washout (as in CohortMethod), so a person whose first cohort fails the
   washout does not fall back to the other one.
3. **Washout** (``washoutPeriod``): keep entries with at least ``washout_days`` days from
   the start of the observation period to the index (``index - op_start >= washout_days``).
4. **Prior outcome** (``removeSubjectsWithPriorOutcome``, ``priorOutcomeLookback``): when
   ``remove_prior_outcome``, drop entries with an outcome cohort entry starting ``d`` days
   after the index (negative: before) where ``-prior_outcome_lookback < d < risk start``
   (both bounds exclusive, exactly CohortMethod's test ``daysToEvent > -lookback &
   daysToEvent < riskStart``; risk start is ``risk_window_start``, plus the days to the
   cohort end when ``start_anchor`` is ``"cohort end"``). So the window is
   ``[index - lookback + 1, index + risk start - 1]``, restricted (as CohortMethod's outcome
   fetch is) to the observation period containing the index.
5. **Risk window** (``riskWindowStart``/``startAnchor``, ``riskWindowEnd``/``endAnchor``):
   ``start = anchor + risk_window_start``, ``end = anchor + risk_window_end``, anchors the
   index (``"cohort start"``) or the entry's end date (``"cohort end"``); the end is cut to
   the end of the observation period containing the index (the start is not moved).
6. **Minimum days at risk** (``minDaysAtRisk``): when ``min_days_at_risk`` is not 0, keep
   entries with ``end - start >= min_days_at_risk``. This is CohortMethod's test verbatim:
   note that it compares the *difference* of the two days, so with the default 1 a one-day
   window (``time_at_risk == 1``) is removed. With 0 nothing is removed, as in
   CohortMethod (a window ending before it starts then stays, with ``time_at_risk <= 0``).
7. **Outcomes**: outcome cohort entries (every entry, not only the first) whose start day
   lies in ``[start, end]`` and in the observation period containing the index; entries
   of one person starting on the same day count once (CohortMethod fetches distinct
   ``daysToEvent``). ``outcome_count`` is their number, ``event`` is 1 when there is any.
8. ``time_at_risk = end - start + 1`` days; ``survival_time`` is ``first outcome day -
   start + 1`` for persons with an event, else ``time_at_risk``.

Demographics at index (``demographics``): ``age`` = year of index - year of birth (the
OHDSI convention), ``male`` = 1 when ``gender_concept_id`` is 8507, ``index_year``.

Covariates (:class:`CovariateSpec`): 1 when the person has a record of the domain's table
whose concept is one of ``concept_ids`` (or, with ``descendants``, one of their
descendants in ``concept_ancestor``) dated ``d`` days from the index with
``window[0] <= d <= window[1]`` (``window[0] = None``: any time before), else 0. Records
count wherever they are, in or out of observation, as in FeatureExtraction.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    model_validator,
)

from behindglass.core.errors import SpecError

CovariateDomain = Literal["condition", "drug", "procedure", "measurement", "observation"]
Anchor = Literal["cohort start", "cohort end"]
DuplicateRule = Literal["keep_all", "keep_first", "remove_all"]

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
# the columns every frame has, in order (demographic ones when ``demographics``)
OUTCOME_COLUMNS = ("treatment", "time_at_risk", "outcome_count", "event", "survival_time")
DEMOGRAPHIC_COLUMNS = ("age", "male", "index_year")

NonNegative = Annotated[StrictInt, Field(ge=0)]


class CovariateSpec(BaseModel):
    """One binary covariate: any record of a concept set in a window around the index."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    domain: CovariateDomain
    concept_ids: tuple[StrictInt, ...] = Field(min_length=1)
    descendants: StrictBool = True
    window: tuple[StrictInt | None, StrictInt] = (None, 0)

    @model_validator(mode="after")
    def _check(self) -> CovariateSpec:
        if not re.match(NAME_PATTERN, self.name):
            raise ValueError(
                f"covariate name {self.name!r} must be a lower-case identifier: a letter, "
                "then up to 39 letters, digits or underscores")
        if self.name in OUTCOME_COLUMNS + DEMOGRAPHIC_COLUMNS:
            raise ValueError(f"covariate name {self.name!r} is a column of the frame already")
        bad = [c for c in self.concept_ids if c <= 0]
        if bad:
            raise ValueError(f"covariate {self.name!r}: concept ids must be positive "
                             f"integers, got {bad}")
        start, end = self.window
        if start is not None and start > end:
            raise ValueError(f"covariate {self.name!r}: window ({start}, {end}) starts "
                             "after it ends")
        return self


class PopulationSettings(BaseModel):
    """How the study population is built; see the module docstring for each rule."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    washout_days: NonNegative = 0
    remove_duplicate_subjects: DuplicateRule = "keep_all"
    remove_prior_outcome: StrictBool = True
    prior_outcome_lookback: NonNegative = 99999
    risk_window_start: StrictInt = 0
    start_anchor: Anchor = "cohort start"
    risk_window_end: StrictInt = 0
    end_anchor: Anchor = "cohort end"
    min_days_at_risk: NonNegative = 1
    covariates: tuple[CovariateSpec, ...] = ()
    demographics: StrictBool = True

    @model_validator(mode="after")
    def _unique_names(self) -> PopulationSettings:
        names = [c.name for c in self.covariates]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"covariate names repeat: {repeated}")
        return self

    @property
    def columns(self) -> tuple[str, ...]:
        """The frame's columns, in order."""
        demo = DEMOGRAPHIC_COLUMNS if self.demographics else ()
        return OUTCOME_COLUMNS + demo + tuple(c.name for c in self.covariates)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "population settings"
                  ) -> PopulationSettings:
        """Settings from JSON-like data; errors are :class:`SpecError` naming the field."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise SpecError(f"{where}: {first_error(exc)}") from None


def first_error(exc: ValidationError) -> str:
    """The first problem of a validation error, as ``field.path: message``."""
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err.get("loc", ()))
    msg = err.get("msg", "invalid value").removeprefix("Value error, ")
    return f"{loc}: {msg}" if loc else msg
