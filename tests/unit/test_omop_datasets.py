"""The three shared OMOP extracts load, with the row counts their PROVENANCE.md states."""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb
import pytest

from behindglass.omop.cdm53 import CDM54_VERSION_CONCEPT_ID
from behindglass.omop.loader import PROVENANCE_NAME, LoadReport, load_omop

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
GIBLEED = DATA / "eunomia-gibleed"
SYNTHEA = DATA / "eunomia-synthea27nj" / "Synthea27Nj_5.4.zip"
MIMIC = DATA / "mimic-iv-demo-omop"

# From each folder's PROVENANCE.md.
GIBLEED_ROWS = {
    "person": 2694, "observation_period": 5343, "visit_occurrence": 1037,
    "condition_occurrence": 65332, "drug_exposure": 67707, "procedure_occurrence": 37409,
    "measurement": 44053, "observation": 1477, "condition_era": 65719, "drug_era": 52508,
    "cdm_source": 1, "concept": 444, "concept_ancestor": 65690, "concept_relationship": 8,
    "concept_synonym": 1064, "domain": 45, "relationship": 480, "vocabulary": 125,
    "care_site": 0, "cohort": 0, "concept_class": 0, "cost": 0, "death": 0,
    "device_exposure": 0, "dose_era": 0, "drug_strength": 0, "fact_relationship": 0,
    "location": 0, "metadata": 0, "note": 0, "note_nlp": 0, "payer_plan_period": 0,
    "provider": 0, "source_to_concept_map": 0, "specimen": 0, "visit_detail": 0,
}
SYNTHEA_ROWS = {
    "person": 28, "observation_period": 28, "visit_occurrence": 1791, "visit_detail": 1791,
    "condition_occurrence": 470, "condition_era": 469, "drug_exposure": 883, "drug_era": 0,
    "procedure_occurrence": 1649, "measurement": 10040, "observation": 8099,
    "device_exposure": 1, "death": 3, "provider": 67, "cdm_source": 1, "concept": 2294,
    "concept_relationship": 266588, "vocabulary": 1, "concept_ancestor": 0, "episode": 0,
    "episode_event": 0, "metadata": 0, "cohort_definition": 0,
}
MIMIC_ROWS = {
    "person": 100, "observation_period": 100, "death": 15, "visit_occurrence": 852,
    "visit_detail": 14479, "condition_occurrence": 16441, "condition_era": 3771,
    "drug_exposure": 18229, "drug_era": 7931, "dose_era": 117, "procedure_occurrence": 18447,
    "device_exposure": 3855, "specimen": 150, "fact_relationship": 1752, "care_site": 31,
    "location": 1, "cdm_source": 1, "concept": 3885, "concept_relationship": 7716,
    "vocabulary": 27, "cohort": 0, "cohort_definition": 0, "cost": 0, "metadata": 0,
    "note": 0, "note_nlp": 0, "payer_plan_period": 0, "provider": 0,
}


def _need(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"{path} not available")


def _load(tmp_path_factory: pytest.TempPathFactory, src: Path) -> tuple[LoadReport, Path]:
    _need(src)
    db = tmp_path_factory.mktemp("omop") / "site.duckdb"
    return load_omop(src, db), db


@pytest.fixture(scope="module")
def gibleed(tmp_path_factory: pytest.TempPathFactory) -> tuple[LoadReport, Path]:
    return _load(tmp_path_factory, GIBLEED)


@pytest.fixture(scope="module")
def synthea(tmp_path_factory: pytest.TempPathFactory) -> tuple[LoadReport, Path]:
    return _load(tmp_path_factory, SYNTHEA)


@pytest.fixture(scope="module")
def mimic(tmp_path_factory: pytest.TempPathFactory) -> tuple[LoadReport, Path]:
    return _load(tmp_path_factory, MIMIC)


def _counts(db: Path, tables: list[str]) -> dict[str, int]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


def test_gibleed_counts_and_version(gibleed: tuple[LoadReport, Path]) -> None:
    report, db = gibleed
    assert report.cdm_version == "5.3"
    assert {t: report.rows[t] for t in GIBLEED_ROWS} == GIBLEED_ROWS
    assert _counts(db, list(GIBLEED_ROWS)) == {**GIBLEED_ROWS, "metadata": 1}  # + provenance
    assert report.empty_tables == ["episode", "episode_event", "cohort_definition"]
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(DISTINCT person_id) FROM person").fetchone() == (2694,)


