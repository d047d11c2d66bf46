"""Hand-written FHIR R4 resources for the FHIR ingest tests, with identifiers planted.

Three patients with encounters, conditions, drugs, results, procedures and every type the
flattening reads beyond those (immunizations, allergies, devices, imaging studies,
coverage, care plans, organizations, clinicians), plus the free-text types that are held
back. ``PLANTED`` lists every identifier put in; none of them may reach the store.
``write_ndjson`` lays them out as a bulk export; the bundle tests lay the same resources
out as bundles. The samples are checked against the R4B models of ``fhir.resources``.
"""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest

SNOMED, RXNORM, LOINC = ("http://snomed.info/sct",
                         "http://www.nlm.nih.gov/research/umls/rxnorm", "http://loinc.org")
CVX = "http://hl7.org/fhir/sid/cvx"
PATIENTS = ("pat-0001-aaaa", "pat-0002-bbbb", "pat-0003-cccc")
NOTE = "Zebulon Quigglesworth was seen today; call 617-555-0142."

PLANTED = ["Zebulon", "Quigglesworth", "Philomena", "Arbuthnot", "123-45-6789",
           "617-555-0142", "17 Juniper Hollow Rd", "Springfieldia", "9999912345",
           "Dr Thaddeus Krzyzanowski", "(01)00643169007222(17)160128(21)BLC200461H",
           "SN-QQ-48213", "LOT-ZX-99817", "DI-77766655", "1.2.840.99999.2.777.31337",
           "1.2.840.99999.3.888.42424", "M-SUB-55512", "ACC-998877", "Hospital of Zebulon",
           base64.b64encode(NOTE.encode()).decode(), *PATIENTS]


def _cc(system: str, code: str, display: str = "") -> dict:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def _ref(kind: str, rid: str) -> dict:
    return {"reference": f"{kind}/{rid}"}


def patients() -> list[dict]:
    out = []
    for i, (pid, birth, gender) in enumerate(zip(PATIENTS, ("1950-03-14", "1980-11-02",
                                                            "1990-07-30"),
                                                 ("female", "male", "female"), strict=True)):
        patient: dict[str, Any] = {
            "resourceType": "Patient", "id": pid, "birthDate": birth, "gender": gender,
            "identifier": [{"system": "http://hl7.org/fhir/sid/us-ssn", "value": "123-45-6789"}],
            "name": [{"family": "Quigglesworth" if i else "Arbuthnot",
                      "given": ["Zebulon" if i else "Philomena"]}],
            "telecom": [{"system": "phone", "value": "617-555-0142"}],
            "address": [{"use": "home", "line": ["17 Juniper Hollow Rd"], "city": "Springfieldia",
                         "state": "MA", "postalCode": "02139"}]}
        if i == 1:
            patient["deceasedDateTime"] = "2024-02-10T08:00:00Z"
        out.append(patient)
    return out


