"""Bad input is refused with file, line and column named — and changes nothing.

Every case runs twice: into a new file (which must not appear) and over an existing
database with ``replace=True`` (which must stay byte-for-byte identical).
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import duckdb
import pytest

from behindglass.core.errors import LoadError
from behindglass.omop.loader import load_into, load_omop

PERSON = "person_id,gender_concept_id,year_of_birth,race_concept_id,ethnicity_concept_id\n"
PERIOD = (
    "observation_period_id,person_id,observation_period_start_date,"
    "observation_period_end_date,period_type_concept_id\n"
)
GOOD_PERSON = PERSON + "1,8507,1970,0,0\n2,8532,1980,0,0\n3,8532,1990,0,0\n"
GOOD_PERIOD = PERIOD + "1,1,2000-01-01,2010-12-31,32817\n2,2,2001-01-01,2011-12-31,32817\n"


def write_site(folder: Path, files: dict[str, str], *, gz: bool = False) -> Path:
    """A small OMOP folder: {file name: CSV text}."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        if gz:
            with gzip.open(folder / f"{name}.gz", "wt", newline="") as fh:
                fh.write(text)
        else:
            (folder / name).write_text(text, newline="")
    return folder


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def existing_db(tmp_path: Path) -> Path:
    db = tmp_path / "site.duckdb"
    src = write_site(tmp_path / "good", {"person.csv": GOOD_PERSON,
                                         "observation_period.csv": GOOD_PERIOD})
    load_omop(src, db)
    return db


BAD_CASES = {
    "unparsable date": (
        {"person.csv": GOOD_PERSON,
         "observation_period.csv": GOOD_PERIOD + "3,3,2001-02-30,2011-12-31,32817\n"},
        ("observation_period.csv", 4, "observation_period_start_date"), "not a date",
    ),
    "duplicate primary key": (
        {"PERSON.csv": GOOD_PERSON + "2,8507,1955,0,0\n", "observation_period.csv": GOOD_PERIOD},
        ("PERSON.csv", 5, "person_id"), "duplicate primary key person_id = 2 (first on line 3)",
    ),
    "text in an integer column": (
        {"person.csv": PERSON + "1,8507,1970,0,0\n2,8532,19x0,0,0\n",
         "observation_period.csv": GOOD_PERIOD},
        ("person.csv", 3, "year_of_birth"), "'19x0' is not an integer",
    ),
    "missing required column person_id": (
        {"person.csv": "gender_concept_id,year_of_birth,race_concept_id,ethnicity_concept_id\n"
                       "8507,1970,0,0\n",
         "observation_period.csv": GOOD_PERIOD},
        ("person.csv", 1, "person_id"), "required column person_id",
    ),
    "missing required column year_of_birth": (
        {"person.csv": "PERSON_ID,GENDER_CONCEPT_ID,RACE_CONCEPT_ID,ETHNICITY_CONCEPT_ID\n"
                       "1,8507,0,0\n",
         "observation_period.csv": GOOD_PERIOD},
        ("person.csv", 1, "year_of_birth"), "required column year_of_birth",
    ),
    "empty enforced value": (
        {"person.csv": GOOD_PERSON + "4,8507,,0,0\n", "observation_period.csv": GOOD_PERIOD},
        ("person.csv", 5, "year_of_birth"), "empty value in required column",
    ),
    "line numbers count quoted line breaks": (
        {"person.csv": "person_id,gender_concept_id,year_of_birth,race_concept_id,"
                       "ethnicity_concept_id,person_source_value\n"
                       '1,8507,1970,0,0,"two\nlines"\n2,8532,1980,0,0,x\n3,8532,1990,0,oops,y\n',
         "observation_period.csv": GOOD_PERIOD},
        ("person.csv", 5, "ethnicity_concept_id"), "'oops' is not an integer",
    ),
    "wrong number of fields": (
        {"person.csv": GOOD_PERSON + "4,8507,1970,0\n", "observation_period.csv": GOOD_PERIOD},
        ("person.csv", 5, "ethnicity_concept_id"), "the line has 4 fields but the header has 5",
    ),
    "too many fields": (
        {"person.csv": GOOD_PERSON + "4,8507,1970,0,0,7\n", "observation_period.csv": GOOD_PERIOD},
        ("person.csv", 5, None), "the line has 6 fields but the header has 5",
    ),
    "unterminated quote": (
        {"person.csv": GOOD_PERSON + '4,8507,1970,0,"0\n', "observation_period.csv": GOOD_PERIOD},
        ("person.csv", 5, "ethnicity_concept_id"), "quote",
    ),
    "a column twice in the header": (
        {"person.csv": PERSON.replace("race_concept_id", "YEAR_OF_BIRTH") + "1,8507,1970,0,0\n",
         "observation_period.csv": GOOD_PERIOD},
        ("person.csv", 1, "YEAR_OF_BIRTH"), "column appears twice in the header",
    ),
    "upper-case header names are reported as written": (
        {"PERSON.CSV": PERSON.upper() + "1,8507,1970,0,0\n2,8532,1980,zero,0\n",
         "OBSERVATION_PERIOD.CSV": GOOD_PERIOD},
        ("PERSON.CSV", 3, "RACE_CONCEPT_ID"), "'zero' is not an integer",
    ),
}


