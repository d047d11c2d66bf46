"""``behindglass site``: run a site's agent."""

from __future__ import annotations

import logging
from pathlib import Path

import click


@click.group()
def site() -> None:
    """Run a site agent."""


@site.command()
@click.option("--db", "db_path", required=True, envvar="BEHINDGLASS_SITE_DB",
              help="the site's OMOP store: a DuckDB file, or postgresql://USER@HOST/DB"
                   "?schema=cdm (or env BEHINDGLASS_SITE_DB; the password from PGPASSWORD or "
                   "~/.pgpass keeps it out of the process list)")
@click.option("--hub", "hub_url", required=True, envvar="BEHINDGLASS_HUB",
              help="hub URL, e.g. https://hub.example.org")
@click.option("--name", required=True, help="this site's name at the hub")
@click.option("--token", envvar="BEHINDGLASS_SITE_TOKEN",
              help="this site's token (or env BEHINDGLASS_SITE_TOKEN, which keeps it out "
                   "of the process list)")
@click.option("--token-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="read the token from this file (keep it mode 600)")
@click.option("--audit", "audit_path", type=click.Path(dir_okay=False, path_type=Path),
              help="append-only audit log of every request, decision and release")
@click.option("--min-cell", default=11, show_default=True, type=click.IntRange(min=1),
              help="smallest person count the site releases; smaller ones are suppressed")
@click.option("--wait", "poll_wait", default=25.0, show_default=True,
              type=click.FloatRange(min=0, max=120),
              help="seconds each long-poll asks the hub to wait for a task")
@click.option("--once", is_flag=True,
              help="handle at most one task (waiting up to --wait seconds), then exit")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
def serve(db_path: str, hub_url: str, name: str, token: str | None, token_file: Path | None,
          audit_path: Path | None, min_cell: int, poll_wait: float, once: bool,
          log_level: str) -> None:
    """Take tasks from the hub and release what this site's policy allows.

    Opens outbound connections only; nothing listens at the site.
    """
    if token_file is not None:
        token = token_file.read_text(encoding="utf-8").strip()
    if not token:
        raise click.UsageError("give the site's token: --token-file FILE, "
                               "env BEHINDGLASS_SITE_TOKEN, or --token")
    from behindglass.core.policy import DisclosurePolicy
    from behindglass.site.agent import SiteAgent

    logging.basicConfig(level=log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per poll is noise
    agent = SiteAgent(hub_url=hub_url, name=name, token=token, db_path=db_path,
                      policy=DisclosurePolicy(min_cell=min_cell), audit_path=audit_path,
                      poll_wait=poll_wait)
    agent.install_signal_handlers()
    try:
        agent.run(once=once)
    finally:
        agent.close()
