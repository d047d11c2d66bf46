"""organizations, providers, payers and payer_transitions → care_site, provider and
payer_plan_period.

* **care_site**: ``care_site_id`` = the keyed pseudonym (namespace ``care_site``) of the
  organisation Id, the same id encounters carry, so visits link; the name and phone are
  never read; the location is STATE + ZIP3 through :func:`.persons.locations`;
  ``place_of_service_concept_id`` 0 (Synthea does not say).
* **provider**: ``provider_id`` = keyed pseudonym (namespace ``provider``); name and
  address never read; gender concept; SPECIALITY (a specialty, not an identifier) kept as
  ``specialty_source_value`` and mapped through a small table (0 otherwise);
  ``care_site_id`` from ORGANIZATION.
* **payer_plan_period**: one row per payer_transitions row, with a keyed row id; dates go
  through the date mode keyed on PATIENT like every date; ``payer_source_value`` is the
  payer's NAME from payers.csv (an insurer serving many members is not an identifier of
  any of them; docs/ingest.md). MEMBERID and OWNER_NAME are never read. Older exports with
  START_YEAR / END_YEAR are read as 1 January / 31 December of those years.

The site files are small (one row per organisation, clinician or payer) and are read
whole; payer_transitions streams like the event files
(:class:`~behindglass.ingest.synthea.EventMapper`).
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from behindglass.deid.safe_harbor import DeidConfig
from behindglass.deid.secret import SiteSecret
from behindglass.ingest import vocab
from behindglass.ingest.persons import id_problems, locations, pseudo
from behindglass.ingest.reader import CsvScan, SyntheaFile, share
from behindglass.ingest.synthea import EventMapper, FileMap

#: Refused rows of a site file as (file lines, reason).
Refused = list[tuple[list[int], str]]

PAYER_TRANSITIONS = FileMap(
    ("PATIENT", "START_DATE", "END_DATE", "START_YEAR", "END_YEAR", "PAYER"),
    "coalesce(START_DATE, START_YEAR || '-01-01')",
    "coalesce(END_DATE, END_YEAR || '-12-31')",
    ("PATIENT", "PAYER", "START_DATE", "END_DATE", "START_YEAR", "END_YEAR"),
    visit=None,
    join=("pay.name AS payer_name", "LEFT JOIN bg_payers pay ON x.PAYER = pay.key"),
)
_SOURCE_VALUE_CHARS = 50  # *_source_value is varchar(50) in CDM v5.4


def _read(reader: duckdb.DuckDBPyConnection, file: SyntheaFile, n: int,
          columns: list[str]) -> tuple[pa.Table, Refused]:
    """The whole file (catalogued ``columns`` only) and its refused rows: malformed, missing
    Id, or repeating an earlier row's Id (the first row of an Id wins)."""
    scan = CsvScan(reader, file, n)
    table = scan.batches(columns, "ord, " + ", ".join(columns)).read_all()
    refused: Refused = [([line], reason) for line, reason in scan.finish()]
    missing, dup = id_problems(table["Id"])
    ords = table["ord"].to_numpy()
    for mask, reason in ((missing, "missing Id"),
                         (dup, "duplicate Id (an earlier row has the same Id)")):
        if mask.any():
            refused.append((file.lines_of(ords[mask]), reason))
    return table.filter(pa.array(~(missing | dup))), refused


def care_sites(reader: duckdb.DuckDBPyConnection, file: SyntheaFile, secret: SiteSecret,
               cfg: DeidConfig) -> tuple[dict[str, pa.Table], Refused]:
    t, refused = _read(reader, file, 101, ["Id", "STATE", "ZIP"])
    n = t.num_rows
    location_id, loc = locations(t["STATE"].combine_chunks(), t["ZIP"].combine_chunks(),
                                 secret, cfg)
    site = pa.table({
        "care_site_id": pseudo(t["Id"].combine_chunks(), secret, "care_site"),
        "place_of_service_concept_id": np.zeros(n, np.int64),
        "location_id": location_id, "_ord": t["ord"],
    })
    return {"care_site": site, "location": loc}, refused


def providers(reader: duckdb.DuckDBPyConnection, file: SyntheaFile,
              secret: SiteSecret) -> tuple[dict[str, pa.Table], Refused]:
    t, refused = _read(reader, file, 102, ["Id", "ORGANIZATION", "GENDER", "SPECIALITY"])
    n = t.num_rows
    gender = t["GENDER"].combine_chunks()
    specialty = t["SPECIALITY"].combine_chunks()
    rows = pa.table({
        "provider_id": pseudo(t["Id"].combine_chunks(), secret, "provider"),
        "specialty_concept_id": vocab.lookup(specialty, vocab.SPECIALTY),
        "care_site_id": pseudo(t["ORGANIZATION"].combine_chunks(), secret, "care_site"),
        "gender_concept_id": vocab.lookup(gender, vocab.GENDER),
        "specialty_source_value": pc.utf8_slice_codeunits(specialty, 0, _SOURCE_VALUE_CHARS),
        "specialty_source_concept_id": np.zeros(n, np.int64),
        "gender_source_value": gender, "gender_source_concept_id": np.zeros(n, np.int64),
        "_ord": t["ord"],
    })
    return {"provider": rows}, refused


def register_payers(reader: duckdb.DuckDBPyConnection, file: SyntheaFile | None) -> Refused:
    """payers.csv as the lookup ``bg_payers(key, name)`` payer_transitions joins."""
    table = pa.table({"key": pa.array([], pa.string()), "name": pa.array([], pa.string())})
    refused: Refused = []
    if file is not None and file.has("Id"):
        t, refused = _read(reader, file, 103, ["Id", "NAME"])
        name = t["NAME"].combine_chunks()
        table = pa.table({"key": t["Id"].combine_chunks(),
                          "name": pc.utf8_slice_codeunits(name, 0, _SOURCE_VALUE_CHARS)})
    share(reader, "bg_payers", table)
    return refused


def payer_plan_periods(m: EventMapper, b: pa.RecordBatch, c: dict) -> dict[str, pa.Table]:
    n = len(b)
    return {"payer_plan_period": pa.table({
        "payer_plan_period_id": b["eid"], "person_id": c["person_id"],
        "payer_plan_period_start_date": c["start"],
        "payer_plan_period_end_date": pc.coalesce(c["stop"], c["start"]),
        "payer_concept_id": np.zeros(n, np.int64), "payer_source_value": b["payer_name"],
        "payer_source_concept_id": np.zeros(n, np.int64),
        "plan_concept_id": np.zeros(n, np.int64),
        "plan_source_concept_id": np.zeros(n, np.int64),
        "sponsor_concept_id": np.zeros(n, np.int64),
        "sponsor_source_concept_id": np.zeros(n, np.int64),
        "stop_reason_concept_id": np.zeros(n, np.int64),
        "stop_reason_source_concept_id": np.zeros(n, np.int64),
        "_ord": c["_ord"],
    })}
