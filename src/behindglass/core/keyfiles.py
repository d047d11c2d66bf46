"""Key pairs kept in PEM files: what signing keys (Ed25519) and sealing keys (X25519) share.

A public key names itself by :attr:`PublicKeyFile.key_id`, the first 16 hex digits of the
SHA-256 of its raw bytes: short enough to print, long enough that two keys of one network
never collide by chance. A private key file is written mode 0600 by write-then-rename, so it
is never readable by others even for a moment, and it is never printed.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any, ClassVar, Self

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from behindglass.core.errors import BehindGlassError, SignatureError


def write_atomic(path: str | Path, data: bytes, mode: int = 0o644) -> Path:
    """Write ``data`` to a temporary file beside ``path`` with ``mode``, fsync, then rename,
    so a reader sees the old file or the whole new one, and a private key is never readable
    by others even for a moment (the mode is set when the file is created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_key_file(path: str | Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise BehindGlassError(f"{path}: cannot read the {what} ({exc.strerror or exc})"
                               ) from None


class _KeyFile:
    """What the public and the private key files share: one algorithm (``_type``), loaded
    from a PEM file and checked to be of that algorithm."""

    __slots__ = ("_key",)
    _type: ClassVar[type]
    _algorithm: ClassVar[str]
    _what: ClassVar[str]

    def __init__(self, key: Any) -> None:
        self._key = key

    @classmethod
    def _checked(cls, key: object, source: str, half: str) -> Self:
        if not isinstance(key, cls._type):
            raise SignatureError(f"{source}: not an {cls._algorithm} {half} key "
                                 f"(found {type(key).__name__})")
        return cls(key)

    @classmethod
    def load(cls, path: str | Path) -> Self:
        # from_pem: each kind's own (a public or a private PEM)
        return cls.from_pem(read_key_file(path, cls._what),  # type: ignore[attr-defined, no-any-return]
                            source=str(path))


class PublicKeyFile(_KeyFile):
    """A public key of one algorithm (``_type``), in and out of PEM, named by its key id."""

    __slots__ = ()
    _what: ClassVar[str] = "public key"

    @property
    def raw(self) -> bytes:
        return self._key.public_bytes(serialization.Encoding.Raw,
                                      serialization.PublicFormat.Raw)

    @property
    def key_id(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()[:16]

    def to_pem(self) -> str:
        return self._key.public_bytes(serialization.Encoding.PEM,
                                      serialization.PublicFormat.SubjectPublicKeyInfo
                                      ).decode("ascii")

    @classmethod
    def from_pem(cls, pem: str | bytes, *, source: str | None = None) -> Self:
        source = source or cls._what
        data = pem.encode("ascii") if isinstance(pem, str) else pem
        try:
            key = serialization.load_pem_public_key(data)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise SignatureError(f"{source}: not a PEM public key") from None
        return cls._checked(key, source, "public")

    def save(self, path: str | Path) -> Path:
        return write_atomic(path, self.to_pem().encode("ascii"), 0o644)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, type(self)) and other.raw == self.raw

    def __hash__(self) -> int:
        return hash(self.raw)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.key_id})"


class PrivateKeyFile(_KeyFile):
    """A private key of one algorithm; its public half is a ``_public``."""

    __slots__ = ()
    _public: ClassVar[type[PublicKeyFile]]
    _what: ClassVar[str] = "private key"

    def public(self) -> Any:
        return self._public(self._key.public_key())

    @property
    def key_id(self) -> str:
        return self.public().key_id

    def to_pem(self) -> bytes:
        return self._key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())

    @classmethod
    def from_pem(cls, pem: bytes, *, source: str | None = None) -> Self:
        source = source or cls._what
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except TypeError:
            raise SignatureError(f"{source}: the private key is encrypted; behindglass "
                                 "expects an unencrypted key protected by file permissions"
                                 ) from None
        except (ValueError, UnsupportedAlgorithm):
            raise SignatureError(f"{source}: not a PEM private key") from None
        return cls._checked(key, source, "private")

    def save(self, path: str | Path) -> Path:
        return write_atomic(path, self.to_pem(), 0o600)

    def __repr__(self) -> str:  # never print key material
        return f"{type(self).__name__}({self.key_id})"
