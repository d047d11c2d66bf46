"""``behindglass network init``: a CA, TLS certificates that chain to it, private files that
only their owner can read, and a roster that verifies only with the hub's key."""

from __future__ import annotations

import ipaddress
import json
import ssl
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from behindglass.cli.network_cmd import network
from behindglass.core.errors import BehindGlassError, SignatureError
from behindglass.core.signing import SigningKey, VerifyKey
from behindglass.governance.identity import (
    fingerprint,
    init_network,
    load_certificate,
    load_roster,
)


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("n") / "net"
    init_network(out, hub_host="127.0.0.1", alt_names=["hub.example.org"],
                 sites=["site-a", "site-b"], researchers=["alice"],
                 stewards=[("site-a", "sam")], days=30)
    return out


def test_every_private_file_is_0600_and_only_private_files_are(net: Path) -> None:
    files = [p for p in net.rglob("*") if p.is_file()]
    private = {p.relative_to(net).as_posix() for p in files if p.suffix == ".key"}
    assert private == {
        "ca/ca.key", "hub/tls.key", "hub/signing.key",
        "sites/site-a/keys/tls.key", "sites/site-a/keys/signing.key",
        "sites/site-b/keys/tls.key", "sites/site-b/keys/signing.key",
        "researchers/alice/keys/tls.key", "researchers/alice/keys/signing.key",
        "researchers/alice/keys/encryption.key",  # opens sealed results
        "sites/site-a/stewards/sam/signing.key"}
    for p in files:
        mode = stat.S_IMODE(p.stat().st_mode)
        if p.suffix == ".key":
            assert mode == 0o600, p
        else:
            assert mode & 0o077 == 0o044, p
    assert not [p for p in net.parent.iterdir() if p.name.startswith(".")]  # no leftovers
    # the CA key is only in ca/: no holder's folder carries it
    ca_key = (net / "ca" / "ca.key").read_bytes()
    assert [p for p in files if p.read_bytes() == ca_key] == [net / "ca" / "ca.key"]


def test_certificates_chain_to_the_ca_with_the_right_names_and_uses(net: Path) -> None:
    ca = load_certificate(net / "ca" / "ca.crt")
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    hub = load_certificate(net / "hub" / "tls.crt")
    hub.verify_directly_issued_by(ca)
    san = hub.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert san.get_values_for_type(x509.DNSName) == ["hub.example.org"]
    eku = hub.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    site = load_certificate(net / "sites" / "site-a" / "keys" / "tls.crt")
    site.verify_directly_issued_by(ca)
    assert site.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "site-a"
    eku = site.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert (site.not_valid_after_utc - site.not_valid_before_utc).days == 30
    # each certificate goes with its key, as a TLS stack loads them
    for folder in ("hub", "sites/site-b/keys", "researchers/alice/keys"):
        context = ssl.create_default_context(cafile=str(net / "ca" / "ca.crt"))
        context.load_cert_chain(net / folder / "tls.crt", net / folder / "tls.key")


def test_roster_names_every_member_with_its_key_and_certificate(net: Path) -> None:
    roster = load_roster(net / "network.json", VerifyKey.load(net / "hub.pub"))
    assert roster.hub_host == "127.0.0.1"
    assert roster.ca_fingerprint == fingerprint(load_certificate(net / "ca" / "ca.crt"))
    assert {(m.role, m.name) for m in roster.members} == {
        ("hub", "hub"), ("site", "site-a"), ("site", "site-b"), ("researcher", "alice"),
        ("steward", "sam")}
    site = roster.member("site-a", "site")
    assert site.key_id == SigningKey.load(net / "sites/site-a/keys/signing.key").key_id
    assert site.verify_key() == VerifyKey.load(net / "sites/site-a/keys/signing.pub")
    assert site.cert_fingerprint == fingerprint(
        load_certificate(net / "sites/site-a/keys/tls.crt"))
    assert roster.member("sam", "steward").site == "site-a"
    assert roster.by_key_id(site.key_id).name == "site-a"
    assert set(roster.verify_keys("site")) == {site.key_id,
                                               roster.member("site-b", "site").key_id}
    # every holder got the same roster and can check it with the hub key they were given
    for folder in ("sites/site-b", "researchers/alice", "sites/site-a/stewards/sam"):
        assert (net / folder / "network.json").read_bytes() == (
            net / "network.json").read_bytes()
        load_roster(net / folder / "network.json", VerifyKey.load(net / folder / "hub.pub"))
    with pytest.raises(SignatureError, match="not in this network"):
        roster.member("mallory", "site")


