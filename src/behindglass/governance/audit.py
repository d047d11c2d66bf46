"""A site's append-only, hash-chained audit log.

One JSON object per line::

    {"seq": 3, "time": "...", "event": "release", "data": {...}, "prev": "<hash of seq 2>",
     "hash": "<sha256 of the canonical JSON of the other five fields>"}

Each entry names the hash of the one before it, so altering, deleting, reordering or
inserting an entry breaks the chain at a line :func:`verify` reports. Cutting entries off
the *end* leaves a shorter valid chain; that is caught by comparing the head with a hash
recorded elsewhere (every release a site sends carries its audit head, and the hub keeps
it), which is what ``expect_hash`` is for.

A log may be **signed**: an :class:`AuditLog` given the site's Ed25519 key adds ``key`` (its
key id) and ``sig`` (a signature over the entry's hash) to every entry. The hash chain alone
only proves the log is internally consistent, and anyone can rebuild a consistent chain after
an edit; a signature proves the key holder wrote each entry. ``verify(..., key=...)`` demands
every entry be signed by that key; old unsigned logs still verify without one.

Appends are serialised by an exclusive lock on the file for as long as an
:class:`AuditLog` is open, and each line is fsync'ed before ``append`` returns, so an entry
written is an entry kept.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from behindglass.core.canonical import canonical_json, digest
from behindglass.core.errors import AuditError, SignatureError
from behindglass.core.signing import SigningKey, VerifyKey

try:  # POSIX only; elsewhere one writer per file is the operator's job
    import fcntl
except ImportError:  # pragma: no cover - exercised only on Windows
    fcntl = None  # type: ignore[assignment]

GENESIS = "0" * 64
_FIELDS = ("seq", "time", "event", "data", "prev", "hash")
_SIGNED_FIELDS = (*_FIELDS, "key", "sig")


def entry_hash(entry: dict[str, Any]) -> str:
    """The hash an entry must carry: over everything in it except ``hash`` itself."""
    return digest({k: entry[k] for k in ("seq", "time", "event", "data", "prev")})


@dataclass(frozen=True)
class AuditProblem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class AuditReport:
    """Outcome of :func:`verify`. ``ok`` is true only if no problem was found."""

    path: Path
    entries: int
    head: str | None
    problems: tuple[AuditProblem, ...] = field(default_factory=tuple)
    signed: int = 0  # entries that carry a signature
    checked_key: str | None = None  # key id the signatures were checked against, if any

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def signatures(self) -> str:
        """One phrase on what the signatures prove, for people reading the report."""
        if self.checked_key is not None:
            return f"every entry signed by key {self.checked_key}"
        if self.signed:
            return (f"{self.signed} signed entries, signatures NOT checked (give the "
                    "site's public key to check them)")
        return "unsigned"

    def __str__(self) -> str:
        if self.ok:
            return (f"{self.path}: OK, {self.entries} entries, head {self.head}; "
                    f"{self.signatures}")
        lines = [f"{self.path}: FAILED, {len(self.problems)} problem(s) in {self.entries} lines"]
        lines += [f"  {p}" for p in self.problems]
        return "\n".join(lines)


class AuditLog:
    """Appender for one audit file. Use as a context manager, or call :meth:`close`.
    With ``signer`` every entry appended is signed by that key."""

    def __init__(self, path: str | Path, signer: SigningKey | None = None) -> None:
        self.path = Path(path)
        self._signer = signer
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        self._file = open(self.path, "a+b")  # noqa: SIM115 - held open for the log's lifetime
        if fcntl is not None:
            try:
                fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                self._file.close()
                raise AuditError(f"{self.path}: audit log is in use by another process") from None
        if created:
            _fsync_dir(self.path.parent)
        self._lock = threading.Lock()
        self._seq, self._head = self._read_tail()

    # -- state ------------------------------------------------------------------------
    @property
    def head(self) -> str:
        """Hash of the last entry (the genesis value for an empty log)."""
        return self._head

    @property
    def next_seq(self) -> int:
        return self._seq

    def _read_tail(self) -> tuple[int, str]:
        """Seq to use next and the head hash, from the last line of the file."""
        last = _last_line(self._file)
        if last is None:
            return 0, GENESIS
        try:
            entry = json.loads(last)
            if entry_hash(entry) != entry["hash"]:
                raise ValueError("hash does not match")
            if self._signer is not None and entry.get("key") == self._signer.key_id:
                self._signer.public().verify(entry["hash"], entry["sig"])
            return int(entry["seq"]) + 1, str(entry["hash"])
        except (ValueError, KeyError, TypeError, SignatureError):
            # Appending after a damaged tail would hide the damage inside a valid-looking
            # chain, so refuse and let a person look at it.
            raise AuditError(
                f"{self.path}: the last entry is damaged; run 'behindglass audit verify "
                f"{self.path}' before appending"
            ) from None

    # -- writing ----------------------------------------------------------------------
    def append(self, event: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """Write one entry, fsync it, and return it (with its hash)."""
        if not event:
            raise AuditError("an audit event needs a name")
        with self._lock:
            entry: dict[str, Any] = {
                "seq": self._seq,
                "time": dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
                "event": event,
                "data": data or {},
                "prev": self._head,
            }
            entry["hash"] = entry_hash(entry)
            if self._signer is not None:
                entry["key"] = self._signer.key_id
                entry["sig"] = self._signer.sign(entry["hash"])
            try:
                line = canonical_json(entry)
            except (TypeError, ValueError) as exc:
                raise AuditError(f"audit data for {event!r} is not JSON-able: {exc}") from None
            self._file.seek(0, os.SEEK_END)
            self._file.write(line.encode("utf-8") + b"\n")
            self._file.flush()
            os.fsync(self._file.fileno())
            self._seq += 1
            self._head = entry["hash"]
            return entry

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()  # closing releases the flock

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _last_line(f: Any) -> bytes | None:
    """The last non-empty line of a binary file, read backwards in blocks."""
    f.seek(0, os.SEEK_END)
    end = f.tell()
    buf = b""
    pos = end
    while pos > 0:
        step = min(8192, pos)
        pos -= step
        f.seek(pos)
        buf = f.read(step) + buf
        stripped = buf.rstrip(b"\n")
        if b"\n" in stripped:
            return stripped.rsplit(b"\n", 1)[1]
    stripped = buf.rstrip(b"\n")
    return stripped or None


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


# -- reading ------------------------------------------------------------------------------
def read_entries(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, entry) for every line; raises AuditError on a line that is not JSON."""
    path = Path(path)
    try:
        f = open(path, encoding="utf-8")  # noqa: SIM115 - closed in finally
    except FileNotFoundError:
        raise AuditError(f"{path}: no such audit log") from None
    try:
        for number, text in enumerate(f, start=1):
            if not text.strip():
                continue
            try:
                entry = json.loads(text)
            except json.JSONDecodeError as exc:
                raise AuditError(f"{path}: line {number}: not valid JSON ({exc.msg})") from None
            yield number, entry
    finally:
        f.close()


