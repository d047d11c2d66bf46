"""A real ``behindglass hub serve`` process over TLS and mutual TLS, with the certificates
``behindglass network init`` made: the network's CA is what a client trusts, plain HTTP and
strangers get nothing, and under mTLS a client without the network's certificate is turned
away before any HTTP is spoken."""

from __future__ import annotations

import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from behindglass.client.connection import HubConnection
from behindglass.core.errors import AuthError
from behindglass.governance.identity import init_network
from behindglass.hub.state import HubState
from behindglass.site.hublink import HubLink, HubUnavailable
from tests.integration.harness import bg, free_port, stop


def _init(out: Path, *extra: str) -> Path:
    subprocess.run(bg("network", "init", str(out), "--hub", "127.0.0.1", *extra),
                   check=True, capture_output=True, text=True, timeout=60)
    return out


@pytest.fixture(scope="module")
def nets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    work = tmp_path_factory.mktemp("tls")
    ours = _init(work / "net", "--site", "site-a", "--researcher", "alice")
    theirs = work / "other"  # same names, another CA (in process: the CLI ran just above)
    init_network(theirs, hub_host="127.0.0.1", sites=["site-a"])
    return ours, theirs


def _context(ca: Path, cert_dir: Path | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca))
    if cert_dir is not None:
        context.load_cert_chain(cert_dir / "tls.crt", cert_dir / "tls.key")
    return context


@dataclass
class Hub:
    url: str
    proc: subprocess.Popen
    site_token: str
    researcher_token: str
    log: Path

    def health(self, **kwargs: object) -> httpx.Response:
        return httpx.get(f"{self.url}/api/v1/health", timeout=5, **kwargs)  # type: ignore[arg-type]


