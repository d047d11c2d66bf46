"""Ingest identifiable EHR extracts into a de-identified OMOP CDM v5.4 site store.

Synthea CSV (:func:`ingest_synthea`) and FHIR R4 NDJSON bulk exports (:func:`ingest_fhir`).
Every field passes the Safe Harbor rule catalogue of :mod:`behindglass.deid`; see
docs/ingest.md.
"""

from behindglass.ingest.fhir import ingest_fhir
from behindglass.ingest.pipeline import ingest_synthea
from behindglass.ingest.report import IngestError, IngestReport, Problem

__all__ = ["IngestError", "IngestReport", "Problem", "ingest_fhir", "ingest_synthea"]
