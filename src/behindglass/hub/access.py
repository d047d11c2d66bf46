"""Who may see which study, and the endpoints that manage access: principals (admin) and
sharing a study with viewers (its owner).

The rules, in one place so every endpoint applies the same ones:

* a researcher sees their own studies, status and results;
* a viewer sees the studies shared with them, status and results, and can change nothing;
* an admin sees every study's status (to run the network) but never a result;
* anything else is answered exactly like a study that does not exist (404), so a
  study's id, title or owner never leaks to someone who may not see it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from behindglass.hub import auth
from behindglass.hub.ratelimit import RateLimiter, rate_limited
from behindglass.hub.state import HubState, StateError, StudyRow
from behindglass.hub.tokens import NAME_PATTERN, Principal, Role

API_PREFIX = "/api/v1"
Name = Annotated[str, Field(pattern=NAME_PATTERN.pattern, description="a principal's name")]


def readable_study(hub: HubState, study_id: str, who: Principal, *,
                   results: bool = False) -> StudyRow:
    """The study ``who`` may read (its ``results`` too, if asked), else 404."""
    row = hub.get_study(study_id)
    if row is not None and (
            (who.role == "researcher" and row.researcher == who.name)
            or (who.role == "viewer" and hub.can_view(study_id, who.name))
            or (who.role == "admin" and not results)):
        return row
    raise HTTPException(404, f"no study {study_id!r} among the studies you can read")


def owned_study(hub: HubState, study_id: str, who: Principal) -> StudyRow:
    """A study of the calling researcher, else 404 (another's looks like a missing one)."""
    row = hub.get_study(study_id)
    if row is None or who.role != "researcher" or row.researcher != who.name:
        raise HTTPException(404, f"no study {study_id!r} among your studies")
    return row


def visible_studies(hub: HubState, who: Principal) -> list[StudyRow]:
    """What ``GET /studies`` lists for each role."""
    if who.role == "admin":
        return hub.all_studies()
    if who.role == "viewer":
        return hub.shared_with(who.name)
    return hub.studies_of(who.name)


class NewPrincipal(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Name
    role: Role


class IssuedToken(BaseModel):
    """A new principal's token: shown in this answer only; the hub keeps a hash."""

    model_config = ConfigDict(frozen=True)

    name: str
    role: Role
    token: str


class PrincipalInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    role: Role
    created: str
    last_seen: str | None = None
    revoked: str | None = None


class PublishedHead(BaseModel):
    model_config = ConfigDict(frozen=True)

    seq: int
    head: str
    received: str
    signature: dict[str, Any] | None = Field(
        default=None, description="the site's detached signature over the head "
        "(core.messages.head_payload), on a signed hub: the head is the site's word")


class ShareRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    viewer: Name


class StudyViewers(BaseModel):
    model_config = ConfigDict(frozen=True)

    study_id: str
    viewers: list[str]


def _hub(request: Request) -> HubState:
    return request.app.state.hub


def _raise(exc: StateError) -> HTTPException:
    return HTTPException(exc.status, str(exc))


def _audit(request: Request, event: str, data: dict[str, Any]) -> None:
    """Every change of who may do or see what goes into the hub's audit log."""
    audit = getattr(request.app.state, "audit", None)
    if audit is None:
        raise HTTPException(503, "the hub is starting: its audit log is not open yet")
    audit.append(event, data)


access_api = APIRouter(prefix=API_PREFIX, tags=["access"], responses=auth.ERROR_RESPONSES,
                       dependencies=[Depends(rate_limited)])


@access_api.post("/principals", response_model=IssuedToken, status_code=201,
                 responses={409: auth.error_response("a principal of that role and name exists")})
def add_principal(new: NewPrincipal, request: Request, who: auth.Admin) -> IssuedToken:
    """Register a site, researcher, viewer or admin; the answer holds its only copy of the
    token."""
    try:
        token = _hub(request).add_principal(new.name, new.role)
    except StateError as exc:
        raise _raise(exc) from None
    _audit(request, "principal_added", {"name": new.name, "role": new.role, "by": who.name})
    return IssuedToken(name=new.name, role=new.role, token=token)


@access_api.get("/principals", response_model=list[PrincipalInfo])
def list_principals(request: Request, who: auth.Admin) -> list[PrincipalInfo]:
    """Every principal, with when it was revoked (tokens are never shown again)."""
    return [PrincipalInfo(**row) for row in _hub(request).principal_list()]  # type: ignore[arg-type]


@access_api.delete("/principals/{name}", response_model=PrincipalInfo,
                   responses={409: auth.error_response("already revoked, ambiguous, or yourself")})
def revoke_principal(
    name: Annotated[str, Path(description="the principal to revoke")],
    request: Request, who: auth.Admin,
    role: Annotated[Role | None, Query(description=(
        "needed only when principals of several roles share this name"))] = None,
) -> PrincipalInfo:
    """Revoke a principal: its token stops working on the next request."""
    hub = _hub(request)
    rows = [r for r in hub.principal_list()
            if r["name"] == name and (role is None or r["role"] == role)]
    if not rows:
        raise HTTPException(404, f"no principal named {name!r}"
                                 + (f" with role {role}" if role else ""))
    if len(rows) > 1:
        raise HTTPException(409, f"several principals are named {name!r} "
                                 f"({', '.join(sorted(str(r['role']) for r in rows))}); "
                                 "say which with ?role=")
    target: Role = rows[0]["role"]  # type: ignore[assignment]
    if (target, name) == (who.role, who.name):
        raise HTTPException(409, "an admin cannot revoke their own token; ask another admin "
                                 "or use 'behindglass hub' on the hub's machine")
    try:
        hub.revoke_principal(name, target, by=who.name)
    except StateError as exc:
        raise _raise(exc) from None
    limiter: RateLimiter | None = getattr(request.app.state, "ratelimiter", None)
    if limiter is not None:
        limiter.forget(target, name)
    _audit(request, "principal_revoked", {"name": name, "role": target, "by": who.name})
    (info,) = [r for r in hub.principal_list() if r["name"] == name and r["role"] == target]
    return PrincipalInfo(**info)  # type: ignore[arg-type]


@access_api.post("/studies/{study_id}/viewers", response_model=StudyViewers, status_code=201)
def share_study(study_id: str, share: ShareRequest, request: Request,
                who: auth.Researcher) -> StudyViewers:
    """Share one of your studies with a viewer: they may read its status and results."""
    hub = _hub(request)
    owned_study(hub, study_id, who)
    try:
        hub.share_study(study_id, share.viewer)
    except StateError as exc:
        raise _raise(exc) from None
    _audit(request, "study_shared", {"study_id": study_id, "viewer": share.viewer,
                                     "by": who.name})
    return StudyViewers(study_id=study_id, viewers=hub.viewers_of(study_id))


@access_api.get("/studies/{study_id}/viewers", response_model=StudyViewers)
def study_viewers(study_id: str, request: Request, who: auth.Researcher) -> StudyViewers:
    """Who one of your studies is shared with."""
    hub = _hub(request)
    owned_study(hub, study_id, who)
    return StudyViewers(study_id=study_id, viewers=hub.viewers_of(study_id))


@access_api.delete("/studies/{study_id}/viewers/{viewer}", response_model=StudyViewers)
def unshare_study(study_id: str, viewer: str, request: Request,
                  who: auth.Researcher) -> StudyViewers:
    """Stop sharing one of your studies with a viewer; their next read is a 404."""
    hub = _hub(request)
    owned_study(hub, study_id, who)
    try:
        hub.unshare_study(study_id, viewer)
    except StateError as exc:
        raise _raise(exc) from None
    _audit(request, "study_unshared", {"study_id": study_id, "viewer": viewer, "by": who.name})
    return StudyViewers(study_id=study_id, viewers=hub.viewers_of(study_id))


@access_api.get("/sites/{name}/audit-heads", response_model=list[PublishedHead],
                responses={404: auth.error_response("no such site")})
def site_audit_heads(
    name: Annotated[str, Path(description="the site whose published heads to list")],
    request: Request, who: auth.Admin) -> list[PublishedHead]:
    """Every audit chain head the site published, oldest first: its log must still hold
    each of them (``behindglass audit verify LOG --expect HEAD``), so a site that rewrote or
    cut its log is caught by the hub's copy."""
    hub = _hub(request)
    if name not in hub.site_names():
        raise HTTPException(404, f"no site named {name!r} at this hub")
    return [PublishedHead(**row) for row in hub.audit_heads(name)]

