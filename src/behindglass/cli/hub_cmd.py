"""``behindglass hub``: run the hub and register who may talk to it."""

from __future__ import annotations

import logging
from pathlib import Path

import click

STATE = click.option("--state", "state_dir", required=True, envvar="BEHINDGLASS_HUB_STATE",
                     type=click.Path(file_okay=False, path_type=Path),
                     help="directory holding the hub's state (created if missing)")


@click.group()
def hub() -> None:
    """Run and administer the network hub."""


@hub.command()
@STATE
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", default=8700, show_default=True, type=int)
@click.option("--lease", default=600.0, show_default=True, type=float,
              help="seconds a site may hold a task before it is offered again")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
def serve(state_dir: Path, host: str, port: int, lease: float, log_level: str) -> None:
    """Serve the hub's HTTP API (docs at /docs)."""
    from behindglass.hub.server import serve as serve_hub

    logging.basicConfig(level=log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    click.echo(f"hub state in {state_dir.resolve()}; API docs at http://{host}:{port}/docs",
               err=True)
    serve_hub(state_dir, host=host, port=port, lease_seconds=lease, log_level=log_level)


def _add(state_dir: Path, name: str, role: str) -> None:
    from behindglass.hub.state import HubState

    state = HubState(state_dir)
    try:
        token = state.add_principal(name, role)  # type: ignore[arg-type]
    except ValueError as exc:  # StateError is a BehindGlassError; bad names are ValueError
        raise click.BadParameter(str(exc), param_hint="NAME") from None
    finally:
        state.close()
    click.echo(f"{role} {name!r} registered. Its token (shown only this once; the hub "
               "keeps only a hash):", err=True)
    click.echo(token)


@hub.command("add-site")
@click.argument("name")
@STATE
def add_site(name: str, state_dir: Path) -> None:
    """Register a site and print its token once."""
    _add(state_dir, name, "site")


@hub.command("add-researcher")
@click.argument("name")
@STATE
def add_researcher(name: str, state_dir: Path) -> None:
    """Register a researcher and print their token once."""
    _add(state_dir, name, "researcher")


@hub.command("list")
@STATE
def list_principals(state_dir: Path) -> None:
    """List registered sites and researchers (tokens are never shown again)."""
    from behindglass.hub.state import HubState

    state = HubState(state_dir)
    try:
        rows = state.principals()
    finally:
        state.close()
    if not rows:
        click.echo("no sites or researchers registered yet")
        return
    for row in rows:
        seen = f"  last seen {row['last_seen']}" if row.get("last_seen") else ""
        click.echo(f"{row['role']:<10}  {row['name']:<24}  registered {row['created']}{seen}")
