"""Plausibility checks: values in a believable range (atemporal) and dates in a believable
order (temporal), generated over every date field of the person-level tables.

The ranges are our own choices, in the spirit of DataQualityDashboard's defaults: dates
from 1950 (births from 1850) up to tomorrow, years of birth up to next year, events not
before birth nor more than 60 days after death, ends not before starts, events inside
an observation period and within a week of their visit. Concept-level ranges and
sex-specific concepts are short lists below; a concept absent from a store makes its check
not applicable.
"""

from __future__ import annotations

import datetime as dt

from behindglass.engine.dialect import SqlDialect
from behindglass.engine.quality.checks import (
    PLAUSIBILITY,
    VALIDATION,
    VERIFICATION,
    Check,
    col,
    count_if,
    non_null,
    person_tables,
)
from behindglass.omop.schema import TableSpec, cdm_tables, quote

MALE, FEMALE = 8507, 8532
DEATH_GRACE_DAYS = 60
VISIT_GRACE_DAYS = 7

# (table, field) -> (lowest, highest) plausible value; None leaves that side open.
FIELD_RANGES: dict[tuple[str, str], tuple[float | None, float | None]] = {
    ("person", "month_of_birth"): (1, 12),
    ("person", "day_of_birth"): (1, 31),
    ("drug_exposure", "days_supply"): (1, 365),
    ("drug_exposure", "refills"): (0, 24),
    ("drug_exposure", "quantity"): (0, None),
    ("procedure_occurrence", "quantity"): (0, None),
    ("device_exposure", "quantity"): (0, None),
    ("specimen", "quantity"): (0, None),
    ("condition_era", "condition_occurrence_count"): (1, None),
    ("drug_era", "drug_exposure_count"): (1, None),
    ("drug_era", "gap_days"): (0, None),
}

# (measurement concept, unit concept, low, high): LOINC vital signs and common labs.
MEASUREMENT_RANGES: tuple[tuple[int, int, float, float], ...] = (
    (3025315, 9529, 0.5, 700.0),  # body weight, kg
    (3036277, 8582, 20.0, 280.0),  # body height, cm
    (3020891, 586323, 25.0, 45.0),  # body temperature, degree Celsius
    (3027018, 8541, 10.0, 300.0),  # heart rate, per minute
    (3004249, 8876, 20.0, 300.0),  # systolic blood pressure, mmHg
    (3012888, 8876, 10.0, 200.0),  # diastolic blood pressure, mmHg
    (3000963, 8713, 1.0, 25.0),  # hemoglobin in blood, g/dL
    (3004410, 8554, 2.0, 25.0),  # hemoglobin A1c, percent
)

# (table, concept field, concept, the only plausible sex): female-only procedures and drugs.
PLAUSIBLE_SEX: tuple[tuple[str, str, int, int], ...] = (
    ("procedure_occurrence", "procedure_concept_id", 4275113, FEMALE),  # IUD insertion
    ("procedure_occurrence", "procedure_concept_id", 4238715, FEMALE),  # IUD removal
    ("procedure_occurrence", "procedure_concept_id", 4186930, FEMALE),  # IUD replacement
    ("drug_exposure", "drug_concept_id", 43012433, FEMALE),  # vaginal ring (NuvaRing)
    ("drug_exposure", "drug_concept_id", 19132304, FEMALE),  # levonorgestrel IUS (Mirena)
    ("drug_exposure", "drug_concept_id", 1718412, FEMALE),  # levonorgestrel IUS (Kyleena)
    ("drug_exposure", "drug_concept_id", 46221626, FEMALE),  # levonorgestrel IUS (Liletta)
    ("condition_occurrence", "condition_concept_id", 200962, MALE),  # prostate cancer
)