@pytest.mark.parametrize("gz", [False, True], ids=["csv", "csv.gz"])
@pytest.mark.parametrize("case", list(BAD_CASES))
def test_bad_input_is_located_and_leaves_existing_db_unchanged(
    case: str, gz: bool, tmp_path: Path, existing_db: Path
) -> None:
    files, (file, line, column), reason = BAD_CASES[case]
    src = write_site(tmp_path / "bad", files, gz=gz)
    before = digest(existing_db)
    with pytest.raises(LoadError) as caught:
        load_omop(src, existing_db, replace=True)
    err = caught.value
    assert err.file == file + (".gz" if gz else "")
    assert (err.line, err.column) == (line, column)
    assert reason in err.reason
    assert f"line {line}" in str(err) and err.file in str(err)
    assert column is None or f"column {column}" in str(err)
    assert digest(existing_db) == before
    assert sorted(p.name for p in existing_db.parent.iterdir()) == ["bad", "good", "site.duckdb"]


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_failed_load_creates_no_database(case: str, tmp_path: Path) -> None:
    src = write_site(tmp_path / "bad", BAD_CASES[case][0])
    with pytest.raises(LoadError):
        load_omop(src, tmp_path / "new.duckdb")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad"]


@pytest.mark.parametrize("missing", ["person", "observation_period"])
def test_missing_required_table(missing: str, tmp_path: Path, existing_db: Path) -> None:
    files = {"person.csv": GOOD_PERSON, "observation_period.csv": GOOD_PERIOD}
    del files[f"{missing}.csv"]
    src = write_site(tmp_path / "bad", files)
    before = digest(existing_db)
    with pytest.raises(LoadError, match=f"required table {missing} is missing") as caught:
        load_omop(src, existing_db, replace=True)
    assert caught.value.file == str(src)
    assert digest(existing_db) == before


def test_existing_data_is_refused_without_replace(tmp_path: Path, existing_db: Path) -> None:
    src = write_site(tmp_path / "again", {"person.csv": GOOD_PERSON,
                                          "observation_period.csv": GOOD_PERIOD})
    before = digest(existing_db)
    with pytest.raises(LoadError, match=r"already holds OMOP data: person \(3 rows\)"):
        load_omop(src, existing_db)
    assert digest(existing_db) == before


def test_strict_turns_spec_breaches_into_errors(tmp_path: Path) -> None:
    drugs = (
        "drug_exposure_id,person_id,drug_concept_id,drug_exposure_start_date,"
        "drug_exposure_end_date,drug_type_concept_id\n"
        "1,1,1127078,2005-01-01,2005-02-01,38000177\n1,2,1127078,2006-01-01,,38000177\n"
    )
    src = write_site(tmp_path / "src", {"person.csv": GOOD_PERSON,
                                        "observation_period.csv": GOOD_PERIOD,
                                        "drug_exposure.csv": drugs})
    report = load_omop(src, tmp_path / "lenient.duckdb")
    text = "\n".join(report.warnings)
    assert "1 values of drug_exposure_id occur more than once" in text
    assert "1 rows have no drug_exposure.drug_exposure_end_date" in text
    with pytest.raises(LoadError) as caught:
        load_omop(src, tmp_path / "strict.duckdb", strict=True)
    assert (caught.value.file, caught.value.line, caught.value.column) == (
        "drug_exposure.csv", 3, "drug_exposure_id")
    assert not (tmp_path / "strict.duckdb").exists()


def test_load_into_rolls_back_row_for_row(tmp_path: Path) -> None:
    good = write_site(tmp_path / "good", {"person.csv": GOOD_PERSON,
                                          "observation_period.csv": GOOD_PERIOD})
    bad = write_site(tmp_path / "bad", BAD_CASES["unparsable date"][0])
    con = duckdb.connect()
    con.execute("CREATE TABLE site_state (k VARCHAR)")  # not CDM: never touched
    con.execute("INSERT INTO site_state VALUES ('kept')")
    load_into(con, good)
    before = con.execute("SELECT * FROM person ORDER BY person_id").fetchall()
    with pytest.raises(LoadError, match="not a date"):
        load_into(con, bad, replace=True)
    assert con.execute("SELECT * FROM person ORDER BY person_id").fetchall() == before
    assert con.execute("SELECT count(*) FROM observation_period").fetchone() == (2,)
    assert con.execute("SELECT * FROM site_state").fetchall() == [("kept",)]
    # the connection is usable afterwards and not left inside a transaction
    load_into(con, good, replace=True)
    assert con.execute("SELECT count(*) FROM person").fetchone() == (3,)
