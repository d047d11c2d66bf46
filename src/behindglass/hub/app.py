"""The hub's HTTP API (FastAPI), versioned under ``/api/v1``.

Researchers submit studies and read results; sites long-poll for tasks and post releases.
The hub relays specs and combines aggregates; by construction it imports nothing that can
read rows (no ``engine``, ``omop`` or ``deid``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

import behindglass
from behindglass.core.canonical import digest
from behindglass.core.errors import SpecError
from behindglass.core.messages import (
    REFUSAL_HEADER,
    SIGNATURE_HEADER,
    AuditHead,
    Release,
    StudyResults,
    StudyStatus,
    Task,
    TaskUpdate,
)
from behindglass.core.study import StudySpec
from behindglass.governance.audit import AuditLog
from behindglass.hub import access, auth
from behindglass.hub.combine import (
    Catalog,
    check_sealing,
    combine_study,
    installed_catalog,
    validate_study,
)
from behindglass.hub.longpoll import Wakeups, site_key, study_key, wait_for
from behindglass.hub.ratelimit import RateLimiter, RateLimits, rate_limited
from behindglass.hub.rounds import initial_states
from behindglass.hub.signatures import HubSigning, SignatureRefused
from behindglass.hub.state import TERMINAL, HubState, StateError, StudyRow, digest_bytes
from behindglass.hub.tokens import Principal

API_PREFIX = "/api/v1"
MAX_WAIT = 120.0
DEFAULT_LEASE = 600.0
HUB_AUDIT = "hub.jsonl"
log = logging.getLogger("behindglass.hub")


class Health(BaseModel):
    model_config = ConfigDict(frozen=True)

    status: str
    version: str
    sites: int


class SiteInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    last_seen: dt.datetime | None = None


class ReleaseReceipt(BaseModel):
    model_config = ConfigDict(frozen=True)

    task_id: str
    state: str
    digest: str


def _hub(request: Request) -> HubState:
    return request.app.state.hub


def _raise(exc: StateError) -> HTTPException:
    return HTTPException(exc.status, str(exc))


def _status(hub: HubState, row: StudyRow) -> StudyStatus:
    tasks = hub.task_statuses(row.study_id)
    settled = tasks and all(t.state in TERMINAL for t in tasks)
    state = "complete" if settled and not hub.fitting(row.study_id) else "running"
    return StudyStatus(study_id=row.study_id, title=row.title, researcher=row.researcher,
                       state=state, created=row.created, tasks=tuple(tasks))


def _signing(request: Request) -> HubSigning | None:
    return request.app.state.signing


def _refused(exc: SignatureRefused) -> HTTPException:
    """A signature refusal, marked so a client can tell it from a bad token."""
    return HTTPException(exc.status, str(exc), headers={REFUSAL_HEADER: "signature"})


def _own_study(hub: HubState, study_id: str, who: Principal, results: bool = False) -> StudyRow:
    # owner, viewers it was shared with, admins (status only); others get a 404 (see access)
    return access.readable_study(hub, study_id, who, results=results)


researcher_api = APIRouter(prefix=API_PREFIX, tags=["researcher"], responses=auth.ERROR_RESPONSES,
                           dependencies=[Depends(rate_limited)])
site_api = APIRouter(prefix=API_PREFIX, tags=["site"], responses=auth.ERROR_RESPONSES)
public_api = APIRouter(prefix=API_PREFIX, tags=["hub"])


@public_api.get("/health", response_model=Health)
def health(request: Request) -> Health:
    return Health(status="ok", version=behindglass.__version__,
                  sites=len(_hub(request).site_names()))


@public_api.get("/sites", response_model=list[SiteInfo], responses=auth.ERROR_RESPONSES)
def list_sites(request: Request, who: auth.Caller) -> list[SiteInfo]:
    """Registered sites and when each last asked for work."""
    return [SiteInfo(**s) for s in _hub(request).sites()]


@researcher_api.post("/studies", response_model=StudyStatus, status_code=201)
def submit_study(spec: StudySpec, request: Request,
                 who: auth.Researcher) -> StudyStatus:
    """Validate a study against the hub's catalog and create one task per target site."""
    hub = _hub(request)
    signing, signature = _signing(request), None
    try:
        validate_study(spec, request.app.state.catalog)
        states = initial_states(spec, request.app.state.catalog)
        # a sealed study: no iterative analysis, and a researcher key to seal to
        check_sealing(spec, states, None if signing is None else signing.roster, who.name)
        if signing is not None:  # checked last: a study the hub refuses keeps its nonce
            signature = signing.check_study(hub, request.headers.get(SIGNATURE_HEADER), spec,
                                            who.name)
        study_id, sites = hub.create_study(who.name, spec, states, signature)
    except SignatureRefused as exc:
        raise _refused(exc) from None
    except SpecError as exc:
        raise HTTPException(422, str(exc)) from None
    except StateError as exc:
        raise _raise(exc) from None
    request.app.state.wakeups.notify([site_key(s) for s in sites])
    _audit(request, "study_submitted", {"study_id": study_id, "researcher": who.name,
                                        "study_digest": digest(spec.to_dict()), "sites": sites,
                                        "signed_by": None if signature is None
                                        else signature["key_id"]})
    row = hub.get_study(study_id)
    assert row is not None
    return _status(hub, row)


