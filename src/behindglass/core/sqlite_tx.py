"""One SQLite write transaction, the way every store of ours takes it.

The site's approval store, release ledger and epsilon budget, and the hub's state, are each
written by more than one process (an agent and a steward's command, a hub and its admin
commands). ``BEGIN IMMEDIATE`` takes SQLite's write lock before the first read, so a check
and the write that depends on it cannot interleave with another writer's; any error rolls
the whole change back.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path


@contextmanager
def immediate(con: sqlite3.Connection,
              lock: threading.Lock | threading.RLock | None = None
              ) -> Iterator[sqlite3.Connection]:
    """A write transaction on ``con`` (opened with ``isolation_level=None``); ``lock`` guards
    a connection shared between threads."""
    with lock if lock is not None else nullcontext():
        con.execute("BEGIN IMMEDIATE")
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")


def open_wal(path: str | Path, *, shared: bool = False) -> sqlite3.Connection:
    """A connection to one of our SQLite stores: transactions are ours (``immediate``), WAL
    lets a reader in while another process writes, every commit is synced, and a writer
    waits up to 30 s for another's lock. ``shared``: used from several threads (behind the
    caller's lock)."""
    con = sqlite3.connect(path, check_same_thread=not shared, isolation_level=None,
                          timeout=30)
    con.row_factory = sqlite3.Row
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    return con


def apply_schema(con: sqlite3.Connection, schema: str) -> None:
    """Run ``CREATE ... IF NOT EXISTS`` statements one by one, inside the caller's
    transaction (``executescript`` would commit it early)."""
    for statement in schema.split(";"):
        if statement.strip():
            con.execute(statement)
