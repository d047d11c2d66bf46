"""The site's de-identification secret: the one key behind every pseudonym and date shift.

Every keyed transformation in :mod:`behindglass.deid` (person/visit/provider ids, per-person
date shifts) is an HMAC-SHA256 under this secret. Holding it is what makes the pseudonyms
stable across loads; *not* holding it is what makes them unlinkable for everyone else. So:

* it is generated and kept at the site and never leaves it (no repr, no pickling, no logging);
* losing or regenerating it silently breaks linkage with every earlier load, which is why
  :meth:`SiteSecret.generate` refuses to overwrite an existing file;
* a file other users can read is a leak waiting to happen, so loading it warns.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import stat
import warnings
from pathlib import Path

from behindglass.core.errors import DeidError
from behindglass.core.keyfiles import write_atomic

#: 256 bits: the HMAC-SHA256 block-level security; shorter keys weaken every pseudonym.
MIN_SECRET_BYTES = 32

_HEX = re.compile(rb"[0-9a-fA-F]+")
_B64 = re.compile(rb"[A-Za-z0-9+/_-]+={0,2}")


class SecretError(DeidError):
    """The site secret is missing, too short or unreadable."""


class InsecureSecretWarning(UserWarning):
    """The secret file can be read by users other than its owner."""


class SiteSecret:
    """A site's HMAC key. Opaque on purpose: it prints as a fingerprint, never as its bytes."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes | bytearray):
            raise SecretError("the site secret must be bytes")
        if len(key) < MIN_SECRET_BYTES:
            raise SecretError(
                f"the site secret is {len(key)} bytes; at least {MIN_SECRET_BYTES} random "
                "bytes are required (create one with SiteSecret.generate(path))"
            )
        self._key = bytes(key)

    @property
    def fingerprint(self) -> str:
        """A short, one-way tag naming *which* secret was used (safe to log and audit)."""
        return hmac.new(self._key, b"behindglass-fingerprint", hashlib.sha256).hexdigest()[:16]

    def keyed(self, namespace: str) -> hmac.HMAC:
        """An HMAC already fed ``namespace + "\\x00"``; ``.copy()`` it once per value.

        Pre-keying once per batch (instead of ``hmac.new`` per value) is what makes per-value
        hashing fast enough: ~0.8M values/s on one core.
        """
        if not namespace or "\x00" in namespace:
            raise DeidError("a pseudonym namespace must be a non-empty string without NUL")
        return hmac.new(self._key, namespace.encode("utf-8") + b"\x00", hashlib.sha256)

    def __repr__(self) -> str:
        return f"SiteSecret(fingerprint={self.fingerprint!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SiteSecret):
            return NotImplemented
        return hmac.compare_digest(self._key, other._key)

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    def __reduce__(self) -> tuple[object, ...]:
        # Pickling would copy the key into queues, caches and crash dumps.
        raise TypeError("SiteSecret cannot be pickled: the secret never leaves the site")

    @classmethod
    def generate(cls, path: str | os.PathLike[str], *, overwrite: bool = False) -> SiteSecret:
        """Write a new 32-byte secret (hex text, mode 600) to ``path`` and return it.

        The file is written to a temporary name in the same directory and renamed, so a crash
        never leaves a half-written secret. An existing file is kept unless ``overwrite``:
        a new secret means new ids for every person, i.e. no linkage with earlier loads.
        """
        target = Path(path)
        if target.exists() and not overwrite:
            raise SecretError(
                f"{target}: a secret already exists; replacing it would break linkage with "
                "every earlier load (pass overwrite=True if that is really intended)"
            )
        key = os.urandom(MIN_SECRET_BYTES)
        write_atomic(target, key.hex().encode("ascii") + b"\n", 0o600)
        return cls(key)


def _decode(raw: bytes) -> bytes:
    """Raw key bytes from a file holding raw bytes, hex text or base64 text."""
    text = raw.strip()
    if len(text) >= 2 * MIN_SECRET_BYTES and len(text) % 2 == 0 and _HEX.fullmatch(text):
        return bytes.fromhex(text.decode("ascii"))
    if _B64.fullmatch(text):
        try:
            alt = b"-_" if (b"-" in text or b"_" in text) else None
            padded = text + b"=" * (-len(text) % 4)
            return base64.b64decode(padded, altchars=alt, validate=True)
        except (binascii.Error, ValueError):
            pass
    return raw


def load_secret(path: str | os.PathLike[str]) -> SiteSecret:
    """Read the site secret from ``path`` (raw bytes, hex or base64 text).

    Raises :class:`SecretError` if the file is missing or holds fewer than 32 bytes of key;
    warns with :class:`InsecureSecretWarning` if group or others may read it.
    """
    p = Path(path)
    try:
        st = p.stat()
        raw = p.read_bytes()
    except FileNotFoundError:
        raise SecretError(
            f"{p}: no site secret found; create one with "
            "`SiteSecret.generate(path)` and keep it inside the site"
        ) from None
    except OSError as exc:
        raise SecretError(f"{p}: the site secret cannot be read ({exc.strerror})") from None
    if os.name == "posix" and st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        warnings.warn(
            f"{p}: the site secret is readable by group/others "
            f"(mode {stat.S_IMODE(st.st_mode):03o}); run `chmod 600 {p}`",
            InsecureSecretWarning,
            stacklevel=2,
        )
    key = _decode(raw)
    if len(key) < MIN_SECRET_BYTES:
        raise SecretError(
            f"{p}: the site secret holds {len(key)} bytes of key; at least "
            f"{MIN_SECRET_BYTES} random bytes are required"
        )
    return SiteSecret(key)
