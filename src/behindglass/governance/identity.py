"""Who is who in a network: a certificate authority, TLS certificates, signing keys, and the
signed roster (``network.json``) that binds each name to its key.

:func:`init_network` makes everything a new network needs in one directory, one folder per
holder, so handing out keys is copying folders:

* ``ca/`` the network CA (``ca.crt``; ``ca.key`` stays offline with the operator),
* ``hub/`` the hub's TLS certificate for its host name and its Ed25519 signing key,
* ``sites/NAME/``, ``researchers/NAME/`` a TLS client certificate (for mutual TLS) and an
  Ed25519 signing key each; ``sites/SITE/stewards/NAME/`` a steward's signing key,
* ``network.json`` the roster: name, role, key id, public key and certificate fingerprint of
  every member, signed by the hub's key. Each folder gets a copy, with ``ca.crt`` and
  ``hub.pub`` to check it against.

TLS keys are ECDSA P-256 (every TLS stack speaks it); signing keys are Ed25519
(:mod:`behindglass.core.signing`). Private keys are written mode 0600. The whole tree is
built beside ``OUT`` and renamed into place, so a failure leaves no half-made network.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from behindglass.core.canonical import canonical_json
from behindglass.core.errors import BehindGlassError, SignatureError
from behindglass.core.keyfiles import write_atomic
from behindglass.core.sealing import EncryptionKey, EncryptionPublicKey
from behindglass.core.signing import SigningKey, VerifyKey

ROSTER_FORMAT = 1
ROLES = ("hub", "site", "researcher", "steward")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


# -- the roster ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Member:
    name: str
    role: str
    key_id: str
    public_key: str  # PEM
    cert_fingerprint: str | None  # sha256 of the TLS certificate's DER; None for stewards
    site: str | None = None  # the site a steward belongs to
    # a researcher's X25519 public key (PEM): sites seal results to it; None in rosters made
    # before sealed results existed, and for every other role
    encryption_key: str | None = None

    def verify_key(self) -> VerifyKey:
        return VerifyKey.from_pem(self.public_key, source=f"roster member {self.name!r}")

    def encryption_public(self) -> EncryptionPublicKey:
        """The key results are sealed to; :class:`SignatureError` if the roster has none."""
        if self.encryption_key is None:
            raise SignatureError(f"{self.role} {self.name!r} has no encryption key in this "
                                 "network's roster (made before sealed results existed?): "
                                 "re-run `behindglass network init` to seal results to them")
        return EncryptionPublicKey.from_pem(self.encryption_key,
                                            source=f"roster member {self.name!r}")

    def to_dict(self) -> dict[str, Any]:  # a roster without encryption keys reads as before
        return {k: v for k, v in self.__dict__.items()
                if k != "encryption_key" or v is not None}


@dataclass(frozen=True)
class Roster:
    """The verified membership of one network."""

    hub_host: str
    created: str
    ca_fingerprint: str
    members: tuple[Member, ...]

    def member(self, name: str, role: str) -> Member:
        for m in self.members:
            if m.name == name and m.role == role:
                return m
        raise SignatureError(f"{role} {name!r} is not in this network's roster")

    def by_key_id(self, key_id: str) -> Member:
        for m in self.members:
            if m.key_id == key_id:
                return m
        raise SignatureError(f"key {key_id!r} belongs to no member of this network")

    def verify_keys(self, role: str | None = None) -> dict[str, VerifyKey]:
        """key id -> key, for :func:`behindglass.core.signing.open_envelope`."""
        return {m.key_id: m.verify_key() for m in self.members if role in (None, m.role)}

    def to_dict(self) -> dict[str, Any]:
        return {"format": ROSTER_FORMAT, "hub_host": self.hub_host, "created": self.created,
                "ca_fingerprint": self.ca_fingerprint,
                "members": [m.to_dict() for m in self.members]}


def sign_roster(roster: Roster, hub_key: SigningKey) -> dict[str, Any]:
    body = roster.to_dict()
    return {"roster": body, "key_id": hub_key.key_id, "sig": hub_key.sign(body)}


def load_roster(path: str | Path, hub_key: VerifyKey) -> Roster:
    """Read ``network.json`` and return its roster only if the hub's key signed it."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BehindGlassError(f"{path}: cannot read the roster ({exc.strerror or exc})"
                               ) from None
    except ValueError as exc:
        raise SignatureError(f"{path}: the roster is not JSON ({exc})") from None
    if not isinstance(doc, dict) or not {"roster", "key_id", "sig"} <= set(doc):
        raise SignatureError(f"{path}: not a signed roster (needs roster, key_id and sig)")
    if doc["key_id"] != hub_key.key_id:
        raise SignatureError(f"{path}: signed by key {doc['key_id']!r}, not by the hub key "
                             f"{hub_key.key_id!r} given")
    try:
        hub_key.verify(doc["roster"], doc["sig"])
    except SignatureError as exc:
        raise SignatureError(f"{path}: {exc}") from None
    body = doc["roster"]
    try:
        if body["format"] != ROSTER_FORMAT:
            raise SignatureError(f"{path}: roster format {body['format']!r} is not "
                                 f"{ROSTER_FORMAT}; is behindglass older than the network?")
        members = tuple(Member(**m) for m in body["members"])
        roster = Roster(hub_host=body["hub_host"], created=body["created"],
                        ca_fingerprint=body["ca_fingerprint"], members=members)
    except (KeyError, TypeError) as exc:
        raise SignatureError(f"{path}: the roster is malformed ({exc})") from None
    for m in members:
        if m.verify_key().key_id != m.key_id:
            raise SignatureError(f"{path}: member {m.name!r} has a key id that is not its key's")
        if m.encryption_key is not None:
            m.encryption_public()  # a malformed encryption key fails here, not at a site
    if roster.member("hub", "hub").key_id != hub_key.key_id:
        raise SignatureError(f"{path}: the roster's hub key is not the key that signed it")
    return roster


