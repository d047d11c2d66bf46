"""``ingest_fhir``: a FHIR R4 NDJSON bulk export in, de-identified OMOP CDM v5.4 out.

The resources are flattened (:mod:`behindglass.ingest.fhir_flatten`) into Synthea-shaped
CSV files in a private temporary folder next to the store (mode 700, deleted afterwards),
holding only the elements OMOP needs; :func:`~behindglass.ingest.pipeline.ingest_synthea`
then does the rest, so de-identification, vocabulary mapping, checks, incremental loads and
the single transaction are the same code. Every problem is reported against the NDJSON
file and line it came from, never with values, under one error budget.

Files are found by the bulk-export naming convention: ``<ResourceType>[.<part>].ndjson``.
Patient, Encounter, Condition, MedicationRequest, Observation and Procedure files are
read; any other file (Coverage, Organization, Practitioner …) is not opened.
"""

from __future__ import annotations

import csv
import re
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from behindglass.core.errors import LoadError
from behindglass.deid.safe_harbor import DeidConfig
from behindglass.deid.secret import SiteSecret
from behindglass.ingest import fhir_flatten as F
from behindglass.ingest.pipeline import Progress, ingest_synthea
from behindglass.ingest.report import IngestError, IngestReport, Problem


@dataclass
class _Flat:
    """One flattened stem: where each CSV row came from (NDJSON file label and line).

    ``parts`` holds, per NDJSON file, its label, path and the line numbers of its rows, or
    None when every non-blank line became a row (the fast path); ``origin`` is then worked
    out only if a pipeline problem has to be pointed at its line."""

    stem: str
    parts: list[tuple[str, Path, list[int] | None]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    _origin: list[tuple[str, int]] | None = None

    @property
    def origin(self) -> list[tuple[str, int]]:
        if self._origin is None:
            origin: list[tuple[str, int]] = []
            for label, path, lines in self.parts:
                if lines is None:
                    with path.open("r", encoding="utf-8", errors="replace",
                                   newline="\n") as src:
                        lines = [n for n, text in enumerate(src, start=1) if text.strip()]
                origin.extend((label, n) for n in lines)
            self._origin = origin
        return self._origin


def find_ndjson(src: Path) -> tuple[dict[str, list[Path]], list[str]]:
    """resourceType → its NDJSON files (sorted), and the names not read."""
    if not src.is_dir():
        raise LoadError("expected a folder of FHIR NDJSON files", file=str(src))
    found: dict[str, list[Path]] = {}
    ignored: list[str] = []
    for path in sorted(src.iterdir()):
        kind = path.name.split(".", 1)[0]
        if path.is_file() and path.name.lower().endswith(".ndjson") and kind in F.STEMS:
            found.setdefault(kind, []).append(path)
        else:
            ignored.append(path.name)
    if "Patient" not in found:
        raise LoadError("no Patient.ndjson: every FHIR extract starts with its patients",
                        file=str(src))
    return found, ignored


def _copy(con: duckdb.DuckDBPyConnection, kind: str, path: Path, out: Path,
          header: bool) -> int | None:
    """Flatten one NDJSON file into ``out`` with DuckDB; the row count, or None if DuckDB
    refused some line (invalid JSON, unexpected shape or resourceType): the caller then
    reads that file line by line to report the bad lines."""
    target = str(out).replace("'", "''")
    for clean in (True, False):
        try:
            return con.execute(f"COPY ({F.select_sql(kind, str(path), clean=clean)}) TO "
                               f"'{target}' (FORMAT csv, HEADER {str(header).lower()})"
                               ).fetchone()[0]
        except duckdb.Error as exc:
            if F.UNCLEAN not in str(exc):
                return None
    return None


def _scan(kind: str, path: Path, writer: Any, problems: list[Problem],
          progress: Progress | None) -> list[int]:
    """Flatten one NDJSON file line by line; the line numbers of the rows written."""
    lines: list[int] = []
    with path.open("r", encoding="utf-8", errors="replace", newline="\n") as src:
        for number, text in enumerate(src, start=1):
            row, reason = F.parse_line(text, kind)
            if row is not None:
                writer.writerow(row)
                lines.append(number)
            elif reason is not None:
                problems.append(Problem(path.name, number, reason))
            if progress and number % 100_000 == 0:
                progress(path.name, number)
    return lines


def flatten(found: dict[str, list[Path]], out: Path,
            progress: Progress | None = None) -> tuple[dict[str, _Flat], list[Problem]]:
    """Write ``<stem>.csv`` per mapped type into ``out``; return origins and bad lines.

    Each file is first flattened by DuckDB (the files concurrently); a file DuckDB refuses
    is then read line by line, so its bad lines are reported with file and line."""
    flats: dict[str, _Flat] = {}
    problems: list[Problem] = []
    con = duckdb.connect(config={"preserve_insertion_order": True, "threads": 1})
    try:
        for macro in F.MACROS:
            con.execute(macro)
        jobs = [(kind, path, out / (f"{F.STEMS[kind]}.csv" if len(paths) == 1
                                    else f".{F.STEMS[kind]}.{i}.part.csv"), len(paths) == 1)
                for kind, paths in found.items() for i, path in enumerate(paths)]

        def run(job: tuple[str, Path, Path, bool]) -> int | None:
            cursor = con.cursor()
            try:
                return _copy(cursor, *job)
            finally:
                cursor.close()

        biggest = sorted(jobs, key=lambda job: -job[1].stat().st_size)
        with ThreadPoolExecutor(max_workers=2) as pool:
            counts = dict(zip([job[1] for job in biggest], pool.map(run, biggest),
                              strict=True))
    finally:
        con.close()
    for kind, paths in found.items():
        stem = F.STEMS[kind]
        flat = flats[stem] = _Flat(stem, labels=[p.name for p in paths])
        target = out / f"{stem}.csv"
        if len(paths) == 1 and counts[paths[0]] is not None:
            flat.parts.append((paths[0].name, paths[0], None))
            if progress:
                progress(paths[0].name, counts[paths[0]])
            continue
        with target.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(F.COLUMNS[stem])
            for i, path in enumerate(paths):
                part = out / f".{stem}.{i}.part.csv"
                lines: list[int] | None = None
                if len(paths) == 1 or counts[path] is None:
                    lines = _scan(kind, path, writer, problems, progress)
                else:
                    fh.flush()
                    with part.open("r", encoding="utf-8", newline="") as src:
                        shutil.copyfileobj(src, fh, 1 << 20)
                    if progress:
                        progress(path.name, counts[path] or 0)
                part.unlink(missing_ok=True)
                flat.parts.append((path.name, path, lines))
    return flats, problems


def _translate(problems: list[Problem], flats: dict[str, _Flat]) -> list[Problem]:
    """Pipeline problems (CSV file, line) → (NDJSON file, line), reasons in FHIR terms."""
    out = []
    for p in problems:
        stem = p.file.lower().removesuffix(".csv")
        flat = flats.get(stem)
        if flat is None:
            out.append(p)
            continue
        reason = p.reason
        for column, term in F.TERMS.get(stem, {}).items():
            reason = re.sub(rf"\b{column}\b", term, reason)
        if p.line is not None and 0 <= p.line - 2 < len(flat.origin):
            label, line = flat.origin[p.line - 2]
            out.append(Problem(label, line, reason))
        else:
            out.append(Problem(", ".join(flat.labels), None, reason))
    return out


def _raise(problems: list[Problem], max_errors: int) -> None:
    problems = sorted(problems, key=lambda p: (p.file, p.line or 0))
    head = "; ".join(str(p) for p in problems[:5])
    raise IngestError(f"{len(problems)} bad input rows (allowed: {max_errors}); nothing was "
                      f"written. First: {head}", problems)


def ingest_fhir(
    src: str | Path,
    db: str | Path,
    secret: SiteSecret,
    config: DeidConfig,
    *,
    max_errors: int = 0,
    tolerance_days: int = 1,
    progress: Progress | None = None,
    memory_limit: str = "1GB",
) -> IngestReport:
    """De-identify the FHIR R4 NDJSON folder ``src`` into the OMOP store ``db``; same
    contract as :func:`~behindglass.ingest.pipeline.ingest_synthea` (all or nothing,
    ``max_errors`` bad lines or rows tolerated, problems as (file, line, reason))."""
    if max_errors < 0:
        raise ValueError("max_errors must be >= 0")
    F.check_rules()
    src, db = Path(src), Path(db)
    found, ignored = find_ndjson(src)
    db.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{db.name}.fhir-", dir=db.parent))  # mode 700
    try:
        flat_dir = work / src.name  # the provenance names the source folder
        flat_dir.mkdir()
        flats, own = flatten(found, flat_dir, progress)
        if len(own) > max_errors:
            _raise(own, max_errors)
        try:
            report = ingest_synthea(flat_dir, db, secret, config,
                                    max_errors=max_errors - len(own),
                                    tolerance_days=tolerance_days, progress=progress,
                                    memory_limit=memory_limit)
        except IngestError as exc:
            _raise(own + _translate(exc.problems, flats), max_errors)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report.source = str(src)
    report.ignored_files = ignored
    report.dropped_columns = {}
    report.problems = sorted(own + _translate(report.problems, flats),
                             key=lambda p: (p.file, p.line or 0))
    labels = {flat.stem + ".csv": ", ".join(flat.labels) for flat in flats.values()}
    report.unmapped = {(labels.get(f, f), code): n for (f, code), n in report.unmapped.items()}
    report.skipped = {labels.get(f, f): n for f, n in report.skipped.items()}
    return report
