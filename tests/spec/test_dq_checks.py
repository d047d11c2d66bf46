"""Each family of data-quality checks fails on deliberately broken data and passes on the
clean case, on every engine."""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest

from behindglass.engine.backend import Backend
from behindglass.engine.quality import (
    ERROR,
    FAIL,
    NOT_APPLICABLE,
    PASS,
    CheckResult,
    Thresholds,
    profile_store,
    run_checks,
)
from tests.spec.cdm_builder import Rows

Build = Callable[[Rows], Backend]
TODAY = dt.date(2024, 1, 1)
TYPE = 32817  # EHR


def _concept(cid: int, name: str, domain: str, standard: str | None = "S",
             klass: str = "Clinical Finding") -> dict[str, Any]:
    return {"concept_id": cid, "concept_name": name, "domain_id": domain,
            "vocabulary_id": "SNOMED", "concept_class_id": klass, "concept_code": str(cid),
            "standard_concept": standard, "valid_start_date": "1970-01-01",
            "valid_end_date": "2099-12-31"}


def clean() -> dict[str, list[dict[str, Any]]]:
    """Two persons with consistent, plausible records."""
    return {
        "concept": [
            _concept(8507, "MALE", "Gender"), _concept(8532, "FEMALE", "Gender"),
            _concept(TYPE, "EHR", "Type Concept"), _concept(9202, "Outpatient", "Visit"),
            _concept(201826, "Type 2 diabetes", "Condition"),
            _concept(44819, "E11 (ICD10CM)", "Condition", standard=None),
            _concept(3025315, "Body weight", "Measurement"), _concept(9529, "kg", "Unit"),
            _concept(4275113, "Insertion of IUD", "Procedure"),
            _concept(1503297, "metformin", "Drug", klass="Ingredient"),
            _concept(40163924, "metformin 500 MG Oral Tablet", "Drug", klass="Clinical Drug"),
        ],
        "person": [
            {"person_id": 1, "gender_concept_id": 8507, "year_of_birth": 1970,
             "race_concept_id": 0, "ethnicity_concept_id": 0},
            {"person_id": 2, "gender_concept_id": 8532, "year_of_birth": 1980,
             "race_concept_id": 0, "ethnicity_concept_id": 0},
        ],
        "observation_period": [
            {"observation_period_id": 1, "person_id": 1, "period_type_concept_id": TYPE,
             "observation_period_start_date": "2010-01-01",
             "observation_period_end_date": "2020-12-31"},
            {"observation_period_id": 2, "person_id": 2, "period_type_concept_id": TYPE,
             "observation_period_start_date": "2012-01-01",
             "observation_period_end_date": "2020-12-31"},
        ],
        "visit_occurrence": [
            {"visit_occurrence_id": 1, "person_id": 1, "visit_concept_id": 9202,
             "visit_type_concept_id": TYPE, "visit_start_date": "2015-03-01",
             "visit_end_date": "2015-03-02"},
        ],
        "condition_occurrence": [
            {"condition_occurrence_id": 1, "person_id": 1, "condition_concept_id": 201826,
             "condition_type_concept_id": TYPE, "condition_start_date": "2015-03-01",
             "visit_occurrence_id": 1, "condition_source_value": "E11",
             "condition_source_concept_id": 44819},
            {"condition_occurrence_id": 2, "person_id": 2, "condition_concept_id": 201826,
             "condition_type_concept_id": TYPE, "condition_start_date": "2016-05-05",
             "condition_source_value": "E11", "condition_source_concept_id": 44819},
        ],
        "measurement": [
            {"measurement_id": 1, "person_id": 1, "measurement_concept_id": 3025315,
             "measurement_type_concept_id": TYPE, "measurement_date": "2015-03-01",
             "value_as_number": 80.0, "unit_concept_id": 9529},
        ],
        "procedure_occurrence": [
            {"procedure_occurrence_id": 1, "person_id": 2, "procedure_concept_id": 4275113,
             "procedure_type_concept_id": TYPE, "procedure_date": "2016-05-05"},
        ],
        "drug_era": [
            {"drug_era_id": 1, "person_id": 2, "drug_concept_id": 1503297,
             "drug_era_start_date": "2016-05-05", "drug_era_end_date": "2016-08-05",
             "drug_exposure_count": 2, "gap_days": 0},
        ],
    }


