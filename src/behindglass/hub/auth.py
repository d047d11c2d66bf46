"""Who is calling: bearer tokens checked against the state store, with roles per endpoint.

``Depends(researcher)`` / ``Depends(site)`` / … give an endpoint its caller. A missing or
unknown (or revoked) token is 401; a valid token of a role the endpoint does not serve is
403, with a message saying which role(s) it wants, so a mix-up of tokens is obvious. The
token is looked up on every request, so a revocation takes effect on the next one.

:class:`TokenGate` checks the token before FastAPI reads a body: an anonymous caller gets
401 for every path under the API (but ``/health``) and cannot make the hub parse JSON,
nor learn from a 404 or 422 which paths and fields exist.

Which study a principal may read is decided in :mod:`behindglass.hub.access`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from behindglass.hub.state import HubState
from behindglass.hub.tokens import Principal, Role

_bearer = HTTPBearer(auto_error=False, description="token from 'behindglass hub add-…'")
API_PREFIX = "/api/v1"
PUBLIC_PATHS = frozenset({f"{API_PREFIX}/health"})
_PRINCIPAL = "behindglass.principal"  # where the gate leaves the caller in the ASGI scope
MISSING = "missing token: send 'Authorization: Bearer <token>'"
UNKNOWN = "unknown token (or a revoked one): ask the hub operator for a valid one"


class ErrorBody(BaseModel):
    """What every refusal looks like: FastAPI's ``detail``, a sentence (or, for a request
    that does not parse, a list of field errors)."""

    detail: str | list[dict[str, Any]]


def error_response(description: str, **extra: Any) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description, **extra}


# Documented on every authenticated router, so clients (and the schema fuzzer) know them.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: error_response("missing, unknown or revoked token"),
    403: error_response("the token's role may not use this endpoint; the message names the role"),
    404: error_response("no such study or task among those the caller may see"),
    422: error_response("the request or the study does not validate; the message says why"),
    429: error_response("too many requests from this principal; retry after `Retry-After` seconds",
                headers={"Retry-After": {"description": "seconds to wait",
                                         "schema": {"type": "integer"}}}),
}


def _state(request: Request) -> HubState:
    return request.app.state.hub


def caller(request: Request,
           credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
           ) -> Principal:
    """Any authenticated principal (as found by the gate, if the app has one)."""
    gated = request.scope.get(_PRINCIPAL)
    if isinstance(gated, Principal):
        return gated
    if credentials is None or not credentials.credentials:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, MISSING,
                            headers={"WWW-Authenticate": "Bearer"})
    principal = _state(request).authenticate(credentials.credentials)
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, UNKNOWN,
                            headers={"WWW-Authenticate": "Bearer"})
    return principal


def _bearer_token(header: str | None) -> str | None:
    scheme, _, token = (header or "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


class TokenGate:
    """ASGI middleware: every request under the API but :data:`PUBLIC_PATHS` must carry a
    valid token before anything else (body parsing, validation, routing) happens."""

    def __init__(self, app: ASGIApp, hub: HubState) -> None:
        self.app = app
        self.hub = hub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == API_PREFIX or path.startswith(API_PREFIX + "/")) or path in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        token = _bearer_token(Request(scope).headers.get("authorization"))
        principal = None
        if token is not None:
            principal = await run_in_threadpool(self.hub.authenticate, token)
        if principal is None:
            refusal = JSONResponse({"detail": UNKNOWN if token else MISSING}, 401,
                                   headers={"WWW-Authenticate": "Bearer"})
            await refusal(scope, receive, send)
            return
        scope[_PRINCIPAL] = principal
        await self.app(scope, receive, send)


def _plural(roles: tuple[Role, ...]) -> str:
    names = [f"{r}s" for r in roles]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def require(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency admitting only callers of one of ``roles``."""
    wanted = _plural(roles)

    def check(principal: Annotated[Principal, Depends(caller)]) -> Principal:
        if principal.role not in roles:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"this endpoint is for {wanted}; your token belongs to "
                f"{principal.role} {principal.name!r}")
        return principal

    check.__name__ = "require_" + "_or_".join(roles)
    return check


researcher = require("researcher")
site = require("site")
admin = require("admin")
# study progress: the owner, the viewers it was shared with, and admins (who run the network)
status_reader = require("researcher", "viewer", "admin")
# results: owner and viewers only; an admin never reads a finding
results_reader = require("researcher", "viewer")

Caller = Annotated[Principal, Depends(caller)]
Researcher = Annotated[Principal, Depends(researcher)]
Site = Annotated[Principal, Depends(site)]
Admin = Annotated[Principal, Depends(admin)]
StatusReader = Annotated[Principal, Depends(status_reader)]
ResultsReader = Annotated[Principal, Depends(results_reader)]
