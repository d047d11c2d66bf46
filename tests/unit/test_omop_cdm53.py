"""CDM 5.3 -> 5.4 column mapping and version detection, and the progress display."""

from __future__ import annotations

import io

import duckdb
from rich.console import Console

import behindglass.omop as omop_api
from behindglass.omop import cdm53
from behindglass.omop.progress import LoadProgress, configure_connection
from behindglass.omop.schema import cdm_tables


def test_mapping_targets_are_real_54_columns_and_sources_are_not() -> None:
    tables = cdm_tables()
    for table, renames in cdm53.RENAMED.items():
        for old, new in renames.items():
            assert new in tables[table].columns and old not in tables[table].columns
    for table, added in cdm53.ADDED_IN_54.items():
        assert set(added) <= set(tables[table].columns)
    for table, column in cdm53.FILLED:
        assert tables[table].field(column).required
    assert not cdm53.DROPPED_TABLES & set(tables)
    assert set(tables) >= cdm53.NEW_TABLES_54


def test_visit_detail_53_header_is_renamed() -> None:
    header = ["visit_detail_id", "admitting_source_concept_id", "discharge_to_concept_id",
              "admitting_source_value", "discharge_to_source_value", "visit_detail_parent_id"]
    cols, renamed = cdm53.rename_columns("visit_detail", header)
    assert cols == ["visit_detail_id", "admitted_from_concept_id", "discharged_to_concept_id",
                    "admitted_from_source_value", "discharged_to_source_value",
                    "parent_visit_detail_id"]
    assert len(renamed) == 5
    assert cdm53.rename_columns("person", ["person_id"]) == (["person_id"], {})


def test_version_evidence() -> None:
    assert cdm53.file_version_evidence("visit_occurrence", ["admitting_source_value"]) == "5.3"
    assert cdm53.file_version_evidence("visit_occurrence", ["admitted_from_source_value"]) == "5.4"
    assert cdm53.file_version_evidence("procedure_occurrence", ["procedure_end_date"]) == "5.4"
    assert cdm53.file_version_evidence("cohort_attribute", []) == "5.3"
    assert cdm53.file_version_evidence("episode", []) == "5.4"
    # 5.3.1 already fixed the cost typo: the fixed name says nothing
    assert cdm53.file_version_evidence("cost", ["revenue_code_source_value"]) is None
    assert cdm53.file_version_evidence("person", ["person_id"]) is None


def test_detect_version() -> None:
    assert cdm53.detect_version(["5.3", None], "5.4") == "5.3"  # headers win
    assert cdm53.detect_version([None, "5.4"], None) == "5.4"
    assert cdm53.detect_version(["5.3", "5.4"], None) == "5.3+5.4"
    assert cdm53.detect_version([None], "v5.3.1") == "5.3"
    assert cdm53.detect_version([], None) == "5.4"


def test_progress_draws_tables_and_keeps_duckdb_quiet() -> None:
    out = io.StringIO()
    con = duckdb.connect()
    configure_connection(con, True)
    with LoadProgress(True, console=Console(file=out, force_terminal=True, width=100)) as bar:
        bar.start(total_bytes=10, tables=1)
        with bar.table(con, "person", 10) as shown:
            con.execute("SELECT sum(i) FROM range(2000000) t(i)").fetchall()
            shown["rows"] = 1234
    assert "person" in out.getvalue() and "1,234 rows" in out.getvalue()
    with LoadProgress(False) as quiet, quiet.table(con, "person", 1) as shown:
        shown["rows"] = 1  # disabled: nothing drawn, nothing fails


def test_public_api_is_curated() -> None:
    assert set(omop_api.__all__) >= {"cdm_tables", "create_cdm", "load_omop", "load_into"}
