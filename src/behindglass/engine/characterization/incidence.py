"""Incidence of outcome cohorts in target cohorts, as per-site counts and person-time.

The design follows OHDSI CohortIncidence:

* **time at risk** (TAR) of each target cohort entry runs from ``anchor + start_offset`` to
  ``anchor + end_offset``, each anchor being the entry's ``cohort_start_date`` or
  ``cohort_end_date``; it is cut to the observation period that contains the entry's start
  (an entry outside observation has no TAR) and dropped when it ends before it starts.
  Both ends are inclusive, so a TAR from day 0 to day 0 is one day.
* overlapping TARs of the same person in the same target cohort are merged into one span;
  the span keeps the start date of its first entry (for age and calendar-year strata).
* **outcome washout** (optional, ``washout_days``): a span is not at risk when the person
  had the outcome in the ``washout_days`` days before the TAR starts (``None``: no
  washout; a large number such as 99999 means "never before").
* the **first outcome** (an outcome cohort entry's start date) in the TAR counts; the
  person-time of the span is censored at that day (the day of the outcome counts).

Per target x outcome x TAR and stratum (overall, sex, age group at cohort start, calendar
year of cohort start) this returns: persons at risk (distinct persons), persons with the
outcome, outcomes (spans with an outcome) and person-days at risk.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from behindglass.core.errors import SpecError
from behindglass.engine.backend import Backend, int_list
from behindglass.engine.characterization.members import (
    SEX_NAMES,
    age_band_label,
    age_band_sql,
    check_cohort_id,
    check_table_name,
)

Anchor = Literal["start", "end"]
_ANCHOR_COLUMN = {"start": "t.cohort_start_date", "end": "t.cohort_end_date"}
STRATA = ("all", "sex", "age_group", "start_year")


@dataclasses.dataclass(frozen=True)
class TimeAtRisk:
    start_offset: int = 0
    start_anchor: Anchor = "start"
    end_offset: int = 0
    end_anchor: Anchor = "end"

    def __post_init__(self) -> None:
        for name in ("start_offset", "end_offset"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int):
                raise SpecError(f"time at risk {name} must be an integer, got {v!r}")
        for name in ("start_anchor", "end_anchor"):
            if getattr(self, name) not in _ANCHOR_COLUMN:
                raise SpecError(f"time at risk {name} must be 'start' or 'end', "
                                f"got {getattr(self, name)!r}")

    @property
    def label(self) -> str:
        return (f"{self.start_anchor}{self.start_offset:+d}..{self.end_anchor}"
                f"{self.end_offset:+d}")


@dataclasses.dataclass(frozen=True)
class IncidenceRow:
    target_id: int
    outcome_id: int
    tar: str  # TimeAtRisk.label
    stratum: str  # one of STRATA
    value: str  # "all", "male", "40-49", "2012", ...
    persons_at_risk: int
    persons_with_outcome: int
    outcomes: int
    person_days: int


def _tar_sql(backend: Backend, target_table: str, target_ids: list[int], tar: TimeAtRisk,
             age_width: int) -> str:
    d = backend.dialect
    start = d.date_add(_ANCHOR_COLUMN[tar.start_anchor], tar.start_offset)
    end = d.date_add(_ANCHOR_COLUMN[tar.end_anchor], tar.end_offset)
    order = "ORDER BY tar_start, tar_end"
    window_prev = (f"OVER (PARTITION BY target_id, person_id {order} "
                   "ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)")
    return f"""
WITH tar AS (
  SELECT t.cohort_definition_id AS target_id, t.subject_id AS person_id,
         t.cohort_start_date AS start_date,
         {d.greatest(start, 'op.observation_period_start_date')} AS tar_start,
         {d.least(end, 'op.observation_period_end_date')} AS tar_end
  FROM {target_table} t
  JOIN observation_period op ON op.person_id = t.subject_id
   AND t.cohort_start_date BETWEEN op.observation_period_start_date
                               AND op.observation_period_end_date
  WHERE t.cohort_definition_id IN ({int_list(target_ids)})
), valid AS (
  SELECT * FROM tar WHERE tar_start <= tar_end
), flagged AS (
  SELECT v.*, CASE WHEN MAX(tar_end) {window_prev} >= tar_start THEN 0 ELSE 1 END AS is_new
  FROM valid v
), grouped AS (
  SELECT f.*, SUM(is_new) OVER (PARTITION BY target_id, person_id {order}
                                ROWS UNBOUNDED PRECEDING) AS span_no
  FROM flagged f
), spans AS (
  SELECT g.target_id, g.person_id, MIN(g.start_date) AS start_date,
         MIN(g.tar_start) AS tar_start, MAX(g.tar_end) AS tar_end
  FROM grouped g GROUP BY g.target_id, g.person_id, g.span_no
)
SELECT s.target_id, s.person_id, s.start_date, s.tar_start, s.tar_end,
       COALESCE(p.gender_concept_id, 0) AS sex,
       {age_band_sql(f"({d.year('s.start_date')} - p.year_of_birth)", age_width)} AS age_band,
       {d.year('s.start_date')} AS start_year
