"""The vocabulary subset shipped for extracts from the real Synthea tool and from EHR FHIR.

Three files under ``shipped_vocabulary/`` (made by :mod:`behindglass.ingest.vocab_derive`
from the OHDSI Eunomia data sets): concepts, 'Maps to' pairs and ancestor pairs. A source
code is looked up as (vocabulary_id, concept_code); a non-standard concept follows its
'Maps to' link to the standard one, and a code with no standard target maps to 0, as OMOP
ETLs do.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pyarrow as pa

HERE = Path(__file__).resolve().parent / "shipped_vocabulary"
CONCEPT_FIELDS = ("concept_id", "concept_name", "domain_id", "vocabulary_id",
                  "concept_class_id", "standard_concept", "concept_code")


def _rows(name: str) -> Iterator[dict[str, str]]:
    with (HERE / name).open(encoding="utf-8", newline="") as f:
        yield from csv.DictReader(line for line in f if not line.startswith("#"))


@cache
def concepts() -> tuple[dict[str, str], ...]:
    """Every shipped concept row (text fields, as in the files)."""
    return tuple(_rows("concept.csv"))


@cache
def code_map() -> dict[tuple[str, str], int]:
    """(vocabulary_id, concept_code) → standard concept_id (0 when none is standard)."""
    maps_to: dict[int, int] = {}
    for row in _rows("maps_to.csv"):
        maps_to.setdefault(int(row["source_concept_id"]), int(row["standard_concept_id"]))
    out: dict[tuple[str, str], int] = {}
    for row in concepts():
        cid = int(row["concept_id"])
        if cid == 0:
            continue
        target = cid if row["standard_concept"] == "S" else maps_to.get(cid, 0)
        key = (row["vocabulary_id"], row["concept_code"])
        if out.get(key, 0) == 0:  # a standard reading beats an unmapped one
            out[key] = target
    return out


@cache
def source_map() -> dict[tuple[str, str], int]:
    """(vocabulary_id, concept_code) → the concept itself, standard or not (for
    ``*_source_concept_id``)."""
    return {(r["vocabulary_id"], r["concept_code"]): int(r["concept_id"])
            for r in concepts() if r["concept_id"] != "0"}


def concept_table(exclude: set[int] | frozenset[int] = frozenset()) -> pa.Table:
    """The shipped CONCEPT rows (all columns of CDM v5.4), minus ``exclude`` ids."""
    rows = [r for r in concepts() if int(r["concept_id"]) not in exclude]
    cols: dict[str, pa.Array] = {
        "concept_id": pa.array([int(r["concept_id"]) for r in rows], pa.int64())}
    for name in CONCEPT_FIELDS[1:]:
        cols[name] = pa.array([r[name] or None for r in rows], pa.string())
    n = len(rows)
    cols["valid_start_date"] = pa.array([dt.date(1970, 1, 1)] * n, pa.date32())
    cols["valid_end_date"] = pa.array([dt.date(2099, 12, 31)] * n, pa.date32())
    cols["invalid_reason"] = pa.nulls(n, pa.string())
    return pa.table(cols)


def ancestor_table(exclude_pairs: set[tuple[int, int]] | frozenset = frozenset()) -> pa.Table:
    """The shipped CONCEPT_ANCESTOR rows, minus pairs already written from elsewhere."""
    rows = [r for r in _rows("concept_ancestor.csv")
            if (int(r["ancestor_concept_id"]), int(r["descendant_concept_id"]))
            not in exclude_pairs]
    return pa.table({
        name: pa.array([int(r[name]) for r in rows], pa.int64())
        for name in ("ancestor_concept_id", "descendant_concept_id",
                     "min_levels_of_separation", "max_levels_of_separation")
    })