def clinical() -> dict[str, list[dict]]:
    """resourceType → resources (all but Patient), in a fixed order."""
    r: dict[str, list[dict]] = {}

    def add(resource: dict) -> None:
        r.setdefault(resource["resourceType"], []).append(resource)

    add({"resourceType": "Organization", "id": "org-1", "name": "Hospital of Zebulon",
         "type": [_cc("http://terminology.hl7.org/CodeSystem/organization-type", "prov")],
         "telecom": [{"system": "phone", "value": "617-555-0142"}],
         "address": [{"line": ["17 Juniper Hollow Rd"], "state": "MA", "postalCode": "02139"}]})
    add({"resourceType": "Organization", "id": "payer-1", "name": "Medicare",
         "type": [_cc("http://terminology.hl7.org/CodeSystem/organization-type", "pay")]})
    add({"resourceType": "Location", "id": "loc-1", "name": "Hospital of Zebulon",
         "address": {"state": "NH", "postalCode": "03601"},
         "managingOrganization": _ref("Organization", "org-2")})
    add({"resourceType": "Location", "id": "loc-2", "address": {"state": "VT"}})
    add({"resourceType": "Practitioner", "id": "dr-1", "gender": "male",
         "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "9999912345"}],
         "name": [{"text": "Dr Thaddeus Krzyzanowski"}]})
    add({"resourceType": "PractitionerRole", "id": "role-1",
         "practitioner": _ref("Practitioner", "dr-1"),
         "organization": _ref("Organization", "org-1"),
         "specialty": [_cc(SNOMED, "394814009", "General practice")]})
    for i, pid in enumerate(PATIENTS):
        for k, (start, act) in enumerate((("2019-03-04T09:30:00Z", "AMB"),
                                          ("2020-11-20T22:10:00Z", "IMP"))):
            add({"resourceType": "Encounter", "id": f"enc-{i}-{k}", "status": "finished",
                 "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                           "code": act},
                 "type": [_cc(SNOMED, "185349003")], "subject": _ref("Patient", pid),
                 "participant": [{"individual": _ref("Practitioner", "dr-1")}],
                 "period": {"start": start, "end": start.replace(":10:", ":50:")},
                 "serviceProvider": _ref("Organization", "org-1"),
                 "identifier": [{"value": "ACC-998877"}]})
        enc = _ref("Encounter", f"enc-{i}-0")
        add({"resourceType": "Condition", "id": f"cond-{i}", "subject": _ref("Patient", pid),
             "encounter": enc, "code": _cc(SNOMED, "44054006"),
             "onsetDateTime": "2019-03-04"})
        med: dict[str, Any] = {"resourceType": "MedicationRequest", "id": f"med-{i}",
                               "status": "completed", "intent": "order",
                               "medicationCodeableConcept": _cc(RXNORM, "860975"),
                               "subject": _ref("Patient", pid), "encounter": enc,
                               "authoredOn": "2019-03-04T09:40:00Z"}
        if i == 0:
            med["dispenseRequest"] = {"numberOfRepeatsAllowed": 0, "validityPeriod": {
                "start": "2019-03-04", "end": "2019-04-03"}}
        elif i == 1:
            med["dispenseRequest"] = {"numberOfRepeatsAllowed": 2, "expectedSupplyDuration": {
                "value": 30, "unit": "days", "system": "http://unitsofmeasure.org",
                "code": "d"}, "quantity": {"value": 60}}
        add(med)
        add({"resourceType": "Observation", "id": f"obs-{i}", "status": "final",
             "code": _cc(LOINC, "4548-4"), "subject": _ref("Patient", pid), "encounter": enc,
             "effectiveDateTime": "2019-03-04T09:45:00Z",
             "valueQuantity": {"value": 6.5 + i, "unit": "%"}})
        add({"resourceType": "Procedure", "id": f"proc-{i}", "status": "completed",
             "code": _cc(SNOMED, "29303009"), "subject": _ref("Patient", pid),
             "encounter": _ref("Encounter", f"enc-{i}-1"),
             "performedPeriod": {"start": "2020-11-20T22:30:00Z",
                                 "end": "2020-11-20T23:00:00Z"}})
        add({"resourceType": "Immunization", "id": f"imm-{i}", "status": "completed",
             "vaccineCode": {"coding": [{"system": "urn:other", "code": "X1"},
                                        {"system": CVX, "code": "140"}]},
             "patient": _ref("Patient", pid), "encounter": enc,
             "occurrenceDateTime": "2019-03-04T09:50:00Z", "lotNumber": "LOT-ZX-99817"})
        add({"resourceType": "CarePlan", "id": f"plan-{i}", "status": "active",
             "intent": "plan", "subject": _ref("Patient", pid), "encounter": enc,
             "category": [_cc("http://hl7.org/fhir/us/core/CodeSystem/careplan-category",
                              "assess-plan"), _cc(SNOMED, "698360004")],
             "period": {"start": "2019-03-04"}, "description": NOTE})
    p1, p3 = PATIENTS[0], PATIENTS[2]
    add({"resourceType": "AllergyIntolerance", "id": "alg-1", "type": "allergy",
         "category": ["food"],
         "clinicalStatus": _cc("http://terminology.hl7.org/CodeSystem/"
                               "allergyintolerance-clinical", "resolved"),
         "code": _cc(SNOMED, "91935009"), "patient": _ref("Patient", p1),
         "encounter": _ref("Encounter", "enc-0-0"), "recordedDate": "2019-03-04",
         "lastOccurrence": "2020-05-01", "note": [{"text": NOTE}]})
    add({"resourceType": "Device", "id": "dev-1", "patient": _ref("Patient", p1),
         "type": _cc(SNOMED, "72506001"), "manufactureDate": "2019-02-01",
         "expirationDate": "2039-02-01", "lotNumber": "LOT-ZX-99817",
         "serialNumber": "SN-QQ-48213", "distinctIdentifier": "DI-77766655",
         "udiCarrier": [{"deviceIdentifier": "00643169007222",
                         "carrierHRF": "(01)00643169007222(17)160128(21)BLC200461H"}]})
    add({"resourceType": "Device", "id": "dev-2", "patient": _ref("Patient", p3),
         "type": _cc(SNOMED, "261352009"), "manufactureDate": "2020-11-01",
         "serialNumber": "SN-QQ-48213"})
    add({"resourceType": "DeviceUseStatement", "id": "dus-1", "status": "active",
         "subject": _ref("Patient", p1), "device": _ref("Device", "dev-1"),
         "timingPeriod": {"start": "2019-03-04T10:00:00Z", "end": "2021-01-01T00:00:00Z"}})
    add({"resourceType": "ImagingStudy", "id": "img-1", "status": "available",
         "identifier": [{"system": "urn:dicom:uid", "value": "urn:oid:1.2.840.99999.1.5"}],
         "subject": _ref("Patient", p1), "encounter": _ref("Encounter", "enc-0-1"),
         "started": "2020-11-20T22:20:00Z", "procedureCode": [_cc(SNOMED, "399208008")],
         "series": [{"uid": "1.2.840.99999.2.777.31337", "modality": {
             "system": "http://dicom.nema.org/resources/ontology/DCM", "code": "DX"},
             "bodySite": {"system": SNOMED, "code": "51185008"},
             "instance": [{"uid": "1.2.840.99999.3.888.42424", "sopClass": {
                 "system": "urn:ietf:rfc:3986", "code": "urn:oid:1.2.840.10008.5.1.4.1.1.1.1"}}]}]})
    add({"resourceType": "Coverage", "id": "cov-1", "status": "active",
         "subscriberId": "M-SUB-55512", "identifier": [{"value": "M-SUB-55512"}],
         "subscriber": {"display": "Philomena Arbuthnot"},
         "beneficiary": _ref("Patient", p1), "payor": [_ref("Organization", "payer-1")],
         "relationship": _cc("http://terminology.hl7.org/CodeSystem/subscriber-relationship",
                             "child"),
         "period": {"start": "2019-01-01", "end": "2021-12-31"}})
    add({"resourceType": "MedicationStatement", "id": "ms-1", "status": "active",
         "medicationCodeableConcept": _cc(RXNORM, "1191"), "subject": _ref("Patient", p3),
         "context": _ref("Encounter", "enc-2-0"),
         "effectivePeriod": {"start": "2019-03-04T00:00:00Z", "end": "2019-04-03T00:00:00Z"}})
    attachment = {"contentType": "text/plain",
                  "data": base64.b64encode(NOTE.encode()).decode()}
    add({"resourceType": "DiagnosticReport", "id": "dr-1", "status": "final",
         "code": _cc(LOINC, "4548-4"), "subject": _ref("Patient", p1),
         "result": [_ref("Observation", "obs-0")], "presentedForm": [attachment]})
    add({"resourceType": "DiagnosticReport", "id": "dr-2", "status": "final",
         "code": _cc(LOINC, "4548-4"), "subject": _ref("Patient", p3)})
    add({"resourceType": "DocumentReference", "id": "doc-1", "status": "current",
         "subject": _ref("Patient", p3), "date": "2019-03-04T10:00:00Z",
         "type": _cc(LOINC, "11488-4"), "content": [{"attachment": attachment}]})
    return r


