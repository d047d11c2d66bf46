"""``ingest_fhir``: FHIR R4 (NDJSON bulk export or Bundles) in, de-identified OMOP out.

Bundles are first split into per-type NDJSON (:mod:`.fhir_bundle`); NDJSON resources are
then flattened (:mod:`.fhir_flatten` and its DuckDB fast path :mod:`.fhir_sql`, plus
:mod:`.fhir_clinical` and :mod:`.fhir_linked` for the types beyond the core six) into
Synthea-shaped CSV files in a private temporary folder next to the store (mode 700, deleted
afterwards), holding only the elements OMOP needs;
:func:`~behindglass.ingest.pipeline.ingest_synthea` then does the rest, so
de-identification, vocabulary mapping, checks, incremental loads and the single transaction
are the same code. Every problem is reported against the NDJSON file and line, or the
bundle file and entry, it came from, never with values, under one error budget.

NDJSON files are found by the bulk-export naming convention
``<ResourceType>[.<part>].ndjson``; files of types not read are not opened. The text
attachments of DocumentReference are de-identified into the NOTE table (:mod:`.notes`;
``notes="hold"`` only counts them); DiagnosticReport.presentedForm is only counted. See
docs/ingest-fhir.md.
"""

from __future__ import annotations

import csv
import re
import shutil
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import duckdb

from behindglass.core.errors import LoadError
from behindglass.deid.safe_harbor import DeidConfig
from behindglass.deid.secret import SiteSecret
from behindglass.deid.text.site_lists_source import site_lists_from_fhir
from behindglass.ingest import fhir_bundle, fhir_linked, fhir_validate
from behindglass.ingest import fhir_flatten as F
from behindglass.ingest import fhir_sql as S
from behindglass.ingest import notes as N
from behindglass.ingest.fhir_bundle import HELD_BACK
from behindglass.ingest.pipeline import Progress, ingest_synthea
from behindglass.ingest.report import IngestError, IngestReport, Problem

NOTE_TYPE = "DocumentReference"  # free text de-identified into NOTE (see .notes)


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


def find_ndjson(src: Path) -> tuple[dict[str, list[Path]], list[str], dict[str, list[Path]]]:
    """resourceType → its NDJSON files (sorted), the names not read, and the files of the
    held-back types (:data:`~.fhir_bundle.HELD_BACK`: counted, never flattened)."""
    if not src.is_dir():
        raise LoadError("expected a folder of FHIR NDJSON files", file=str(src))
    found: dict[str, list[Path]] = {}
    held: dict[str, list[Path]] = {}
    ignored: list[str] = []
    for path in sorted(src.iterdir()):
        kind = path.name.split(".", 1)[0]
        ndjson = path.is_file() and path.name.lower().endswith(".ndjson")
        if ndjson and kind in F.STEMS:
            found.setdefault(kind, []).append(path)
        elif ndjson and kind in HELD_BACK:
            held.setdefault(kind, []).append(path)
        else:
            ignored.append(path.name)
    if "Patient" not in found:
        raise LoadError("no Patient.ndjson: every FHIR extract starts with its patients",
                        file=str(src))
    return found, ignored, held


def count_held_back(held: dict[str, list[Path]]) -> dict[str, int]:
    """How many resources of the held-back files carry free text (DuckDB reads only
    ``resourceType`` and ``presentedForm``; lines that do not parse are not counted:
    nothing of these files is loaded either way)."""
    counts: dict[str, int] = {}
    con = duckdb.connect(config={"threads": 2})
    try:
        for kind, paths in held.items():
            text = ("TRUE" if kind != "DiagnosticReport" else
                    "coalesce(CAST(presentedForm AS VARCHAR) NOT IN ('[]', 'null'), FALSE)")
            for path in paths:
                quoted = str(path).replace("'", "''")
                n = con.execute(
                    f"SELECT count(*) FROM read_json('{quoted}', format='newline_delimited', "
                    "records='true', columns={'resourceType': 'VARCHAR', 'presentedForm': "
                    "'JSON'}, auto_detect=false, ignore_errors=true, "
                    f"maximum_object_size=268435456) WHERE resourceType = '{kind}' AND {text}"
                ).fetchone()[0]
                if n:
                    counts[HELD_BACK[kind]] = counts.get(HELD_BACK[kind], 0) + n
    finally:
        con.close()
    return counts


