"""``behindglass site ledger`` and ``behindglass site unlock``: the steward's view of the
differencing defence.

``ledger`` summarises, per researcher, how many populations were released and refused and
whether a lockout is in force; it never prints a population's size, because the steward's
terminal is not a disclosure-controlled channel either. ``unlock`` lifts a lockout and the
ledger records who lifted it. The lead registers both in the ``site`` group.
"""

from __future__ import annotations

import getpass
import sys
from datetime import datetime
from pathlib import Path

import click

from behindglass.core.errors import BehindGlassError
from behindglass.core.policy import DifferencingRules, SitePolicy
from behindglass.privacy.ledger import LEDGER_FILE, ReleaseLedger

POLICY_FILE = "policy.toml"

HOME = click.option(
    "--home", "home", required=True, envvar="BEHINDGLASS_SITE_HOME",
    type=click.Path(file_okay=False, path_type=Path),
    help=f"the site's home folder, holding {LEDGER_FILE} (or env BEHINDGLASS_SITE_HOME)")
STEWARD = click.option(
    "--as", "steward", envvar="BEHINDGLASS_STEWARD", default=None,
    help="the steward acting (or env BEHINDGLASS_STEWARD; default: the OS user)")
POLICY = click.option(
    "--policy", "policy_path", type=click.Path(dir_okay=False, path_type=Path),
    help=f"the site's policy file (default: HOME/{POLICY_FILE}; without one, the defaults)")


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _rules(home: Path, policy_path: Path | None) -> DifferencingRules:
    """The differencing rules in force: the policy file's, or the defaults without one."""
    path = policy_path or home / POLICY_FILE
    if not path.exists():
        if policy_path is not None:
            _fail(f"{path}: no such policy file")
        return SitePolicy().differencing
    from behindglass.site.policy_file import load_policy  # the site's own loader

    return load_policy(path).differencing


def _open(home: Path) -> ReleaseLedger:
    path = home / LEDGER_FILE
    if not path.exists():
        _fail(f"{path}: no ledger yet (the site has released nothing under the "
              "differencing defence)")
    return ReleaseLedger(path)


def _steward(steward: str | None) -> str:
    return (steward or getpass.getuser()).strip()


def _time(value: datetime | None) -> str:
    return "-" if value is None else f"{value:%Y-%m-%d %H:%M} UTC"


@click.command("ledger")
@HOME
@POLICY
@STEWARD
def ledger(home: Path, policy_path: Path | None, steward: str | None) -> None:
    """Per researcher: releases, studies, refusals and lockout; never a population's size."""
    del steward  # reading needs no name; the option is accepted so scripts can pass it
    try:
        rules = _rules(home, policy_path)
        with _open(home) as book:
            rows = book.summary(rules)
    except BehindGlassError as err:
        _fail(str(err))
        return
    if not rows:
        click.echo("no researcher has asked for a release yet")
        return
    width = max(10, *(len(r.researcher) for r in rows))
    click.echo(f"{'researcher':<{width}}  releases  studies  refusals  "
               f"{'last release':<20}  locked until")
    for r in rows:
        click.echo(f"{r.researcher:<{width}}  {r.releases:>8}  {r.studies:>7}  "
                   f"{r.refusals:>8}  {_time(r.last_release):<20}  {_time(r.locked_until)}")


@click.command("unlock")
@click.argument("name")
@HOME
@POLICY
@STEWARD
def unlock(name: str, home: Path, policy_path: Path | None, steward: str | None) -> None:
    """Lift NAME's lockout by the differencing defence (the ledger records who lifted it)."""
    who = _steward(steward)
    try:
        rules = _rules(home, policy_path)
        with _open(home) as book:
            was = book.locked_until(name, rules)
            book.unlock(name, who)
    except BehindGlassError as err:
        _fail(str(err))
        return
    if was is None:
        click.echo(f"{name} was not locked out; the unlock by {who} is recorded anyway")
    else:
        click.echo(f"lifted {name}'s lockout (it ran until {_time(was)}); recorded as "
                   f"lifted by {who}")
