"""Sealed results: a site encrypts a release to the researcher who asked, so the hub relays
only ciphertext.

Why: a signature proves who wrote a release, but the hub still reads it. A study that opts
in (``StudySpec.seal_results``) has every site encrypt its aggregates and refusals to the
researcher's X25519 key from the signed roster; the hub stores and relays a blob it cannot
open, and the researcher's SDK opens and combines them.

The scheme is a sealed box built from standard parts (like HPKE base mode):

* an **ephemeral** X25519 key pair per blob; Diffie-Hellman with the recipient's key,
* **HKDF-SHA256** over the shared secret, salted with both public keys, gives the key,
* **ChaCha20-Poly1305** encrypts, with associated data naming the task id and the site, so a
  blob cannot be moved to another task or presented as another site's: opening it there
  fails its authentication tag.

A blob is ``base64(MAGIC | recipient key id (8 bytes) | ephemeral public (32) | nonce (12)
| ciphertext+tag)``. The recipient key id lets the opener say "sealed to another key"
instead of a bare failure. Sealing proves nothing about the sender (anyone may seal to a
public key): the site's signature over the exact bytes sent does that.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from behindglass.core.canonical import canonical_json
from behindglass.core.errors import BehindGlassError, SignatureError
from behindglass.core.signing import write_atomic

MAGIC = b"BGS1"
INFO = b"behindglass sealed release v1"
_KEY_ID_BYTES = 8
_HEADER = len(MAGIC) + _KEY_ID_BYTES + 32 + 12


def _raw(key: X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _read(path: str | Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise BehindGlassError(f"{path}: cannot read the {what} ({exc.strerror or exc})"
                               ) from None


class EncryptionPublicKey:
    """A researcher's X25519 public key: what sites seal results to (from the roster)."""

    __slots__ = ("_key",)

    def __init__(self, key: X25519PublicKey) -> None:
        self._key = key

    @property
    def raw(self) -> bytes:
        return _raw(self._key)

    @property
    def key_id(self) -> str:
        """First 16 hex digits of the SHA-256 of the raw key, as for signing keys."""
        return hashlib.sha256(self.raw).hexdigest()[:16]

    def to_pem(self) -> str:
        return self._key.public_bytes(serialization.Encoding.PEM,
                                      serialization.PublicFormat.SubjectPublicKeyInfo
                                      ).decode("ascii")

    @classmethod
    def from_pem(cls, pem: str | bytes, *, source: str = "encryption key"
                 ) -> EncryptionPublicKey:
        data = pem.encode("ascii") if isinstance(pem, str) else pem
        try:
            key = serialization.load_pem_public_key(data)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise SignatureError(f"{source}: not a PEM public key") from None
        if not isinstance(key, X25519PublicKey):
            raise SignatureError(f"{source}: not an X25519 public key "
                                 f"(found {type(key).__name__})")
        return cls(key)

    @classmethod
    def load(cls, path: str | Path) -> EncryptionPublicKey:
        return cls.from_pem(_read(path, "encryption public key"), source=str(path))

    def save(self, path: str | Path) -> Path:
        return write_atomic(path, self.to_pem().encode("ascii"), 0o644)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EncryptionPublicKey) and other.raw == self.raw

    def __hash__(self) -> int:
        return hash(self.raw)

    def __repr__(self) -> str:
        return f"EncryptionPublicKey({self.key_id})"


