"""``behindglass deid dicom``: DICOM headers de-identified per PS3.15 Annex E (Basic Profile)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from behindglass.deid.dicom import RunReport


@click.command("dicom")
@click.argument("in_dir", type=click.Path(file_okay=False, path_type=Path))
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--secret-file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="the site secret behind every new UID and date shift")
@click.option("--create-secret", is_flag=True,
              help="create a new random secret (mode 600) at --secret-file if none is there")
@click.option("--dates", "date_mode", type=click.Choice(["shift", "remove"]), default="shift",
              show_default=True,
              help="shift: every date of a patient moves by that patient's keyed offset (the "
                   "same offset as `behindglass ingest --dates shift`); remove: Basic Profile")
@click.option("--max-shift-days", type=click.IntRange(1, 3650), default=365, show_default=True)
@click.option("--patient-id", "patient_id", type=click.Choice(["empty", "person-id"]),
              default="empty", show_default=True,
              help="empty: Patient ID zero-length (Z); person-id: the OMOP person_id ingest "
                   "gives the same key (links images to the de-identified record)")
@click.option("--keep-private", "keep_private", multiple=True, metavar="TAG",
              help="keep this private element: gggg,eeee or gggg,PRIVATE CREATOR,xx "
                   "(repeatable); every other private element is removed")
@click.option("--force", is_flag=True, help="write into a non-empty OUT_DIR")
@click.option("--json", "as_json", is_flag=True, help="print the run report as JSON on stdout")
@click.option("--show-skipped", is_flag=True,
              help="list the input paths of skipped files on stderr (paths may carry names: "
                   "they never go into the report)")
@click.option("--quiet", "-q", is_flag=True, help="no progress bar and no summary")
def dicom(in_dir: Path, out_dir: Path, secret_file: Path, create_secret: bool, date_mode: str,
          max_shift_days: int, patient_id: str, keep_private: tuple[str, ...], force: bool,
          as_json: bool, show_skipped: bool, quiet: bool) -> None:
    """De-identify the DICOM files under IN_DIR into OUT_DIR (flat, named by new UIDs).

    Header attributes follow the PS3.15 Table E.1-1 Basic Profile; private elements are
    removed unless kept with --keep-private; files that may show burned-in text are listed
    in OUT_DIR/deid-report.json for review (pixels are not cleaned).
    """
    from behindglass.cli.site_secret import site_secret
    from behindglass.core.errors import DeidError
    from behindglass.deid.dicom import DicomDeidConfig, deidentify_folder, parse_private_tag

    try:
        secret = site_secret(secret_file, create_secret, "unrelated UIDs and shifts")
        config = DicomDeidConfig(
            secret=secret, dates=date_mode,  # type: ignore[arg-type]
            max_shift_days=max_shift_days,
            patient_id=patient_id.replace("-", "_"),  # type: ignore[arg-type]
            keep_private=tuple(parse_private_tag(t) for t in keep_private),
        )
        show = not quiet and sys.stderr.isatty()
        report = deidentify_folder(in_dir, out_dir, config, progress=show, force=force)
    except DeidError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    if show_skipped:
        for s in report.skipped:
            click.echo(f"skipped #{s.index}: {s.path}: {s.reason}", err=True)
    if not quiet and not as_json:
        _summary(report)


def _summary(report: RunReport) -> None:
    data = report.to_dict()
    actions = ", ".join(f"{k} {v:,}" for k, v in data["actions"].items())
    click.echo(f"{data['files_written']:,} of {data['files_seen']:,} files de-identified "
               f"({data['date_mode']} dates; secret {data['secret_fingerprint']})")
    click.echo(f"actions: {actions}; private removed {data['private_removed']:,}, "
               f"kept {data['private_kept']:,}")
    flagged = data["burned_in_flagged"]
    if flagged:
        click.echo(f"{len(flagged):,} files may show burned-in text; review them before "
                   "release:")
        for f in flagged[:20]:
            click.echo(f"  {f['file']}: {f['reason']}")
        if len(flagged) > 20:
            click.echo(f"  ... and {len(flagged) - 20:,} more (see deid-report.json)")
    for s in data["skipped"][:20]:
        click.echo(f"skipped input #{s['input_index']}: {s['reason']}")
    if data["skipped"]:
        click.echo("(--show-skipped lists their paths on stderr)")
