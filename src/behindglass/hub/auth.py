"""Who is calling: bearer tokens checked against the state store, with a role per endpoint.

``Depends(researcher)`` / ``Depends(site)`` give an endpoint its caller. A missing or
unknown token is 401; a valid token of the other role is 403, with a message saying which
role the endpoint wants, so a mix-up of tokens is obvious.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from behindglass.hub.state import HubState
from behindglass.hub.tokens import Principal, Role

_bearer = HTTPBearer(auto_error=False, description="token from 'behindglass hub add-…'")


def _state(request: Request) -> HubState:
    return request.app.state.hub


def caller(request: Request,
           credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
           ) -> Principal:
    """Any authenticated principal."""
    if credentials is None or not credentials.credentials:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                            "missing token: send 'Authorization: Bearer <token>'",
                            headers={"WWW-Authenticate": "Bearer"})
    principal = _state(request).authenticate(credentials.credentials)
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                            "unknown token: ask the hub operator for a valid one",
                            headers={"WWW-Authenticate": "Bearer"})
    return principal


def _role(role: Role) -> Callable[[Principal], Principal]:
    def check(principal: Annotated[Principal, Depends(caller)]) -> Principal:
        if principal.role != role:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"this endpoint is for {role}s; your token belongs to "
                f"{principal.role} {principal.name!r}")
        return principal

    check.__name__ = f"require_{role}"
    return check


researcher = _role("researcher")
site = _role("site")

Caller = Annotated[Principal, Depends(caller)]
Researcher = Annotated[Principal, Depends(researcher)]
Site = Annotated[Principal, Depends(site)]
