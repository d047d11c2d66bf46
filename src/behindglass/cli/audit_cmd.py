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
@click.option("--key", "key_path", metavar="PUB.pem",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="the site's public signing key (signing.pub): every entry must be "
                   "signed by it")
def verify(path: Path, expect_hash: str | None, key_path: Path | None) -> None:
    """Check the hash chain (and, with --key, every signature); exit 1 and name the lines
    if anything is wrong."""
    from behindglass.core.signing import VerifyKey
    from behindglass.governance.audit import verify as verify_chain

    key = VerifyKey.load(key_path) if key_path is not None else None
    report = verify_chain(path, expect_hash=expect_hash, key=key)
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
