"""Serving the hub: in the foreground (``behindglass hub serve``) or on a background thread
(tests, notebooks, a whole network on one machine), over plain HTTP on loopback, HTTPS, or
HTTPS with mutual TLS (every client must present a certificate from the network's CA, so a
stranger cannot even reach the login step)."""

from __future__ import annotations

import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import uvicorn
from fastapi import FastAPI

from behindglass.core.errors import BehindGlassError, NetworkError
from behindglass.hub.app import DEFAULT_LEASE, begin_shutdown, create_app
from behindglass.hub.ratelimit import RateLimits
from behindglass.hub.signatures import HubSigning

# Long-polls are woken on shutdown and sites retry on their own, so stopping need not wait.
GRACEFUL_SECONDS = 3


@dataclass(frozen=True)
class TLSFiles:
    """The hub's certificate and key (``network init`` writes them to ``OUT/hub/``) and, for
    mutual TLS, the CA certificate client certificates must chain to."""

    certfile: Path
    keyfile: Path
    ca_file: Path | None = None
    require_client_cert: bool = False

    def __post_init__(self) -> None:
        if self.require_client_cert and self.ca_file is None:
            raise BehindGlassError("mutual TLS needs the CA certificate that signs client "
                                   "certificates (--tls-ca)")
        for what, path in (("certificate", self.certfile), ("key", self.keyfile),
                           ("CA certificate", self.ca_file)):
            if path is not None and not Path(path).is_file():
                raise BehindGlassError(f"{path}: TLS {what} not found")
        try:  # fail here with the file named, not deep inside uvicorn's startup
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.certfile, self.keyfile)
            if self.ca_file is not None:
                context.load_verify_locations(self.ca_file)
        except (ssl.SSLError, OSError) as exc:
            raise BehindGlassError(f"TLS files {self.certfile} / {self.keyfile} / "
                                   f"{self.ca_file}: unusable ({exc})") from None

    def uvicorn_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"ssl_certfile": str(self.certfile),
                                   "ssl_keyfile": str(self.keyfile)}
        if self.ca_file is not None:
            options["ssl_ca_certs"] = str(self.ca_file)
        if self.require_client_cert:
            options["ssl_cert_reqs"] = ssl.CERT_REQUIRED
        return options


class _Server(uvicorn.Server):
    """uvicorn, plus: on SIGINT/SIGTERM first release the parked long-polls, which would
    otherwise hold the shutdown for the whole grace period."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        app = self.config.app
        if isinstance(app, FastAPI):
            begin_shutdown(app)
        super().handle_exit(sig, frame)


def serve(state_dir: str | Path, host: str = "127.0.0.1", port: int = 8700,
          lease_seconds: float = DEFAULT_LEASE, log_level: str = "info",
          tls: TLSFiles | None = None, rate_limits: RateLimits | None = None,
          signing: HubSigning | None = None) -> None:
    """Run the hub until SIGINT/SIGTERM; over HTTPS when ``tls`` is given; a signed network
    when ``signing`` is given (:meth:`HubSigning.load` reads the roster and the key)."""
    app = create_app(state_dir, lease_seconds=lease_seconds, rate_limits=rate_limits,
                     signing=signing)
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level,
                            timeout_graceful_shutdown=GRACEFUL_SECONDS,
                            **(tls.uvicorn_options() if tls else {}))
    _Server(config).run()


class HubServer:
    """A hub on a background thread, listening on loopback::

        with HubServer(create_app(tmp)) as server:
            connect(server.url, token)
    """

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0,
                 log_level: str = "warning", tls: TLSFiles | None = None) -> None:
        self.app = app
        self.tls = tls
        config = uvicorn.Config(app, host=host, port=port, log_level=log_level,
                                timeout_graceful_shutdown=1, lifespan="on",
                                **(tls.uvicorn_options() if tls else {}))
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="behindglass-hub",
                                        daemon=True)
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> HubServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise NetworkError(f"hub did not start on {self.host}:{self.port}")
            time.sleep(0.01)
        # with port 0 the OS picked one; read it back from the listening socket
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        if self._server.started:
            begin_shutdown(self.app)
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
