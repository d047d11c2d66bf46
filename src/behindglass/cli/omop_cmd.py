"""``behindglass omop``: create an empty OMOP CDM v5.4 store, load OMOP CSV extracts, and
copy a store into PostgreSQL."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from behindglass.omop.loader import LoadReport

DB = click.option("--db", "db", required=True, type=click.Path(dir_okay=False, path_type=Path),
                  help="the site's DuckDB file (created if missing)")


@click.group()
def omop() -> None:
    """Create and load OMOP CDM v5.4 stores."""


@omop.command()
@DB
def create(db: Path) -> None:
    """Create every CDM v5.4 table (empty) in DB; existing tables are left as they are."""
    import duckdb

    from behindglass.omop.schema import cdm_tables, create_cdm

    db.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(db))
    try:
        create_cdm(con)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    click.echo(f"{db}: OMOP CDM v5.4, {len(cdm_tables())} tables", err=True)


@omop.command()
@click.argument("src", type=click.Path(exists=True, path_type=Path))
@DB
@click.option("--replace", is_flag=True,
              help="replace every CDM table if DB already holds OMOP data (one transaction)")
@click.option("--strict", is_flag=True,
              help="refuse every breach of the spec: NULL in any required column, any "
                   "duplicated key")
@click.option("--quiet", "-q", is_flag=True, help="no progress bar and no summary")
def load(src: Path, db: Path, replace: bool, strict: bool, quiet: bool) -> None:
    """Load the OMOP CSV folder or .zip SRC (CDM 5.4 or 5.3; .csv or .csv.gz) into DB.

    All or nothing: on any error DB is left exactly as it was.
    """
    from behindglass.omop.loader import load_omop

    progress = not quiet and sys.stderr.isatty()
    report = load_omop(src, db, replace=replace, progress=progress, strict=strict)
    if quiet:
        for warning in report.warnings:
            click.echo(f"warning: {warning}", err=True)
        return
    _summary(report)


def _summary(report: LoadReport) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True)
    table = Table(show_footer=True)
    table.add_column("table", footer="total")
    table.add_column("rows", justify="right", footer=f"{report.total_rows:,}")
    for name, rows in report.rows.items():
        if rows:
            table.add_row(name, f"{rows:,}")
    console.print(table)
    for name, renames in report.renamed.items():
        pairs = ", ".join(f"{old} -> {new}" for old, new in renames.items())
        console.print(f"[dim]5.3 -> 5.4 {name}: {pairs}[/dim]")
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    name = Path(report.database or "").name
    console.print(f"loaded {report.total_rows:,} rows from a CDM {report.cdm_version} source "
                  f"into {name} (CDM v5.4) in {report.seconds:.1f} s", highlight=False)


@omop.command()
def ddl() -> None:
    """Print the DuckDB DDL of the whole CDM v5.4 (as generated from the specification)."""
    from behindglass.omop.schema import cdm_ddl

    click.echo(cdm_ddl(), nl=False)


@omop.command("to-postgres")
@click.argument("db", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("url")
@click.option("--schema", default=None,
              help="PostgreSQL schema to fill (default: the URL's schema= parameter, "
                   "else public)")
@click.option("--replace", is_flag=True,
              help="overwrite the CDM tables of a schema that already holds CDM rows")
@click.option("--quiet", "-q", is_flag=True, help="no per-table lines, no summary")
def to_postgres(db: Path, url: str, schema: str | None, replace: bool, quiet: bool) -> None:
    """Copy the CDM of the DuckDB store DB into PostgreSQL at URL (postgresql://...).

    One transaction: on any error the schema is left exactly as it was. Keep the password
    out of URL: libpq reads PGPASSWORD and ~/.pgpass.
    """
    from behindglass.engine.connect import split_schema
    from behindglass.omop.postgres_copy import copy_cdm_to_postgres

    conninfo, url_schema = split_schema(url)

    def progress(table: str, done: int, total: int) -> None:
        if not quiet and done == total:
            click.echo(f"  {table}: {total:,} rows", err=True)

    report = copy_cdm_to_postgres(db, conninfo, schema or url_schema, replace=replace,
                                  progress=progress)
    if not quiet:
        click.echo(f"copied {report.total_rows:,} rows of {len(report.rows)} CDM tables from "
                   f"{db.name} to {report.target} in {report.seconds:.1f} s", err=True)
