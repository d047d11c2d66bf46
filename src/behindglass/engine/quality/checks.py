"""The check catalog: one :class:`Check` per (check kind, table, field[, concept]),
generated from the CDM v5.4 specification rather than listed by hand.

A check counts violating rows. Most are an aggregate expression over the rows of one table
(alias ``t``; ``pd`` when it also reads the person's birth, death and sex), so the runner
evaluates every check of a table in one scan. Checks that need an anti-join run as their
own query returning ``(numerator, denominator)``. Three checks are answered from the
store's catalog instead of its rows: ``cdmTable``, ``cdmField`` and ``cdmDatatype``.

Names, categories and contexts follow OHDSI's DataQualityDashboard and the Kahn framework
(conformance / completeness / plausibility; verification / validation).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from behindglass.engine.dialect import SqlDialect
from behindglass.engine.quality.links import cdm_links
from behindglass.omop.schema import FieldSpec, TableSpec, cdm_tables, quote

VERIFICATION, VALIDATION = "Verification", "Validation"
CONFORMANCE, COMPLETENESS, PLAUSIBILITY = "Conformance", "Completeness", "Plausibility"
META_CHECKS = frozenset({"cdmTable", "cdmField", "cdmDatatype"})
# Tables whose rows belong to a person (the persons' events, eras and costs).
PERSON_CATEGORIES = frozenset({"clinical", "derived", "health_economics"})


@dataclass(frozen=True)
class Check:
    name: str  # DataQualityDashboard's name for the kind of check
    level: str  # "table", "field" or "concept"
    category: str
    subcategory: str  # "" for completeness
    context: str
    table: str
    field: str | None
    description: str
    default_threshold: float  # percent of violating rows tolerated
    numerator: str | None = None  # aggregate SQL over ``t`` (and ``pd``)
    denominator: str = "COUNT(*)"
    query: str | None = None  # a whole query returning one row: numerator, denominator
    columns: tuple[str, ...] = ()  # columns of ``table`` the SQL reads
    tables: tuple[str, ...] = ()  # other tables the SQL reads (absent -> not applicable)
    person_facts: bool = False  # reads ``pd`` (birth date, death date, sex of the person)
    concept_id: int | None = None
    unit_concept_id: int | None = None

    @property
    def check_id(self) -> str:
        parts = [self.name, self.table]
        if self.field:
            parts.append(self.field)
        if self.concept_id is not None:
            parts.append(str(self.concept_id))
        if self.unit_concept_id is not None:
            parts.append(str(self.unit_concept_id))
        return ".".join(parts)


def col(name: str) -> str:
    return f"t.{quote(name)}"


def count_if(predicate: str) -> str:
    return f"SUM(CASE WHEN {predicate} THEN 1 ELSE 0 END)"


def non_null(name: str) -> str:
    return count_if(f"{col(name)} IS NOT NULL")


def person_tables() -> list[TableSpec]:
    """Tables of person-level rows (those with a ``person_id``), except PERSON itself."""
    return [
        t for t in cdm_tables().values()
        if t.category in PERSON_CATEGORIES and "person_id" in t.columns and t.name != "person"
    ]


def _field(name: str, sub: str, cat: str, ctx: str, table: TableSpec, f: FieldSpec,
           text: str, threshold: float, numerator: str | None, *,
           denominator: str = "COUNT(*)", extra_columns: tuple[str, ...] = (),
           tables: tuple[str, ...] = ()) -> Check:
    return Check(name=name, level="field", category=cat, subcategory=sub, context=ctx,
                 table=table.name, field=f.name, description=text,
                 default_threshold=threshold, numerator=numerator, denominator=denominator,
                 columns=(f.name, *extra_columns), tables=tables)


def _concept_field_checks(table: TableSpec, f: FieldSpec) -> list[Check]:
    link = cdm_links().get((table.name, f.name))
    if link is None:
        return []
    c = col(f.name)
    out: list[Check] = []
    target = f"{quote(link.fk_table)}.{quote(link.fk_field)}"
    missing = f"{c} IS NOT NULL AND {c} NOT IN (SELECT {quote(link.fk_field)} FROM " \
              f"{quote(link.fk_table)} WHERE {quote(link.fk_field)} IS NOT NULL)"
    if link.is_concept:
        missing = f"{c} <> 0 AND {missing}"  # 0 is the CDM's "no matching concept"
    out.append(_field("isForeignKey", "Relational", CONFORMANCE, VERIFICATION, table, f,
                      f"values of {table.name}.{f.name} not found in {target}", 0.0,
                      count_if(missing), tables=(link.fk_table,)))
    if not link.is_concept:
        return out
    if link.domains:
        domains = ", ".join("'" + d.replace("'", "''") + "'" for d in link.domains)
        out.append(_field(
            "fkDomain", "Value", CONFORMANCE, VERIFICATION, table, f,
            f"concepts in {table.name}.{f.name} outside the {'/'.join(link.domains)} domain",
            0.0, count_if(f"{c} <> 0 AND {c} IN (SELECT concept_id FROM concept"
                          f" WHERE domain_id NOT IN ({domains}))"), tables=("concept",)))
    if link.concept_class:
        klass = link.concept_class.replace("'", "''")
        out.append(_field(
            "fkClass", "Computational", CONFORMANCE, VERIFICATION, table, f,
            f"concepts in {table.name}.{f.name} not of class {link.concept_class}", 0.0,
            count_if(f"{c} <> 0 AND {c} IN (SELECT concept_id FROM concept"
                     f" WHERE concept_class_id <> '{klass}')"), tables=("concept",)))
    if f.name.endswith("source_concept_id"):
        out.append(_field("sourceConceptRecordCompleteness", "", COMPLETENESS, VERIFICATION,
                          table, f, f"rows with source concept 0 in {table.name}.{f.name}",
                          100.0, count_if(f"{c} = 0")))
    elif link.domains:  # a standard-concept field
        out.append(_field(
            "isStandardValidConcept", "Value", CONFORMANCE, VERIFICATION, table, f,
            f"rows whose {f.name} is not a standard, valid concept", 0.0,
            count_if(f"{c} <> 0 AND {c} NOT IN (SELECT concept_id FROM concept"
                     " WHERE standard_concept = 'S' AND invalid_reason IS NULL)"),
            tables=("concept",)))
        strict = f.name.endswith("type_concept_id") or f.name == "gender_concept_id"
        threshold = (0.0 if strict else 5.0) if f.required else 100.0
        out.append(_field("standardConceptRecordCompleteness", "", COMPLETENESS, VERIFICATION,
                          table, f, f"rows with concept 0 in {table.name}.{f.name}",
                          threshold, count_if(f"{c} = 0")))
    return out


def _source_value_check(table: TableSpec, f: FieldSpec) -> Check | None:
    if not f.name.endswith("_source_value"):
        return None
    paired = f.name[: -len("_source_value")] + "_concept_id"
    link = cdm_links().get((table.name, paired))
    if link is None or not link.is_concept:
        return None
    sv, concept = col(f.name), col(paired)
    threshold = 10.0 if table.field(paired).required else 100.0
    return _field("sourceValueCompleteness", "", COMPLETENESS, VERIFICATION, table, f,
                  f"distinct source values of {table.name}.{f.name} mapped to concept 0",
                  threshold, f"COUNT(DISTINCT CASE WHEN {concept} = 0 THEN {sv} END)",
                  denominator=f"COUNT(DISTINCT {sv})", extra_columns=(paired,))


def field_checks(table: TableSpec) -> list[Check]:
    """Conformance and completeness checks of every field of ``table``."""
    out: list[Check] = []
    for f in table.fields:
        c = col(f.name)
        out.append(_field("cdmField", "Relational", CONFORMANCE, VERIFICATION, table, f,
                          f"{table.name} has the column {f.name}", 0.0, None))
        if f.datatype in ("integer", "float", "date", "datetime"):
            out.append(_field("cdmDatatype", "Value", CONFORMANCE, VERIFICATION, table, f,
                              f"values of {table.name}.{f.name} that are not {f.datatype}",
                              0.0, None))
        if f.required:
            out.append(_field("isRequired", "Relational", CONFORMANCE, VALIDATION, table, f,
                              f"rows with no value in the required {table.name}.{f.name}",
                              0.0, count_if(f"{c} IS NULL")))
        if f.primary_key:
            q, t = quote(f.name), quote(table.name)
            dup = f"{c} IN (SELECT {q} FROM {t} GROUP BY {q} HAVING COUNT(*) > 1)"
            out.append(_field("isPrimaryKey", "Relational", CONFORMANCE, VERIFICATION, table,
                              f, f"rows sharing their {f.name} with another row", 0.0,
                              count_if(dup)))
        out.append(_field("measureValueCompleteness", "", COMPLETENESS, VERIFICATION, table, f,
                          f"rows with no value in {table.name}.{f.name}",
                          0.0 if f.required else 100.0, count_if(f"{c} IS NULL")))
        out.extend(_concept_field_checks(table, f))
        sv = _source_value_check(table, f)
        if sv is not None:
            out.append(sv)
    return out


def table_checks() -> list[Check]:
    """``cdmTable`` for every table; ``measurePersonCompleteness`` for person-level ones."""
    out = [
        Check(name="cdmTable", level="table", category=CONFORMANCE, subcategory="Relational",
              context=VERIFICATION, table=t.name, field=None,
              description=f"the store has the table {t.name}", default_threshold=0.0)
        for t in cdm_tables().values()
    ]
    for t in person_tables():
        if t.category != "clinical":
            continue
        threshold = {"observation_period": 0.0, "death": 100.0}.get(t.name, 95.0)
        query = (
            "SELECT COUNT(*), (SELECT COUNT(DISTINCT person_id) FROM person)"
            " FROM (SELECT DISTINCT person_id FROM person WHERE person_id IS NOT NULL) p"
            f" WHERE NOT EXISTS (SELECT 1 FROM {quote(t.name)} t"
            " WHERE t.person_id = p.person_id)"
        )
        out.append(Check(name="measurePersonCompleteness", level="table",
                         category=COMPLETENESS, subcategory="", context=VALIDATION,
                         table=t.name, field=None,
                         description=f"persons with no row in {t.name}",
                         default_threshold=threshold, query=query, columns=("person_id",),
                         tables=("person",)))
    return out


def catalog(dialect: SqlDialect, today: dt.date | None = None) -> list[Check]:
    """Every check, in a stable order: table checks, then each table's field checks, then
    plausibility (written for ``dialect``; ``today`` bounds dates from above)."""
    from behindglass.engine.quality.plausibility import plausibility_checks

    out = table_checks()
    for table in cdm_tables().values():
        out.extend(field_checks(table))
    out.extend(plausibility_checks(dialect, today or dt.date.today()))
    return out
