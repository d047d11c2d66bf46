"""HTTP to the hub's researcher endpoints, with every failure turned into a clear error.

* cannot connect / timed out / 5xx  -> :class:`NetworkError`
* 401 / 403                         -> :class:`AuthError`
* 404                               -> :class:`NotFoundError`
* 422 (the hub rejected a study)    -> :class:`SpecError`
* any refusal the hub marks as caused by a signature (unsigned, wrong key, altered,
  expired, replayed)                -> :class:`SignatureError`
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import httpx

from behindglass.core.errors import (
    AuthError,
    NetworkError,
    NotFoundError,
    SignatureError,
    SpecError,
)
from behindglass.core.messages import REFUSAL_HEADER


def _detail(response: httpx.Response) -> str:
    """The hub's reason, flattened: FastAPI gives a string, or a list of field errors."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return response.text.strip()[:300] or response.reason_phrase
    if isinstance(detail, list):
        parts = []
        for err in detail:
            loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
            parts.append(f"{loc}: {msg}" if loc else msg)
        return "; ".join(parts)
    return str(detail) if detail else response.reason_phrase


def _tls_context(ca_file: str | Path | None,
                 client_cert: tuple[str | Path, str | Path] | None) -> ssl.SSLContext | bool:
    if ca_file is None and client_cert is None:
        return True  # the system's trust store, no client certificate
    try:
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        if client_cert is not None:
            context.load_cert_chain(str(client_cert[0]), str(client_cert[1]))
    except (ssl.SSLError, OSError) as exc:
        raise NetworkError(f"TLS files {ca_file} / {client_cert}: unusable ({exc})") from None
    return context


class HubConnection:
    """A researcher's authenticated session with one hub."""

    def __init__(self, url: str, token: str, *, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None,
                 ca_file: str | Path | None = None,
                 client_cert: tuple[str | Path, str | Path] | None = None) -> None:
        """``ca_file``: the network CA to trust instead of the system's; ``client_cert``:
        (certificate, key) to present to a hub that requires mutual TLS."""
        if not token:
            raise AuthError("no token given: ask the hub operator for a researcher token")
        self.url = url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.url + "/api/v1", timeout=timeout, transport=transport,
            verify=_tls_context(ca_file, client_cert),
            headers={"Authorization": f"Bearer {token}", "User-Agent": "behindglass-client"})

    def close(self) -> None:
        self._client.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send one request; the decoded JSON body, or None for an empty answer."""
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise NetworkError(f"hub {self.url} did not answer {method} {path} in time") from None
        except httpx.TransportError as exc:
            raise NetworkError(f"cannot reach hub at {self.url}: {exc or type(exc).__name__}"
                               ) from None
        status = response.status_code
        if status >= 400 and response.headers.get(REFUSAL_HEADER) == "signature":
            raise SignatureError(f"hub {self.url} refused the signature: {_detail(response)}")
        if status in (401, 403):
            raise AuthError(f"hub {self.url}: {_detail(response)}")
        if status == 404:
            raise NotFoundError(f"hub {self.url}: {_detail(response)}")
        if status == 422:
            raise SpecError(f"hub rejected the request: {_detail(response)}")
        if status >= 400:
            raise NetworkError(f"hub {self.url} answered {status} to {method} {path}: "
                               f"{_detail(response)}")
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise NetworkError(f"hub {self.url} sent a body that is not JSON for {path}; "
                               "is this URL a behindglass hub?") from None

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)
