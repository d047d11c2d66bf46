"""The one way the commands get the site secret: load it, or create it when asked."""

from __future__ import annotations

from pathlib import Path

import click

from behindglass.deid.secret import SiteSecret, load_secret


def site_secret(path: Path, create: bool, consequence: str) -> SiteSecret:
    """The secret at ``path``; with ``create``, a new one is written there first if missing
    (``consequence`` tells the user what another secret would change)."""
    if create and not path.exists():
        SiteSecret.generate(path)
        click.echo(f"created a new site secret at {path}: keep it, and keep it here; "
                   f"a different secret gives {consequence}", err=True)
    return load_secret(path)
