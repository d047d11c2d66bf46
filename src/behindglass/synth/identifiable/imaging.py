"""imaging_studies.csv: the images behind the block's chest X-rays, plus a bilateral
breast ultrasound after some mammograms.

Every plain chest X-ray procedure of the clinical record gets a DX study at that
procedure; about one mammogram in eight is followed, at the same encounter, by a breast
ultrasound. Each study has one series of 1–3 instances and is written Synthea's way, one
row per instance sharing the study Id. Series and instance UIDs (and the study UID that
FHIR carries) are DICOM UIDs under the ``1.2.840.99999`` example root, unique in the
extract, and planted identifiers (class ``other_id``).
"""

from __future__ import annotations

import numpy as np

from behindglass.synth import concepts as c
from behindglass.synth.identifiable.care_codes import DICOM_ROOT, IMAGING
from behindglass.synth.identifiable.synthea_csv import iso_time, uuids
from behindglass.synth.identifiable.timeline import Timeline
from behindglass.synth.writer import Columns

_STUDY, _SERIES, _INSTANCE = 1, 2, 3  # UID arc telling the three kinds apart
_XRAY, _ULTRASOUND = "399208008", "1571000087109"


def dicom_uids(rng: np.random.Generator, kind: int, index: int, n: int) -> list[str]:
    """``n`` DICOM UIDs unique in the extract: root, kind, a random arc (differs between
    sites and seeds), block index + 1 and row + 1 (no arc has a leading zero)."""
    stamp = rng.integers(10 ** 8, 10 ** 10, n)
    return [f"{DICOM_ROOT}.{kind}.{s}.{index + 1}.{i + 1}" for i, s in enumerate(stamp)]


def imaging_studies(rng: np.random.Generator, tl: Timeline, block: dict[str, Columns],
                    patient: np.ndarray, visit_ids: np.ndarray,
                    index: int) -> dict[str, object]:
    proc = block["procedure_occurrence"]
    concept = np.asarray(proc["procedure_concept_id"])
    when = np.asarray(proc["procedure_datetime"], dtype=np.int64)
    visit = np.asarray(proc["visit_occurrence_id"], dtype=np.int64)
    xray = np.flatnonzero(concept == c.CHEST_XRAY)
    mammo = np.flatnonzero(concept == c.MAMMOGRAPHY)
    mammo = mammo[rng.random(len(mammo)) < 0.12]
    study_visit = np.concatenate([visit[xray], visit[mammo]])
    study_time = np.concatenate([when[xray], when[mammo] + 1800])  # half an hour after
    study_kind = np.array([_XRAY] * len(xray) + [_ULTRASOUND] * len(mammo), dtype=object)
    order = np.lexsort((study_kind.astype(str), study_time, tl.person[study_visit]))
    study_visit, study_time, study_kind = study_visit[order], study_time[order], study_kind[order]
    n_studies = len(study_visit)
    study_id = uuids(rng, n_studies)
    study_uid = np.array(dicom_uids(rng, _STUDY, index, n_studies), dtype=object)
    series_uid = np.array(dicom_uids(rng, _SERIES, index, n_studies), dtype=object)
    per_study = rng.integers(1, 4, n_studies)
    study = np.repeat(np.arange(n_studies), per_study)
    first_row = (np.cumsum(per_study) - per_study).astype(np.int64)
    instance_uid = dicom_uids(rng, _INSTANCE, index, len(study))
    info = [IMAGING[k] for k in study_kind[study]]
    visit_rows = study_visit[study]
    series = series_uid[study]
    only_first = np.full(len(study), "", dtype=object)
    only_first[first_row] = series_uid
    study_urn = np.full(len(study), "", dtype=object)
    study_urn[first_row] = [f"urn:oid:{uid}" for uid in study_uid]
    return {
        "Id": study_id[study], "DATE": iso_time(study_time[study]),
        "PATIENT": patient[tl.person[visit_rows]], "ENCOUNTER": visit_ids[visit_rows],
        "SERIES_UID": series,
        "BODYSITE_CODE": np.array([i[3] for i in info], dtype=object),
        "BODYSITE_DESCRIPTION": np.array([i[4] for i in info], dtype=object),
        "MODALITY_CODE": np.array([i[1] for i in info], dtype=object),
        "MODALITY_DESCRIPTION": np.array([i[2] for i in info], dtype=object),
        "INSTANCE_UID": instance_uid,
        "SOP_CODE": np.array([i[5] for i in info], dtype=object),
        "SOP_DESCRIPTION": np.array([i[6] for i in info], dtype=object),
        "PROCEDURE_CODE": study_kind[study],
        # Not CSV columns: the study UID (FHIR only), and the series / study UID on each
        # study's first row only, so that the truth file lists every planted value once.
        "_study_uid": study_uid[study], "_truth:SERIES_UID": only_first,
        "_truth:study": study_urn,
    }
