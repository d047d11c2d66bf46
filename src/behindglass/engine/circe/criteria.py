"""One Circe criterion (a domain with its attribute filters) as a SELECT of events.

The SELECT returns Circe's event columns: ``person_id, event_id, start_date, end_date,
visit_occurrence_id, sort_date, domain_concept_id``. ``First`` picks the person's earliest
event of the concept set before any other filter, as Circe does.
"""

from __future__ import annotations

from behindglass.core.circe.catalog import DOMAINS
from behindglass.core.circe.model import (
    CodesetIn,
    Criterion,
    DateAdjustment,
    DateRange,
    NumericRange,
    Period,
    TextFilter,
)
from behindglass.core.errors import EngineError
from behindglass.engine.circe import filters
from behindglass.engine.circe.domains import TABLES, DomainTable
from behindglass.engine.circe.filters import Ctx

_PERSON_ATTRS = {"Gender", "GenderCS", "Age", "AgeAtStart", "AgeAtEnd"}
_LENGTHS = {"EraLength", "VisitLength", "PeriodLength", "VisitDetailLength"}
_START_DATES = {"OccurrenceStartDate", "EraStartDate", "PeriodStartDate",
                "VisitDetailStartDate"}
_END_DATES = {"OccurrenceEndDate", "EraEndDate", "PeriodEndDate", "VisitDetailEndDate"}


def _column(domain: str, spec: DomainTable, name: str) -> str:
    """The SQL of the value an attribute filters (``C`` is the event row)."""
    base = name.removesuffix("CS")
    if base == "Gender":
        return "P.gender_concept_id"
    if base == "ProviderSpecialty":
        return "PR.specialty_concept_id"
    if base == "PlaceOfService":
        return "CS.place_of_service_concept_id"
    if base == "VisitType" and domain != "VisitOccurrence":
        return "V.visit_concept_id"
    if base in spec.columns:
        return f"C.{spec.columns[base]}"
    raise EngineError(f"{domain}.{name}: no column is known for this attribute")


def _joins(domain: str, names: set[str]) -> list[str]:
    joins = []
    if names & _PERSON_ATTRS:
        joins.append("JOIN person P ON P.person_id = C.person_id")
    if domain != "VisitOccurrence" and names & {"VisitType", "VisitTypeCS"}:
        joins.append("JOIN visit_occurrence V ON V.visit_occurrence_id = C.visit_occurrence_id"
                     " AND V.person_id = C.person_id")
    if names & {"ProviderSpecialty", "ProviderSpecialtyCS"}:
        joins.append("LEFT JOIN provider PR ON PR.provider_id = C.provider_id")
    if names & {"PlaceOfService", "PlaceOfServiceCS"}:
        joins.append("JOIN care_site CS ON CS.care_site_id = C.care_site_id")
    return joins


def _where(c: Criterion, spec: DomainTable, ctx: Ctx) -> list[str]:
    d = ctx.dialect
    kinds = DOMAINS[c.domain]
    out: list[str] = []
    for name, value in c.attrs:
        kind = kinds[name]
        if kind in ("exclude", "correlated", "date_adjustment", "period") or name == "CodesetId" \
                or name == spec.source:
            continue
        if kind == "first":
            out.append("C.ordinal = 1")
        elif kind == "date":
            assert isinstance(value, DateRange)
            if name in _START_DATES:
                out.append(filters.dates("C.start_date", value, d))
            elif name in _END_DATES:
                out.append(filters.dates("C.end_date", value, d))
            else:
                raise EngineError(f"{c.domain}.{name}: unknown date attribute")
        elif kind in ("int", "decimal"):
            assert isinstance(value, NumericRange)
            out.append(filters.numeric(_numeric_expr(c.domain, spec, name, ctx), value,
                                       decimal=kind == "decimal"))
        elif kind == "concepts":
            assert isinstance(value, tuple)
            exclude = c.get(f"{name}Exclude") is True
            out.append(filters.concepts(_column(c.domain, spec, name), value, exclude))
        elif kind == "codeset_in":
            assert isinstance(value, CodesetIn)
            out.append(ctx.codeset_in(_column(c.domain, spec, name), value))
        elif kind == "source":
            assert isinstance(value, int)
            out.append(ctx.in_codeset(_column(c.domain, spec, name), value))
        elif kind == "text":
            assert isinstance(value, TextFilter)
            out.append(filters.text(_column(c.domain, spec, name), value))
        elif kind == "flag" and name == "Abnormal":
            out.append("(C.value_as_number < C.range_low OR C.value_as_number > C.range_high"
                       " OR C.value_as_concept_id IN (4155142, 4155143))")
        else:
            raise EngineError(f"{c.domain}.{name}: attribute kind {kind} is not compiled")
    return out


