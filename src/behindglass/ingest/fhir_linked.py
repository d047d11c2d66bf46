"""Synthea rows that FHIR spreads over two resource types, assembled after both are read.

* organizations ← Organization (Id, address state and postalCode; insurers, type ``pay``,
  are left out as Synthea's organizations.csv does), completed from a
  Location whose ``managingOrganization`` names it: a Location gives the state and ZIP of
  the organization that manages it when that organization has none of its own (or no
  Organization resource at all). A Location without ``managingOrganization`` is skipped:
  OMOP has no place for a location that belongs to no care site.
* providers ← Practitioner (Id, gender), with ORGANIZATION and SPECIALITY from the first
  PractitionerRole naming it. Names, addresses, identifiers (NPI …) are never read.
* devices ← Device (type code, patient) with START/STOP from the DeviceUseStatements naming
  it (timingPeriod, else timingDateTime, else recordedOn), one row per statement. A Device
  no statement names gets START = manufactureDate, the only date Synthea's FHIR export puts
  on a device (its CSV START is a few weeks later), or the patient's birth date when it was
  made before the patient was born (a newborn's device), and no STOP (expirationDate is the
  device's shelf life, not the end of its use). udiCarrier, serialNumber, lotNumber and
  distinctIdentifier are identifiers (class M) and are never read.

All of these are small (one row per organization, clinician or implanted device), so they
are read line by line and held in memory until the pair is complete.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from behindglass.ingest.fhir_values import first, first_coding, get, ref, text

STEMS = {"Organization": "organizations", "Location": "organizations",
         "Practitioner": "providers", "PractitionerRole": "providers",
         "Device": "devices", "DeviceUseStatement": "devices"}

COLUMNS = {
    "organizations": ("Id", "STATE", "ZIP"),
    "providers": ("Id", "ORGANIZATION", "GENDER", "SPECIALITY"),
    "devices": ("START", "STOP", "PATIENT", "ENCOUNTER", "CODE"),
}

EXTRACTED = {
    "Organization": ("Organization.id", "Organization.type", "Organization.address.state",
                     "Organization.address.postalCode"),
    "Location": ("Location.managingOrganization", "Location.address.state",
                 "Location.address.postalCode"),
    "Practitioner": ("Practitioner.id", "Practitioner.gender"),
    "PractitionerRole": ("PractitionerRole.practitioner", "PractitionerRole.organization",
                         "PractitionerRole.specialty"),
    "Device": ("Device.id", "Device.patient", "Device.type", "Device.manufactureDate"),
    "DeviceUseStatement": ("DeviceUseStatement.device", "DeviceUseStatement.subject",
                           "DeviceUseStatement.timingPeriod.start",
                           "DeviceUseStatement.timingPeriod.end",
                           "DeviceUseStatement.timingDateTime",
                           "DeviceUseStatement.recordedOn"),
}

TERMS = {
    "organizations": {"Id": "id"},
    "providers": {"Id": "id"},
    "devices": {"PATIENT": "patient", "START": "start (use or manufactureDate)",
                "STOP": "timingPeriod.end"},
}

_GENDER = {"male": "M", "female": "F"}

Origin = tuple[str, int]  # (NDJSON file label, line)


def _address(r: dict) -> tuple[str, str]:
    address = r.get("address")
    address = first(address) if isinstance(address, list) else address
    return text(get(address, "state")), text(get(address, "postalCode"))


def organization(r: dict) -> tuple[str, ...]:
    types = r.get("type") if isinstance(r.get("type"), list) else []
    payer = any(text(get(c, "code")) == "pay" for t in types
                for c in (get(t, "coding") or ()))
    return (text(r.get("id")), *_address(r), "pay" if payer else "")


def location(r: dict) -> tuple[str, ...]:
    return (ref(r.get("managingOrganization")), *_address(r))


def practitioner(r: dict) -> tuple[str, ...]:
    gender = text(r.get("gender"))
    return text(r.get("id")), _GENDER.get(gender, gender)


def practitioner_role(r: dict) -> tuple[str, ...]:
    return (ref(r.get("practitioner")), ref(r.get("organization")),
            first_coding(r.get("specialty"))[1])


def device(r: dict) -> tuple[str, ...]:
    return (text(r.get("id")), ref(r.get("patient")), first_coding(r.get("type"))[1],
            text(r.get("manufactureDate")))


def device_use(r: dict) -> tuple[str, ...]:
    start = (text(get(r, "timingPeriod", "start")) or text(r.get("timingDateTime"))
             or text(r.get("recordedOn")))
    return (ref(r.get("device")), ref(r.get("subject")), start,
            text(get(r, "timingPeriod", "end")))


FLATTEN: dict[str, Callable[[dict], tuple[str, ...]]] = {
    "Organization": organization, "Location": location, "Practitioner": practitioner,
    "PractitionerRole": practitioner_role, "Device": device,
    "DeviceUseStatement": device_use,
}


@dataclass
class Linked:
    """The partial rows of one stem's two resource types, in file order."""

    stem: str
    parts: dict[str, list[tuple[tuple[str, ...], Origin]]] = field(default_factory=dict)

    def add(self, kind: str, row: tuple[str, ...], origin: Origin) -> None:
        self.parts.setdefault(kind, []).append((row, origin))

    def rows(self, births: Mapping[str, str]) -> list[tuple[tuple[str, ...], Origin]]:
        """The assembled rows in COLUMNS order, each with the line it came from;
        ``births`` (patient id → YYYY-MM-DD) bounds the dates guessed for devices."""
        return _ASSEMBLE[self.stem](self.parts, births)


