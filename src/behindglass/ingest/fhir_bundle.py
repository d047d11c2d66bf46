"""FHIR R4 Bundles (Synthea's one-bundle-per-patient folders, batch, transaction,
collection or searchset bundles, plain or gzipped) → per-type NDJSON for :mod:`.fhir`.

Each bundle file is read as a stream: the top-level object is walked key by key and the
``entry`` array is decoded one entry at a time (``json``'s C decoder on a sliding window),
so memory holds one entry and a read buffer, whatever the file's size — a 100k-person export
is ~100k small files or a few huge ones. Each entry's resource is copied as it stands in the
file (line breaks of a pretty-printed bundle become spaces) as one line of
``<resourceType>.<part>.ndjson`` in the caller's private folder, and the NDJSON path then
flattens those; a side file records, per line, which bundle file and entry it came from, so
every later problem is reported as ``<bundle file>#entry[<index>]`` (never a value or a
resource id: ids of patients and encounters are identifiers). Above 32 MB of bundles the
files are shared between two processes (``<part>`` 0 and 1, consecutive runs of files).

References need no rewriting here: ``urn:uuid:X``, ``Type/X``, absolute URLs and
single-identifier conditional references are read the same way in both layouts
(:func:`.fhir_values.reference_id`). Every reference element the flattening reads is
checked here, so one that names no resource (``#contained``, a search, an empty id) is
reported against its entry and the entry is skipped.

A file that is not valid JSON, not a Bundle, or not readable counts as one problem and
contributes nothing (its entries already written are truncated away): a patient is never
half-loaded from a broken file.
"""

from __future__ import annotations

import multiprocessing
import struct
import zlib
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from behindglass.core.errors import LoadError
from behindglass.deid.safe_harbor import Action, rule_for
from behindglass.ingest.fhir_bundle_reader import Invalid, Stream, entries, open_bundle
from behindglass.ingest.fhir_values import reference_id
from behindglass.ingest.report import Problem

#: Resource types whose content is free text: counted, not written, unless the caller asks
#: for them (``extracted``: DocumentReference when notes are de-identified, see .notes);
#: DiagnosticReport's results are Observations, loaded as such.
HELD_BACK = {"DiagnosticReport": "DiagnosticReport.presentedForm",
             "DocumentReference": "DocumentReference.content"}
#: Bundles of more bytes than this are split by two processes (JSON decoding is Python).
_PARALLEL_BYTES = 32 << 20
_ORIGIN = struct.Struct("<II")  # (bundle file number, entry index) per NDJSON line


def is_bundle_layout(src: Path) -> bool:
    """A file, or a folder with ``.json``/``.json.gz`` files and no ``.ndjson`` files."""
    if src.is_file():
        return True
    if not src.is_dir():
        return False
    names = [p.name.lower() for p in src.iterdir() if p.is_file()]
    if any(n.endswith(".ndjson") for n in names):
        return False
    return any(n.endswith((".json", ".json.gz")) for n in names)


def bundle_files(src: Path) -> tuple[list[Path], list[str]]:
    """The bundle files of ``src`` (itself if a file) and the names not read."""
    if src.is_file():
        return [src], []
    files, ignored = [], []
    for path in sorted(src.iterdir()):
        if path.is_file() and path.name.lower().endswith((".json", ".json.gz")):
            files.append(path)
        else:
            ignored.append(path.name)
    return files, ignored

def reference_paths(extracted: dict[str, tuple[str, ...]]) -> dict[str, list[list[str]]]:
    """resourceType → the reference elements the flattening reads (element path parts):
    every extracted path the catalogue pseudonymises other than the resource's own id."""
    out: dict[str, list[list[str]]] = {}
    for kind, paths in extracted.items():
        for path in paths:
            parts = path.split(".")[1:]
            if parts != ["id"] and rule_for("fhir", path).action is Action.PSEUDONYMIZE:
                out.setdefault(kind, []).append(parts)
    return out


def bad_reference(resource: dict, paths: list[list[str]]) -> str | None:
    """The first of the reference elements ``paths`` of ``resource`` that names no
    resource (``#contained``, a search, an empty id, not a Reference), if any."""
    for parts in paths:
        if len(parts) == 1:  # most are top-level elements: no walk
            value = resource.get(parts[0])
            for item in value if isinstance(value, list) else (value,):
                if item is not None and _bad(item):
                    return parts[0]
            continue
        values: list[Any] = [resource]
        for part in parts:
            values = [v.get(part) if isinstance(v, dict) else None
                      for value in values
                      for v in (value if isinstance(value, list) else [value])]
        for value in values:
            for item in value if isinstance(value, list) else [value]:
                if item is not None and _bad(item):
                    return ".".join(parts)
    return None


