"""Site deny-lists built from a site's own structured extract (Synthea CSV or FHIR R4).

The identifiers a note may repeat are the ones the site's structured data already holds:
its patients' and next of kin's names, national ids, licences, MRNs, addresses, phone
numbers and e-mails, its clinicians' names and its own organisations. These functions
collect them per PHI label into a :class:`~behindglass.deid.text.site_lists.SiteLists`.

Only the identity columns (or elements) are read; clinical files and resources are never
opened. Synthea appends digits to generated names ("Maria123"), which are stripped, so the
lists hold the names as a note would spell them. Insurer names are not collected: an
insurer (Medicare, a health plan) names many members, not one person, and the ingest keeps
it as a source value (docs/ingest.md).
"""

from __future__ import annotations

import csv
import json
import re
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from behindglass.core.errors import LoadError
from behindglass.deid.text.site_lists import SiteLists

Pairs = Iterator[tuple[str, str]]

#: Synthea CSV file → {column: label}; a NAME-labelled entry is handled by the name rules.
SYNTHEA_COLUMNS: dict[str, dict[str, str]] = {
    "patients": {"SSN": "SSN", "DRIVERS": "LICENSE", "PASSPORT": "LICENSE",
                 "ADDRESS": "STREET", "CITY": "CITY", "COUNTY": "CITY", "ZIP": "ZIP",
                 "PHONE": "PHONE", "EMAIL": "EMAIL", "MRN": "MRN"},
    # not a Synthea file: the contact details a hospital extract carries beside patients
    "patient_contacts": {"MRN": "MRN", "ACCOUNT": "ACCOUNT", "PHONE": "PHONE",
                         "EMAIL": "EMAIL", "CONTACT_NAME": "NAME", "CONTACT_PHONE": "PHONE"},
    "providers": {"NAME": "NAME", "ADDRESS": "STREET", "CITY": "CITY", "ZIP": "ZIP",
                  "PHONE": "PHONE"},
    "organizations": {"NAME": "INSTITUTION", "ADDRESS": "STREET", "CITY": "CITY", "ZIP": "ZIP",
                      "PHONE": "PHONE"},
    "payer_transitions": {"MEMBERID": "HEALTH_PLAN", "OWNER_NAME": "NAME"},
}
#: Columns a patients file must have: without them it is not the file we think it is.
REQUIRED = ("FIRST", "LAST")
_TRAILING_DIGITS = re.compile(r"\d+$")


def clean_name(value: str | None) -> str:
    """One name as a note would spell it: Synthea's appended digits stripped from each
    word ("Maria123 O'Neil45" → "Maria O'Neil"), blanks collapsed."""
    if not value:
        return ""
    return " ".join(w for w in (_TRAILING_DIGITS.sub("", p) for p in value.split()) if w)


def _find(folder: Path, stem: str) -> Path | None:
    for path in folder.iterdir():
        if path.is_file() and path.name.lower() == f"{stem}.csv":
            return path
    return None


def _rows(path: Path, strict: bool) -> Iterator[dict[str, str]]:
    """The rows of one CSV file as {upper-case column: value}. Python's reader, not
    DuckDB's: a file is read once for all its columns, and an error names the line without
    echoing it (DuckDB's messages quote the offending line, which is PHI)."""
    bad: list[int] = []

    def lines() -> Iterator[str]:
        with path.open("rb") as fh:
            for number, raw in enumerate(fh, start=1):
                try:
                    yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
                except UnicodeDecodeError:
                    if strict:
                        raise LoadError("not UTF-8 text (site lists need every row of it)",
                                        file=str(path), line=number) from None
                    bad.append(number)
                    yield raw.decode("utf-8", errors="replace")

    old = csv.field_size_limit()
    csv.field_size_limit(2**31 - 1)
    try:
        reader = csv.reader(lines())
        header = [h.strip().upper() for h in next(reader, [])]
        start = reader.line_num + 1
        try:
            for row in reader:
                first, start = start, reader.line_num + 1
                if bad and bad[-1] >= first:
                    continue  # lenient: a row with undecodable bytes is the ingest's to report
                if len(row) != len(header):
                    if strict:
                        raise LoadError("malformed CSV row (wrong number of fields)",
                                        file=str(path), line=first)
                    continue
                yield dict(zip(header, row, strict=True))
        except csv.Error:
            raise LoadError("malformed CSV (broken quoting)", file=str(path),
                            line=start) from None
    finally:
        csv.field_size_limit(old)


def _header(path: Path) -> set[str]:
    with path.open("rb") as fh:
        first = fh.readline()
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise LoadError("the header row is not UTF-8 text", file=str(path), line=1) from None
    rows = list(csv.reader([text]))
    return {h.strip().upper() for h in (rows[0] if rows else [])}


