"""The study population of a comparative study, built at a site in portable SQL.

:func:`compute_population` turns a target (and optional comparator) OHDSI cohort table and an
outcome cohort table into the per-person analysis frame that
:class:`~behindglass.core.population.PopulationSettings` describes, with the rules of
OHDSI CohortMethod listed in :mod:`behindglass.core.population`. Everything is computed in
the store; the frame holds no person id and no date, and it stays in the site process (the
analyses that use it release aggregates only).

All day arithmetic is in whole days relative to each entry's index (``d = date - index``),
as CohortMethod's ``daysToEvent``, ``daysToCohortEnd``, ``daysToObsEnd`` are.
"""

from __future__ import annotations

import pandas as pd

from behindglass.core.errors import EngineError
from behindglass.core.population import CovariateSpec, PopulationSettings
from behindglass.engine.backend import Backend, int_list, temp_table
from behindglass.engine.characterization.members import (
    check_cohort_id,
    check_table_name,
    window_condition,
)

# covariate domain -> (table, concept column, date column)
COVARIATE_TABLES: dict[str, tuple[str, str, str]] = {
    "condition": ("condition_occurrence", "condition_concept_id", "condition_start_date"),
    "drug": ("drug_exposure", "drug_concept_id", "drug_exposure_start_date"),
    "procedure": ("procedure_occurrence", "procedure_concept_id", "procedure_date"),
    "measurement": ("measurement", "measurement_concept_id", "measurement_date"),
    "observation": ("observation", "observation_concept_id", "observation_date"),
}
POPULATION_TABLE = "bg_population"
MALE = 8507

CohortRef = tuple[str, int]  # (OHDSI cohort table, cohort_definition_id)


def _check(ref: CohortRef, what: str) -> CohortRef:
    table, cohort_id = ref
    return check_table_name(table), check_cohort_id(cohort_id, f"{what} cohort id")


def _entries_sql(ref: CohortRef, treatment: int) -> str:
    table, cohort_id = ref
    return (f"SELECT {treatment} AS treatment, subject_id AS person_id,"
            f" cohort_start_date AS index_date, cohort_end_date AS end_date,"
            f" ROW_NUMBER() OVER (PARTITION BY subject_id"
            f" ORDER BY cohort_start_date, cohort_end_date) AS rn"
            f" FROM {table} WHERE cohort_definition_id = {cohort_id}")


_COLS = "treatment, person_id, index_date, end_date, op_start, op_end"


def _dedup_sql(rule: str) -> str:
    """CTEs ``untied`` and ``dedup`` over ``firsts`` for removeDuplicateSubjects."""
    if rule == "keep_all":
        return f"dedup AS (SELECT {_COLS} FROM firsts)"
    if rule == "remove_all":
        return (f"dedup AS (SELECT {_COLS} FROM firsts WHERE person_id NOT IN ("
                "SELECT person_id FROM firsts GROUP BY person_id"
                " HAVING COUNT(DISTINCT treatment) > 1))")
    if rule == "keep_first":
        # CohortMethod: drop every entry sharing its person and start day with another
        # (ties), then keep each person's earliest remaining entry.
        return (f"untied AS (SELECT {_COLS} FROM (SELECT f.*, COUNT(*) OVER"
                " (PARTITION BY person_id, index_date) AS n_same FROM firsts f) x"
                f" WHERE n_same = 1), dedup AS (SELECT {_COLS} FROM (SELECT u.*,"
                " ROW_NUMBER() OVER (PARTITION BY person_id ORDER BY index_date) AS prn"
                " FROM untied u) y WHERE prn = 1)")
    raise EngineError(f"unknown duplicate subject rule {rule!r}")  # pragma: no cover


