"""Source codes → standard OMOP concept ids, from the vocabulary we ship.

Synthea CSV carries bare codes; the vocabulary is implied by the file (conditions,
procedures, allergies, devices, care plans and imaging are SNOMED CT, medications RxNorm,
immunizations CVX, observations LOINC) unless an optional ``SYSTEM`` column names it. The
lookup is built from the synthetic generator's concept catalogue
(:mod:`behindglass.synth.concepts`), the same concepts whose vocabulary rows we write into
the store, so a cohort "with descendants" finds what ingest mapped.

A code we do not know maps to concept 0 and keeps its code in ``*_source_value``: codes
are not identifiers, and 0 is how OMOP says "not mapped". The report lists them.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from behindglass.ingest import vocab_shipped
from behindglass.synth import concepts as c
from behindglass.synth.concepts import CLINICAL_CONCEPTS

#: The vocabulary a file's codes are in when no SYSTEM column says otherwise.
DEFAULT_VOCABULARY: Mapping[str, str] = MappingProxyType({
    "conditions": "SNOMED", "procedures": "SNOMED", "encounters": "SNOMED",
    "medications": "RxNorm", "observations": "LOINC", "immunizations": "CVX",
    "allergies": "SNOMED", "devices": "SNOMED", "careplans": "SNOMED",
    "imaging_studies": "SNOMED",
})

#: SYSTEM values (FHIR system URIs and the short names some exports use) → vocabulary_id.
SYSTEMS: Mapping[str, str] = MappingProxyType({
    "http://snomed.info/sct": "SNOMED", "snomed-ct": "SNOMED", "snomed": "SNOMED",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm", "rxnorm": "RxNorm",
    "http://loinc.org": "LOINC", "loinc": "LOINC",
    "http://hl7.org/fhir/sid/cvx": "CVX", "cvx": "CVX",
})

#: Synthea ENCOUNTERCLASS → visit concept (OMOP Visit vocabulary).
VISIT_CLASS: Mapping[str, int] = MappingProxyType({
    "ambulatory": c.OUTPATIENT, "wellness": c.OUTPATIENT, "outpatient": c.OUTPATIENT,
    "virtual": c.OUTPATIENT, "inpatient": c.INPATIENT, "emergency": c.EMERGENCY,
    "urgentcare": c.EMERGENCY, "home": c.HOME, "hospice": c.HOME, "snf": c.INPATIENT,
})

GENDER: Mapping[str, int] = MappingProxyType({"m": c.MALE, "f": c.FEMALE})
RACE: Mapping[str, int] = MappingProxyType({
    "white": c.WHITE, "black": c.BLACK, "asian": c.ASIAN, "native": c.AIAN,
    "hawaiian": c.NHPI, "other": 0, "unknown": 0,
})
ETHNICITY: Mapping[str, int] = MappingProxyType({
    "hispanic": c.HISPANIC, "nonhispanic": c.NOT_HISPANIC,
})
#: providers.SPECIALITY (compared lower-case) → Medicare specialty concept; others map to 0.
SPECIALTY: Mapping[str, int] = MappingProxyType({
    "general practice": c.GENERAL_PRACTICE, "family practice": c.FAMILY_PRACTICE,
    "internal medicine": c.INTERNAL_MEDICINE, "cardiology": c.CARDIOLOGY,
    "gastroenterology": c.GASTROENTEROLOGY, "neurology": c.NEUROLOGY,
})
#: Coded text values Synthea writes in observations.VALUE (compared lower-case). Any other
#: text value is not loaded: it may be free text, which waits for the text de-identifier.
VALUE_CONCEPTS: Mapping[str, int] = MappingProxyType({
    "current every day smoker": c.SMOKES_DAILY,
})


def _units() -> dict[str, int]:
    units = {x.code: x.concept_id for x in CLINICAL_CONCEPTS if x.domain == "Unit"}
    # Synthea writes a few UCUM codes in other spellings.
    units.setdefault("mmHg", c.MMHG)
    units.setdefault("kg/m²", c.KG_M2)
    units.setdefault("mL/min/{1.73_m2}", c.ML_MIN_173)  # Synthea's eGFR unit
    for (vocabulary, code), concept_id in vocab_shipped.code_map().items():
        if vocabulary == "UCUM" and concept_id:
            units.setdefault(code, concept_id)
    return units


UNITS: Mapping[str, int] = MappingProxyType(_units())


class CodeMap:
    """(vocabulary_id, concept_code) → concept_id, vectorised over Arrow arrays.

    By default only standard concepts are found (what ``*_concept_id`` may hold);
    ``standard_only=False`` finds any concept of the catalogue, for ``*_source_concept_id``
    (care plans, for one, have no standard concept in OMOP).
    """

    def __init__(self, *, standard_only: bool = True) -> None:
        by_vocab: dict[str, dict[str, int]] = {}
        for concept in CLINICAL_CONCEPTS:
            if concept.standard == "S" or (not standard_only and concept.concept_id):
                by_vocab.setdefault(concept.vocabulary, {})[concept.code] = concept.concept_id
        # Then the shipped Eunomia subset, for codes of real Synthea / EHR extracts that our
        # generator never writes; the catalogue above wins where both know a code.
        shipped = vocab_shipped.code_map() if standard_only else vocab_shipped.source_map()
        for (vocabulary, code), concept_id in shipped.items():
            if concept_id:
                by_vocab.setdefault(vocabulary, {}).setdefault(code, concept_id)
        self._codes = {v: pa.array(list(m), pa.string()) for v, m in by_vocab.items()}
        self._ids = {v: np.array(list(m.values()), dtype=np.int64) for v, m in by_vocab.items()}

    def vocabularies(self) -> list[str]:
        return sorted(self._codes)

    def map(self, codes: pa.Array, vocabulary: str | pa.Array) -> np.ndarray:
        """Concept ids (int64) for ``codes``; 0 where unknown or null.

        ``vocabulary`` is one vocabulary_id for the whole column or a row-aligned array of
        them (from a SYSTEM column, already translated with :func:`vocabulary_of`).
        """
        out = np.zeros(len(codes), dtype=np.int64)
        codes = pc.utf8_trim_whitespace(codes.cast(pa.string()))
        if isinstance(vocabulary, str):
            return self._map_one(codes, vocabulary)
        for vocab in pc.unique(vocabulary).to_pylist():
            if vocab is None:
                continue
            rows = pc.equal(vocabulary, vocab).fill_null(False).to_numpy(zero_copy_only=False)
            out[rows] = self._map_one(codes.filter(pa.array(rows)), vocab)
        return out

    def _map_one(self, codes: pa.Array, vocabulary: str) -> np.ndarray:
        if vocabulary not in self._codes:
            return np.zeros(len(codes), dtype=np.int64)
        idx = pc.index_in(codes, value_set=self._codes[vocabulary])
        valid = idx.is_valid().to_numpy(zero_copy_only=False)
        pos = idx.fill_null(0).to_numpy(zero_copy_only=False)
        return np.where(valid, self._ids[vocabulary][pos], 0)


def vocabulary_of(systems: pa.Array, default: str) -> pa.Array:
    """Translate a SYSTEM column into vocabulary ids (``default`` where empty, null where
    the system is one we do not hold)."""
    text = pc.utf8_lower(pc.utf8_trim_whitespace(systems.cast(pa.string())))
    keys = pa.array(list(SYSTEMS), pa.string())
    vals = pa.array(list(SYSTEMS.values()), pa.string())
    idx = pc.index_in(text, value_set=keys)
    mapped = pc.take(vals, idx)
    empty = pc.or_(pc.is_null(text), pc.equal(text, "")).fill_null(True)
    return pc.if_else(empty, pa.scalar(default), mapped)


def lookup(values: pa.Array, table: Mapping[str, int], *, lower: bool = True) -> np.ndarray:
    """Map text values through a small fixed table; 0 where absent (int64)."""
    text = pc.utf8_trim_whitespace(values.cast(pa.string()))
    if lower:
        text = pc.utf8_lower(text)
    keys = pa.array(list(table), pa.string())
    ids = np.array(list(table.values()) or [0], dtype=np.int64)
    idx = pc.index_in(text, value_set=keys)
    valid = idx.is_valid().to_numpy(zero_copy_only=False)
    return np.where(valid, ids[idx.fill_null(0).to_numpy(zero_copy_only=False)], 0)
