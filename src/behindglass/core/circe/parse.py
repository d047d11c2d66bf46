"""Read Circe cohort JSON (as ATLAS and CohortGenerator write it) into the model.

Keys are matched without regard to case (ATLAS mixes ``CodesetId`` and ``codesetId``
across versions); a JSON null means "not set". Every error names the path of the bad
value, e.g. ``InclusionRules[1].expression.CriteriaList[0].Criteria.DrugEra.GapDays``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar, cast

from behindglass.core.circe.catalog import DOMAINS, UNSUPPORTED
from behindglass.core.circe.model import (
    AttrValue,
    CodesetIn,
    CohortExpression,
    ConceptSet,
    ConceptSetItem,
    CorrelatedCriterion,
    CriteriaGroup,
    Criterion,
    CustomEraEnd,
    DateAdjustment,
    DateOffsetEnd,
    DateRange,
    DemographicCriterion,
    InclusionRule,
    NumericRange,
    Occurrence,
    Period,
    TextFilter,
    Window,
    WindowBound,
)
from behindglass.core.errors import SpecError

T = TypeVar("T")
_OPS = {"lt", "lte", "eq", "!eq", "gt", "gte", "bt", "!bt"}
_TEXT_OPS = {"eq", "!eq", "startsWith", "endsWith", "contains", "!contains"}
_LIMITS = {"first": "First", "all": "All", "last": "Last"}
_GROUP_TYPES = {"ALL", "ANY", "AT_LEAST", "AT_MOST"}
_COUNT_COLUMNS = {"DOMAIN_CONCEPT", "START_DATE", "END_DATE", "VISIT_ID", "DURATION"}


class _Obj:
    """A JSON object read case-insensitively, remembering which keys were used."""

    def __init__(self, data: Any, where: str, known: set[str]) -> None:
        if not isinstance(data, Mapping):
            raise SpecError(f"{where}: expected an object, got {type(data).__name__}")
        self.where = where
        self._data = {str(k).lower(): (str(k), v) for k, v in data.items()}
        allowed = {k.lower() for k in known}
        for low, (key, value) in self._data.items():
            if low not in allowed and value is not None:
                raise SpecError(f"{where}.{key}: unknown or unsupported Circe field")

    def get(self, key: str) -> Any:
        return self._data.get(key.lower(), (key, None))[1]

    def at(self, key: str) -> str:
        return f"{self.where}.{self._data.get(key.lower(), (key, None))[0]}"


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise SpecError(f"{where}: expected a whole number, got {value!r}")
    return int(value)


def _bool(value: Any, where: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise SpecError(f"{where}: expected true or false, got {value!r}")
    return value


def _date(value: Any, where: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        raise SpecError(f"{where}: expected a date YYYY-MM-DD, got {value!r}") from None


def _opt(value: Any, fn: Callable[[Any, str], T], where: str) -> T | None:
    return None if value is None else fn(value, where)


def _limit(value: Any, where: str) -> str:
    if value is None:
        return "First"
    obj = _Obj(value, where, {"Type"})
    kind = str(obj.get("Type") or "First").lower()
    if kind not in _LIMITS:
        raise SpecError(f"{obj.at('Type')}: expected First, All or Last, got {obj.get('Type')!r}")
    return _LIMITS[kind]


def _concept_ids(value: Any, where: str) -> tuple[int, ...]:
    if not isinstance(value, list):
        raise SpecError(f"{where}: expected a list of concepts")
    ids = []
    for i, item in enumerate(value):
        obj = _Obj(item, f"{where}[{i}]", set(item) if isinstance(item, Mapping) else set())
        cid = obj.get("CONCEPT_ID")
        if cid is None:
            raise SpecError(f"{where}[{i}]: a concept needs CONCEPT_ID")
        ids.append(_int(cid, f"{where}[{i}].CONCEPT_ID"))
    return tuple(ids)


def _numeric(value: Any, where: str) -> NumericRange:
    obj = _Obj(value, where, {"Value", "Op", "Extent"})
    op = obj.get("Op")
    if op not in _OPS:
        raise SpecError(f"{obj.at('Op')}: expected one of {sorted(_OPS)}, got {op!r}")
    for key in ("Value", "Extent"):
        v = obj.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise SpecError(f"{obj.at(key)}: expected a number, got {v!r}")
    if obj.get("Value") is None:
        raise SpecError(f"{obj.at('Value')}: a range needs a value")
    if op.endswith("bt") and obj.get("Extent") is None:
        raise SpecError(f"{obj.at('Extent')}: a 'between' range needs an extent")
    extent = obj.get("Extent")
    return NumericRange(op=op, value=float(obj.get("Value")),
                        extent=None if extent is None else float(extent))


def _date_range(value: Any, where: str) -> DateRange:
    obj = _Obj(value, where, {"Value", "Op", "Extent"})
    op = obj.get("Op")
    if op not in _OPS:
        raise SpecError(f"{obj.at('Op')}: expected one of {sorted(_OPS)}, got {op!r}")
    if op.endswith("bt") and obj.get("Extent") is None:
        raise SpecError(f"{obj.at('Extent')}: a 'between' range needs an extent")
    return DateRange(op=op, value=_date(obj.get("Value"), obj.at("Value")),
                     extent=_opt(obj.get("Extent"), _date, obj.at("Extent")))


def _text(value: Any, where: str) -> TextFilter:
    if isinstance(value, str):
        return TextFilter(op="contains", text=value)
    obj = _Obj(value, where, {"Text", "Op"})
    op = obj.get("Op") or "contains"
    if op not in _TEXT_OPS:
        raise SpecError(f"{obj.at('Op')}: expected one of {sorted(_TEXT_OPS)}, got {op!r}")
    if not isinstance(obj.get("Text"), str):
        raise SpecError(f"{obj.at('Text')}: expected text")
    return TextFilter(op=op, text=obj.get("Text"))


def _codeset_in(value: Any, where: str) -> CodesetIn:
    obj = _Obj(value, where, {"CodesetId", "IsExclusion"})
    return CodesetIn(codeset_id=_int(obj.get("CodesetId"), obj.at("CodesetId")),
                     is_exclusion=_bool(obj.get("IsExclusion"), obj.at("IsExclusion")))


def _date_adjustment(value: Any, where: str) -> DateAdjustment:
    obj = _Obj(value, where, {"StartWith", "StartOffset", "EndWith", "EndOffset"})
    ends = {}
    for key in ("StartWith", "EndWith"):
        v = str(obj.get(key) or ("START_DATE" if key == "StartWith" else "END_DATE")).upper()
        if v not in ("START_DATE", "END_DATE"):
            raise SpecError(f"{obj.at(key)}: expected START_DATE or END_DATE, got {v!r}")
        ends[key] = v
    return DateAdjustment(
        start_with=cast(Any, ends["StartWith"]),
        start_offset=_int(obj.get("StartOffset") or 0, obj.at("StartOffset")),
        end_with=cast(Any, ends["EndWith"]),
        end_offset=_int(obj.get("EndOffset") or 0, obj.at("EndOffset")),
    )


def _period(value: Any, where: str) -> Period:
    obj = _Obj(value, where, {"StartDate", "EndDate"})
    return Period(start=_opt(obj.get("StartDate"), _date, obj.at("StartDate")),
                  end=_opt(obj.get("EndDate"), _date, obj.at("EndDate")))


def _attr(kind: str, value: Any, where: str) -> AttrValue | None:
    if kind in ("first", "flag", "exclude"):
        return _bool(value, where) or None
    if kind == "date":
        return _date_range(value, where)
    if kind in ("int", "decimal"):
        return _numeric(value, where)
    if kind == "concepts":
        return _concept_ids(value, where) or None
    if kind == "codeset_in":
        return _codeset_in(value, where)
    if kind == "source":
        return _int(value, where)
    if kind == "text":
        return _text(value, where)
    if kind == "date_adjustment":
        return _date_adjustment(value, where)
    if kind == "correlated":
        group = _group(value, where)
        return None if group.is_empty else group
    if kind == "period":
        return _period(value, where)
    raise AssertionError(kind)


def _criterion(value: Any, where: str) -> Criterion:
    if not isinstance(value, Mapping) or len([v for v in value.values() if v is not None]) != 1:
        raise SpecError(f"{where}: expected an object with exactly one criteria domain")
    domain, body = next((k, v) for k, v in value.items() if v is not None)
    if domain in UNSUPPORTED:
        raise SpecError(f"{where}.{domain}: not supported: {UNSUPPORTED[domain]}")
    if domain not in DOMAINS:
        raise SpecError(f"{where}.{domain}: unknown criteria domain; known: {sorted(DOMAINS)}")
    kinds = DOMAINS[domain]
    lower = {k.lower(): k for k in kinds}
    if not isinstance(body, Mapping):
        raise SpecError(f"{where}.{domain}: expected an object")
    attrs: list[tuple[str, AttrValue]] = []
    for key, raw in body.items():
        if raw is None:
            continue
        at = f"{where}.{domain}.{key}"
        name = lower.get(key.lower())
        if name is None:
            reason = UNSUPPORTED.get(key)
            if reason is not None and not (isinstance(raw, list) and not raw):
                raise SpecError(f"{at}: not supported: {reason}")
            if reason is not None:
                continue
            raise SpecError(f"{at}: unknown attribute of {domain}")
        parsed = _attr(kinds[name], raw, at)
        if parsed is not None:
            attrs.append((name, parsed))
    return Criterion(domain=domain, attrs=tuple(attrs))


def _window(value: Any, where: str) -> Window | None:
    if value is None:
        return None
    obj = _Obj(value, where, {"Start", "End", "UseIndexEnd", "UseEventEnd"})
    bounds = []
    for key in ("Start", "End"):
        b = _Obj(obj.get(key) or {}, obj.at(key), {"Days", "Coeff"})
        coeff = _int(b.get("Coeff") if b.get("Coeff") is not None else 1, b.at("Coeff"))
        if coeff not in (-1, 1):
            raise SpecError(f"{b.at('Coeff')}: expected -1 (before) or 1 (after), got {coeff}")
        bounds.append(WindowBound(days=_opt(b.get("Days"), _int, b.at("Days")), coeff=coeff))
    return Window(start=bounds[0], end=bounds[1],
                  use_index_end=_bool(obj.get("UseIndexEnd"), obj.at("UseIndexEnd")),
                  use_event_end=_bool(obj.get("UseEventEnd"), obj.at("UseEventEnd")))


def _end_window(value: Any, where: str) -> Window | None:
    window = _window(value, where)
    if window is None:
        return None
    # Circe's end window compares the event's end date unless told otherwise (null = true)
    raw = _Obj(value, where, {"Start", "End", "UseIndexEnd", "UseEventEnd"}).get("UseEventEnd")
    return Window(start=window.start, end=window.end, use_index_end=window.use_index_end,
                  use_event_end=True if raw is None else bool(raw))


def _occurrence(value: Any, where: str) -> Occurrence:
    if value is None:
        return Occurrence(type=2, count=1)
    obj = _Obj(value, where, {"Type", "Count", "IsDistinct", "CountColumn"})
    kind = _int(obj.get("Type"), obj.at("Type"))
    if kind not in (0, 1, 2):
        raise SpecError(f"{obj.at('Type')}: expected 0 (exactly), 1 (at most) or 2 (at least)")
    count = _int(obj.get("Count"), obj.at("Count"))
    if count < 0:
        raise SpecError(f"{obj.at('Count')}: must not be negative")
    column = obj.get("CountColumn")
    if column is not None and column not in _COUNT_COLUMNS:
        raise SpecError(f"{obj.at('CountColumn')}: expected one of {sorted(_COUNT_COLUMNS)}")
    return Occurrence(type=cast(Any, kind), count=count,
                      is_distinct=_bool(obj.get("IsDistinct"), obj.at("IsDistinct")),
                      count_column=column)


def _correlated(value: Any, where: str) -> CorrelatedCriterion:
    obj = _Obj(value, where, {"Criteria", "StartWindow", "EndWindow", "RestrictVisit",
                              "IgnoreObservationPeriod", "Occurrence"})
    return CorrelatedCriterion(
        criterion=_criterion(obj.get("Criteria"), obj.at("Criteria")),
        start_window=_window(obj.get("StartWindow"), obj.at("StartWindow")),
        end_window=_end_window(obj.get("EndWindow"), obj.at("EndWindow")),
        restrict_visit=_bool(obj.get("RestrictVisit"), obj.at("RestrictVisit")),
        ignore_observation_period=_bool(obj.get("IgnoreObservationPeriod"),
                                        obj.at("IgnoreObservationPeriod")),
        occurrence=_occurrence(obj.get("Occurrence"), obj.at("Occurrence")),
    )


def _demographic(value: Any, where: str) -> DemographicCriterion:
    obj = _Obj(value, where, {"Age", "Gender", "GenderCS", "Race", "RaceCS", "Ethnicity",
                              "EthnicityCS", "OccurrenceStartDate", "OccurrenceEndDate"})
    return DemographicCriterion(
        age=_opt(obj.get("Age"), _numeric, obj.at("Age")),
        gender=_opt(obj.get("Gender"), _concept_ids, obj.at("Gender")) or (),
        gender_cs=_opt(obj.get("GenderCS"), _codeset_in, obj.at("GenderCS")),
        race=_opt(obj.get("Race"), _concept_ids, obj.at("Race")) or (),
        race_cs=_opt(obj.get("RaceCS"), _codeset_in, obj.at("RaceCS")),
        ethnicity=_opt(obj.get("Ethnicity"), _concept_ids, obj.at("Ethnicity")) or (),
        ethnicity_cs=_opt(obj.get("EthnicityCS"), _codeset_in, obj.at("EthnicityCS")),
        occurrence_start_date=_opt(obj.get("OccurrenceStartDate"), _date_range,
                                   obj.at("OccurrenceStartDate")),
        occurrence_end_date=_opt(obj.get("OccurrenceEndDate"), _date_range,
                                 obj.at("OccurrenceEndDate")),
    )


def _list(value: Any, where: str, fn: Callable[[Any, str], T]) -> tuple[T, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise SpecError(f"{where}: expected a list")
    return tuple(fn(item, f"{where}[{i}]") for i, item in enumerate(value))


def _group(value: Any, where: str) -> CriteriaGroup:
    obj = _Obj(value, where, {"Type", "Count", "CriteriaList", "DemographicCriteriaList",
                              "Groups"})
    kind = str(obj.get("Type") or "ALL").upper()
    if kind not in _GROUP_TYPES:
        raise SpecError(f"{obj.at('Type')}: expected one of {sorted(_GROUP_TYPES)}, got {kind!r}")
    count = _opt(obj.get("Count"), _int, obj.at("Count"))
    if kind.startswith("AT_") and count is None:
        raise SpecError(f"{obj.at('Count')}: a {kind} group needs a count")
    return CriteriaGroup(
        type=cast(Any, kind), count=count,
        criteria=_list(obj.get("CriteriaList"), obj.at("CriteriaList"), _correlated),
        demographics=_list(obj.get("DemographicCriteriaList"),
                           obj.at("DemographicCriteriaList"), _demographic),
        groups=_list(obj.get("Groups"), obj.at("Groups"), _group),
    )


def _concept_set(value: Any, where: str) -> ConceptSet:
    obj = _Obj(value, where, {"id", "name", "expression"})
    expression = _Obj(obj.get("expression") or {"items": []}, obj.at("expression"), {"items"})
    items = []
    for i, raw in enumerate(expression.get("items") or []):
        at = f"{expression.at('items')}[{i}]"
        item = _Obj(raw, at, {"concept", "isExcluded", "includeDescendants", "includeMapped"})
        concept = item.get("concept")
        if not isinstance(concept, Mapping):
            raise SpecError(f"{at}.concept: expected a concept object")
        cid = _Obj(concept, f"{at}.concept", set(concept)).get("CONCEPT_ID")
        items.append(ConceptSetItem(
            concept_id=_int(cid, f"{at}.concept.CONCEPT_ID"),
            is_excluded=_bool(item.get("isExcluded"), item.at("isExcluded")),
            include_descendants=_bool(item.get("includeDescendants"),
                                      item.at("includeDescendants")),
            include_mapped=_bool(item.get("includeMapped"), item.at("includeMapped")),
        ))
    return ConceptSet(id=_int(obj.get("id"), obj.at("id")), name=str(obj.get("name") or ""),
                      items=tuple(items))


def _end_strategy(value: Any, where: str) -> DateOffsetEnd | CustomEraEnd | None:
    if value is None:
        return None
    obj = _Obj(value, where, {"DateOffset", "CustomEra"})
    if obj.get("DateOffset") is not None:
        d = _Obj(obj.get("DateOffset"), obj.at("DateOffset"), {"DateField", "Offset"})
        field = d.get("DateField")
        if field not in ("StartDate", "EndDate"):
            raise SpecError(f"{d.at('DateField')}: expected StartDate or EndDate, got {field!r}")
        return DateOffsetEnd(date_field=field, offset=_int(d.get("Offset") or 0, d.at("Offset")))
    if obj.get("CustomEra") is not None:
        c = _Obj(obj.get("CustomEra"), obj.at("CustomEra"),
                 {"DrugCodesetId", "GapDays", "Offset", "DaysSupplyOverride"})
        return CustomEraEnd(
            drug_codeset_id=_int(c.get("DrugCodesetId"), c.at("DrugCodesetId")),
            gap_days=_int(c.get("GapDays") or 0, c.at("GapDays")),
            offset=_int(c.get("Offset") or 0, c.at("Offset")),
            days_supply_override=_opt(c.get("DaysSupplyOverride"), _int,
                                      c.at("DaysSupplyOverride")),
        )
    return None


def _rule(value: Any, where: str) -> InclusionRule:
    obj = _Obj(value, where, {"name", "description", "expression"})
    return InclusionRule(name=str(obj.get("name") or ""), description=obj.get("description"),
                         expression=_group(obj.get("expression") or {}, obj.at("expression")))


_TOP = {"ConceptSets", "PrimaryCriteria", "AdditionalCriteria", "QualifiedLimit",
        "ExpressionLimit", "InclusionRules", "EndStrategy", "CensoringCriteria",
        "CollapseSettings", "CensorWindow", "cdmVersionRange", "Title"}


def parse_circe(data: Mapping[str, Any] | str, where: str = "cohort") -> CohortExpression:
    """Parse a Circe cohort expression (a dict or its JSON text)."""
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise SpecError(f"{where}: not valid JSON: {exc}") from None
    obj = _Obj(data, where, _TOP)
    primary = _Obj(obj.get("PrimaryCriteria"), obj.at("PrimaryCriteria"),
                   {"CriteriaList", "ObservationWindow", "PrimaryCriteriaLimit"})
    criteria = _list(primary.get("CriteriaList"), primary.at("CriteriaList"), _criterion)
    if not criteria:
        raise SpecError(f"{primary.at('CriteriaList')}: a cohort needs at least one "
                        "primary criterion")
    window = _Obj(primary.get("ObservationWindow") or {}, primary.at("ObservationWindow"),
                  {"PriorDays", "PostDays"})
    collapse = _Obj(obj.get("CollapseSettings") or {}, obj.at("CollapseSettings"),
                    {"CollapseType", "EraPad"})
    additional = obj.get("AdditionalCriteria")
    expression = CohortExpression(
        concept_sets=_list(obj.get("ConceptSets"), obj.at("ConceptSets"), _concept_set),
        primary_criteria=criteria,
        prior_days=_int(window.get("PriorDays") or 0, window.at("PriorDays")),
        post_days=_int(window.get("PostDays") or 0, window.at("PostDays")),
        primary_limit=cast(Any, _limit(primary.get("PrimaryCriteriaLimit"),
                                       primary.at("PrimaryCriteriaLimit"))),
        additional_criteria=None if additional is None else _group(
            additional, obj.at("AdditionalCriteria")),
        qualified_limit=cast(Any, _limit(obj.get("QualifiedLimit"), obj.at("QualifiedLimit"))),
        expression_limit=cast(Any, _limit(obj.get("ExpressionLimit"),
                                          obj.at("ExpressionLimit"))),
        inclusion_rules=_list(obj.get("InclusionRules"), obj.at("InclusionRules"), _rule),
        end_strategy=_end_strategy(obj.get("EndStrategy"), obj.at("EndStrategy")),
        censoring_criteria=_list(obj.get("CensoringCriteria"), obj.at("CensoringCriteria"),
                                 _criterion),
        censor_window=_period(obj.get("CensorWindow") or {}, obj.at("CensorWindow")),
        era_pad=_int(collapse.get("EraPad") or 0, collapse.at("EraPad")),
        title=obj.get("Title"),
    )
    if collapse.get("CollapseType") not in (None, "ERA"):
        raise SpecError(f"{collapse.at('CollapseType')}: only ERA collapse is defined by Circe")
    if expression.era_pad < 0:
        raise SpecError(f"{collapse.at('EraPad')}: must not be negative")
    return expression


def read_json(path: str | Path) -> Any:
    """The JSON of a definition file; SpecError naming the file if unreadable."""
    p = Path(path)
    try:
        return json.loads(p.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise SpecError(f"{p}: cannot read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise SpecError(f"{p}: not valid JSON: {exc}") from None


def load_circe(path: str | Path) -> CohortExpression:
    """Read one Circe cohort definition file."""
    return parse_circe(read_json(path), where=Path(path).name)


def load_definitions(path: str | Path) -> list[tuple[int | None, str, CohortExpression]]:
    """One definition, or a CohortGenerator definition set (a JSON list of objects with
    ``cohortId``, ``cohortName`` and ``json``, the expression as text): ``(id, name,
    expression)`` for each."""
    p = Path(path)
    data = read_json(p)
    if isinstance(data, Mapping):
        return [(None, p.stem, parse_circe(data, where=p.name))]
    if not isinstance(data, list):
        raise SpecError(f"{p}: expected a cohort definition or a list of them")
    out: list[tuple[int | None, str, CohortExpression]] = []
    for i, item in enumerate(data):
        where = f"{p.name}[{i}]"
        entry = _Obj(item, where, {"cohortId", "cohortName", "json", "sql", "expression"})
        body = entry.get("json") if entry.get("json") is not None else entry.get("expression")
        if body is None:
            raise SpecError(f"{where}: a definition set entry needs 'json'")
        cid = _opt(entry.get("cohortId"), _int, entry.at("cohortId"))
        out.append((cid, str(entry.get("cohortName") or f"cohort {i + 1}"),
                    parse_circe(body, where=f"{where}.json")))
    return out
