"""Accepted formats (csv / csv.gz, any case, folder / zip, 5.3 / 5.4), replace semantics
and the command line."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from behindglass.cli.omop_cmd import omop
from behindglass.core.errors import LoadError
from behindglass.omop.loader import load_into, load_omop
from behindglass.omop.schema import cdm_tables, create_cdm

PERSON = (
    "person_id,gender_concept_id,year_of_birth,month_of_birth,race_concept_id,"
    "ethnicity_concept_id,birth_datetime\n"
    "1,8507,1970,5,8527,0,1970-05-01T00:00:00Z\n2,8532,1985,,8516,0,\n"
)
PERIOD = (
    "observation_period_id,person_id,observation_period_start_date,"
    "observation_period_end_date,period_type_concept_id\n"
    "1,1,2000-01-01,2010-12-31,32817\n2,2,2001-01-01,2011-12-31,32817\n"
)
VISIT_53 = (
    "visit_occurrence_id,person_id,visit_concept_id,visit_start_date,visit_end_date,"
    "visit_type_concept_id,admitting_source_concept_id,discharge_to_concept_id\n"
    "10,1,9201,2005-03-01,2005-03-04,32817,8717,8536\n"
)


def write(folder: Path, files: dict[str, str], *, gz: bool = False, upper: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        if upper:
            name = name.upper().replace(".CSV", ".csv")
            head, _, body = text.partition("\n")
            text = head.upper() + "\n" + body
        if gz:
            with gzip.open(folder / f"{name}.gz", "wt", newline="") as fh:
                fh.write(text)
        else:
            (folder / name).write_text(text, newline="")
    return folder


def dump(db: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {
            t: con.execute(f'SELECT * FROM "{t}" ORDER BY ALL').fetchall()
            for t in cdm_tables()
            if t != "metadata"  # holds a load timestamp
        }


BASIC = {"person.csv": PERSON, "observation_period.csv": PERIOD, "visit_occurrence.csv": VISIT_53}


@pytest.mark.parametrize(("gz", "upper"), [(True, False), (False, True), (True, True)])
def test_gz_and_letter_case_give_the_same_store(gz: bool, upper: bool, tmp_path: Path) -> None:
    plain = load_omop(write(tmp_path / "plain", BASIC), tmp_path / "plain.duckdb")
    other = load_omop(write(tmp_path / "other", BASIC, gz=gz, upper=upper),
                      tmp_path / "other.duckdb")
    assert other.rows == plain.rows == {"person": 2, "observation_period": 2,
                                        "visit_occurrence": 1}
    assert dump(tmp_path / "other.duckdb") == dump(tmp_path / "plain.duckdb")


def test_53_visit_columns_are_renamed(tmp_path: Path) -> None:
    report = load_omop(write(tmp_path / "src", BASIC), tmp_path / "db.duckdb")
    assert report.cdm_version == "5.3"
    with duckdb.connect(str(tmp_path / "db.duckdb"), read_only=True) as con:
        assert con.execute(
            "SELECT admitted_from_concept_id, discharged_to_concept_id, "
            "admitted_from_source_value FROM visit_occurrence"
        ).fetchall() == [(8717, 8536, None)]


def test_53_metadata_gets_ids_and_54_wins_over_53_names(tmp_path: Path) -> None:
    files = {
        **BASIC,
        "metadata.csv": "metadata_concept_id,metadata_type_concept_id,name,value_as_string\n"
        "0,0,a,x\n0,0,b,y\n",
        "visit_occurrence.csv": VISIT_53.replace(
            "discharge_to_concept_id\n", "discharge_to_concept_id,discharged_to_concept_id\n"
        ).replace("8536\n", "8536,4\n"),
    }
    report = load_omop(write(tmp_path / "src", files), tmp_path / "db.duckdb")
    assert "discharge_to_concept_id" not in report.renamed["visit_occurrence"]
    assert any("discharge_to_concept_id" in w for w in report.warnings)  # ignored extra
    with duckdb.connect(str(tmp_path / "db.duckdb"), read_only=True) as con:
        visit = con.execute("SELECT discharged_to_concept_id FROM visit_occurrence").fetchone()
        assert visit == (4,)
        assert con.execute("SELECT metadata_id, name FROM metadata ORDER BY 1").fetchall()[:2] == [
            (1, "a"), (2, "b")]


def test_zip_with_subfolder_and_macos_junk(tmp_path: Path) -> None:
    archive = tmp_path / "site.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("export/PERSON.csv", PERSON)
        zf.writestr("__MACOSX/export/._PERSON.csv", b"\x00\x05\x16\x07junk")
        zf.writestr("export/observation_period.csv.gz", gzip.compress(PERIOD.encode()))
        zf.writestr("export/README.txt", "hello")
    report = load_omop(archive, tmp_path / "db.duckdb")
    assert report.rows == {"person": 2, "observation_period": 2}
    assert not [w for w in report.warnings if "MACOSX" in w or "README" in w]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db.duckdb", "site.zip"]


def test_synthetic_generator_layout_round_trips_all_tables(tmp_path: Path) -> None:
    """Lower-case table.csv.gz with exactly the CDM 5.4 columns, for every table."""
    con = duckdb.connect()
    create_cdm(con)
    con.execute("INSERT INTO person (person_id, year_of_birth, gender_concept_id) "
                "VALUES (1, 1970, 8507)")
    con.execute("INSERT INTO observation_period VALUES (1, 1, '2000-01-01', '2001-01-01', 0)")
    con.execute("INSERT INTO cdm_source (cdm_source_name, cdm_version) VALUES ('synth', '5.4')")
    out = tmp_path / "synth"
    out.mkdir()
    for table in cdm_tables():
        con.execute(f"COPY \"{table}\" TO '{out / table}.csv.gz' (HEADER)")
    report = load_omop(out, tmp_path / "db.duckdb")
    assert report.cdm_version == "5.4"
    assert set(report.rows) == set(cdm_tables()) and report.total_rows == 3
    assert report.renamed == {} and report.filled == {}
    assert [w for w in report.warnings if "cdm_source" not in w and "requires" not in w] == []


def test_unknown_files_tables_and_columns_are_warnings(tmp_path: Path) -> None:
    files = {
        "person.csv": PERSON.replace("birth_datetime\n", "birth_datetime,shoe_size\n")
        .replace("Z\n", "Z,42\n").replace(",\n", ",,\n"),
        "observation_period.csv": PERIOD,
        "stem_table.csv": "id\n1\n",
        "concept.parquet": "not really",
        "notes.txt": "ignored silently",
    }
    report = load_omop(write(tmp_path / "src", files), tmp_path / "db.duckdb")
    text = "\n".join(report.warnings)
    assert "shoe_size" in text and "stem_table is not a CDM v5.4 table" in text
    assert "concept.parquet" in text and "notes.txt" not in text
    assert report.rows["person"] == 2


def test_two_files_for_one_table_is_an_error(tmp_path: Path) -> None:
    src = write(tmp_path / "src", BASIC)
    (src / "PERSON.csv.gz").write_bytes(gzip.compress(PERSON.encode()))
    with pytest.raises(LoadError, match="two files for table person"):
        load_omop(src, tmp_path / "db.duckdb")


def test_empty_file_is_an_empty_table(tmp_path: Path) -> None:
    report = load_omop(write(tmp_path / "src", {**BASIC, "death.csv": ""}), tmp_path / "d.duckdb")
    assert report.rows["death"] == 0
    assert any("death.csv: empty file" in w for w in report.warnings)


def test_replace_swaps_every_cdm_table_and_keeps_other_tables(tmp_path: Path) -> None:
    db = tmp_path / "db.duckdb"
    load_omop(write(tmp_path / "a", BASIC), db)
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE audit_log (entry VARCHAR)")
        con.execute("INSERT INTO audit_log VALUES ('kept')")
    one_person = {"person.csv": PERSON.rsplit("2,8532", 1)[0], "observation_period.csv": PERIOD}
    report = load_omop(write(tmp_path / "b", one_person), db, replace=True)
    assert report.rows == {"person": 1, "observation_period": 2}
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM person").fetchone() == (1,)
        assert con.execute("SELECT count(*) FROM visit_occurrence").fetchone() == (0,)
        assert con.execute("SELECT * FROM audit_log").fetchall() == [("kept",)]


def test_an_empty_cdm_store_can_be_loaded_without_replace(tmp_path: Path) -> None:
    db = tmp_path / "db.duckdb"
    assert CliRunner().invoke(omop, ["create", "--db", str(db)]).exit_code == 0
    report = load_omop(write(tmp_path / "a", BASIC), db, progress=True)
    assert report.rows["person"] == 2


def test_load_into_an_open_connection(tmp_path: Path) -> None:
    con = duckdb.connect()
    report = load_into(con, write(tmp_path / "a", BASIC))
    assert report.database is None and report.rows["visit_occurrence"] == 1
    assert con.execute("SELECT count(*) FROM concept").fetchone() == (0,)
    with pytest.raises(LoadError, match="already holds OMOP data"):
        load_into(con, tmp_path / "a")


def test_cli_load_create_and_refuse(tmp_path: Path) -> None:
    src, db = write(tmp_path / "a", BASIC), tmp_path / "site.duckdb"
    runner = CliRunner()
    result = runner.invoke(omop, ["load", str(src), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "person" in result.output
    assert "loaded 5 rows from a CDM 5.3 source into site.duckdb" in result.output
    again = runner.invoke(omop, ["load", str(src), "--db", str(db)])
    assert isinstance(again.exception, LoadError)  # main() prints it and exits 2
    quiet = runner.invoke(omop, ["load", str(src), "--db", str(db), "--replace", "-q"])
    assert quiet.exit_code == 0 and "rows from" not in quiet.output  # warnings only
    ddl = runner.invoke(omop, ["ddl"])
    assert ddl.output.count("CREATE TABLE") == len(cdm_tables())
