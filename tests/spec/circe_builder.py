"""Build Circe cohort JSON in the shape ATLAS exports, and tiny CDM rows to run it on.

Definitions are plain dicts, exactly what ATLAS writes (``ConceptSets``, ``PrimaryCriteria``,
``InclusionRules``, ...), so the spec tests exercise the same parser a user's file goes
through. ``run`` parses and generates a definition on a backend and returns its cohort rows
as ``(subject_id, "start", "end")`` tuples.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from behindglass.core.circe.parse import parse_circe
from behindglass.engine.backend import Backend
from behindglass.engine.circe.generate import CohortGeneration, generate_cohort

Json = dict[str, Any]
Row = dict[str, Any]
CohortRow = tuple[int, str, str]

MALE, FEMALE = 8507, 8532


# --------------------------------------------------------------------------- concept sets

def item(concept_id: int, *, descendants: bool = False, excluded: bool = False,
         mapped: bool = False) -> Json:
    """One concept set item as ATLAS writes it (with the concept's display fields)."""
    return {
        "concept": {"CONCEPT_ID": concept_id, "CONCEPT_NAME": f"concept {concept_id}",
                    "STANDARD_CONCEPT": "S", "INVALID_REASON": "V",
                    "CONCEPT_CODE": str(concept_id), "DOMAIN_ID": "Condition",
                    "VOCABULARY_ID": "SNOMED", "CONCEPT_CLASS_ID": "Clinical Finding"},
        "isExcluded": excluded, "includeDescendants": descendants, "includeMapped": mapped,
    }


def concept_set(codeset_id: int, *items: int | Json, name: str | None = None) -> Json:
    """A concept set; bare ints are plain items (no descendants, not excluded)."""
    return {"id": codeset_id, "name": name or f"set {codeset_id}",
            "expression": {"items": [item(i) if isinstance(i, int) else i for i in items]}}


# --------------------------------------------------------------------------- values

def num(op: str, value: float, extent: float | None = None) -> Json:
    """A NumericRange: ``num("gt", 5)``, ``num("bt", 1, 3)``."""
    out: Json = {"Value": value, "Op": op}
    if extent is not None:
        out["Extent"] = extent
    return out


def dates(op: str, value: str, extent: str | None = None) -> Json:
    """A DateRange: ``dates("bt", "2010-01-01", "2010-12-31")``."""
    out: Json = {"Value": value, "Op": op}
    if extent is not None:
        out["Extent"] = extent
    return out


def text(op: str, value: str) -> Json:
    return {"Text": value, "Op": op}


def concepts(*ids: int) -> list[Json]:
    """A concept list attribute (``ConditionType``, ``Gender``, ...)."""
    return [{"CONCEPT_ID": i, "CONCEPT_NAME": f"concept {i}"} for i in ids]


def codeset_in(codeset_id: int, exclusion: bool = False) -> Json:
    return {"CodesetId": codeset_id, "IsExclusion": exclusion}


def date_adjustment(start_with: str = "START_DATE", start_offset: int = 0,
                    end_with: str = "END_DATE", end_offset: int = 0) -> Json:
    return {"StartWith": start_with, "StartOffset": start_offset,
            "EndWith": end_with, "EndOffset": end_offset}


# --------------------------------------------------------------------------- criteria

def criterion(domain: str, codeset: int | None = None, **attrs: Any) -> Json:
    """``{domain: {CodesetId, **attrs}}``; attributes keep Circe's names."""
    body: Json = {}
    if codeset is not None:
        body["CodesetId"] = codeset
    body.update(attrs)
    return {domain: body}


def condition(codeset: int | None = None, **attrs: Any) -> Json:
    return criterion("ConditionOccurrence", codeset, **attrs)


def condition_era(codeset: int | None = None, **attrs: Any) -> Json:
    return criterion("ConditionEra", codeset, **attrs)


def drug(codeset: int | None = None, **attrs: Any) -> Json:
    return criterion("DrugExposure", codeset, **attrs)


def drug_era(codeset: int | None = None, **attrs: Any) -> Json:
    return criterion("DrugEra", codeset, **attrs)


def dose_era(codeset: int | None = None, **attrs: Any) -> Json:
    return criterion("DoseEra", codeset, **attrs)


def procedure(codeset: int | None = None, **attrs: Any) -> Json:
    return criterion("ProcedureOccurrence", codeset, **attrs)


def measurement(codeset: int | None = None, **attrs: Any) -> Json:
    return criterion("Measurement", codeset, **attrs)


def observation(codeset: int | None = None, **attrs: Any) -> Json:
    return criterion("Observation", codeset, **attrs)


def visit(codeset: int | None = None, **attrs: Any) -> Json:
    return criterion("VisitOccurrence", codeset, **attrs)


def visit_detail(codeset: int | None = None, **attrs: Any) -> Json:
    return criterion("VisitDetail", codeset, **attrs)


def device(codeset: int | None = None, **attrs: Any) -> Json:
    return criterion("DeviceExposure", codeset, **attrs)


def specimen(codeset: int | None = None, **attrs: Any) -> Json:
    return criterion("Specimen", codeset, **attrs)


def death(codeset: int | None = None, **attrs: Any) -> Json:
    return criterion("Death", codeset, **attrs)


def obs_period(**attrs: Any) -> Json:
    return criterion("ObservationPeriod", None, **attrs)


def payer_plan(**attrs: Any) -> Json:
    return criterion("PayerPlanPeriod", None, **attrs)


# --------------------------------------------------------------------------- windows, groups

def bound(days: int | None, coeff: int) -> Json:
    return {"Days": days, "Coeff": coeff}


def _bound(value: int | Json | None, open_coeff: int) -> Json:
    if isinstance(value, dict):
        return value
    if value is None:
        return bound(None, open_coeff)
    return bound(abs(value), -1 if value < 0 else 1)


def window(start: int | Json | None, end: int | Json | None, *, index_end: bool = False,
           event_end: bool | None = None) -> Json:
    """A window in days from the index: negative before, positive after; ``None`` is open
    (all days before for the start, all days after for the end)."""
    out: Json = {"Start": _bound(start, -1), "End": _bound(end, 1),
                 "UseIndexEnd": index_end}
    if event_end is not None:
        out["UseEventEnd"] = event_end
    return out


def occurrence(kind: int, count: int, *, distinct: bool = False,
               column: str | None = None) -> Json:
    out: Json = {"Type": kind, "Count": count, "IsDistinct": distinct}
    if column is not None:
        out["CountColumn"] = column
    return out


def exactly(count: int, **kw: Any) -> Json:
    return occurrence(0, count, **kw)


def at_most(count: int, **kw: Any) -> Json:
    return occurrence(1, count, **kw)


def at_least(count: int, **kw: Any) -> Json:
    return occurrence(2, count, **kw)


def correlated(criteria: Json, start: Json | None = None, end: Json | None = None, *,
               occ: Json | None = None, restrict_visit: bool = False,
               ignore_op: bool = False) -> Json:
    """A correlated criterion; the start window defaults to all time (as ATLAS's default
    'any time before .. any time after')."""
    return {
        "Criteria": criteria,
        "StartWindow": start if start is not None else window(None, None),
        "EndWindow": end,
        "RestrictVisit": restrict_visit,
        "IgnoreObservationPeriod": ignore_op,
        "Occurrence": occ if occ is not None else at_least(1),
    }


def demographic(**attrs: Any) -> Json:
    """A demographic criterion (``Age``, ``Gender``, ``OccurrenceStartDate``, ...)."""
    return dict(attrs)


def group(kind: str = "ALL", *members: Json, count: int | None = None) -> Json:
    """A criteria group; ``members`` are correlated criteria (with ``Criteria``), groups
    (with ``CriteriaList``) or demographic criteria (anything else), sorted into place."""
    out: Json = {"Type": kind, "CriteriaList": [], "DemographicCriteriaList": [],
                 "Groups": []}
    if count is not None:
        out["Count"] = count
    for m in members:
        if "Criteria" in m:
            out["CriteriaList"].append(m)
        elif "CriteriaList" in m:
            out["Groups"].append(m)
        else:
            out["DemographicCriteriaList"].append(m)
    return out


def rule(name: str, expression: Json, description: str | None = None) -> Json:
    return {"name": name, "description": description, "expression": expression}


def date_offset(field: str = "StartDate", offset: int = 0) -> Json:
    return {"DateOffset": {"DateField": field, "Offset": offset}}


def custom_era(codeset: int, gap: int = 0, offset: int = 0,
               days_supply: int | None = None) -> Json:
    return {"CustomEra": {"DrugCodesetId": codeset, "GapDays": gap, "Offset": offset,
                          "DaysSupplyOverride": days_supply}}


def cohort(*primary: Json, concept_sets: Sequence[Json] = (), prior: int = 0, post: int = 0,
           limit: str = "First", additional: Json | None = None,
           qualified_limit: str = "First", rules: Sequence[Json] = (),
           expression_limit: str = "First", end: Json | None = None,
           censoring: Sequence[Json] = (), censor_start: str | None = None,
           censor_end: str | None = None, era_pad: int = 0) -> Json:
    """A whole cohort definition, with every top-level key ATLAS writes."""
    return {
        "ConceptSets": list(concept_sets),
        "PrimaryCriteria": {
            "CriteriaList": list(primary),
            "ObservationWindow": {"PriorDays": prior, "PostDays": post},
            "PrimaryCriteriaLimit": {"Type": limit},
        },
        "AdditionalCriteria": additional,
        "QualifiedLimit": {"Type": qualified_limit},
        "ExpressionLimit": {"Type": expression_limit},
        "InclusionRules": list(rules),
        "EndStrategy": end,
        "CensoringCriteria": list(censoring),
        "CollapseSettings": {"CollapseType": "ERA", "EraPad": era_pad},
        "CensorWindow": {"StartDate": censor_start, "EndDate": censor_end},
        "cdmVersionRange": ">=5.0.0",
    }


# --------------------------------------------------------------------------- tiny CDM rows

def person(pid: int, sex: int = MALE, yob: int = 1970, race: int = 0,
           ethnicity: int = 0) -> Row:
    return {"person_id": pid, "gender_concept_id": sex, "year_of_birth": yob,
            "race_concept_id": race, "ethnicity_concept_id": ethnicity}


def op(pid: int, start: str = "2000-01-01", end: str = "2020-12-31",
       period_id: int | None = None, type_concept: int = 44814724) -> Row:
    """An observation period (its id defaults to the person's)."""
    return {"observation_period_id": period_id if period_id is not None else pid,
            "person_id": pid, "observation_period_start_date": start,
            "observation_period_end_date": end, "period_type_concept_id": type_concept}


def vocab(*ids: int, invalid: Iterable[int] = ()) -> list[Row]:
    """Concept rows for ``ids`` (concept sets only resolve concepts the site knows)."""
    bad = set(invalid)
    return [{"concept_id": i, "concept_name": f"concept {i}", "domain_id": "Condition",
             "vocabulary_id": "SNOMED", "concept_class_id": "Clinical Finding",
             "standard_concept": None if i in bad else "S", "concept_code": str(i),
             "valid_start_date": "1970-01-01", "valid_end_date": "2099-12-31",
             "invalid_reason": "D" if i in bad else None} for i in ids]


def ancestry(*pairs: tuple[int, int]) -> list[Row]:
    """concept_ancestor rows for (ancestor, descendant) pairs, plus each concept's own
    zero-level row as the OHDSI vocabulary has them."""
    rows: list[Row] = []
    seen: set[tuple[int, int]] = set()
    for a, d in pairs:
        for pair, level in (((a, a), 0), ((d, d), 0), ((a, d), 1)):
            if pair not in seen:
                seen.add(pair)
                rows.append({"ancestor_concept_id": pair[0], "descendant_concept_id": pair[1],
                             "min_levels_of_separation": level,
                             "max_levels_of_separation": level})
    return rows


def maps_to(source: int, standard: int) -> Row:
    return {"concept_id_1": source, "concept_id_2": standard, "relationship_id": "Maps to",
            "valid_start_date": "1970-01-01", "valid_end_date": "2099-12-31",
            "invalid_reason": None}


def cond_row(rid: int, pid: int, concept: int, start: str, end: str | None = None,
             **extra: Any) -> Row:
    return {"condition_occurrence_id": rid, "person_id": pid, "condition_concept_id": concept,
            "condition_start_date": start, "condition_end_date": end,
            "condition_type_concept_id": 32020, **extra}


def drug_row(rid: int, pid: int, concept: int, start: str, end: str | None = None,
             days_supply: int | None = None, **extra: Any) -> Row:
    return {"drug_exposure_id": rid, "person_id": pid, "drug_concept_id": concept,
            "drug_exposure_start_date": start, "drug_exposure_end_date": end,
            "days_supply": days_supply, "drug_type_concept_id": 32838, **extra}


def proc_row(rid: int, pid: int, concept: int, date: str, **extra: Any) -> Row:
    return {"procedure_occurrence_id": rid, "person_id": pid, "procedure_concept_id": concept,
            "procedure_date": date, "procedure_type_concept_id": 32817, **extra}


def meas_row(rid: int, pid: int, concept: int, date: str, **extra: Any) -> Row:
    return {"measurement_id": rid, "person_id": pid, "measurement_concept_id": concept,
            "measurement_date": date, "measurement_type_concept_id": 32856, **extra}


def obs_row(rid: int, pid: int, concept: int, date: str, **extra: Any) -> Row:
    return {"observation_id": rid, "person_id": pid, "observation_concept_id": concept,
            "observation_date": date, "observation_type_concept_id": 32817, **extra}


def visit_row(rid: int, pid: int, concept: int, start: str, end: str, **extra: Any) -> Row:
    return {"visit_occurrence_id": rid, "person_id": pid, "visit_concept_id": concept,
            "visit_start_date": start, "visit_end_date": end, "visit_type_concept_id": 32817,
            **extra}


def shift(date: str, days: int) -> str:
    return (dt.date.fromisoformat(date) + dt.timedelta(days=days)).isoformat()


# --------------------------------------------------------------------------- running

def generate(backend: Backend, definition: Mapping[str, Any], cohort_id: int = 1
             ) -> CohortGeneration:
    return generate_cohort(backend, parse_circe(dict(definition)), cohort_id)


def rows_of(backend: Backend, generation: CohortGeneration) -> list[CohortRow]:
    return [(int(s), str(a), str(b)) for s, a, b in backend.fetchall(
        "SELECT subject_id, cohort_start_date, cohort_end_date"
        f" FROM {generation.table} ORDER BY 1, 2, 3")]


def run(backend: Backend, definition: Mapping[str, Any], cohort_id: int = 1
        ) -> list[CohortRow]:
    """The cohort rows ``(subject_id, start, end)`` of ``definition``, sorted."""
    return rows_of(backend, generate(backend, definition, cohort_id))


def tiny(persons: Sequence[Row], periods: Sequence[Row] | None = None,
         concept_ids: Iterable[int] = (), **tables: Sequence[Row]) -> dict[str, list[Row]]:
    """A CDM of ``persons`` (each observed 2000-01-01..2020-12-31 unless ``periods`` says
    otherwise), the vocabulary rows of ``concept_ids``, and any other ``tables``."""
    out: dict[str, list[Row]] = {
        "person": list(persons),
        "observation_period": list(periods if periods is not None
                                   else [op(p["person_id"]) for p in persons]),
    }
    extra = list(tables.pop("concept", []))
    out["concept"] = vocab(*concept_ids) + extra
    for table, rows in tables.items():
        out[table] = list(rows)
    return out
