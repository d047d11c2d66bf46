"""``behindglass cohort``: run OHDSI Circe cohort definitions on a site's store.

This is the steward's local view: exact counts, on the site's own machine. What leaves
the site goes through the network's analyses and their disclosure control instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from behindglass.core.circe import load_definitions
from behindglass.engine.circe import CohortGeneration, generate_cohort
from behindglass.engine.connect import open_backend


@click.group()
def cohort() -> None:
    """Generate cohorts from OHDSI Circe (ATLAS) definitions."""


def _print(console: Console, name: str, g: CohortGeneration) -> None:
    console.print(f"[bold]{name}[/bold] (cohort {g.cohort_id}): "
                  f"{g.entries} entries, {g.persons} persons, {g.seconds:.2f} s")
    if g.rule_names:
        table = Table("rule", "name", "persons passing", "persons lost to it alone",
                      "events passing", title="inclusion rules")
        for p, e in zip(g.person.rules, g.event.rules, strict=True):
            table.add_row(str(p.rule), p.name, str(p.count), str(p.gain), str(e.count))
        console.print(table)
    steps = " -> ".join(f"{s} {n}" for s, n in g.person.attrition)
    console.print(f"attrition (persons): {steps} -> cohort {g.persons}")
    if g.censored_persons:
        console.print(f"censor window removed {g.censored_persons} persons")


@cohort.command()
@click.argument("definitions", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--db", "target", required=True,
              help="Site store: a DuckDB file, or postgresql://user@host/db?schema=cdm")
@click.option("--cohort-id", type=int, default=None,
              help="cohort_definition_id of the first definition (default 1, then +1).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def generate(definitions: tuple[Path, ...], target: str, cohort_id: int | None,
             as_json: bool) -> None:
    """Generate each definition on the store; print entries, persons and inclusion-rule
    statistics (as OHDSI CohortGenerator reports them)."""
    console = Console(stderr=as_json)
    results: list[dict[str, Any]] = []
    next_id = cohort_id or 1
    backend = open_backend(target)
    try:
        for path in definitions:
            for set_id, name, expression in load_definitions(path):
                cid = set_id if set_id is not None and cohort_id is None else next_id
                next_id = cid + 1
                g = generate_cohort(backend, expression, cid)
                if as_json:
                    results.append({"definition": path.name, "name": name, **g.to_dict()})
                else:
                    _print(console, name, g)
    finally:
        backend.close()
    if as_json:
        click.echo(json.dumps({"store": backend.label, "cohorts": results}, indent=2))
