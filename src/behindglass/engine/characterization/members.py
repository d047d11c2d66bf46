"""Who is characterized: the persons of one cohort of an OHDSI cohort table, at index.

An OHDSI cohort table has the columns ``cohort_definition_id, subject_id,
cohort_start_date, cohort_end_date``; a person may have several entries. Characterization
describes *persons*: each person once, at their first entry (earliest start date). The
members table built here holds, per person: the index date, the entry's end date, sex, race,
ethnicity, age at index (``year(index) - year_of_birth``, the OHDSI convention) and the
observation period that contains the index (NULL when none does).

Time windows are whole days relative to the index, both ends inclusive; a window whose start
is ``None`` reaches back to any time before (FeatureExtraction's "any time prior").
"""

from __future__ import annotations

import re

from behindglass.core.errors import SpecError
from behindglass.engine.backend import Backend, temp_table

Window = tuple[int | None, int]

# FeatureExtraction's default windows, in the order of its analysis ids (x01 any time
# prior, x02 long term, x03 medium term, x04 short term).
DEFAULT_WINDOWS: tuple[Window, ...] = ((None, 0), (-365, 0), (-180, 0), (-30, 0))

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")

MEMBERS_TABLE = "bg_char_members"
SEX_NAMES = {8507: "male", 8532: "female"}


def check_table_name(name: str) -> str:
    """A cohort table name is an identifier (optionally schema-qualified), never SQL."""
    if not isinstance(name, str) or not _IDENT.match(name):
        raise SpecError(f"cohort table name must be an identifier like 'cohort' or "
                        f"'results.cohort', got {name!r}")
    return name


def check_cohort_id(value: object, what: str = "cohort_definition_id") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"{what} must be an integer, got {value!r}")
    return value


def check_windows(windows: tuple[Window, ...] | list[Window]) -> tuple[Window, ...]:
    out: list[Window] = []
    for w in windows:
        if not isinstance(w, tuple | list) or len(w) != 2:
            raise SpecError(f"a window is (start_day, end_day), got {w!r}")
        start, end = w
        if start is not None and (isinstance(start, bool) or not isinstance(start, int)):
            raise SpecError(f"window start must be an integer or null, got {start!r}")
        if isinstance(end, bool) or not isinstance(end, int):
            raise SpecError(f"window end must be an integer, got {end!r}")
        if start is not None and start > end:
            raise SpecError(f"window ({start}, {end}) starts after it ends")
        out.append((start, end))
    if len(out) > 99:
        raise SpecError("at most 99 windows")
    if len(set(out)) != len(out):
        raise SpecError(f"windows repeat: {out}")
    return tuple(out)


def window_label(window: Window) -> str:
    start, end = window
    return f"{'any' if start is None else start}:{end}"


def window_condition(backend: Backend, index_sql: str, date_sql: str, window: Window) -> str:
    """SQL true when ``date_sql`` lies in ``window`` days around ``index_sql`` (inclusive)."""
    offset = backend.dialect.days_between(index_sql, date_sql)
    start, end = window
    if start is None:
        return f"{offset} <= {end}"
    return f"{offset} BETWEEN {start} AND {end}"


def span_condition(backend: Backend, index_sql: str, start_sql: str, end_sql: str,
                   window: Window) -> str:
    """SQL true when the span [start, end] overlaps ``window`` around the index (eras)."""
    d = backend.dialect
    start, end = window
    cond = f"{d.days_between(index_sql, start_sql)} <= {end}"
    if start is not None:
        cond += f" AND {d.days_between(index_sql, end_sql)} >= {start}"
    return cond


def build_members(backend: Backend, cohort_table: str, cohort_id: int,
                  name: str = MEMBERS_TABLE) -> str:
    """(Re)create the temporary members table of one cohort; returns its name."""
    check_table_name(cohort_table)
    check_cohort_id(cohort_id)
    d = backend.dialect
    sql = f"""
WITH entries AS (
  SELECT subject_id AS person_id, cohort_start_date AS index_date,
         cohort_end_date AS end_date,
         ROW_NUMBER() OVER (PARTITION BY subject_id
                            ORDER BY cohort_start_date, cohort_end_date) AS rn
  FROM {cohort_table} WHERE cohort_definition_id = {cohort_id}
), firsts AS (
  SELECT e.person_id, e.index_date, e.end_date, p.gender_concept_id, p.race_concept_id,
         p.ethnicity_concept_id, {d.year('e.index_date')} - p.year_of_birth AS age
  FROM entries e JOIN person p ON p.person_id = e.person_id
  WHERE e.rn = 1
), periods AS (
  SELECT f.person_id, MIN(op.observation_period_start_date) AS op_start,
         MAX(op.observation_period_end_date) AS op_end
  FROM firsts f JOIN observation_period op ON op.person_id = f.person_id
   AND f.index_date BETWEEN op.observation_period_start_date
                        AND op.observation_period_end_date
  GROUP BY f.person_id
)
SELECT f.person_id, f.index_date, f.end_date, f.gender_concept_id, f.race_concept_id,
       f.ethnicity_concept_id, f.age, pr.op_start, pr.op_end
FROM firsts f LEFT JOIN periods pr ON pr.person_id = f.person_id
"""
    return temp_table(backend, name, sql)


def age_band_label(band: int, width: int = 5, top: int = 90) -> str:
    """The label of age band ``band`` (``age // width``), top-coded at ``top``."""
    low = band * width
    if low >= top:
        return f"{top}+"
    return f"{low}-{low + width - 1}"


def age_band_sql(age_sql: str, width: int = 5, top: int = 90) -> str:
    """SQL for the band index of an age: ``floor(age / width)``, top-coded at ``top``.

    Negative ages (a birth year after the index, a data error) go to band 0.
    """
    top_band = top // width
    return (f"(CASE WHEN {age_sql} >= {top} THEN {top_band} WHEN {age_sql} < 0 THEN 0 "
            f"ELSE CAST(({age_sql} - MOD({age_sql}, {width})) / {width} AS INTEGER) END)")
