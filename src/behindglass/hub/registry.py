"""The hub's registry of who may talk to it: sites, researchers, admins and viewers (each
with only the hash of its token), revocation, and which studies are shared with which
viewers (docs/access.md). A part of :class:`~behindglass.hub.state.HubState`, whose
connection and transactions it shares.
"""

from __future__ import annotations

import datetime as dt
import secrets
import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from behindglass.core.errors import BehindGlassError
from behindglass.hub.tokens import Principal, Role, check_name, hash_token, new_token

if TYPE_CHECKING:
    from behindglass.hub.state import StudyRow


class StateError(BehindGlassError):
    """A change the state store refuses; ``status`` is the HTTP status it maps to."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


class Registry:
    """Principals and sharing; mixed into the hub's state store."""

    _write: Callable[[], AbstractContextManager[sqlite3.Connection]]
    _read: Callable[..., list[sqlite3.Row]]
    _study_row: Callable[[sqlite3.Row], StudyRow]

    # -- principals ---------------------------------------------------------------------
    def add_principal(self, name: str, role: Role) -> str:
        """Register a site or researcher; returns the token, which is stored only hashed."""
        check_name(name, role)
        if role in ("admin", "viewer"):
            return self._add_member(name, role)
        table = "sites" if role == "site" else "researchers"
        token = new_token()
        with self._write() as con:
            if con.execute(f"SELECT 1 FROM {table} WHERE name = ?", (name,)).fetchone():
                raise StateError(f"a {role} named {name!r} already exists")
            con.execute(f"INSERT INTO {table} (name, token_hash, created) VALUES (?, ?, ?)",
                        (name, hash_token(token), _now()))
        return token

    def authenticate(self, token: str) -> Principal | None:
        h = hash_token(token)
        for table, role in (("sites", "site"), ("researchers", "researcher")):
            rows = self._read(f"SELECT name FROM {table} WHERE token_hash = ?", (h,))
            if rows:
                return Principal(name=rows[0]["name"], role=role)  # type: ignore[arg-type]
        return self._authenticate_member(h)

    def site_names(self) -> list[str]:
        return [r["name"] for r in self._read("SELECT name FROM sites ORDER BY name")]

    def principals(self) -> list[dict[str, str | None]]:
        rows = self._read(
            "SELECT 'site' AS role, name, created, last_seen FROM sites UNION ALL "
            "SELECT 'researcher', name, created, NULL FROM researchers ORDER BY 1 DESC, 2")
        return [dict(r) for r in rows]

    def sites(self) -> list[dict[str, str | None]]:
        return [dict(r) for r in self._read("SELECT name, last_seen FROM sites ORDER BY name")]

    def touch_site(self, site: str) -> None:
        with self._write() as con:
            con.execute("UPDATE sites SET last_seen = ? WHERE name = ?", (_now(), site))

    # -- admins, viewers, revocation and sharing (see docs/access.md) -------------------
    def _add_member(self, name: str, role: Role) -> str:
        """Admins and viewers live in ``members``; only their token hash is kept."""
        token = new_token()
        with self._write() as con:
            if con.execute("SELECT 1 FROM members WHERE role = ? AND name = ?",
                           (role, name)).fetchone():
                raise StateError(f"a {role} named {name!r} already exists")
            con.execute("INSERT INTO members (role, name, token_hash, created) "
                        "VALUES (?, ?, ?, ?)", (role, name, hash_token(token), _now()))
        return token

    def _authenticate_member(self, token_hash: str) -> Principal | None:
        rows = self._read("SELECT role, name FROM members WHERE token_hash = ?", (token_hash,))
        return Principal(name=rows[0]["name"], role=rows[0]["role"]) if rows else None

    def principal_list(self) -> list[dict[str, str | None]]:
        """Every principal of every role, with when it was revoked (None if active)."""
        rows = self._read(
            "SELECT p.role, p.name, p.created, p.last_seen, r.revoked FROM ("
            "SELECT 'site' AS role, name, created, last_seen FROM sites UNION ALL "
            "SELECT 'researcher', name, created, NULL FROM researchers UNION ALL "
            "SELECT role, name, created, NULL FROM members) p LEFT JOIN revoked r "
            "ON r.role = p.role AND r.name = p.name ORDER BY p.role, p.name")
        return [dict(r) for r in rows]

    def revoke_principal(self, name: str, role: Role, by: str | None = None) -> None:
        """Make a principal's token worthless at once: its stored hash is replaced by one
        no token has. Studies, tasks and releases stay, as the audit needs them."""
        table = {"site": "sites", "researcher": "researchers"}.get(role, "members")
        where, args = ("name = ?", (name,)) if table != "members" else (
            "name = ? AND role = ?", (name, role))
        with self._write() as con:
            if not con.execute(f"SELECT 1 FROM {table} WHERE {where}", args).fetchone():
                raise StateError(f"no {role} named {name!r}", 404)
            if con.execute("SELECT 1 FROM revoked WHERE role = ? AND name = ?",
                           (role, name)).fetchone():
                raise StateError(f"{role} {name!r} is already revoked", 409)
            con.execute(f"UPDATE {table} SET token_hash = ? WHERE {where}",
                        ("revoked:" + secrets.token_hex(16), *args))
            con.execute("INSERT INTO revoked VALUES (?, ?, ?, ?)", (role, name, _now(), by))

    def share_study(self, study_id: str, viewer: str) -> None:
        """Let an active viewer read one study's status and results (idempotent)."""
        with self._write() as con:
            active = con.execute(
                "SELECT 1 FROM members m WHERE m.role = 'viewer' AND m.name = ? AND NOT "
                "EXISTS (SELECT 1 FROM revoked r WHERE r.role = 'viewer' AND r.name = m.name)",
                (viewer,)).fetchone()
            if not active:
                raise StateError(f"no active viewer named {viewer!r} at this hub", 422)
            con.execute("INSERT OR IGNORE INTO study_viewers VALUES (?, ?, ?)",
                        (study_id, viewer, _now()))

    def unshare_study(self, study_id: str, viewer: str) -> None:
        with self._write() as con:
            gone = con.execute("DELETE FROM study_viewers WHERE study_id = ? AND viewer = ?",
                               (study_id, viewer)).rowcount
        if not gone:
            raise StateError(f"study {study_id} is not shared with {viewer!r}", 404)

    def viewers_of(self, study_id: str) -> list[str]:
        return [r["viewer"] for r in self._read(
            "SELECT viewer FROM study_viewers WHERE study_id = ? ORDER BY viewer", (study_id,))]

    def shared_with(self, viewer: str) -> list[StudyRow]:
        """The studies shared with ``viewer``, oldest first."""
        rows = self._read("SELECT s.* FROM studies s JOIN study_viewers v "
                          "ON v.study_id = s.study_id WHERE v.viewer = ? ORDER BY s.rowid",
                          (viewer,))
        return [self._study_row(r) for r in rows]

    def can_view(self, study_id: str, viewer: str) -> bool:
        return bool(self._read("SELECT 1 FROM study_viewers WHERE study_id = ? AND viewer = ?",
                               (study_id, viewer)))