@researcher_api.get("/studies", response_model=list[StudyStatus])
def list_studies(request: Request,
                 who: auth.StatusReader) -> list[StudyStatus]:
    hub = _hub(request)
    return [_status(hub, row) for row in access.visible_studies(hub, who)]


def _changed_after(status: StudyStatus, after: dt.datetime | None) -> bool:
    if after is None or status.state == "complete":
        return True
    if after.tzinfo is None:
        after = after.replace(tzinfo=dt.UTC)
    return any(t.updated > after for t in status.tasks)


@researcher_api.get("/studies/{study_id}", response_model=StudyStatus)
async def study_status(
    study_id: str, request: Request, who: auth.StatusReader,
    wait: Annotated[float, Query(ge=0.0, le=MAX_WAIT, description=(
        "long-poll: hold the request up to this many seconds until a task changes"))] = 0.0,
    after: Annotated[dt.datetime | None, Query(description=(
        "with wait: answer as soon as any task was updated after this time (or the study "
        "is complete)"))] = None,
) -> StudyStatus:
    """A study's per-site progress; with ``wait``, a long-poll for the next change."""
    hub = _hub(request)
    wakeups: Wakeups = request.app.state.wakeups
    row = await run_in_threadpool(_own_study, hub, study_id, who)
    deadline = time.monotonic() + wait
    while True:
        event = wakeups.event(study_key(study_id))  # taken before looking, as for sites
        status = await run_in_threadpool(_status, hub, row)
        remaining = deadline - time.monotonic()
        if (remaining <= 0 or _changed_after(status, after) or request.app.state.stopping
                or await request.is_disconnected()):
            return status
        await wait_for(event, remaining)


@researcher_api.get("/studies/{study_id}/results", response_model=StudyResults)
def study_results(study_id: str, request: Request,
                  who: auth.ResultsReader) -> StudyResults:
    """Every release so far and the combination of each analysis over them."""
    hub = _hub(request)
    row = _own_study(hub, study_id, who, results=True)
    releases = hub.releases(study_id)
    status = _status(hub, row)
    combined = combine_study(row.spec, releases, request.app.state.catalog,
                             fits=hub.fits(study_id))
    return StudyResults(study_id=study_id, title=row.title, state=status.state,
                        study=row.spec, releases=tuple(releases), combined=combined,
                        release_signatures=hub.release_signatures(study_id))


@site_api.get("/tasks/next", response_model=Task,
              responses={204: {"description": "no task arrived within `wait` seconds"}})
