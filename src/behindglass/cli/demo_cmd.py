"""``behindglass demo``: a whole network on this machine, end to end, in about a minute.

Generates one synthetic site per built-in profile, loads each into its own OMOP store,
starts a hub and one site agent per site as separate processes on loopback, submits a
characterization study as a researcher, prints per-site and pooled tables, and writes
``results.json`` and a self-contained ``report.html``.
"""

from __future__ import annotations

import shutil
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from behindglass.analyses.requests import Characterize
from behindglass.client.local_network import LocalNetwork
from behindglass.core.cohort import Cohort
from behindglass.omop.loader import load_omop
from behindglass.synth import PROFILES, generate_site
from behindglass.web.report import write_json, write_report

T2D = 201826


def prepare_site(profile: str, persons: int, seed: int, site_dir: Path) -> tuple[str, float]:
    """Generate and load one site; runs in a worker process."""
    start = time.perf_counter()
    generate_site(profile, persons, seed, site_dir / "omop", progress=False)
    load_omop(site_dir / "omop", site_dir / "cdm.duckdb", progress=False)
    return profile, time.perf_counter() - start


def _fmt(value: Any) -> str:
    if value == "suppressed":
        return "[italic dark_orange]suppressed[/]"
    if value is None:
        return "[dim]-[/]"
    return f"{value:,}"


def print_combined(console: Console, name: str, combined: dict[str, Any]) -> None:
    sites = combined["sites"]
    for tname, table in combined["tables"].items():
        grid = Table(title=f"{name} · {tname}", title_justify="left", show_lines=False)
        grid.add_column(", ".join(table["dims"]) or "persons")
        for site in sites:
            grid.add_column(site, justify="right")
        grid.add_column("pooled", justify="right", style="bold")
        for row in table["rows"][:12]:
            key = " / ".join(row["key"]) or "all"
            label = table["labels"].get(key)
            pooled = row["pooled"]
            pooled_txt = "suppressed" if pooled is None else (
                f"{pooled:,}" if row["complete"] else f"≥ {pooled:,}")
            grid.add_row(f"{label} ({key})" if label else key,
                         *(_fmt(row["sites"].get(s)) for s in sites), pooled_txt)
        console.print(grid)


def build_study(net: Any) -> Any:
    study = net.study(
        "Who is in the network: population and type 2 diabetes",
        cohorts={"everyone": Cohort.everyone(),
                 "t2d": Cohort.condition(T2D).age_between(18, None)},
    )
    study.add(Characterize("everyone", name="Population", top_n=10))
    study.add(Characterize("t2d", name="Type 2 diabetes", by=["sex", "age_band", "race"],
                           top_n=10))
    return study


@click.command("demo")
@click.option("--sites", "n_sites", default=3, show_default=True,
              type=click.IntRange(1, len(PROFILES)), help="number of sites (one per profile)")
@click.option("--persons", default=20_000, show_default=True, type=click.IntRange(100),
              help="persons per site")
@click.option("--out", default="demo-output", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="output folder")
@click.option("--seed", default=2026, show_default=True, type=int)
@click.option("--min-cell", default=11, show_default=True, type=click.IntRange(1),
              help="sites suppress any count below this")
def demo(n_sites: int, persons: int, out: Path, seed: int, min_cell: int) -> None:
    """Run a hub and site agents on this machine and a characterization study across them."""
    console = Console()
    started = time.perf_counter()
    profiles = list(PROFILES)[:n_sites]
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("sites", "hub", "logs"):
        shutil.rmtree(out / stale, ignore_errors=True)
    console.rule("[bold]behindglass demo")
    console.print(f"{n_sites} site(s) × {persons:,} persons: {', '.join(profiles)}")
    timings: dict[str, float] = {}
    with console.status("generating and loading synthetic sites…"), \
            ProcessPoolExecutor(max_workers=min(n_sites, 2)) as pool:
        futures = [pool.submit(prepare_site, p, persons, seed + i, out / "sites" / p)
                   for i, p in enumerate(profiles)]
        for future in as_completed(futures):
            profile, seconds = future.result()
            timings[profile] = seconds
            console.print(f"  site [bold]{profile}[/]: generated and loaded in {seconds:.1f} s")
    sites = {p: out / "sites" / p / "cdm.duckdb" for p in profiles}
    with LocalNetwork(sites, workdir=out, min_cell=min_cell) as network:
        console.print(f"hub on {network.url}; {len(sites)} site agent(s) polling it (outbound)")
        net = network.connect()
        study = build_study(net)
        run_start = time.perf_counter()
        result = study.run(timeout=300, progress=True)
        round_trip = time.perf_counter() - run_start
    data = result.to_dict()
    for name, combined in data["combined"].items():
        print_combined(console, name, combined)
    for release in data["releases"]:
        for refusal in release.get("refusals", []):
            console.print(f"[dark_orange]{release['site']} refused {refusal['analysis']}: "
                          f"{refusal['reason']}")
    total = time.perf_counter() - started
    data["demo"] = {"sites": profiles, "persons_per_site": persons, "seed": seed,
                    "min_cell": min_cell, "prepare_seconds": timings,
                    "study_seconds": round(round_trip, 3), "total_seconds": round(total, 3)}
    write_json(data, out / "results.json")
    extra = ("<p class=\"meta\">Demo network: " + ", ".join(profiles) +
             f"; {persons:,} synthetic persons per site; minimum cell {min_cell}; "
             f"study round trip {round_trip:.1f} s; whole demo {total:.1f} s.</p>")
    write_report(data, out / "report.html", extra=extra)
    console.rule()
    console.print(f"results: {out / 'results.json'}\nreport:  {out / 'report.html'}\n"
                  f"audit logs: {out / 'sites'}/*/audit/audit.jsonl  (verify: behindglass audit "
                  f"verify FILE)\nfinished in {total:.1f} s")
