"""Ed25519 signatures over canonical JSON, and signed envelopes (key files: keyfiles.py).

Everything that crosses a trust boundary in behindglass (a task, a release, an audit entry,
the network roster) is signed over :func:`behindglass.core.canonical.canonical_json` of the
value, so the signer and the verifier agree on the bytes without agreeing on a serialiser.
Ed25519 because it has no parameters to get wrong, small keys, and deterministic signatures.

A key is named by its :attr:`VerifyKey.key_id`, the first 16 hex digits of the SHA-256 of
the raw 32-byte public key: short enough to print, long enough that two keys of one network
never collide by chance.

:func:`sign_envelope` / :func:`open_envelope` wrap a payload with who signed it, when, and a
random nonce, so a receiver can refuse a message that was altered, signed by a key it does not
know, is too old, or was already seen (a replay). Each refusal has its own message.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from behindglass.core.canonical import canonical_json
from behindglass.core.errors import SignatureError
from behindglass.core.keyfiles import PrivateKeyFile, PublicKeyFile

MISMATCH = "signature does not match: the message was altered or signed by another key"
ENVELOPE_FIELDS = ("payload", "signer", "key_id", "nonce", "issued", "sig")
# Clocks of a network drift; a message "from the future" by more than this is refused.
CLOCK_SKEW_SECONDS = 300


def _signed_bytes(obj: Any) -> bytes:
    try:
        return canonical_json(obj).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise SignatureError(f"cannot sign a value that is not JSON-able: {exc}") from None


class VerifyKey(PublicKeyFile):
    """An Ed25519 public key: checks signatures, names itself by :attr:`key_id`."""

    __slots__ = ()
    _type = Ed25519PublicKey
    _algorithm = "Ed25519"

    def verify_bytes(self, data: bytes, sig: str) -> None:
        """Raise :class:`SignatureError` unless ``sig`` (base64) signs ``data``."""
        try:
            raw_sig = base64.b64decode(sig.encode("ascii"), validate=True)
        except (binascii.Error, ValueError, UnicodeEncodeError, AttributeError):
            raise SignatureError("signature is not base64: the message was altered") from None
        try:
            self._key.verify(raw_sig, data)
        except InvalidSignature:
            raise SignatureError(MISMATCH) from None

    def verify(self, obj: Any, sig: str) -> None:
        """Raise :class:`SignatureError` unless ``sig`` signs the canonical JSON of ``obj``."""
        self.verify_bytes(_signed_bytes(obj), sig)


class SigningKey(PrivateKeyFile):
    """An Ed25519 private key. Its file is written mode 0600; it never leaves its owner."""

    __slots__ = ()
    _type = Ed25519PrivateKey
    _algorithm = "Ed25519"
    _public = VerifyKey

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    def public(self) -> VerifyKey:
        return VerifyKey(self._key.public_key())

    def sign_bytes(self, data: bytes) -> str:
        return base64.b64encode(self._key.sign(data)).decode("ascii")

    def sign(self, obj: Any) -> str:
        """Base64 Ed25519 signature over the canonical JSON of ``obj``."""
        return self.sign_bytes(_signed_bytes(obj))


# -- envelopes ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Opened:
    """A verified envelope. The caller checks that ``signer`` is who holds ``key_id`` in its
    roster (the signature proves the key, the roster proves the name)."""

    payload: dict[str, Any]
    signer: str
    key_id: str
    nonce: str
    issued: dt.datetime


def _utc(now: dt.datetime | None) -> dt.datetime:
    now = now or dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(dt.UTC)


def sign_envelope(payload: dict[str, Any], key: SigningKey, *, signer: str,
                  nonce: str | None = None, now: dt.datetime | None = None) -> dict[str, Any]:
    """``payload`` wrapped with signer, key id, a random 128-bit nonce and the time, all
    covered by ``sig``."""
    if not isinstance(payload, dict):
        raise SignatureError("an envelope payload must be a JSON object")
    if not signer:
        raise SignatureError("an envelope needs the signer's name")
    env: dict[str, Any] = {
        "payload": payload,
        "signer": signer,
        "key_id": key.key_id,
        "nonce": nonce if nonce is not None else secrets.token_hex(16),
        "issued": _utc(now).isoformat(timespec="seconds"),
    }
    env["sig"] = key.sign(env)
    return env


def open_envelope(env: Any, keys: Mapping[str, VerifyKey], *, max_age_seconds: float,
                  seen: Callable[[str], bool], now: dt.datetime | None = None) -> Opened:
    """Verify ``env`` and return what it carries, or raise :class:`SignatureError` saying
    which check failed: unsigned, malformed, unknown key, altered, expired, from the future,
    or replayed. ``seen(nonce)`` answers whether the nonce was used before; it is asked
    only once the signature holds, so forged messages cannot fill the caller's nonce store.
    """
    if not isinstance(env, dict) or "sig" not in env:
        raise SignatureError("message is unsigned: it carries no signature")
    missing = [f for f in ENVELOPE_FIELDS if f not in env]
    extra = sorted(set(env) - set(ENVELOPE_FIELDS))
    if missing or extra:
        raise SignatureError(f"signed message is malformed: missing {missing}, unexpected "
                             f"{extra}")
    key_id = env["key_id"]
    if not isinstance(key_id, str) or key_id not in keys:
        raise SignatureError(f"message is signed by an unknown key {key_id!r} "
                             f"(signer {env['signer']!r} is not in this network's roster)")
    body = {k: env[k] for k in ENVELOPE_FIELDS if k != "sig"}
    keys[key_id].verify(body, env["sig"])
    if not isinstance(env["payload"], dict):
        raise SignatureError("signed message is malformed: the payload is not an object")
    try:
        issued = dt.datetime.fromisoformat(env["issued"])
    except (TypeError, ValueError):
        raise SignatureError("signed message is malformed: 'issued' is not a time") from None
    if issued.tzinfo is None:
        raise SignatureError("signed message is malformed: 'issued' has no time zone")
    age = (_utc(now) - issued).total_seconds()
    if age > max_age_seconds:
        raise SignatureError(f"message expired: issued {age:.0f} s ago, older than the "
                             f"{max_age_seconds:.0f} s allowed")
    if age < -CLOCK_SKEW_SECONDS:
        raise SignatureError(f"message is issued {-age:.0f} s in the future: the signer's "
                             "clock is wrong or the message was forged")
    nonce = env["nonce"]
    if not isinstance(nonce, str) or not nonce:
        raise SignatureError("signed message is malformed: no nonce")
    if seen(nonce):
        raise SignatureError(f"message replayed: nonce {nonce} was already used")
    return Opened(payload=env["payload"], signer=str(env["signer"]), key_id=key_id,
                  nonce=nonce, issued=issued.astimezone(dt.UTC))
