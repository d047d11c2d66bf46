"""The structured rule catalogue: the 18 Safe Harbor identifier classes and what we do to them.

45 CFR 164.514(b)(2)(i) lists 18 classes of identifiers "of the individual or of relatives,
employers, or household members". Each class below has one documented rule, and every
source field we know is mapped to the class it carries and the action taken on it.
Ingest asks :func:`rule_for` for every column it meets. **A field not in this catalogue is
dropped** (deny by default): a new Synthea column or FHIR extension can never slip through
because nobody thought about it; adding it here, with a reason, is the only way in.

Safe Harbor also requires (b)(2)(ii) that the site has no actual knowledge that what remains
could identify someone; no rule catalogue can certify that, the steward does.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from behindglass.core.errors import DeidError
from behindglass.deid.dates import DateMode

Source = Literal["synthea-csv", "fhir"]


class IdentifierClass(StrEnum):
    """The 18 classes, lettered as in 164.514(b)(2)(i)(A)–(R)."""

    NAMES = "A"
    GEOGRAPHY = "B"
    DATES = "C"
    TELEPHONE = "D"
    FAX = "E"
    EMAIL = "F"
    SSN = "G"
    MRN = "H"
    HEALTH_PLAN_ID = "I"
    ACCOUNT_NUMBER = "J"
    LICENSE_NUMBER = "K"
    VEHICLE_ID = "L"
    DEVICE_ID = "M"
    URL = "N"
    IP_ADDRESS = "O"
    BIOMETRIC = "P"
    PHOTO = "Q"
    OTHER_UNIQUE_ID = "R"


class Action(StrEnum):
    """What happens to a field."""

    DROP = "drop"  # the column is not loaded at all
    PSEUDONYMIZE = "pseudonymize"  # keyed HMAC id (pseudonym.py), namespace given
    DATE = "date"  # the configured date mode (dates.py)
    BIRTH_DATE = "birth_date"  # date mode + the over-89 rule (ages.py)
    ZIP3 = "zip3"  # geography.zip3
    KEEP = "keep"  # not an identifier: loaded as is


class Rule(BaseModel):
    """The rule for one source field."""

    model_config = ConfigDict(frozen=True)

    field: str
    action: Action
    identifier_class: IdentifierClass | None = None  # None: not a Safe Harbor identifier
    namespace: str | None = None  # pseudonym namespace, for PSEUDONYMIZE
    reason: str = ""


class DeidConfig(BaseModel):
    """A site's structured de-identification settings (frozen, validated)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    date_mode: DateMode = "year"
    max_shift_days: int = Field(default=365, ge=1, le=3650)
    reference_date: dt.date  # the extract's "today" for ages: explicit, so loads reproduce
    restricted_zip3_version: str = "2020-census"

    @model_validator(mode="after")
    def _known_zip3_version(self) -> DeidConfig:
        from behindglass.deid.geography import load_restricted_zip3

        load_restricted_zip3(self.restricted_zip3_version)  # raises DeidError if unknown
        return self

    @property
    def is_safe_harbor(self) -> bool:
        """Only 'year' mode is Safe Harbor; 'shift' is a limited data set / expert method."""
        return self.date_mode == "year"


#: One line per class: the structured rule applied to it.
CLASS_RULES: dict[IdentifierClass, str] = {
    IdentifierClass.NAMES: "removed (patient, relatives, maiden, contacts; provider names too)",
    IdentifierClass.GEOGRAPHY: "street, city, county, FIPS, lat/lon, birthplace removed; ZIP → "
    "ZIP3, '000' for restricted prefixes, NULL for non-US/invalid; state kept",
    IdentifierClass.DATES: "generalised to the year (July 1) in 'year' mode; shifted per "
    "person in 'shift' mode (not Safe Harbor); ages > 89 aggregated to 90",
    IdentifierClass.TELEPHONE: "removed",
    IdentifierClass.FAX: "removed",
    IdentifierClass.EMAIL: "removed",
    IdentifierClass.SSN: "removed",
    IdentifierClass.MRN: "source patient key pseudonymised into person_id; other MRNs removed",
    IdentifierClass.HEALTH_PLAN_ID: "removed (payer/plan kept only as a coded concept)",
    IdentifierClass.ACCOUNT_NUMBER: "encounter/claim keys pseudonymised into ids; others removed",
    IdentifierClass.LICENSE_NUMBER: "removed (driver's licence, passport, provider licences)",
    IdentifierClass.VEHICLE_ID: "removed",
    IdentifierClass.DEVICE_ID: "removed (UDI, serial numbers); device type kept as a code",
    IdentifierClass.URL: "removed",
    IdentifierClass.IP_ADDRESS: "removed",
    IdentifierClass.BIOMETRIC: "removed",
    IdentifierClass.PHOTO: "removed (Patient.photo, Media, attachments)",
    IdentifierClass.OTHER_UNIQUE_ID: "row keys pseudonymised into OMOP ids; any other "
    "identifier removed; free text goes to the text PHI pipeline, never loaded raw",
}

