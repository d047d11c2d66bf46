"""FHIR R4 clinical resources beyond the core six → Synthea v3 rows, one row per resource.

Immunization → immunizations, AllergyIntolerance → allergies, ImagingStudy →
imaging_studies, MedicationStatement → medications, Coverage → payer_transitions,
CarePlan → careplans. These
files are small next to Observation and Encounter, so they are read line by line in Python
(no DuckDB fast path). Only the paths in :data:`EXTRACTED` are looked at: a Coverage's
subscriberId and identifiers, an ImagingStudy's series and instance UIDs, a note's text are
never read.
"""

from __future__ import annotations

from collections.abc import Callable

from behindglass.ingest.fhir_values import coding, first, first_coding, get, ref, text
from behindglass.ingest.vocab import SYSTEMS

STEMS = {"Immunization": "immunizations", "AllergyIntolerance": "allergies",
         "ImagingStudy": "imaging_studies", "MedicationStatement": "medications",
         "Coverage": "payer_transitions", "CarePlan": "careplans"}

COLUMNS = {
    "immunizations": ("DATE", "PATIENT", "ENCOUNTER", "CODE", "BASE_COST"),
    "allergies": ("START", "STOP", "PATIENT", "ENCOUNTER", "CODE", "SYSTEM", "TYPE",
                  "CATEGORY"),
    "imaging_studies": ("Id", "DATE", "PATIENT", "ENCOUNTER", "BODYSITE_CODE",
                        "MODALITY_CODE", "PROCEDURE_CODE"),
    "payer_transitions": ("PATIENT", "START_DATE", "END_DATE", "PAYER", "PLAN_OWNERSHIP"),
    "careplans": ("Id", "START", "STOP", "PATIENT", "ENCOUNTER", "CODE"),
}

EXTRACTED = {
    "Immunization": ("Immunization.occurrenceDateTime", "Immunization.patient",
                     "Immunization.encounter", "Immunization.vaccineCode"),
    "AllergyIntolerance": ("AllergyIntolerance.onsetDateTime",
                           "AllergyIntolerance.recordedDate",
                           "AllergyIntolerance.lastOccurrence",
                           "AllergyIntolerance.clinicalStatus",
                           "AllergyIntolerance.patient", "AllergyIntolerance.encounter",
                           "AllergyIntolerance.code", "AllergyIntolerance.type",
                           "AllergyIntolerance.category"),
    "ImagingStudy": ("ImagingStudy.id", "ImagingStudy.started", "ImagingStudy.subject",
                     "ImagingStudy.encounter", "ImagingStudy.modality",
                     "ImagingStudy.series.modality", "ImagingStudy.series.bodySite",
                     "ImagingStudy.procedureCode"),
    "MedicationStatement": ("MedicationStatement.effectiveDateTime",
                            "MedicationStatement.effectivePeriod.start",
                            "MedicationStatement.effectivePeriod.end",
                            "MedicationStatement.subject", "MedicationStatement.context",
                            "MedicationStatement.medicationCodeableConcept"),
    "Coverage": ("Coverage.beneficiary", "Coverage.period.start", "Coverage.period.end",
                 "Coverage.payor", "Coverage.relationship"),
    "CarePlan": ("CarePlan.id", "CarePlan.period.start", "CarePlan.period.end",
                 "CarePlan.subject", "CarePlan.encounter", "CarePlan.category"),
}

TERMS = {
    "immunizations": {"PATIENT": "patient", "DATE": "occurrenceDateTime"},
    "allergies": {"PATIENT": "patient", "START": "onsetDateTime/recordedDate",
                  "STOP": "lastOccurrence"},
    "imaging_studies": {"PATIENT": "subject", "DATE": "started"},
    "payer_transitions": {"PATIENT": "beneficiary", "START_DATE": "period.start",
                          "END_DATE": "period.end"},
    "careplans": {"PATIENT": "subject", "START": "period.start", "STOP": "period.end"},
}

#: subscriber-relationship code → Synthea's PLAN_OWNERSHIP (who owns the plan: a child's
#: plan is its guardian's); other codes are kept as they are.
_OWNERSHIP = {"self": "Self", "spouse": "Spouse", "child": "Guardian"}
#: clinicalStatus codes after which lastOccurrence is the allergy's end.
_ENDED = {"inactive", "resolved"}


def immunization(r: dict) -> tuple[str, ...]:
    return (text(r.get("occurrenceDateTime")), ref(r.get("patient")),
            ref(r.get("encounter")), coding(r.get("vaccineCode"))[1], "")


def allergy(r: dict) -> tuple[str, ...]:
    system, code = coding(r.get("code"))
    status = coding(r.get("clinicalStatus"))[1]
    stop = text(r.get("lastOccurrence")) if status in _ENDED else ""
    category = first(r.get("category"))
    return (text(r.get("onsetDateTime")) or text(r.get("recordedDate")), stop,
            ref(r.get("patient")), ref(r.get("encounter")), code, system,
            text(r.get("type")), text(category))


def imaging_study(r: dict) -> tuple[str, ...]:
    series = first(r.get("series"))
    # R4: ImagingStudy.modality is a list of Codings, series.modality one Coding
    modality = text(get(first(r.get("modality")), "code")) or text(get(series, "modality",
                                                                      "code"))
    return (text(r.get("id")), text(r.get("started")), ref(r.get("subject")),
            ref(r.get("encounter")), text(get(series, "bodySite", "code")), modality,
            first_coding(r.get("procedureCode"))[1])


def medication_statement(r: dict) -> tuple[str, ...]:
    start = text(r.get("effectiveDateTime")) or text(get(r, "effectivePeriod", "start"))
    return (start, text(get(r, "effectivePeriod", "end")), ref(r.get("subject")),
            ref(r.get("context")), coding(r.get("medicationCodeableConcept"))[1], "")


def coverage(r: dict) -> tuple[str, ...]:
    relation = coding(r.get("relationship"))[1]
    payor = next((p for p in (ref(x) for x in r.get("payor") or ()) if p), "")
    return (ref(r.get("beneficiary")), text(get(r, "period", "start")),
            text(get(r, "period", "end")), payor, _OWNERSHIP.get(relation, relation))


def care_plan(r: dict) -> tuple[str, ...]:
    # US Core puts "assess-plan" in the first category and the plan's SNOMED code (what
    # Synthea's CSV calls CODE) in another one: the first coded one of a known system wins
    categories = r.get("category") if isinstance(r.get("category"), list) else []
    code = next((c for c in (coding(cat, SYSTEMS) for cat in categories)
                 if c[0] in SYSTEMS), None) or first_coding(categories)
    return (text(r.get("id")), text(get(r, "period", "start")), text(get(r, "period", "end")),
            ref(r.get("subject")), ref(r.get("encounter")), code[1])


FLATTEN: dict[str, Callable[[dict], tuple[str, ...]]] = {
    "Immunization": immunization, "AllergyIntolerance": allergy,
    "ImagingStudy": imaging_study, "MedicationStatement": medication_statement,
    "Coverage": coverage, "CarePlan": care_plan,
}

