"""The CDM v5.4 schema is the official specification, table for table, column for column."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest

from behindglass.omop.schema import (
    CATEGORIES,
    cdm_ddl,
    cdm_tables,
    create_cdm,
    existing_row_counts,
    sql_type,
    table_spec,
)

SPEC = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "omop-cdm-v5.4-spec"

EXPECTED_TABLES = {
    "person", "observation_period", "visit_occurrence", "visit_detail", "condition_occurrence",
    "drug_exposure", "procedure_occurrence", "device_exposure", "measurement", "observation",
    "death", "note", "note_nlp", "specimen", "fact_relationship", "location", "care_site",
    "provider", "payer_plan_period", "cost", "drug_era", "dose_era", "condition_era",
    "episode", "episode_event", "metadata", "cdm_source", "concept", "vocabulary", "domain",
    "concept_class", "concept_relationship", "relationship", "concept_synonym",
    "concept_ancestor", "source_to_concept_map", "drug_strength", "cohort",
    "cohort_definition",
}


def test_every_cdm54_table_is_there_in_a_category() -> None:
    tables = cdm_tables()
    assert set(tables) == EXPECTED_TABLES
    categorised = [t for names in CATEGORIES.values() for t in names]
    assert sorted(categorised) == sorted(EXPECTED_TABLES)
    assert {t for t, spec in tables.items() if spec.required} == {"person", "observation_period"}


@pytest.mark.skipif(not SPEC.exists(), reason="official spec not at ../shared/data")
def test_fields_match_the_official_spec_exactly() -> None:
    with (SPEC / "OMOP_CDMv5.4_Field_Level.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == sum(len(t.fields) for t in cdm_tables().values())
    for row in rows:
        table = cdm_tables()[row["cdmTableName"].lower()]
        f = table.field(row["cdmFieldName"].strip('"').lower())
        assert f.datatype == row["cdmDatatype"].lower()
        assert f.required == (row["isRequired"] == "Yes")
        assert f.primary_key == (row["isPrimaryKey"] == "Yes")
    # column order is the spec's order
    person = [r["cdmFieldName"] for r in rows if r["cdmTableName"] == "person"]
    assert list(cdm_tables()["person"].columns) == person


@pytest.mark.parametrize(
    ("field", "datatype", "expected"),
    [
        ("person_id", "integer", "BIGINT"),
        ("gender_concept_id", "integer", "BIGINT"),
        ("fact_id_1", "integer", "BIGINT"),
        ("year_of_birth", "integer", "INTEGER"),
        ("box_size", "Integer", "INTEGER"),
        ("value_as_number", "float", "DOUBLE"),
        ("visit_start_date", "date", "DATE"),
        ("visit_start_datetime", "datetime", "TIMESTAMP"),
        ("concept_name", "varchar(255)", "VARCHAR"),
        ("note_text", "varchar(MAX)", "VARCHAR"),
    ],
)
def test_type_mapping(field: str, datatype: str, expected: str) -> None:
    assert sql_type(field, datatype) == expected


def test_unknown_datatype_is_refused() -> None:
    with pytest.raises(ValueError, match="blob"):
        sql_type("x", "blob")


def test_created_tables_have_the_spec_columns_and_types() -> None:
    con = duckdb.connect()
    create_cdm(con)
    got = con.execute(
        "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position"
    ).fetchall()
    by_table: dict[str, list[tuple[str, str, str]]] = {}
    for table, column, dtype, nullable in got:
        by_table.setdefault(table, []).append((column, dtype, nullable))
    assert set(by_table) == EXPECTED_TABLES
    for name, spec in cdm_tables().items():
        expected = [(f.name, f.sql_type, "NO" if f.not_null else "YES") for f in spec.fields]
        assert by_table[name] == expected, name
    assert existing_row_counts(con) == dict.fromkeys(EXPECTED_TABLES, 0)


def test_not_null_is_enforced_only_where_a_null_row_is_meaningless() -> None:
    person = table_spec("PERSON")
    assert [f.name for f in person.fields if f.not_null] == ["person_id", "year_of_birth"]
    assert not person.field("gender_concept_id").not_null  # required by spec: warned, kept
    period = table_spec("observation_period")
    assert period.field("observation_period_end_date").not_null
    drug = table_spec("drug_exposure")
    assert drug.field("drug_exposure_start_date").not_null
    assert not drug.field("drug_exposure_end_date").not_null
    assert all(f.not_null for t in cdm_tables().values() for f in t.fields if f.primary_key)


def test_no_primary_or_foreign_keys_are_declared_and_reserved_words_are_quoted() -> None:
    ddl = cdm_ddl()
    assert "PRIMARY KEY" not in ddl and "REFERENCES" not in ddl
    assert '"offset" VARCHAR' in ddl
    con = duckdb.connect()
    con.execute(ddl)  # the printed DDL is runnable as is
    assert len(existing_row_counts(con)) == len(EXPECTED_TABLES)


def test_create_cdm_keeps_rows_unless_replace_and_supports_a_schema() -> None:
    con = duckdb.connect()
    create_cdm(con)
    con.execute("INSERT INTO person (person_id, year_of_birth) VALUES (1, 1970)")
    create_cdm(con)
    assert con.execute("SELECT count(*) FROM person").fetchone() == (1,)
    create_cdm(con, replace=True)
    assert con.execute("SELECT count(*) FROM person").fetchone() == (0,)
    create_cdm(con, schema="cdm")
    assert con.execute("SELECT count(*) FROM cdm.concept").fetchone() == (0,)


def test_unknown_table_is_a_clear_key_error() -> None:
    with pytest.raises(KeyError, match=r"attribute_definition is not an OMOP CDM v5\.4 table"):
        table_spec("attribute_definition")
