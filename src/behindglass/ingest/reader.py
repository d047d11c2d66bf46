"""Finding the Synthea CSV files of an extract and streaming them as Arrow batches.

Every column of every file is put to the Safe Harbor rule catalogue
(:func:`behindglass.deid.safe_harbor.rule_for`); a column whose rule is DROP — or that the
catalogue does not know (deny by default) — is never read past the header. Header names
are matched case-insensitively and in any order; optional columns (SYSTEM, STOP …) may be
missing and read as NULL.

Files are scanned by DuckDB's CSV reader with every column as text, in bounded memory.
Malformed rows (wrong number of fields, broken quoting) are set aside by the reader with
their line numbers (``store_rejects``) and become report entries; the rest stream out in
Arrow record batches, each row carrying its ordinal so that a refused row can be reported
by line.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from behindglass.core.errors import LoadError
from behindglass.deid.safe_harbor import Action, catalogue, rule_for
from behindglass.omop.schema import literal, quote

#: The Synthea files ingest maps, in load order (patients first: events need them).
MAPPED_FILES = ("patients", "encounters", "conditions", "medications", "observations",
                "procedures", "immunizations", "allergies", "devices", "careplans",
                "imaging_studies", "organizations", "providers", "payers",
                "payer_transitions")
#: Files of the export we know but do not map to OMOP; they are not opened. claims: its
#: diagnoses repeat conditions.csv and its amounts live in claims_transactions.
KNOWN_UNMAPPED = ("supplies", "claims", "claims_transactions", "patient_contacts")
#: Free text held back until the text de-identifier exists: rows are counted (the file is
#: scanned by DuckDB, no value leaves it), nothing is loaded.
HELD_BACK = ("notes",)

BATCH_ROWS = 250_000


def _canonical_columns() -> dict[str, dict[str, str]]:
    """file stem → {upper-case column → column as catalogued}."""
    out: dict[str, dict[str, str]] = {}
    for rule in catalogue("synthea-csv"):
        stem, _, column = rule.field.partition(".")
        out.setdefault(stem, {})[column.upper()] = column
    return out


@dataclass
class SyntheaFile:
    """One CSV file of the extract and the columns the rules let through."""

    stem: str  # "patients"
    path: Path
    header: list[str]
    kept: dict[str, str] = field(default_factory=dict)  # catalogued name → header name
    dropped: list[str] = field(default_factory=list)  # header names not read
    rejected_lines: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def label(self) -> str:
        return self.path.name

    def has(self, column: str) -> bool:
        return column in self.kept

    def lines_of(self, ordinals: np.ndarray) -> list[int]:
        """File line numbers (header = line 1) of accepted rows with these 1-based ordinals.

        Rows the reader rejected do not get ordinals, so each accepted row's line is its
        ordinal + 1 plus the rejected lines before it (a fixed point, found in a few steps).
        """
        ords = np.asarray(ordinals, dtype=np.int64)
        lines = ords + 1
        rej = self.rejected_lines
        if len(rej):
            for _ in range(len(rej) + 1):
                nxt = ords + 1 + np.searchsorted(rej, lines, side="right")
                if np.array_equal(nxt, lines):
                    break
                lines = nxt
        return [int(x) for x in lines]


def read_header(path: Path) -> list[str]:
    """The header row of a CSV file (a UTF-8 byte-order mark is fine).

    Only the first line is decoded: a row further down in another encoding is the row
    checks' business (reported by line), not a reason to fail on the header."""
    with path.open("rb") as fh:
        first = fh.readline()
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise LoadError("the header row is not UTF-8 text (save the extract as UTF-8)",
                        file=str(path), line=1) from None
    rows = list(csv.reader([text]))
    return [h.strip() for h in rows[0]] if rows else []


def resolve_columns(stem: str, header: list[str]) -> tuple[dict[str, str], list[str]]:
    """Split a header into the columns the rules let through and those dropped."""
    known = _canonical_columns().get(stem, {})
    kept: dict[str, str] = {}
    dropped: list[str] = []
    for name in header:
        canonical = known.get(name.upper())
        rule = rule_for("synthea-csv", f"{stem}.{canonical or name}")
        if canonical is None or rule.action is Action.DROP:
            dropped.append(name)
        else:
            kept[canonical] = name
    return kept, dropped


