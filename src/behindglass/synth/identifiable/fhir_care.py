"""FHIR R4 resources of the supplementary files of one block: Immunization,
AllergyIntolerance, CarePlan, Device, ImagingStudy (one per study, not per instance row),
and DiagnosticReport (laboratory panels grouping an encounter's Observations).

One resource per row of immunizations / allergies / careplans / devices.csv, from the
same columns, so the CSV and FHIR exports of the same arguments hold the same facts.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from behindglass.synth.identifiable.care_codes import IMAGING
from behindglass.synth.identifiable.fhir import LOINC, SNOMED, FhirIds, _cc, _ref, _rows
from behindglass.synth.identifiable.synthea_csv import as_list, uuids

CVX_SYSTEM = "http://hl7.org/fhir/sid/cvx"
DICOM_DCM = "http://dicom.nema.org/resources/ontology/DCM"
# Laboratory panels: LOINC test -> (panel code, panel name) the report is filed under.
PANELS = {
    "2160-0": ("24362-6", "Renal function panel - Serum or Plasma"),
    "77147-7": ("24362-6", "Renal function panel - Serum or Plasma"),
    "18262-6": ("57698-3", "Lipid panel with direct LDL - Serum or Plasma"),
    "4548-4": ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood"),
}
_OTHER_PANEL = ("11502-2", "Laboratory report")
_CRITICALITY = {"MILD": "low", "MODERATE": "low", "SEVERE": "high"}


def immunizations(cols: dict[str, dict[str, object]], ids: FhirIds) -> Iterator[dict]:
    for rid, (date, pat, enc, code, desc) in zip(ids["immunizations"], _rows(
            cols["immunizations"], ("DATE", "PATIENT", "ENCOUNTER", "CODE", "DESCRIPTION")),
            strict=True):
        yield {"resourceType": "Immunization", "id": rid, "status": "completed",
               "vaccineCode": _cc(CVX_SYSTEM, code, desc), "patient": _ref("Patient", pat),
               "encounter": _ref("Encounter", enc), "occurrenceDateTime": date,
               "primarySource": True}


def _reaction(code: str, desc: str, severity: str) -> dict:
    return {"manifestation": [_cc(SNOMED, code, desc)], "severity": severity.lower()}


def allergies(cols: dict[str, dict[str, object]], ids: FhirIds) -> Iterator[dict]:
    names = ("START", "STOP", "PATIENT", "ENCOUNTER", "CODE", "DESCRIPTION", "TYPE", "CATEGORY",
             "REACTION1", "DESCRIPTION1", "SEVERITY1", "REACTION2", "DESCRIPTION2", "SEVERITY2")
    for rid, row in zip(ids["allergies"], _rows(cols["allergies"], names), strict=True):
        (start, stop, pat, enc, code, desc, kind, category, r1, d1, s1, r2, d2, s2) = row
        reactions = [_reaction(r1, d1, s1)] + ([_reaction(r2, d2, s2)] if r2 else [])
        resource = {
            "resourceType": "AllergyIntolerance", "id": rid,
            "clinicalStatus": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                "code": "resolved" if stop else "active"}]},
            "verificationStatus": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
                "code": "confirmed"}]},
            "type": kind, "category": [category],
            "criticality": "high" if "SEVERE" in (s1, s2) else "low",
            "code": _cc(SNOMED, code, desc), "patient": _ref("Patient", pat),
            "encounter": _ref("Encounter", enc), "onsetDateTime": start, "recordedDate": start,
            "reaction": reactions}
        if stop:  # outgrown: R4 has no abatement here; the last reaction date is the stop
            resource["lastOccurrence"] = stop
        yield resource


def careplans(cols: dict[str, dict[str, object]], ids: FhirIds) -> Iterator[dict]:
    table = cols["careplans"]
    condition_ids = ids["conditions"]
    for (rid, start, stop, pat, enc, code, desc, row) in _rows(
            table, ("Id", "START", "STOP", "PATIENT", "ENCOUNTER", "CODE", "DESCRIPTION",
                    "_condition_row")):
        period = {"start": start, "end": stop} if stop else {"start": start}
        yield {"resourceType": "CarePlan", "id": rid,
               "status": "completed" if stop else "active", "intent": "plan",
               "category": [_cc(SNOMED, code, desc)], "title": desc,
               "subject": _ref("Patient", pat), "encounter": _ref("Encounter", enc),
               "period": period, "addresses": [_ref("Condition", condition_ids[row])]}


def devices(cols: dict[str, dict[str, object]], ids: FhirIds) -> Iterator[dict]:
    for rid, (stop, pat, code, desc, udi, gtin, lot, serial, made, expires) in zip(
            ids["devices"], _rows(cols["devices"], (
                "STOP", "PATIENT", "CODE", "DESCRIPTION", "UDI", "_gtin", "_lot", "_serial",
                "_made", "_expires")), strict=True):
        yield {"resourceType": "Device", "id": rid,
               "udiCarrier": [{"deviceIdentifier": gtin, "carrierHRF": udi}],
               "status": "inactive" if stop else "active", "manufactureDate": made,
               "expirationDate": expires, "lotNumber": lot, "serialNumber": serial,
               "type": _cc(SNOMED, code, desc), "patient": _ref("Patient", pat)}


def imaging_studies(cols: dict[str, dict[str, object]]) -> Iterator[dict]:
    """One ImagingStudy per study (imaging_studies.csv has one row per instance)."""
    table = cols["imaging_studies"]
    rows = list(_rows(table, ("Id", "DATE", "PATIENT", "ENCOUNTER", "SERIES_UID",
                              "BODYSITE_CODE", "BODYSITE_DESCRIPTION", "MODALITY_CODE",
                              "MODALITY_DESCRIPTION", "INSTANCE_UID", "SOP_CODE",
                              "SOP_DESCRIPTION", "PROCEDURE_CODE", "_study_uid")))
    study_ids = as_list(table["Id"])
    starts = [i for i in range(len(rows)) if i == 0 or study_ids[i] != study_ids[i - 1]]
    if not starts:
        return
    for first, end in zip(starts, [*starts[1:], len(rows)], strict=True):
        (sid, date, pat, enc, series_uid, site, site_name, modality, modality_name, _, sop,
         sop_name, procedure, study_uid) = rows[first]
        instances = [{"uid": r[9], "sopClass": {"system": "urn:ietf:rfc:3986",
                                                "code": f"urn:oid:{sop}", "display": sop_name},
                      "number": k + 1, "title": sop_name}
                     for k, r in enumerate(rows[first:end])]
        yield {"resourceType": "ImagingStudy", "id": sid,
               "identifier": [{"use": "official", "system": "urn:dicom:uid",
                               "value": f"urn:oid:{study_uid}"}],
               "status": "available", "subject": _ref("Patient", pat),
               "encounter": _ref("Encounter", enc), "started": date,
               "numberOfSeries": 1, "numberOfInstances": len(instances),
               "procedureCode": [_cc(SNOMED, procedure, IMAGING[procedure][0])],
               "series": [{"uid": series_uid, "number": 1,
                           "modality": {"system": DICOM_DCM, "code": modality,
                                        "display": modality_name},
                           "numberOfInstances": len(instances),
                           "bodySite": {"system": SNOMED, "code": site, "display": site_name},
                           "started": date, "instance": instances}]}


def diagnostic_reports(cols: dict[str, dict[str, object]], ids: FhirIds,
                       rng: np.random.Generator) -> Iterator[dict]:
    """One report per encounter and laboratory panel, its ``result`` the Observations."""
    groups: dict[tuple[str, str], list[int]] = {}
    table = cols["observations"]
    for i, (enc, category, code) in enumerate(_rows(table, ("ENCOUNTER", "CATEGORY", "CODE"))):
        if category == "laboratory":
            groups.setdefault((enc, PANELS.get(code, _OTHER_PANEL)[0]), []).append(i)
    if not groups:
        return
    patients, dates = as_list(table["PATIENT"]), as_list(table["DATE"])
    observation_ids = ids["observations"]
    panel_names = {code: name for code, name in (*PANELS.values(), _OTHER_PANEL)}
    for rid, ((enc, panel), members) in zip(as_list(uuids(rng, len(groups))), groups.items(),
                                            strict=True):
        first = members[0]
        yield {"resourceType": "DiagnosticReport", "id": rid, "status": "final",
               "category": [{"coding": [{
                   "system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "LAB",
                   "display": "Laboratory"}]}],
               "code": _cc(LOINC, panel, panel_names[panel]),
               "subject": _ref("Patient", patients[first]), "encounter": _ref("Encounter", enc),
               "effectiveDateTime": dates[first], "issued": dates[first],
               "result": [_ref("Observation", observation_ids[i]) for i in members]}
