"""The ``behindglass`` command. Subcommands live in their own modules and load lazily,
so ``behindglass --help`` stays fast and one broken subcommand cannot break the others."""

from __future__ import annotations

import importlib
import sys

import click

from behindglass.core.errors import BehindGlassError

# name -> (module, attribute, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "omop": ("behindglass.cli.omop_cmd", "omop", "Create and load OMOP CDM v5.4 stores."),
    "synth": ("behindglass.cli.synth_cmd", "synth", "Generate a realistic synthetic OMOP site."),
    "hub": ("behindglass.cli.hub_cmd", "hub", "Run and administer the network hub."),
    "site": ("behindglass.cli.site_cmd", "site", "Run a site agent."),
    "study": ("behindglass.cli.study_cmd", "study", "Submit studies and read their results."),
    "audit": ("behindglass.cli.audit_cmd", "audit", "Read and verify a site's audit log."),
    "network": ("behindglass.cli.network_cmd", "network",
                "Create a network's CA, TLS certificates, signing keys and signed roster."),
    "demo": ("behindglass.cli.demo_cmd", "demo", "Run a whole network on this machine."),
    "ingest": ("behindglass.cli.ingest_cmd", "ingest",
               "Ingest an identifiable extract (Synthea CSV or FHIR R4) into a de-identified "
               "OMOP store."),
    "notes": ("behindglass.cli.notes_cmd", "notes",
              "Generate synthetic clinical notes with labelled PHI (development corpora)."),
    "deid": ("behindglass.cli.deid_cmd", "deid",
             "De-identify free text and DICOM; score a de-identifier on a gold corpus."),
    "cohort": ("behindglass.cli.cohort_cmd", "cohort",
               "Generate cohorts from OHDSI Circe (ATLAS) definitions on a site store."),
    "risk": ("behindglass.cli.risk_cmd", "risk",
             "Re-identification risk of a site store (k-anonymity, l-diversity)."),
    "dq": ("behindglass.cli.dq_cmd", "dq",
           "Data quality of a site store: DQD-style checks and an Achilles-style profile."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in SUBCOMMANDS:
            return None
        module, attr, _ = SUBCOMMANDS[cmd_name]
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, SUBCOMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup)
@click.version_option(package_name="behindglass")
def cli() -> None:
    """behindglass: analyses travel to the data; only checked aggregates come back."""


def main() -> None:
    try:
        code = cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except BehindGlassError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    # standalone_mode=False hands ctx.exit(n) back as a return value
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
