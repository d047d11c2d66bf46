"""``ingest_synthea``: identifiable Synthea CSV in, de-identified OMOP CDM v5.4 out.

Three stages, and only the last one touches the site store:

1. **read + de-identify** — each mapped file is scanned by DuckDB (a private in-memory
   database, spilling to a temporary folder next to the store) and streamed in Arrow
   batches through the rules of :mod:`behindglass.deid`, two event files at a time; the
   OMOP rows are **staged** in that same in-memory database;
2. **check** — malformed rows, impossible dates, duplicate ids and unknown persons are
   counted against the error budget (``max_errors``); over budget, the stage is dropped
   and :class:`~behindglass.ingest.report.IngestError` lists (file, line, reason);
3. **merge** — the store is attached and one transaction moves the staged rows into it
   (:mod:`behindglass.ingest.merge`).

Clinical notes (notes.csv, or FHIR DocumentReference handed in by :mod:`.fhir`) are read
in Python beside the event scans, de-identified by the free-text de-identifier with site
lists built from the same extract, and staged like any other table (:mod:`.notes`);
``notes="hold"`` only counts them, as before the text de-identifier existed.
"""

from __future__ import annotations

import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from behindglass.core.errors import LoadError
from behindglass.deid.pseudonym import pseudonymize
from behindglass.deid.safe_harbor import DeidConfig
from behindglass.deid.secret import SiteSecret
from behindglass.ingest import notes as N
from behindglass.ingest import persons as P
from behindglass.ingest import synthea_extra_events as X
from behindglass.ingest import synthea_sites as S
from behindglass.ingest import vocab_shipped
from behindglass.ingest.merge import EVENT_KEYS, UPSERT_KEYS, merge_staged
from behindglass.ingest.reader import CsvScan, SyntheaFile, count_rows, find_files, share
from behindglass.ingest.report import ErrorBudget, IngestReport
from behindglass.ingest.synthea import FILES, EventMapper, FileMap, event_key, select_sql
from behindglass.ingest.vocab import CodeMap
from behindglass.omop.schema import create_cdm, literal, quote
from behindglass.synth.vocabulary import vocabulary_tables

STAGED = ("person", "death", "location", *UPSERT_KEYS,
          *[t for t in EVENT_KEYS if t != "location"])
#: Every streamed file, in load order, and how it is read and built.
EVENT_FILES: dict[str, FileMap] = {**FILES, **X.FILES,
                                   "payer_transitions": S.PAYER_TRANSITIONS}
BUILDERS = {**X.BUILDERS, "payer_transitions": S.payer_plan_periods}
Progress = Callable[[str, int], None]  # (file label, rows done) after each batch
EVENT_WORKERS = 2  # event files scanned at once (see _all_events)


def _store_person_ids(db: Path) -> np.ndarray:
    """Person ids already in the store (events of an earlier extract's persons may come)."""
    if not db.exists():
        return np.zeros(0, dtype=np.int64)
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.Error as exc:
        raise LoadError(f"cannot open as a DuckDB database: {exc}", file=str(db)) from None
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                            "WHERE table_schema = 'main'").fetchall()}
        if "person" not in tables:
            return np.zeros(0, dtype=np.int64)
        return con.execute("SELECT person_id FROM person").fetchnumpy()["person_id"].astype(
            np.int64)
    finally:
        con.close()


