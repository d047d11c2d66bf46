"""Reading CDM v5.3 files into the v5.4 schema.

The differences below were checked column by column against the 5.3 headers of Eunomia
GiBleed and the MIMIC-IV demo and the 5.4 specification:

* renamed columns (visit_occurrence, visit_detail, and the 5.3 ``reveue`` typo in cost);
* columns new in 5.4, which stay NULL — except the two the 5.4 spec requires, which are
  filled: ``metadata.metadata_id`` (numbered 1..n in file order) and
  ``cdm_source.cdm_version_concept_id`` (756265, the "OMOP CDM Version 5.4" concept that
  OHDSI's 5.3 -> 5.4 migrations and ETL-Synthea write, because the store *is* 5.4 now;
  ``cdm_version`` keeps the source's own text so the origin stays visible);
* tables dropped in 5.4 (``attribute_definition``, ``cohort_attribute``), skipped with a
  warning; tables new in 5.4 (``episode``, ``episode_event``) are simply left empty.

Mapping is decided per file from its header, so a folder mixing 5.3 and 5.4 files loads too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType

_VISIT_RENAMES = {
    "admitting_source_concept_id": "admitted_from_concept_id",
    "admitting_source_value": "admitted_from_source_value",
    "discharge_to_concept_id": "discharged_to_concept_id",
    "discharge_to_source_value": "discharged_to_source_value",
}

# table -> {5.3 column: 5.4 column}
RENAMED: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "visit_occurrence": MappingProxyType(dict(_VISIT_RENAMES)),
        "visit_detail": MappingProxyType(
            {**_VISIT_RENAMES, "visit_detail_parent_id": "parent_visit_detail_id"}
        ),
        "cost": MappingProxyType({"reveue_code_source_value": "revenue_code_source_value"}),
    }
)

# table -> columns that 5.3 does not have (left NULL unless listed in FILLED)
ADDED_IN_54: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "procedure_occurrence": ("procedure_end_date", "procedure_end_datetime"),
        "device_exposure": (
            "production_id", "unit_concept_id", "unit_source_value", "unit_source_concept_id",
        ),
        "measurement": (
            "unit_source_concept_id", "measurement_event_id", "meas_event_field_concept_id",
        ),
        "observation": (
            "value_source_value", "observation_event_id", "obs_event_field_concept_id",
        ),
        "note": ("note_event_id", "note_event_field_concept_id"),
        "location": ("country_concept_id", "country_source_value", "latitude", "longitude"),
        "metadata": ("metadata_id", "value_as_number"),
        "cdm_source": ("cdm_version_concept_id",),
    }
)

# (table, column) -> SQL expression used when a 5.3 file lacks a column 5.4 requires.
CDM54_VERSION_CONCEPT_ID = 756265
FILLED: Mapping[tuple[str, str], str] = MappingProxyType(
    {
        ("metadata", "metadata_id"): "row_number() OVER ()",
        ("cdm_source", "cdm_version_concept_id"): str(CDM54_VERSION_CONCEPT_ID),
    }
)

DROPPED_TABLES = frozenset({"attribute_definition", "cohort_attribute"})
NEW_TABLES_54 = frozenset({"episode", "episode_event"})


def rename_columns(table: str, columns: Iterable[str]) -> tuple[list[str], dict[str, str]]:
    """Columns of a file with 5.3 names replaced by their 5.4 names.

    Returns the new list and the renames applied ({5.3 name: 5.4 name}). A 5.3 name is
    left alone when the file also has the 5.4 name, so the 5.4 column wins.
    """
    cols = list(columns)
    renames = {
        old: new
        for old, new in RENAMED.get(table, {}).items()
        if old in cols and new not in cols
    }
    return [renames.get(c, c) for c in cols], renames


def file_version_evidence(table: str, columns: Iterable[str]) -> str | None:
    """``"5.3"`` or ``"5.4"`` if a file's header shows which version wrote it, else None."""
    cols = set(columns)
    # The cost rename is left out: CDM 5.3.1 already fixed that typo, so it tells nothing.
    renames = RENAMED.get(table, {}) if table in ("visit_occurrence", "visit_detail") else {}
    if table in DROPPED_TABLES or cols & set(renames):
        return "5.3"
    if table in NEW_TABLES_54 or cols & (set(renames.values()) | set(ADDED_IN_54.get(table, ()))):
        return "5.4"
    return None


def version_from_text(text: str | None) -> str | None:
    """``"5.3"`` from cdm_source.cdm_version texts such as ``v5.3.1`` or ``5.3``."""
    if not text:
        return None
    match = re.search(r"(\d+)\.(\d+)", text)
    return f"{match.group(1)}.{match.group(2)}" if match else None


def detect_version(evidence: Iterable[str | None], cdm_source_text: str | None) -> str:
    """The CDM version a source was written in, from file headers first (they decide how
    columns are read) and from ``cdm_source.cdm_version`` when headers cannot tell."""
    seen = {e for e in evidence if e}
    if seen == {"5.3"}:
        return "5.3"
    if seen == {"5.4"}:
        return "5.4"
    if seen:
        return "5.3+5.4"
    return version_from_text(cdm_source_text) or "5.4"
