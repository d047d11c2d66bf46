"""Circe definitions we cannot run faithfully are refused, naming the JSON path of the bad
value; nothing is silently dropped."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from behindglass.core.circe.parse import parse_circe
from behindglass.core.errors import SpecError
from tests.spec import circe_builder as cb
from tests.spec.circe_builder import cohort, concept_set, correlated, group, num, window

SETS = [concept_set(1, 100)]
PRIMARY = "cohort.PrimaryCriteria.CriteriaList[0]"


def refused(definition: dict[str, Any] | str, path: str, reason: str = "") -> None:
    with pytest.raises(SpecError, match=re.escape(path) + ".*" + reason):
        parse_circe(definition)


def with_rule(cc: dict[str, Any]) -> dict[str, Any]:
    return cohort(cb.condition(1), concept_sets=SETS,
                  rules=[cb.rule("ok", group("ALL")), cb.rule("bad", group("ALL", cc))])


RULE_CC = "cohort.InclusionRules[1].expression.CriteriaList[0]"

CASES: list[tuple[str, dict[str, Any] | str, str, str]] = [
    ("unknown attribute", cohort(cb.condition(1, Colour="red"), concept_sets=SETS),
     f"{PRIMARY}.ConditionOccurrence.Colour", "unknown attribute"),
    ("attribute of another domain", cohort(cb.condition(1, DaysSupply=num("gt", 1))),
     f"{PRIMARY}.ConditionOccurrence.DaysSupply", "unknown attribute"),
    ("unknown domain", cohort({"Bogus": {"CodesetId": 1}}), f"{PRIMARY}.Bogus",
     "unknown criteria domain"),
    ("location region", cohort({"LocationRegion": {"CodesetId": 1}}),
     f"{PRIMARY}.LocationRegion", "not supported"),
    ("unsupported attribute", cohort(cb.drug(1, EffectiveDrugDose=num("gt", 1))),
     f"{PRIMARY}.DrugExposure.EffectiveDrugDose", "not supported"),
    ("bad op", cohort(cb.condition(1, Age=num("between", 1, 2))),
     f"{PRIMARY}.ConditionOccurrence.Age.Op", "expected one of"),
    ("missing extent", cohort(cb.condition(1, Age=num("bt", 1))),
     f"{PRIMARY}.ConditionOccurrence.Age.Extent", "needs an extent"),
    ("missing date extent", cohort(cb.condition(1, OccurrenceStartDate=cb.dates(
        "!bt", "2010-01-01"))), f"{PRIMARY}.ConditionOccurrence.OccurrenceStartDate.Extent",
     "needs an extent"),
    ("bad date", cohort(cb.condition(1, OccurrenceStartDate=cb.dates("gt", "2010-13-45"))),
     f"{PRIMARY}.ConditionOccurrence.OccurrenceStartDate.Value", "expected a date"),
    ("bad censor date", cohort(cb.condition(1), censor_start="soon"),
     "cohort.CensorWindow.StartDate", "expected a date"),
    ("number as text", cohort(cb.condition(1, Age=num("gt", "40"))),  # type: ignore[arg-type]
     f"{PRIMARY}.ConditionOccurrence.Age.Value", "expected a number"),
    ("bad text op", cohort(cb.condition(1, StopReason=cb.text("like", "x"))),
     f"{PRIMARY}.ConditionOccurrence.StopReason.Op", "expected one of"),
    ("nested path", with_rule(correlated(cb.drug_era(1, GapDays=num("gt", "x")))),  # type: ignore[arg-type]
     f"{RULE_CC}.Criteria.DrugEra.GapDays.Value", "expected a number"),
    ("bad occurrence type", with_rule(correlated(cb.drug(1), occ=cb.occurrence(3, 1))),
     f"{RULE_CC}.Occurrence.Type", "expected 0"),
    ("negative count", with_rule(correlated(cb.drug(1), occ=cb.at_least(-1))),
     f"{RULE_CC}.Occurrence.Count", "must not be negative"),
    ("bad count column", with_rule(correlated(cb.drug(1), occ=cb.at_least(
        2, distinct=True, column="COLOUR"))), f"{RULE_CC}.Occurrence.CountColumn",
     "expected one of"),
    ("bad coeff", with_rule(correlated(cb.drug(1), window(cb.bound(5, 2), 0))),
     f"{RULE_CC}.StartWindow.Start.Coeff", "expected -1"),
    ("group without count", cohort(cb.condition(1), additional={"Type": "AT_LEAST"}),
     "cohort.AdditionalCriteria.Count", "needs a count"),
    ("bad group type", cohort(cb.condition(1), additional={"Type": "SOME"}),
     "cohort.AdditionalCriteria.Type", "expected one of"),
    ("bad limit", cohort(cb.condition(1), limit="Middle"),
     "cohort.PrimaryCriteria.PrimaryCriteriaLimit.Type", "expected First, All or Last"),
    ("bad date field", cohort(cb.condition(1), end=cb.date_offset("MidDate", 1)),
     "cohort.EndStrategy.DateOffset.DateField", "expected StartDate or EndDate"),
    ("bad collapse", {**cohort(cb.condition(1)), "CollapseSettings": {"CollapseType": "X"}},
     "cohort.CollapseSettings.CollapseType", "only ERA"),
    ("negative era pad", cohort(cb.condition(1), era_pad=-1),
     "cohort.CollapseSettings.EraPad", "must not be negative"),
    ("unknown top-level key", {**cohort(cb.condition(1)), "Extra": 1}, "cohort.Extra",
     "unknown or unsupported"),
    ("no primary criteria", cohort(), "cohort.PrimaryCriteria.CriteriaList",
     "at least one primary criterion"),
    ("two domains in one criterion", cohort({**cb.condition(1), **cb.drug(1)}), PRIMARY,
     "exactly one criteria domain"),
    ("bad concept set item", cohort(cb.condition(1), concept_sets=[
        {"id": 1, "name": "x", "expression": {"items": [{"concept": 5}]}}]),
     "cohort.ConceptSets[0].expression.items[0].concept", "expected a concept object"),
    ("bad json", "{not json", "cohort", "not valid JSON"),
]


@pytest.mark.parametrize(("definition", "path", "reason"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refused_with_path(definition: dict[str, Any] | str, path: str, reason: str) -> None:
    refused(definition, path, reason)


def test_null_values_mean_not_set() -> None:
    definition = cohort(cb.condition(1, Age=None, LocationRegion=None), concept_sets=SETS)
    parsed = parse_circe(definition)
    assert parsed.primary_criteria[0].attrs == (("CodesetId", 1),)


def test_keys_match_regardless_of_case_and_text_input() -> None:
    definition = cohort(cb.condition(1), concept_sets=SETS)
    definition["PrimaryCriteria"]["CriteriaList"][0] = {
        "ConditionOccurrence": {"codesetId": 1, "first": True}}
    parsed = parse_circe(json.dumps(definition))
    assert dict(parsed.primary_criteria[0].attrs) == {"CodesetId": 1, "First": True}


EXAMPLES = Path("/work/shared/data/ohdsi-cohort-definitions/bookofohdsi-aceivsthz")


@pytest.mark.skipif(not EXAMPLES.is_dir(), reason="example ATLAS definitions not present")
def test_atlas_exports_parse() -> None:
    paths = sorted(EXAMPLES.glob("*.json"))
    assert paths
    for path in paths:
        assert parse_circe(path.read_text(encoding="utf-8")).primary_criteria, path.name
