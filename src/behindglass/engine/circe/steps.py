"""The SQL of each step of a Circe cohort, from primary events to the cohort table.

Steps follow Circe's order: primary events in an observation window and limit; the
qualifying events that meet the additional criteria (and qualified limit); the events that
pass every inclusion rule (and expression limit); their end dates (end strategy, end of
observation, censoring events); eras collapsed with the era pad; the censor window.
"""

from __future__ import annotations

from behindglass.core.circe.model import CohortExpression, CustomEraEnd, DateOffsetEnd
from behindglass.engine.circe.filters import Ctx
from behindglass.engine.circe.groups import events_sql, group_sql

_ORDER = {"First": "ASC", "Last": "DESC", "All": "ASC"}
EVENT_COLUMNS = "event_id, person_id, start_date, end_date, op_start_date, op_end_date"


def primary_events(e: CohortExpression, ctx: Ctx) -> str:
    d = ctx.dialect
    union = " UNION ALL ".join(events_sql(c, ctx) for c in e.primary_criteria)
    limit = "" if e.primary_limit == "All" else " WHERE P.ordinal = 1"
    return (
        "SELECT P.ordinal AS event_id, P.person_id, P.start_date, P.end_date,"
        " P.op_start_date, P.op_end_date, P.visit_occurrence_id FROM ("
        "SELECT E.person_id, E.start_date, E.end_date,"
        f" row_number() OVER (PARTITION BY E.person_id ORDER BY E.sort_date"
        f" {_ORDER[e.primary_limit]}, E.event_id) AS ordinal,"
        " OP.observation_period_start_date AS op_start_date,"
        " OP.observation_period_end_date AS op_end_date,"
        " CAST(E.visit_occurrence_id AS BIGINT) AS visit_occurrence_id"
        f" FROM ({union}) E JOIN observation_period OP ON OP.person_id = E.person_id"
        " AND E.start_date >= OP.observation_period_start_date"
        " AND E.start_date <= OP.observation_period_end_date"
        f" WHERE {d.date_add('OP.observation_period_start_date', e.prior_days)} <= E.start_date"
        f" AND {d.date_add('E.start_date', e.post_days)} <= OP.observation_period_end_date"
        f") P{limit}"
    )


def qualified_events(e: CohortExpression, primary: str, ctx: Ctx) -> str:
    join = ""
    if e.additional_criteria is not None:
        group = group_sql(e.additional_criteria, primary, ctx, 0)
        join = (f" JOIN ({group}) AC ON AC.person_id = pe.person_id"
                " AND AC.event_id = pe.event_id")
    # Circe applies the qualified limit only when there are additional criteria
    limited = e.additional_criteria is not None and e.qualified_limit != "All"
    return (
        f"SELECT {EVENT_COLUMNS}, visit_occurrence_id FROM ("
        "SELECT pe.event_id, pe.person_id, pe.start_date, pe.end_date, pe.op_start_date,"
        " pe.op_end_date, pe.visit_occurrence_id, row_number() OVER (PARTITION BY pe.person_id"
        f" ORDER BY pe.start_date {_ORDER[e.qualified_limit]}, pe.event_id) AS ordinal"
        f" FROM {primary} pe{join}) QE" + (" WHERE QE.ordinal = 1" if limited else "")
    )


def inclusion_events(e: CohortExpression, qualified: str, ctx: Ctx) -> str:
    if not e.inclusion_rules:
        return (f"SELECT CAST(0 AS INTEGER) AS inclusion_rule_id, person_id, event_id"
                f" FROM {qualified} WHERE 1 = 0")
    parts = []
    for i, rule in enumerate(e.inclusion_rules):
        group = group_sql(rule.expression, qualified, ctx, 0)
        parts.append(
            f"SELECT CAST({i} AS INTEGER) AS inclusion_rule_id, pe.person_id, pe.event_id"
            f" FROM {qualified} pe JOIN ({group}) AC ON AC.person_id = pe.person_id"
            " AND AC.event_id = pe.event_id"
        )
    return " UNION ALL ".join(parts)


def event_masks(qualified: str, inclusion: str) -> str:
    """Each qualifying event with the bit mask of the inclusion rules it passes."""
    return (
        f"SELECT Q.event_id, Q.person_id, Q.start_date, Q.end_date, Q.op_start_date,"
        " Q.op_end_date, COALESCE(SUM(CAST(POWER(2, I.inclusion_rule_id) AS BIGINT)), 0)"
        " AS mask, COUNT(DISTINCT I.inclusion_rule_id) AS rule_count,"
        " COALESCE(MIN(I.inclusion_rule_id), 0) AS min_rule_id"
        f" FROM {qualified} Q LEFT JOIN {inclusion} I ON I.person_id = Q.person_id"
        " AND I.event_id = Q.event_id"
        " GROUP BY Q.event_id, Q.person_id, Q.start_date, Q.end_date, Q.op_start_date,"
        " Q.op_end_date"
    )


def included_events(e: CohortExpression, masks: str) -> str:
    full = (1 << len(e.inclusion_rules)) - 1
    limited = e.expression_limit != "All"
    return (
        f"SELECT {EVENT_COLUMNS} FROM (SELECT {EVENT_COLUMNS}, row_number() OVER"
        f" (PARTITION BY person_id ORDER BY start_date {_ORDER[e.expression_limit]}, event_id)"
        f" AS ordinal FROM {masks} WHERE mask = {full}) R"
        + (" WHERE R.ordinal = 1" if limited else "")
    )


