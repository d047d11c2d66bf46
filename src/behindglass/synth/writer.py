"""Writing CDM tables as CSV, appended chunk by chunk.

Simulation code hands over plain columns (numpy arrays, ``Categorical`` codes for
repeated strings, ``numpy.ma`` arrays where some rows are NULL); this module turns them
into arrow tables in CDM column order and appends them to one ``<table>.csv`` (or
``.csv.gz``) per table. Columns a table does not mention are written empty (NULL). The
header is written when a file is opened, so a table with no rows is still a valid file.
Dates are written as ``YYYY-MM-DD`` and datetimes as ``YYYY-MM-DD HH:MM:SS``.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from behindglass.synth.schema import ARROW_TYPES, COLUMNS, arrow_schema, column_names

# Strings are quoted (pyarrow's "needed" style quotes every string); NULL is an empty field.
_OPTIONS = pacsv.WriteOptions(include_header=False, quoting_style="needed", batch_size=65536)
GZIP_LEVEL = 4  # a good size/speed balance for these highly repetitive files


@dataclass(frozen=True)
class Categorical:
    """A string column as integer codes into ``categories`` (-1 = NULL)."""

    codes: np.ndarray
    categories: Sequence[str]

    def __len__(self) -> int:
        return len(self.codes)


Column = np.ndarray | Categorical | Sequence[Any]
Columns = dict[str, Column]


def column_length(columns: Mapping[str, Column]) -> int:
    for value in columns.values():
        return len(value)
    return 0


def _arrow_column(value: Column, kind: str) -> pa.Array:
    target = ARROW_TYPES[kind]
    if isinstance(value, Categorical):
        codes = np.asarray(value.codes, dtype=np.int32)
        mask = codes < 0
        indices = pa.array(np.where(mask, 0, codes), mask=mask if mask.any() else None)
        dictionary = pa.array(list(value.categories) or [""], type=pa.string())
        return pa.DictionaryArray.from_arrays(indices, dictionary).cast(target)
    if isinstance(value, np.ndarray):
        mask = np.ma.getmaskarray(value) if isinstance(value, np.ma.MaskedArray) else None
        data = np.ma.getdata(value)
        if kind == "d":
            arr = pa.array(data.astype(np.int32), mask=mask).cast(pa.date32())
        elif kind == "t":
            arr = pa.array(data.astype(np.int64), mask=mask).cast(pa.timestamp("s"))
        elif kind == "i":
            arr = pa.array(data.astype(np.int64), mask=mask)
        elif kind == "f":
            arr = pa.array(data.astype(np.float64), mask=mask)
        else:
            arr = pa.array(data.astype(str), mask=mask, type=pa.string())
        return arr
    if kind == "d":
        return pa.array([v if isinstance(v, date) or v is None else date.fromisoformat(v)
                         for v in value], type=pa.date32())
    return pa.array(list(value), type=target)


def to_arrow(table: str, columns: Mapping[str, Column]) -> pa.Table:
    """``columns`` as an arrow table with exactly the CDM columns of ``table``."""
    unknown = set(columns) - set(column_names(table))
    if unknown:
        raise ValueError(f"{table} has no column(s) {sorted(unknown)}")
    n = column_length(columns)
    arrays = []
    for name, kind in COLUMNS[table]:
        value = columns.get(name)
        if value is None:
            arrays.append(pa.nulls(n, type=ARROW_TYPES[kind]))
        else:
            if len(value) != n:
                raise ValueError(f"{table}.{name} has {len(value)} rows, expected {n}")
            arrays.append(_arrow_column(value, kind))
    return pa.Table.from_arrays(arrays, schema=arrow_schema(table))


def format_csv(table: str, columns: Mapping[str, Column], *, gzip: bool = False) -> bytes:
    """``columns`` as CSV text without header, optionally as one gzip member.

    Concatenated gzip members are one valid gzip file (RFC 1952), so chunks can be
    formatted and compressed in parallel and simply appended; zlib writes a zero mtime,
    so the bytes are reproducible.
    """
    data = to_arrow(table, columns)
    if data.num_rows == 0:
        return b""
    sink = pa.BufferOutputStream()
    pacsv.write_csv(data, sink, _OPTIONS)
    text = sink.getvalue().to_pybytes()
    return _gzip_member(text) if gzip else text


def _gzip_member(data: bytes) -> bytes:
    packer = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
    return packer.compress(data) + packer.flush()


class TableWriter:
    """Appends formatted CSV chunks to one file per table in ``folder``."""

    def __init__(self, folder: Path, *, gzip: bool = False) -> None:
        self.folder = folder
        self.gzip = gzip
        self.rows: dict[str, int] = {}
        self._files: dict[str, BinaryIO] = {}

    def path(self, table: str) -> Path:
        return self.folder / f"{table}.csv{'.gz' if self.gzip else ''}"

    def open(self, table: str) -> None:
        """Create the file of ``table`` with its header (idempotent)."""
        if table in self._files:
            return
        handle = self.path(table).open("wb", buffering=0)  # unbuffered: see append_file
        header = (",".join(column_names(table)) + "\n").encode("ascii")
        handle.write(_gzip_member(header) if self.gzip else header)
        self._files[table] = handle
        self.rows[table] = 0

    def append(self, table: str, chunk: bytes, rows: int) -> None:
        """Append a chunk made by :func:`format_csv` with the same ``gzip`` setting."""
        self.open(table)
        self._files[table].write(chunk)
        self.rows[table] += rows

    def append_file(self, table: str, part: Path, rows: int) -> None:
        """Move the bytes of a part file written by a worker process onto ``table``.

        The copy happens in the kernel (``os.sendfile``), which is much cheaper than
        sending the bytes through a pipe; the part file is removed.
        """
        self.open(table)
        target = self._files[table]
        with part.open("rb") as source:
            size = os.fstat(source.fileno()).st_size
            offset = 0
            while offset < size:
                sent = os.sendfile(target.fileno(), source.fileno(), offset, size - offset)
                if sent == 0:
                    raise OSError(f"could not copy {part}")
                offset += sent
        part.unlink()
        self.rows[table] += rows

    def write(self, table: str, columns: Mapping[str, Column]) -> int:
        """Format and append ``columns``; returns the number of rows written."""
        rows = column_length(columns)
        self.append(table, format_csv(table, columns, gzip=self.gzip), rows)
        return rows

    def close(self) -> dict[str, int]:
        for handle in self._files.values():
            handle.close()
        self._files.clear()
        return dict(self.rows)
