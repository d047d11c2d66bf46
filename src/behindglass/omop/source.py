"""Finding the CSV files of an OMOP extract in a folder or a zip.

Accepted: one file per table named ``<table>.csv`` or ``<table>.csv.gz``, in any letter
case (``PERSON.csv.gz``, ``person.csv``). A zip may hold them at any depth; macOS
``__MACOSX/`` and ``._*`` junk entries are skipped. Zip members are extracted to a
temporary folder because DuckDB's CSV reader needs a real file; plain and gzip files in a
folder are read where they are.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal, TextIO

from behindglass.core.errors import LoadError

_NAME = re.compile(r"^(?P<table>[A-Za-z_][A-Za-z0-9_]*)\.csv(?P<gz>\.gz)?$", re.IGNORECASE)


@dataclass(frozen=True)
class SourceFile:
    """One table's CSV file, ready for DuckDB's reader."""

    table: str  # lower-case table name taken from the file name
    path: Path  # a local file DuckDB can read (extracted if it came from a zip)
    label: str  # how error messages name it, e.g. "PERSON.csv.gz" or "site.zip:PERSON.csv"
    compression: Literal["gzip", "none"]
    size: int  # bytes on disk, used to weigh progress

    def open_binary(self) -> BinaryIO:
        """The file's (decompressed) bytes; the caller closes it."""
        if self.compression == "gzip":
            return gzip.open(self.path, "rb")  # type: ignore[return-value]
        return self.path.open("rb")

    def open_text(self) -> TextIO:
        """The file as text (decompressed), for the header and for locating bad lines."""
        # utf-8-sig drops a byte-order mark; newline="" lets csv see quoted line breaks.
        return io.TextIOWrapper(self.open_binary(), encoding="utf-8-sig", errors="replace",
                                newline="")

    def header(self) -> list[str]:
        """Column names as written in the file's first line (empty for an empty file)."""
        with self.open_text() as fh:
            try:
                row = next(csv.reader(fh))
            except StopIteration:
                return []
        return [name.strip() for name in row]


@dataclass
class Source:
    """The table files found in one folder or zip."""

    label: str  # the folder or zip as given, for messages
    files: dict[str, SourceFile] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)  # names that are not table files


def _table_file(name: str) -> tuple[str, Literal["gzip", "none"]] | None:
    match = _NAME.match(name)
    if not match:
        return None
    return match.group("table").lower(), ("gzip" if match.group("gz") else "none")


def _add(source: Source, sf: SourceFile) -> None:
    if sf.table in source.files:
        other = source.files[sf.table].label
        raise LoadError(
            f"two files for table {sf.table} ({other} and {sf.label}); keep one",
            file=source.label,
        )
    source.files[sf.table] = sf


def _scan_folder(folder: Path) -> Source:
    source = Source(label=str(folder))
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        found = _table_file(path.name)
        if found is None:
            source.ignored.append(path.name)
            continue
        table, compression = found
        size = path.stat().st_size
        _add(source, SourceFile(table, path, path.name, compression, size))
    return source


def _is_junk(member: str) -> bool:
    parts = member.split("/")
    return parts[0] == "__MACOSX" or parts[-1].startswith(".")


def _scan_zip(archive: Path, workdir: Path) -> Source:
    source = Source(label=str(archive))
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise LoadError(f"not a readable zip file ({exc})", file=str(archive)) from exc
    with zf:
        for info in zf.infolist():
            if info.is_dir() or _is_junk(info.filename):
                continue
            base = info.filename.rsplit("/", 1)[-1]
            found = _table_file(base)
            if found is None:
                source.ignored.append(info.filename)
                continue
            table, compression = found
            target = workdir / base
            with zf.open(info) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            label = f"{archive.name}:{info.filename}"
            _add(source, SourceFile(table, target, label, compression, target.stat().st_size))
    return source


@contextmanager
def open_source(src: str | Path, *, workdir: str | Path | None = None) -> Iterator[Source]:
    """The table files of ``src`` (a folder or a ``.zip``), usable inside the ``with``.

    Zip members are extracted under ``workdir`` (default: the system temporary folder) and
    removed on exit.
    """
    path = Path(src)
    if path.is_dir():
        yield _scan_folder(path)
        return
    if path.is_file() and path.suffix.lower() == ".zip":
        with tempfile.TemporaryDirectory(prefix="behindglass-omop-", dir=workdir) as tmp:
            yield _scan_zip(path, Path(tmp))
        return
    if not path.exists():
        raise LoadError("no such folder or zip file", file=str(path))
    raise LoadError("expected a folder of CSV files or a .zip of them", file=str(path))