# -- certificates --------------------------------------------------------------------------
def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the certificate's DER, hex: what the roster records."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def load_certificate(path: str | Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(Path(path).read_bytes())
    except OSError as exc:
        raise BehindGlassError(f"{path}: cannot read the certificate ({exc.strerror or exc})"
                               ) from None
    except ValueError:
        raise BehindGlassError(f"{path}: not a PEM certificate") from None


def _tls_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


@dataclass(frozen=True)
class _Authority:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def create(cls, label: str, now: dt.datetime, days: int) -> _Authority:
        key = _tls_key()
        name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "behindglass"),
                          x509.NameAttribute(NameOID.COMMON_NAME, f"behindglass CA {label}")])
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + dt.timedelta(days=days))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(False, False, False, False, False, True, True,
                                             False, False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                               critical=False)
                .sign(key, hashes.SHA256()))
        return cls(cert, key)

    def issue(self, common_name: str, role: str, now: dt.datetime, days: int,
              hosts: Sequence[str] = ()) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        """A leaf certificate: a server certificate for ``hosts``, else a client one."""
        key = _tls_key()
        usage = ExtendedKeyUsageOID.SERVER_AUTH if hosts else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([
                       x509.NameAttribute(NameOID.ORGANIZATION_NAME, "behindglass"),
                       x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role),
                       x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
                   .issuer_name(self.cert.subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5))
                   .not_valid_after(now + dt.timedelta(days=days))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                                  critical=True)
                   .add_extension(x509.KeyUsage(True, False, False, False, False, False, False,
                                                False, False), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                       self.key.public_key()), critical=False))
        if hosts:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([_san(h) for h in hosts]), critical=False)
        return builder.sign(self.key, hashes.SHA256()), key


