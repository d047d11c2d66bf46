"""FHIR R4 resources of the persons, encounters and core facts of one block, and of the
site (organizations, locations, practitioners).

Built from the very same per-block Synthea columns as the CSV export (``_block_columns``)
so both formats of the same arguments hold the same people, identities, encounters,
diagnoses, fills, results and procedures, with the same patient and encounter UUIDs.
Resources are plain dicts dumped with ``json`` (fast); the tests validate samples with
``fhir.resources``. Ids of resources that have no UUID in the CSV files come from a
separate random stream (``FhirIds``), so the CSV output is untouched. References are
written ``Kind/<id>``; the bundle layout rewrites them (``fhir_bundles``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from behindglass.synth import concepts as c
from behindglass.synth.identifiable.synthea_csv import as_list as _list
from behindglass.synth.identifiable.synthea_csv import uuids
from behindglass.synth.identifiable.truth import Planted
from behindglass.synth.profiles import Profile

RESOURCES = ("Patient", "Encounter", "Condition", "MedicationRequest", "MedicationStatement",
             "Observation", "DiagnosticReport", "Procedure", "Immunization",
             "AllergyIntolerance", "CarePlan", "Device", "ImagingStudy", "Coverage",
             "Organization", "Location", "Practitioner")
SITE_IDENTIFIER = "urn:behindglass:synth"  # identifier system of organizations and staff
# Ingredients mostly bought over the counter: their fills are written as patient-reported
# MedicationStatements, every other fill as a MedicationRequest (one resource per fill).
OTC_RXNORM = frozenset({"1191", "5640", "7258"})  # aspirin, ibuprofen, naproxen

SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
_V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
_SYSTEMS = {"SNOMED": SNOMED, "RxNorm": RXNORM, "LOINC": LOINC}
CODE_SYSTEM = {k.code: _SYSTEMS[k.vocabulary] for k in c.CLINICAL_CONCEPTS
               if k.vocabulary in _SYSTEMS}
_US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"
_OMB = "urn:oid:2.16.840.1.113883.6.238"
_RACE = {"white": ("2106-3", "White"), "black": ("2054-5", "Black or African American"),
         "asian": ("2028-9", "Asian"), "native": ("1002-5", "American Indian or Alaska Native"),
         "hawaiian": ("2076-8", "Native Hawaiian or Other Pacific Islander")}
_ETHNICITY = {"hispanic": ("2135-2", "Hispanic or Latino"),
              "nonhispanic": ("2186-5", "Not Hispanic or Latino")}
_MARITAL = {"M": "Married", "S": "Never Married", "D": "Divorced", "W": "Widowed"}
_CLASS = {"ambulatory": ("AMB", "ambulatory"), "inpatient": ("IMP", "inpatient encounter"),
          "emergency": ("EMER", "emergency"), "home": ("HH", "home health")}
_NATIONAL = {"USA": "http://hl7.org/fhir/sid/us-ssn"}
_RELATION = {"spouse": "SPS", "mother": "MTH", "father": "FTH", "daughter": "DAU",
             "son": "SON", "sister": "SIS", "brother": "BRO", "friend": "FRND"}

# Synthea CSV (table, column) -> FHIR location and class, for the truth file.
PLANTED_FHIR: tuple[tuple[str, str, Planted], ...] = tuple(
    (table, column, Planted(f"{where.split('.')[0]}.ndjson", where, kind))
    for table, column, where, kind in (
        ("patients", "BIRTHDATE", "Patient.birthDate", "date"),
        ("patients", "DEATHDATE", "Patient.deceasedDateTime", "date"),
        ("patients", "SSN", "Patient.identifier[SS].value", "ssn"),
        ("patients", "DRIVERS", "Patient.identifier[DL].value", "license"),
        ("patients", "PASSPORT", "Patient.identifier[PPN].value", "license"),
        ("patients", "FIRST", "Patient.name[official].given", "name"),
        ("patients", "LAST", "Patient.name[official].family", "name"),
        ("patients", "MAIDEN", "Patient.name[maiden].family", "name"),
        ("patients", "ADDRESS", "Patient.address.line", "address"),
        ("patients", "CITY", "Patient.address.city", "address"),
        ("patients", "ZIP", "Patient.address.postalCode", "zip"),
        ("patient_contacts", "MRN", "Patient.identifier[MR].value", "mrn"),
        ("patient_contacts", "ACCOUNT", "Patient.identifier[AN].value", "account"),
        ("patient_contacts", "PHONE", "Patient.telecom[phone].value", "phone"),
        ("patient_contacts", "EMAIL", "Patient.telecom[email].value", "email"),
        ("patient_contacts", "CONTACT_NAME", "Patient.contact.name.text", "name"),
        ("patient_contacts", "CONTACT_PHONE", "Patient.contact.telecom.value", "phone"),
        ("payer_transitions", "MEMBERID", "Coverage.subscriberId", "health_plan"),
        ("payer_transitions", "OWNER_NAME", "Coverage.subscriber.display", "name"),
        ("devices", "UDI", "Device.udiCarrier.carrierHRF", "device"),
        ("devices", "_serial", "Device.serialNumber", "device"),
        ("imaging_studies", "_truth:study", "ImagingStudy.identifier.value", "other_id"),
        ("imaging_studies", "_truth:SERIES_UID", "ImagingStudy.series.uid", "other_id"),
        ("imaging_studies", "INSTANCE_UID", "ImagingStudy.series.instance.uid", "other_id"),
    ))


@dataclass(frozen=True)
class FhirIds:
    """Resource ids of one block that the CSV files do not carry, by Synthea table."""

    by_table: dict[str, np.ndarray]

    @classmethod
    def draw(cls, rng: np.random.Generator, cols: dict[str, dict[str, object]]) -> FhirIds:
        # Fixed order; the first five keep the ids of earlier releases of this writer.
        tables = ("conditions", "medications", "observations", "procedures",
                  "payer_transitions", "immunizations", "allergies", "devices")
        return cls({t: uuids(rng, len(cols[t]["PATIENT"])) for t in tables})  # type: ignore[arg-type]

    def __getitem__(self, table: str) -> np.ndarray:
        return self.by_table[table]


def _rows(table: dict[str, object], names: Iterable[str]) -> Iterator[tuple]:
    return zip(*(_list(table[name]) for name in names), strict=True)


def _cc(system: str, code: str, display: str) -> dict:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def _ident(code: str, display: str, system: str, value: str) -> dict:
    return {"type": {"coding": [{"system": _V2_0203, "code": code, "display": display}]},
            "system": system, "value": value}


def _ext_omb(kind: str, code: str, display: str) -> dict:
    return {"url": _US_CORE + f"us-core-{kind}", "extension": [
        {"url": "ombCategory", "valueCoding": {"system": _OMB, "code": code,
                                               "display": display}},
        {"url": "text", "valueString": display}]}


def _slug(text: str) -> str:
    return "-".join(text.lower().split()) or "unknown"


_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _dump(resource: dict) -> str:
    return _ENCODE(resource) + "\n"


def patients(cols: dict[str, dict[str, object]], profile: Profile) -> Iterator[dict]:
    """Patient resources of one block (CSV patients + patient_contacts columns)."""
    national = _NATIONAL.get(profile.country,
                             f"urn:behindglass:national-id:{_slug(profile.country)}")
    base = f"urn:behindglass:{profile.name}"
    passports = f"urn:behindglass:passport:{_slug(profile.country)}"
    p = cols["patients"]
    rows = _rows(p, ("Id", "BIRTHDATE", "DEATHDATE", "SSN", "DRIVERS", "PASSPORT", "PREFIX",
                     "FIRST", "LAST", "SUFFIX", "MAIDEN", "MARITAL", "RACE", "ETHNICITY",
                     "GENDER", "ADDRESS", "CITY", "STATE", "ZIP"))
    contacts = _rows(cols["patient_contacts"], ("MRN", "ACCOUNT", "PHONE", "EMAIL",
                                                "CONTACT_NAME", "CONTACT_RELATIONSHIP",
                                                "CONTACT_PHONE"))
    for row, contact in zip(rows, contacts, strict=True):
        (pid, birth, death, ssn, drivers, passport, prefix, first, last, suffix, maiden,
         marital, race, ethnicity, gender, line, city, state, postal) = row
        mrn, account, phone, email, kin, relation, kin_phone = contact
        race_code = _RACE.get(race, ("2131-1", "Other Race"))
        name: dict = {"use": "official", "family": last, "given": [first]}
        if prefix:
            name["prefix"] = [prefix]
        if suffix:
            name["suffix"] = [suffix]
        names = [name]
        if maiden:
            names.append({"use": "maiden", "family": maiden, "given": [first]})
        identifiers = [_ident("MR", "Medical record number", f"{base}:mrn", mrn),
                       _ident("SS", "Social Security number", national, ssn),
                       _ident("AN", "Account number", f"{base}:account", account)]
        if drivers:
            identifiers.append(_ident("DL", "Driver's license number",
                                      f"urn:behindglass:drivers:{_slug(state)}", drivers))
        if passport:
            identifiers.append(_ident("PPN", "Passport number", passports, passport))
        resource: dict = {
            "resourceType": "Patient", "id": pid,
            "extension": [_ext_omb("race", *race_code),
                          _ext_omb("ethnicity", *_ETHNICITY[ethnicity])],
            "identifier": identifiers, "name": names,
            "telecom": [{"system": "phone", "value": phone, "use": "home"},
                        {"system": "email", "value": email}],
            "gender": "male" if gender == "M" else "female", "birthDate": birth,
        }
        if death:
            resource["deceasedDateTime"] = death
        resource["address"] = [{"line": [line], "city": city, "state": state,
                                "postalCode": postal, "country": profile.country}]
        if marital:
            resource["maritalStatus"] = _cc(
                "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", marital,
                _MARITAL[marital])
        resource["contact"] = [{
            "relationship": [{"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
                "code": _RELATION.get(relation, "FAMMEMB"), "display": relation}],
                "text": relation}],
            "name": {"text": kin, "family": kin.rsplit(" ", 1)[-1],
                     "given": [kin.rsplit(" ", 1)[0]]},
            "telecom": [{"system": "phone", "value": kin_phone}]}]
        yield resource


def _ref(kind: str, rid: str) -> dict:
    return {"reference": f"{kind}/{rid}"}


def clinical(cols: dict[str, dict[str, object]], ids: FhirIds,
             locations: dict[str, str]) -> dict[str, Iterator[dict]]:
    """Encounter, Condition, MedicationRequest / MedicationStatement, Observation and
    Procedure resources; ``locations`` maps an organization id to its Location id."""

    def encounters() -> Iterator[dict]:
        for eid, start, stop, pat, org, prov, kind, code, desc in _rows(
                cols["encounters"], ("Id", "START", "STOP", "PATIENT", "ORGANIZATION",
                                     "PROVIDER", "ENCOUNTERCLASS", "CODE", "DESCRIPTION")):
            act, label = _CLASS[kind]
            resource = {
                "resourceType": "Encounter", "id": eid, "status": "finished",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                          "code": act, "display": label},
                "type": [_cc(SNOMED, code, desc)], "subject": _ref("Patient", pat),
                "participant": [{"individual": _ref("Practitioner", prov)}],
                "period": {"start": start, "end": stop}}
            if org:
                resource["location"] = [{"location": _ref("Location", locations[org])}]
                resource["serviceProvider"] = _ref("Organization", org)
            yield resource

    def conditions() -> Iterator[dict]:
        table = cols["conditions"]
        for rid, (start, pat, enc, code, desc) in zip(ids["conditions"], _rows(
                table, ("START", "PATIENT", "ENCOUNTER", "CODE", "DESCRIPTION")), strict=True):
            yield {"resourceType": "Condition", "id": rid,
                   "clinicalStatus": {"coding": [{
                       "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                       "code": "active"}]},
                   "verificationStatus": {"coding": [{
                       "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                       "code": "confirmed"}]},
                   "category": [{"coding": [{
                       "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                       "code": "encounter-diagnosis", "display": "Encounter Diagnosis"}]}],
                   "code": _cc(CODE_SYSTEM.get(code, SNOMED), code, desc),
                   "subject": _ref("Patient", pat), "encounter": _ref("Encounter", enc),
                   "onsetDateTime": start, "recordedDate": start}

    def medications(statements: bool) -> Iterator[dict]:
        # One resource per fill: a MedicationStatement for over-the-counter ingredients,
        # else a MedicationRequest whose dispenseRequest keeps the fill's start and end.
        for rid, (start, stop, pat, enc, code, desc, dispenses) in zip(ids["medications"], _rows(
                cols["medications"], ("START", "STOP", "PATIENT", "ENCOUNTER", "CODE",
                                      "DESCRIPTION", "DISPENSES")), strict=True):
            if (code in OTC_RXNORM) != statements:
                continue
            drug = _cc(CODE_SYSTEM.get(code, RXNORM), code, desc)
            if statements:
                resource = {"resourceType": "MedicationStatement", "id": rid,
                            "status": "completed", "medicationCodeableConcept": drug,
                            "subject": _ref("Patient", pat),
                            "effectivePeriod": {"start": start, "end": stop},
                            "dateAsserted": start}
                if enc:
                    resource["context"] = _ref("Encounter", enc)
                yield resource
                continue
            resource = {"resourceType": "MedicationRequest", "id": rid, "status": "completed",
                        "intent": "order", "medicationCodeableConcept": drug,
                        "subject": _ref("Patient", pat), "authoredOn": start,
                        "dispenseRequest": {"numberOfRepeatsAllowed": 0,
                                            "validityPeriod": {"start": start, "end": stop},
                                            "quantity": {"value": int(dispenses)}}}
            if enc:
                resource["encounter"] = _ref("Encounter", enc)
            yield resource

    def observations() -> Iterator[dict]:
        table = cols["observations"]
        for rid, (date, pat, enc, cat, code, desc, value, units, kind) in zip(
                ids["observations"], _rows(
                table, ("DATE", "PATIENT", "ENCOUNTER", "CATEGORY", "CODE", "DESCRIPTION",
                        "VALUE", "UNITS", "TYPE")), strict=True):
            resource = {
                "resourceType": "Observation", "id": rid, "status": "final",
                "category": [{"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                    "code": cat}]}],
                "code": _cc(CODE_SYSTEM.get(code, LOINC), code, desc),
                "subject": _ref("Patient", pat), "encounter": _ref("Encounter", enc),
                "effectiveDateTime": date}
            if kind == "numeric":
                quantity: dict = {"value": float(value)}
                if units:
                    quantity.update(unit=units, system=UCUM, code=units)
                resource["valueQuantity"] = quantity
            elif value:
                resource["valueString"] = value
            yield resource

    def procedures() -> Iterator[dict]:
        table = cols["procedures"]
        for rid, (start, pat, enc, code, desc) in zip(ids["procedures"], _rows(
                table, ("START", "PATIENT", "ENCOUNTER", "CODE", "DESCRIPTION")), strict=True):
            yield {"resourceType": "Procedure", "id": rid, "status": "completed",
                   "code": _cc(CODE_SYSTEM.get(code, SNOMED), code, desc),
                   "subject": _ref("Patient", pat), "encounter": _ref("Encounter", enc),
                   "performedDateTime": start}

    return {"Encounter": encounters(), "Condition": conditions(),
            "MedicationRequest": medications(False), "MedicationStatement": medications(True),
            "Observation": observations(), "Procedure": procedures()}


def coverages(cols: dict[str, dict[str, object]], ids: FhirIds) -> Iterator[dict]:
    table = cols["payer_transitions"]
    for rid, (pat, member, start, end, payer, owner, name) in zip(ids["payer_transitions"], _rows(
            table, ("PATIENT", "MEMBERID", "START_DATE", "END_DATE", "PAYER", "PLAN_OWNERSHIP",
                    "OWNER_NAME")), strict=True):
        subscriber = ({"reference": f"Patient/{pat}", "display": name} if owner == "Self"
                      else {"display": name})
        yield {"resourceType": "Coverage", "id": rid, "status": "active",
               "subscriber": subscriber, "subscriberId": member,
               "beneficiary": _ref("Patient", pat),
               "relationship": {"coding": [{
                   "system": "http://terminology.hl7.org/CodeSystem/subscriber-relationship",
                   "code": "self" if owner == "Self" else "child"}]},
               "period": {"start": start, "end": end}, "payor": [_ref("Organization", payer)]}


def _site_ident(rid: str) -> list[dict]:
    # Bundles point at shared resources by this identifier (conditional references).
    return [{"system": SITE_IDENTIFIER, "value": rid}]


def location_ids(rng: np.random.Generator, cols: dict[str, dict[str, object]]) -> dict[str, str]:
    """One Location id per care-site organization."""
    orgs = _list(cols["organizations"]["Id"])
    return dict(zip(orgs, _list(uuids(rng, len(orgs))), strict=True))


def site_resources(cols: dict[str, dict[str, object]], profile: Profile,
                   locations: dict[str, str]) -> dict[str, list[dict]]:
    """Organization (care sites and payers), Location (one per care site) and Practitioner
    resources of the site."""
    orgs, places = [], []
    for oid, name, line, city, state, phone in _rows(
            cols["organizations"], ("Id", "NAME", "ADDRESS", "CITY", "STATE", "PHONE")):
        address = {"line": [line], "city": city, "state": state, "country": profile.country}
        orgs.append({"resourceType": "Organization", "id": oid, "identifier": _site_ident(oid),
                     "active": True, "type": [{"coding": [{
                         "system": "http://terminology.hl7.org/CodeSystem/organization-type",
                         "code": "prov", "display": "Healthcare Provider"}]}],
                     "name": name, "telecom": [{"system": "phone", "value": phone}],
                     "address": [address]})
        places.append({"resourceType": "Location", "id": locations[oid],
                       "identifier": _site_ident(locations[oid]), "status": "active",
                       "name": name, "telecom": [{"system": "phone", "value": phone}],
                       "address": address, "managingOrganization": _ref("Organization", oid)})
    orgs += [{"resourceType": "Organization", "id": oid, "identifier": _site_ident(oid),
              "active": True, "type": [{"coding": [{
                  "system": "http://terminology.hl7.org/CodeSystem/organization-type",
                  "code": "pay", "display": "Payer"}]}], "name": name}
             for oid, name in _rows(cols["payers"], ("Id", "NAME"))]
    practitioners = [{"resourceType": "Practitioner", "id": pid, "identifier": _site_ident(pid),
                      "active": True,
                      "name": [{"text": name, "family": name.rsplit(" ", 1)[-1],
                                "given": [name.rsplit(" ", 1)[0]]}],
                      "gender": "female" if gender == "F" else "male",
                      "address": [{"city": city, "state": state,
                                   "country": profile.country}]}
                     for pid, name, gender, city, state in _rows(
                         cols["providers"], ("Id", "NAME", "GENDER", "CITY", "STATE"))]
    return {"Organization": orgs, "Location": places, "Practitioner": practitioners}
