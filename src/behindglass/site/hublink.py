"""The site's one connection to the world: outbound HTTPS requests to the hub.

The site never listens on a socket. It asks the hub for work with a long-poll and posts
releases back; this module only speaks HTTP and sorts failures into "try again later"
(:class:`HubUnavailable`) and "retrying cannot help" (:class:`AuthError`,
:class:`NetworkError`).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from behindglass.core.errors import AuthError, NetworkError
from behindglass.core.messages import REFUSAL_HEADER, Task
from behindglass.core.messages import SIGNATURE_HEADER as RELEASE_SIGNATURE_HEADER
from behindglass.core.tls import tls_context


class Backoff:
    """Delays for retrying an unavailable hub: doubling, capped, jittered."""

    def __init__(self, first: float = 0.5, cap: float = 30.0) -> None:
        self.first, self.cap, self._next = first, cap, first

    def next(self) -> float:
        delay = self._next
        self._next = min(self.cap, self._next * 2)
        return delay * random.uniform(0.8, 1.2)  # many sites must not retry in lockstep

    def reset(self) -> None:
        self._next = self.first


class HubUnavailable(NetworkError):
    """The hub is down, unreachable or overloaded; worth retrying with backoff."""


class ReleaseConflict(NetworkError):
    """The hub already holds a release for this task (HTTP 409); do not send it again."""


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    return str(detail) if detail else response.reason_phrase


def _signed(signature: str | None) -> dict[str, str]:
    return {} if signature is None else {RELEASE_SIGNATURE_HEADER: signature}


class HubLink:
    """HTTP client for the site endpoints of one hub."""

    def __init__(self, hub_url: str, token: str, *, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None,
                 ca_file: str | Path | None = None,
                 client_cert: tuple[str | Path, str | Path] | None = None) -> None:
        """``ca_file``: the network CA to trust instead of the system's; ``client_cert``:
        (certificate, key) this site presents to a hub that requires mutual TLS."""
        self.hub_url = hub_url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.hub_url + "/api/v1",
            headers={"Authorization": f"Bearer {token}", "User-Agent": "behindglass-site"},
            timeout=timeout, transport=transport, verify=tls_context(ca_file, client_cert))

    def close(self) -> None:
        self._client.close()

    def _request(self, method: str, path: str, *, timeout: float | None = None,
                 **kwargs: Any) -> httpx.Response:
        try:
            response = self._client.request(
                method, path, timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
                **kwargs)
        except httpx.TransportError as exc:
            raise HubUnavailable(f"hub {self.hub_url} unreachable: "
                                 f"{type(exc).__name__}: {exc}") from None
        if response.headers.get(REFUSAL_HEADER) == "signature":  # not the token: keep going
            raise NetworkError(f"hub {self.hub_url} refused this site's signature: "
                               f"{_detail(response)}")
        if response.status_code in (401, 403):
            raise AuthError(f"hub {self.hub_url} refused this site's token: {_detail(response)}")
        if response.status_code >= 500 or response.status_code in (408, 429):
            raise HubUnavailable(f"hub {self.hub_url} answered {response.status_code}: "
                                 f"{_detail(response)}")
        return response

    def health(self) -> dict[str, Any]:
        return self._request("GET", "/health").json()

    def next_task(self, wait: float) -> Task | None:
        """Wait up to ``wait`` seconds at the hub for a task for this site."""
        response = self._request("GET", "/tasks/next", params={"wait": wait},
                                 timeout=wait + 15.0)
        if response.status_code == 204:
            return None
        if response.status_code != 200:
            raise NetworkError(f"hub answered {response.status_code} to a task request: "
                               f"{_detail(response)}")
        try:
            return Task.model_validate_json(response.content)
        except ValidationError as exc:
            raise NetworkError(f"hub sent a task this site cannot read (is the hub a newer "
                               f"version?): {exc.errors()[0].get('msg', 'invalid')}") from None

    def post_release(self, task_id: str, body: bytes,
                     signature: str | None = None) -> dict[str, Any]:
        """Send the exact bytes the audit log hashed, with the site's signature over them
        when it has a key; returns the hub's receipt."""
        headers = {"Content-Type": "application/json", **_signed(signature)}
        response = self._request("POST", f"/tasks/{task_id}/release", content=body,
                                 headers=headers)
        if response.status_code == 409:
            raise ReleaseConflict(f"task {task_id}: {_detail(response)}")
        if response.status_code != 200:
            raise NetworkError(f"hub rejected the release of task {task_id} "
                               f"({response.status_code}): {_detail(response)}")
        return response.json()

    def update_task(self, task_id: str, state: str, detail: str | None = None,
                    signature: str | None = None) -> None:
        """Tell the hub a task waits for the steward or a review, or runs (approved);
        ``signature``: this site's over the update (``update_payload``)."""
        response = self._request("POST", f"/tasks/{task_id}/state",
                                 json={"state": state, "detail": detail},
                                 headers=_signed(signature))
        if response.status_code == 409:
            raise ReleaseConflict(f"task {task_id}: {_detail(response)}")
        if response.status_code != 204:
            raise NetworkError(f"hub rejected the state of task {task_id} "
                               f"({response.status_code}): {_detail(response)}")

    def publish_audit_head(self, seq: int, head: str, signature: str | None = None) -> None:
        """Give the hub this site's audit chain head, so a later rewrite is provable;
        ``signature``: this site's over it (``head_payload``), which the hub keeps."""
        response = self._request("POST", "/audit/head", json={"seq": seq, "head": head},
                                 headers=_signed(signature))
        if response.status_code != 204:
            raise NetworkError(f"hub rejected this site's audit head "
                               f"({response.status_code}): {_detail(response)}")
