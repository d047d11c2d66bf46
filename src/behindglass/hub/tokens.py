"""Bearer tokens: random, shown once, stored only as hashes.

A token is 32 random bytes (URL-safe base64). The hub keeps ``sha256(token)``; a stolen
state file therefore holds no usable credential. Looking a token up by its hash is safe
against timing attacks: an attacker controls the token, not the hash it indexes.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Literal

Role = Literal["site", "researcher"]
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


def check_name(name: str, what: str) -> str:
    """Names end up in URLs, logs and file names: keep them plain."""
    if not NAME_PATTERN.match(name):
        raise ValueError(
            f"{what} name {name!r} is not valid: use 1-63 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name