def verify(path: str | Path, expect_hash: str | None = None,
           key: VerifyKey | None = None) -> AuditReport:
    """Check the whole chain. Every line is checked against the line before it as found,
    so one tampered entry is reported once, at the line where the chain first breaks.

    ``expect_hash``: a hash known from elsewhere (e.g. the ``audit_head`` the hub recorded
    with a release); the report fails if no entry carries it, which catches a log whose
    tail was cut off.

    ``key``: the site's public key. Every entry must then be signed by it, which catches
    an edit whose author rebuilt the hash chain after it. Without a key, signatures are
    not checked and the report says so.
    """
    path = Path(path)
    if not path.exists():
        raise AuditError(f"{path}: no such audit log")
    problems: list[AuditProblem] = []
    prev_hash = GENESIS
    expected_seq = 0
    entries = 0
    head: str | None = None
    signed = 0
    seen_expected = expect_hash is None
    with open(path, encoding="utf-8") as f:
        for number, text in enumerate(f, start=1):
            if not text.strip():
                problems.append(AuditProblem(number, "empty line (entries are never blank)"))
                continue
            entries += 1
            try:
                entry = json.loads(text)
            except json.JSONDecodeError as exc:
                problems.append(AuditProblem(number, f"not valid JSON ({exc.msg})"))
                continue
            if not isinstance(entry, dict) or set(entry) not in (set(_FIELDS),
                                                                 set(_SIGNED_FIELDS)):
                problems.append(AuditProblem(
                    number, f"not an audit entry (fields must be exactly {list(_FIELDS)}, "
                            "plus key and sig when signed)"))
                continue
            signed += "sig" in entry
            problems.extend(_check_entry(number, entry, expected_seq, prev_hash))
            if key is not None:
                problems.extend(_check_signature(number, entry, key))
            seq = entry["seq"]
            expected_seq = (seq if isinstance(seq, int) else expected_seq) + 1
            prev_hash = entry["hash"]
            head = entry["hash"]
            if entry["hash"] == expect_hash:
                seen_expected = True
    if not seen_expected:
        problems.append(AuditProblem(
            entries, f"no entry has the expected hash {expect_hash}: entries were removed "
                     "from the end of the log, or it is another site's log"))
    return AuditReport(path=path, entries=entries, head=head, problems=tuple(problems),
                       signed=signed, checked_key=key.key_id if key is not None else None)


def _check_signature(number: int, entry: dict[str, Any], key: VerifyKey) -> list[AuditProblem]:
    if "sig" not in entry:
        return [AuditProblem(number, f"entry is not signed (every entry must be signed by "
                                     f"key {key.key_id})")]
    if entry["key"] != key.key_id:
        return [AuditProblem(number, f"entry is signed by key {entry['key']!r}, not by "
                                     f"{key.key_id}")]
    try:
        key.verify(entry["hash"], entry["sig"])
    except SignatureError as exc:
        return [AuditProblem(number, f"forged or altered entry: {exc}")]
    return []


def _check_entry(number: int, entry: dict[str, Any], expected_seq: int,
                 prev_hash: str) -> list[AuditProblem]:
    found: list[AuditProblem] = []
    if entry_hash(entry) != entry["hash"]:
        found.append(AuditProblem(number, "entry altered: its hash does not match its content"))
    seq = entry["seq"]
    if seq != expected_seq:
        if isinstance(seq, int) and seq > expected_seq:
            why = f"{seq - expected_seq} entry(ies) deleted before this line"
        else:
            why = "entries reordered or an entry inserted"
        found.append(AuditProblem(number, f"expected seq {expected_seq}, found {seq}: {why}"))
    if entry["prev"] != prev_hash:
        before = "the start of the log" if number == 1 else "the previous line"
        found.append(AuditProblem(
            number, f"chain broken: prev does not match the hash of {before} "
                    "(an entry before it was altered, removed, inserted or moved)"))
    return found
