"""Rule catalogue for Synthea CSV extracts: "<file stem>.<COLUMN>" → what is done to it.

Deny by default: a file or column missing here is never read (:func:`.safe_harbor.rule_for`).
"""

from __future__ import annotations

from behindglass.deid.rule_specs import (
    CARE_SITE,
    DATE,
    DEVICE,
    DROP_GEO,
    DROP_NAME,
    EVENT,
    KEEP,
    PAYER,
    PERSON,
    POINT,
    PROVIDER,
    VISIT,
    ZIP,
    Action,
    C,
    Spec,
    r,
)

FREE_TEXT = r(Action.DROP, C.OTHER_UNIQUE_ID, None,
              "free text may hold any identifier: held back for the text de-identifier")
NOTE_TEXT = r(Action.DROP, C.OTHER_UNIQUE_ID, None,
              "never loaded as is: the text de-identifier (deid.text) replaces its PHI "
              "before the OMOP note table")
DICOM_UID = r(Action.DROP, C.OTHER_UNIQUE_ID, None, "DICOM UID: unique to one study/image")

#: Synthea CSV export (v3): "<file stem>.<COLUMN>".
SYNTHEA: dict[str, dict[str, Spec]] = {
    "patients": {
        "Id": PERSON, "BIRTHDATE": r(Action.BIRTH_DATE, C.DATES),
        "DEATHDATE": DATE, "SSN": r(Action.DROP, C.SSN),
        "DRIVERS": r(Action.DROP, C.LICENSE_NUMBER),
        "PASSPORT": r(Action.DROP, C.LICENSE_NUMBER),
        "PREFIX": DROP_NAME, "FIRST": DROP_NAME, "MIDDLE": DROP_NAME, "LAST": DROP_NAME,
        "SUFFIX": DROP_NAME, "MAIDEN": DROP_NAME, "BIRTHPLACE": DROP_GEO,
        "ADDRESS": DROP_GEO, "CITY": DROP_GEO, "COUNTY": DROP_GEO, "FIPS": DROP_GEO,
        "LAT": DROP_GEO, "LON": DROP_GEO, "ZIP": ZIP, "STATE": KEEP,
        **dict.fromkeys(("MARITAL", "RACE", "ETHNICITY", "GENDER"), KEEP),
        **dict.fromkeys(("HEALTHCARE_EXPENSES", "HEALTHCARE_COVERAGE", "INCOME"), KEEP),
    },
    "encounters": {**EVENT, "Id": VISIT, "ORGANIZATION": CARE_SITE, "PROVIDER": PROVIDER,
                   "ENCOUNTERCLASS": KEEP},
    "conditions": EVENT,
    "medications": EVENT,
    "procedures": EVENT,
    "allergies": {**EVENT, "TYPE": KEEP, "CATEGORY": KEEP, "REACTION1": KEEP,
                  "SEVERITY1": KEEP, "REACTION2": KEEP, "SEVERITY2": KEEP,
                  "DESCRIPTION1": FREE_TEXT, "DESCRIPTION2": FREE_TEXT},
    "immunizations": {**POINT, "BASE_COST": KEEP},
    "observations": {**POINT, "CATEGORY": KEEP, "UNITS": KEEP,
                     "TYPE": KEEP,
                     "VALUE": r(Action.KEEP, None, None, "numeric or coded in Synthea; "
                                 "free-text values must go through text PHI first")},
    "devices": {**EVENT, "UDI": DEVICE},
    "careplans": {**EVENT, "Id": r(Action.PSEUDONYMIZE, C.OTHER_UNIQUE_ID, "careplan",
                                   "care plan row key: only hashed into the keyed row id")},
    "imaging_studies": {
        **POINT, "Id": r(Action.PSEUDONYMIZE, C.OTHER_UNIQUE_ID, "imaging_study",
                         "study row key: only hashed into the keyed row id"),
        "SERIES_UID": DICOM_UID, "INSTANCE_UID": DICOM_UID,
        **dict.fromkeys(("BODYSITE_CODE", "BODYSITE_DESCRIPTION", "MODALITY_CODE",
                         "MODALITY_DESCRIPTION", "SOP_CODE", "SOP_DESCRIPTION",
                         "PROCEDURE_CODE"), KEEP)},
    "payers": {"Id": PAYER,
               "NAME": r(Action.KEEP, None, None, "an insurer's name (Medicare, a health "
                         "plan) describes many members, not one person; docs/ingest.md"),
               "OWNERSHIP": KEEP, "ADDRESS": DROP_GEO, "CITY": DROP_GEO,
               "STATE_HEADQUARTERED": KEEP, "ZIP": DROP_GEO,
               "PHONE": r(Action.DROP, C.TELEPHONE)},
    "payer_transitions": {
        "PATIENT": PERSON, "MEMBERID": r(Action.DROP, C.HEALTH_PLAN_ID),
        "START_DATE": DATE, "END_DATE": DATE, "START_YEAR": DATE, "END_YEAR": DATE,
        "PAYER": PAYER, "SECONDARY_PAYER": PAYER, "PLAN_OWNERSHIP": KEEP,
        "OWNER_NAME": DROP_NAME},
    # Loaded by ingest.notes: TEXT only through the text de-identifier (deid.text).
    "notes": {"Id": r(Action.PSEUDONYMIZE, C.OTHER_UNIQUE_ID, "note"), "PATIENT": PERSON,
              "ENCOUNTER": VISIT, "DATE": DATE, "TYPE": KEEP, "TEXT": NOTE_TEXT},
    "providers": {"Id": PROVIDER, "ORGANIZATION": CARE_SITE, "NAME": DROP_NAME,
                  "GENDER": KEEP, "SPECIALITY": KEEP, "ADDRESS": DROP_GEO,
                  "CITY": DROP_GEO, "LAT": DROP_GEO, "LON": DROP_GEO, "ZIP": ZIP,
                  "STATE": KEEP},
    "organizations": {"Id": CARE_SITE, "NAME": r(Action.DROP, C.OTHER_UNIQUE_ID),
                      "ADDRESS": DROP_GEO, "CITY": DROP_GEO, "LAT": DROP_GEO,
                      "LON": DROP_GEO, "ZIP": ZIP, "STATE": KEEP,
                      "PHONE": r(Action.DROP, C.TELEPHONE)},
}
