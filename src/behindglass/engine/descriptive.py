"""Per-person columns of a cohort, for descriptive statistics and contingency tables.

:func:`person_frame` answers :meth:`~behindglass.core.sitedata.SiteData.person_frame`: one
row per person of the cohort at their first entry (the index date, as every person-level
question of the store uses), one column per requested
:class:`~behindglass.core.sitedata.PersonColumn`. The frame carries no person id and no
date; it stays in the site process and analyses release aggregates of it only.

The rules, per kind:

* ``age``: year of index minus year of birth (the OHDSI convention);
* ``prior_observation_days`` / ``post_observation_days``: whole days from the start of the
  observation period containing the index to the index / from the index to that period's
  end; missing when no period contains the index (if periods overlap, the longest);
* ``measurement``: ``value_as_number`` of a ``measurement`` record of the concept set
  (``descendants``: and their descendants in ``concept_ancestor``) dated ``d`` days from
  the index with ``window[0] <= d <= window[1]``; the record closest to the index, the
  earlier one when two are equally close, and the mean of that day's values when a person
  has several on that day (duplicate records). Records with no number are ignored;
  missing when there is none;
* ``sex``, ``age_band``, ``race``, ``ethnicity``, ``index_year``: the labels the store's
  characterization uses (:func:`~behindglass.engine.site_store.dimension_sql`);
* ``member_of``: ``"yes"`` when the person has any entry of ``cohort`` (at any time),
  else ``"no"``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pandas as pd

from behindglass.core.cohort import Cohort
from behindglass.core.errors import EngineError
from behindglass.core.sitedata import PersonColumn
from behindglass.engine.backend import Backend, int_list
from behindglass.engine.site_store import _LABEL_COLUMN, dimension_sql

LABEL_KINDS = ("sex", "age_band", "race", "ethnicity", "index_year")
NUMERIC_KINDS = ("age", "prior_observation_days", "post_observation_days", "measurement")

CohortTable = Callable[[Cohort], tuple[str, int]]


def _concepts_sql(column: PersonColumn) -> str:
    ids = [int(c) for c in column.concept_ids]
    if not ids or any(c <= 0 for c in ids):
        raise EngineError("a measurement column needs positive concept ids")
    listed = int_list(ids)
    if not column.descendants:
        return f"({listed})"
    return (f"(SELECT descendant_concept_id FROM concept_ancestor"
            f" WHERE ancestor_concept_id IN ({listed}) UNION SELECT concept_id FROM concept"
            f" WHERE concept_id IN ({listed}))")


def _column_sql(backend: Backend, members: str, column: PersonColumn,
                cohort_table: CohortTable) -> str:
    """SELECT person_id, value for one column (persons without a value may be absent)."""
    d = backend.dialect
    kind = column.kind
    if kind == "age":
        return (f"SELECT m.person_id, CAST({d.year('m.index_date')} - p.year_of_birth AS DOUBLE"
                f" PRECISION) FROM {members} m JOIN person p ON p.person_id = m.person_id")
    if kind in ("prior_observation_days", "post_observation_days"):
        days = (d.days_between("op.observation_period_start_date", "m.index_date")
                if kind == "prior_observation_days"
                else d.days_between("m.index_date", "op.observation_period_end_date"))
        return (f"SELECT m.person_id, CAST(MAX({days}) AS DOUBLE PRECISION)"
                f" FROM {members} m JOIN observation_period op ON op.person_id = m.person_id"
                f" AND m.index_date BETWEEN op.observation_period_start_date"
                f" AND op.observation_period_end_date GROUP BY m.person_id")
    if kind == "measurement":
        lo, hi = (int(column.window[0]), int(column.window[1]))
        gap = d.days_between("m.index_date", "e.measurement_date")
        return (f"SELECT person_id, AVG(v) FROM (SELECT r.person_id, r.v, RANK() OVER"
                f" (PARTITION BY r.person_id ORDER BY ABS(r.gap), r.gap) AS rk FROM ("
                f"SELECT e.person_id, CAST(e.value_as_number AS DOUBLE PRECISION) AS v,"
                f" {gap} AS gap FROM measurement e JOIN {members} m"
                f" ON m.person_id = e.person_id WHERE e.value_as_number IS NOT NULL"
                f" AND e.measurement_concept_id IN {_concepts_sql(column)}) r"
                f" WHERE r.gap BETWEEN {lo} AND {hi}) x WHERE rk = 1 GROUP BY person_id")
    if kind in LABEL_KINDS:
        join = ""
        if kind in _LABEL_COLUMN:
            join = f" LEFT JOIN concept c ON c.concept_id = p.{_LABEL_COLUMN[kind]}"
        return (f"SELECT m.person_id, {dimension_sql(d, kind)} FROM {members} m"
                f" JOIN person p ON p.person_id = m.person_id{join}")
    if kind == "member_of":
        if column.cohort is None:
            raise EngineError("a member_of column needs a cohort")
        table, cohort_id = cohort_table(column.cohort)
        return (f"SELECT m.person_id, CASE WHEN EXISTS (SELECT 1 FROM {table} c"
                f" WHERE c.cohort_definition_id = {int(cohort_id)}"
                f" AND c.subject_id = m.person_id) THEN 'yes' ELSE 'no' END FROM {members} m")
    raise EngineError(f"unknown person column kind {kind!r}")


def person_frame(backend: Backend, members: str, columns: Mapping[str, PersonColumn],
                 cohort_table: CohortTable) -> pd.DataFrame:
    """The cohort's persons (``members``: person_id, index_date) with one column per entry
    of ``columns``, in that order; no person id in the result."""
    ids = [int(r[0]) for r in backend.fetchall(f"SELECT person_id FROM {members}")]
    frame = pd.DataFrame(index=pd.Index(ids, name="person_id"))
    for name, column in columns.items():
        rows = backend.fetchall(_column_sql(backend, members, column, cohort_table))
        values = {int(pid): v for pid, v in rows}
        if column.kind in NUMERIC_KINDS:
            frame[name] = pd.Series([values.get(i) for i in ids], index=frame.index,
                                    dtype="float64")
        else:
            frame[name] = pd.Series([None if values.get(i) is None else str(values[i])
                                     for i in ids], index=frame.index, dtype="object")
    return frame.reset_index(drop=True)
