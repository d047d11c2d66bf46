"""Ingest identifiable EHR extracts into a de-identified OMOP CDM v5.4 site store.

Synthea CSV today (:func:`ingest_synthea`); FHIR R4 bundles later. Every column passes the
Safe Harbor rule catalogue of :mod:`behindglass.deid`; see docs/ingest.md.
"""

from behindglass.ingest.pipeline import ingest_synthea
from behindglass.ingest.report import IngestError, IngestReport, Problem

__all__ = ["IngestError", "IngestReport", "Problem", "ingest_synthea"]