def _custom_era_ends(s: CustomEraEnd, included: str, ctx: Ctx) -> str:
    d = ctx.dialect
    if s.days_supply_override is not None:
        end = d.date_add("de.drug_exposure_start_date", s.days_supply_override)
    else:
        end = (f"COALESCE(de.drug_exposure_end_date,"
               f" {d.date_add('de.drug_exposure_start_date', 'de.days_supply')},"
               f" {d.date_add('de.drug_exposure_start_date', 1)})")
    persons = f"(SELECT DISTINCT person_id FROM {included})"
    exposures = " UNION ALL ".join(
        f"SELECT de.person_id, de.drug_exposure_start_date AS start_date, {end} AS end_date"
        f" FROM drug_exposure de JOIN {persons} p ON p.person_id = de.person_id"
        f" WHERE {ctx.in_codeset(f'de.{col}', s.drug_codeset_id)}"
        for col in ("drug_concept_id", "drug_source_concept_id")
    )
    padded = (f"SELECT person_id, start_date, {d.date_add('end_date', s.gap_days + s.offset)}"
              f" AS end_date FROM ({exposures}) DT")
    eras = collapse_sql(padded, s.gap_days, ctx)
    return (
        f"SELECT et.event_id, et.person_id, ERAS.end_date FROM {included} et"
        f" JOIN ({eras}) ERAS ON ERAS.person_id = et.person_id"
        " AND et.start_date >= ERAS.start_date AND et.start_date <= ERAS.end_date"
    )


def end_dates(e: CohortExpression, included: str, ctx: Ctx) -> list[str]:
    """Candidate exit dates per included event; the earliest on or after entry wins."""
    d = ctx.dialect
    out = []
    s = e.end_strategy
    if isinstance(s, DateOffsetEnd):
        field = "start_date" if s.date_field == "StartDate" else "end_date"
        shifted = d.date_add(field, s.offset)
        out.append(f"SELECT event_id, person_id, CASE WHEN {shifted} > op_end_date"
                   f" THEN op_end_date ELSE {shifted} END AS end_date FROM {included}")
    else:
        out.append(f"SELECT event_id, person_id, op_end_date AS end_date FROM {included}")
        if isinstance(s, CustomEraEnd):
            out.append(_custom_era_ends(s, included, ctx))
    if e.censoring_criteria:
        union = " UNION ALL ".join(events_sql(c, ctx) for c in e.censoring_criteria)
        out.append(
            f"SELECT i.event_id, i.person_id, MIN(C.start_date) AS end_date FROM {included} i"
            f" JOIN ({union}) C ON C.person_id = i.person_id AND C.start_date >= i.start_date"
            " AND C.start_date <= i.op_end_date GROUP BY i.event_id, i.person_id"
        )
    return out


def cohort_rows(included: str, ends: list[str]) -> str:
    return (
        "SELECT person_id, start_date, end_date FROM (SELECT I.person_id, I.start_date,"
        " CE.end_date, row_number() OVER (PARTITION BY I.person_id, I.event_id"
        f" ORDER BY CE.end_date) AS ordinal FROM {included} I JOIN"
        f" ({' UNION ALL '.join(ends)}) CE ON CE.event_id = I.event_id"
        " AND CE.person_id = I.person_id AND CE.end_date >= I.start_date) F"
        " WHERE F.ordinal = 1"
    )


def collapse_sql(rows: str, pad: int, ctx: Ctx) -> str:
    """Merge each person's overlapping (already padded) periods into eras; the pad is
    taken off the end again."""
    d = ctx.dialect
    return (
        f"SELECT person_id, MIN(start_date) AS start_date,"
        f" {d.date_add('MAX(end_date)', -pad)} AS end_date FROM ("
        "SELECT person_id, start_date, end_date, SUM(is_start) OVER (PARTITION BY person_id"
        " ORDER BY start_date, is_start DESC ROWS UNBOUNDED PRECEDING) AS group_idx FROM ("
        "SELECT person_id, start_date, end_date, CASE WHEN MAX(end_date) OVER (PARTITION BY"
        " person_id ORDER BY start_date ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)"
        f" >= start_date THEN 0 ELSE 1 END AS is_start FROM ({rows}) R0) ST) GR"
        " GROUP BY person_id, group_idx"
    )


def final_cohort(e: CohortExpression, rows: str, ctx: Ctx) -> str:
    padded = (f"SELECT person_id, start_date, {ctx.dialect.date_add('end_date', e.era_pad)}"
              f" AS end_date FROM {rows}")
    return collapse_sql(padded, e.era_pad, ctx)


def cohort_table(e: CohortExpression, final: str, cohort_id: int, ctx: Ctx) -> str:
    d = ctx.dialect
    start, end = "start_date", "end_date"
    window = e.censor_window
    if window.start is not None:
        start = (f"CASE WHEN start_date > {d.date(window.start)} THEN start_date"
                 f" ELSE {d.date(window.start)} END")
    if window.end is not None:
        end = (f"CASE WHEN end_date < {d.date(window.end)} THEN end_date"
               f" ELSE {d.date(window.end)} END")
    sql = (f"SELECT CAST({int(cohort_id)} AS BIGINT) AS cohort_definition_id,"
           f" person_id AS subject_id, {start} AS cohort_start_date,"
           f" {end} AS cohort_end_date FROM {final}")
    if window.start is not None or window.end is not None:
        sql += f" WHERE {start} <= {end}"
    return sql
