"""Identifiable synthetic EHR extracts (Synthea CSV, FHIR R4 NDJSON or Bundles) plus a
truth file.

The same simulated sites as ``behindglass.synth``, written the way a hospital's data
engineers receive them: names, addresses, phone numbers, SSNs, MRNs and real dates, so
that ingest and de-identification can be built and tested against known identifiers.
"""

from behindglass.synth.identifiable.export import (
    FHIR_LAYOUTS,
    FORMATS,
    IdentifiableReport,
    generate_identifiable,
)
from behindglass.synth.identifiable.identities import LOCALES, locale_for
from behindglass.synth.identifiable.synthea_csv import HEADERS
from behindglass.synth.identifiable.truth import CLASSES, NOTE_SPANS_FILE, TRUTH_FILE, read_truth

__all__ = ["CLASSES", "FHIR_LAYOUTS", "FORMATS", "HEADERS", "LOCALES", "NOTE_SPANS_FILE",
           "TRUTH_FILE", "IdentifiableReport", "generate_identifiable", "locale_for",
           "read_truth"]
