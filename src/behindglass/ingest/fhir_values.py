"""Reading single values out of a parsed FHIR resource: text, references and codings.

Shared by every flattener (:mod:`.fhir_flatten`, :mod:`.fhir_clinical`, :mod:`.fhir_linked`)
and by the bundle reader (:mod:`.fhir_bundle`), so a reference or a code is read the same
way whichever layout it came in. The DuckDB fast path of :mod:`.fhir_flatten` mirrors these
functions in SQL; a test pins that both give the same rows.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

from behindglass.ingest.vocab import SYSTEMS

#: A conditional reference that names one identifier (``Practitioner?identifier=sys|value``,
#: as Synthea's transaction bundles write them): the value is the key. Any other search
#: (``Patient?name=…``) does not name one resource and is not a usable reference.
_CONDITIONAL = re.compile(r"^[^?]*\?identifier=(?:[^&|]*\|)?([^&|]+)$")


def text(value: Any) -> str:
    """A scalar as one-line text ('' for absent or structured values)."""
    if value is None or isinstance(value, dict | list):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    out = value if isinstance(value, str) else repr(value)
    return out.replace("\r", " ").replace("\n", " ").strip()


def reference_id(ref: str) -> str:
    """The id a reference string points at, '' if none can be told.

    ``urn:uuid:X``, ``Type/X``, ``https://host/fhir/Type/X`` and ``…/Type/X/_history/2``
    all give ``X``; a contained reference (``#X``) or a search other than one identifier
    gives ''. Only the id is kept: it becomes a keyed pseudonym downstream."""
    if ref.startswith("urn:uuid:"):
        return ref[9:]
    if ref.startswith("#"):
        return ""
    if "?" in ref:
        match = _CONDITIONAL.match(ref)
        return match.group(1) if match else ""
    parts = ref.split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    return parts[-1]


def ref(value: Any) -> str:
    """The id of a Reference element ('' when absent or unusable)."""
    if not isinstance(value, dict):
        return ""
    return reference_id(text(value.get("reference")))


def get(obj: Any, *keys: str) -> Any:
    """``obj[k1][k2]…``, None as soon as a level is not an object."""
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def first(items: Any) -> Any:
    """The first item of a list (None for an empty or absent one)."""
    return items[0] if isinstance(items, list) and items else None


def coding(concept: Any, preferred: Collection[str] = SYSTEMS) -> tuple[str, str]:
    """(system, code) of a CodeableConcept: the coding of a ``preferred`` system (SNOMED,
    RxNorm, LOINC by default), else the first coding with a code."""
    codings = concept.get("coding") if isinstance(concept, dict) else None
    if not isinstance(codings, list):
        return "", ""
    fallback: tuple[str, str] | None = None
    for item in codings:
        if not isinstance(item, dict):
            continue
        pair = (text(item.get("system")), text(item.get("code")))
        if pair[0] in preferred and pair[1]:
            return pair
        if fallback is None and pair[1]:
            fallback = pair
    return fallback or ("", "")


def first_coding(concepts: Any, preferred: Collection[str] = SYSTEMS) -> tuple[str, str]:
    """:func:`coding` of the first CodeableConcept of a list (``type``, ``category`` …)."""
    return coding(first(concepts) if isinstance(concepts, list) else concepts, preferred)
