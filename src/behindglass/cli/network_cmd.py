"""``behindglass network``: create a network's identities (CA, TLS certificates, signing keys,
signed roster) and inspect its roster."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import click


def _steward(value: str) -> tuple[str, str]:
    site, sep, name = value.partition(":")
    if not sep or not site or not name:
        raise click.BadParameter(f"{value!r}: write a steward as SITE:NAME",
                                 param_hint="--steward")
    return site, name


@click.group()
def network() -> None:
    """Create and inspect a network's keys, certificates and roster."""


@network.command()
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--hub", "hub_host", required=True, metavar="HOST",
              help="host name or IP address sites and researchers reach the hub at")
@click.option("--alt-name", "alt_names", multiple=True, metavar="HOST",
              help="another name or address for the hub's certificate (repeatable)")
@click.option("--site", "sites", multiple=True, metavar="NAME", help="a site (repeatable)")
@click.option("--researcher", "researchers", multiple=True, metavar="NAME",
              help="a researcher (repeatable)")
@click.option("--steward", "stewards", multiple=True, metavar="SITE:NAME",
              help="a data steward of a site (repeatable)")
@click.option("--days", default=365, show_default=True, type=click.IntRange(min=1),
              help="days the CA and the certificates are valid")
@click.option("--force", is_flag=True,
              help="replace an existing network directory (all its keys are discarded)")
def init(out: Path, hub_host: str, alt_names: tuple[str, ...], sites: tuple[str, ...],
         researchers: tuple[str, ...], stewards: tuple[str, ...], days: int,
         force: bool) -> None:
    """Create a CA, TLS certificates, signing keys and the signed roster in OUT."""
    from behindglass.governance.identity import init_network

    made = init_network(out, hub_host=hub_host, sites=sites, researchers=researchers,
                        stewards=[_steward(s) for s in stewards], days=days,
                        alt_names=alt_names, force=force)
    by_holder: dict[str, list[str]] = defaultdict(list)
    for f in made.files:
        mark = "  (secret, mode 0600)" if f.secret else ""
        by_holder[f.holder].append(f"    {f.path}  {f.what}{mark}")
    click.echo(f"network for hub {hub_host} created in {made.out}")
    click.echo(f"CA fingerprint (sha256) {made.roster.ca_fingerprint}")
    click.echo(f"{len(made.roster.members)} members in network.json, signed by the hub key "
               f"{made.roster.member('hub', 'hub').key_id}")
    click.echo("Give each holder only their own files, over a channel you trust:")
    for holder, lines in by_holder.items():
        click.echo(f"  {holder}:")
        for line in lines:
            click.echo(line)


@network.command()
@click.argument("roster", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--hub-key", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="the hub's public signing key (hub.pub) to check the roster against")
def show(roster: Path, hub_key: Path) -> None:
    """Verify a network.json and list its members."""
    from behindglass.core.signing import VerifyKey
    from behindglass.governance.identity import load_roster

    loaded = load_roster(roster, VerifyKey.load(hub_key))
    click.echo(f"{roster}: signature OK; hub {loaded.hub_host}, created {loaded.created}")
    for m in loaded.members:
        where = f" of {m.site}" if m.site else ""
        click.echo(f"  {m.role:<10} {m.name + where:<32} key {m.key_id}")