def _population_sql(backend: Backend, target: CohortRef, comparator: CohortRef | None,
                    outcome: CohortRef, s: PopulationSettings) -> str:
    d = backend.dialect
    entries = _entries_sql(target, 1)
    if comparator is not None:
        entries += " UNION ALL " + _entries_sql(comparator, 0)
    days = d.days_between
    start = f"{days('index_date', 'end_date')} + " if s.start_anchor == "cohort end" else ""
    end = f"{days('index_date', 'end_date')} + " if s.end_anchor == "cohort end" else ""
    risk_start = f"({start}({s.risk_window_start}))"
    risk_end_raw = f"({end}({s.risk_window_end}))"
    if s.remove_prior_outcome:
        prior = (" AND NOT EXISTS (SELECT 1 FROM od WHERE od.treatment = r.treatment"
                 f" AND od.person_id = r.person_id AND od.d > ({-s.prior_outcome_lookback})"
                 " AND od.d < r.risk_start)")
    else:
        prior = ""
    min_days = ("" if s.min_days_at_risk == 0
                else f" AND r.risk_end - r.risk_start >= {s.min_days_at_risk}")
    o_table, o_id = outcome
    return f"""
WITH entries AS ({entries}
), firsts AS (
  SELECT e.treatment, e.person_id, e.index_date, e.end_date,
         MIN(op.observation_period_start_date) AS op_start,
         MAX(op.observation_period_end_date) AS op_end
  FROM entries e
  JOIN observation_period op ON op.person_id = e.person_id
   AND e.index_date BETWEEN op.observation_period_start_date
                        AND op.observation_period_end_date
  WHERE e.rn = 1 AND EXISTS (SELECT 1 FROM person p WHERE p.person_id = e.person_id)
  GROUP BY e.treatment, e.person_id, e.index_date, e.end_date
), {_dedup_sql(s.remove_duplicate_subjects)}, washed AS (
  SELECT treatment, person_id, index_date,
         {days('index_date', 'op_start')} AS d_obs_start,
         {days('index_date', 'op_end')} AS d_obs_end,
         {risk_start} AS risk_start, {risk_end_raw} AS risk_end_raw
  FROM dedup WHERE {days('op_start', 'index_date')} >= {s.washout_days}
), r AS (
  SELECT treatment, person_id, index_date, d_obs_start, d_obs_end, risk_start,
         CASE WHEN risk_end_raw > d_obs_end THEN d_obs_end ELSE risk_end_raw END AS risk_end
  FROM washed
), od AS (
  SELECT DISTINCT r.treatment, r.person_id, {days('r.index_date', 'o.cohort_start_date')} AS d
  FROM r JOIN {o_table} o ON o.subject_id = r.person_id AND o.cohort_definition_id = {o_id}
  WHERE {days('r.index_date', 'o.cohort_start_date')} BETWEEN r.d_obs_start AND r.d_obs_end
), kept AS (
  SELECT r.* FROM r WHERE 1 = 1{prior}{min_days}
)
SELECT k.treatment, k.person_id, k.index_date, k.risk_start, k.risk_end,
       COUNT(od.d) AS outcome_count, MIN(od.d) AS first_outcome
FROM kept k
LEFT JOIN od ON od.treatment = k.treatment AND od.person_id = k.person_id
 AND od.d BETWEEN k.risk_start AND k.risk_end
GROUP BY k.treatment, k.person_id, k.index_date, k.risk_start, k.risk_end
"""


def _concepts(column: str, cov: CovariateSpec) -> str:
    ids = int_list(list(cov.concept_ids))
    if not cov.descendants:
        return f"{column} IN ({ids})"
    return (f"({column} IN ({ids}) OR {column} IN (SELECT ca.descendant_concept_id"
            f" FROM concept_ancestor ca WHERE ca.ancestor_concept_id IN ({ids})))")


