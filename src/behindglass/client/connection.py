"""HTTP to the hub's researcher endpoints, with every failure turned into a clear error.

* cannot connect / timed out / 5xx  -> :class:`NetworkError`
* 401 / 403                         -> :class:`AuthError`
* 404                               -> :class:`NotFoundError`
* 422 (the hub rejected a study)    -> :class:`SpecError`
"""

from __future__ import annotations

from typing import Any

import httpx

from behindglass.core.errors import AuthError, NetworkError, NotFoundError, SpecError


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
                 transport: httpx.BaseTransport | None = None) -> None:
        if not token:
            raise AuthError("no token given: ask the hub operator for a researcher token")
        self.url = url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.url + "/api/v1", timeout=timeout, transport=transport,
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