async def next_task(request: Request, who: auth.Site,
                    wait: Annotated[float, Query(ge=0.0, le=MAX_WAIT, description=(
                        "seconds to hold the request open"))] = 0.0) -> Task | Response:
    """Long-poll: the oldest pending task for the calling site (now leased to it), or 204."""
    hub = _hub(request)
    wakeups: Wakeups = request.app.state.wakeups
    deadline = time.monotonic() + wait
    await run_in_threadpool(hub.touch_site, who.name)
    while True:
        event = wakeups.event(site_key(who.name))  # taken before looking: no lost wake-up
        task = await run_in_threadpool(hub.claim_next, who.name)
        if task is not None:
            wakeups.notify([study_key(task.study_id)])
            signing = _signing(request)
            # signed at each hand-out: a task offered again carries a fresh nonce and time
            return task if signing is None else signing.sign_task(task)
        remaining = deadline - time.monotonic()
        if remaining <= 0 or request.app.state.stopping:
            return Response(status_code=204)
        # a leased task of this site may expire before the deadline: wake up for it too
        expiry = await run_in_threadpool(hub.next_lease_expiry, who.name)
        if expiry is not None:
            remaining = min(remaining, max(0.05, expiry - time.time() + 0.05))
        await wait_for(event, remaining)
        if request.app.state.stopping or await request.is_disconnected():
            # claiming now would lease a task to nobody until the lease runs out
            return Response(status_code=204)


@site_api.post("/tasks/{task_id}/release", response_model=ReleaseReceipt)
async def release_task(task_id: str, release: Release, request: Request,
                       who: auth.Site) -> ReleaseReceipt:
    """A site's released aggregates (and refusals) for one of its own tasks."""
    if release.task_id != task_id or release.site != who.name:
        raise HTTPException(422, "release task_id and site must match the URL and your token "
                                 f"(got task {release.task_id!r}, site {release.site!r})")
    body = await request.body()  # as sent: its digest must match the site's audit log
    hub = _hub(request)
    signing, signature = _signing(request), None
    try:
        if signing is not None:
            signature = await run_in_threadpool(
                signing.check_release, hub, request.headers.get(SIGNATURE_HEADER), body,
                who.name, task_id)
        state, study_id = await run_in_threadpool(hub.record_release, who.name, release, body,
                                                  signature)
        # the last release of a round starts the next one of any model still being fitted
        next_sites = await run_in_threadpool(hub.advance, study_id, request.app.state.catalog)
    except SignatureRefused as exc:
        raise _refused(exc) from None
    except StateError as exc:
        raise _raise(exc) from None
    request.app.state.wakeups.notify([study_key(study_id)] + [site_key(s) for s in next_sites])
    _audit(request, "release_recorded", {"task_id": task_id, "site": who.name, "state": state,
                                         "digest": digest_bytes(body),
                                         "site_audit_head": release.audit_head,
                                         "signed_by": None if signature is None
                                         else signature["key_id"]})
    return ReleaseReceipt(task_id=task_id, state=state, digest=digest_bytes(body))


@site_api.post("/tasks/{task_id}/state", status_code=204)
def update_task(task_id: str, update: TaskUpdate, request: Request, who: auth.Site) -> Response:
    """A site says a task of its own waits for its steward's approval or an output review,
    or runs (approved); signed by the site on a signed hub."""
    hub, signing = _hub(request), _signing(request)
    try:
        if hub.task_site(task_id) == who.name and signing is not None:
            signing.check_update(hub, request.headers.get(SIGNATURE_HEADER), task_id, update,
                                 who.name)
        study_id = hub.update_task(who.name, task_id, update)
    except SignatureRefused as exc:
        raise _refused(exc) from None
    except StateError as exc:
        raise _raise(exc) from None
    request.app.state.wakeups.notify([study_key(study_id)])
    _audit(request, "task_update", {"task_id": task_id, "site": who.name,
                                    "state": update.state})
    return Response(status_code=204)


