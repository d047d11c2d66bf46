"""Write the identifiable extract as FHIR R4: NDJSON (bulk-export layout, one file per
resource type) or Synthea-style Bundles (one transaction Bundle per patient).

Both layouts hold the same resources, built once per block from the Synthea columns
(``fhir``, ``fhir_care``); only the packaging and the reference style differ. Memory is
bounded by one block, as for the CSV writer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from behindglass.synth.identifiable import fhir_care
from behindglass.synth.identifiable.documents import BlockRecords, block_notes, document_references
from behindglass.synth.identifiable.export import (
    CROSSWALK_FILE,
    IdentifiableReport,
    _block_columns,
    _site_columns,
)
from behindglass.synth.identifiable.fhir import (
    PLANTED_FHIR,
    RESOURCES,
    FhirIds,
    _dump,
    clinical,
    coverages,
    location_ids,
    patients,
    site_resources,
)
from behindglass.synth.identifiable.fhir_bundles import BUNDLE_DIR, patient_bundles, shared_bundles
from behindglass.synth.identifiable.staging import simulated_blocks, staged_output, truth_files
from behindglass.synth.identifiable.synthea_csv import as_list
from behindglass.synth.identifiable.truth import truth_lines
from behindglass.synth.profiles import Profile
from behindglass.synth.sitetables import build_site, profile_key

_FHIR_STREAM = 0xF1  # extra seed word for resource ids (not shared with CSV streams)
_REPORT_STREAM = 0xF2  # DiagnosticReport ids
_SITE_STREAM = 0xF3  # Location ids


def _rng(profile: Profile, seed: int, *words: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, profile_key(profile), *words]))


def block_resources(records: BlockRecords, locations: dict[str, str],
                    bundle_of: Callable[[str], str] | None,
                    ) -> tuple[dict[str, Iterable[dict]], list[str], list[str]]:
    """Resource streams by type (Patient first), truth lines and note span lines of one
    block.

    ``bundle_of`` names a patient's bundle file (bundle layout); None for NDJSON, where
    every resource goes to ``<Kind>.ndjson``.
    """
    profile, seed, index, cols = records.profile, records.seed, records.index, records.cols
    ids = FhirIds.draw(_rng(profile, seed, index, _FHIR_STREAM), cols)
    streams: dict[str, Iterable[dict]] = {"Patient": patients(cols, profile)}
    streams.update(clinical(cols, ids, locations))
    streams["DiagnosticReport"] = fhir_care.diagnostic_reports(
        cols, ids, _rng(profile, seed, index, _REPORT_STREAM))
    streams["Immunization"] = fhir_care.immunizations(cols, ids)
    streams["AllergyIntolerance"] = fhir_care.allergies(cols, ids)
    streams["CarePlan"] = fhir_care.careplans(cols, ids)
    streams["Device"] = fhir_care.devices(cols, ids)
    streams["ImagingStudy"] = fhir_care.imaging_studies(cols)
    streams["Coverage"] = coverages(cols, ids)
    truth: list[str] = []
    for table, column, where in PLANTED_FHIR:
        owners = [str(v) for v in as_list(cols[table]["Id" if table == "patients"
                                                      else "PATIENT"])]
        values = [str(v) for v in as_list(cols[table][column])]
        files = None if bundle_of is None else [bundle_of(o) for o in owners]
        truth.extend(truth_lines(owners, values, where, files))
    # Clinical notes as DocumentReference resources, with their truth and span lines.
    notes = block_notes(records)
    documents, lines, spans = document_references(
        records, notes, bundle_of or (lambda _patient: "DocumentReference.ndjson"))
    streams["DocumentReference"] = documents
    truth.extend(lines)
    return streams, truth, spans


def write_fhir(profile: Profile, persons: int, seed: int, out: Path, *, progress: bool = False,
               overwrite: bool = False, layout: str = "ndjson") -> IdentifiableReport:
    """Write the FHIR R4 extract (called by ``generate_identifiable``)."""
    started = time.perf_counter()
    counts: dict[str, int] = dict.fromkeys(RESOURCES, 0)
    identifiers = 0
    with staged_output(out, overwrite) as (partial, handles):
        site = build_site(profile, persons, seed)
        ids, site_cols = _site_columns(profile, site, seed)
        locations = location_ids(_rng(profile, seed, (1 << 30) + _SITE_STREAM), site_cols)
        shared = site_resources(site_cols, profile, locations)
        if layout == "bundles":
            (partial / BUNDLE_DIR).mkdir()
            for name, text in shared_bundles(shared).items():
                (partial / BUNDLE_DIR / name).write_text(text, encoding="utf-8")
        else:
            for kind in RESOURCES:
                handles[kind] = (partial / f"{kind}.ndjson").open("w", encoding="utf-8",
                                                                   newline="\n")
            for kind, resources in shared.items():
                handles[kind].writelines(map(_dump, resources))
        for kind, resources in shared.items():
            counts[kind] += len(resources)
        person_base = profile.id_offset + 1
        with truth_files(partial, CROSSWALK_FILE) as (truth, crosswalk, note_spans):
            for index, n, block in simulated_blocks(profile, site, seed, persons,
                                                    label="FHIR", progress=progress):
                cols, patient = _block_columns(profile, seed, index, block, ids)
                records = BlockRecords(profile, seed, index, block, cols, patient, site_cols)
                if layout == "bundles":
                    streams, lines, spans = block_resources(
                        records, locations, lambda p: f"{BUNDLE_DIR}/{p}.json")
                    for owner, text in patient_bundles(streams, counts):
                        (partial / BUNDLE_DIR / f"{owner}.json").write_text(text,
                                                                           encoding="utf-8")
                else:
                    streams, lines, spans = block_resources(records, locations, None)
                    for kind, resources in streams.items():
                        if kind not in handles:  # DocumentReference, once notes exist
                            handles[kind] = (partial / f"{kind}.ndjson").open(
                                "w", encoding="utf-8", newline="\n")
                        data = "".join(map(_dump, resources))
                        handles[kind].write(data)
                        counts[kind] = counts.get(kind, 0) + data.count("\n")  # json escapes \n
                truth.writelines(lines)
                note_spans.writelines(spans)
                crosswalk.writelines(f"{p},{person_base + i}\n" for i, p in enumerate(patient))
                identifiers += len(lines)
                person_base += n
    suffix = ".ndjson" if layout == "ndjson" else ""
    return IdentifiableReport(profile.name, persons, seed, out,
                              {f"{k}{suffix}": v for k, v in counts.items()}, identifiers,
                              time.perf_counter() - started)

