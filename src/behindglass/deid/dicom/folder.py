"""De-identify a folder tree of DICOM files into a flat output folder.

Output names come from the *new* SOP Instance UID (``<uid>.dcm``): input folder and file
names often carry patient names or MRNs and are never reused. Each file is written under a
temporary name in OUT_DIR and renamed, so an interrupted run leaves no half-written
``.dcm``. Non-DICOM and unreadable inputs are skipped and listed in the report by their
position in the walk, never by path.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from behindglass.core.errors import DeidError
from behindglass.deid.dicom.actions import PROFILE_NAME, Deidentifier, read_dicom
from behindglass.deid.dicom.config import DicomDeidConfig
from behindglass.deid.dicom.profile import TABLE_EDITION
from behindglass.deid.dicom.report import REPORT_NAME, FileReport, RunReport, SkippedFile

_DICOMDIR_CLASS = "1.2.840.10008.1.3.10"


def _check_dirs(in_dir: Path, out_dir: Path, force: bool) -> tuple[Path, Path]:
    if not in_dir.exists():
        raise DeidError(f"{in_dir}: input folder does not exist")
    if not in_dir.is_dir():
        raise DeidError(f"{in_dir}: input is not a folder")
    src, dst = in_dir.resolve(), out_dir.resolve()
    if dst == src or dst.is_relative_to(src):
        raise DeidError(f"{out_dir}: the output folder must not be inside the input folder "
                        f"{in_dir} (its output would be read as input)")
    if src.is_relative_to(dst):
        raise DeidError(f"{out_dir}: the output folder must not contain the input folder")
    if dst.exists():
        if not dst.is_dir():
            raise DeidError(f"{out_dir}: output exists and is not a folder")
        if any(dst.iterdir()) and not force:
            raise DeidError(f"{out_dir}: output folder is not empty (use force to write into "
                            "it anyway; existing files with the same names are replaced)")
    return src, dst


def _inputs(src: Path) -> list[Path]:
    return sorted(p for p in src.rglob("*") if p.is_file())


def _atomic_write(ds: object, target: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".deid-", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        ds.save_as(tmp, enforce_file_format=True)  # type: ignore[attr-defined]
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _output_name(ds: object, engine: Deidentifier, index: int, taken: set[str]) -> str:
    uid = str(getattr(ds, "SOPInstanceUID", "") or "").strip()
    # Without a SOP Instance UID the name is keyed on the walk position: stable, meaningless.
    stem = uid or engine.uid(f"no-sop-instance-uid:{index}")
    name, n = f"{stem}.dcm", 1
    while name in taken:  # two inputs with one SOP Instance UID: keep both, visibly
        n += 1
        name = f"{stem}-{n}.dcm"
    taken.add(name)
    return name


def _progress(show: bool, total: int) -> Iterator[None]:
    """Yields once per file; draws a rich progress bar on stderr when ``show``."""
    if not show:
        for _ in range(total):
            yield
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress("de-identifying", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("files", total=total)
        for _ in range(total):
            yield
            bar.advance(task)


def deidentify_folder(
    in_dir: str | Path, out_dir: str | Path, config: DicomDeidConfig, *,
    progress: bool = True, force: bool = False,
) -> RunReport:
    """De-identify every DICOM file under ``in_dir`` into ``out_dir``; write and return the
    run report (``deid-report.json`` in ``out_dir``).

    Raises :class:`DeidError` for a missing input folder, an output folder inside the input
    (or the reverse) and a non-empty output folder without ``force``. Bad files do not stop
    the run: they are skipped and reported.
    """
    src, dst = _check_dirs(Path(in_dir), Path(out_dir), force)
    dst.mkdir(parents=True, exist_ok=True)
    engine = Deidentifier(config)
    report = RunReport(profile=PROFILE_NAME, table_edition=TABLE_EDITION, date_mode=config.dates,
                       secret_fingerprint=config.secret.fingerprint)
    files = _inputs(src)
    report.files_seen = len(files)
    taken: set[str] = set()
    ticks = _progress(progress, len(files))
    for index, (path, _) in enumerate(zip(files, ticks, strict=False), start=1):
        file_report = _one(path, index, engine, dst, taken, report)
        if file_report is not None:
            report.files.append(file_report)
    for _ in ticks:  # finish the bar
        pass
    _write_report(report, dst)
    return report


def _one(path: Path, index: int, engine: Deidentifier, dst: Path, taken: set[str],
         report: RunReport) -> FileReport | None:
    def skip(reason: str) -> None:
        report.skipped.append(SkippedFile(index=index, reason=reason, path=path))

    try:
        ds = read_dicom(path)
    except DeidError as exc:
        # The message starts with the path; the report keeps only the reason after it.
        skip(str(exc).removeprefix(f"{path}: "))
        return None
    meta = getattr(ds, "file_meta", None)
    if meta is not None and str(meta.get("MediaStorageSOPClassUID", "")) == _DICOMDIR_CLASS:
        skip("DICOMDIR (a directory index full of identifiers; rebuild it from the output)")
        return None
    try:
        file_report = engine.deidentify(ds)
    except DeidError as exc:
        skip(f"not de-identified: {exc}")
        return None
    except Exception as exc:  # corrupt values surface only when the element is decoded
        skip(f"not de-identified: {type(exc).__name__} while reading an element")
        return None
    meta = ds.file_meta
    if not meta.get("MediaStorageSOPClassUID") or not meta.get("MediaStorageSOPInstanceUID"):
        skip("no SOP Class UID or SOP Instance UID: not a storable DICOM instance")
        return None
    name = _output_name(ds, engine, index, taken)
    try:
        _atomic_write(ds, dst / name)
    except Exception as exc:
        taken.discard(name)
        skip(f"not written: {type(exc).__name__}")
        return None
    file_report.output_name = name
    return file_report


def _write_report(report: RunReport, dst: Path) -> None:
    target = dst / REPORT_NAME
    fd, tmp = tempfile.mkstemp(prefix=".deid-report-", suffix=".tmp", dir=dst)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(report.to_dict(), fh, indent=2)
        fh.write("\n")
    os.replace(tmp, target)
