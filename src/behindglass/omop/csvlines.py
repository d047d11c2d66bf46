"""Turning "something is wrong in this table" into "file X, line N".

Only used on the error path, after DuckDB's fast reader has found a problem: these scans
read the file again in Python, up to the offending record, so their cost never touches a
good load. Line numbers are physical, 1-based file lines with the header as line 1 — a
quoted value spanning two lines counts as two, as in any text editor.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation

from behindglass.omop.source import SourceFile


@contextmanager
def _big_fields() -> Iterator[None]:
    """Let Python's csv read notes longer than its 128 KiB default field limit."""
    old = csv.field_size_limit()
    csv.field_size_limit(2**31 - 1)
    try:
        yield
    finally:
        csv.field_size_limit(old)


def line_of_record(sf: SourceFile, record_line: int) -> int:
    """The physical line where a record starts, from DuckDB's record-based line number
    (header = 1, first data record = 2, whatever line breaks quoted values hold)."""
    if _unquoted_up_to(sf, record_line):
        return record_line  # no quote, so no quoted line break: records are lines
    start = 1
    with sf.open_text() as fh, _big_fields():
        reader = csv.reader(fh)
        try:
            for records, _ in enumerate(reader, start=1):
                if records == record_line:
                    return start
                start = reader.line_num + 1
        except csv.Error:
            pass  # the broken record itself: it starts after the last good one
    return start


def _unquoted_up_to(sf: SourceFile, line: int) -> bool:
    """True if no quote character occurs before ``line`` starts (a fast byte scan)."""
    remaining = line - 1  # the newlines ending the lines before it
    with sf.open_binary() as raw:
        while remaining > 0:
            chunk = raw.read(1 << 20)
            if not chunk:
                return True
            count = chunk.count(b"\n")
            if count >= remaining:  # the line starts inside this chunk
                end = -1
                for _ in range(remaining):
                    end = chunk.find(b"\n", end + 1)
                return b'"' not in chunk[:end]
            if b'"' in chunk:
                return False
            remaining -= count
    return True


def find_records(
    sf: SourceFile, column: int, matches: Callable[[str], bool], *, limit: int = 1
) -> list[tuple[int, str]]:
    """(line, value) of the first ``limit`` data records whose field ``column`` matches."""
    found: list[tuple[int, str]] = []
    with sf.open_text() as fh, _big_fields():
        reader = csv.reader(fh)
        next(reader, None)  # header
        start = reader.line_num + 1
        for row in reader:
            value = row[column] if column < len(row) else ""
            if matches(value):
                found.append((start, value))
                if len(found) >= limit:
                    break
            start = reader.line_num + 1
    return found


def is_empty(value: str) -> bool:
    """What DuckDB's reader turns into NULL: an empty field."""
    return value == ""


def equals_key(key: object) -> Callable[[str], bool]:
    """A matcher for CSV text that DuckDB would read as ``key`` (ints tolerate ``"7.0"``)."""
    if isinstance(key, int) and not isinstance(key, bool):

        def match_int(value: str) -> bool:
            text = value.strip()
            try:
                return int(text) == key
            except ValueError:
                try:
                    return Decimal(text) == key
                except InvalidOperation:
                    return False

        return match_int
    wanted = str(key)
    return lambda value: value == wanted