def _synthea_pairs(folder: Path, strict: bool) -> Pairs:
    patients = _find(folder, "patients")
    if patients is None:
        raise LoadError("no patients.csv: site lists start with the patients",
                        file=str(folder / "patients.csv"))
    for stem, columns in SYNTHEA_COLUMNS.items():
        path = patients if stem == "patients" else _find(folder, stem)
        if path is None:
            continue
        header = _header(path)
        if stem == "patients":
            missing = [c for c in REQUIRED if c not in header]
            if missing:
                raise LoadError(f"no {', '.join(missing)} column: not a Synthea patients "
                                "file", file=str(path))
        wanted = [(c, label) for c, label in columns.items() if c in header]
        for row in _rows(path, strict):
            if stem == "patients":
                yield from _patient_names(row)
            for column, label in wanted:
                value = row[column].strip()
                if value:
                    yield label, clean_name(value) if label == "NAME" else value


def _patient_names(row: dict[str, str]) -> Pairs:
    """"First Last" and, for a maiden name, "First Maiden" (PREFIX and SUFFIX left out:
    "Mr." or "Jr." alone identifies no one)."""
    first, last = clean_name(row.get("FIRST")), clean_name(row.get("LAST"))
    maiden = clean_name(row.get("MAIDEN"))
    for family in (last, maiden):
        if family:
            yield "NAME", f"{first} {family}".strip()
    if first and not (last or maiden):
        yield "NAME", first


def site_lists_from_synthea(folder: Path | str, *, strict: bool = True) -> SiteLists:
    """Deny-lists from a Synthea CSV extract: patients.csv (required), and where present
    patient_contacts.csv, providers.csv, organizations.csv and payer_transitions.csv.

    ``strict``: a malformed or non-UTF-8 row is a :class:`LoadError` naming the file (a
    list silently missing a patient would let their name through); the ingest passes
    False, because it reports such rows itself by file and line."""
    folder = Path(folder)
    if not folder.is_dir():
        raise LoadError("expected a folder of Synthea CSV files", file=str(folder))
    return SiteLists.build(_synthea_pairs(folder, strict))


# --- FHIR -----------------------------------------------------------------------------

#: Resource types whose identity elements are collected.
FHIR_TYPES = ("Patient", "RelatedPerson", "Practitioner", "Organization", "Location",
              "Coverage")
#: Patient.identifier type code → label (any other identifier of a patient: MRN).
_IDENTIFIER_LABELS = {"SS": "SSN", "SB": "SSN", "DL": "LICENSE", "PPN": "LICENSE",
                      "MR": "MRN", "AN": "ACCOUNT", "MB": "HEALTH_PLAN", "SN": "HEALTH_PLAN"}
_TELECOM_LABELS = {"phone": "PHONE", "sms": "PHONE", "fax": "FAX", "email": "EMAIL",
                   "url": "URL"}


def _list(value: Any) -> list:
    if isinstance(value, list):
        return value
    return [value] if value is not None else []


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _human_names(value: Any) -> Pairs:
    """Every HumanName as "Given Family" (all given names, and the first alone), or its
    text when it has no parts."""
    for name in _list(value):
        if not isinstance(name, dict):
            continue
        family = clean_name(_text(name.get("family")))
        given = [clean_name(_text(g)) for g in _list(name.get("given")) if _text(g)]
        given = [g for g in given if g]
        if given or family:
            yield "NAME", " ".join([*given, family]).strip()
            if len(given) > 1:
                yield "NAME", f"{given[0]} {family}".strip()
        elif _text(name.get("text")):
            yield "NAME", clean_name(name["text"])


def _telecoms(value: Any) -> Pairs:
    for point in _list(value):
        if isinstance(point, dict) and _text(point.get("value")):
            yield _TELECOM_LABELS.get(_text(point.get("system")), "PHONE"), point["value"]


def _addresses(value: Any) -> Pairs:
    for address in _list(value):
        if not isinstance(address, dict):
            continue
        for line in _list(address.get("line")):
            if _text(line):
                yield "STREET", line
        for key, label in (("city", "CITY"), ("district", "CITY"), ("postalCode", "ZIP")):
            if _text(address.get(key)):
                yield label, address[key]


def _identifier_label(ident: dict, default: str) -> str:
    for coding in _list((ident.get("type") or {}).get("coding")
                        if isinstance(ident.get("type"), dict) else None):
        if isinstance(coding, dict):
            label = _IDENTIFIER_LABELS.get(_text(coding.get("code")))
            if label:
                return label
    return default


def _identifiers(value: Any, default: str) -> Pairs:
    for ident in _list(value):
        if isinstance(ident, dict) and _text(ident.get("value")):
            yield _identifier_label(ident, default), ident["value"]


def _is_payer(resource: dict) -> bool:
    return any(isinstance(c, dict) and c.get("code") == "pay"
               for t in _list(resource.get("type")) if isinstance(t, dict)
               for c in _list(t.get("coding")))


