"""``behindglass study``: submit studies to a hub and read their status and results."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

_HUB = click.option("--hub", "hub_url", envvar="BEHINDGLASS_HUB", default="http://127.0.0.1:8700",
                    show_default=True, help="hub URL (or env BEHINDGLASS_HUB)")
_TOKEN = click.option("--token", envvar="BEHINDGLASS_TOKEN", required=True,
                      help="your researcher token (or env BEHINDGLASS_TOKEN)")
_JSON = click.option("--json", "as_json", is_flag=True, help="print the hub's JSON")


_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
_SIGNING = (
    click.option("--signing-key", type=_FILE, envvar="BEHINDGLASS_SIGNING_KEY",
                 help="your Ed25519 key (network init: researchers/NAME/keys/signing.key): "
                      "sign the studies you submit, as a signed hub requires"),
    click.option("--roster", type=_FILE, envvar="BEHINDGLASS_ROSTER",
                 help="the network's roster (researchers/NAME/network.json): check every "
                      "site's signature on results, and find your name by your key"),
    click.option("--hub-key", type=_FILE, envvar="BEHINDGLASS_HUB_KEY",
                 help="the hub's public key that signed --roster (researchers/NAME/hub.pub)"),
    click.option("--name", "as_name", help="your researcher name (default: from --roster)"),
    click.option("--encryption-key", type=_FILE, envvar="BEHINDGLASS_ENCRYPTION_KEY",
                 help="your X25519 key (researchers/NAME/keys/encryption.key): open the "
                      "results of a study whose sites sealed them to you"),
)


@dataclass(frozen=True)
class _Hub:
    """How to reach the hub and, on a signed network, how to sign and check."""

    url: str
    token: str
    signing_key: Path | None = None
    roster: Path | None = None
    hub_key: Path | None = None
    name: str | None = None
    encryption_key: Path | None = None

    def connect(self) -> Any:
        from behindglass.client.network import connect
        from behindglass.core.errors import BehindGlassError
        from behindglass.core.sealing import EncryptionKey
        from behindglass.core.signing import SigningKey, VerifyKey
        from behindglass.governance.identity import load_roster

        if (self.roster is None) != (self.hub_key is None):
            raise click.UsageError("give --roster and --hub-key together")
        try:
            roster = (None if self.roster is None
                      else load_roster(self.roster, VerifyKey.load(self.hub_key)))  # type: ignore[arg-type]
            key = None if self.signing_key is None else SigningKey.load(self.signing_key)
            sealed = (None if self.encryption_key is None
                      else EncryptionKey.load(self.encryption_key))
            return connect(self.url, self.token, signing_key=key, name=self.name,
                           roster=roster, encryption_key=sealed)
        except BehindGlassError as exc:
            raise click.ClickException(str(exc)) from None


def _hub_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--hub, --token and the signing options, handed to the command as ``hub: _Hub``."""

    @functools.wraps(f)
    def command(*, hub_url: str, token: str, signing_key: Path | None, roster: Path | None,
                hub_key: Path | None, as_name: str | None, encryption_key: Path | None,
                **kwargs: Any) -> Any:
        return f(hub=_Hub(hub_url, token, signing_key, roster, hub_key, as_name,
                          encryption_key), **kwargs)

    for option in reversed(_SIGNING):
        command = option(command)
    return _HUB(_TOKEN(command))


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _echo_status(status: Any) -> None:
    click.echo(f"{status.study_id}  {status.title}  [{status.state}]")
    for t in status.tasks:
        detail = f"  ({t.detail})" if t.detail else ""
        click.echo(f"  {t.site:<20} {t.state}{detail}")


@click.group()
def study() -> None:
    """Submit studies and read their results."""