def _bad(value: Any) -> bool:
    if not isinstance(value, dict):
        return True
    ref = value.get("reference")
    if ref is None:
        return False  # an identifier- or display-only reference: read as absent
    if not isinstance(ref, str):
        return True
    if (not ref or "?" in ref or "_history" in ref or ref[0] == "#" or ref[0].isspace()
            or ref[-1].isspace()):
        return not reference_id(ref.strip())
    # Type/X, urn:uuid:X, a URL: what reference_id would say, without its general parse
    if ref.startswith("urn:uuid:"):
        return len(ref) == 9
    return not ref.rpartition("/")[2]


@dataclass
class _Part:
    """What one worker wrote: NDJSON files, their origin files, and what it met."""

    found: dict[str, Path] = field(default_factory=dict)  # resourceType → NDJSON file
    problems: list[Problem] = field(default_factory=list)
    held_back: dict[str, int] = field(default_factory=dict)
    ignored: dict[str, int] = field(default_factory=dict)  # resourceType → entries
    files: int = 0


class _Writer:
    """Splits bundle files into ``<Type>.<part>.ndjson`` (+ ``.origin``) files in ``out``."""

    def __init__(self, out: Path, part: int, wanted: dict[str, list[list[str]]]) -> None:
        self.out, self.part, self.wanted = out, part, wanted
        self.result = _Part()
        self._out: dict[str, tuple[IO[bytes], IO[bytes]]] = {}

    def close(self) -> None:
        for data, origin in self._out.values():
            data.close()
            origin.close()

    def file(self, number: int, path: Path) -> None:
        """Split one bundle file (``number``: its place in the whole source); a file that
        turns out broken is rolled back and reported once."""
        marks: dict[str, tuple[int, int]] = {}
        problems: list[Problem] = []
        held: dict[str, int] = {}
        ignored: dict[str, int] = {}
        at = [0, 0]  # entry index, inside the entry array
        self.result.files += 1
        try:
            with open_bundle(path) as fh:
                for entry, raw in entries(Stream(fh), at):
                    resource, reason = _resource(entry)
                    if reason is not None:
                        problems.append(Problem(f"{path.name}#entry[{at[0]}]", None, reason))
                    if resource is None or raw is None:
                        continue
                    kind = resource["resourceType"]
                    if kind in HELD_BACK and kind not in self.wanted:
                        if kind != "DiagnosticReport" or resource.get("presentedForm"):
                            held[HELD_BACK[kind]] = held.get(HELD_BACK[kind], 0) + 1
                        continue
                    refs = self.wanted.get(kind)
                    if refs is None:
                        ignored[kind] = ignored.get(kind, 0) + 1
                        continue
                    bad = bad_reference(resource, refs)
                    if bad is not None:
                        problems.append(Problem(f"{path.name}#entry[{at[0]}]", None,
                                                f"bad reference in {kind}.{bad}"))
                        continue
                    self._write(kind, raw, number, at[0], marks)
        except Invalid as exc:
            self._rollback(marks)
            where = f"{path.name}#entry[{at[0]}]" if at[1] else path.name
            self.result.problems.append(Problem(where, None, exc.reason))
            return
        except (OSError, EOFError, UnicodeDecodeError, zlib.error):
            self._rollback(marks)
            self.result.problems.append(Problem(
                path.name, None, "cannot be read (not UTF-8 JSON, or broken gzip)"))
            return
        self.result.problems.extend(problems)
        for key, count in held.items():
            self.result.held_back[key] = self.result.held_back.get(key, 0) + count
        for key, count in ignored.items():
            self.result.ignored[key] = self.result.ignored.get(key, 0) + count

    def _write(self, kind: str, raw: str, number: int, index: int,
               marks: dict[str, tuple[int, int]]) -> None:
        handles = self._out.get(kind)
        if handles is None:
            path = self.out / f"{kind}.{self.part}.ndjson"
            self.result.found[kind] = path
            handles = self._out[kind] = (path.open("wb"),
                                         path.with_suffix(".origin").open("wb"))
        data, origin = handles
        if kind not in marks:
            marks[kind] = (data.tell(), origin.tell())
        if "\n" in raw or "\r" in raw:
            # a pretty-printed bundle: in valid JSON a line break can only be a blank
            # between tokens (inside strings they are escaped), so a space keeps its meaning
            raw = raw.replace("\r", " ").replace("\n", " ")
        data.write(raw.encode("utf-8") + b"\n")
        origin.write(_ORIGIN.pack(number, index))

    def _rollback(self, marks: dict[str, tuple[int, int]]) -> None:
        for kind, (data_at, origin_at) in marks.items():
            for fh, at in zip(self._out[kind], (data_at, origin_at), strict=True):
                fh.seek(at)
                fh.truncate()


def _split_part(out: Path, part: int, wanted: dict[str, list[list[str]]],
                files: list[tuple[int, Path]]) -> _Part:
    writer = _Writer(out, part, wanted)
    try:
        for number, path in files:
            writer.file(number, path)
    finally:
        writer.close()
    return writer.result


