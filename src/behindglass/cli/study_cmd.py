"""``behindglass study``: submit studies to a hub and read their status and results."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

_HUB = click.option("--hub", "hub_url", envvar="BEHINDGLASS_HUB", default="http://127.0.0.1:8700",
                    show_default=True, help="hub URL (or env BEHINDGLASS_HUB)")
_TOKEN = click.option("--token", envvar="BEHINDGLASS_TOKEN", required=True,
                      help="your researcher token (or env BEHINDGLASS_TOKEN)")
_JSON = click.option("--json", "as_json", is_flag=True, help="print the hub's JSON")


def _hub_options(f: Callable[..., Any]) -> Callable[..., Any]:
    return _HUB(_TOKEN(f))


def _connect(hub_url: str, token: str) -> Any:
    from behindglass.client.network import connect

    return connect(hub_url, token)


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


@study.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_hub_options
@click.option("--wait", is_flag=True, help="wait for every site, then print the results")
@click.option("--timeout", default=600.0, show_default=True, type=float,
              help="seconds to wait with --wait")
@_JSON
def submit(path: Path, hub_url: str, token: str, wait: bool, timeout: float,
           as_json: bool) -> None:
    """Submit the study in PATH (see docs/study-format.md)."""
    from behindglass.core.study import StudySpec

    spec = StudySpec.from_file(path)
    with _connect(hub_url, token) as net:
        handle = net.submit(spec)
        if not wait:
            status = handle.status()
            if as_json:
                _echo_json(status.model_dump(mode="json"))
            else:
                _echo_status(status)
            return
        handle.wait(timeout=timeout, progress=not as_json)
        result = handle.results()
        if as_json:
            _echo_json(result.to_dict())
        else:
            click.echo(result.summary())


@study.command()
@click.argument("study_id")
@_hub_options
@_JSON
def status(study_id: str, hub_url: str, token: str, as_json: bool) -> None:
    """Show a study's per-site state."""
    with _connect(hub_url, token) as net:
        st = net.get(study_id).status()
    if as_json:
        _echo_json(st.model_dump(mode="json"))
    else:
        _echo_status(st)


@study.command()
@click.argument("study_id")
@_hub_options
@_JSON
def results(study_id: str, hub_url: str, token: str, as_json: bool) -> None:
    """Show a study's results: pooled and per-site tables, suppressed cells as such."""
    with _connect(hub_url, token) as net:
        result = net.get(study_id).results()
    if as_json:
        _echo_json(result.to_dict())
    else:
        click.echo(result.summary())


@study.command("list")
@_hub_options
@_JSON
def list_studies(hub_url: str, token: str, as_json: bool) -> None:
    """List your studies at the hub."""
    with _connect(hub_url, token) as net:
        studies = net.studies()
    if as_json:
        _echo_json([s.model_dump(mode="json") for s in studies])
        return
    if not studies:
        click.echo("no studies yet")
    for s in studies:
        done = sum(t.state in ("released", "refused", "failed") for t in s.tasks)
        click.echo(f"{s.study_id}  [{s.state}] {done}/{len(s.tasks)} sites  {s.title}")
