"""``behindglass dq``: data quality of a site's OMOP store (DataQualityDashboard-style
checks with thresholds, and with ``--profile`` an Achilles-style profile).

What it prints, human or ``--json``, is the releasable summary: counts below
``--min-cell`` are suppressed and no row-level value appears. Exit status: 0 when the run
completed (whatever the checks found), 2 when a check could not run (status "error"), and
with ``--fail-on-fail`` 1 when a check failed its threshold.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

SHOW_FAILED = 25


@contextmanager
def _progress_bar(enabled: bool) -> Iterator[Any]:
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    if not console.is_terminal:
        yield None
        return
    with Progress(TextColumn("[bold]data quality"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[what]}"), TimeElapsedColumn(), console=console,
                  transient=True) as bar:
        task = bar.add_task("dq", total=None, what="")

        def update(what: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, what=what)

        yield update


def _print_human(payload: dict[str, Any], label: str, show: int) -> None:
    s = payload["summary"]
    click.echo(f"data quality of {label} (CDM v{payload['cdm_version']}, {payload['engine']},"
               f" {payload['seconds']} s, counts below {payload['min_cell']} suppressed)")
    pct = "n/a" if s["pct_passed"] is None else f"{s['pct_passed']}%"
    click.echo(f"  {s['checks']} checks: {s['passed']} passed, {s['failed']} failed,"
               f" {s['not_applicable']} not applicable, {s['errors']} errors"
               f" ({pct} of applicable checks passed)")
    for cat, counts in s["by_category"].items():
        click.echo(f"  {cat:<13} pass {counts['pass']:>4}  fail {counts['fail']:>4}"
                   f"  n/a {counts['not_applicable']:>4}  error {counts['error']:>3}")
    failed = [c for c in payload["checks"] if c["status"] == "fail"]
    if failed and show:
        click.echo("  failed checks (violating / checked, threshold):")
        for c in failed[:show]:
            pct_v = "suppressed" if c["pct_violated"] is None else f"{c['pct_violated']}%"
            click.echo(f"    {c['check_id']}: {c['num_violated']} / {c['denominator']}"
                       f" ({pct_v} > {c['threshold']:g}%)")
        if len(failed) > show:
            click.echo(f"    … {len(failed) - show} more (use --json)")
    for c in payload["checks"]:
        if c["status"] == "error":
            click.echo(f"  error in {c['check_id']}: {c['note']}")
    profile = payload.get("profile")
    if profile and "persons" in profile:
        click.echo(f"  profile: {profile['persons']['persons']} persons; records per domain:")
        for table, d in profile.get("domains", {}).items():
            click.echo(f"    {table:<22} {d['records']!s:>10} records, {d['persons']!s:>7}"
                       " persons")


@click.command()
@click.argument("db")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.option("--thresholds", "thresholds_file", type=click.Path(dir_okay=False, path_type=Path),
              help="TOML file with a [thresholds] table of check-id prefix = percent")
@click.option("--min-cell", type=click.IntRange(min=1), default=11, show_default=True,
              help="counts from 1 to min-cell - 1 are shown as suppressed")
@click.option("--profile", "with_profile", is_flag=True,
              help="add an Achilles-style profile of the store")
@click.option("--check", "names", multiple=True, metavar="NAME",
              help="run only checks of this name (repeatable), e.g. isForeignKey")
@click.option("--fail-on-fail", is_flag=True, help="exit 1 when any check fails its threshold")
@click.option("--show", type=click.IntRange(min=0), default=SHOW_FAILED, show_default=True,
              help="failed checks listed in the human view")
@click.option("--no-progress", is_flag=True, help="no progress bar on stderr")
def dq(db: str, as_json: bool, thresholds_file: Path | None, min_cell: int,
       with_profile: bool, names: tuple[str, ...], fail_on_fail: bool, show: int,
       no_progress: bool) -> None:
    """Data-quality checks (and optionally a profile) of the OMOP store DB: a DuckDB file
    or a postgresql:// URL."""
    from behindglass.engine.connect import open_backend
    from behindglass.engine.quality import Thresholds, catalog, profile_store, run_checks

    thresholds = Thresholds.from_toml(thresholds_file) if thresholds_file else Thresholds()
    backend = open_backend(db)
    try:
        known = {c.name for c in catalog(backend.dialect)}
        for key in thresholds.unknown_keys(known):
            click.echo(f"warning: thresholds: no check is named {key.split('.')[0]!r}",
                       err=True)
        unknown = sorted(set(names) - known)
        if unknown:
            raise click.BadParameter(f"no check is named {', '.join(unknown)}",
                                     param_hint="--check")
        with _progress_bar(not no_progress) as update:
            report = run_checks(backend, thresholds=thresholds, progress=update,
                                names=set(names) or None)
        if with_profile:
            report.profile = profile_store(backend, min_cell=min_cell)
        label = getattr(backend, "label", db)
    finally:
        backend.close()
    payload = report.to_dict(min_cell=min_cell)
    if as_json:
        click.echo(json.dumps(payload, indent=2))
    else:
        _print_human(payload, label, show)
    if report.errors:
        sys.exit(2)
    if fail_on_fail and report.failed:
        sys.exit(1)
