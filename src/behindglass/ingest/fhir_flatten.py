"""FHIR R4 NDJSON resources → the Synthea-shaped rows the ingest pipeline maps.

Only the elements OMOP needs are read (:data:`EXTRACTED`); every other element of a
resource — names, telecom, identifiers, address lines, contacts, photos, narratives — is
never looked at, so it cannot reach the store. Each extracted path is put to the Safe
Harbor catalogue (:func:`behindglass.deid.safe_harbor.rule_for`) by :func:`check_rules`;
one whose rule is DROP stops the ingest before any file is read.

Codes: the coding whose system is SNOMED, RxNorm or LOINC is the source code (the first
coding if none is); its system becomes the SYSTEM column where the pipeline reads one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from behindglass.core.errors import LoadError
from behindglass.deid.safe_harbor import Action, rule_for
from behindglass.ingest.vocab import SYSTEMS

#: resourceType → Synthea file stem it is flattened into.
STEMS = {"Patient": "patients", "Encounter": "encounters", "Condition": "conditions",
         "MedicationRequest": "medications", "Observation": "observations",
         "Procedure": "procedures"}

#: Synthea columns written per stem (those the pipeline reads; absent facts stay empty).
COLUMNS = {
    "patients": ("Id", "BIRTHDATE", "DEATHDATE", "GENDER", "RACE", "ETHNICITY", "STATE",
                 "ZIP"),
    "encounters": ("Id", "START", "STOP", "PATIENT", "ORGANIZATION", "PROVIDER",
                   "ENCOUNTERCLASS", "CODE"),
    "conditions": ("START", "STOP", "PATIENT", "ENCOUNTER", "SYSTEM", "CODE"),
    "medications": ("START", "STOP", "PATIENT", "ENCOUNTER", "CODE", "DISPENSES"),
    "observations": ("DATE", "PATIENT", "ENCOUNTER", "CODE", "VALUE", "UNITS"),
    "procedures": ("START", "STOP", "PATIENT", "ENCOUNTER", "SYSTEM", "CODE"),
}

#: Every FHIR element path read, by resource type (checked against the rule catalogue).
EXTRACTED = {
    "Patient": ("Patient.id", "Patient.birthDate", "Patient.deceasedDateTime",
                "Patient.gender", "Patient.extension.us-core-race",
                "Patient.extension.us-core-ethnicity", "Patient.address.state",
                "Patient.address.postalCode"),
    "Encounter": ("Encounter.id", "Encounter.period.start", "Encounter.period.end",
                  "Encounter.subject", "Encounter.serviceProvider",
                  "Encounter.participant.individual", "Encounter.class", "Encounter.type"),
    "Condition": ("Condition.onsetDateTime", "Condition.abatementDateTime",
                  "Condition.subject", "Condition.encounter", "Condition.code"),
    "MedicationRequest": ("MedicationRequest.authoredOn", "MedicationRequest.subject",
                          "MedicationRequest.encounter",
                          "MedicationRequest.medicationCodeableConcept"),
    "Observation": ("Observation.effectiveDateTime", "Observation.subject",
                    "Observation.encounter", "Observation.code", "Observation.valueQuantity"),
    "Procedure": ("Procedure.performedDateTime", "Procedure.performedPeriod.start",
                  "Procedure.performedPeriod.end", "Procedure.subject", "Procedure.encounter",
                  "Procedure.code"),
}

#: Pipeline column names → FHIR element, to word the pipeline's reasons for FHIR input.
TERMS = {
    "patients": {"Id": "id", "BIRTHDATE": "birthDate", "DEATHDATE": "deceasedDateTime"},
    "encounters": {"Id": "id", "PATIENT": "subject", "START": "period.start",
                   "STOP": "period.end"},
    "conditions": {"PATIENT": "subject", "START": "onsetDateTime",
                   "STOP": "abatementDateTime"},
    "medications": {"PATIENT": "subject", "START": "authoredOn"},
    "observations": {"PATIENT": "subject"},
    "procedures": {"PATIENT": "subject", "START": "performed start",
                   "STOP": "performedPeriod.end"},
}

_OMB_RACE = {"2106-3": "white", "2054-5": "black", "2028-9": "asian", "1002-5": "native",
             "2076-8": "hawaiian", "2131-1": "other"}
_OMB_ETHNICITY = {"2135-2": "hispanic", "2186-5": "nonhispanic"}
_GENDER = {"male": "M", "female": "F"}
_ACT_CLASS = {"AMB": "ambulatory", "IMP": "inpatient", "ACUTE": "inpatient",
              "NONAC": "inpatient", "EMER": "emergency", "HH": "home", "VR": "virtual",
              "SS": "outpatient", "OBSENC": "outpatient", "PRENC": "outpatient"}


def check_rules() -> None:
    """Refuse to run if the catalogue says DROP for any path this module reads."""
    for paths in EXTRACTED.values():
        for path in paths:
            if rule_for("fhir", path).action is Action.DROP:
                raise LoadError(f"the Safe Harbor catalogue drops {path}; FHIR ingest "
                                "will not read it")


def _s(value: Any) -> str:
    """A scalar as one-line text ('' for absent or structured values)."""
    if value is None or isinstance(value, dict | list):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = value if isinstance(value, str) else repr(value)
    return text.replace("\r", " ").replace("\n", " ").strip()


def _ref(value: Any) -> str:
    """The id of a Reference: ``Patient/abc`` or ``urn:uuid:abc`` → ``abc``."""
    if not isinstance(value, dict):
        return ""
    ref = _s(value.get("reference"))
    if ref.startswith("urn:uuid:"):
        return ref[9:]
    parts = ref.split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    return parts[-1] if parts else ""


def _coding(concept: Any) -> tuple[str, str]:
    """(system, code) of a CodeableConcept: the SNOMED/RxNorm/LOINC coding, else the first."""
    codings = concept.get("coding") if isinstance(concept, dict) else None
    if not isinstance(codings, list):
        return "", ""
    first: tuple[str, str] | None = None
    for coding in codings:
        if not isinstance(coding, dict):
            continue
        pair = (_s(coding.get("system")), _s(coding.get("code")))
        if pair[0] in SYSTEMS and pair[1]:
            return pair
        if first is None and pair[1]:
            first = pair
    return first or ("", "")


def _get(obj: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _first(items: Any) -> Any:
    return items[0] if isinstance(items, list) and items else None


def _omb(resource: dict, kind: str, table: dict[str, str]) -> str:
    for ext in resource.get("extension") or ():
        if isinstance(ext, dict) and _s(ext.get("url")).endswith(f"us-core-{kind}"):
            for sub in ext.get("extension") or ():
                if isinstance(sub, dict) and sub.get("url") == "ombCategory":
                    code = _s(_get(sub, "valueCoding", "code"))
                    return table.get(code, "other" if kind == "race" else code)
    return ""


def patient(r: dict) -> tuple[str, ...]:
    address = r.get("address")
    home = None
    if isinstance(address, list):
        home = next((a for a in address if isinstance(a, dict) and a.get("use") == "home"),
                    _first(address))
    gender = _s(r.get("gender"))
    return (_s(r.get("id")), _s(r.get("birthDate")), _s(r.get("deceasedDateTime")),
            _GENDER.get(gender, gender), _omb(r, "race", _OMB_RACE),
            _omb(r, "ethnicity", _OMB_ETHNICITY), _s(_get(home, "state")),
            _s(_get(home, "postalCode")))


def encounter(r: dict) -> tuple[str, ...]:
    cls = r.get("class")
    cls = _first(cls) if isinstance(cls, list) else cls
    act = _s(_get(cls, "code"))
    provider = ""
    for part in r.get("participant") or ():
        provider = _ref(_get(part, "individual"))
        if provider:
            break
    return (_s(r.get("id")), _s(_get(r, "period", "start")), _s(_get(r, "period", "end")),
            _ref(r.get("subject")), _ref(r.get("serviceProvider")), provider,
            _ACT_CLASS.get(act, act.lower()), _coding(_first(r.get("type")))[1])


def condition(r: dict) -> tuple[str, ...]:
    system, code = _coding(r.get("code"))
    return (_s(r.get("onsetDateTime")), _s(r.get("abatementDateTime")),
            _ref(r.get("subject")), _ref(r.get("encounter")), system, code)


def medication(r: dict) -> tuple[str, ...]:
    return (_s(r.get("authoredOn")), "", _ref(r.get("subject")), _ref(r.get("encounter")),
            _coding(r.get("medicationCodeableConcept"))[1], "")


def observation(r: dict) -> tuple[str, ...]:
    quantity = r.get("valueQuantity")
    value = _get(quantity, "value")
    units = _s(_get(quantity, "unit")) or _s(_get(quantity, "code"))
    return (_s(r.get("effectiveDateTime")), _ref(r.get("subject")), _ref(r.get("encounter")),
            _coding(r.get("code"))[1], _s(value) if isinstance(value, int | float) else "",
            units)


def procedure(r: dict) -> tuple[str, ...]:
    system, code = _coding(r.get("code"))
    start = _s(r.get("performedDateTime")) or _s(_get(r, "performedPeriod", "start"))
    return (start, _s(_get(r, "performedPeriod", "end")), _ref(r.get("subject")),
            _ref(r.get("encounter")), system, code)


FLATTEN: dict[str, Callable[[dict], tuple[str, ...]]] = {
    "Patient": patient, "Encounter": encounter, "Condition": condition,
    "MedicationRequest": medication, "Observation": observation, "Procedure": procedure,
}


def parse_line(text: str, kind: str) -> tuple[tuple[str, ...] | None, str | None]:
    """(row, None) for a good line of a ``kind`` file, (None, reason) for a bad one,
    (None, None) for a blank line. Reasons never quote the line."""
    if not text.strip():
        return None, None
    try:
        resource = json.loads(text)
    except (ValueError, RecursionError):
        return None, "invalid JSON"
    if not isinstance(resource, dict):
        return None, "not a JSON object"
    if resource.get("resourceType") != kind:
        return None, f"resourceType is not {kind}"
    try:
        return FLATTEN[kind](resource), None
    except (AttributeError, TypeError, ValueError):
        return None, f"malformed {kind} resource"


# --- DuckDB fast path -------------------------------------------------------------------
# The same flattening as the functions above, as SQL over ``read_json`` with an explicit
# structure (only the elements in EXTRACTED are parsed; every other key is skipped). Any
# line the structure does not fit, any invalid JSON and any line of another resourceType
# makes DuckDB raise; the caller then falls back to :func:`parse_line` for that file, so
# bad lines are still reported with file, line and no values.

_SPACE = "".join(chr(i) for i in range(0x110000) if chr(i).isspace() and chr(i) not in "\r\n")
_CODING = "STRUCT(coding STRUCT(system VARCHAR, code VARCHAR)[])"
_REFT = "STRUCT(reference VARCHAR)"


def _sql_map(table: dict[str, str]) -> str:
    return "MAP {" + ", ".join(f"'{k}': '{v}'" for k, v in table.items()) + "}"


_SYS = "(" + ", ".join(f"'{k}'" for k in SYSTEMS) + ")"
_SYS_LIST = "[" + _SYS[1:-1] + "]"

#: Macros mirroring _s, _ref and _coding (NULL where those return ''). Macros are expanded
#: inline, so the per-row work is done in layers (see :func:`select_sql`) and these are
#: applied to plain columns; the list-searching ones only run when the first item is not it.
MACROS = (
    f"CREATE OR REPLACE MACRO t(x) AS trim(replace(replace(CAST(x AS VARCHAR), "
    f"chr(13), ' '), chr(10), ' '), '{_SPACE}')",
    "CREATE OR REPLACE MACRO s(x) AS nullif(t(x), '')",
    "CREATE OR REPLACE MACRO ref_(r) AS nullif(CASE WHEN r IS NULL THEN NULL "
    "WHEN starts_with(r, 'urn:uuid:') THEN r[10:] "
    "WHEN NOT contains(r, '_history') THEN string_split(r, '/')[-1] "
    "WHEN len(string_split(r, '/')) >= 4 AND string_split(r, '/')[-2] = '_history' "
    "THEN string_split(r, '/')[-3] ELSE string_split(r, '/')[-1] END, '')",
    "CREATE OR REPLACE MACRO ref(x) AS ref_(s(x.reference))",
    "CREATE OR REPLACE MACRO coding_(cs) AS coalesce(list_filter(list_transform(cs, "
    "c -> {'system': s(c.system), 'code': s(c.code)}), "
    f"c -> c.code IS NOT NULL AND list_contains({_SYS_LIST}, c.system))[1], "
    "list_filter(list_transform(cs, c -> {'system': s(c.system), 'code': s(c.code)}), "
    "c -> c.code IS NOT NULL)[1])",
    "CREATE OR REPLACE MACRO omb(exts, suffix) AS list_filter(list_transform("
    f"list_filter(exts, e -> ends_with(rtrim(e.url, '{_SPACE}\r\n'), suffix)), "
    "e -> list_filter(e.extension, x -> x.url = 'ombCategory')[1]), x -> x IS NOT NULL)[1]",
)


def _cc(concept: str) -> tuple[dict[str, str], dict[str, str]]:
    """(text, other) columns for the chosen coding of a CodeableConcept."""
    return ({"c1s": f"{concept}.coding[1].system", "c1c": f"{concept}.coding[1].code"},
            {"cn": f"coalesce(len({concept}.coding), 0)", "cs": f"{concept}.coding"})


def _pick(part: str) -> str:
    """The chosen coding's ``part`` (system or code): the first coding if it is SNOMED,
    RxNorm or LOINC or the only one, else a search of the list like :func:`_coding`."""
    first = "c1s" if part == "system" else "c1c"
    return (f"CASE WHEN c1c IS NOT NULL AND list_contains({_SYS_LIST}, c1s) THEN {first} "
            f"WHEN cn <= 1 THEN CASE WHEN c1c IS NOT NULL THEN {first} END "
            f"ELSE coding_(CASE WHEN cn > 1 THEN cs END).{part} END")


_P1 = ("CASE WHEN ref_(p1) IS NOT NULL OR coalesce(len(participant), 0) <= 1 THEN ref_(p1) "
       "ELSE ref(list_filter(CASE WHEN ref_(p1) IS NULL THEN participant END, "
       "p -> ref(p.individual) IS NOT NULL)[1].individual) END")
_ENC_CC, _ENC_CS = _cc("type[1]")
_CODE_CC, _CODE_CS = _cc("code")
_MED_CC, _MED_CS = _cc("medicationCodeableConcept")
_SEL_PAT = ("id, bd, dd, coalesce(" + _sql_map(_GENDER) + "[g], g), "
            "CASE WHEN race IS NOT NULL THEN coalesce(" + _sql_map(_OMB_RACE)
            + "[coalesce(s(race.valueCoding.code), '')], 'other') END, "
            "CASE WHEN eth IS NOT NULL THEN coalesce(" + _sql_map(_OMB_ETHNICITY)
            + "[coalesce(s(eth.valueCoding.code), '')], s(eth.valueCoding.code)) END, "
            "s(home.state), s(home.postalCode)")

#: resourceType → (read_json columns, text columns (trimmed, '' → NULL), other columns,
#: SELECT over both in COLUMNS order).
SQL: dict[str, tuple[dict[str, str], dict[str, str], dict[str, str], str]] = {
    "Patient": (
        {"id": "VARCHAR", "birthDate": "VARCHAR", "deceasedDateTime": "VARCHAR",
         "gender": "VARCHAR",
         "extension": "STRUCT(url VARCHAR, extension STRUCT(url VARCHAR, "
                      "valueCoding STRUCT(code VARCHAR))[])[]",
         "address": "STRUCT(use VARCHAR, state VARCHAR, postalCode VARCHAR)[]"},
        {"id": "id", "bd": "birthDate", "dd": "deceasedDateTime", "g": "gender"},
        {"race": "omb(extension, 'us-core-race')", "eth": "omb(extension, 'us-core-ethnicity')",
         "home": "coalesce(list_filter(address, a -> a.use = 'home')[1], address[1])"},
        _SEL_PAT),
    "Encounter": (
        {"id": "VARCHAR", "period": "STRUCT(start VARCHAR, \"end\" VARCHAR)",
         "subject": _REFT, "serviceProvider": _REFT,
         "participant": f"STRUCT(individual {_REFT})[]", "class": "STRUCT(code VARCHAR)",
         "type": f"{_CODING}[]"},
        {"id": "id", "st": "period.start", "en": "period.\"end\"",
         "su": "subject.reference", "sp": "serviceProvider.reference",
         "p1": "participant[1].individual.reference", "act": "\"class\".code", **_ENC_CC},
        {"participant": "participant", **_ENC_CS},
        f"id, st, en, ref_(su), ref_(sp), {_P1}, "
        f"nullif(coalesce({_sql_map(_ACT_CLASS)}[coalesce(act, '')], lower(act)), ''), "
        + _pick("code")),
    "Condition": (
        {"onsetDateTime": "VARCHAR", "abatementDateTime": "VARCHAR", "subject": _REFT,
         "encounter": _REFT, "code": _CODING},
        {"a": "onsetDateTime", "b": "abatementDateTime", "su": "subject.reference",
         "en": "encounter.reference", **_CODE_CC},
        _CODE_CS,
        "a, b, ref_(su), ref_(en), " + _pick("system") + ", " + _pick("code")),
    "MedicationRequest": (
        {"authoredOn": "VARCHAR", "subject": _REFT, "encounter": _REFT,
         "medicationCodeableConcept": _CODING},
        {"a": "authoredOn", "su": "subject.reference", "en": "encounter.reference",
         **_MED_CC},
        _MED_CS,
        "a, NULL, ref_(su), ref_(en), " + _pick("code") + ", NULL"),
    "Observation": (
        {"effectiveDateTime": "VARCHAR", "subject": _REFT, "encounter": _REFT,
         "code": _CODING, "valueQuantity": "STRUCT(value JSON, unit VARCHAR, code VARCHAR)"},
        {"a": "effectiveDateTime", "su": "subject.reference", "en": "encounter.reference",
         "u": "valueQuantity.unit", "uc": "valueQuantity.code", **_CODE_CC},
        {"v": "valueQuantity.value", "vt": "json_type(valueQuantity.value)", **_CODE_CS},
        "a, ref_(su), ref_(en), " + _pick("code") + ", CASE vt "
        "WHEN 'DOUBLE' THEN CAST(CAST(v AS DOUBLE) AS VARCHAR) "
        "WHEN 'BIGINT' THEN CAST(v AS VARCHAR) WHEN 'UBIGINT' THEN CAST(v AS VARCHAR) "
        "WHEN 'BOOLEAN' THEN CAST(v AS VARCHAR) END, coalesce(u, uc)"),
    "Procedure": (
        {"performedDateTime": "VARCHAR", "performedPeriod": "STRUCT(start VARCHAR, \"end\" "
         "VARCHAR)", "subject": _REFT, "encounter": _REFT, "code": _CODING},
        {"a": "performedDateTime", "a2": "performedPeriod.start",
         "b": "performedPeriod.\"end\"", "su": "subject.reference",
         "en": "encounter.reference", **_CODE_CC},
        _CODE_CS,
        "coalesce(a, a2), b, ref_(su), ref_(en), " + _pick("system") + ", "
        + _pick("code")),
}


#: The error a fast-path query raises when some text value would be changed by _s.
UNCLEAN = "fhir-fast-path-unclean-text"
_WS = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in _SPACE + "\r\n") + "]"
#: Any control character or whitespace in any text value sends the file to the slower
#: path: _s may change only values with whitespace (at an end) or line breaks (anywhere),
#: and one character class over all values is the cheapest test; such characters inside
#: the values read here are rare.
_UNCLEAN_RE = ("[\\x{0}-\\x{20}"
               + "".join(f"\\x{{{ord(c):x}}}" for c in _SPACE if ord(c) > 0x20) + "]")


def select_sql(kind: str, path: str, *, clean: bool = False) -> str:
    """A SELECT of ``kind``'s COLUMNS from one NDJSON file; raises (via DuckDB) on any line
    the fast path does not handle exactly like :func:`parse_line` (invalid JSON, a value
    of another shape than the structure read, a resource of another type).

    ``clean=True`` skips cleaning the text values (trim, line breaks → spaces) and instead
    raises :data:`UNCLEAN` if any of them would need it; about twice as fast."""
    columns, text, other, select = SQL[kind]
    cols = "{" + ", ".join(f"'{k}': '{v}'" for k, v in
                           {"resourceType": "VARCHAR", **columns}.items()) + "}"
    names = ", ".join(f'"{c}"' for c in COLUMNS[STEMS[kind]])
    quoted = path.replace("'", "''")
    keep = ", ".join(other)
    layer1 = ", ".join([f"{e} AS {a}" if clean else f"t({e}) AS {a}" for a, e in text.items()]
                       + [f"{e} AS {a}" for a, e in other.items()])
    layer2 = ", ".join([f"nullif({a}, '') AS {a}" for a in text] + ([keep] if keep else []))
    check = ""
    if clean:
        check = (f"WHEN regexp_matches(concat({', '.join(text.values())}), "
                 f"'{_UNCLEAN_RE}') THEN error('{UNCLEAN}') ")
    return (f"SELECT * FROM (SELECT {select} FROM (SELECT {layer2} FROM (SELECT {layer1} "
            f"FROM read_json('{quoted}', format='newline_delimited', records='true', "
            f"columns={cols}, ignore_errors=false, auto_detect=false, "
            "maximum_object_size=268435456) "
            f"WHERE CASE WHEN resourceType IS DISTINCT FROM '{kind}' THEN "
            f"error('resourceType') {check}ELSE true END))) AS t({names})")