def test_gibleed_known_warts_are_warnings_not_failures(gibleed: tuple[LoadReport, Path]) -> None:
    report, _ = gibleed
    text = "\n".join(report.warnings)
    assert "4,384 values of drug_exposure_id occur more than once" in text
    assert "cohort_attribute is a CDM 5.3 table" in text
    # orphan visit ids are kept (no foreign keys)
    assert "VISIT_OCCURRENCE" not in text


def test_gibleed_iso_datetimes_with_t_and_z(gibleed: tuple[LoadReport, Path]) -> None:
    _, db = gibleed
    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute(
            "SELECT birth_datetime, typeof(birth_datetime) FROM person WHERE person_id = 6"
        ).fetchone()
    assert str(row[0]) == "1963-12-31 00:00:00" and row[1] == "TIMESTAMP"


def test_gibleed_53_columns_arrive_under_54_names(gibleed: tuple[LoadReport, Path]) -> None:
    report, db = gibleed
    assert report.renamed["visit_occurrence"]["discharge_to_concept_id"] == (
        "discharged_to_concept_id"
    )
    assert report.renamed["cost"] == {"reveue_code_source_value": "revenue_code_source_value"}
    assert "procedure_end_date" in report.filled["procedure_occurrence"]
    with gzip.open(GIBLEED / "VISIT_OCCURRENCE.csv.gz", "rt") as fh:
        header = fh.readline().strip().split(",")
        first = dict(zip(header, fh.readline().strip().split(","), strict=True))
    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute(
            "SELECT admitted_from_concept_id, discharged_to_concept_id FROM visit_occurrence "
            "WHERE visit_occurrence_id = ?",
            [int(first["VISIT_OCCURRENCE_ID"])],
        ).fetchone()
        assert row == (int(first["ADMITTING_SOURCE_CONCEPT_ID"]),
                       int(first["DISCHARGE_TO_CONCEPT_ID"]))
        assert con.execute(
            "SELECT count(*) FROM procedure_occurrence WHERE procedure_end_date IS NOT NULL"
        ).fetchone() == (0,)
        source = con.execute("SELECT cdm_version, cdm_version_concept_id FROM cdm_source")
        assert source.fetchone() == ("v5.3.1", CDM54_VERSION_CONCEPT_ID)
        meta = con.execute("SELECT name, value_as_string FROM metadata").fetchall()
    assert meta[0][0] == PROVENANCE_NAME and "source_cdm_version=5.3" in meta[0][1]


def test_synthea_zip_is_54_and_skips_macosx_junk(synthea: tuple[LoadReport, Path]) -> None:
    report, db = synthea
    assert report.cdm_version == "5.4"
    assert {t: report.rows[t] for t in SYNTHEA_ROWS} == SYNTHEA_ROWS
    assert report.renamed == {} and report.filled == {}
    assert not [w for w in report.warnings if "MACOSX" in w]
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT cdm_version_concept_id FROM cdm_source").fetchone() == (
            CDM54_VERSION_CONCEPT_ID,
        )
        # 5.4 files may order columns differently from the spec: columns are matched by name
        assert con.execute(
            "SELECT count(*) FROM visit_detail WHERE visit_occurrence_id IS NULL"
        ).fetchone() == (0,)


def test_mimic_real_data_with_64_bit_ids_and_missing_tables(mimic: tuple[LoadReport, Path]) -> None:
    report, db = mimic
    assert report.cdm_version == "5.3"
    assert {t: report.rows[t] for t in MIMIC_ROWS} == MIMIC_ROWS
    assert "measurement" in report.empty_tables and "observation" in report.empty_tables
    with duckdb.connect(str(db), read_only=True) as con:
        low, high = con.execute("SELECT min(person_id), max(person_id) FROM person").fetchone()
        assert low < -(2**31) and high > 2**31  # hashed ids need BIGINT
        assert con.execute("SELECT max(concept_id) FROM concept").fetchone()[0] > 2_000_000_000
        assert con.execute(
            "SELECT count(*) FROM visit_detail WHERE parent_visit_detail_id IS NOT NULL "
            "OR admitted_from_concept_id IS NOT NULL"
        ).fetchone()[0] > 0