_C = IdentifierClass


_Spec = tuple[Action, IdentifierClass | None, str | None, str]


def _r(
    action: Action, cls: IdentifierClass | None = None, ns: str | None = None, why: str = ""
) -> _Spec:
    return action, cls, ns, why


_DROP_NAME = _r(Action.DROP, _C.NAMES)
_DROP_GEO = _r(Action.DROP, _C.GEOGRAPHY)
_ZIP = _r(Action.ZIP3, _C.GEOGRAPHY)
_DATE = _r(Action.DATE, _C.DATES)
_KEEP = _r(Action.KEEP)
_PERSON = _r(Action.PSEUDONYMIZE, _C.MRN, "person", "source patient key")
_VISIT = _r(Action.PSEUDONYMIZE, _C.ACCOUNT_NUMBER, "visit", "encounter key")
_PROVIDER = _r(Action.PSEUDONYMIZE, _C.OTHER_UNIQUE_ID, "provider", "provider key")
_CARE_SITE = _r(Action.PSEUDONYMIZE, _C.OTHER_UNIQUE_ID, "care_site", "organisation key")
_PAYER = _r(Action.PSEUDONYMIZE, _C.OTHER_UNIQUE_ID, "payer", "payer key (an organisation)")
_DEVICE = _r(Action.DROP, _C.DEVICE_ID)
_CODED = ("CODE", "SYSTEM", "DESCRIPTION", "REASONCODE", "REASONDESCRIPTION")
_COSTS = ("BASE_COST", "PAYER_COVERAGE", "TOTALCOST", "DISPENSES", "BASE_ENCOUNTER_COST",
          "TOTAL_CLAIM_COST")
_EVENT = {"START": _DATE, "STOP": _DATE, "PATIENT": _PERSON, "ENCOUNTER": _VISIT,
          "PAYER": _PAYER, **dict.fromkeys(_CODED + _COSTS, _KEEP)}
_POINT = {"DATE": _DATE, "PATIENT": _PERSON, "ENCOUNTER": _VISIT,
          **dict.fromkeys(("CODE", "DESCRIPTION"), _KEEP)}

