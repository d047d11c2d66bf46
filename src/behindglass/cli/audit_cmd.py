"""``behindglass audit``: read and verify a site's hash-chained audit log."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

FILE = click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))


@click.group()
def audit() -> None:
    """Read and verify a site's audit log."""


@audit.command()
@FILE
@click.option("--expect", "expect_hash", metavar="HASH",
              help="a hash recorded elsewhere (e.g. a release's audit_head at the hub) that "
                   "must be in the chain; catches entries cut from the end")
def verify(path: Path, expect_hash: str | None) -> None:
    """Check the hash chain; exit 1 and name the lines if it is broken."""
    from behindglass.governance.audit import verify as verify_chain

    report = verify_chain(path, expect_hash=expect_hash)
    click.echo(str(report))
    if not report.ok:
        sys.exit(1)


@audit.command()
@FILE
@click.option("--event", help="only entries of this event (e.g. release)")
@click.option("--tail", type=click.IntRange(min=1), help="only the last N entries")
@click.option("--json", "as_json", is_flag=True, help="one JSON entry per line")
def show(path: Path, event: str | None, tail: int | None, as_json: bool) -> None:
    """Print the entries of an audit log."""
    from behindglass.governance.audit import read_entries

    entries = [e for _, e in read_entries(path) if event is None or e.get("event") == event]
    if tail:
        entries = entries[-tail:]
    for entry in entries:
        if as_json:
            click.echo(json.dumps(entry, ensure_ascii=False))
            continue
        data = entry.get("data", {})
        brief = " ".join(f"{k}={_brief(v)}" for k, v in data.items() if v not in (None, []))
        click.echo(f"{entry.get('seq'):>5}  {entry.get('time', '')[:19]}  "
                   f"{entry.get('event', ''):<22} {brief}")


def _brief(value: object) -> str:
    if isinstance(value, str):
        return value if len(value) <= 20 or " " in value else value[:16] + "…"
    if isinstance(value, list):
        return f"[{len(value)}]"
    if isinstance(value, dict):
        return "{…}"
    return str(value)