@dataclass
class BundleSplit:
    """The bundle entries, written as NDJSON files for the NDJSON path, and where each of
    their lines came from."""

    files: list[str]  # bundle file labels, by number
    found: dict[str, list[Path]] = field(default_factory=dict)  # resourceType → NDJSON parts
    problems: list[Problem] = field(default_factory=list)
    held_back: dict[str, int] = field(default_factory=dict)
    ignored: dict[str, int] = field(default_factory=dict)  # resourceType → entries

    def add(self, part: _Part) -> None:
        for kind, path in part.found.items():
            self.found.setdefault(kind, []).append(path)
        self.problems.extend(part.problems)
        for mine, theirs in ((self.held_back, part.held_back), (self.ignored, part.ignored)):
            for key, count in theirs.items():
                mine[key] = mine.get(key, 0) + count

    def locate(self, problem: Problem) -> Problem:
        """A problem on a line of one of our NDJSON files → on its bundle entry."""
        path = next((p for paths in self.found.values() for p in paths
                     if p.name == problem.file), None)
        if path is None:
            return problem
        kind = path.name.split(".", 1)[0]
        raw = b""
        if problem.line is not None:
            with path.with_suffix(".origin").open("rb") as fh:
                fh.seek((problem.line - 1) * _ORIGIN.size)
                raw = fh.read(_ORIGIN.size)
        if len(raw) != _ORIGIN.size:
            return Problem(f"{kind} entries of the bundles", None, problem.reason)
        number, index = _ORIGIN.unpack(raw)
        return Problem(f"{self.files[number]}#entry[{index}]", None, problem.reason)


def _resource(entry: Any) -> tuple[dict | None, str | None]:
    """(resource, None) for a usable entry; (None, reason) for a bad one; (None, None) for
    one with nothing to read (a DELETE of a transaction carries no resource)."""
    if not isinstance(entry, dict):
        return None, "entry is not a JSON object"
    resource = entry.get("resource")
    if resource is None:
        return None, None if "request" in entry else "entry has no resource"
    if not isinstance(resource, dict):
        return None, "resource is not a JSON object"
    kind = resource.get("resourceType")
    if not isinstance(kind, str) or not kind:
        return None, "resource has no resourceType"
    return resource, None


def _halves(paths: list[Path], parts: int) -> list[list[tuple[int, Path]]]:
    """Consecutive runs of files of about equal bytes, numbered in source order."""
    sizes = [p.stat().st_size for p in paths]
    total, done, out = sum(sizes) or 1, 0, [[] for _ in range(parts)]
    for number, (path, size) in enumerate(zip(paths, sizes, strict=True)):
        out[min(parts - 1, done * parts // total)].append((number, path))
        done += size
    return [run for run in out if run]


def _in_processes(out: Path, wanted: dict[str, list[list[str]]],
                  runs: list[list[tuple[int, Path]]],
                  progress: Callable[[str, int], None] | None) -> list[_Part] | None:
    """Each run of files split by its own process; None if processes cannot be started
    here (the caller then does it all in this one)."""
    # fork where there is one: spawn would re-import a caller's __main__ that may lack the
    # `if __name__ == "__main__"` guard; the children only read files and write files
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    parts: list[_Part] = []
    try:
        with ProcessPoolExecutor(max_workers=len(runs),
                                 mp_context=multiprocessing.get_context(method)) as pool:
            futures = [pool.submit(_split_part, out, k, wanted, run)
                       for k, run in enumerate(runs)]
            for future, run in zip(futures, runs, strict=True):
                parts.append(future.result())
                if progress:
                    progress("bundle files", run[-1][0] + 1)
    except (BrokenProcessPool, OSError):
        for leftover in out.iterdir():
            leftover.unlink()
        return None
    return parts


def split_bundles(src: Path, out: Path, extracted: dict[str, tuple[str, ...]],
                  progress: Callable[[str, int], None] | None = None,
                  workers: int | None = None) -> tuple[BundleSplit, list[str]]:
    """Split the bundle file or folder ``src`` into NDJSON files in ``out`` (entries of the
    types in ``extracted`` only; the held-back types not in it are counted, others
    tallied); the
    split and the names of files not read. ``workers``: processes (default: two when the
    bundles hold more than 32 MB, else this one)."""
    paths, ignored = bundle_files(src)
    if not paths:
        raise LoadError("no FHIR bundle (.json or .json.gz) files", file=str(src))
    wanted = {kind: [] for kind in extracted} | reference_paths(extracted)
    if workers is None:
        big = sum(p.stat().st_size for p in paths) > _PARALLEL_BYTES
        workers = 2 if big and len(paths) > 1 else 1
    runs = _halves(paths, max(1, workers))
    split = BundleSplit([p.name for p in paths])
    parts = _in_processes(out, wanted, runs, progress) if len(runs) > 1 else None
    for part in parts or [_split_part(out, 0, wanted, [f for run in runs for f in run])]:
        split.add(part)
    if "Patient" not in split.found:
        raise LoadError("no Patient resources in the bundles: every FHIR extract starts "
                        "with its patients", file=str(src))
    return split, ignored
