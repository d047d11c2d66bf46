"""``behindglass synth``: write one synthetic site as OMOP CDM v5.4 CSV files."""

from __future__ import annotations

import os
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from behindglass.synth import BLOCK, PROFILES, generate_site


def _default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


@click.command("synth")
@click.option("--profile", "profile_name", required=True, type=click.Choice(sorted(PROFILES)),
              help="which kind of network member to simulate")
@click.option("--persons", default=10_000, show_default=True, type=click.IntRange(1),
              help="number of persons")
@click.option("--seed", default=0, show_default=True, type=int,
              help="random seed; the same arguments give byte-identical files")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="output folder (created; must be empty unless --force)")
@click.option("--gzip", "use_gzip", is_flag=True, help="write <table>.csv.gz")
@click.option("--chunk-size", default=50_000, show_default=True, type=click.IntRange(1),
              help=f"persons simulated ahead of the writer (whole blocks of {BLOCK:,}); "
                   "bounds memory, does not change the output")
@click.option("--workers", default=None, type=click.IntRange(1),
              help="worker processes [default: up to 2, the number of CPUs]")
@click.option("--force", is_flag=True, help="replace an existing output folder")
@click.option("--quiet", is_flag=True, help="no progress bar and no summary")
@click.option("--identifiable", is_flag=True,
              help="write an identifiable EHR extract with fake identities and a truth file "
                   "(identifiers.jsonl) instead of OMOP")
@click.option("--format", "out_format", type=click.Choice(["synthea-csv", "fhir"]),
              default=None,
              help="format of the identifiable extract: Synthea CSV or FHIR R4 "
                   "[default: synthea-csv]")
@click.option("--fhir-layout", type=click.Choice(["ndjson", "bundles"]), default=None,
              help="FHIR output: NDJSON per resource type, or one transaction Bundle per "
                   "patient as Synthea writes [default: ndjson]")
def synth(profile_name: str, persons: int, seed: int, out: Path, use_gzip: bool,
          chunk_size: int, workers: int | None, force: bool, quiet: bool,
          identifiable: bool, out_format: str | None, fhir_layout: str | None) -> None:
    """Generate a realistic synthetic OMOP site.

    Profiles differ as real network members do: population, disease burden, care and
    prescribing patterns, coding habits and outcome risks.
    """
    console = Console(stderr=True)
    if out_format and not identifiable:
        raise click.UsageError("--format applies to --identifiable extracts only")
    if fhir_layout and out_format != "fhir":
        raise click.UsageError("--fhir-layout applies to --identifiable --format fhir only")
    if identifiable:
        from behindglass.synth.identifiable import generate_identifiable

        found = generate_identifiable(profile_name, persons, seed, out, progress=not quiet,
                                      overwrite=force, format=out_format or "synthea-csv",
                                      fhir_layout=fhir_layout or "ndjson")
        if not quiet:
            console.print(f"wrote {found.out} ({sum(found.rows.values()):,} rows, "
                          f"{found.identifiers:,} planted identifiers) in "
                          f"{found.seconds:.1f} s ({found.persons_per_second:,.0f} persons/s)")
        return
    report = generate_site(profile_name, persons, seed, out, gzip=use_gzip,
                           chunk_size=chunk_size, progress=not quiet,
                           workers=workers or _default_workers(), overwrite=force)
    if quiet:
        return
    table = Table(title=f"{report.profile}: {report.persons:,} persons, seed {report.seed}",
                  title_justify="left")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in sorted(report.rows.items()):
        table.add_row(name, f"{rows:,}")
    table.add_row("[bold]total", f"[bold]{report.total_rows:,}")
    console.print(table)
    console.print(f"wrote {report.out} in {report.seconds:.1f} s "
                  f"({report.persons_per_second:,.0f} persons/s, "
                  f"{report.total_rows / report.seconds:,.0f} rows/s, "
                  f"{report.workers} worker(s))")