def find_files(src: Path) -> tuple[dict[str, SyntheaFile], list[str], dict[str, Path]]:
    """The mapped Synthea files in ``src`` (any letter case), the names not read, and the
    held-back free-text files by name."""
    if not src.is_dir():
        raise LoadError("expected a folder of Synthea CSV files", file=str(src))
    found: dict[str, SyntheaFile] = {}
    ignored: list[str] = []
    held: dict[str, Path] = {}
    for path in sorted(src.iterdir()):
        stem = path.name.lower().removesuffix(".csv")
        is_csv = path.is_file() and path.name.lower().endswith(".csv")
        if is_csv and stem in MAPPED_FILES:
            header = read_header(path)
            kept, dropped = resolve_columns(stem, header)
            found[stem] = SyntheaFile(stem, path, header, kept, dropped)
        elif is_csv and stem in HELD_BACK:
            held[path.name] = path
        else:
            ignored.append(path.name)
    if "patients" not in found:
        raise LoadError("no patients.csv: every Synthea extract starts with its patients",
                        file=str(src))
    return found, ignored, held


def count_rows(con: duckdb.DuckDBPyConnection, path: Path) -> int | None:
    """Data rows of a CSV file, counted by DuckDB (values are parsed there and dropped:
    nothing of them reaches Python); malformed rows are not counted. None if the file
    cannot be read as CSV at all: a held-back file must never stop the ingest."""
    try:
        header = read_header(path)
        if not header:
            return 0
        cols = ", ".join(f"{literal(h)}: 'VARCHAR'" for h in header)
        sql = (f"SELECT count(*) FROM read_csv({literal(str(path))}, header=true, "
               f"auto_detect=false, delim=',', quote='\"', escape='\"', "
               f"columns={{{cols}}}, ignore_errors=true)")
        return int(con.execute(sql).fetchone()[0])
    except (duckdb.Error, UnicodeDecodeError, csv.Error):
        return None


class CsvScan:
    """One file read by DuckDB (all text) with malformed rows set aside by line."""

    def __init__(self, con: duckdb.DuckDBPyConnection, file: SyntheaFile, n: int) -> None:
        self.con = con
        self.file = file
        self.rejects = f"bg_rejects_{n}"
        cols = ", ".join(f"{literal(h)}: 'VARCHAR'" for h in file.header)
        self.source = (
            f"read_csv({literal(str(file.path))}, header=true, auto_detect=false, "
            f"delim=',', quote='\"', escape='\"', columns={{{cols}}}, "
            "ignore_errors=true, store_rejects=true, "
            f"rejects_table={literal(self.rejects)}, rejects_scan={literal(self.rejects + '_s')})"
        )

    def column(self, name: str, alias: str | None = None) -> str:
        """SQL for a catalogued column (NULL if the file lacks it), trimmed, '' as NULL."""
        alias = quote(alias or name)
        if name not in self.file.kept:
            return f"CAST(NULL AS VARCHAR) AS {alias}"
        return f"nullif(trim({quote(self.file.kept[name])}), '') AS {alias}"

    def batches(self, columns: list[str], select: str, outer: str | None = None,
                where: str = "") -> pa.RecordBatchReader:
        """Stream ``SELECT <select> FROM src`` where ``src`` has the catalogued ``columns``
        (trimmed text, NULL when empty or absent) and ``ord``, the 1-based ordinal of each
        accepted row in file order. ``outer``, if given, is a query over that result
        (named ``x``), e.g. to join lookup tables; ``where`` follows ``FROM src``."""
        exprs = ", ".join(self.column(c) for c in columns)
        sql = (f"WITH raw AS (SELECT *, row_number() OVER () AS ord FROM {self.source}), "
               f"src AS (SELECT ord, {exprs} FROM raw), x AS (SELECT {select} FROM src {where}) "
               f"{outer or 'SELECT * FROM x'}")
        return self.con.execute(sql).to_arrow_reader(BATCH_ROWS)

    def finish(self) -> list[tuple[int, str]]:
        """After a full scan: the (line, reason) of every malformed row."""
        rows = self.con.execute(
            f"SELECT line, string_agg(DISTINCT error_type, ', ') FROM {self.rejects} "
            "GROUP BY line ORDER BY line"
        ).fetchall()
        self.file.rejected_lines = np.array([r[0] for r in rows], dtype=np.int64)
        return [(int(line), f"malformed CSV row ({kind.lower()})") for line, kind in rows]


def share(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    """Make an Arrow table a table of ``con``'s database, so that every cursor of it (the
    event files are scanned on cursors in parallel) can join it; a registered Arrow object
    would be visible to ``con`` alone."""
    con.register("bg_share_tmp", table)
    try:
        con.execute(f"CREATE OR REPLACE TABLE {quote(name)} AS SELECT * FROM bg_share_tmp")
    finally:
        con.unregister("bg_share_tmp")