def _check(name: str, sub: str, table: str, field: str | None, text: str, threshold: float,
           *, numerator: str | None = None, denominator: str = "COUNT(*)",
           query: str | None = None, columns: tuple[str, ...] = (),
           tables: tuple[str, ...] = (), person_facts: bool = False,
           concept_id: int | None = None, unit_concept_id: int | None = None,
           context: str = VERIFICATION) -> Check:
    return Check(name=name, level="field" if concept_id is None else "concept",
                 category=PLAUSIBILITY, subcategory=sub, context=context, table=table,
                 field=field, description=text, default_threshold=threshold,
                 numerator=numerator, denominator=denominator, query=query, columns=columns,
                 tables=tables, person_facts=person_facts, concept_id=concept_id,
                 unit_concept_id=unit_concept_id)


def _as_date(c: str, datatype: str) -> str:
    return f"CAST({c} AS DATE)" if datatype == "datetime" else c


def _date_fields(table: TableSpec) -> list[tuple[str, str]]:
    return [(f.name, f.datatype) for f in table.fields if f.datatype in ("date", "datetime")]


def anchor_date(table: TableSpec) -> str | None:
    """The date that places a row in time: its first required date field."""
    for f in table.fields:
        if f.datatype == "date" and f.required:
            return f.name
    return None


def value_ranges(d: SqlDialect, today: dt.date) -> list[Check]:
    out: list[Check] = []
    ranges = dict(FIELD_RANGES)
    ranges[("person", "year_of_birth")] = (1850, today.year + 1)
    for (table, field), (low, high) in ranges.items():
        c = col(field)
        for name, bound, op in (("plausibleValueLow", low, "<"),
                                ("plausibleValueHigh", high, ">")):
            if bound is not None:
                out.append(_check(name, "Atemporal", table, field,
                                  f"values of {table}.{field} {op} {bound:g}", 1.0,
                                  numerator=count_if(f"{c} {op} {bound:g}"),
                                  denominator=non_null(field), columns=(field,)))
    tomorrow = today + dt.timedelta(days=1)
    for table in [cdm_tables()["person"], *person_tables()]:
        for field, datatype in _date_fields(table):
            earliest = dt.date(1850 if table.name == "person" else 1950, 1, 1)
            c = _as_date(col(field), datatype)
            for name, bound, op in (("plausibleValueLow", earliest, "<"),
                                    ("plausibleValueHigh", tomorrow, ">")):
                out.append(_check(name, "Atemporal", table.name, field,
                                  f"dates in {table.name}.{field} {op} {bound}", 1.0,
                                  numerator=count_if(f"{c} {op} {d.date(bound)}"),
                                  denominator=non_null(field), columns=(field,)))
    return out


def life_checks(d: SqlDialect) -> list[Check]:
    out: list[Check] = []
    death_limit = d.date_add("pd.death_date", DEATH_GRACE_DAYS)
    for table in person_tables():
        for field, datatype in _date_fields(table):
            c = _as_date(col(field), datatype)
            before_birth = (f"{col(field)} IS NOT NULL AND ((pd.birth_date IS NOT NULL AND"
                            f" {c} < pd.birth_date) OR (pd.birth_date IS NULL AND"
                            f" {d.year(c)} < pd.year_of_birth))")
            out.append(_check("plausibleTemporalAfter", "Temporal", table.name, field,
                              f"dates in {table.name}.{field} before the person's birth", 1.0,
                              numerator=count_if(before_birth), denominator=non_null(field),
                              columns=(field, "person_id"), tables=("person",),
                              person_facts=True))
            if table.name == "death":
                continue
            after_death = f"pd.death_date IS NOT NULL AND {c} > {death_limit}"
            out.append(_check("plausibleDuringLife", "Temporal", table.name, field,
                              f"dates in {table.name}.{field} more than {DEATH_GRACE_DAYS}"
                              " days after the person's death", 1.0,
                              numerator=count_if(after_death), denominator=non_null(field),
                              columns=(field, "person_id"), tables=("person",),
                              person_facts=True))
    return out


