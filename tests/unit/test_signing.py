"""Ed25519 signing: signatures bind the exact value and the key; key files are private and
fail clearly; envelopes refuse unsigned, unknown-key, altered, expired and replayed messages."""

from __future__ import annotations

import datetime as dt
import hashlib
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from behindglass.core.errors import BehindGlassError, SignatureError
from behindglass.core.signing import (
    MISMATCH,
    SigningKey,
    VerifyKey,
    open_envelope,
    sign_envelope,
)

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)


def test_signature_binds_value_not_key_order() -> None:
    key = SigningKey.generate()
    sig = key.sign({"task": "tk-1", "counts": [12, 40]})
    key.public().verify({"counts": [12, 40], "task": "tk-1"}, sig)  # same canonical JSON
    with pytest.raises(SignatureError, match="altered or signed by another key"):
        key.public().verify({"task": "tk-1", "counts": [12, 41]}, sig)
    with pytest.raises(SignatureError, match="altered or signed by another key"):
        SigningKey.generate().public().verify({"task": "tk-1", "counts": [12, 40]}, sig)
    with pytest.raises(SignatureError, match="not base64"):
        key.public().verify({"task": "tk-1"}, "not a signature!")
    # a flipped byte inside valid base64 is caught too
    flipped = ("B" if sig[0] == "A" else "A") + sig[1:]
    with pytest.raises(SignatureError, match=MISMATCH.split(":")[0]):
        key.public().verify({"task": "tk-1", "counts": [12, 40]}, flipped)


def test_key_id_is_short_hash_of_raw_public_key() -> None:
    key = SigningKey.generate()
    pub = key.public()
    assert pub.key_id == hashlib.sha256(pub.raw).hexdigest()[:16] == key.key_id
    assert len(pub.raw) == 32
    assert SigningKey.generate().key_id != key.key_id
    assert "PRIVATE" not in repr(key) and key.key_id in repr(key)


def test_key_files_round_trip_and_private_file_is_0600(tmp_path: Path) -> None:
    key = SigningKey.generate()
    key.save(tmp_path / "k" / "signing.key")
    key.public().save(tmp_path / "k" / "signing.pub")
    mode = stat.S_IMODE((tmp_path / "k" / "signing.key").stat().st_mode)
    assert mode == 0o600
    assert sorted(p.name for p in (tmp_path / "k").iterdir()) == ["signing.key", "signing.pub"]
    again = SigningKey.load(tmp_path / "k" / "signing.key")
    assert again.sign({"a": 1}) == key.sign({"a": 1})  # Ed25519 is deterministic
    assert VerifyKey.load(tmp_path / "k" / "signing.pub") == key.public()
    # re-saving replaces the file whole, and it stays private
    SigningKey.generate().save(tmp_path / "k" / "signing.key")
    assert stat.S_IMODE((tmp_path / "k" / "signing.key").stat().st_mode) == 0o600
    assert SigningKey.load(tmp_path / "k" / "signing.key").key_id != key.key_id


