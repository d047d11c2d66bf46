"""HTTP to the hub's researcher endpoints, with every failure turned into a clear error.

* cannot connect / timed out / 5xx  -> :class:`NetworkError`
* 401 / 403                         -> :class:`AuthError`
* 404                               -> :class:`NotFoundError`
* 422 (the hub rejected a study)    -> :class:`SpecError`
* any refusal the hub marks as caused by a signature (unsigned, wrong key, altered,
  expired, replayed)                -> :class:`SignatureError`
* 429 (rate limited)                -> waited out: the request is sent again after the
  hub's ``Retry-After``, a few times at most (each wait logged), then :class:`NetworkError`
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
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
from behindglass.core.tls import tls_context

RATE_LIMIT_RETRIES = 3  # 429s waited out per request before giving up
MAX_RETRY_AFTER = 60.0  # a longer Retry-After is not waited for: the caller decides
log = logging.getLogger("behindglass.client")


def _retry_after(response: httpx.Response) -> float:
    """Seconds the hub asks to wait (its ``Retry-After`` in seconds; 1 if absent or odd)."""
    try:
        return max(0.0, float(response.headers.get("Retry-After", "1")))
    except ValueError:
        return 1.0


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


class HubConnection:
    """A researcher's authenticated session with one hub."""

    def __init__(self, url: str, token: str, *, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None,
                 ca_file: str | Path | None = None,
                 client_cert: tuple[str | Path, str | Path] | None = None,
                 rate_limit_retries: int = RATE_LIMIT_RETRIES,
                 max_retry_after: float = MAX_RETRY_AFTER,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        """``ca_file``: the network CA to trust instead of the system's; ``client_cert``:
        (certificate, key) to present to a hub that requires mutual TLS.
        ``rate_limit_retries``: how many 429 answers to wait out per request, each for the
        hub's ``Retry-After`` (at most ``max_retry_after`` seconds)."""
        self.rate_limit_retries = rate_limit_retries
        self.max_retry_after = max_retry_after
        self._sleep = sleep
        if not token:
            raise AuthError("no token given: ask the hub operator for a researcher token")
        self.url = url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.url + "/api/v1", timeout=timeout, transport=transport,
            verify=tls_context(ca_file, client_cert),
            headers={"Authorization": f"Bearer {token}", "User-Agent": "behindglass-client"})

    def close(self) -> None:
        self._client.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request, sent again after the hub's ``Retry-After`` while it answers 429, at
        most :attr:`rate_limit_retries` times; then a :class:`NetworkError` that says so."""
        for attempt in range(self.rate_limit_retries + 1):
            try:
                response = self._client.request(method, path, **kwargs)
            except httpx.TimeoutException:
                raise NetworkError(f"hub {self.url} did not answer {method} {path} in time"
                                   ) from None
            except httpx.TransportError as exc:
                raise NetworkError(f"cannot reach hub at {self.url}: "
                                   f"{exc or type(exc).__name__}") from None
            if response.status_code != 429:
                return response
            wait = _retry_after(response)
            if attempt == self.rate_limit_retries or wait > self.max_retry_after:
                raise NetworkError(
                    f"hub {self.url} is rate-limiting {method} {path} (429, "
                    f"{attempt + 1} time(s); it asks to wait {wait:g} s): slow down and try "
                    f"again later ({_detail(response)})")
            log.warning("hub %s rate-limited %s %s; retrying in %g s (%d/%d)", self.url,
                        method, path, wait, attempt + 1, self.rate_limit_retries)
            self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send one request; the decoded JSON body, or None for an empty answer."""
        response = self._send(method, path, **kwargs)
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