def run(backend: Backend, *names: str, **kw: Any) -> dict[str, CheckResult]:
    report = run_checks(backend, names=set(names), today=TODAY, **kw)
    return {r.check.check_id: r for r in report.results}


def broken(change: Callable[[dict[str, list[dict[str, Any]]]], None]) -> Rows:
    rows = copy.deepcopy(clean())
    change(rows)
    return rows


def assert_family(cdm: Build, check_id: str, change: Callable[[dict[str, Any]], None],
                  **kw: Any) -> CheckResult:
    """``check_id`` passes on the clean case and fails once ``change`` is applied."""
    name = check_id.split(".")[0]
    good = run(cdm(clean()), name, **kw)[check_id]
    assert good.status == PASS, good
    bad = run(cdm(broken(change)), name, **kw)[check_id]
    assert bad.status == FAIL, bad
    assert bad.num_violated and bad.num_violated > 0
    return bad


def _set(table: str, index: int, **values: Any) -> Callable[[dict[str, Any]], None]:
    def change(rows: dict[str, Any]) -> None:
        rows[table][index].update(values)
    return change


# --- completeness -------------------------------------------------------------------------

def test_is_required(cdm: Build) -> None:
    bad = assert_family(cdm, "isRequired.person.gender_concept_id",
                        _set("person", 1, gender_concept_id=None))
    assert (bad.num_violated, bad.denominator) == (1, 2)


def test_measure_value_completeness(cdm: Build) -> None:
    assert_family(cdm, "measureValueCompleteness.condition_occurrence.condition_type_concept_id",
                  _set("condition_occurrence", 0, condition_type_concept_id=None))


def test_standard_concept_record_completeness(cdm: Build) -> None:
    assert_family(cdm,
                  "standardConceptRecordCompleteness.condition_occurrence.condition_concept_id",
                  _set("condition_occurrence", 0, condition_concept_id=0))


def test_source_value_completeness(cdm: Build) -> None:
    bad = assert_family(
        cdm, "sourceValueCompleteness.condition_occurrence.condition_source_value",
        _set("condition_occurrence", 1, condition_concept_id=0, condition_source_value="X1"))
    assert (bad.num_violated, bad.denominator) == (1, 2)  # distinct source values


def test_source_concept_record_completeness_informs_unless_overridden(cdm: Build) -> None:
    check = "sourceConceptRecordCompleteness.condition_occurrence.condition_source_concept_id"
    change = _set("condition_occurrence", 0, condition_source_concept_id=0)
    assert run(cdm(broken(change)), check.split(".")[0])[check].status == PASS  # threshold 100
    assert_family(cdm, check, change, thresholds=Thresholds({"sourceConceptRecord"
                                                             "Completeness": 0}))


def test_measure_person_completeness(cdm: Build) -> None:
    def drop_second(rows: dict[str, Any]) -> None:
        del rows["condition_occurrence"][1]

    check = "measurePersonCompleteness.condition_occurrence"
    assert run(cdm(broken(drop_second)), "measurePersonCompleteness")[check].status == PASS
    bad = assert_family(cdm, check, drop_second,
                        thresholds=Thresholds({"measurePersonCompleteness": 10}))
    assert (bad.num_violated, bad.denominator) == (1, 2)


# --- conformance --------------------------------------------------------------------------

def test_foreign_keys(cdm: Build) -> None:
    assert_family(cdm, "isForeignKey.condition_occurrence.person_id",
                  _set("condition_occurrence", 1, person_id=99))
    assert_family(cdm, "isForeignKey.condition_occurrence.visit_occurrence_id",
                  _set("condition_occurrence", 1, visit_occurrence_id=42))
    assert_family(cdm, "isForeignKey.condition_occurrence.condition_concept_id",
                  _set("condition_occurrence", 1, condition_concept_id=123456789))