@site_api.post("/audit/head", status_code=204)
def publish_audit_head(head: AuditHead, request: Request, who: auth.Site) -> Response:
    """A site publishes its audit chain head; the hub keeps every one it was sent, with the
    site's signature over it on a signed hub."""
    hub, signing, signature = _hub(request), _signing(request), None
    try:
        if signing is not None:
            signature = signing.check_head(hub, request.headers.get(SIGNATURE_HEADER), head,
                                           who.name)
        hub.record_audit_head(who.name, head, signature)
    except SignatureRefused as exc:
        raise _refused(exc) from None
    except StateError as exc:
        raise _raise(exc) from None
    _audit(request, "site_audit_head", {"site": who.name, "seq": head.seq, "head": head.head})
    return Response(status_code=204)


@site_api.get("/audit/heads", response_model=list[dict[str, Any]])
def own_audit_heads(request: Request, who: auth.Site) -> list[dict[str, Any]]:
    """The audit heads the hub holds for the calling site: what its log must still contain."""
    return _hub(request).audit_heads(who.name)


def _audit(request: Request, event: str, data: dict[str, Any]) -> None:
    audit: AuditLog | None = request.app.state.audit
    if audit is None:
        raise HTTPException(503, "the hub is starting: its audit log is not open yet")
    audit.append(event, data)


def begin_shutdown(app: FastAPI) -> None:
    """Answer every parked long-poll with 204 now, so the server need not wait for them.
    Safe to call from a signal handler or another thread."""
    app.state.stopping = True
    app.state.wakeups.wake_all()


def create_app(state_dir: str | Path, *, lease_seconds: float = DEFAULT_LEASE,
               catalog: Catalog | None = None,
               rate_limits: RateLimits | None = None,
               signing: HubSigning | None = None) -> FastAPI:
    """A hub serving the state in ``state_dir`` (created on first start). The hub's own
    hash-chained audit log is ``state_dir/audit/hub.jsonl``. With ``signing`` (the roster
    and the hub's key) every study, task and release is signed and checked, and the hub's
    audit entries are signed with its key; without it the hub runs in development mode and
    accepts unsigned messages."""
    hub = HubState(state_dir, lease_seconds=lease_seconds)
    wakeups = Wakeups()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        wakeups.bind(asyncio.get_running_loop())
        app.state.stopping = False
        # opened here, not at creation: one hub process holds it (an exclusive lock)
        app.state.audit = AuditLog(Path(state_dir) / "audit" / HUB_AUDIT,
                                   signer=None if signing is None else signing.key)
        hub.advance_all(app.state.catalog)  # rounds a stop interrupted between two steps
        if signing is None:
            log.warning("DEVELOPMENT MODE: this hub has no roster, so studies, tasks and "
                        "releases are NOT signed or checked; start it with --roster and "
                        "--signing-key for a real network")
        else:
            log.info("signed network: %d members in the roster; unsigned, altered or "
                     "replayed messages are refused", len(signing.roster.members))
        yield
        app.state.stopping = True
        hub.close()
        app.state.audit.close()

    app = FastAPI(title="behindglass hub", version=behindglass.__version__, lifespan=lifespan,
                  description="Coordinates a Data Behind Glass network: studies go out as "
                              "tasks, disclosure-controlled aggregates come back.")
    app.state.hub = hub
    app.state.audit = None
    app.state.wakeups = wakeups
    app.state.catalog = catalog or installed_catalog()
    app.state.stopping = False
    app.state.ratelimiter = RateLimiter(rate_limits)
    app.state.signing = signing
    app.add_middleware(auth.TokenGate, hub=hub)  # no token, no body parsing: 401 first
    for router in (public_api, researcher_api, site_api, access.access_api):
        app.include_router(router)
    return app