#: Synthea CSV export (v3): "<file stem>.<COLUMN>".
_SYNTHEA: dict[str, dict[str, _Spec]] = {
    "patients": {
        "Id": _PERSON, "BIRTHDATE": _r(Action.BIRTH_DATE, _C.DATES),
        "DEATHDATE": _DATE, "SSN": _r(Action.DROP, _C.SSN),
        "DRIVERS": _r(Action.DROP, _C.LICENSE_NUMBER),
        "PASSPORT": _r(Action.DROP, _C.LICENSE_NUMBER),
        "PREFIX": _DROP_NAME, "FIRST": _DROP_NAME, "MIDDLE": _DROP_NAME, "LAST": _DROP_NAME,
        "SUFFIX": _DROP_NAME, "MAIDEN": _DROP_NAME, "BIRTHPLACE": _DROP_GEO,
        "ADDRESS": _DROP_GEO, "CITY": _DROP_GEO, "COUNTY": _DROP_GEO, "FIPS": _DROP_GEO,
        "LAT": _DROP_GEO, "LON": _DROP_GEO, "ZIP": _ZIP, "STATE": _KEEP,
        **dict.fromkeys(("MARITAL", "RACE", "ETHNICITY", "GENDER"), _KEEP),
        **dict.fromkeys(("HEALTHCARE_EXPENSES", "HEALTHCARE_COVERAGE", "INCOME"), _KEEP),
    },
    "encounters": {**_EVENT, "Id": _VISIT, "ORGANIZATION": _CARE_SITE, "PROVIDER": _PROVIDER,
                   "ENCOUNTERCLASS": _KEEP},
    "conditions": _EVENT,
    "medications": _EVENT,
    "procedures": _EVENT,
    "allergies": {**_EVENT, "TYPE": _KEEP, "CATEGORY": _KEEP, "REACTION1": _KEEP,
                  "SEVERITY1": _KEEP, "REACTION2": _KEEP, "SEVERITY2": _KEEP},
    "immunizations": {**_POINT, "BASE_COST": _KEEP},
    "observations": {**_POINT, "CATEGORY": _KEEP, "UNITS": _KEEP,
                     "TYPE": _KEEP,
                     "VALUE": _r(Action.KEEP, None, None, "numeric or coded in Synthea; "
                                 "free-text values must go through text PHI first")},
    "devices": {**_EVENT, "UDI": _DEVICE},
    "providers": {"Id": _PROVIDER, "ORGANIZATION": _CARE_SITE, "NAME": _DROP_NAME,
                  "GENDER": _KEEP, "SPECIALITY": _KEEP, "ADDRESS": _DROP_GEO,
                  "CITY": _DROP_GEO, "LAT": _DROP_GEO, "LON": _DROP_GEO, "ZIP": _ZIP,
                  "STATE": _KEEP},
    "organizations": {"Id": _CARE_SITE, "NAME": _r(Action.DROP, _C.OTHER_UNIQUE_ID),
                      "ADDRESS": _DROP_GEO, "CITY": _DROP_GEO, "LAT": _DROP_GEO,
                      "LON": _DROP_GEO, "ZIP": _ZIP, "STATE": _KEEP,
                      "PHONE": _r(Action.DROP, _C.TELEPHONE)},
}

#: FHIR R4 element paths; the longest listed prefix of a path decides.
_FHIR: dict[str, _Spec] = {
    "Patient.id": _PERSON, "Patient.identifier": _r(Action.DROP, _C.MRN),
    "Patient.name": _DROP_NAME,
    "Patient.telecom": _r(Action.DROP, _C.TELEPHONE, None, "phone, fax, email, URL (D, E, F, N)"),
    "Patient.gender": _KEEP, "Patient.birthDate": _r(Action.BIRTH_DATE, _C.DATES),
    "Patient.deceasedDateTime": _DATE, "Patient.deceasedBoolean": _KEEP,
    "Patient.address": _DROP_GEO, "Patient.address.postalCode": _ZIP,
    "Patient.address.state": _KEEP, "Patient.address.country": _KEEP,
    "Patient.maritalStatus": _KEEP, "Patient.multipleBirthBoolean": _KEEP,
    "Patient.multipleBirthInteger": _r(Action.DROP, _C.OTHER_UNIQUE_ID),
    "Patient.photo": _r(Action.DROP, _C.PHOTO), "Patient.contact": _DROP_NAME,
    "Patient.communication": _KEEP, "Patient.generalPractitioner": _PROVIDER,
    "Patient.managingOrganization": _CARE_SITE, "Patient.link": _r(Action.DROP, _C.MRN),
    "Patient.extension.us-core-race": _KEEP, "Patient.extension.us-core-ethnicity": _KEEP,
    "Patient.extension.us-core-birthsex": _KEEP,
    "Encounter.id": _VISIT, "Encounter.identifier": _r(Action.DROP, _C.ACCOUNT_NUMBER),
    "Encounter.subject": _PERSON, "Encounter.class": _KEEP, "Encounter.type": _KEEP,
    "Encounter.period.start": _DATE, "Encounter.period.end": _DATE,
    "Encounter.participant.individual": _PROVIDER, "Encounter.serviceProvider": _CARE_SITE,
    "Encounter.reasonCode": _KEEP,
    "Condition.subject": _PERSON, "Condition.encounter": _VISIT, "Condition.code": _KEEP,
    "Condition.onsetDateTime": _DATE, "Condition.abatementDateTime": _DATE,
    "Condition.recordedDate": _DATE, "Condition.clinicalStatus": _KEEP,
    "Observation.subject": _PERSON, "Observation.encounter": _VISIT,
    "Observation.code": _KEEP, "Observation.category": _KEEP,
    "Observation.effectiveDateTime": _DATE, "Observation.issued": _DATE,
    "Observation.valueQuantity": _KEEP, "Observation.valueCodeableConcept": _KEEP,
    "Observation.valueString": _r(Action.DROP, _C.OTHER_UNIQUE_ID, None, "free text"),
    "MedicationRequest.subject": _PERSON, "MedicationRequest.encounter": _VISIT,
    "MedicationRequest.medicationCodeableConcept": _KEEP,
    "MedicationRequest.authoredOn": _DATE, "MedicationRequest.requester": _PROVIDER,
    "Procedure.subject": _PERSON, "Procedure.encounter": _VISIT, "Procedure.code": _KEEP,
    "Procedure.performedPeriod.start": _DATE, "Procedure.performedPeriod.end": _DATE,
    "Procedure.performedDateTime": _DATE,
    "Immunization.patient": _PERSON, "Immunization.encounter": _VISIT,
    "Immunization.vaccineCode": _KEEP, "Immunization.occurrenceDateTime": _DATE,
    "Device.patient": _PERSON, "Device.type": _KEEP, "Device.udiCarrier": _DEVICE,
    "Device.serialNumber": _DEVICE, "Device.lotNumber": _DEVICE,
    "Coverage.identifier": _r(Action.DROP, _C.HEALTH_PLAN_ID),
    "Coverage.subscriberId": _r(Action.DROP, _C.HEALTH_PLAN_ID),
    "Claim.identifier": _r(Action.DROP, _C.ACCOUNT_NUMBER),
    "ExplanationOfBenefit.identifier": _r(Action.DROP, _C.ACCOUNT_NUMBER),
    "Practitioner.id": _PROVIDER, "Practitioner.name": _DROP_NAME,
    "Practitioner.identifier": _r(Action.DROP, _C.LICENSE_NUMBER),
    "Practitioner.telecom": _r(Action.DROP, _C.TELEPHONE), "Practitioner.address": _DROP_GEO,
    "Practitioner.gender": _KEEP, "Organization.id": _CARE_SITE,
    "Media.content": _r(Action.DROP, _C.PHOTO),
}

