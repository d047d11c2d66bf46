"""FHIR R4 NDJSON resources → the Synthea-shaped rows the ingest pipeline maps: the core six
types here, the registry of every type read (:data:`STEMS`, :data:`COLUMNS`,
:data:`EXTRACTED`, :data:`FLATTEN`, merged from :mod:`.fhir_clinical` and
:mod:`.fhir_linked`), and the line parser every type falls back to. The DuckDB fast path
giving the same rows is :mod:`.fhir_sql`.

Only the elements OMOP needs are read (:data:`EXTRACTED`); every other element of a
resource — names, telecom, identifiers, address lines, contacts, photos, narratives — is
never looked at, so it cannot reach the store. Each extracted path is put to the Safe
Harbor catalogue (:func:`behindglass.deid.safe_harbor.rule_for`) by :func:`check_rules`;
one whose rule is DROP stops the ingest before any file is read.

Codes: the coding whose system is SNOMED, RxNorm, LOINC or CVX is the source code (the first
coding with a code if none is); its system becomes the SYSTEM column where the pipeline
reads one.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from typing import Any

from behindglass.core.errors import LoadError
from behindglass.deid.safe_harbor import Action, rule_for
from behindglass.ingest import fhir_clinical, fhir_linked
from behindglass.ingest.fhir_values import coding as _coding
from behindglass.ingest.fhir_values import first as _first
from behindglass.ingest.fhir_values import get as _get
from behindglass.ingest.fhir_values import ref as _ref
from behindglass.ingest.fhir_values import text as _s

#: resourceType → Synthea file stem it is flattened into (the core six here, the others
#: in :mod:`.fhir_clinical` and :mod:`.fhir_linked`). Several types may feed one stem.
STEMS = {"Patient": "patients", "Encounter": "encounters", "Condition": "conditions",
         "MedicationRequest": "medications", "Observation": "observations",
         "Procedure": "procedures", **fhir_clinical.STEMS, **fhir_linked.STEMS}

#: Synthea columns written per stem (those the pipeline reads; absent facts stay empty).
COLUMNS = {
    "patients": ("Id", "BIRTHDATE", "DEATHDATE", "GENDER", "RACE", "ETHNICITY", "STATE",
                 "ZIP"),
    "encounters": ("Id", "START", "STOP", "PATIENT", "ORGANIZATION", "PROVIDER",
                   "ENCOUNTERCLASS", "CODE"),
    "conditions": ("START", "STOP", "PATIENT", "ENCOUNTER", "SYSTEM", "CODE"),
    "medications": ("START", "STOP", "PATIENT", "ENCOUNTER", "CODE", "DISPENSES"),
    "observations": ("DATE", "PATIENT", "ENCOUNTER", "CODE", "VALUE", "UNITS"),
    "procedures": ("START", "STOP", "PATIENT", "ENCOUNTER", "SYSTEM", "CODE"),
    **fhir_clinical.COLUMNS, **fhir_linked.COLUMNS,
}

#: Every FHIR element path read, by resource type (checked against the rule catalogue).
EXTRACTED = {
    "Patient": ("Patient.id", "Patient.birthDate", "Patient.deceasedDateTime",
                "Patient.gender", "Patient.extension.us-core-race",
                "Patient.extension.us-core-ethnicity", "Patient.address.state",
                "Patient.address.postalCode"),
    "Encounter": ("Encounter.id", "Encounter.period.start", "Encounter.period.end",
                  "Encounter.subject", "Encounter.serviceProvider",
                  "Encounter.participant.individual", "Encounter.class", "Encounter.type"),
    "Condition": ("Condition.onsetDateTime", "Condition.abatementDateTime",
                  "Condition.subject", "Condition.encounter", "Condition.code"),
    "MedicationRequest": ("MedicationRequest.authoredOn", "MedicationRequest.subject",
                          "MedicationRequest.encounter",
                          "MedicationRequest.medicationCodeableConcept",
                          "MedicationRequest.dispenseRequest.validityPeriod.end",
                          "MedicationRequest.dispenseRequest.numberOfRepeatsAllowed",
                          "MedicationRequest.dispenseRequest.expectedSupplyDuration"),
    "Observation": ("Observation.effectiveDateTime", "Observation.subject",
                    "Observation.encounter", "Observation.code", "Observation.valueQuantity"),
    "Procedure": ("Procedure.performedDateTime", "Procedure.performedPeriod.start",
                  "Procedure.performedPeriod.end", "Procedure.subject", "Procedure.encounter",
                  "Procedure.code"),
    **fhir_clinical.EXTRACTED, **fhir_linked.EXTRACTED,
}

#: Pipeline column names → FHIR element, to word the pipeline's reasons for FHIR input.
TERMS = {
    "patients": {"Id": "id", "BIRTHDATE": "birthDate", "DEATHDATE": "deceasedDateTime"},
    "encounters": {"Id": "id", "PATIENT": "subject", "START": "period.start",
                   "STOP": "period.end"},
    "conditions": {"PATIENT": "subject", "START": "onsetDateTime",
                   "STOP": "abatementDateTime"},
    "medications": {"PATIENT": "subject", "START": "authoredOn",
                    "STOP": "dispenseRequest end"},
    "observations": {"PATIENT": "subject", "DATE": "effectiveDateTime"},
    "procedures": {"PATIENT": "subject", "START": "performed start",
                   "STOP": "performedPeriod.end"},
    **fhir_clinical.TERMS, **fhir_linked.TERMS,
}

_OMB_RACE = {"2106-3": "white", "2054-5": "black", "2028-9": "asian", "1002-5": "native",
             "2076-8": "hawaiian", "2131-1": "other"}
_OMB_ETHNICITY = {"2135-2": "hispanic", "2186-5": "nonhispanic"}
_GENDER = {"male": "M", "female": "F"}
_ACT_CLASS = {"AMB": "ambulatory", "IMP": "inpatient", "ACUTE": "inpatient",
              "NONAC": "inpatient", "EMER": "emergency", "HH": "home", "VR": "virtual",
              "SS": "outpatient", "OBSENC": "outpatient", "PRENC": "outpatient"}
#: expectedSupplyDuration unit (UCUM code or its word) → days.
_DAYS = {"d": 1, "day": 1, "days": 1, "wk": 7, "week": 7, "weeks": 7, "mo": 30,
         "month": 30, "months": 30, "a": 365, "year": 365, "years": 365}
#: Longer supplies or more repeats than this are taken for data errors and ignored.
_MAX_DAYS, _MAX_REPEATS = 36_525, 1_000


def check_rules() -> None:
    """Refuse to run if the catalogue says DROP for any path this module reads."""
    for paths in EXTRACTED.values():
        for path in paths:
            if rule_for("fhir", path).action is Action.DROP:
                raise LoadError(f"the Safe Harbor catalogue drops {path}; FHIR ingest "
                                "will not read it")


def _omb(resource: dict, kind: str, table: dict[str, str]) -> str:
    for ext in resource.get("extension") or ():
        if isinstance(ext, dict) and _s(ext.get("url")).endswith(f"us-core-{kind}"):
            for sub in ext.get("extension") or ():
                if isinstance(sub, dict) and sub.get("url") == "ombCategory":
                    code = _s(_get(sub, "valueCoding", "code"))
                    return table.get(code, "other" if kind == "race" else code)
    return ""


def patient(r: dict) -> tuple[str, ...]:
    address = r.get("address")
    home = None
    if isinstance(address, list):
        home = next((a for a in address if isinstance(a, dict) and a.get("use") == "home"),
                    _first(address))
    gender = _s(r.get("gender"))
    return (_s(r.get("id")), _s(r.get("birthDate")), _s(r.get("deceasedDateTime")),
            _GENDER.get(gender, gender), _omb(r, "race", _OMB_RACE),
            _omb(r, "ethnicity", _OMB_ETHNICITY), _s(_get(home, "state")),
            _s(_get(home, "postalCode")))


def encounter(r: dict) -> tuple[str, ...]:
    cls = r.get("class")
    cls = _first(cls) if isinstance(cls, list) else cls
    act = _s(_get(cls, "code"))
    provider = ""
    for part in r.get("participant") or ():
        provider = _ref(_get(part, "individual"))
        if provider:
            break
    return (_s(r.get("id")), _s(_get(r, "period", "start")), _s(_get(r, "period", "end")),
            _ref(r.get("subject")), _ref(r.get("serviceProvider")), provider,
            _ACT_CLASS.get(act, act.lower()), _coding(_first(r.get("type")))[1])


def condition(r: dict) -> tuple[str, ...]:
    system, code = _coding(r.get("code"))
    return (_s(r.get("onsetDateTime")), _s(r.get("abatementDateTime")),
            _ref(r.get("subject")), _ref(r.get("encounter")), system, code)


def _count(value: Any, most: int) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= most:
        return value
    return None


def _supply(start: str, dispense: Any) -> tuple[str, str]:
    """(STOP, DISPENSES) of a MedicationRequest's dispenseRequest.

    DISPENSES is the number of fills (numberOfRepeatsAllowed + 1, as Synthea counts them).
    STOP is validityPeriod.end; without it, authoredOn's date + expectedSupplyDuration ×
    fills, so FHIR drugs get an end date (and OMOP a days_supply) whenever one is implied.
    """
    repeats = _count(_get(dispense, "numberOfRepeatsAllowed"), _MAX_REPEATS)
    fills = "" if repeats is None else str(repeats + 1)
    end = _s(_get(dispense, "validityPeriod", "end"))
    if end:
        return end, fills
    duration = _get(dispense, "expectedSupplyDuration")
    value = _get(duration, "value")
    per = _DAYS.get(_s(_get(duration, "code")) or _s(_get(duration, "unit")))
    if (per is None or not isinstance(value, int | float) or isinstance(value, bool)
            or not value > 0):
        return "", fills
    days = math.floor(value * per * (1 if repeats is None else repeats + 1))
    if not 1 <= days <= _MAX_DAYS:
        return "", fills
    try:
        return (dt.date.fromisoformat(start[:10]) + dt.timedelta(days=days)).isoformat(), fills
    except (ValueError, OverflowError):
        return "", fills


def medication(r: dict) -> tuple[str, ...]:
    start = _s(r.get("authoredOn"))
    stop, fills = _supply(start, r.get("dispenseRequest"))
    return (start, stop, _ref(r.get("subject")), _ref(r.get("encounter")),
            _coding(r.get("medicationCodeableConcept"))[1], fills)


def observation(r: dict) -> tuple[str, ...]:
    quantity = r.get("valueQuantity")
    value = _get(quantity, "value")
    units = _s(_get(quantity, "unit")) or _s(_get(quantity, "code"))
    return (_s(r.get("effectiveDateTime")), _ref(r.get("subject")), _ref(r.get("encounter")),
            _coding(r.get("code"))[1], _s(value) if isinstance(value, int | float) else "",
            units)


def procedure(r: dict) -> tuple[str, ...]:
    system, code = _coding(r.get("code"))
    start = _s(r.get("performedDateTime")) or _s(_get(r, "performedPeriod", "start"))
    return (start, _s(_get(r, "performedPeriod", "end")), _ref(r.get("subject")),
            _ref(r.get("encounter")), system, code)


FLATTEN: dict[str, Callable[[dict], tuple[str, ...]]] = {
    "Patient": patient, "Encounter": encounter, "Condition": condition,
    "MedicationRequest": medication, "Observation": observation, "Procedure": procedure,
    **fhir_clinical.FLATTEN, **fhir_linked.FLATTEN,
}


def parse_line(text: str, kind: str) -> tuple[tuple[str, ...] | None, str | None]:
    """(row, None) for a good line of a ``kind`` file, (None, reason) for a bad one,
    (None, None) for a blank line. Reasons never quote the line."""
    if not text.strip():
        return None, None
    try:
        resource = json.loads(text)
    except (ValueError, RecursionError):
        return None, "invalid JSON"
    if not isinstance(resource, dict):
        return None, "not a JSON object"
    if resource.get("resourceType") != kind:
        return None, f"resourceType is not {kind}"
    try:
        return FLATTEN[kind](resource), None
    except (AttributeError, TypeError, ValueError):
        return None, f"malformed {kind} resource"