def _flags_sql(backend: Backend, domain: str, covs: list[CovariateSpec]) -> str:
    """One pass over ``domain``'s table for all its covariates: per population row
    (person, treatment), 1 for each covariate with a record in its window.

    A pass per domain instead of a correlated EXISTS per covariate: the table is read and
    joined once, and only the records of the covariates' concepts are."""
    table, concept_col, date_col = COVARIATE_TABLES[domain]
    wanted = " OR ".join(_concepts(f"{concept_col}", c) for c in covs)
    flags = ", ".join(
        f"MAX(CASE WHEN {_concepts('e.concept_id', c)} AND "
        f"{window_condition(backend, 'a.index_date', 'e.event_date', c.window)}"
        f' THEN 1 ELSE 0 END) AS "{c.name}"' for c in covs)
    return (f"SELECT a.person_id, a.treatment, {flags} FROM {POPULATION_TABLE} a"
            f" JOIN (SELECT person_id, {concept_col} AS concept_id, {date_col} AS event_date"
            f" FROM {table} WHERE {wanted}) e ON e.person_id = a.person_id"
            " GROUP BY a.person_id, a.treatment")


def _frame_sql(backend: Backend, s: PopulationSettings) -> str:
    d = backend.dialect
    tar = "(a.risk_end - a.risk_start + 1)"
    parts = [
        "a.treatment",
        tar,
        "a.outcome_count",
        "CASE WHEN a.outcome_count > 0 THEN 1 ELSE 0 END",
        f"CASE WHEN a.first_outcome IS NULL THEN {tar}"
        " ELSE a.first_outcome - a.risk_start + 1 END",
    ]
    if s.demographics:
        parts += [f"{d.year('a.index_date')} - p.year_of_birth",
                  f"CASE WHEN p.gender_concept_id = {MALE} THEN 1 ELSE 0 END",
                  d.year("a.index_date")]
    joins = []
    by_domain: dict[str, list[CovariateSpec]] = {}
    for cov in s.covariates:
        by_domain.setdefault(cov.domain, []).append(cov)
    alias = {}
    for n, (domain, covs) in enumerate(by_domain.items()):
        alias.update({c.name: f"f{n}" for c in covs})
        joins.append(f" LEFT JOIN ({_flags_sql(backend, domain, covs)}) f{n}"
                     f" ON f{n}.person_id = a.person_id AND f{n}.treatment = a.treatment")
    parts += [f'COALESCE({alias[c.name]}."{c.name}", 0)' for c in s.covariates]
    # names are validated lower-case identifiers; quoted, as one may be a keyword ("end")
    selected = ", ".join(f'CAST({p} AS BIGINT) AS "{name}"'
                         for p, name in zip(parts, s.columns, strict=True))
    return (f"SELECT {selected} FROM {POPULATION_TABLE} a"
            f" JOIN person p ON p.person_id = a.person_id{''.join(joins)}"
            " ORDER BY a.person_id, a.treatment DESC")


def compute_population(backend: Backend, target: CohortRef, comparator: CohortRef | None,
                       outcome: CohortRef, settings: PopulationSettings) -> pd.DataFrame:
    """The study population frame: one row per person (per person and cohort under
    ``keep_all``), ordered by person id then target before comparator; int64 columns
    ``settings.columns``. Cohorts are (OHDSI cohort table, cohort_definition_id)."""
    if not isinstance(settings, PopulationSettings):
        raise EngineError(f"population settings must be PopulationSettings, "
                          f"got {type(settings).__name__}")
    target = _check(target, "target")
    comparator = None if comparator is None else _check(comparator, "comparator")
    outcome = _check(outcome, "outcome")
    temp_table(backend, POPULATION_TABLE,
               _population_sql(backend, target, comparator, outcome, settings))
    try:
        frame = backend.fetch_frame(_frame_sql(backend, settings))
    finally:
        backend.execute(backend.dialect.drop_table(POPULATION_TABLE))
    columns = list(settings.columns)
    frame.columns = columns
    for col in columns:
        if frame[col].isna().any():
            # only the demographics can be missing: year_of_birth is NULL (a DQ failure)
            raise EngineError(f"{backend.label}: population column {col!r} has missing "
                              "values (persons without a year of birth?)")
    return frame.astype("int64").reset_index(drop=True)
