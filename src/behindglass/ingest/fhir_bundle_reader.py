"""Reading a FHIR Bundle file as a stream of entries, in bounded memory.

The top-level object is walked key by key; the ``entry`` array is decoded one entry at a
time with ``json``'s C decoder on a sliding window of the file (grown for an entry larger
than the window, up to 512 MB), so a bundle of any size is read with one entry in memory.
Each entry's resource also comes back as the JSON text it has in the file, so it can be
written out without encoding it again. gzip is recognised by its magic bytes.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
_READ = 1 << 22
#: One entry may not exceed this (a broken file must not be read whole into memory).
_MAX_ENTRY = 1 << 29


class Invalid(Exception):
    """The file is not what it must be; ``reason`` says what, without values."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Stream:
    """JSON values one at a time from a text stream, through a sliding window."""

    def __init__(self, fh: IO[str]) -> None:
        self.fh = fh
        self.buf = ""
        self.pos = 0
        self.eof = False

    def _fill(self) -> bool:
        if self.eof:
            return False
        # grow the read with the window, so one huge entry costs O(size), not O(size²)
        chunk = self.fh.read(max(_READ, len(self.buf) - self.pos))
        if not chunk:
            self.eof = True
            return False
        self.buf = self.buf[self.pos:] + chunk
        self.pos = 0
        return True

    def peek(self) -> str:
        """The next non-blank character ('' at the end), not consumed."""
        if self.pos < len(self.buf) and self.buf[self.pos] not in " \t\n\r":
            return self.buf[self.pos]  # compact JSON: no blank to skip
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._fill():
                return ""

    def take(self, char: str) -> None:
        if self.peek() != char:
            raise Invalid("invalid JSON")
        self.pos += 1

    def value(self) -> Any:
        return self._decode(False)[0]

    def raw_value(self) -> tuple[Any, str]:
        """The next value and its JSON text as it stands in the file."""
        return self._decode(True)  # type: ignore[return-value]

    def _decode(self, raw: bool) -> tuple[Any, str | None]:
        self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except (ValueError, RecursionError):
                if len(self.buf) - self.pos <= _MAX_ENTRY and self._fill():
                    continue
                raise Invalid("invalid JSON") from None
            if end == len(self.buf) and self._fill():
                continue  # a number may go on in the next chunk
            text = self.buf[self.pos:end] if raw else None
            self.pos = end
            return value, text

    def entry(self) -> tuple[Any, str | None]:
        """One Bundle entry, and the JSON text of its resource (None if it has none): the
        resource is written out as it stands, not encoded again."""
        if self.peek() != "{":
            return self.value(), None
        self.pos += 1
        entry: dict[str, Any] = {}
        raw: str | None = None
        if self.peek() == "}":
            self.pos += 1
            return entry, None
        while True:
            key = self.value()
            if not isinstance(key, str):
                raise Invalid("invalid JSON")
            self.take(":")
            if key == "resource":
                entry[key], raw = self.raw_value()
            else:
                entry[key] = self.value()
            if self.peek() != ",":
                self.take("}")
                return entry, raw
            self.pos += 1


def entries(stream: Stream, at: list[int]) -> Iterator[tuple[Any, str | None]]:
    """The entries of the Bundle in ``stream``; ``at`` is [index of the entry being read,
    1 while inside the entry array]."""
    stream.take("{")
    kind: Any = None
    if stream.peek() == "}":
        stream.pos += 1
    else:
        while True:
            key = stream.value()
            if not isinstance(key, str):
                raise Invalid("invalid JSON")
            stream.take(":")
            if key == "entry" and stream.peek() == "[":
                stream.pos += 1
                at[1] = 1
                if stream.peek() == "]":
                    stream.pos += 1
                else:
                    while True:
                        yield stream.entry()
                        at[0] += 1
                        if stream.peek() != ",":
                            stream.take("]")
                            break
                        stream.pos += 1
                at[1] = 0
            else:
                value = stream.value()
                if key == "resourceType":
                    kind = value
                elif key == "entry" and value is not None:
                    raise Invalid("Bundle.entry is not a list")
            if stream.peek() != ",":
                stream.take("}")
                break
            stream.pos += 1
    if stream.peek() != "":
        raise Invalid("invalid JSON")
    if kind != "Bundle":
        raise Invalid("not a FHIR Bundle (resourceType is not Bundle)")


def open_bundle(path: Path) -> IO[str]:
    with path.open("rb") as fh:
        gzipped = fh.read(2) == b"\x1f\x8b"
    if gzipped:
        return gzip.open(path, "rt", encoding="utf-8-sig")
    return path.open("r", encoding="utf-8-sig")