class _Stage:
    """The staged CDM tables plus ``_ord`` (the source row, for error reports), in a private
    in-memory database: nothing half-checked is written into a file but DuckDB's own spill
    files, and the merge reads the rows from there without a copy."""

    SCHEMA = "memory.main"

    def __init__(self, memory_limit: str, spill: Path) -> None:
        # Its own database instance and memory budget: the scans' windows and the staged
        # rows do not compete for one pool.
        self.con = duckdb.connect(config={"memory_limit": memory_limit,
                                          "temp_directory": str(spill)})
        create_cdm(self.con)
        for table in STAGED:
            self.con.execute(f"ALTER TABLE {quote(table)} ADD COLUMN _ord BIGINT")

    def write(self, table: str, rows: pa.Table) -> None:
        if not len(rows):
            return
        self.con.register("bg_batch", rows)
        try:
            self.con.execute(f"INSERT INTO {quote(table)} BY NAME SELECT * FROM bg_batch")
        finally:
            self.con.unregister("bg_batch")

    def write_vocabulary(self) -> None:
        tables = {name: pa.table(columns) for name, columns in vocabulary_tables().items()}
        for table, rows in tables.items():
            self.write(table, rows)
        # The shipped subset's concepts and ancestors, minus what the catalogue wrote.
        have = set(tables["concept"]["concept_id"].to_pylist())
        self.write("concept", vocab_shipped.concept_table(exclude=have))
        pairs = tables["concept_ancestor"]
        written = set(zip(pairs["ancestor_concept_id"].to_pylist(),
                          pairs["descendant_concept_id"].to_pylist(), strict=True))
        self.write("concept_ancestor", vocab_shipped.ancestor_table(written))

    def duplicate_visits(self) -> np.ndarray:
        """Ordinals of encounter rows repeating an earlier row's Id; those rows are removed."""
        dup = self.con.execute(
            "SELECT _ord FROM (SELECT _ord, row_number() OVER (PARTITION BY "
            "visit_occurrence_id ORDER BY _ord) AS k FROM visit_occurrence) WHERE k > 1"
        ).fetchnumpy()["_ord"]
        if len(dup):
            self.con.execute("DELETE FROM visit_occurrence WHERE _ord IN "
                             f"({', '.join(str(int(x)) for x in dup)})")
        return dup.astype(np.int64)

    def counts(self) -> dict[str, int]:
        return {t: int(self.con.execute(f"SELECT count(*) FROM {quote(t)}").fetchone()[0])
                for t in STAGED}

    def merge_into(self, db: Path, provenance: str) -> dict[str, int]:
        """Attach the store and merge into it in one transaction (merge.py)."""
        self.con.execute(f"ATTACH {literal(str(db))} AS bg_store")
        try:
            self.con.execute("USE bg_store")
            added = merge_staged(self.con, self.SCHEMA, provenance)
            self.con.execute("CHECKPOINT bg_store")
            return added
        finally:
            self.con.execute("USE memory")
            self.con.execute("DETACH bg_store")


