"""``behindglass site``: run a site's agent."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import click

from behindglass.cli.ledger_cmd import ledger, unlock
from behindglass.cli.steward_cmd import register as register_steward_commands

if TYPE_CHECKING:
    from behindglass.core.policy import SitePolicy
    from behindglass.site.hublink import HubLink


@click.group()
def site() -> None:
    """Run a site agent."""


@site.command()
@click.option("--db", "db_path", envvar="BEHINDGLASS_SITE_DB",
              help="the site's OMOP store: a DuckDB file, or postgresql://USER@HOST/DB"
                   "?schema=cdm (or env BEHINDGLASS_SITE_DB; the password from PGPASSWORD or "
                   "~/.pgpass keeps it out of the process list)")
@click.option("--db-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="read the store (path or URL) from this file (keep it mode 600)")
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
@click.option("--home", "home", envvar="BEHINDGLASS_SITE_HOME",
              type=click.Path(file_okay=False, path_type=Path),
              help="the site's home from 'behindglass site init' (policy, approvals, ledgers, "
                   "audit); without it the site runs with --min-cell only, approves every "
                   "study and keeps no differencing ledger (development only)")
@click.option("--ca", "ca_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="the network's CA certificate to trust for an https hub (default: "
                   "HOME/ca.crt if it exists, else the system's trust store)")
@click.option("--client-cert", nargs=2, metavar="CERT KEY",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="certificate and key this site presents to a hub that requires mutual "
                   "TLS (default: HOME/keys/tls.crt and tls.key if they exist)")
@click.option("--min-cell", type=click.IntRange(min=1),
              help="without --home: smallest person count the site releases (default 11); "
                   "with --home the policy file decides")
@click.option("--wait", "poll_wait", default=25.0, show_default=True,
              type=click.FloatRange(min=0, max=120),
              help="seconds each long-poll asks the hub to wait for a task")
@click.option("--once", is_flag=True,
              help="handle at most one task (waiting up to --wait seconds), then exit")
@click.option("--require-dq", "require_dq", type=click.FloatRange(0, 100),
              help="run the data-quality checks before joining, and do not start unless at "
                   "least this percent of them pass (DQD's percent passed)")
@click.option("--threads", type=click.IntRange(min=1),
              help="worker threads of the DuckDB engine and of the numeric library's "
                   "matrix products (default: all cores); 1 when several agents share one "
                   "machine, as threads of different processes spinning on the same cores "
                   "slow each other down")
@click.option("--memo-minutes", default=15.0, show_default=True,
              type=click.FloatRange(min=0),
              help="keep the last study populations built here in memory this long, so a "
                   "refit of the same population starts at once (0: never keep them)")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
def serve(db_path: str | None, db_file: Path | None, hub_url: str, name: str,
          token: str | None, token_file: Path | None, audit_path: Path | None,
          home: Path | None, ca_file: Path | None, client_cert: tuple[Path, Path] | None,
          min_cell: int | None, poll_wait: float, once: bool,
          require_dq: float | None, threads: int | None, memo_minutes: float,
          log_level: str) -> None:
    """Take tasks from the hub and release what this site's policy allows.

    Opens outbound connections only; nothing listens at the site.
    """
    if db_file is not None:
        db_path = db_file.read_text(encoding="utf-8").strip()
    if not db_path:
        raise click.UsageError("give the site's store: --db PATH|URL, env BEHINDGLASS_SITE_DB, "
                               "or --db-file FILE")
    if token_file is not None:
        token = token_file.read_text(encoding="utf-8").strip()
    if not token:
        raise click.UsageError("give the site's token: --token-file FILE, "
                               "env BEHINDGLASS_SITE_TOKEN, or --token")
    from behindglass.core.errors import AuditError, PolicyError
    from behindglass.core.policy import DEFAULT_MIN_CELL, DisclosurePolicy
    from behindglass.site.agent import SiteAgent

    logging.basicConfig(level=log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per poll is noise
    if threads is not None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads, user_api="blas")
    from behindglass.site.memo import PopulationMemo
    quality = None if require_dq is None else _quality_before_joining(db_path, require_dq)
    if home is not None and min_cell is not None:
        raise click.UsageError("--min-cell is for a site without --home; with --home, set "
                               "disclosure.min_cell in its policy.toml")
    policy = DisclosurePolicy(min_cell=min_cell or DEFAULT_MIN_CELL)
    link = _hub_link(hub_url, token, home, ca_file, client_cert)
    try:
        agent = SiteAgent(hub_url=hub_url, name=name, token=token, db_path=db_path,
                          policy=policy, audit_path=audit_path, home=home, link=link,
                          poll_wait=poll_wait, quality=quality, threads=threads,
                          memo=PopulationMemo(ttl=memo_minutes * 60))
    except (PolicyError, AuditError) as exc:
        raise click.ClickException(str(exc)) from None
    problems = policy_problems(agent.site_policy)
    if problems:
        agent.close()
        raise click.ClickException(f"{home}/policy.toml: " + "; ".join(problems))
    agent.install_signal_handlers()
    try:
        agent.run(once=once)
    finally:
        agent.close()


def _hub_link(hub_url: str, token: str, home: Path | None, ca_file: Path | None,
              client_cert: tuple[Path, Path] | None) -> HubLink:
    """The connection to the hub, with the network's CA and the site's client certificate
    from its home unless given."""
    from behindglass.site.home import SiteHome
    from behindglass.site.hublink import HubLink

    if home is not None:
        site_home = SiteHome(home)
        if ca_file is None and hub_url.startswith("https://"):
            ca_file = site_home.existing(site_home.ca_path)
        cert, key = site_home.client_cert
        if client_cert is None and cert.is_file() and key.is_file():
            client_cert = (cert, key)
    return HubLink(hub_url, token, ca_file=ca_file, client_cert=client_cert)


def policy_problems(policy: SitePolicy) -> list[str]:
    """Kinds the policy names that the installed catalog does not have (misspelt ones)."""
    from behindglass.analyses.catalog import CATALOG
    from behindglass.privacy.allowed import validate_against_catalog

    return validate_against_catalog(policy, CATALOG)


@site.command()
@click.argument("home", type=click.Path(file_okay=False, path_type=Path))
def init(home: Path) -> None:
    """Create a site's home: a policy file to edit, and the keys and stores it needs.

    Keeps anything that already exists. Then edit HOME/policy.toml and start the agent with
    'behindglass site serve --home HOME ...'.
    """
    from behindglass.site.home import SiteHome
    from behindglass.site.policy_file import load_policy, policy_template

    made = SiteHome.init(home, policy_template())
    load_policy(made.policy_path)  # an edited policy that no longer loads fails here
    click.echo(f"site home ready in {made.root}")
    click.echo(f"  policy: {made.policy_path} (edit it; see docs/policy.md)")
    click.echo(f"  audit log: {made.audit_path}")
    click.echo(f"  approvals: behindglass site requests --home {made.root}")


register_steward_commands(site)
site.add_command(ledger)
site.add_command(unlock)


def _quality_before_joining(db: str, minimum: float) -> dict[str, object]:
    """The store's data-quality summary; a ClickException when it is below ``minimum``."""
    from behindglass.engine.site_store import SiteStore

    with SiteStore.open(db) as store:
        summary = store.data_quality().summary()
    pct = summary["pct_passed"]
    click.echo(f"data quality: {pct}% of checks passed ({summary['passed']} passed, "
               f"{summary['failed']} failed, {summary['not_applicable']} not applicable)",
               err=True)
    if pct is None or pct < minimum:
        raise click.ClickException(
            f"the store's data quality ({pct}% of checks passed) is below the required "
            f"{minimum:g}%; see `behindglass dq {db if '://' not in db else 'URL'}`")
    return {k: summary[k] for k in ("checks", "passed", "failed", "not_applicable",
                                    "errors", "pct_passed")}