class EncryptionKey:
    """A researcher's X25519 private key: opens what sites sealed. Written mode 0600."""

    __slots__ = ("_key",)

    def __init__(self, key: X25519PrivateKey) -> None:
        self._key = key

    @classmethod
    def generate(cls) -> EncryptionKey:
        return cls(X25519PrivateKey.generate())

    def public(self) -> EncryptionPublicKey:
        return EncryptionPublicKey(self._key.public_key())

    @property
    def key_id(self) -> str:
        return self.public().key_id

    def exchange(self, peer: bytes) -> bytes:
        return self._key.exchange(X25519PublicKey.from_public_bytes(peer))

    def to_pem(self) -> bytes:
        return self._key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())

    @classmethod
    def from_pem(cls, pem: bytes, *, source: str = "encryption key") -> EncryptionKey:
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except TypeError:
            raise SignatureError(f"{source}: the private key is encrypted; behindglass "
                                 "expects an unencrypted key protected by file permissions"
                                 ) from None
        except (ValueError, UnsupportedAlgorithm):
            raise SignatureError(f"{source}: not a PEM private key") from None
        if not isinstance(key, X25519PrivateKey):
            raise SignatureError(f"{source}: not an X25519 private key "
                                 f"(found {type(key).__name__})")
        return cls(key)

    @classmethod
    def load(cls, path: str | Path) -> EncryptionKey:
        return cls.from_pem(_read(path, "encryption key"), source=str(path))

    def save(self, path: str | Path) -> Path:
        return write_atomic(path, self.to_pem(), 0o600)

    def __repr__(self) -> str:  # never print key material
        return f"EncryptionKey({self.key_id})"


def _associated(task_id: str, site: str) -> bytes:
    """What a blob is bound to: opening it under another task or site fails."""
    return canonical_json({"format": "behindglass.sealed/1", "site": site,
                           "task_id": task_id}).encode("utf-8")


def _derive(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral + recipient,
                info=INFO).derive(shared)


def seal(plaintext: bytes, recipient: EncryptionPublicKey, *, task_id: str, site: str) -> str:
    """``plaintext`` encrypted to ``recipient``, bound to ``task_id`` and ``site``: base64
    text only the holder of the recipient's private key can open."""
    if not task_id or not site:
        raise SignatureError("a sealed blob must be bound to a task id and a site")
    ephemeral = X25519PrivateKey.generate()
    eph_raw = _raw(ephemeral.public_key())
    key = _derive(ephemeral.exchange(recipient._key), eph_raw, recipient.raw)
    nonce = os.urandom(12)
    ciphertext = ChaCha20Poly1305(key).encrypt(nonce, plaintext, _associated(task_id, site))
    key_id = bytes.fromhex(recipient.key_id)[:_KEY_ID_BYTES]
    return base64.b64encode(MAGIC + key_id + eph_raw + nonce + ciphertext).decode("ascii")


def sealed_to(blob: str) -> str:
    """The key id (16 hex digits) of the key a blob was sealed to."""
    return _split(blob)[0].hex()


def _split(blob: str) -> tuple[bytes, bytes, bytes, bytes]:
    try:
        raw = base64.b64decode(blob.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError, AttributeError):
        raise SignatureError("sealed results are not base64: the blob was altered") from None
    if len(raw) < _HEADER + 16 or not raw.startswith(MAGIC):
        raise SignatureError("sealed results are malformed: not a behindglass sealed blob "
                             "(or cut short)")
    at = len(MAGIC)
    key_id, at = raw[at:at + _KEY_ID_BYTES], at + _KEY_ID_BYTES
    eph, at = raw[at:at + 32], at + 32
    nonce, at = raw[at:at + 12], at + 12
    return key_id, eph, nonce, raw[at:]


def open_sealed(blob: str, key: EncryptionKey, *, task_id: str, site: str) -> bytes:
    """The plaintext of ``blob``, or :class:`SignatureError` saying why not: sealed to
    another key, altered, or moved from another task or site."""
    key_id, eph, nonce, ciphertext = _split(blob)
    mine = key.key_id
    if key_id.hex() != mine:
        raise SignatureError(f"these results are sealed to encryption key {key_id.hex()}, "
                             f"not to yours ({mine}): they were sealed for someone else")
    shared = key.exchange(eph)
    sym = _derive(shared, eph, key.public().raw)
    try:
        return ChaCha20Poly1305(sym).decrypt(nonce, ciphertext, _associated(task_id, site))
    except InvalidTag:
        raise SignatureError(f"sealed results of site {site!r} (task {task_id}) do not open: "
                             "the blob was altered, or moved here from another task or site"
                             ) from None


__all__ = ["EncryptionKey", "EncryptionPublicKey", "open_sealed", "seal", "sealed_to"]