def ingest_synthea(
    src: str | Path,
    db: str | Path,
    secret: SiteSecret,
    config: DeidConfig,
    *,
    max_errors: int = 0,
    tolerance_days: int = 1,
    progress: Progress | None = None,
    memory_limit: str = "1GB",
    notes: str = "deidentify",
    note_input: N.NoteInput | None = None,
) -> IngestReport:
    """De-identify the Synthea CSV folder ``src`` into the OMOP store ``db`` (created if
    needed; an existing store is added to, persons upserted, events not duplicated).

    ``notes``: ``"deidentify"`` scrubs notes.csv with the free-text de-identifier into the
    ``note`` table (site lists from this extract, this ingest's secret and date mode);
    ``"hold"`` only counts the rows (:attr:`IngestReport.held_back`). ``note_input``: notes
    from another reader (FHIR), used instead of notes.csv.

    Raises :class:`~behindglass.ingest.report.IngestError` (store unchanged) when more than
    ``max_errors`` rows are bad; ``tolerance_days`` is how far an event may lie before birth
    or after death before it counts as impossible. ``memory_limit`` caps DuckDB's memory per
    concurrent file scan and for the staged rows (so about three times it in all, beyond
    which DuckDB spills to a private temporary folder next to ``db``).
    """
    started = time.perf_counter()
    if notes not in N.MODES:
        raise ValueError(f"notes must be one of {', '.join(N.MODES)}, not {notes!r}")
    src, db = Path(src), Path(db)
    files, ignored, held = find_files(src)
    report = IngestReport(source=str(src), database=str(db), date_mode=config.date_mode,
                          secret_fingerprint=secret.fingerprint, ignored_files=ignored,
                          notes_mode=notes)
    if notes == "deidentify" and note_input is None:
        note_input = _csv_note_input(src, held)
        held = {name: path for name, path in held.items() if name.lower() != "notes.csv"}
    report.dropped_columns = {f.label: f.dropped for f in files.values() if f.dropped}
    budget = ErrorBudget(max_errors)
    known = _store_person_ids(db)
    db.parent.mkdir(parents=True, exist_ok=True)
    spill = db.with_name(f".{db.name}.ingest-{uuid.uuid4().hex[:8]}.tmp")
    spill.mkdir(mode=0o700)  # private: spilled rows may hold identifiable text
    reader = duckdb.connect()
    reader.execute(f"SET temp_directory = {literal(str(spill / 'reader'))}")
    reader.execute("SET enable_progress_bar = false")  # ours is drawn by the caller
    # Each concurrent scan gets ``memory_limit`` (their windows buffer a whole file).
    reader.execute(f"SET memory_limit = {literal(_times(memory_limit, EVENT_WORKERS))}")
    stage: _Stage | None = None
    try:
        stage = _Stage(memory_limit, spill / "stage")
        try:
            index = _patients(reader, files["patients"], stage, secret, config, budget, report,
                              known)
            codes, sources = CodeMap(), CodeMap(standard_only=False)
            _register_lookups(reader, index, files.get("encounters"), secret)
            _sites(reader, files, stage, secret, config, budget)
            jobs = [(n, files[stem], fm, EventMapper(
                        files[stem], index, secret, config, codes, tolerance_days,
                        build=BUILDERS.get(stem), sources=sources, check_birth=fm.check_birth))
                    for n, (stem, fm) in enumerate(EVENT_FILES.items(), start=1)
                    if stem in files]
            # Biggest first: the largest file's scan is the critical path.
            jobs.sort(key=lambda job: -job[1].path.stat().st_size)
            lock = threading.Lock()
            with ThreadPoolExecutor(max_workers=1) as side:
                # Notes are Python work (the GIL), the scans DuckDB's: they overlap well.
                noted = side.submit(_notes, note_input, index, secret, config, codes,
                                    stage, lock, progress) if note_input else None
                _all_events(reader, jobs, stage, budget, report, progress, lock)
                outcome = noted.result() if noted else None
            if outcome is not None and note_input is not None:
                _book_notes(outcome, note_input.label, budget, report)
            # Held-back free text is counted, never loaded.
            report.held_back = {name: count_rows(reader, path) for name, path in held.items()}
            dup = stage.duplicate_visits()
            if len(dup):
                f = files["encounters"]
                budget.add(f.label, f.lines_of(dup), "duplicate Id (an earlier row has it)")
            budget.check()
            stage.write_vocabulary()
        finally:
            report.rows = stage.counts()
        report.problems = sorted(budget.problems, key=lambda p: (p.file, p.line or 0))
        existed = db.exists()
        try:
            report.added = stage.merge_into(db, _provenance(report))
        except BaseException:
            if not existed:  # the merge rolled back; leave no empty store behind
                db.unlink(missing_ok=True)
                db.with_name(db.name + ".wal").unlink(missing_ok=True)
            raise
    finally:
        reader.close()
        if stage is not None:
            stage.con.close()
        shutil.rmtree(spill, ignore_errors=True)  # DuckDB's spill files
    report.seconds = time.perf_counter() - started
    return report