def resources() -> dict[str, list[dict]]:
    """Every sample resource by type, Patient first (fresh copies)."""
    return copy.deepcopy({"Patient": patients(), **clinical()})


def patient_of(resource: dict) -> str | None:
    """The patient a resource belongs to (None for shared ones: organizations …)."""
    if resource["resourceType"] == "Patient":
        return resource["id"]
    for key in ("subject", "patient", "beneficiary"):
        if key in resource:
            return resource[key]["reference"].split("/")[-1]
    return None


def write_ndjson(root: Path, by_type: dict[str, list[dict]] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for kind, items in (by_type or resources()).items():
        (root / f"{kind}.ndjson").write_text("".join(json.dumps(x) + "\n" for x in items))
    return root


_MODULES = {"AllergyIntolerance": "allergyintolerance", "CarePlan": "careplan",
            "DeviceUseStatement": "deviceusestatement", "DiagnosticReport": "diagnosticreport",
            "DocumentReference": "documentreference", "ImagingStudy": "imagingstudy",
            "MedicationRequest": "medicationrequest",
            "MedicationStatement": "medicationstatement",
            "PractitionerRole": "practitionerrole"}


@pytest.mark.parametrize("kind", sorted({"Patient", *clinical()}))
def test_samples_are_valid_r4b(kind: str) -> None:
    import importlib

    module = importlib.import_module(f"fhir.resources.R4B.{_MODULES.get(kind, kind.lower())}")
    model = getattr(module, kind)
    samples = resources()[kind]
    assert samples, kind
    for resource in samples:
        parsed = model.model_validate(resource)  # raises on an invalid sample
        assert parsed.id == resource["id"]
