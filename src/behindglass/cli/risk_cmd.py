"""``behindglass risk``: re-identification risk of a site store, and optional fixes.

Runs inside the site. The violating records it prints are row-level and never leave the
machine; without ``--fix`` the store is opened read-only.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from behindglass.deid.risk import RiskReport

SHOW_DEFAULT = 20


def _print_report(report: RiskReport, title: str, show: int) -> None:
    from behindglass.deid.risk import LOCAL_ONLY_NOTE

    pct = f"{report.share_at_risk:.2%}"
    click.echo(f"{title}: {report.n_persons} persons, {report.n_classes} equivalence classes"
               f" over {', '.join(report.quasi)}")
    verdict = "holds" if report.k_holds else "VIOLATED"
    click.echo(f"  k-anonymity   k = {report.k_min} (target {report.k_target}: {verdict});"
               f" {report.classes_below_k} classes / {report.persons_below_k} persons below k")
    click.echo(f"  prosecutor    max {report.prosecutor_max:.4f}, average "
               f"{report.prosecutor_avg:.4f}, records above 1/k: {pct}")
    if report.l_target is not None:
        verdict = "holds" if report.l_holds else "VIOLATED"
        click.echo(f"  l-diversity   l = {report.l_min} for {report.sensitive} (target "
                   f"{report.l_target}: {verdict}); {report.classes_below_l} classes / "
                   f"{report.persons_below_l} persons below l")
    if not report.violating or show <= 0:
        return
    click.echo(f"  violating records ({report.n_violating} in all; {LOCAL_ONLY_NOTE}):")
    for rec in report.violating[:show]:
        values = ", ".join(f"{k}={v}" for k, v in rec.values.items())
        click.echo(f"    person {rec.person_id}: {values} (class of {rec.class_size})")
    hidden = report.n_violating - min(show, len(report.violating))
    if hidden > 0:
        click.echo(f"    … {hidden} more (use --json, or --show N)")


@click.command()
@click.argument("db", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--quasi", required=True, metavar="COL,COL",
              help="quasi-identifiers: year_of_birth, month_of_birth, sex, race, ethnicity, "
                   "zip3, state, death_year")
@click.option("--k", "k", type=int, default=11, show_default=True,
              help="smallest allowed equivalence class")
@click.option("--l", "l_target", type=int, help="distinct l-diversity target (needs --sensitive)")
@click.option("--sensitive", metavar="ATTR",
              help="sensitive attribute: condition:CONCEPT_ID (with descendants) or a person "
                   "attribute such as race")
@click.option("--fix", type=click.Choice(["generalise", "suppress"]),
              help="rewrite the store (one transaction) until k (and l) hold")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.option("--show", type=click.IntRange(min=0), default=SHOW_DEFAULT, show_default=True,
              help="violating records printed in the human view")
@click.option("--list-limit", type=click.IntRange(min=0), default=1000, show_default=True,
              help="violating records collected (and put in --json)")
def risk(db: Path, quasi: str, k: int, l_target: int | None, sensitive: str | None,
         fix: str | None, as_json: bool, show: int, list_limit: int) -> None:
    """Re-identification risk of the OMOP store DB (k-anonymity, l-diversity, prosecutor
    risk). Exits 1 when k or l is violated and nothing was fixed."""
    from behindglass.deid.generalise import fix as run_fix
    from behindglass.deid.risk import assess

    limit = max(list_limit, show)
    if fix is None:
        report = assess(str(db), quasi, k, l_target=l_target, sensitive=sensitive,
                        list_limit=limit)
        if as_json:
            click.echo(json.dumps(report.to_dict(), indent=2, default=str))
        else:
            _print_report(report, "risk", show)
        if not report.ok:
            sys.exit(1)
        return
    result = run_fix(str(db), quasi, k, method=fix, l_target=l_target, sensitive=sensitive,
                     list_limit=limit)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, default=str))
        return
    _print_report(result.before, "before", show)
    if not result.written:
        click.echo("nothing to fix: the target already holds; the store was not changed")
        return
    click.echo(f"{fix}: applied in one transaction")
    for step in result.steps:
        click.echo(f"  - {step}")
    changed = ", ".join(f"{col} {n}" for col, n in result.changed.items())
    click.echo(f"  records changed per quasi-identifier: {changed}")
    _print_report(result.after, "after", show)
