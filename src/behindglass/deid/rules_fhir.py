"""Rule catalogue for FHIR R4 resources: element path → what is done to it.

The longest listed prefix of a path decides; an unlisted path is dropped
(:func:`.safe_harbor.rule_for`).
"""

from __future__ import annotations

from behindglass.deid.rule_specs import (
    CARE_SITE,
    DATE,
    DEVICE,
    DROP_GEO,
    DROP_NAME,
    KEEP,
    PERSON,
    PROVIDER,
    VISIT,
    ZIP,
    Action,
    C,
    Spec,
    r,
)

#: FHIR R4 element paths; the longest listed prefix of a path decides.
FHIR: dict[str, Spec] = {
    "Patient.id": PERSON, "Patient.identifier": r(Action.DROP, C.MRN),
    "Patient.name": DROP_NAME,
    "Patient.telecom": r(Action.DROP, C.TELEPHONE, None, "phone, fax, email, URL (D, E, F, N)"),
    "Patient.gender": KEEP, "Patient.birthDate": r(Action.BIRTH_DATE, C.DATES),
    "Patient.deceasedDateTime": DATE, "Patient.deceasedBoolean": KEEP,
    "Patient.address": DROP_GEO, "Patient.address.postalCode": ZIP,
    "Patient.address.state": KEEP, "Patient.address.country": KEEP,
    "Patient.maritalStatus": KEEP, "Patient.multipleBirthBoolean": KEEP,
    "Patient.multipleBirthInteger": r(Action.DROP, C.OTHER_UNIQUE_ID),
    "Patient.photo": r(Action.DROP, C.PHOTO), "Patient.contact": DROP_NAME,
    "Patient.communication": KEEP, "Patient.generalPractitioner": PROVIDER,
    "Patient.managingOrganization": CARE_SITE, "Patient.link": r(Action.DROP, C.MRN),
    "Patient.extension.us-core-race": KEEP, "Patient.extension.us-core-ethnicity": KEEP,
    "Patient.extension.us-core-birthsex": KEEP,
    "Encounter.id": VISIT, "Encounter.identifier": r(Action.DROP, C.ACCOUNT_NUMBER),
    "Encounter.subject": PERSON, "Encounter.class": KEEP, "Encounter.type": KEEP,
    "Encounter.period.start": DATE, "Encounter.period.end": DATE,
    "Encounter.participant.individual": PROVIDER, "Encounter.serviceProvider": CARE_SITE,
    "Encounter.reasonCode": KEEP,
    "Condition.subject": PERSON, "Condition.encounter": VISIT, "Condition.code": KEEP,
    "Condition.onsetDateTime": DATE, "Condition.abatementDateTime": DATE,
    "Condition.recordedDate": DATE, "Condition.clinicalStatus": KEEP,
    "Observation.subject": PERSON, "Observation.encounter": VISIT,
    "Observation.code": KEEP, "Observation.category": KEEP,
    "Observation.effectiveDateTime": DATE, "Observation.issued": DATE,
    "Observation.valueQuantity": KEEP, "Observation.valueCodeableConcept": KEEP,
    "Observation.valueString": r(Action.DROP, C.OTHER_UNIQUE_ID, None, "free text"),
    "MedicationRequest.subject": PERSON, "MedicationRequest.encounter": VISIT,
    "MedicationRequest.medicationCodeableConcept": KEEP,
    "MedicationRequest.authoredOn": DATE, "MedicationRequest.requester": PROVIDER,
    "Procedure.subject": PERSON, "Procedure.encounter": VISIT, "Procedure.code": KEEP,
    "Procedure.performedPeriod.start": DATE, "Procedure.performedPeriod.end": DATE,
    "Procedure.performedDateTime": DATE,
    "Immunization.patient": PERSON, "Immunization.encounter": VISIT,
    "Immunization.vaccineCode": KEEP, "Immunization.occurrenceDateTime": DATE,
    "Device.patient": PERSON, "Device.type": KEEP, "Device.udiCarrier": DEVICE,
    "Device.serialNumber": DEVICE, "Device.lotNumber": DEVICE,
    "Coverage.identifier": r(Action.DROP, C.HEALTH_PLAN_ID),
    "Coverage.subscriberId": r(Action.DROP, C.HEALTH_PLAN_ID),
    "Claim.identifier": r(Action.DROP, C.ACCOUNT_NUMBER),
    "ExplanationOfBenefit.identifier": r(Action.DROP, C.ACCOUNT_NUMBER),
    "Practitioner.id": PROVIDER, "Practitioner.name": DROP_NAME,
    "Practitioner.identifier": r(Action.DROP, C.LICENSE_NUMBER),
    "Practitioner.telecom": r(Action.DROP, C.TELEPHONE), "Practitioner.address": DROP_GEO,
    "Practitioner.gender": KEEP, "Organization.id": CARE_SITE,
    "Media.content": r(Action.DROP, C.PHOTO),
}
