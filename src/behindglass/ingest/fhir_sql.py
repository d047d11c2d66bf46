"""The DuckDB fast path of the FHIR flattening: the same rows as the Python flatteners of
:mod:`.fhir_flatten`, :mod:`.fhir_clinical` and :mod:`.fhir_linked`, as SQL over
``read_json`` with an explicit structure.

Only the elements in ``EXTRACTED`` are parsed; every other key is skipped. Any line the
structure does not fit, any invalid JSON and any line of another resourceType makes DuckDB
raise; the caller then falls back to :func:`.fhir_flatten.parse_line` for that file, so bad
lines are still reported with file, line and no values. A test pins that both paths give
the same rows, edge cases included.
"""

from __future__ import annotations

from behindglass.ingest.fhir_clinical import _OWNERSHIP
from behindglass.ingest.fhir_flatten import (
    _ACT_CLASS,
    _DAYS,
    _GENDER,
    _MAX_DAYS,
    _MAX_REPEATS,
    _OMB_ETHNICITY,
    _OMB_RACE,
    COLUMNS,
    STEMS,
)
from behindglass.ingest.vocab import SYSTEMS

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
    "WHEN starts_with(r, 'urn:uuid:') THEN r[10:] WHEN starts_with(r, '#') THEN NULL "
    "WHEN contains(r, '?') THEN regexp_extract(r, "
    "'^[^?]*\\?identifier=(?:[^&|]*\\|)?([^&|]+)$', 1) "
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
_VAX_CC, _VAX_CS = _cc("vaccineCode")
_IMG_CC, _IMG_CS = _cc("procedureCode[1]")
_REL_CC, _REL_CS = _cc("relationship")
_REL = f"({_pick('code')})"
_PERIOD = "STRUCT(start VARCHAR, \"end\" VARCHAR)"
_NUM = "('DOUBLE', 'BIGINT', 'UBIGINT')"
#: numberOfRepeatsAllowed + 1 and the supply in days, as :func:`_supply` works them out.
_FILLS = (f"CASE WHEN rt IN ('BIGINT', 'UBIGINT') AND CAST(rn AS DOUBLE) BETWEEN 0 AND "
          f"{_MAX_REPEATS} THEN CAST(rn AS BIGINT) + 1 END")
_DAYS_SQL = "MAP {" + ", ".join(f"'{k}': {v}" for k, v in _DAYS.items()) + "}"
_SUPPLY = (f"CASE WHEN dvt IN {_NUM} AND CAST(dv AS DOUBLE) > 0 THEN floor(CAST(dv AS DOUBLE) "
           f"* {_DAYS_SQL}[coalesce(dc, du)] * coalesce({_FILLS}, 1)) END")