def test_wrong_and_unreadable_key_files_name_the_path(tmp_path: Path) -> None:
    key = SigningKey.generate()
    pub = key.public().save(tmp_path / "signing.pub")
    priv = key.save(tmp_path / "signing.key")
    with pytest.raises(SignatureError, match=r"signing\.pub: not a PEM private key"):
        SigningKey.load(pub)
    with pytest.raises(SignatureError, match=r"signing\.key: not a PEM public key"):
        VerifyKey.load(priv)
    missing = tmp_path / "nope.key"
    with pytest.raises(BehindGlassError, match=r"nope\.key: cannot read the private key"):
        SigningKey.load(missing)
    garbage = tmp_path / "garbage.pub"
    garbage.write_text("hello")
    with pytest.raises(SignatureError, match=r"garbage\.pub"):
        VerifyKey.load(garbage)
    ecdsa = ec.generate_private_key(ec.SECP256R1())
    other = tmp_path / "ec.key"
    other.write_bytes(ecdsa.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    with pytest.raises(SignatureError, match=r"ec\.key: not an Ed25519 private key"):
        SigningKey.load(other)
    locked = tmp_path / "locked.key"
    locked.write_bytes(ecdsa.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw")))
    with pytest.raises(SignatureError, match=r"locked\.key: the private key is encrypted"):
        SigningKey.load(locked)


# -- envelopes ------------------------------------------------------------------------------
class Nonces:
    def __init__(self) -> None:
        self.used: set[str] = set()
        self.asked = 0

    def __call__(self, nonce: str) -> bool:
        self.asked += 1
        if nonce in self.used:
            return True
        self.used.add(nonce)
        return False


def _open(env: object, key: SigningKey, nonces: Nonces | None = None, now: dt.datetime = NOW,
          max_age: float = 600):
    return open_envelope(env, {key.key_id: key.public()}, max_age_seconds=max_age,
                         seen=nonces or Nonces(), now=now)


def test_envelope_round_trip() -> None:
    key = SigningKey.generate()
    env = sign_envelope({"task_id": "tk-1"}, key, signer="alice", now=NOW)
    assert set(env) == {"payload", "signer", "key_id", "nonce", "issued", "sig"}
    assert len(env["nonce"]) == 32 and env["key_id"] == key.key_id
    opened = _open(env, key, now=NOW + dt.timedelta(seconds=30))
    assert opened.payload == {"task_id": "tk-1"}
    assert opened.signer == "alice" and opened.issued == NOW
    assert sign_envelope({}, key, signer="a")["nonce"] != sign_envelope({}, key, signer="a")[
        "nonce"]


def test_unsigned_and_unknown_key_envelopes_are_refused() -> None:
    key = SigningKey.generate()
    env = sign_envelope({"task_id": "tk-1"}, key, signer="alice", now=NOW)
    unsigned = {k: v for k, v in env.items() if k != "sig"}
    with pytest.raises(SignatureError, match="unsigned"):
        _open(unsigned, key)
    with pytest.raises(SignatureError, match="unsigned"):
        _open({"task_id": "tk-1"}, key)
    stranger = SigningKey.generate()
    with pytest.raises(SignatureError, match="unknown key"):
        _open(sign_envelope({"task_id": "tk-1"}, stranger, signer="alice", now=NOW), key)
    with pytest.raises(SignatureError, match="malformed"):
        _open({**env, "extra": 1}, key)


@pytest.mark.parametrize("field,value", [
    ("payload", {"task_id": "tk-2"}),
    ("signer", "mallory"),
    ("nonce", "0" * 32),
    ("issued", (NOW + dt.timedelta(seconds=1)).isoformat()),
])
def test_altered_envelope_is_refused(field: str, value: object) -> None:
    key = SigningKey.generate()
    env = sign_envelope({"task_id": "tk-1"}, key, signer="alice", now=NOW)
    nonces = Nonces()
    with pytest.raises(SignatureError, match="altered or signed by another key"):
        _open({**env, field: value}, key, nonces)
    assert nonces.asked == 0  # a forgery never reaches the replay store


def test_key_id_swapped_to_another_known_key_is_refused() -> None:
    alice, bob = SigningKey.generate(), SigningKey.generate()
    env = sign_envelope({"task_id": "tk-1"}, alice, signer="alice", now=NOW)
    keys = {alice.key_id: alice.public(), bob.key_id: bob.public()}
    with pytest.raises(SignatureError, match="altered or signed by another key"):
        open_envelope({**env, "key_id": bob.key_id}, keys, max_age_seconds=60,
                      seen=Nonces(), now=NOW)


def test_expired_and_future_envelopes_are_refused() -> None:
    key = SigningKey.generate()
    env = sign_envelope({"task_id": "tk-1"}, key, signer="alice", now=NOW)
    _open(env, key, now=NOW + dt.timedelta(seconds=599))
    with pytest.raises(SignatureError, match="expired"):
        _open(env, key, now=NOW + dt.timedelta(seconds=601))
    with pytest.raises(SignatureError, match="in the future"):
        _open(env, key, now=NOW - dt.timedelta(hours=1))


def test_replayed_envelope_is_refused() -> None:
    key = SigningKey.generate()
    env = sign_envelope({"task_id": "tk-1"}, key, signer="alice", now=NOW)
    nonces = Nonces()
    _open(env, key, nonces)
    with pytest.raises(SignatureError, match="replayed"):
        _open(env, key, nonces)
    # the same payload signed again is a new message, not a replay
    _open(sign_envelope({"task_id": "tk-1"}, key, signer="alice", now=NOW), key, nonces)
