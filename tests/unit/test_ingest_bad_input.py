"""Bad input: each case reported by file and line (never the value), the store unchanged."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from behindglass.core.errors import LoadError
from behindglass.ingest import IngestError, ingest_synthea
from tests.unit.ingest_support import SECRET, config, write_extract


def _edit(path: Path, line: int, fn: Callable[[str], str]) -> None:
    lines = path.read_text().splitlines()
    lines[line - 1] = fn(lines[line - 1])
    path.write_text("\n".join(lines) + "\n")


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text + "\n")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# (name, file, line, edit, reason fragment)
CASES: list[tuple[str, str, int, Callable[[Path], None], str]] = [
    ("malformed row", "encounters.csv", 3,
     lambda d: _edit(d / "encounters.csv", 3, lambda s: s.rsplit(",", 3)[0]), "malformed"),
    ("unparsable birth date", "patients.csv", 2,
     lambda d: _edit(d / "patients.csv", 2,
                     lambda s: s.replace('"1970-03-14"', '"14/03/1970"')), "BIRTHDATE"),
    ("death before birth", "patients.csv", 4,
     lambda d: _edit(d / "patients.csv", 4,
                     lambda s: s.replace('"2024-02-10"', '"1950-01-01"')),
     "DEATHDATE before BIRTHDATE"),
    ("event long after death", "medications.csv", 4,
     lambda d: _edit(d / "medications.csv", 4,
                     lambda s: s.replace("2020-01-01T", "2025-01-01T").replace(
                         "2020-01-31T", "2025-01-31T")), "after DEATHDATE"),
    ("duplicate patient Id", "patients.csv", 6,
     lambda d: _append(d / "patients.csv", (d / "patients.csv").read_text().splitlines()[1]),
     "duplicate Id"),
    ("duplicate encounter Id", "encounters.csv", 14,
     lambda d: _append(d / "encounters.csv",
                       (d / "encounters.csv").read_text().splitlines()[1]), "duplicate Id"),
    ("unknown patient", "conditions.csv", 8,
     lambda d: _append(d / "conditions.csv",
                       '"","44054006","pat-zzzz-9999","","2020-01-01","",""'), "PATIENT"),
    ("stop before start", "procedures.csv", 2,
     lambda d: _edit(d / "procedures.csv", 2,
                     lambda s: s.replace("2020-11-20T23:00:00Z", "2019-01-01T00:00:00Z")),
     "STOP before START"),
    ("unparsable event date", "observations.csv", 3,
     lambda d: _edit(d / "observations.csv", 3,
                     lambda s: s.replace("2019-03-04T09:40:00Z", "yesterday")), "start date"),
]


@pytest.mark.parametrize(("name", "file", "line", "edit", "reason"), CASES,
                         ids=[c[0] for c in CASES])
def test_bad_input_is_reported_and_nothing_written(
    tmp_path: Path, name: str, file: str, line: int, edit: Callable[[Path], None], reason: str
) -> None:
    db = tmp_path / "site.duckdb"
    ingest_synthea(write_extract(tmp_path / "first", people=1), db, SECRET, config())
    before = _digest(db)
    src = write_extract(tmp_path / "src")
    edit(src)
    with pytest.raises(IngestError) as err:
        ingest_synthea(src, db, SECRET, config())
    problems = err.value.problems
    assert [(p.file, p.line) for p in problems] == [(file, line)], problems
    assert reason in problems[0].reason
    assert _digest(db) == before  # the store is byte-for-byte unchanged
    assert sorted(x.name for x in tmp_path.iterdir() if x.name.startswith(".")) == []
    # within the budget the row is skipped and reported, the rest loads
    report = ingest_synthea(src, db, SECRET, config(), max_errors=1)
    assert [(p.file, p.line) for p in report.problems] == [(file, line)]
    assert report.added["visit_occurrence"] > 0


def test_reasons_never_quote_values(tmp_path: Path) -> None:
    src = write_extract(tmp_path / "src")
    _edit(src / "patients.csv", 2, lambda s: s.replace('"1970-03-14"', '"Zebulon-1970"'))
    with pytest.raises(IngestError) as err:
        ingest_synthea(src, tmp_path / "db.duckdb", SECRET, config())
    text = str(err.value) + " ".join(str(p) for p in err.value.problems)
    assert "Zebulon" not in text and "pat-aaaa-0001" not in text
    assert not (tmp_path / "db.duckdb").exists()


def test_unknown_columns_are_dropped_by_default(tmp_path: Path) -> None:
    src = write_extract(tmp_path / "src")
    report = ingest_synthea(src, tmp_path / "db.duckdb", SECRET, config())
    assert "PHONE" in report.dropped_columns["patients.csv"]
    assert "SSN" in report.dropped_columns["patients.csv"]
    # organizations.csv is mapped (care_site) but its NAME and PHONE are never read
    assert {"NAME", "PHONE"} <= set(report.dropped_columns["organizations.csv"])
    assert report.unmapped == {}


def test_unmapped_files_are_not_opened(tmp_path: Path) -> None:
    src = write_extract(tmp_path / "src")
    for name in ("claims.csv", "supplies.csv", "claims_transactions.csv"):
        (src / name).write_bytes(b'Id\n"broken \xff\x00\n')  # not even CSV
    report = ingest_synthea(src, tmp_path / "db.duckdb", SECRET, config())
    assert sorted(report.ignored_files) == ["claims.csv", "claims_transactions.csv",
                                            "supplies.csv"]
    assert report.errors == 0


def test_a_row_in_another_encoding_is_reported_by_line(tmp_path: Path) -> None:
    src = write_extract(tmp_path / "src")
    path = src / "conditions.csv"
    raw = path.read_bytes()
    at = raw.index(b'"59621000"')  # a Latin-1 byte inside a column ingest reads
    path.write_bytes(raw[:at] + b'"5962\xe9000"' + raw[at + 10:])
    db = tmp_path / "site.duckdb"
    with pytest.raises(IngestError) as err:
        ingest_synthea(src, db, SECRET, config())
    line = raw[:at].count(b"\n") + 1
    assert [(p.file, p.line) for p in err.value.problems] == [("conditions.csv", line)]
    assert "encoding" in err.value.problems[0].reason
    assert not db.exists()


def test_a_header_in_another_encoding_is_a_clear_error(tmp_path: Path) -> None:
    src = write_extract(tmp_path / "src")
    (src / "procedures.csv").write_bytes(b"ST\xe9RT,STOP,PATIENT\n")
    with pytest.raises(LoadError, match="not UTF-8") as err:
        ingest_synthea(src, tmp_path / "site.duckdb", SECRET, config())
    assert "procedures.csv" in str(err.value) and "line 1" in str(err.value)