def test_primary_key(cdm: Build) -> None:
    bad = assert_family(cdm, "isPrimaryKey.condition_occurrence.condition_occurrence_id",
                        _set("condition_occurrence", 1, condition_occurrence_id=1))
    assert bad.num_violated == 2


def test_standard_valid_concept(cdm: Build) -> None:
    assert_family(cdm, "isStandardValidConcept.condition_occurrence.condition_concept_id",
                  _set("condition_occurrence", 0, condition_concept_id=44819))


def test_fk_domain(cdm: Build) -> None:
    assert_family(cdm, "fkDomain.condition_occurrence.condition_concept_id",
                  _set("condition_occurrence", 0, condition_concept_id=3025315))


def test_fk_class(cdm: Build) -> None:
    assert_family(cdm, "fkClass.drug_era.drug_concept_id",
                  _set("drug_era", 0, drug_concept_id=40163924))


def test_cdm_datatype_and_field(cdm: Build) -> None:
    good = run(cdm(clean()), "cdmDatatype", "cdmField")
    assert good["cdmDatatype.death.person_id"].status == NOT_APPLICABLE  # empty table
    assert good["cdmDatatype.person.year_of_birth"].status == PASS
    backend = cdm(clean())
    backend.execute("DROP TABLE death")
    backend.execute("CREATE TABLE death (person_id VARCHAR(20), death_date DATE)")
    backend.execute("INSERT INTO death VALUES ('1', DATE '2019-01-01'), ('x2', NULL)")
    bad = run(backend, "cdmDatatype", "cdmField")
    assert bad["cdmDatatype.death.person_id"].status == FAIL
    assert bad["cdmDatatype.death.person_id"].num_violated == 1
    assert bad["cdmField.death.death_type_concept_id"].status == FAIL
    assert bad["cdmField.death.death_date"].status == PASS


# --- plausibility -------------------------------------------------------------------------

def test_plausible_value_low_high(cdm: Build) -> None:
    assert_family(cdm, "plausibleValueLow.person.year_of_birth",
                  _set("person", 0, year_of_birth=1800))
    assert_family(cdm, "plausibleValueHigh.person.year_of_birth",
                  _set("person", 0, year_of_birth=TODAY.year + 5))
    assert_family(cdm, "plausibleValueHigh.measurement.value_as_number.3025315.9529",
                  _set("measurement", 0, value_as_number=5000.0))
    assert_family(cdm, "plausibleValueLow.condition_occurrence.condition_start_date",
                  _set("condition_occurrence", 0, condition_start_date="1901-01-01"))


def test_plausible_gender(cdm: Build) -> None:
    assert_family(cdm, "plausibleGender.procedure_occurrence.procedure_concept_id.4275113",
                  _set("procedure_occurrence", 0, person_id=1))


def test_plausible_after_birth(cdm: Build) -> None:
    assert_family(cdm, "plausibleTemporalAfter.condition_occurrence.condition_start_date",
                  _set("condition_occurrence", 0, condition_start_date="1965-06-01"))


def test_plausible_during_life(cdm: Build) -> None:
    check = "plausibleDuringLife.condition_occurrence.condition_start_date"

    def died(day: str) -> Callable[[dict[str, Any]], None]:
        def change(rows: dict[str, Any]) -> None:
            rows["death"] = [{"person_id": 1, "death_date": day,
                              "death_type_concept_id": TYPE}]
        return change

    # the condition (2015-03-01) is 59 days after this death: within the grace period
    within = run(cdm(broken(died("2015-01-01"))), "plausibleDuringLife")[check]
    assert within.status == PASS
    assert_family(cdm, check, died("2014-12-01"))


def test_start_before_end(cdm: Build) -> None:
    assert_family(cdm, "plausibleStartBeforeEnd.visit_occurrence.visit_start_date",
                  _set("visit_occurrence", 0, visit_end_date="2015-02-01"))


def test_within_observation_period(cdm: Build) -> None:
    assert_family(cdm, "withinObservationPeriod.condition_occurrence.condition_start_date",
                  _set("condition_occurrence", 1, condition_start_date="2011-06-01"))


def test_within_visit_dates(cdm: Build) -> None:
    assert_family(cdm, "withinVisitDates.condition_occurrence.condition_start_date",
                  _set("condition_occurrence", 0, condition_start_date="2015-04-01"))


