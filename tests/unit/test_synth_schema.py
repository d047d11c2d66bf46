"""The synthetic data set is CDM v5.4 to the letter, and every concept it uses is defined."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import duckdb
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest

from behindglass.synth import PROFILES, generate_site
from behindglass.synth.concepts import (
    CELECOXIB,
    DIABETES,
    DICLOFENAC,
    LISINOPRIL,
    T2DM,
)
from behindglass.synth.schema import CLINICAL_TABLES, COLUMNS, SITE_TABLES, VOCABULARY_TABLES

SPEC = (Path(__file__).resolve().parents[2].parent / "shared" / "data" / "omop-cdm-v5.4-spec"
        / "OMOP_CDMv5.4_Field_Level.csv")
ALL_TABLES = (*CLINICAL_TABLES, *SITE_TABLES, *VOCABULARY_TABLES)


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small data set per built-in profile (coding habits differ between them)."""
    root = tmp_path_factory.mktemp("synth-schema")
    return {name: generate_site(name, 1_200, 11, root / name).out for name in PROFILES}


def _spec_columns() -> dict[str, list[str]]:
    if not SPEC.exists():
        pytest.skip(f"CDM specification not found at {SPEC}")
    columns: dict[str, list[str]] = {}
    with SPEC.open(encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            columns.setdefault(row["cdmTableName"].lower(), []).append(
                row["cdmFieldName"].lower().strip('"'))
    return columns


def test_hard_coded_columns_match_the_specification() -> None:
    spec = _spec_columns()
    for table, columns in COLUMNS.items():
        assert [name for name, _ in columns] == spec[table], table


def test_files_have_exactly_the_spec_columns_in_order(sites: dict[str, Path]) -> None:
    spec = _spec_columns()
    for folder in sites.values():
        written = sorted(p.name for p in folder.iterdir())
        assert written == sorted(f"{t}.csv" for t in ALL_TABLES)
        for table in ALL_TABLES:
            with (folder / f"{table}.csv").open(encoding="utf-8") as fh:
                header = fh.readline().rstrip("\n").split(",")
            assert header == spec[table], table


def test_values_have_cdm_text_forms(sites: dict[str, Path]) -> None:
    folder = sites["midwest-academic"]
    with (folder / "visit_occurrence.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))[:200]
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", r["visit_start_date"]) for r in rows)
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", r["visit_start_datetime"])
               for r in rows)
    assert all(r["visit_source_concept_id"] == "" for r in rows)  # NULL is an empty field
    with (folder / "location.csv").open(encoding="utf-8") as fh:
        zips = [r["zip"] for r in csv.DictReader(fh)]
    assert zips and all(re.fullmatch(r"\d{3}", z) for z in zips)


def test_every_concept_id_used_is_in_the_concept_table(sites: dict[str, Path]) -> None:
    for name, folder in sites.items():
        defined = set(pacsv.read_csv(folder / "concept.csv").column("concept_id").to_pylist())
        for table in ALL_TABLES:
            data = pacsv.read_csv(folder / f"{table}.csv")
            for column in data.column_names:
                if not re.search(r"concept_id(_\d)?$", column):
                    continue
                used = {v for v in pc.unique(data.column(column)).to_pylist() if v is not None}
                missing = used - defined
                assert not missing, f"{name}: {table}.{column} uses undefined {missing}"


def test_hierarchies_are_in_concept_ancestor(sites: dict[str, Path]) -> None:
    folder = sites["rural-community"]
    con = duckdb.connect()
    rows = set(con.execute(
        f"select ancestor_concept_id, descendant_concept_id, min_levels_of_separation "
        f"from read_csv('{folder}/concept_ancestor.csv')").fetchall())
    assert (DIABETES, T2DM, 1) in rows
    assert (T2DM, T2DM, 0) in rows
    assert (21603933, DICLOFENAC, 2) in rows  # NSAIDs (ATC M01A) above diclofenac
    assert (21603933, CELECOXIB, 2) in rows
    assert (21601783, LISINOPRIL, 1) in rows  # ACE inhibitors, plain
    rel = set(con.execute(f"select concept_id_1, concept_id_2, relationship_id from "
                          f"read_csv('{folder}/concept_relationship.csv')").fetchall())
    assert (T2DM, DIABETES, "Is a") in rel and (DIABETES, T2DM, "Subsumes") in rel


def test_concept_rows_are_complete(sites: dict[str, Path]) -> None:
    with (sites["urban-brazil"] / "concept.csv").open(encoding="utf-8") as fh:
        rows = {int(r["concept_id"]): r for r in csv.DictReader(fh)}
    assert rows[T2DM]["domain_id"] == "Condition" and rows[T2DM]["concept_code"] == "44054006"
    assert rows[DICLOFENAC]["concept_class_id"] == "Ingredient"
    assert rows[21603933]["standard_concept"] == "C"
    assert all(r["concept_name"] and r["domain_id"] and r["vocabulary_id"] and r["concept_code"]
               for r in rows.values())