def order_checks(d: SqlDialect) -> list[Check]:
    out: list[Check] = []
    for table in cdm_tables().values():
        names = {f.name: f.datatype for f in table.fields}
        for start, datatype in _date_fields(table):
            end = start.replace("start", "end")
            if end == start or names.get(end) != datatype:
                continue
            s, e = col(start), col(end)
            out.append(_check("plausibleStartBeforeEnd", "Temporal", table.name, start,
                              f"rows of {table.name} whose {end} is before {start}",
                              0.0 if table.name == "observation_period" else 1.0,
                              numerator=count_if(f"{e} < {s}"),
                              denominator=count_if(f"{s} IS NOT NULL AND {e} IS NOT NULL"),
                              columns=(start, end)))
    for table in person_tables():
        anchor = anchor_date(table)
        if table.category != "clinical" or anchor is None or table.name in (
                "observation_period", "death"):
            continue
        t, a = quote(table.name), col(anchor)
        outside = ("SELECT 1 FROM observation_period op WHERE op.person_id = t.person_id"
                   f" AND {a} >= op.observation_period_start_date"
                   f" AND {a} <= op.observation_period_end_date")
        query = (f"SELECT (SELECT COUNT(*) FROM {t} t WHERE {a} IS NOT NULL AND NOT EXISTS"
                 f" ({outside})), (SELECT COUNT(*) FROM {t} t WHERE {a} IS NOT NULL)")
        out.append(_check("withinObservationPeriod", "Temporal", table.name, anchor,
                          f"rows of {table.name} outside every observation period of the"
                          " person", 5.0, query=query, columns=(anchor, "person_id"),
                          tables=("observation_period",), context=VALIDATION))
        if "visit_occurrence_id" not in table.columns or table.name == "visit_occurrence":
            continue
        vs, ve = "vo.visit_start_date", "COALESCE(vo.visit_end_date, vo.visit_start_date)"
        away = (f"{a} < {d.date_add(vs, -VISIT_GRACE_DAYS)}"
                f" OR {a} > {d.date_add(ve, VISIT_GRACE_DAYS)}")
        query = (f"SELECT {count_if(away)}, COUNT(*) FROM {t} t JOIN visit_occurrence vo"
                 f" ON vo.visit_occurrence_id = t.visit_occurrence_id WHERE {a} IS NOT NULL")
        out.append(_check("withinVisitDates", "Temporal", table.name, anchor,
                          f"rows of {table.name} more than {VISIT_GRACE_DAYS} days outside"
                          " their visit", 1.0, query=query,
                          columns=(anchor, "visit_occurrence_id"),
                          tables=("visit_occurrence",)))
    return out


def concept_checks() -> list[Check]:
    out: list[Check] = []
    concept, unit, value = (col("measurement_concept_id"), col("unit_concept_id"),
                            col("value_as_number"))
    for cid, uid, low, high in MEASUREMENT_RANGES:
        this = f"{concept} = {cid} AND {unit} = {uid}"
        for name, bound, op in (("plausibleValueLow", low, "<"),
                                ("plausibleValueHigh", high, ">")):
            out.append(_check(name, "Atemporal", "measurement", "value_as_number",
                              f"values of concept {cid} in unit {uid} {op} {bound:g}", 1.0,
                              numerator=count_if(f"{this} AND {value} {op} {bound:g}"),
                              denominator=count_if(f"{this} AND {value} IS NOT NULL"),
                              columns=("measurement_concept_id", "unit_concept_id",
                                       "value_as_number"),
                              concept_id=cid, unit_concept_id=uid))
    for table, field, cid, sex in PLAUSIBLE_SEX:
        other = MALE if sex == FEMALE else FEMALE
        this = f"{col(field)} = {cid}"
        out.append(_check("plausibleGender", "Atemporal", table, field,
                          f"rows of concept {cid} for persons of the other sex", 5.0,
                          numerator=count_if(f"{this} AND pd.gender_concept_id = {other}"),
                          denominator=count_if(this), columns=(field, "person_id"),
                          tables=("person",), person_facts=True, concept_id=cid,
                          context=VALIDATION))
    return out


def plausibility_checks(d: SqlDialect, today: dt.date) -> list[Check]:
    return [*value_ranges(d, today), *life_checks(d), *order_checks(d), *concept_checks()]
