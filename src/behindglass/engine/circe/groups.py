"""Circe criteria groups: correlated criteria in windows around an index event,
demographic criteria, and nested ALL / ANY / AT_LEAST / AT_MOST groups.

``event_table`` is a table (or parenthesised SELECT) of index events with the columns
``person_id, event_id, start_date, end_date, visit_occurrence_id, op_start_date,
op_end_date``. Each function returns ``index_id, person_id, event_id`` of the index events
that satisfy the piece, once per event.
"""

from __future__ import annotations

from behindglass.core.circe.model import (
    CorrelatedCriterion,
    CriteriaGroup,
    Criterion,
    DemographicCriterion,
    Window,
)
from behindglass.engine.circe import filters
from behindglass.engine.circe.criteria import criterion_sql
from behindglass.engine.circe.filters import Ctx

_OCCURRENCE_OPS = {0: "=", 1: "<=", 2: ">="}
_COUNT_COLUMNS = {
    "DOMAIN_CONCEPT": "domain_concept_id", "START_DATE": "start_date",
    "END_DATE": "end_date", "VISIT_ID": "visit_occurrence_id", "DURATION": "duration",
}


def events_sql(c: Criterion, ctx: Ctx) -> str:
    """Events of a criterion, kept only where its own correlated criteria hold."""
    base = criterion_sql(c, ctx)
    nested = c.get("CorrelatedCriteria")
    if not isinstance(nested, CriteriaGroup):
        return base
    with_op = (
        "(SELECT Q.person_id, Q.event_id, Q.start_date, Q.end_date, Q.visit_occurrence_id,"
        " OP.observation_period_start_date AS op_start_date,"
        " OP.observation_period_end_date AS op_end_date"
        f" FROM ({base}) Q JOIN observation_period OP ON OP.person_id = Q.person_id"
        " AND OP.observation_period_start_date <= Q.start_date"
        " AND OP.observation_period_end_date >= Q.start_date)"
    )
    group = group_sql(nested, with_op, ctx, 0)
    return (
        "SELECT PE.person_id, PE.event_id, PE.start_date, PE.end_date, PE.visit_occurrence_id,"
        f" PE.sort_date, PE.domain_concept_id FROM ({base}) PE JOIN ({group}) AC"
        " ON AC.person_id = PE.person_id AND AC.event_id = PE.event_id"
    )


def _bound(days: int | None, coeff: int, index: str, check_op: bool, ctx: Ctx) -> str | None:
    if days is not None:
        return ctx.dialect.date_add(index, coeff * days)
    if not check_op:
        return None
    # an open bound runs to the edge of the index event's observation period
    return "P.op_start_date" if coeff == -1 else "P.op_end_date"


def _window(w: Window | None, check_op: bool, ctx: Ctx) -> list[str]:
    if w is None:
        return []
    index = "P.end_date" if w.use_index_end else "P.start_date"
    event = "A.end_date" if w.use_event_end else "A.start_date"
    out = []
    low = _bound(w.start.days, w.start.coeff, index, check_op, ctx)
    if low is not None:
        out.append(f"{event} >= {low}")
    high = _bound(w.end.days, w.end.coeff, index, check_op, ctx)
    if high is not None:
        out.append(f"{event} <= {high}")
    return out


