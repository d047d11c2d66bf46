"""The Safe Harbor rule catalogue and DeidConfig (behindglass.deid.safe_harbor)."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from behindglass.core.errors import DeidError
from behindglass.deid.safe_harbor import (
    CLASS_RULES,
    Action,
    DeidConfig,
    IdentifierClass,
    catalogue,
    rule_for,
)


def test_all_18_classes_have_a_rule():
    assert len(IdentifierClass) == 18
    assert [c.value for c in IdentifierClass] == [chr(ord("A") + i) for i in range(18)]
    assert set(CLASS_RULES) == set(IdentifierClass)


@pytest.mark.parametrize(
    ("field", "action", "cls"),
    [
        ("patients.SSN", Action.DROP, IdentifierClass.SSN),
        ("patients.DRIVERS", Action.DROP, IdentifierClass.LICENSE_NUMBER),
        ("patients.PASSPORT", Action.DROP, IdentifierClass.LICENSE_NUMBER),
        *[(f"patients.{c}", Action.DROP, IdentifierClass.NAMES)
          for c in ("PREFIX", "FIRST", "LAST", "SUFFIX", "MAIDEN")],
        *[(f"patients.{c}", Action.DROP, IdentifierClass.GEOGRAPHY)
          for c in ("ADDRESS", "CITY", "COUNTY", "LAT", "LON", "BIRTHPLACE")],
        ("patients.ZIP", Action.ZIP3, IdentifierClass.GEOGRAPHY),
        ("patients.csv:BIRTHDATE", Action.BIRTH_DATE, IdentifierClass.DATES),
        ("patients.DEATHDATE", Action.DATE, IdentifierClass.DATES),
        ("patients.Id", Action.PSEUDONYMIZE, IdentifierClass.MRN),
        ("encounters.START", Action.DATE, IdentifierClass.DATES),
        ("devices.UDI", Action.DROP, IdentifierClass.DEVICE_ID),
        ("organizations.PHONE", Action.DROP, IdentifierClass.TELEPHONE),
        ("patients.GENDER", Action.KEEP, None),
        ("conditions.CODE", Action.KEEP, None),
    ],
)
def test_synthea_fields(field, action, cls):
    rule = rule_for("synthea-csv", field)
    assert (rule.action, rule.identifier_class) == (action, cls)


@pytest.mark.parametrize(
    ("field", "action"),
    [
        ("Patient.name", Action.DROP),
        ("Patient.name[0].given", Action.DROP),
        ("Patient.telecom", Action.DROP),
        ("Patient.identifier", Action.DROP),
        ("Patient.photo", Action.DROP),
        ("Patient.contact.name.family", Action.DROP),
        ("Patient.address.line", Action.DROP),
        ("Patient.address.city", Action.DROP),
        ("Patient.address.postalCode", Action.ZIP3),
        ("Patient.address[0].state", Action.KEEP),
        ("Patient.birthDate", Action.BIRTH_DATE),
        ("Device.udiCarrier.deviceIdentifier", Action.DROP),
        ("Coverage.subscriberId", Action.DROP),
        ("Encounter.period.start", Action.DATE),
    ],
)
def test_fhir_fields(field, action):
    assert rule_for("fhir", field).action is action


def test_pseudonymised_keys_share_namespaces_across_tables_and_sources():
    spaces = {
        rule_for("synthea-csv", "patients.Id").namespace,
        rule_for("synthea-csv", "encounters.PATIENT").namespace,
        rule_for("synthea-csv", "observations.PATIENT").namespace,
        rule_for("fhir", "Patient.id").namespace,
        rule_for("fhir", "Condition.subject.reference").namespace,
    }
    assert spaces == {"person"}
    assert rule_for("synthea-csv", "encounters.Id").namespace == "visit"
    assert rule_for("synthea-csv", "encounters.PROVIDER").namespace == "provider"
    assert rule_for("synthea-csv", "encounters.ORGANIZATION").namespace == "care_site"


@pytest.mark.parametrize(
    ("source", "field"),
    [
        ("synthea-csv", "patients.FAVOURITE_COLOUR"),
        ("synthea-csv", "newtable.Id"),
        ("synthea-csv", "no-dot"),
        ("fhir", "Patient.extension.http://example.org/mothers-maiden-name"),
        ("fhir", "Patient"),
        ("fhir", "RelatedPerson.name"),
    ],
)
def test_unknown_fields_are_dropped_by_default(source, field):
    rule = rule_for(source, field)
    assert rule.action is Action.DROP
    assert "deny by default" in rule.reason


def test_unknown_source_is_an_error():
    with pytest.raises(DeidError, match="unknown source"):
        rule_for("hl7v2", "PID-5")  # type: ignore[arg-type]


def test_catalogue_is_consistent():
    for source in ("synthea-csv", "fhir"):
        rules = catalogue(source)
        assert rules
        for rule in rules:
            assert (rule.action is Action.PSEUDONYMIZE) == (rule.namespace is not None)
            if rule.action is not Action.KEEP:
                assert rule.identifier_class is not None, rule.field
            assert rule_for(source, rule.field) == rule


def test_deid_config():
    cfg = DeidConfig(reference_date=dt.date(2026, 1, 1))
    assert cfg.date_mode == "year" and cfg.is_safe_harbor
    shift = DeidConfig(reference_date=dt.date(2026, 1, 1), date_mode="shift", max_shift_days=30)
    assert not shift.is_safe_harbor
    with pytest.raises(ValidationError):
        cfg.date_mode = "shift"  # frozen
    with pytest.raises(ValidationError):
        DeidConfig(reference_date=dt.date(2026, 1, 1), date_mode="month")
    with pytest.raises(ValidationError):
        DeidConfig(reference_date=dt.date(2026, 1, 1), max_shift_days=0)
    with pytest.raises(ValidationError):
        DeidConfig()  # the reference date is required: loads must reproduce
    with pytest.raises((ValidationError, DeidError)):
        DeidConfig(reference_date=dt.date(2026, 1, 1), restricted_zip3_version="1990")