def resource_pairs(resource: dict) -> Pairs:
    """The (label, value) pairs of one resource of :data:`FHIR_TYPES`."""
    kind = resource.get("resourceType")
    if kind in ("Patient", "RelatedPerson", "Practitioner"):
        yield from _human_names(resource.get("name"))
        yield from _telecoms(resource.get("telecom"))
        yield from _addresses(resource.get("address"))
        if kind == "Patient":
            yield from _identifiers(resource.get("identifier"), "MRN")
            for contact in _list(resource.get("contact")):
                if isinstance(contact, dict):
                    yield from _human_names(contact.get("name"))
                    yield from _telecoms(contact.get("telecom"))
                    yield from _addresses(contact.get("address"))
    elif kind in ("Organization", "Location"):
        if kind == "Organization" and _is_payer(resource):
            return  # an insurer names many members, not one person (module docstring)
        if _text(resource.get("name")):
            yield "INSTITUTION", resource["name"]
        for alias in _list(resource.get("alias")):
            if _text(alias):
                yield "INSTITUTION", alias
        yield from _telecoms(resource.get("telecom"))
        yield from _addresses(resource.get("address"))
    elif kind == "Coverage":
        if _text(resource.get("subscriberId")):
            yield "HEALTH_PLAN", resource["subscriberId"]
        yield from _identifiers(resource.get("identifier"), "HEALTH_PLAN")
        subscriber = resource.get("subscriber")
        if isinstance(subscriber, dict) and _text(subscriber.get("display")):
            yield "NAME", clean_name(subscriber["display"])


def _ndjson_resources(path: Path, strict: bool) -> Iterator[dict]:
    """The resources of one NDJSON file; a line that is not a JSON object is skipped (the
    ingest reports it), a file that is not UTF-8 is refused (``strict``) or read with
    replacement characters."""
    errors = "strict" if strict else "replace"
    try:
        with path.open("r", encoding="utf-8-sig", errors=errors, newline="\n") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    resource = json.loads(line)
                except (ValueError, RecursionError):
                    continue
                if isinstance(resource, dict):
                    yield resource
    except UnicodeDecodeError:
        raise LoadError("not UTF-8 text", file=str(path)) from None


def _bundle_resources(paths: Iterable[Path]) -> Iterator[dict]:
    from behindglass.ingest.fhir_bundle_reader import Invalid, Stream, entries, open_bundle

    for path in paths:
        try:
            with open_bundle(path) as fh:
                for entry, _ in entries(Stream(fh), [0, 0]):
                    resource = entry.get("resource") if isinstance(entry, dict) else None
                    if (isinstance(resource, dict)
                            and resource.get("resourceType") in FHIR_TYPES):
                        yield resource
        except UnicodeDecodeError:
            raise LoadError("not UTF-8 text", file=str(path)) from None
        except (Invalid, OSError, EOFError, zlib.error) as exc:
            reason = exc.reason if isinstance(exc, Invalid) else "cannot be read"
            raise LoadError(f"{reason} (site lists need every bundle)", file=str(path)) from None


def _fhir_resources(src: Path, strict: bool) -> Iterator[dict]:
    from behindglass.ingest.fhir_bundle import bundle_files, is_bundle_layout

    if not src.exists():
        raise LoadError("no such FHIR source", file=str(src))
    if is_bundle_layout(src):
        yield from _bundle_resources(bundle_files(src)[0])
        return
    if not src.is_dir():
        raise LoadError("expected a FHIR NDJSON folder or Bundle files", file=str(src))
    paths = [p for p in sorted(src.iterdir()) if p.is_file()
             and p.name.lower().endswith(".ndjson") and p.name.split(".", 1)[0] in FHIR_TYPES]
    if not any(p.name.split(".", 1)[0] == "Patient" for p in paths):
        raise LoadError("no Patient.ndjson: site lists start with the patients",
                        file=str(src / "Patient.ndjson"))
    for path in paths:
        kind = path.name.split(".", 1)[0]
        for resource in _ndjson_resources(path, strict):
            if resource.get("resourceType") == kind:
                yield resource


def site_lists_from_fhir(src: Path | str, *, strict: bool = True) -> SiteLists:
    """Deny-lists from a FHIR R4 source (NDJSON bulk-export folder, folder of Bundle files
    or one Bundle file): Patient names, identifiers, telecom, addresses and contacts;
    RelatedPerson and Practitioner names, telecom and addresses; Organization and Location
    names, addresses and telecom; Coverage member ids and subscriber names. ``strict``: an
    NDJSON file that is not UTF-8 is a :class:`LoadError` (the ingest passes False: it
    reports such lines itself)."""
    src = Path(src)
    seen_patient = False

    def pairs() -> Pairs:
        nonlocal seen_patient
        for resource in _fhir_resources(src, strict):
            seen_patient |= resource.get("resourceType") == "Patient"
            yield from resource_pairs(resource)

    lists = SiteLists.build(pairs())
    if not seen_patient:
        raise LoadError("no Patient resources: site lists start with the patients",
                        file=str(src))
    return lists
