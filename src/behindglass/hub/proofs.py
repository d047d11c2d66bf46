"""What the hub keeps as proof of what it was sent: the nonces of signed messages (so none
is accepted twice) and the audit chain heads each site published, with the site's signature
(so a later rewrite of a site's log is provable, and the head is the site's word). A part of
:class:`~behindglass.hub.state.HubState`, whose connection and transactions it shares.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from behindglass.core.messages import AuditHead
from behindglass.hub.registry import StateError, _now

NONCE_MEMORY_SECONDS = 86400.0


class Proofs:
    """Nonces and published audit heads; mixed into the hub's state store."""

    _write: Callable[[], AbstractContextManager[sqlite3.Connection]]
    _read: Callable[..., list[sqlite3.Row]]

    def use_nonce(self, nonce: str, kind: str, signer: str) -> bool:
        """Record a signed message's nonce; True if it was recorded before (a replay). Kept
        durably, so a restart of the hub does not reopen the door to replays."""
        # a signed message is refused once older than minutes; a day of memory is ample
        forget = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=NONCE_MEMORY_SECONDS)
                  ).isoformat(timespec="microseconds")
        with self._write() as con:
            con.execute("DELETE FROM nonces WHERE used < ?", (forget,))
            if con.execute("SELECT 1 FROM nonces WHERE nonce = ?", (nonce,)).fetchone():
                return True
            con.execute("INSERT INTO nonces VALUES (?, ?, ?, ?)", (nonce, kind, signer, _now()))
        return False

    def record_audit_head(self, site: str, head: AuditHead,
                          signature: dict[str, Any] | None = None) -> None:
        """Keep a site's published audit chain head, with its signature (detached, already
        verified) on a signed hub. A second, different hash for the same sequence number
        means the site's log was rewritten: refused, and kept as proof."""
        with self._write() as con:
            row = con.execute("SELECT head FROM audit_heads WHERE site = ? AND seq = ?",
                              (site, head.seq)).fetchone()
            if row is not None:
                if row["head"] != head.head:
                    raise StateError(
                        f"site {site!r} published a different audit head for entry {head.seq} "
                        f"than before ({row['head'][:16]}…): its audit log was rewritten", 409)
                return
            con.execute("INSERT INTO audit_heads (site, seq, head, received, signature) "
                        "VALUES (?, ?, ?, ?, ?)", (site, head.seq, head.head, _now(),
                                                   None if signature is None
                                                   else json.dumps(signature)))

    def audit_heads(self, site: str) -> list[dict[str, Any]]:
        rows = self._read("SELECT seq, head, received, signature FROM audit_heads "
                          "WHERE site = ? ORDER BY seq", (site,))
        return [{**dict(r), "signature": None if r["signature"] is None
                 else json.loads(r["signature"])} for r in rows]