def _times(limit: str, factor: int) -> str:
    """``"1GB"`` × 2 → ``"2048MB"`` (DuckDB's size syntax; refused sizes raise LoadError)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B)\s*", limit, re.IGNORECASE)
    if not match:
        raise LoadError(f"memory_limit {limit!r} is not a size like '1GB' or '512MB'")
    unit = match.group(2).upper().replace("IB", "B")
    scale = {"KB": 1 / 1024, "MB": 1, "GB": 1024, "TB": 1024 * 1024}[unit]
    return f"{int(float(match.group(1)) * scale * factor)}MB"


def _provenance(report: IngestReport) -> str:
    return (f"source=synthea-csv:{Path(report.source).name}; date_mode={report.date_mode}; "
            f"secret={report.secret_fingerprint}; persons={report.persons}; "
            f"refused_rows={report.errors}; notes={report.notes_mode}:"
            f"{report.notes_deidentified}")


def _csv_note_input(src: Path, held: dict[str, Path]) -> N.NoteInput | None:
    """notes.csv of the extract as the note step's input (None: the extract has none)."""
    path = next((p for name, p in held.items() if name.lower() == "notes.csv"), None)
    if path is None:
        return None
    from behindglass.deid.text.site_lists_source import site_lists_from_synthea

    # Not strict: a malformed row of patients.csv is reported by the person checks.
    return N.NoteInput(notes=lambda: N.csv_notes(path),
                       site_lists=lambda: site_lists_from_synthea(src, strict=False),
                       label=path.name)


def _notes(note_input: N.NoteInput, index: P.PersonIndex, secret: SiteSecret,
           cfg: DeidConfig, codes: CodeMap, stage: _Stage, lock: threading.Lock,
           progress: Progress | None) -> N.NoteOutcome:
    deid = N.text_deidentifier(secret, cfg, note_input.site_lists())
    step = N.NoteStep(index, secret, cfg, deid, codes, stage.write, lock, progress)
    return step.run(note_input.notes(), note_input.label)


def _book_notes(out: N.NoteOutcome, label: str, budget: ErrorBudget,
                report: IngestReport) -> None:
    for p in out.problems:
        budget.add(p.file, [p.line], p.reason)
    report.notes_deidentified += out.notes
    for name, count in sorted(out.phi.items()):
        report.note_phi[name] = report.note_phi.get(name, 0) + count
    if out.skipped:
        report.skipped[label] = report.skipped.get(label, 0) + out.skipped


def _patients(reader: duckdb.DuckDBPyConnection, file: SyntheaFile, stage: _Stage,
              secret: SiteSecret, cfg: DeidConfig, budget: ErrorBudget,
              report: IngestReport, known: np.ndarray) -> P.PersonIndex:
    scan = CsvScan(reader, file, 0)
    table = P.read_patients(scan)
    rejected = scan.finish()
    budget.add(file.label, [line for line, _ in rejected], "malformed CSV row")
    bad = np.zeros(table.num_rows, dtype=bool)
    ords = table["ord"].to_numpy()
    for mask, reason in P.check_patients(table, cfg.reference_date):
        mask = mask & ~bad
        if mask.any():
            budget.add(file.label, file.lines_of(ords[mask]), reason)
        bad |= mask
    good = table.filter(pa.array(~bad))
    for name, rows in P.person_tables(good, secret, cfg).items():
        stage.write(name, rows)
    report.persons = good.num_rows
    refused = table.filter(pa.array(bad))["Id"].combine_chunks()
    return P.person_index(good, secret, known, refused)


def _sites(reader: duckdb.DuckDBPyConnection, files: dict[str, SyntheaFile], stage: _Stage,
           secret: SiteSecret, cfg: DeidConfig, budget: ErrorBudget) -> None:
    """organizations → care_site (+ location), providers → provider; payers as the name
    lookup of payer_transitions."""
    done: list[tuple[SyntheaFile, tuple[dict[str, pa.Table], S.Refused]]] = []
    if "organizations" in files and files["organizations"].has("Id"):
        f = files["organizations"]
        done.append((f, S.care_sites(reader, f, secret, cfg)))
    if "providers" in files and files["providers"].has("Id"):
        f = files["providers"]
        done.append((f, S.providers(reader, f, secret)))
    for f, (tables, refused) in done:
        for table, rows in tables.items():
            stage.write(table, rows)
        for lines, reason in refused:
            budget.add(f.label, list(lines), reason)
    payers = files.get("payers")
    for lines, reason in S.register_payers(reader, payers):
        budget.add(payers.label if payers else "payers.csv", list(lines), reason)


