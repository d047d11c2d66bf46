"""The Synthea event files beyond the first six → OMOP, one Arrow batch at a time.

immunizations → drug_exposure (CVX, type 32818 "EHR administration record"); allergies →
observation (the allergy concept; REACTION1 and SEVERITY1 as value / qualifier source
values); devices → device_exposure (``unique_device_id`` stays NULL: UDI is never read);
careplans → observation (care plan codes are non-standard in OMOP: concept 0, the SNOMED
concept as ``observation_source_concept_id``); imaging_studies → procedure_occurrence, one
row per study ``Id`` (Synthea writes one row per DICOM instance; the series and instance
UIDs are never read).

They share :class:`~behindglass.ingest.synthea.EventMapper`'s checks, keyed ids and date
handling; only the column lists and the table builders live here. DESCRIPTION columns are
never selected (free text).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from behindglass.ingest.synthea import EHR, EventMapper, FileMap
from behindglass.synth.concepts import EHR_ADMINISTRATION

_EVENT_KEY = ("PATIENT", "ENCOUNTER", "CODE", "START", "STOP")

FILES: dict[str, FileMap] = {
    "immunizations": FileMap(("DATE", "PATIENT", "ENCOUNTER", "CODE"), "DATE", None,
                             ("PATIENT", "ENCOUNTER", "CODE", "DATE")),
    "allergies": FileMap(("START", "STOP", "PATIENT", "ENCOUNTER", "SYSTEM", "CODE",
                          "REACTION1", "SEVERITY1"), "START", "STOP", _EVENT_KEY),
    "devices": FileMap(("START", "STOP", "PATIENT", "ENCOUNTER", "CODE"), "START", "STOP",
                       _EVENT_KEY),
    # Id is the care plan's row key: the keyed row id hashes it (never stored).
    "careplans": FileMap(("Id", "START", "STOP", "PATIENT", "ENCOUNTER", "CODE"), "START",
                         "STOP", ("Id",)),
    # One row per study: the first row of each Id (instances repeat the study's columns).
    "imaging_studies": FileMap(
        ("Id", "DATE", "PATIENT", "ENCOUNTER", "PROCEDURE_CODE"), "DATE", None, ("Id",),
        extra=", PROCEDURE_CODE AS CODE",
        where="QUALIFY Id IS NULL OR row_number() OVER (PARTITION BY Id ORDER BY ord) = 1"),
}


def _zeros(n: int) -> np.ndarray:
    return np.zeros(n, np.int64)


def _full(n: int, value: int) -> np.ndarray:
    return np.full(n, value, np.int64)


def immunizations(m: EventMapper, b: pa.RecordBatch, c: dict) -> dict[str, pa.Table]:
    n = len(b)
    return {"drug_exposure": pa.table({
        "drug_exposure_id": b["eid"], "person_id": c["person_id"],
        "drug_concept_id": c["concept"],
        "drug_exposure_start_date": c["start"], "drug_exposure_start_datetime": c["start_dt"],
        "drug_exposure_end_date": c["start"], "drug_exposure_end_datetime": c["start_dt"],
        "drug_type_concept_id": _full(n, EHR_ADMINISTRATION),
        "visit_occurrence_id": c["visit"], "drug_source_value": c["code"],
        "drug_source_concept_id": c["source_concept"], "_ord": c["_ord"],
    })}


def _observation(b: pa.RecordBatch, c: dict, concept: np.ndarray,
                 source_concept: np.ndarray, extra: dict) -> pa.Table:
    n = len(b)
    return pa.table({
        "observation_id": b["eid"], "person_id": c["person_id"],
        "observation_concept_id": concept, "observation_date": c["start"],
        "observation_datetime": c["start_dt"],
        "observation_type_concept_id": _full(n, EHR),
        "visit_occurrence_id": c["visit"], "observation_source_value": c["code"],
        "observation_source_concept_id": source_concept, **extra, "_ord": c["_ord"],
    })


def allergies(m: EventMapper, b: pa.RecordBatch, c: dict) -> dict[str, pa.Table]:
    reaction = b["REACTION1"]
    # Reactions are SNOMED findings; a reaction we ship maps, any other stays 0.
    value = m.codes.map(reaction.fill_null(""), "SNOMED")
    return {"observation": _observation(b, c, c["concept"], c["source_concept"], {
        "value_as_concept_id": value, "value_source_value": reaction,
        "qualifier_source_value": pc.utf8_lower(b["SEVERITY1"]),
    })}


def careplans(m: EventMapper, b: pa.RecordBatch, c: dict) -> dict[str, pa.Table]:
    return {"observation": _observation(b, c, c["concept"], c["source_concept"], {})}


def devices(m: EventMapper, b: pa.RecordBatch, c: dict) -> dict[str, pa.Table]:
    n = len(b)
    return {"device_exposure": pa.table({
        "device_exposure_id": b["eid"], "person_id": c["person_id"],
        "device_concept_id": c["concept"],
        "device_exposure_start_date": c["start"],
        "device_exposure_start_datetime": c["start_dt"],
        "device_exposure_end_date": c["stop"], "device_exposure_end_datetime": c["stop_dt"],
        "device_type_concept_id": _full(n, EHR),
        "visit_occurrence_id": c["visit"], "device_source_value": c["code"],
        "device_source_concept_id": c["source_concept"], "_ord": c["_ord"],
    })}


def imaging_studies(m: EventMapper, b: pa.RecordBatch, c: dict) -> dict[str, pa.Table]:
    n = len(b)
    return {"procedure_occurrence": pa.table({
        "procedure_occurrence_id": b["eid"], "person_id": c["person_id"],
        "procedure_concept_id": c["concept"],
        "procedure_date": c["start"], "procedure_datetime": c["start_dt"],
        "procedure_type_concept_id": _full(n, EHR),
        "visit_occurrence_id": c["visit"], "procedure_source_value": c["code"],
        "procedure_source_concept_id": c["source_concept"], "_ord": c["_ord"],
    })}


BUILDERS = {"immunizations": immunizations, "allergies": allergies, "devices": devices,
            "careplans": careplans, "imaging_studies": imaging_studies}
