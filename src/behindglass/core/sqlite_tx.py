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
