"""``behindglass ingest``: identifiable source extract in, de-identified OMOP CDM v5.4 out."""

from __future__ import annotations

import csv
import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from behindglass.ingest import IngestReport, Problem


def _write_problems(path: Path, problems: list[Problem]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["file", "line", "reason"])
        for p in problems:
            out.writerow([p.file, "" if p.line is None else p.line, p.reason])


@click.command("ingest")
@click.argument("src", type=click.Path(exists=True, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["synthea-csv", "fhir"]),
              default="synthea-csv", show_default=True,
              help="format of SRC: a folder of Synthea CSV files; or FHIR R4: an NDJSON bulk "
                   "export folder, a folder of Bundle files or one Bundle file (.json, "
                   ".json.gz), told apart automatically")
@click.option("--db", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="the site's DuckDB OMOP store (created if missing; added to otherwise)")
@click.option("--secret-file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="the site secret behind every pseudonym and date shift")
@click.option("--create-secret", is_flag=True,
              help="create a new random secret (mode 600) at --secret-file if none is there")
@click.option("--dates", "date_mode", type=click.Choice(["year", "shift"]), default="year",
              show_default=True,
              help="year: Safe Harbor (July 1 of the year); shift: per-person keyed shift "
                   "(NOT Safe Harbor: limited data set / expert determination)")
@click.option("--max-shift-days", type=click.IntRange(1, 3650), default=365, show_default=True)
@click.option("--reference-date", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="the extract's 'today' for the over-89 rule [default: today]")
@click.option("--max-errors", type=click.IntRange(0), default=0, show_default=True,
              help="bad rows tolerated (skipped and reported); one more aborts the ingest")
@click.option("--tolerance-days", type=click.IntRange(0), default=1, show_default=True,
              help="how far an event may lie before birth / after death")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              help="write every refused row as CSV (file, line, reason; never values)")
@click.option("--validate", is_flag=True,
              help="FHIR only: check every resource against the FHIR R4B models "
                   "(fhir.resources); invalid ones are bad rows. Slow: off by default")
@click.option("--notes", type=click.Choice(["deidentify", "hold"]), default="deidentify",
              show_default=True,
              help="deidentify: scrub clinical notes (notes.csv, DocumentReference) with the "
                   "free-text de-identifier into the NOTE table; hold: count them, load none")
@click.option("--quiet", "-q", is_flag=True, help="no progress and no summary")
def ingest(src: Path, fmt: str, db: Path, secret_file: Path, create_secret: bool, date_mode: str,
           max_shift_days: int, reference_date: dt.datetime | None, max_errors: int,
           tolerance_days: int, report_path: Path | None, validate: bool, notes: str,
           quiet: bool) -> None:
    """De-identify the extract SRC into the OMOP store DB, all or nothing.

    Every column passes the Safe Harbor rule catalogue (unknown columns are dropped); on
    too many bad rows nothing is written and the rows are listed by file and line.
    """
    from behindglass.cli.site_secret import site_secret
    from behindglass.deid.safe_harbor import DeidConfig
    from behindglass.ingest import IngestError, ingest_fhir, ingest_synthea

    secret = site_secret(secret_file, create_secret, "unlinkable ids")
    ref = reference_date.date() if reference_date else dt.date.today()
    cfg = DeidConfig(date_mode=date_mode, max_shift_days=max_shift_days, reference_date=ref)
    show = not quiet and sys.stderr.isatty()
    with _Bar(show) as bar:
        try:
            if fmt == "fhir":
                report = ingest_fhir(src, db, secret, cfg, max_errors=max_errors,
                                     tolerance_days=tolerance_days, progress=bar.update,
                                     validate=validate, notes=notes)
            else:
                if validate:
                    raise click.UsageError("--validate is for --format fhir")
                report = ingest_synthea(src, db, secret, cfg, max_errors=max_errors,
                                        tolerance_days=tolerance_days, progress=bar.update,
                                        notes=notes)
        except IngestError as exc:
            if report_path:
                _write_problems(report_path, exc.problems)
            for p in exc.problems[:50]:
                click.echo(f"bad row: {p}", err=True)
            raise
    if report_path:
        _write_problems(report_path, report.problems)
    if not quiet:
        _summary(report)


class _Bar:
    """A rich spinner with rows read per file (sizes in rows are unknown up front)."""

    def __init__(self, show: bool) -> None:
        self.show = show
        self.progress = None
        self.task = None

    def __enter__(self) -> _Bar:
        if self.show:
            from rich.progress import Progress, SpinnerColumn, TextColumn

            self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                     transient=True)
            self.progress.start()
            self.task = self.progress.add_task("reading")
        return self

    def update(self, label: str, rows: int) -> None:
        if self.progress is not None:
            self.progress.update(self.task, description=f"{label}: {rows:,} rows")

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()


def _summary(report: IngestReport) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True)
    table = Table(show_footer=False)
    table.add_column("OMOP table")
    table.add_column("rows read", justify="right")
    table.add_column("new in store", justify="right")
    for name, rows in report.rows.items():
        table.add_row(name, f"{rows:,}", f"{report.added.get(name, 0):,}")
    console.print(table)
    console.print(f"{report.persons:,} persons in {report.seconds:.1f} s "
                  f"({report.persons_per_minute:,.0f}/min); dates: {report.date_mode}; "
                  f"secret {report.secret_fingerprint}")
    for p in report.lines(20):
        console.print(f"[yellow]skipped[/] {p}")
    if report.unmapped:
        top = sorted(report.unmapped.items(), key=lambda kv: -kv[1])[:10]
        shown = ", ".join(f"{f}:{code} ({n})" for (f, code), n in top)
        console.print(f"[dim]unmapped codes → concept 0: {shown}[/dim]")
    for label, cols in report.dropped_columns.items():
        console.print(f"[dim]{label}: dropped {', '.join(cols)}[/dim]")
    if report.ignored_files:
        console.print(f"[dim]not read: {', '.join(report.ignored_files)}[/dim]")
    if report.notes_deidentified or report.note_phi:
        spans = ", ".join(f"{label} {n:,}" for label, n in sorted(
            report.note_phi.items(), key=lambda kv: (-kv[1], kv[0])))
        console.print(f"notes de-identified: {report.notes_deidentified:,}; PHI spans "
                      f"replaced: {sum(report.note_phi.values()):,}"
                      + (f" ({spans})" if spans else ""))
    for label, count in report.held_back.items():
        rows = "unreadable" if count is None else f"{count:,} rows"
        console.print(f"held back (free text: counted, not loaded): {label} ({rows})")