def _parse_sites(value: str) -> dict[str, str]:
    sites: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        name, sep, target = item.partition("=")
        if not sep or not name or not target:
            raise click.BadParameter(f"{item!r}: give NAME=DB (a DuckDB file or a "
                                     "postgresql:// URL)", param_hint="--sites")
        if name in sites:
            raise click.BadParameter(f"site {name!r} is given twice", param_hint="--sites")
        sites[name] = target
    if not sites:
        raise click.BadParameter("give at least one NAME=DB", param_hint="--sites")
    return sites


@study.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--sites", "sites_arg", required=True,
              help="NAME=DB,NAME=DB,...: each site's store (a DuckDB file, or a "
                   "postgresql://USER@HOST/DB?schema=cdm URL)")
@click.option("--min-cell", default=11, show_default=True, type=click.IntRange(min=1),
              help="every site's minimum cell size")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path),
              help="keep the hub state, logs and site audit logs here (default: a temporary "
                   "directory, removed afterwards)")
@click.option("--timeout", default=600.0, show_default=True, type=float,
              help="seconds to wait for every site")
@_JSON
def run(path: Path, sites_arg: str, min_cell: int, workdir: Path | None, timeout: float,
        as_json: bool) -> None:
    """Run the study in PATH on a local network: a real hub and one site agent per store,
    on loopback, started for the run and stopped after it."""
    import tempfile

    from behindglass.client.local_network import LocalNetwork
    from behindglass.core.study import StudySpec

    spec = StudySpec.from_file(path)
    sites = _parse_sites(sites_arg)
    with tempfile.TemporaryDirectory(prefix="behindglass-run-") as tmp:
        where = workdir or Path(tmp)
        local = LocalNetwork(sites, workdir=where, min_cell=min_cell, poll_wait=5.0)
        with local, local.connect() as net:
            _wait_and_echo(net.submit(spec), timeout, as_json)


def _wait_and_echo(handle: Any, timeout: float, as_json: bool) -> None:
    handle.wait(timeout=timeout, progress=not as_json)
    result = handle.results()
    if as_json:
        _echo_json(result.to_dict())
    else:
        click.echo(result.summary())


@study.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_hub_options
@click.option("--wait", is_flag=True, help="wait for every site, then print the results")
@click.option("--timeout", default=600.0, show_default=True, type=float,
              help="seconds to wait with --wait")
@_JSON
def submit(path: Path, hub: _Hub, wait: bool, timeout: float, as_json: bool) -> None:
    """Submit the study in PATH (see docs/study-format.md)."""
    from behindglass.core.study import StudySpec

    spec = StudySpec.from_file(path)
    with hub.connect() as net:
        handle = net.submit(spec)
        if not wait:
            status = handle.status()
            if as_json:
                _echo_json(status.model_dump(mode="json"))
            else:
                _echo_status(status)
            return
        _wait_and_echo(handle, timeout, as_json)


@study.command()
@click.argument("study_id")
@_hub_options
@_JSON
def status(study_id: str, hub: _Hub, as_json: bool) -> None:
    """Show a study's per-site state."""
    with hub.connect() as net:
        st = net.get(study_id).status()
    if as_json:
        _echo_json(st.model_dump(mode="json"))
    else:
        _echo_status(st)


@study.command()
@click.argument("study_id")
@_hub_options
@_JSON
def results(study_id: str, hub: _Hub, as_json: bool) -> None:
    """Show a study's results: pooled and per-site tables, suppressed cells as such."""
    with hub.connect() as net:
        result = net.get(study_id).results()
    if as_json:
        _echo_json(result.to_dict())
    else:
        click.echo(result.summary())


@study.command("list")
@_hub_options
@_JSON
def list_studies(hub: _Hub, as_json: bool) -> None:
    """List your studies at the hub."""
    with hub.connect() as net:
        studies = net.studies()
    if as_json:
        _echo_json([s.model_dump(mode="json") for s in studies])
        return
    if not studies:
        click.echo("no studies yet")
    for s in studies:
        done = sum(t.state in ("released", "refused", "failed") for t in s.tasks)
        click.echo(f"{s.study_id}  [{s.state}] {done}/{len(s.tasks)} sites  {s.title}")
