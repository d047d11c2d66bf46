"""The FHIR bundle layout, as Synthea writes it: one transaction Bundle per patient
(``fhir/<patient-id>.json``) and the shared resources in two batch Bundles,
``hospitalInformation.json`` (Organization, Location) and ``practitionerInformation.json``
(Practitioner).

Inside a patient bundle every entry has ``fullUrl`` ``urn:uuid:<id>`` and a POST request,
and references to the patient's own resources are ``urn:uuid:<id>``, so a server resolves
them within the transaction. Shared resources are referenced conditionally by their
identifier (``Organization?identifier=<system>|<id>``), and the shared bundles create them
only if absent (``ifNoneExist``). Bundles are assembled as text from the encoded
resources: the resources are built once, with ``Kind/<id>`` references, for both layouts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from behindglass.synth.identifiable.fhir import _ENCODE, SITE_IDENTIFIER

BUNDLE_DIR = "fhir"
HOSPITAL_FILE, PRACTITIONER_FILE = "hospitalInformation.json", "practitionerInformation.json"
SHARED = ("Organization", "Location", "Practitioner")
_LOCAL_REF = re.compile(r'"reference":"(?:Patient|Encounter|Condition|Observation|'
                        r'MedicationRequest|MedicationStatement|Procedure|Immunization|'
                        r'AllergyIntolerance|CarePlan|Device|ImagingStudy|Coverage|'
                        r'DiagnosticReport|DocumentReference)/')
_SHARED_REF = re.compile(r'"reference":"(Organization|Location|Practitioner)/')
_OWNER_FIELDS = ("subject", "patient", "beneficiary")


def bundle_references(text: str) -> str:
    """Rewrite ``Kind/<id>`` references for the bundle layout."""
    text = _LOCAL_REF.sub('"reference":"urn:uuid:', text)
    return _SHARED_REF.sub(lambda m: f'"reference":"{m[1]}?identifier={SITE_IDENTIFIER}|', text)


def owner_of(resource: dict) -> str:
    """The patient id a resource belongs to."""
    if resource["resourceType"] == "Patient":
        return resource["id"]
    for field in _OWNER_FIELDS:
        if field in resource:
            return resource[field]["reference"].removeprefix("Patient/")
    raise ValueError(f"{resource['resourceType']} {resource['id']} names no patient")


def _entry(resource: dict, conditional: bool) -> str:
    kind, rid = resource["resourceType"], resource["id"]
    request = f'{{"method":"POST","url":"{kind}"'
    if conditional:
        request += f',"ifNoneExist":"identifier={SITE_IDENTIFIER}|{rid}"'
    return f'{{"fullUrl":"urn:uuid:{rid}","resource":{_ENCODE(resource)},"request":{request}}}}}'


def _bundle(kind: str, entries: Iterable[str]) -> str:
    return (f'{{"resourceType":"Bundle","type":"{kind}","entry":['
            + ",".join(entries) + "]}\n")


def patient_bundles(streams: dict[str, Iterable[dict]],
                    counts: dict[str, int]) -> Iterator[tuple[str, str]]:
    """(patient id, transaction Bundle text) for each patient of one block.

    ``streams`` must start with the block's Patient resources; ``counts`` receives the
    number of resources written per type.
    """
    entries: dict[str, list[str]] = {}
    for kind, resources in streams.items():
        written = 0
        for resource in resources:
            owner = owner_of(resource)
            if kind == "Patient":
                entries[owner] = []
            entries[owner].append(_entry(resource, conditional=False))
            written += 1
        counts[kind] = counts.get(kind, 0) + written
    for owner, items in entries.items():
        yield owner, bundle_references(_bundle("transaction", items))


def shared_bundles(site: dict[str, list[dict]]) -> dict[str, str]:
    """File name -> batch Bundle text of the site's shared resources."""
    hospital = [_entry(r, True) for kind in ("Organization", "Location") for r in site[kind]]
    staff = [_entry(r, True) for r in site["Practitioner"]]
    return {HOSPITAL_FILE: bundle_references(_bundle("batch", hospital)),
            PRACTITIONER_FILE: bundle_references(_bundle("batch", staff))}