# -- network init --------------------------------------------------------------------------
@dataclass(frozen=True)
class IssuedFile:
    path: Path  # relative to OUT
    holder: str  # who gets it: "operator", "hub", "site site-a", ...
    what: str
    secret: bool


@dataclass
class NetworkInit:
    """What :func:`init_network` made."""

    out: Path
    roster: Roster
    files: list[IssuedFile] = field(default_factory=list)


def _check_name(name: str, what: str) -> str:
    if not _NAME.match(name):
        raise BehindGlassError(f"{what} name {name!r} must be 1-64 letters, digits, '.', '_' "
                               "or '-', starting with a letter or digit")
    return name


class _Writer:
    def __init__(self, root: Path, result: NetworkInit) -> None:
        self.root, self.result = root, result

    def put(self, rel: str, data: bytes, holder: str, what: str, secret: bool = False) -> None:
        write_atomic(self.root / rel, data, 0o600 if secret else 0o644)
        self.result.files.append(IssuedFile(Path(rel), holder, what, secret))


def init_network(out: str | Path, *, hub_host: str, sites: Sequence[str] = (),
                 researchers: Sequence[str] = (), stewards: Sequence[tuple[str, str]] = (),
                 days: int = 365, alt_names: Sequence[str] = (), force: bool = False,
                 now: dt.datetime | None = None) -> NetworkInit:
    """Create a network's CA, certificates, signing keys and signed roster under ``out``.

    Refuses an existing non-empty ``out`` unless ``force``; even then only a directory that
    holds a ``network.json`` (an earlier network) is replaced, never an unrelated one.
    """
    out = Path(out)
    if not hub_host:
        raise BehindGlassError("--hub needs the host name or address the hub is reached at")
    if days < 1:
        raise BehindGlassError(f"--days must be at least 1, not {days}")
    for name in (*sites, *researchers):
        _check_name(name, "member")
    for role, names in (("site", sites), ("researcher", researchers)):
        dupes = sorted({n for n in names if list(names).count(n) > 1})
        if dupes:
            raise BehindGlassError(f"{role} {dupes[0]!r} is named twice")
    for site, name in stewards:
        _check_name(name, "steward")
        if site not in sites:
            raise BehindGlassError(f"steward {name!r} belongs to site {site!r}, which is not "
                                   "among the --site names")
    if len(set(stewards)) != len(stewards):
        raise BehindGlassError("a steward is named twice for the same site")
    replace = any(out.iterdir()) if out.is_dir() else out.exists()
    if replace and not force:
        raise BehindGlassError(f"{out} already exists and is not empty; keys are never "
                               "overwritten by accident: choose a new directory or add --force")
    if replace and not (out / "network.json").is_file():
        raise BehindGlassError(f"{out} exists and is not a network directory (no network.json);"
                               " refusing to replace it even with --force")
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.new-"))
    try:
        result = _build(stage, out, hub_host, sites, researchers, stewards, days,
                        alt_names, now)
        if out.exists():
            old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
            old.rmdir()
            out.rename(old)
            stage.rename(out)
            shutil.rmtree(old)
        else:
            stage.rename(out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return result


def _build(root: Path, out: Path, hub_host: str, sites: Sequence[str],
           researchers: Sequence[str], stewards: Sequence[tuple[str, str]], days: int,
           alt_names: Sequence[str], now: dt.datetime) -> NetworkInit:
    ca = _Authority.create(hub_host, now, days)
    members: list[Member] = []
    keys: dict[tuple[str, str], SigningKey] = {}
    certs: dict[tuple[str, str], tuple[x509.Certificate, ec.EllipticCurvePrivateKey]] = {}
    hosts = list(dict.fromkeys([hub_host, *alt_names]))
    # researchers also get an X25519 key: sites seal a study's results to it on request
    sealing = {r: EncryptionKey.generate() for r in researchers}
    for role, name in [("hub", "hub"), *[("site", s) for s in sites],
                       *[("researcher", r) for r in researchers]]:
        key = keys[(role, name)] = SigningKey.generate()
        cert = certs[(role, name)] = ca.issue(hub_host if role == "hub" else name, role, now,
                                              days, hosts if role == "hub" else ())
        opener = sealing.get(name) if role == "researcher" else None
        members.append(Member(name, role, key.key_id, key.public().to_pem(),
                              fingerprint(cert[0]),
                              encryption_key=None if opener is None
                              else opener.public().to_pem()))
    for site, name in stewards:
        key = keys[(f"steward:{site}", name)] = SigningKey.generate()
        members.append(Member(name, "steward", key.key_id, key.public().to_pem(), None, site))
    roster = Roster(hub_host=hub_host, created=now.isoformat(timespec="seconds"),
                    ca_fingerprint=fingerprint(ca.cert), members=tuple(members))
    hub_key = keys[("hub", "hub")]
    signed = (canonical_json(sign_roster(roster, hub_key)) + "\n").encode("utf-8")
    ca_pem, hub_pub = _cert_pem(ca.cert), hub_key.public().to_pem().encode("ascii")
    result = NetworkInit(out=out, roster=roster)
    w = _Writer(root, result)
    w.put("ca/ca.key", _key_pem(ca.key), "operator",
          "CA private key: keep offline, it only issues certificates", True)
    w.put("ca/ca.crt", ca_pem, "operator", "CA certificate")
    w.put("network.json", signed, "operator", "signed roster")
    w.put("hub.pub", hub_pub, "operator", "hub signing public key")
    folders = {("hub", "hub"): ("hub", "hub"),
               **{("site", s): (f"sites/{s}/keys", f"site {s}") for s in sites},
               **{("researcher", r): (f"researchers/{r}/keys", f"researcher {r}")
                  for r in researchers}}
    for (role, name), (folder, holder) in folders.items():
        cert, tls_key = certs[(role, name)]
        kind = "TLS server" if role == "hub" else "TLS client (mutual TLS)"
        w.put(f"{folder}/tls.crt", _cert_pem(cert), holder, f"{kind} certificate")
        w.put(f"{folder}/tls.key", _key_pem(tls_key), holder, f"{kind} key", True)
        _put_signing(w, folder, keys[(role, name)], holder)
        if role == "researcher":
            opener = sealing[name]
            w.put(f"{folder}/encryption.key", opener.to_pem(), holder,
                  "X25519 key: opens results sealed to you", True)
            w.put(f"{folder}/encryption.pub", opener.public().to_pem().encode("ascii"),
                  holder, "X25519 public key (in the roster: sites seal to it)")
        trust = folder if role == "hub" else folder.removesuffix("/keys")
        _put_trust(w, trust, holder, ca_pem, hub_pub, signed)
    for site, name in stewards:
        folder = f"sites/{site}/stewards/{name}"
        holder = f"steward {name} of {site}"
        _put_signing(w, folder, keys[(f"steward:{site}", name)], holder)
        _put_trust(w, folder, holder, None, hub_pub, signed)
    return result


def _put_signing(w: _Writer, folder: str, key: SigningKey, holder: str) -> None:
    w.put(f"{folder}/signing.key", key.to_pem(), holder, "Ed25519 signing key", True)
    w.put(f"{folder}/signing.pub", key.public().to_pem().encode("ascii"), holder,
          "Ed25519 public key")


def _put_trust(w: _Writer, folder: str, holder: str, ca_pem: bytes | None, hub_pub: bytes,
               roster: bytes) -> None:
    if ca_pem is not None:  # stewards work on the site and open no TLS connection
        w.put(f"{folder}/ca.crt", ca_pem, holder, "CA certificate (verifies TLS peers)")
    if folder != "hub":
        w.put(f"{folder}/hub.pub", hub_pub, holder, "hub public key (verifies the roster)")
    w.put(f"{folder}/network.json", roster, holder, "signed roster")