_STOP = (f"CASE WHEN ve IS NOT NULL THEN ve WHEN ({_SUPPLY}) BETWEEN 1 AND {_MAX_DAYS} THEN "
         f"strftime(TRY_CAST(left(a, 10) AS DATE) + CAST(({_SUPPLY}) AS INTEGER), '%Y-%m-%d') "
         "END")
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
         "medicationCodeableConcept": _CODING,
         "dispenseRequest": "STRUCT(validityPeriod STRUCT(\"end\" VARCHAR), "
                            "numberOfRepeatsAllowed JSON, expectedSupplyDuration "
                            "STRUCT(value JSON, unit VARCHAR, code VARCHAR))"},
        {"a": "authoredOn", "su": "subject.reference", "en": "encounter.reference",
         "ve": "dispenseRequest.validityPeriod.\"end\"",
         "du": "dispenseRequest.expectedSupplyDuration.unit",
         "dc": "dispenseRequest.expectedSupplyDuration.code", **_MED_CC},
        {"rn": "dispenseRequest.numberOfRepeatsAllowed",
         "rt": "json_type(dispenseRequest.numberOfRepeatsAllowed)",
         "dv": "dispenseRequest.expectedSupplyDuration.value",
         "dvt": "json_type(dispenseRequest.expectedSupplyDuration.value)", **_MED_CS},
        f"a, {_STOP}, ref_(su), ref_(en), " + _pick("code")
        + f", CAST({_FILLS} AS VARCHAR)"),
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
    "Immunization": (
        {"occurrenceDateTime": "VARCHAR", "patient": _REFT, "encounter": _REFT,
         "vaccineCode": _CODING},
        {"a": "occurrenceDateTime", "su": "patient.reference", "en": "encounter.reference",
         **_VAX_CC},
        _VAX_CS,
        "a, ref_(su), ref_(en), " + _pick("code") + ", NULL"),
    "MedicationStatement": (
        {"effectiveDateTime": "VARCHAR", "effectivePeriod": _PERIOD, "subject": _REFT,
         "context": _REFT, "medicationCodeableConcept": _CODING},
        {"a": "effectiveDateTime", "a2": "effectivePeriod.start",
         "b": "effectivePeriod.\"end\"", "su": "subject.reference",
         "en": "context.reference", **_MED_CC},
        _MED_CS,
        "coalesce(a, a2), b, ref_(su), ref_(en), " + _pick("code") + ", NULL"),
    "AllergyIntolerance": (
        {"onsetDateTime": "VARCHAR", "recordedDate": "VARCHAR", "lastOccurrence": "VARCHAR",
         "clinicalStatus": _CODING, "patient": _REFT, "encounter": _REFT, "code": _CODING,
         "type": "VARCHAR", "category": "VARCHAR[]"},
        {"a": "onsetDateTime", "a2": "recordedDate", "lo": "lastOccurrence",
         "su": "patient.reference", "en": "encounter.reference", "ty": "\"type\"",
         "cat": "category[1]", **_CODE_CC},
        {"st": "clinicalStatus.coding", **_CODE_CS},
        "coalesce(a, a2), CASE WHEN coding_(st).code IN ('inactive', 'resolved') THEN lo END, "
        "ref_(su), ref_(en), " + _pick("code") + ", " + _pick("system") + ", ty, cat"),
    "ImagingStudy": (
        {"id": "VARCHAR", "started": "VARCHAR", "subject": _REFT, "encounter": _REFT,
         "modality": "STRUCT(code VARCHAR)[]",
         "series": "STRUCT(modality STRUCT(code VARCHAR), bodySite STRUCT(code VARCHAR))[]",
         "procedureCode": f"{_CODING}[]"},
        {"id": "id", "a": "started", "su": "subject.reference", "en": "encounter.reference",
         "bs": "series[1].bodySite.code", "m1": "modality[1].code",
         "sm": "series[1].modality.code", **_IMG_CC},
        _IMG_CS,
        "id, a, ref_(su), ref_(en), bs, coalesce(m1, sm), " + _pick("code")),
    "Coverage": (
        {"beneficiary": _REFT, "period": _PERIOD, "payor": f"{_REFT}[]",
         "relationship": _CODING},
        {"su": "beneficiary.reference", "st": "period.start", "en": "period.\"end\"",
         "p1": "payor[1].reference", **_REL_CC},
        {"payor": "payor", **_REL_CS},
        "ref_(su), st, en, CASE WHEN ref_(p1) IS NOT NULL OR coalesce(len(payor), 0) <= 1 "
        "THEN ref_(p1) ELSE ref(list_filter(CASE WHEN ref_(p1) IS NULL THEN payor END, "
        "p -> ref(p) IS NOT NULL)[1]) END, "
        f"coalesce({_sql_map(_OWNERSHIP)}[coalesce({_REL}, '')], {_REL})"),
    "CarePlan": (
        {"id": "VARCHAR", "period": _PERIOD, "subject": _REFT, "encounter": _REFT,
         "category": f"{_CODING}[]"},
        {"id": "id", "st": "period.start", "en": "period.\"end\"",
         "su": "subject.reference", "ec": "encounter.reference"},
        {"cats": "category"},
        "id, st, en, ref_(su), ref_(ec), coalesce(list_filter(list_transform(flatten("
        "list_transform(cats, c -> c.coding)), x -> {'system': s(x.system), 'code': "
        f"s(x.code)}}), x -> x.code IS NOT NULL AND list_contains({_SYS_LIST}, x.system))[1]"
        ".code, coding_(cats[1].coding).code)"),
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
