"""``behindglass ingest`` on the command line (the command object, before registration)."""

from __future__ import annotations

from pathlib import Path

import duckdb
from click.testing import CliRunner

from behindglass.cli.ingest_cmd import ingest
from behindglass.deid.secret import SiteSecret
from behindglass.ingest import IngestError
from tests.unit.ingest_support import write_extract


def _args(src: Path, db: Path, key: Path, *extra: str) -> list[str]:
    return [str(src), "--db", str(db), "--secret-file", str(key), "--reference-date",
            "2026-01-01", *extra]


def _extract_with_a_note(tmp_path: Path) -> tuple[Path, Path, Path]:
    key = tmp_path / "site.key"
    SiteSecret.generate(key)
    src = write_extract(tmp_path / "src")
    (src / "notes.csv").write_text('Id,PATIENT,ENCOUNTER,DATE,TYPE,TEXT\n'
                                   'n1,pat-aaaa-0001,enc-0-0,2019-03-04,letter,"Dear Dr. X,\n'
                                   'Zebulon Quigglesworth was seen."\n')
    return key, src, tmp_path / "site.duckdb"


def test_cli_ingests_and_reports(tmp_path: Path) -> None:
    key, src, db = _extract_with_a_note(tmp_path)
    result = CliRunner().invoke(ingest, _args(src, db, key, "--dates", "shift"))
    assert result.exit_code == 0, result.output
    assert "persons" in result.output
    assert "notes de-identified: 1" in result.output and "held back" not in result.output
    assert "Quigglesworth" not in result.output
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM person").fetchone() == (4,)
    (text,) = con.execute("SELECT note_text FROM note").fetchone()
    assert "Zebulon" not in text and "Quigglesworth" not in text
    meta = con.execute("SELECT value_as_string FROM metadata").fetchone()[0]
    assert "date_mode=shift" in meta and SiteSecret.generate.__name__ not in meta


def test_cli_can_hold_notes_back(tmp_path: Path) -> None:
    key, src, db = _extract_with_a_note(tmp_path)
    result = CliRunner().invoke(ingest, _args(src, db, key, "--notes", "hold"))
    assert result.exit_code == 0, result.output
    assert "held back" in result.output and "notes.csv (1 rows)" in result.output
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM note").fetchone() == (0,)


def test_cli_refuses_bad_input_and_writes_the_report(tmp_path: Path) -> None:
    key = tmp_path / "site.key"
    SiteSecret.generate(key)
    src = write_extract(tmp_path / "src")
    text = (src / "patients.csv").read_text().replace('"1970-03-14"', '"not a date"')
    (src / "patients.csv").write_text(text)
    report = tmp_path / "bad.csv"
    result = CliRunner().invoke(ingest, _args(src, tmp_path / "db.duckdb", key, "--report",
                                              str(report)))
    assert isinstance(result.exception, IngestError)
    assert "bad row: patients.csv, line 2: BIRTHDATE" in result.output
    assert report.read_text().splitlines()[1].startswith("patients.csv,2,BIRTHDATE")
    assert not (tmp_path / "db.duckdb").exists()


def test_create_secret_makes_a_private_key_once_and_then_reuses_it(tmp_path: Path) -> None:
    key = tmp_path / "site.key"
    src = write_extract(tmp_path / "src")
    first = CliRunner().invoke(ingest, _args(src, tmp_path / "a.duckdb", key, "--create-secret"))
    assert first.exit_code == 0, first.output
    assert key.stat().st_mode & 0o077 == 0
    made = key.read_bytes()
    again = CliRunner().invoke(ingest, _args(src, tmp_path / "b.duckdb", key, "--create-secret"))
    assert again.exit_code == 0, again.output
    assert key.read_bytes() == made  # an existing secret is never replaced
    ids = [duckdb.connect(str(tmp_path / n), read_only=True)
           .execute("SELECT list(person_id ORDER BY person_id) FROM person").fetchone()
           for n in ("a.duckdb", "b.duckdb")]
    assert ids[0] == ids[1]


def test_missing_secret_without_create_is_a_clear_error(tmp_path: Path) -> None:
    src = write_extract(tmp_path / "src")
    result = CliRunner().invoke(ingest, _args(src, tmp_path / "a.duckdb", tmp_path / "nope"))
    assert result.exit_code != 0
    assert "nope" in str(result.exception) or "nope" in result.output
