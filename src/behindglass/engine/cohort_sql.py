"""Compile a :class:`~behindglass.core.cohort.Cohort` into SQL over an OMOP CDM v5.4 store.

The SQL selects one row per person: ``person_id, index_date``. Semantics:

* concept sets expand through ``concept_ancestor`` when ``descendants`` is set; the listed
  ids are always included themselves, so a store with an empty ``concept_ancestor`` (as
  some small extracts have) still matches the exact ids;
* ``first_occurrence`` takes each person's earliest event ever, then applies the
  observation requirements to that event (a person whose first event falls outside
  observation is not moved on to a later event), as OHDSI cohort definitions do;
  otherwise the earliest event that meets them is the index;
* age at index is ``year(index_date) - year_of_birth``, the OHDSI convention.

All literal values come from a validated model (integers, dates, fixed names), so the
SQL is built by formatting those values, never user strings.
"""

from __future__ import annotations

from behindglass.core.cohort import Cohort, ConceptSet

# domain -> (table, concept column, event date column)
DOMAIN_TABLES: dict[str, tuple[str, str, str]] = {
    "condition": ("condition_occurrence", "condition_concept_id", "condition_start_date"),
    "drug": ("drug_exposure", "drug_concept_id", "drug_exposure_start_date"),
    "procedure": ("procedure_occurrence", "procedure_concept_id", "procedure_date"),
    "measurement": ("measurement", "measurement_concept_id", "measurement_date"),
    "observation": ("observation", "observation_concept_id", "observation_date"),
    "visit": ("visit_occurrence", "visit_concept_id", "visit_start_date"),
    "device": ("device_exposure", "device_concept_id", "device_exposure_start_date"),
    "death": ("death", "cause_concept_id", "death_date"),
}

SEX_CONCEPTS = {"male": 8507, "female": 8532}


def _ids(values: tuple[int, ...]) -> str:
    return ", ".join(str(int(v)) for v in values)


def concept_set_sql(cs: ConceptSet) -> str:
    """SELECT of the concept ids a concept set stands for (one column, ``concept_id``)."""
    include = f"SELECT unnest([{_ids(cs.concept_ids)}]) AS concept_id"
    if cs.descendants:
        include += (
            " UNION SELECT descendant_concept_id FROM concept_ancestor"
            f" WHERE ancestor_concept_id IN ({_ids(cs.concept_ids)})"
        )
    if not cs.exclude:
        return include
    exclude = f"SELECT unnest([{_ids(cs.exclude)}])"
    if cs.descendants:
        exclude += (
            " UNION SELECT descendant_concept_id FROM concept_ancestor"
            f" WHERE ancestor_concept_id IN ({_ids(cs.exclude)})"
        )
    return f"SELECT concept_id FROM ({include}) WHERE concept_id NOT IN ({exclude})"


def _events_sql(cohort: Cohort) -> str:
    if cohort.domain is None or cohort.concepts is None:
        return (
            "SELECT person_id, min(observation_period_start_date) AS event_date"
            " FROM observation_period GROUP BY person_id"
        )
    table, concept_col, date_col = DOMAIN_TABLES[cohort.domain]
    return (
        f"SELECT e.person_id, e.{date_col} AS event_date FROM {table} e"
        f" WHERE e.{concept_col} IN ({concept_set_sql(cohort.concepts)})"
        f" AND e.{date_col} IS NOT NULL"
    )


def cohort_sql(cohort: Cohort) -> str:
    """SQL returning ``person_id, index_date`` for every member of ``cohort``."""
    events = _events_sql(cohort)
    if cohort.first_occurrence or cohort.domain is None:
        events = (
            f"SELECT person_id, min(event_date) AS event_date FROM ({events}) GROUP BY person_id"
        )
    observed = (
        "SELECT ev.person_id, ev.event_date FROM events ev JOIN observation_period op"
        " ON op.person_id = ev.person_id"
        " AND ev.event_date BETWEEN op.observation_period_start_date"
        " AND op.observation_period_end_date"
        f" WHERE ev.event_date - op.observation_period_start_date >= "
        f"{cohort.prior_observation_days}"
        f" AND op.observation_period_end_date - ev.event_date >= {cohort.post_observation_days}"
    )
    conditions: list[str] = []
    if cohort.age_min is not None:
        conditions.append(f"year(q.index_date) - p.year_of_birth >= {cohort.age_min}")
    if cohort.age_max is not None:
        conditions.append(f"year(q.index_date) - p.year_of_birth <= {cohort.age_max}")
    if cohort.sex is not None:
        ids = tuple(SEX_CONCEPTS[s] for s in cohort.sex)
        conditions.append(f"p.gender_concept_id IN ({_ids(ids)})")
    if cohort.index_start is not None:
        conditions.append(f"q.index_date >= DATE '{cohort.index_start.isoformat()}'")
    if cohort.index_end is not None:
        conditions.append(f"q.index_date <= DATE '{cohort.index_end.isoformat()}'")
    where = (" WHERE " + " AND ".join(conditions)) if conditions else ""
    return (
        f"WITH events AS ({events}),"
        f" qualified AS (SELECT person_id, min(event_date) AS index_date FROM ({observed})"
        " GROUP BY person_id)"
        " SELECT q.person_id, q.index_date FROM qualified q"
        f" JOIN person p ON p.person_id = q.person_id{where}"
    )
