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
@click.option("--tls-cert", type=click.Path(dir_okay=False, path_type=Path),
              help="serve HTTPS with this certificate (network init: OUT/hub/tls.crt)")
@click.option("--tls-key", type=click.Path(dir_okay=False, path_type=Path),
              help="the certificate's private key (OUT/hub/tls.key)")
@click.option("--tls-ca", type=click.Path(dir_okay=False, path_type=Path),
              help="CA certificate that client certificates must chain to (OUT/hub/ca.crt)")
@click.option("--mtls", is_flag=True,
              help="mutual TLS: refuse any client without a certificate from --tls-ca")
@click.option("--read-limit", default="20/s:100", show_default=True,
              help="reads per researcher/viewer/admin: RATE/UNIT:BURST (units s, min, h)")
@click.option("--write-limit", default="30/min:10", show_default=True,
              help="writes (study submissions, sharing) per principal: RATE/UNIT:BURST")
@click.option("--no-rate-limit", is_flag=True, help="serve without rate limits")
@click.option("--roster", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="the network's signed roster (network init: OUT/hub/network.json): with it "
                   "every study, task and release is signed and checked")
@click.option("--signing-key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="the hub's Ed25519 key (OUT/hub/signing.key); it must have signed --roster")
def serve(state_dir: Path, host: str, port: int, lease: float, log_level: str,
          tls_cert: Path | None, tls_key: Path | None, tls_ca: Path | None,
          mtls: bool, read_limit: str, write_limit: str, no_rate_limit: bool,
          roster: Path | None, signing_key: Path | None) -> None:
    """Serve the hub's HTTP API (docs at /docs)."""
    from behindglass.core.errors import BehindGlassError
    from behindglass.hub.ratelimit import Rate, RateLimits
    from behindglass.hub.server import TLSFiles
    from behindglass.hub.server import serve as serve_hub
    from behindglass.hub.signatures import HubSigning

    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("give --tls-cert and --tls-key together")
    if tls_cert is None and (tls_ca is not None or mtls):
        raise click.UsageError("--tls-ca and --mtls need --tls-cert and --tls-key")
    tls = (TLSFiles(tls_cert, tls_key, tls_ca, require_client_cert=mtls)  # type: ignore[arg-type]
           if tls_cert is not None else None)
    if (roster is None) != (signing_key is None):
        raise click.UsageError("give --roster and --signing-key together")
    signing = None
    if roster is not None:
        try:
            signing = HubSigning.load(roster, signing_key)  # type: ignore[arg-type]
        except BehindGlassError as exc:
            raise click.ClickException(str(exc)) from None
    logging.basicConfig(level=log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    scheme = "https" if tls else "http"
    click.echo(f"hub state in {state_dir.resolve()}; API docs at {scheme}://{host}:{port}/docs"
               + ("; mutual TLS: clients need a network certificate" if mtls else ""), err=True)
    if signing is None:
        click.echo("WARNING: DEVELOPMENT MODE: no --roster, so studies, tasks and releases "
                   "are NOT signed or checked. Never run a real network like this.", err=True)
    else:
        click.echo(f"signed network: roster {roster} ({len(signing.roster.members)} members); "
                   "unsigned, altered or replayed messages are refused", err=True)
    try:
        limits = RateLimits(reads=Rate.parse(read_limit), writes=Rate.parse(write_limit),
                            enabled=not no_rate_limit)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--read-limit/--write-limit") from None
    serve_hub(state_dir, host=host, port=port, lease_seconds=lease, log_level=log_level,
              tls=tls, rate_limits=limits, signing=signing)


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


@hub.command("add-viewer")
@click.argument("name")
@STATE
def add_viewer(name: str, state_dir: Path) -> None:
    """Register a viewer (reads only studies shared with them) and print their token once."""
    _add(state_dir, name, "viewer")


@hub.command("add-admin")
@click.argument("name")
@STATE
def add_admin(name: str, state_dir: Path) -> None:
    """Register a network admin (manages principals, sees progress, never results)."""
    _add(state_dir, name, "admin")


@hub.command("revoke")
@click.argument("name")
@click.option("--role", required=True,
              type=click.Choice(["site", "researcher", "viewer", "admin"]))
@STATE
def revoke(name: str, role: str, state_dir: Path) -> None:
    """Revoke a principal's token: it stops working on its next request."""
    from behindglass.hub.state import HubState, StateError

    state = HubState(state_dir)
    try:
        state.revoke_principal(name, role, by="hub-cli")  # type: ignore[arg-type]
    except StateError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        state.close()
    click.echo(f"{role} {name!r} revoked")


@hub.command("list")
@STATE
def list_principals(state_dir: Path) -> None:
    """List registered sites and researchers (tokens are never shown again)."""
    from behindglass.hub.state import HubState

    state = HubState(state_dir)
    try:
        rows = state.principal_list()
    finally:
        state.close()
    if not rows:
        click.echo("no sites or researchers registered yet")
        return
    for row in rows:
        seen = f"  last seen {row['last_seen']}" if row.get("last_seen") else ""
        seen += f"  REVOKED {row['revoked']}" if row.get("revoked") else ""
        click.echo(f"{row['role']:<10}  {row['name']:<24}  registered {row['created']}{seen}")