_INDEX = re.compile(r"\[[^\]]*\]")


def _rule(field: str, spec: _Spec) -> Rule:
    action, cls, ns, why = spec
    return Rule(field=field, action=action, identifier_class=cls, namespace=ns, reason=why)


def _deny(field: str) -> Rule:
    return Rule(field=field, action=Action.DROP,
                reason="not in the rule catalogue: dropped by default (deny by default)")


def rule_for(source: Source, field: str) -> Rule:
    """The rule for one source field; unknown fields get a DROP rule.

    Synthea fields are ``"patients.SSN"`` or ``"patients.csv:SSN"`` (file stem in any case,
    column as in the header). FHIR fields are element paths (``"Patient.name.given"``,
    array indices ignored); the longest catalogued prefix decides, so ``Patient.address``
    is dropped while ``Patient.address.postalCode`` becomes ZIP3.
    """
    if source == "synthea-csv":
        stem, sep, column = field.replace(".csv:", ".").partition(".")
        table = _SYNTHEA.get(stem.lower()) if sep else None
        spec = table.get(column) or table.get(column.upper()) if table else None
        return _rule(field, spec) if spec else _deny(field)
    if source == "fhir":
        parts = _INDEX.sub("", field).split(".")
        for end in range(len(parts), 1, -1):
            spec = _FHIR.get(".".join(parts[:end]))
            if spec:
                return _rule(field, spec)
        return _deny(field)
    raise DeidError(f"unknown source {source!r}; expected 'synthea-csv' or 'fhir'")


def catalogue(source: Source) -> list[Rule]:
    """Every catalogued rule of ``source`` (for documentation and review)."""
    if source == "synthea-csv":
        return [_rule(f"{t}.{c}", s) for t, cols in _SYNTHEA.items() for c, s in cols.items()]
    if source == "fhir":
        return [_rule(path, spec) for path, spec in _FHIR.items()]
    raise DeidError(f"unknown source {source!r}; expected 'synthea-csv' or 'fhir'")