def _numeric_expr(domain: str, spec: DomainTable, name: str, ctx: Ctx) -> str:
    d = ctx.dialect
    if name in ("Age", "AgeAtStart"):
        return f"({d.year('C.start_date')} - P.year_of_birth)"
    if name == "AgeAtEnd":
        return f"({d.year('C.end_date')} - P.year_of_birth)"
    if name in _LENGTHS:
        return d.days_between("C.start_date", "C.end_date")
    if name == "RangeLowRatio":
        return "(C.value_as_number / NULLIF(C.range_low, 0))"
    if name == "RangeHighRatio":
        return "(C.value_as_number / NULLIF(C.range_high, 0))"
    return _column(domain, spec, name)


def _dates(c: Criterion, spec: DomainTable, ctx: Ctx) -> tuple[str, str, list[str]]:
    """Start and end expressions of the inner row ``t``, and inner conditions they need."""
    d = ctx.dialect
    start, end = f"t.{spec.start}", spec.end_sql(d, "t")
    inner: list[str] = []
    period = c.get("UserDefinedPeriod")
    if isinstance(period, Period):
        # a user-defined period replaces the dates, and the real period must cover it
        raw_end = f"t.{spec.end}"
        if period.start is not None:
            inner.append(f"t.{spec.start} <= {d.date(period.start)} AND "
                         f"{raw_end} >= {d.date(period.start)}")
            start = d.date(period.start)
        if period.end is not None:
            inner.append(f"t.{spec.start} <= {d.date(period.end)} AND "
                         f"{raw_end} >= {d.date(period.end)}")
            end = d.date(period.end)
    adj = c.get("DateAdjustment")
    if isinstance(adj, DateAdjustment):
        pick = {"START_DATE": start, "END_DATE": end}
        start, end = (d.date_add(pick[adj.start_with], adj.start_offset),
                      d.date_add(pick[adj.end_with], adj.end_offset))
    return start, end, inner


def criterion_sql(c: Criterion, ctx: Ctx) -> str:
    """Events matching ``c`` (without its own correlated criteria; see ``groups``)."""
    spec = TABLES[c.domain]
    start, end, inner_where = _dates(c, spec, ctx)
    event_id = f"t.{spec.id}" if spec.id else "t.person_id"
    visit = f"t.{spec.visit}" if spec.visit else "CAST(NULL AS BIGINT)"
    concept = f"t.{spec.concept}" if spec.concept else "0"
    cols = [
        "t.*",
        f"{event_id} AS event_id",
        f"{start} AS start_date",
        f"{end} AS end_date",
        f"{concept} AS domain_concept_id",
    ]
    if spec.visit is None:
        cols.append(f"{visit} AS visit_occurrence_id")
    codeset = c.get("CodesetId")
    if isinstance(codeset, int) and spec.concept:
        inner_where.append(ctx.in_codeset(f"t.{spec.concept}", codeset))
    source = c.get(spec.source) if spec.source else None
    if isinstance(source, int) and spec.source_column:
        inner_where.append(ctx.in_codeset(f"t.{spec.source_column}", source))
    if c.get("First") is True:
        order = f"t.{spec.start}" + (f", t.{spec.id}" if spec.id else "")
        cols.append(f"row_number() OVER (PARTITION BY t.person_id ORDER BY {order}) AS ordinal")
    inner = f"SELECT {', '.join(cols)} FROM {spec.table} t"
    if inner_where:
        inner += " WHERE " + " AND ".join(inner_where)
    names = {name for name, _ in c.attrs}
    joins = " ".join(_joins(c.domain, names))
    where = _where(c, spec, ctx)
    return (
        "SELECT C.person_id, C.event_id, C.start_date, C.end_date, C.visit_occurrence_id,"
        " C.start_date AS sort_date, C.domain_concept_id"
        f" FROM ({inner}) C {joins}"
        + (" WHERE " + " AND ".join(where) if where else "")
    )
