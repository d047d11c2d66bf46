"""claims.csv (Synthea v3 columns): one claim per encounter.

The claim carries the encounter's patient, provider, payer and date, and up to eight
diagnosis codes of the conditions recorded at that encounter. The claim Id (a UUID) and
the appointment number are planted identifiers (class ``account``): billing numbers tie a
record to a person as surely as an account number does.
"""

from __future__ import annotations

import numpy as np

from behindglass.synth import concepts as c
from behindglass.synth.identifiable.identities import block_unique
from behindglass.synth.identifiable.synthea_csv import CODES, _lookup, uuids
from behindglass.synth.writer import Columns

DIAGNOSES = 8
_INSTITUTIONAL, _PROFESSIONAL = "2", "1"  # Synthea's HEALTHCARECLAIMTYPEID values


def claims(rng: np.random.Generator, block: dict[str, Columns], encounters: dict[str, object],
           index: int) -> dict[str, object]:
    """``encounters`` are the columns of encounters.csv of the same block."""
    visits = block["visit_occurrence"]
    n = len(visits["visit_occurrence_id"])
    cond = block["condition_occurrence"]
    cvisit = np.asarray(cond["visit_occurrence_id"], dtype=np.int64)
    order = np.argsort(cvisit, kind="stable")  # diagnoses in recording order per visit
    cvisit_sorted = cvisit[order]
    first = np.searchsorted(cvisit_sorted, cvisit_sorted, side="left")
    rank = np.arange(len(order)) - first
    keep = rank < DIAGNOSES
    diagnosis = np.full((n, DIAGNOSES), "", dtype=object)
    codes = _lookup(np.asarray(cond["condition_concept_id"])[order], CODES)
    diagnosis[cvisit_sorted[keep], rank[keep]] = codes[keep]
    site = visits["care_site_id"]
    department = np.where(np.ma.getmaskarray(site), "",
                          np.ma.getdata(site).astype(np.int64).astype(str))
    institutional = np.isin(np.asarray(visits["visit_concept_id"]), [c.INPATIENT, c.EMERGENCY])
    provider, start = encounters["PROVIDER"], encounters["START"]
    zeros = np.full(n, "0", dtype=object)
    columns: dict[str, object] = {
        "Id": uuids(rng, n), "PATIENTID": encounters["PATIENT"], "PROVIDERID": provider,
        "PRIMARYPATIENTINSURANCEID": encounters["PAYER"], "SECONDARYPATIENTINSURANCEID": zeros,
        "DEPARTMENTID": department, "PATIENTDEPARTMENTID": department,
    }
    for k in range(DIAGNOSES):
        columns[f"DIAGNOSIS{k + 1}"] = diagnosis[:, k]
    columns.update({
        "REFERRINGPROVIDERID": provider,
        "APPOINTMENTID": block_unique(rng, index, n, prefix="AP"),
        "CURRENTILLNESSDATE": start, "SERVICEDATE": start, "SUPERVISINGPROVIDERID": provider,
        "STATUS1": np.full(n, "CLOSED", dtype=object), "STATUSP": np.full(n, "CLOSED",
                                                                           dtype=object),
        "OUTSTANDING1": zeros, "OUTSTANDINGP": zeros,
        "LASTBILLEDDATE1": start, "LASTBILLEDDATEP": start,
        "HEALTHCARECLAIMTYPEID1": np.where(institutional, _INSTITUTIONAL, _PROFESSIONAL),
        "HEALTHCARECLAIMTYPEID2": zeros,
    })
    return columns