def test_altered_roster_or_wrong_hub_key_is_refused(net: Path, tmp_path: Path) -> None:
    hub_key = VerifyKey.load(net / "hub.pub")
    doc = json.loads((net / "network.json").read_text())
    # swap in an attacker's key for site-a, keep the hub's signature
    mallory = SigningKey.generate().public()
    for m in doc["roster"]["members"]:
        if m["name"] == "site-a":
            m["public_key"], m["key_id"] = mallory.to_pem(), mallory.key_id
    forged = tmp_path / "network.json"
    forged.write_text(json.dumps(doc))
    with pytest.raises(SignatureError, match="altered or signed by another key"):
        load_roster(forged, hub_key)
    # re-signed by the attacker: the key id is not the hub's
    attacker = SigningKey.generate()
    doc["key_id"], doc["sig"] = attacker.key_id, attacker.sign(doc["roster"])
    forged.write_text(json.dumps(doc))
    with pytest.raises(SignatureError, match="not by the hub key"):
        load_roster(forged, hub_key)
    # and with the attacker's key as "hub key", the roster's own hub entry disagrees
    with pytest.raises(SignatureError, match="hub key is not the key that signed it"):
        load_roster(forged, attacker.public())
    with pytest.raises(BehindGlassError, match="cannot read the roster"):
        load_roster(tmp_path / "missing.json", hub_key)


def test_existing_directory_is_never_overwritten_by_accident(tmp_path: Path) -> None:
    out = tmp_path / "net"
    init_network(out, hub_host="hub.local", sites=["s1"])
    old_id = SigningKey.load(out / "hub" / "signing.key").key_id
    with pytest.raises(BehindGlassError, match=r"already exists.*--force"):
        init_network(out, hub_host="hub.local", sites=["s1"])
    assert SigningKey.load(out / "hub" / "signing.key").key_id == old_id
    made = init_network(out, hub_host="hub.local", sites=["s2"], force=True)
    assert SigningKey.load(out / "hub" / "signing.key").key_id != old_id
    assert not (out / "sites" / "s1").exists()  # the replaced network left nothing behind
    assert made.roster.member("s2", "site")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net"]
    other = tmp_path / "documents"
    other.mkdir()
    (other / "thesis.txt").write_text("precious")
    with pytest.raises(BehindGlassError, match="not a network directory"):
        init_network(other, hub_host="hub.local", force=True)
    assert (other / "thesis.txt").read_text() == "precious"
    empty = tmp_path / "empty"
    empty.mkdir()
    init_network(empty, hub_host="hub.local")  # an empty directory is fine


@pytest.mark.parametrize("kwargs,message", [
    ({"sites": ["../evil"]}, "member name"),
    ({"sites": ["a", "a"]}, "named twice"),
    ({"sites": ["a"], "stewards": [("b", "sam")]}, "not among the --site names"),
    ({"days": 0}, "--days"),
])
def test_bad_requests_are_refused_before_anything_is_written(
        tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(BehindGlassError, match=message):
        init_network(tmp_path / "net", hub_host="hub.local", **kwargs)
    assert not list(tmp_path.iterdir())


def test_cli_prints_who_gets_which_file(tmp_path: Path) -> None:
    out = tmp_path / "net"
    runner = CliRunner()
    done = runner.invoke(network, ["init", str(out), "--hub", "127.0.0.1", "--site", "site-a",
                                   "--researcher", "alice", "--steward", "site-a:sam"])
    assert done.exit_code == 0, done.output
    assert "site site-a:" in done.output and "sites/site-a/keys/signing.key" in done.output
    assert "researcher alice:" in done.output and "steward sam of site-a:" in done.output
    assert "ca/ca.key" in done.output and "keep offline" in done.output
    again = runner.invoke(network, ["init", str(out), "--hub", "127.0.0.1"])
    assert again.exit_code != 0 and "--force" in str(again.exception)
    bad = runner.invoke(network, ["init", str(tmp_path / "x"), "--hub", "h",
                                  "--steward", "sam"])
    assert bad.exit_code == 2 and "SITE:NAME" in bad.output
    shown = runner.invoke(network, ["show", str(out / "network.json"),
                                    "--hub-key", str(out / "hub.pub")])
    assert shown.exit_code == 0 and "signature OK" in shown.output and "alice" in shown.output