def _all_events(reader: duckdb.DuckDBPyConnection,
                jobs: list[tuple[int, SyntheaFile, FileMap, EventMapper]], stage: _Stage,
                budget: ErrorBudget, report: IngestReport, progress: Progress | None,
                lock: threading.Lock) -> None:
    """Scan the event files two at a time, each on its own cursor: one scan keeps about one
    core busy (the row ordinals need an ordered scan), so two fill a 2-core site server.
    Problems are booked in file order afterwards, so reports do not depend on timing."""

    def run(job: tuple[int, SyntheaFile, FileMap, EventMapper]) -> _Outcome:
        n, file, fm, mapper = job
        cursor = reader.cursor()
        try:
            cursor.execute("SET enable_progress_bar = false")
            return _events(cursor, n, file, fm, mapper, stage, lock, progress)
        finally:
            cursor.close()

    with ThreadPoolExecutor(max_workers=EVENT_WORKERS) as pool:
        outcomes = list(pool.map(run, jobs))
    for (_, file, _, _), out in zip(jobs, outcomes, strict=True):
        for line, reason in out.rejected:
            budget.add(file.label, [line], reason)
        for ords, reason in out.pending:  # lines are known once the reader's rejects are
            budget.add(file.label, file.lines_of(ords), reason)
        if out.skipped:
            report.skipped[file.label] = report.skipped.get(file.label, 0) + out.skipped
        for code, count in out.unmapped.items():
            key = (file.label, code)
            report.unmapped[key] = report.unmapped.get(key, 0) + count


@dataclass
class _Outcome:
    """What one event file's scan found, booked by the caller."""

    rejected: list[tuple[int, str]] = field(default_factory=list)
    pending: list[tuple[np.ndarray, str]] = field(default_factory=list)
    unmapped: dict[str, int] = field(default_factory=dict)
    skipped: int = 0


def _events(reader: duckdb.DuckDBPyConnection, n: int, file: SyntheaFile, fm: FileMap,
            mapper: EventMapper, stage: _Stage, lock: threading.Lock,
            progress: Progress | None) -> _Outcome:
    scan = CsvScan(reader, file, n)
    columns, select = select_sql(file.stem, event_key(mapper.secret), fm)
    items = "x.*, p.person_id AS pid, p.birth AS p_birth, p.death AS p_death"
    joins = "LEFT JOIN bg_persons p ON x.PATIENT = p.key"
    if fm.visit:
        items += ", v.visit_id AS vid"
        joins += f" LEFT JOIN bg_visits v ON x.{fm.visit} = v.key"
    if fm.join:
        items += f", {fm.join[0]}"
        joins += f" {fm.join[1]}"
    outer = f"SELECT {items} FROM x {joins}"
    out = _Outcome()
    done = 0
    for batch in scan.batches(columns, select, outer, fm.where):
        res = mapper.map(batch)
        with lock:  # one writer on the stage at a time
            for table, rows in res.tables.items():
                stage.write(table, rows)
        out.pending.extend(res.problems)
        out.skipped += res.skipped
        for code, count in res.unmapped.items():
            out.unmapped[code] = out.unmapped.get(code, 0) + count
        done += len(batch)
        if progress:
            with lock:
                progress(file.label, done)
    out.rejected = scan.finish()
    return out


def _register_lookups(reader: duckdb.DuckDBPyConnection, index: P.PersonIndex,
                      encounters: SyntheaFile | None, secret: SiteSecret) -> None:
    """Person and visit keys → keyed ids, as tables the event scans join: every distinct
    key is hashed once, not once per file and batch."""
    persons = pa.table({"key": index.keys, "person_id": index.person_id,
                        "birth": pa.array(index.birth), "death": pa.array(index.death)})
    share(reader, "bg_persons", persons)
    keys = pa.array([], pa.string())
    if encounters is not None and encounters.has("Id"):
        scan = CsvScan(reader, encounters, 99)
        keys = scan.batches(["Id"], "DISTINCT Id").read_all()["Id"].combine_chunks()
        keys = keys.drop_null()
    visits = pa.table({"key": keys, "visit_id": pseudonymize(keys, secret, "visit")})
    share(reader, "bg_visits", visits)