def _copy(con: duckdb.DuckDBPyConnection, kind: str, path: Path, out: Path,
          header: bool) -> int | None:
    """Flatten one NDJSON file into ``out`` with DuckDB; the row count, or None if DuckDB
    refused some line (invalid JSON, unexpected shape or resourceType): the caller then
    reads that file line by line to report the bad lines."""
    target = str(out).replace("'", "''")
    for clean in (True, False):
        try:
            return con.execute(f"COPY ({S.select_sql(kind, str(path), clean=clean)}) TO "
                               f"'{target}' (FORMAT csv, HEADER {str(header).lower()})"
                               ).fetchone()[0]
        except duckdb.Error as exc:
            if S.UNCLEAN not in str(exc):
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

    Files of the types with a DuckDB path (:data:`.fhir_sql.SQL`) are flattened by DuckDB
    first (two files at a time); a file DuckDB refuses, and every file of the other (small)
    types, is read line by line, so bad lines are reported with file and line. Several types
    may feed one stem (parts concatenated in type order); the linked stems are assembled
    from their two types."""
    sources: dict[str, list[tuple[str, Path]]] = {}
    for kind, paths in found.items():
        sources.setdefault(F.STEMS[kind], []).extend((kind, p) for p in paths)
    jobs = [(kind, path, out / (f"{stem}.csv" if len(srcs) == 1 else f".{stem}.{i}.part.csv"),
             len(srcs) == 1)
            for stem, srcs in sources.items() for i, (kind, path) in enumerate(srcs)
            if kind in S.SQL]
    counts = _fast(jobs)
    flats: dict[str, _Flat] = {}
    problems: list[Problem] = []
    # the linked stems last: devices need the patients' birth dates
    for stem, srcs in sorted(sources.items(), key=lambda i: i[0] in fhir_linked.COLUMNS):
        flat = flats[stem] = _Flat(stem, labels=[p.name for _, p in srcs])
        target = out / f"{stem}.csv"
        if stem in fhir_linked.COLUMNS:
            _linked(stem, srcs, target, flat, problems, progress)
            continue
        if len(srcs) == 1 and counts.get(srcs[0][1]) is not None:
            flat.parts.append((srcs[0][1].name, srcs[0][1], None))
            if progress:
                progress(srcs[0][1].name, counts[srcs[0][1]] or 0)
            continue
        with target.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(F.COLUMNS[stem])
            for i, (kind, path) in enumerate(srcs):
                part = out / f".{stem}.{i}.part.csv"
                lines: list[int] | None = None
                if counts.get(path) is None:
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


def _fast(jobs: list[tuple[str, Path, Path, bool]]) -> dict[Path, int | None]:
    """Run the DuckDB flattening jobs, two at a time, biggest first: rows per file, None
    for a file DuckDB refused."""
    if not jobs:
        return {}
    con = duckdb.connect(config={"preserve_insertion_order": True, "threads": 1})
    try:
        for macro in S.MACROS:
            con.execute(macro)

        def run(job: tuple[str, Path, Path, bool]) -> int | None:
            cursor = con.cursor()
            try:
                return _copy(cursor, *job)
            finally:
                cursor.close()

        biggest = sorted(jobs, key=lambda job: -job[1].stat().st_size)
        with ThreadPoolExecutor(max_workers=2) as pool:
            return dict(zip([job[1] for job in biggest], pool.map(run, biggest), strict=True))
    finally:
        con.close()


def _births(patients: Path) -> dict[str, str]:
    """Patient id → birth date (YYYY-MM-DD) from the flattened patients."""
    if not patients.exists():
        return {}
    with patients.open(newline="", encoding="utf-8") as fh:
        return {row["Id"]: row["BIRTHDATE"][:10] for row in csv.DictReader(fh)
                if row["Id"] and row["BIRTHDATE"]}


def _linked(stem: str, srcs: list[tuple[str, Path]], target: Path, flat: _Flat,
            problems: list[Problem], progress: Progress | None) -> None:
    """Read both types of a linked stem, then write the assembled rows."""
    linked = fhir_linked.Linked(stem)
    for kind, path in srcs:
        rows: list[tuple[str, ...]] = []
        lines = _scan(kind, path, SimpleNamespace(writerow=rows.append), problems, progress)
        for row, line in zip(rows, lines, strict=True):
            linked.add(kind, row, (path.name, line))
        flat.parts.append((path.name, path, lines))
    births = _births(target.with_name("patients.csv")) if stem == "devices" else {}
    assembled = linked.rows(births)
    with target.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(F.COLUMNS[stem])
        writer.writerows(row for row, _ in assembled)
    flat._origin = [origin for _, origin in assembled]


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
        terms = F.TERMS.get(stem, {})
        start = terms.get("START") or terms.get("DATE") or terms.get("START_DATE")
        if start:  # the pipeline's generic wording for START or DATE
            reason = reason.replace("start date", start)
        for column, term in terms.items():
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
    validate: bool = False,
    notes: str = "deidentify",
) -> IngestReport:
    """De-identify the FHIR R4 source ``src`` into the OMOP store ``db``: an NDJSON bulk
    export folder, a folder of Bundle files, or one Bundle file (``.json``, ``.json.gz``).

    Same contract as :func:`~behindglass.ingest.pipeline.ingest_synthea` (all or nothing,
    ``max_errors`` bad lines, entries or rows tolerated); problems are (NDJSON file, line,
    reason) or (``<bundle file>#entry[<i>]``, None, reason). ``validate`` also checks every
    resource read against the FHIR R4B models (:mod:`.fhir_validate`; slow, off by
    default): an invalid one is a problem and is not loaded. ``notes``: ``"deidentify"``
    scrubs the text attachments of DocumentReference into the ``note`` table (site lists
    from this source's Patient, Practitioner, Organization … resources); ``"hold"`` only
    counts them."""
    if max_errors < 0:
        raise ValueError("max_errors must be >= 0")
    F.check_rules()
    src, db = Path(src), Path(db)
    bundles = fhir_bundle.is_bundle_layout(src)
    if notes not in N.MODES:
        raise ValueError(f"notes must be one of {', '.join(N.MODES)}, not {notes!r}")
    scrub = notes == "deidentify"
    documents: list[Path] = []
    if not bundles:
        found, ignored, held_files = find_ndjson(src)
        if scrub:
            documents = held_files.pop(NOTE_TYPE, [])
    db.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{db.name}.fhir-", dir=db.parent))  # mode 700
    try:
        if bundles:
            entries = work / "entries"
            entries.mkdir()
            wanted = {**F.EXTRACTED, NOTE_TYPE: ()} if scrub else F.EXTRACTED
            split, ignored = fhir_bundle.split_bundles(src, entries, wanted, progress)
            found = {k: v for k, v in split.found.items() if k != NOTE_TYPE}
            documents = split.found.get(NOTE_TYPE, [])
            ignored += [f"{kind} ({n} bundle entries)" for kind, n in sorted(split.ignored.items())]
            held = dict(split.held_back)
            own, locate = list(split.problems), split.locate
        else:
            own, locate = [], _same
        if validate:
            found, invalid = fhir_validate.validate(found, work / "valid")
            own += [locate(p) for p in invalid]
        flat_dir = work / src.name  # the provenance names the source
        flat_dir.mkdir()
        with ThreadPoolExecutor(max_workers=1) as side:  # DuckDB: the GIL is released
            counted = side.submit(count_held_back, {} if bundles else held_files)
            flats, bad_lines = flatten(found, flat_dir, progress)
            if not bundles:
                held = counted.result()
        own += [locate(p) for p in bad_lines]
        if len(own) > max_errors:
            _raise(own, max_errors)
        no_text: Counter[str] = Counter()
        note_input = None
        if scrub and documents:
            lists_from = entries if bundles else src
            note_input = N.NoteInput(
                notes=lambda: N.fhir_notes(documents, no_text),
                site_lists=lambda: site_lists_from_fhir(lists_from, strict=False),
                label=f"{NOTE_TYPE} entries" if bundles else
                ", ".join(p.name for p in documents))
        try:
            report = ingest_synthea(flat_dir, db, secret, config,
                                    max_errors=max_errors - len(own),
                                    tolerance_days=tolerance_days, progress=progress,
                                    memory_limit=memory_limit, notes=notes,
                                    note_input=note_input)
        except IngestError as exc:
            _raise(own + [locate(p) for p in _translate(exc.problems, flats)], max_errors)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def label(names: list[str]) -> str:
        if bundles:  # our own part files: name the type
            names = list(dict.fromkeys(f"{n.split('.', 1)[0]} entries" for n in names))
        return ", ".join(names)

    labels = {flat.stem + ".csv": label(flat.labels) for flat in flats.values()}
    report.source = str(src)
    report.ignored_files = ignored + [labels[f] for f in report.ignored_files if f in labels]
    report.dropped_columns = {}
    report.problems = sorted(own + [locate(p) for p in _translate(report.problems, flats)],
                             key=lambda p: (p.file, p.line or 0))
    report.unmapped = {(labels.get(f, f), code): n for (f, code), n in report.unmapped.items()}
    report.skipped = {labels.get(f, f): n for f, n in report.skipped.items()}
    report.held_back = {**{labels.get(f, f): n for f, n in report.held_back.items()}, **held}
    for key, count in no_text.items():  # documents without a text attachment to scrub
        report.held_back[key] = (report.held_back.get(key) or 0) + count
    return report


def _same(problem: Problem) -> Problem:
    return problem