# --- statuses and what may leave the site ------------------------------------------------

def test_empty_table_is_not_applicable_and_missing_table_fails_cdm_table(cdm: Build) -> None:
    backend = cdm(clean())
    backend.execute("DROP TABLE specimen")
    results = run(backend, "cdmTable", "isRequired")
    assert results["isRequired.device_exposure.device_concept_id"].status == NOT_APPLICABLE
    assert results["cdmTable.specimen"].status == FAIL
    assert results["cdmTable.person"].status == PASS
    assert results["isRequired.specimen.specimen_concept_id"].status == NOT_APPLICABLE


def test_failing_sql_is_an_error_and_the_run_continues(cdm: Build) -> None:
    backend = cdm(clean())
    backend.execute("DROP TABLE observation_period")
    backend.execute("CREATE TABLE observation_period (observation_period_id BIGINT,"
                    " person_id BIGINT, observation_period_start_date VARCHAR(30),"
                    " observation_period_end_date DATE, period_type_concept_id BIGINT)")
    backend.execute("INSERT INTO observation_period VALUES"
                    " (1, 1, 'SECRET-VALUE-77', DATE '2020-12-31', 32817)")
    report = run_checks(backend, today=TODAY)
    by_id = {r.check.check_id: r for r in report.results}
    low = by_id["plausibleValueLow.observation_period.observation_period_start_date"]
    assert low.status == ERROR and low.note
    assert by_id["isRequired.observation_period.person_id"].status == PASS
    assert by_id["cdmDatatype.observation_period.observation_period_start_date"].status == FAIL
    assert by_id["isRequired.person.gender_concept_id"].status == PASS
    released = json.dumps(report.to_dict())
    assert "SECRET-VALUE-77" not in released


def test_summary_suppresses_small_counts_and_keeps_rows_inside(cdm: Build) -> None:
    def plant(rows: dict[str, Any]) -> None:
        rows["condition_occurrence"][0]["condition_source_value"] = "CANARY_SV_4417"
        rows["person"][0]["person_source_value"] = "CANARY_PERSON_9921"
        rows["condition_occurrence"][1]["condition_concept_id"] = 0

    backend = cdm(broken(plant))
    report = run_checks(backend, today=TODAY)
    report.profile = profile_store(backend, min_cell=11)
    payload = report.to_dict(min_cell=11)
    text = json.dumps(payload)
    assert "CANARY" not in text
    assert "2015-03-01" not in text and "2016-05-05" not in text
    check = {c["check_id"]: c for c in payload["checks"]}[
        "standardConceptRecordCompleteness.condition_occurrence.condition_concept_id"]
    assert check["status"] == FAIL
    assert check["num_violated"] == "<11" and check["denominator"] == "<11"
    assert check["pct_violated"] is None
    assert payload["profile"]["persons"]["persons"] == "<11"
    months = payload["profile"]["domains"]["condition_occurrence"]["by_month"]
    assert set(months.values()) == {"<11"}
    assert payload["profile"]["domains"]["condition_occurrence"]["top_concepts"] == []
    exact = report.to_dict(min_cell=1)
    assert {c["check_id"]: c for c in exact["checks"]}[check["check_id"]]["num_violated"] == 1


@pytest.mark.parametrize("min_cell", [1, 3])
def test_profile_counts(cdm: Build, min_cell: int) -> None:
    profile = profile_store(cdm(clean()), min_cell=min_cell)
    by_gender = {g["concept_name"]: g["persons"] for g in profile["persons"]["by_gender"]}
    assert by_gender == ({"MALE": 1, "FEMALE": 1} if min_cell == 1
                         else {"MALE": "<3", "FEMALE": "<3"})
    cond = profile["domains"]["condition_occurrence"]
    if min_cell == 1:
        assert cond["records"] == 2 and cond["persons"] == 2
        assert cond["concept_coverage"]["standard"] == 2
        assert cond["by_month"] == {"2015-03": 1, "2016-05": 1}
        assert cond["top_concepts"][0]["concept_id"] == 201826
