"""Serving the hub: in the foreground (``behindglass hub serve``) or on a background thread
(tests, notebooks, a whole network on one machine)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import FrameType, TracebackType

import uvicorn
from fastapi import FastAPI

from behindglass.core.errors import NetworkError
from behindglass.hub.app import DEFAULT_LEASE, begin_shutdown, create_app

# Long-polls are woken on shutdown and sites retry on their own, so stopping need not wait.
GRACEFUL_SECONDS = 3


class _Server(uvicorn.Server):
    """uvicorn, plus: on SIGINT/SIGTERM first release the parked long-polls, which would
    otherwise hold the shutdown for the whole grace period."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        app = self.config.app
        if isinstance(app, FastAPI):
            begin_shutdown(app)
        super().handle_exit(sig, frame)


def serve(state_dir: str | Path, host: str = "127.0.0.1", port: int = 8700,
          lease_seconds: float = DEFAULT_LEASE, log_level: str = "info") -> None:
    """Run the hub until SIGINT/SIGTERM."""
    app = create_app(state_dir, lease_seconds=lease_seconds)
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level,
                            timeout_graceful_shutdown=GRACEFUL_SECONDS)
    _Server(config).run()


class HubServer:
    """A hub on a background thread, listening on loopback::

        with HubServer(create_app(tmp)) as server:
            connect(server.url, token)
    """

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0,
                 log_level: str = "warning") -> None:
        self.app = app
        config = uvicorn.Config(app, host=host, port=port, log_level=log_level,
                                timeout_graceful_shutdown=1, lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="behindglass-hub",
                                        daemon=True)
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

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