FROM spans s JOIN person p ON p.person_id = s.person_id
"""


def _risk_sql(backend: Backend, spans: str, outcome_table: str, outcome_ids: list[int],
              washout_days: int | None) -> str:
    d = backend.dialect
    ids = " UNION ALL ".join(f"SELECT {i} AS outcome_id" for i in outcome_ids)
    in_tar = "oc.cohort_start_date BETWEEN s.tar_start AND s.tar_end"
    if washout_days is None:
        prior = "0"
    else:
        prior = (f"MAX(CASE WHEN oc.cohort_start_date < s.tar_start AND "
                 f"oc.cohort_start_date >= {d.date_add('s.tar_start', -washout_days)} "
                 f"THEN 1 ELSE 0 END)")
    return f"""
WITH eo AS (
  SELECT s.target_id, s.person_id, s.tar_start, s.tar_end, s.sex, s.age_band, s.start_year,
         o.outcome_id,
         MIN(CASE WHEN {in_tar} THEN oc.cohort_start_date END) AS first_outcome,
         {prior} AS prevalent
  FROM {spans} s CROSS JOIN ({ids}) o
  LEFT JOIN {outcome_table} oc ON oc.subject_id = s.person_id
   AND oc.cohort_definition_id = o.outcome_id AND oc.cohort_start_date <= s.tar_end
  GROUP BY s.target_id, s.person_id, s.tar_start, s.tar_end, s.sex, s.age_band,
           s.start_year, o.outcome_id
)
SELECT target_id, outcome_id, person_id, sex, age_band, start_year,
       CASE WHEN first_outcome IS NULL THEN 0 ELSE 1 END AS has_outcome,
       {d.days_between('tar_start', 'COALESCE(first_outcome, tar_end)')} + 1 AS days
FROM eo WHERE prevalent = 0
"""


def compute_incidence(backend: Backend, target_table: str, target_ids: list[int],
                      outcome_table: str, outcome_ids: list[int],
                      tars: list[TimeAtRisk] | tuple[TimeAtRisk, ...] = (TimeAtRisk(),),
                      washout_days: int | None = None, age_width: int = 10
                      ) -> list[IncidenceRow]:
    """Incidence counts and person-days of every target x outcome x TAR x stratum."""
    check_table_name(target_table)
    check_table_name(outcome_table)
    target_ids = [check_cohort_id(i, "target id") for i in target_ids]
    outcome_ids = [check_cohort_id(i, "outcome id") for i in outcome_ids]
    if not target_ids or not outcome_ids or not tars:
        raise SpecError("incidence needs at least one target, one outcome and one TAR")
    if washout_days is not None and (isinstance(washout_days, bool)
                                     or not isinstance(washout_days, int) or washout_days < 0):
        raise SpecError(f"washout_days must be a non-negative integer or null, "
                        f"got {washout_days!r}")
    if age_width not in (1, 5, 10):
        raise SpecError(f"age_width must be 1, 5 or 10 years, got {age_width!r}")
    labels = [t.label for t in tars]
    if len(set(labels)) != len(labels):
        raise SpecError(f"times at risk repeat: {labels}")
    out: list[IncidenceRow] = []
    spans = "bg_ir_spans"
    for tar in tars:
        backend.execute(backend.dialect.drop_table(spans))
        backend.execute(backend.dialect.create_temp_table(
            spans, _tar_sql(backend, target_table, target_ids, tar, age_width)))
        try:
            risk = _risk_sql(backend, spans, outcome_table, outcome_ids, washout_days)
            parts = []
            for stratum, col in (("all", "0"), ("sex", "sex"), ("age_group", "age_band"),
                                 ("start_year", "start_year")):
                parts.append(
                    f"SELECT target_id, outcome_id, '{stratum}' AS stratum, "
                    f"CAST({col} AS BIGINT) AS value, COUNT(DISTINCT person_id), "
                    f"COUNT(DISTINCT CASE WHEN has_outcome = 1 THEN person_id END), "
                    f"SUM(has_outcome), SUM(days) FROM r GROUP BY target_id, outcome_id"
                    + ("" if stratum == "all" else f", {col}"))
            rows = backend.fetchall(f"WITH r AS ({risk}) " + " UNION ALL ".join(parts))
        finally:
            backend.execute(backend.dialect.drop_table(spans))
        for tid, oid, stratum, value, persons, with_o, events, days in rows:
            out.append(IncidenceRow(int(tid), int(oid), tar.label, str(stratum),
                                    _value_label(str(stratum), value, age_width),
                                    int(persons), int(with_o), int(events or 0),
                                    int(days or 0)))
    out.sort(key=lambda r: (r.target_id, r.outcome_id, labels.index(r.tar),
                            STRATA.index(r.stratum), r.value))
    return out


def _value_label(stratum: str, value: object, age_width: int) -> str:
    if stratum == "all" or value is None:
        return "all" if stratum == "all" else "unknown"
    v = int(value)  # type: ignore[call-overload]
    if stratum == "sex":
        return SEX_NAMES.get(v, f"concept {v}")
    if stratum == "age_group":
        return age_band_label(v, age_width)
    return str(v)
