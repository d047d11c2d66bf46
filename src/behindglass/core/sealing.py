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
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from behindglass.core.canonical import canonical_json
from behindglass.core.errors import SignatureError
from behindglass.core.keyfiles import PrivateKeyFile, PublicKeyFile

MAGIC = b"BGS1"
INFO = b"behindglass sealed release v1"
_KEY_ID_BYTES = 8
_HEADER = len(MAGIC) + _KEY_ID_BYTES + 32 + 12


def _raw(key: X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class EncryptionPublicKey(PublicKeyFile):
    """A researcher's X25519 public key: what sites seal results to (from the roster)."""

    __slots__ = ()
    _type = X25519PublicKey
    _algorithm = "X25519"
    _what = "encryption public key"


class EncryptionKey(PrivateKeyFile):
    """A researcher's X25519 private key: opens what sites sealed. Written mode 0600."""

    __slots__ = ()
    _type = X25519PrivateKey
    _algorithm = "X25519"
    _public = EncryptionPublicKey
    _what = "encryption key"

    @classmethod
    def generate(cls) -> EncryptionKey:
        return cls(X25519PrivateKey.generate())

    def public(self) -> EncryptionPublicKey:
        return EncryptionPublicKey(self._key.public_key())

    def exchange(self, peer: bytes) -> bytes:
        return self._key.exchange(X25519PublicKey.from_public_bytes(peer))


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
