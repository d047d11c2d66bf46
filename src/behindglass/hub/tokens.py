"""Bearer tokens: random, shown once, stored only as hashes; and the roles they carry.

A token is 32 random bytes (URL-safe base64). The hub keeps ``sha256(token)``; a stolen
state file therefore holds no usable credential. Looking a token up by its hash is safe
against timing attacks: an attacker controls the token, not the hash it indexes.

Roles (see ``docs/access.md``):

* ``site`` — a machine inside a member's firewall: takes tasks, posts releases;
* ``researcher`` — submits studies and reads the results of their own studies;
* ``viewer`` — reads the results of studies a researcher shared with them, nothing else;
* ``admin`` — registers and revokes principals and sees every study's progress, but never
  a result: running the network must not mean reading its findings.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Literal, get_args

Role = Literal["site", "researcher", "viewer", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


@dataclass(frozen=True)
class Principal:
    """Who a request comes from."""

    name: str
    role: Role


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_role(role: str) -> Role:
    """A role named by a person (CLI, admin API): one of :data:`ROLES`, or a clear error."""
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not known: use one of {', '.join(ROLES)}")
    return role  # type: ignore[return-value]


def check_name(name: str, what: str) -> str:
    """Names end up in URLs, logs and file names: keep them plain."""
    if not NAME_PATTERN.fullmatch(name):  # fullmatch: '$' would let 'a\n' through
        raise ValueError(
            f"{what} name {name!r} is not valid: use 1-63 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name