def _serve(net: Path, work: Path, mtls: bool) -> Iterator[Hub]:
    state = HubState(work / "state")
    try:
        site_token = state.add_principal("site-a", "site")
        researcher_token = state.add_principal("alice", "researcher")
    finally:
        state.close()
    port = free_port()
    args = ["hub", "serve", "--state", str(work / "state"), "--port", str(port),
            "--log-level", "warning", "--tls-cert", str(net / "hub" / "tls.crt"),
            "--tls-key", str(net / "hub" / "tls.key")]
    if mtls:
        args += ["--tls-ca", str(net / "hub" / "ca.crt"), "--mtls"]
    log = work / "hub.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(bg(*args), stdout=out, stderr=subprocess.STDOUT)
    hub = Hub(f"https://127.0.0.1:{port}", proc, site_token, researcher_token, log)
    ready = _context(net / "ca" / "ca.crt", net / "sites" / "site-a" / "keys")
    deadline = time.monotonic() + 90
    try:
        while True:
            try:
                if hub.health(verify=ready).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"hub did not start: {log.read_text()}")
            time.sleep(0.1)
        yield hub
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def tls_hub(nets: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[Hub]:
    yield from _serve(nets[0], tmp_path_factory.mktemp("tls-hub"), mtls=False)


@pytest.fixture(scope="module")
def mtls_hub(nets: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[Hub]:
    yield from _serve(nets[0], tmp_path_factory.mktemp("mtls-hub"), mtls=True)


# -- TLS --------------------------------------------------------------------------------------
def test_https_works_with_the_network_ca(tls_hub: Hub, nets: tuple[Path, Path]) -> None:
    ours, _ = nets
    response = tls_hub.health(verify=_context(ours / "researchers" / "alice" / "ca.crt"))
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_plain_http_gets_nothing(tls_hub: Hub) -> None:
    with pytest.raises(httpx.TransportError):
        httpx.get(tls_hub.url.replace("https://", "http://") + "/api/v1/health", timeout=5)


def test_a_client_trusting_another_ca_refuses_the_hub(tls_hub: Hub,
                                                      nets: tuple[Path, Path]) -> None:
    _, theirs = nets
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        tls_hub.health(verify=_context(theirs / "ca" / "ca.crt"))
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        tls_hub.health()  # the system's trust store does not know the network's CA


def test_site_link_and_researcher_connection_over_tls(tls_hub: Hub,
                                                      nets: tuple[Path, Path]) -> None:
    ours, theirs = nets
    link = HubLink(tls_hub.url, tls_hub.site_token, ca_file=ours / "sites/site-a/ca.crt")
    try:
        assert link.health()["status"] == "ok"
        assert link.next_task(wait=0) is None
    finally:
        link.close()
    stranger = HubLink(tls_hub.url, tls_hub.site_token, ca_file=theirs / "ca" / "ca.crt")
    try:
        with pytest.raises(HubUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
            stranger.health()
    finally:
        stranger.close()
    conn = HubConnection(tls_hub.url, tls_hub.researcher_token,
                         ca_file=ours / "researchers/alice/ca.crt")
    try:
        assert [s["name"] for s in conn.get("/sites")] == ["site-a"]
    finally:
        conn.close()


# -- mutual TLS -------------------------------------------------------------------------------
def test_mtls_rejects_a_client_without_a_certificate(mtls_hub: Hub,
                                                     nets: tuple[Path, Path]) -> None:
    ours, _ = nets
    with pytest.raises(httpx.TransportError):  # no HTTP response of any kind
        mtls_hub.health(verify=_context(ours / "ca" / "ca.crt"))
    # In TLS 1.2 the client certificate is part of the handshake proper, so the refusal
    # shows there, before a byte of HTTP; TLS 1.3 reports the same alert on the first read.
    context = _context(ours / "ca" / "ca.crt")
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    port = int(mtls_hub.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            pytest.raises(ssl.SSLError):
        context.wrap_socket(raw, server_hostname="127.0.0.1")
    link = HubLink(mtls_hub.url, mtls_hub.site_token, ca_file=ours / "sites/site-a/ca.crt")
    try:
        with pytest.raises(HubUnavailable):  # a valid token is not enough without the cert
            link.health()
    finally:
        link.close()
    assert mtls_hub.proc.poll() is None  # turned away, and the hub keeps serving


def test_mtls_rejects_a_certificate_from_another_network(mtls_hub: Hub,
                                                         nets: tuple[Path, Path]) -> None:
    ours, theirs = nets
    with pytest.raises(httpx.TransportError):
        mtls_hub.health(verify=_context(ours / "ca" / "ca.crt",
                                        theirs / "sites" / "site-a" / "keys"))


def test_mtls_lets_network_members_through(mtls_hub: Hub, nets: tuple[Path, Path]) -> None:
    ours, _ = nets
    site = ours / "sites" / "site-a"
    response = mtls_hub.health(verify=_context(site / "ca.crt", site / "keys"))
    assert response.status_code == 200
    link = HubLink(mtls_hub.url, mtls_hub.site_token, ca_file=site / "ca.crt",
                   client_cert=(site / "keys/tls.crt", site / "keys/tls.key"))
    try:
        assert link.health()["status"] == "ok"
        assert link.next_task(wait=0) is None
    finally:
        link.close()
    alice = ours / "researchers" / "alice"
    conn = HubConnection(mtls_hub.url, mtls_hub.researcher_token, ca_file=alice / "ca.crt",
                         client_cert=(alice / "keys/tls.crt", alice / "keys/tls.key"))
    try:
        assert [s["name"] for s in conn.get("/sites")] == ["site-a"]
    finally:
        conn.close()
    # the certificate gets a client to the door; the token still decides what it may do
    wrong = HubConnection(mtls_hub.url, "not-a-token", ca_file=alice / "ca.crt",
                          client_cert=(alice / "keys/tls.crt", alice / "keys/tls.key"))
    try:
        with pytest.raises(AuthError):
            wrong.get("/sites")
    finally:
        wrong.close()


# -- in process -------------------------------------------------------------------------------
def test_in_process_hub_server_speaks_tls(nets: tuple[Path, Path], tmp_path: Path) -> None:
    from behindglass.hub.app import create_app
    from behindglass.hub.server import HubServer, TLSFiles

    ours, _ = nets
    tls = TLSFiles(ours / "hub/tls.crt", ours / "hub/tls.key", ours / "hub/ca.crt",
                   require_client_cert=True)
    with HubServer(create_app(tmp_path / "state"), tls=tls) as server:
        assert server.url.startswith("https://")
        site = ours / "sites" / "site-a"
        response = httpx.get(f"{server.url}/api/v1/health", timeout=5,
                             verify=_context(site / "ca.crt", site / "keys"))
        assert response.status_code == 200


def test_tls_files_are_checked_before_serving(nets: tuple[Path, Path], tmp_path: Path) -> None:
    from behindglass.core.errors import BehindGlassError
    from behindglass.hub.server import TLSFiles

    ours, theirs = nets
    with pytest.raises(BehindGlassError, match="mutual TLS needs the CA"):
        TLSFiles(ours / "hub/tls.crt", ours / "hub/tls.key", require_client_cert=True)
    with pytest.raises(BehindGlassError, match=r"missing\.key: TLS key not found"):
        TLSFiles(ours / "hub/tls.crt", tmp_path / "missing.key")
    with pytest.raises(BehindGlassError, match="unusable"):  # a key that is not the cert's
        TLSFiles(ours / "hub/tls.crt", theirs / "hub/tls.key")


def test_hub_serve_refuses_half_a_tls_configuration(nets: tuple[Path, Path],
                                                    tmp_path: Path) -> None:
    from click.testing import CliRunner

    from behindglass.cli.hub_cmd import hub

    ours, _ = nets
    runner = CliRunner()
    state = ["serve", "--state", str(tmp_path / "state")]
    alone = runner.invoke(hub, [*state, "--tls-cert", str(ours / "hub/tls.crt")])
    assert alone.exit_code == 2 and "--tls-cert and --tls-key together" in alone.output
    mtls = runner.invoke(hub, [*state, "--mtls"])
    assert mtls.exit_code == 2 and "need --tls-cert" in mtls.output