def _organizations(parts: dict, births: Mapping[str, str]) -> list[tuple[tuple[str, ...], Origin]]:
    rows: list[tuple[tuple[str, ...], Origin]] = []
    at: dict[str, int] = {}
    for row, origin in parts.get("Organization", []):
        if row[3] or (row[0] and row[0] in at):
            continue  # an insurer is not a care site (Synthea lists it in payers); a repeat
        if row[0]:
            at[row[0]] = len(rows)
        rows.append((row[:3], origin))
    for (org, state, zip_), origin in parts.get("Location", []):
        if not org or not (state or zip_):
            continue
        if org not in at:
            at[org] = len(rows)
            rows.append(((org, state, zip_), origin))
        elif not any(rows[at[org]][0][1:]):
            rows[at[org]] = ((org, state, zip_), rows[at[org]][1])
    return rows


def _providers(parts: dict, births: Mapping[str, str]) -> list[tuple[tuple[str, ...], Origin]]:
    roles: dict[str, tuple[str, str]] = {}
    for (who, org, specialty), _ in parts.get("PractitionerRole", []):
        if who and who not in roles:
            roles[who] = (org, specialty)
    rows = []
    seen: set[str] = set()
    for (pid, gender), origin in parts.get("Practitioner", []):
        if pid and pid in seen:
            continue  # the same clinician in every patient's bundle: the first copy
        seen.add(pid)
        org, specialty = roles.get(pid, ("", ""))
        rows.append(((pid, org, gender, specialty), origin))
    return rows


def _devices(parts: dict, births: Mapping[str, str]) -> list[tuple[tuple[str, ...], Origin]]:
    uses: dict[str, list[tuple[str, str, str]]] = {}
    for (dev, subject, start, stop), _ in parts.get("DeviceUseStatement", []):
        if dev:
            uses.setdefault(dev, []).append((subject, start, stop))
    rows = []
    for (did, patient, code, made), origin in parts.get("Device", []):
        birth = births.get(patient, "")
        if made and birth > made[:10]:
            made = birth  # a newborn's device is made before birth, used after it
        for subject, start, stop in uses.get(did, []) or [("", made, "")]:
            rows.append(((start, stop, subject or patient, "", code), origin))
    return rows


_ASSEMBLE = {"organizations": _organizations, "providers": _providers, "devices": _devices}