def correlated_sql(cc: CorrelatedCriterion, event_table: str, ctx: Ctx, index_id: int) -> str:
    check_op = not cc.ignore_observation_period
    clauses = []
    if check_op:
        clauses.append("A.start_date >= P.op_start_date AND A.start_date <= P.op_end_date")
    clauses += _window(cc.start_window, check_op, ctx)
    clauses += _window(cc.end_window, check_op, ctx)
    if cc.restrict_visit:
        clauses.append("A.visit_occurrence_id = P.visit_occurrence_id")
    occ = cc.occurrence
    column = "event_id"
    if occ.is_distinct:
        column = _COUNT_COLUMNS[occ.count_column or "DOMAIN_CONCEPT"]
    duration = ctx.dialect.days_between("A.start_date", "A.end_date")
    matches = (
        f"SELECT P.person_id, P.event_id, A.event_id AS a_event_id,"
        f" A.domain_concept_id, A.start_date, A.end_date, A.visit_occurrence_id,"
        f" {duration} AS duration"
        f" FROM {event_table} P JOIN ({events_sql(cc.criterion, ctx)}) A"
        f" ON A.person_id = P.person_id"
        + ("".join(f" AND {c}" for c in clauses))
    )
    counted = f"cc.{'a_event_id' if column == 'event_id' else column}"
    having = (f"HAVING COUNT({'DISTINCT ' if occ.is_distinct else ''}{counted})"
              f" {_OCCURRENCE_OPS[occ.type]} {occ.count}")
    if occ.type == 1 or occ.count == 0:
        # "at most" and "exactly 0" must keep index events with no match at all
        return (
            f"SELECT {index_id} AS index_id, p.person_id, p.event_id FROM {event_table} p"
            f" LEFT JOIN ({matches}) cc ON cc.person_id = p.person_id"
            " AND cc.event_id = p.event_id"
            f" GROUP BY p.person_id, p.event_id {having}"
        )
    return (
        f"SELECT {index_id} AS index_id, cc.person_id, cc.event_id FROM ({matches}) cc"
        f" GROUP BY cc.person_id, cc.event_id {having}"
    )


def demographic_sql(dc: DemographicCriterion, event_table: str, ctx: Ctx, index_id: int
                    ) -> str:
    d = ctx.dialect
    where = []
    if dc.age is not None:
        where.append(filters.numeric(f"({d.year('E.start_date')} - P.year_of_birth)", dc.age,
                                     decimal=False))
    for ids, cs, column in ((dc.gender, dc.gender_cs, "P.gender_concept_id"),
                            (dc.race, dc.race_cs, "P.race_concept_id"),
                            (dc.ethnicity, dc.ethnicity_cs, "P.ethnicity_concept_id")):
        if ids:
            where.append(filters.concepts(column, ids))
        if cs is not None:
            where.append(ctx.codeset_in(column, cs))
    if dc.occurrence_start_date is not None:
        where.append(filters.dates("E.start_date", dc.occurrence_start_date, d))
    if dc.occurrence_end_date is not None:
        where.append(filters.dates("E.end_date", dc.occurrence_end_date, d))
    return (
        f"SELECT {index_id} AS index_id, E.person_id, E.event_id FROM {event_table} E"
        " JOIN person P ON P.person_id = E.person_id"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " GROUP BY E.person_id, E.event_id"
    )


def group_sql(group: CriteriaGroup, event_table: str, ctx: Ctx, index_id: int) -> str:
    if group.is_empty:
        return f"SELECT {index_id} AS index_id, person_id, event_id FROM {event_table}"
    parts: list[str] = []
    for cc in group.criteria:
        parts.append(correlated_sql(cc, event_table, ctx, len(parts)))
    for dc in group.demographics:
        parts.append(demographic_sql(dc, event_table, ctx, len(parts)))
    for sub in group.groups:
        parts.append(group_sql(sub, event_table, ctx, len(parts)))
    join = "INNER"
    if group.type == "ALL":
        having = f"= {len(parts)}"
    elif group.type == "ANY":
        having = "> 0"
    elif group.type == "AT_LEAST":
        having = f">= {group.count}"
        join = "LEFT" if group.count == 0 else "INNER"
    else:  # AT_MOST
        having = f"<= {group.count}"
        join = "LEFT"
    union = " UNION ALL ".join(parts)
    return (
        f"SELECT {index_id} AS index_id, person_id, event_id FROM ("
        f"SELECT E.person_id, E.event_id FROM {event_table} E {join} JOIN ({union}) CQ"
        " ON CQ.person_id = E.person_id AND CQ.event_id = E.event_id"
        f" GROUP BY E.person_id, E.event_id HAVING COUNT(CQ.index_id) {having}) G"
    )
