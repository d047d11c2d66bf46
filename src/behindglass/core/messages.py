"""Messages between researcher, hub and site. The hub and the site share only these."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer, model_validator

from behindglass.core.aggregates import SiteAggregate
from behindglass.core.canonical import canonical_json
from behindglass.core.errors import SignatureError
from behindglass.core.sealing import EncryptionKey, EncryptionPublicKey, open_sealed, seal
from behindglass.core.signing import ENVELOPE_FIELDS
from behindglass.core.study import StudySpec

# The HTTP header that carries a detached signature (:func:`detach`): on a study submission
# (the researcher's) and on a release (the site's). Tasks carry theirs in ``Task.signatures``.
SIGNATURE_HEADER = "X-Behindglass-Signature"
# Set by the hub on a refusal caused by a signature, so a client can say so precisely.
REFUSAL_HEADER = "X-Behindglass-Refusal"
MAX_HEADER_CHARS = 4096

# pending: at the hub, not yet taken; awaiting_approval: the site holds the study for its
# steward; running: taken (and approved) at the site; awaiting_review: the site's output is
# held for review before release; released / refused / failed: settled
TaskState = Literal["pending", "awaiting_approval", "running", "awaiting_review", "released",
                    "refused", "failed"]
StudyState = Literal["running", "complete"]


class Task(BaseModel):
    """The work a hub hands one site for one study.

    Round 0 runs every analysis of the study. An iterative analysis (a model fitted by
    Newton steps) needs more rounds: each later task names the analyses still being fitted
    (``analyses``) and carries, per analysis, the state the hub computed from the previous
    round (``states``, e.g. the current coefficients).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    task_id: str
    study_id: str
    site: str
    researcher: str
    study: StudySpec
    created: dt.datetime
    round: int = Field(default=0, ge=0)
    analyses: tuple[str, ...] | None = Field(
        default=None, description="names of the analyses to run this round; None: all")
    states: dict[str, dict[str, Any]] = Field(default_factory=dict)
    signatures: dict[str, dict[str, Any]] | None = Field(
        default=None, description="on a signed network: 'researcher' (the study as submitted) "
                                  "and 'hub' (this task as handed out), each a detached "
                                  "envelope; None from a hub in development mode")


class Refusal(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    analysis: str
    reason: str


class Release(BaseModel):
    """What a site posts back: released aggregates and, per analysis, any refusal.

    For a study with ``seal_results`` the aggregates and refusals travel in ``sealed``
    instead, encrypted to the researcher (:func:`seal_release`); the hub sees only that.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    task_id: str
    site: str
    round: int = Field(default=0, ge=0, description="the task's round (iterative analyses)")
    aggregates: tuple[SiteAggregate, ...] = ()
    refusals: tuple[Refusal, ...] = ()
    error: str | None = None
    audit_head: str | None = Field(default=None, description="site audit chain hash at release")
    sealed: str | None = Field(
        default=None, description="aggregates and refusals encrypted to the researcher "
                                  "(base64, docs/identity.md); aggregates and refusals are "
                                  "then empty")

    @model_validator(mode="after")
    def _sealed_alone(self) -> Release:
        if self.sealed is not None and (self.aggregates or self.refusals):
            raise ValueError("a sealed release carries its aggregates and refusals only "
                             "inside 'sealed'")
        return self

    @model_serializer(mode="wrap")
    def _without_unsealed(self, handler: Any):  # no return type: keeps the JSON schema
        # an unsealed release serialises exactly as before sealing existed, so the bytes
        # (and signatures) of releases stored by an older hub still check
        data = handler(self)
        if isinstance(data, dict) and data.get("sealed") is None:
            data.pop("sealed", None)
        return data


class TaskUpdate(BaseModel):
    """A site telling the hub where one of its tasks stands before it releases anything."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state: Literal["awaiting_approval", "running", "awaiting_review"]
    detail: str | None = Field(default=None, max_length=500,
                               description="shown to the researcher; never data")


class AuditHead(BaseModel):
    """A site's audit chain head, published so a later cut or rewrite of its log is provable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int = Field(ge=-1, description="sequence number of the head entry (-1: empty log)")
    head: str = Field(pattern=r"^[0-9a-f]{64}$")


class TaskStatus(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    task_id: str
    site: str
    state: TaskState
    updated: dt.datetime
    round: int = 0
    detail: str | None = None
    release_digest: str | None = Field(
        default=None, description="sha256 of the release body as the hub received it; equals "
                                  "the digest in the site's audit log")


class StudyStatus(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    study_id: str
    title: str
    researcher: str
    state: StudyState
    created: dt.datetime
    tasks: tuple[TaskStatus, ...]


class StudyResults(BaseModel):
    """Per-site releases plus the hub's combination of each analysis."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    study_id: str
    title: str
    state: StudyState
    study: StudySpec
    releases: tuple[Release, ...]
    combined: dict[str, dict[str, Any]]
    release_signatures: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="task id -> the site's detached signature over "
                                          "that release, as the hub verified and stored it")


# -- what each signature covers --------------------------------------------------------------
# The signer and every verifier build the signed payload with these functions, so they agree
# on it without sending it twice: the envelope travels *detached* (without its payload) and
# the receiver re-attaches the payload from the message it actually got. Any difference
# between what was signed and what arrived is then a signature mismatch.
def study_payload(spec: StudySpec) -> dict[str, Any]:
    """What a researcher signs when submitting a study."""
    return {"study": spec.to_dict()}


def task_payload(task: Task) -> dict[str, Any]:
    """What the hub signs when handing out a task: every field but the signatures."""
    return {"task": task.model_dump(mode="json", exclude={"signatures"})}


def release_payload(body: bytes) -> dict[str, Any]:
    """What a site signs when posting a release: the SHA-256 of the exact body bytes (the
    digest its audit log records), so the signature covers every byte sent."""
    return {"release_digest": hashlib.sha256(body).hexdigest()}


def head_payload(site: str, head: AuditHead) -> dict[str, Any]:
    """What a site signs when publishing its audit chain head: the head, bound to the site,
    so the hub's copy proves what the site said its log held."""
    return {"audit_head": {"site": site, "seq": head.seq, "head": head.head}}


def update_payload(task_id: str, update: TaskUpdate) -> dict[str, Any]:
    """What a site signs when it tells the hub a task waits for its steward or runs."""
    return {"task_update": {"task_id": task_id, **update.model_dump(mode="json")}}


def release_body(release: Release) -> bytes:
    """The canonical bytes of a release, as a site agent sends them; a reader of the hub's
    results recomputes them to check a site's signature."""
    return canonical_json(release.model_dump(mode="json")).encode("utf-8")


class SealedContent(BaseModel):
    """What a sealed release encrypts: exactly the fields it leaves empty."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    aggregates: tuple[SiteAggregate, ...] = ()
    refusals: tuple[Refusal, ...] = ()


def seal_release(release: Release, recipient: EncryptionPublicKey) -> Release:
    """``release`` with its aggregates and refusals sealed to ``recipient`` and bound to its
    task id and site; the error and audit head stay readable (the hub needs the state)."""
    if release.sealed is not None:
        raise SignatureError(f"release of task {release.task_id} is already sealed")
    content = SealedContent(aggregates=release.aggregates, refusals=release.refusals)
    plaintext = canonical_json(content.model_dump(mode="json")).encode("utf-8")
    blob = seal(plaintext, recipient, task_id=release.task_id, site=release.site)
    return release.model_copy(update={"aggregates": (), "refusals": (), "sealed": blob})


def open_release(release: Release, key: EncryptionKey) -> Release:
    """A sealed release opened with the researcher's key (an unsealed one unchanged); raises
    :class:`SignatureError` if it was sealed to another key, altered or moved."""
    if release.sealed is None:
        return release
    plaintext = open_sealed(release.sealed, key, task_id=release.task_id, site=release.site)
    try:
        content = SealedContent.model_validate_json(plaintext)
    except ValueError:
        raise SignatureError(f"sealed results of site {release.site!r} open, but are not "
                             "aggregates and refusals") from None
    return Release(task_id=release.task_id, site=release.site, round=release.round,
                   aggregates=content.aggregates, refusals=content.refusals,
                   error=release.error, audit_head=release.audit_head)


def detach(envelope: dict[str, Any]) -> dict[str, Any]:
    """An envelope of :func:`behindglass.core.signing.sign_envelope` without its payload."""
    return {k: v for k, v in envelope.items() if k != "payload"}


def to_header(envelope: dict[str, Any]) -> str:
    """A signed envelope as a header value: compact JSON of it without the payload."""
    return json.dumps(detach(envelope), sort_keys=True, separators=(",", ":"))


def from_header(value: str | None) -> dict[str, Any] | None:
    """The detached envelope in a header value; None if the header is absent. A header that
    is not a detached envelope raises :class:`SignatureError` saying so."""
    if value is None or not value.strip():
        return None
    if len(value) > MAX_HEADER_CHARS:
        raise SignatureError(f"{SIGNATURE_HEADER} is {len(value)} characters long; a "
                             f"signature is at most {MAX_HEADER_CHARS}")
    try:
        detached = json.loads(value)
    except ValueError:
        raise SignatureError(f"{SIGNATURE_HEADER} is not JSON: the signature is malformed"
                             ) from None
    if not isinstance(detached, dict):
        raise SignatureError(f"{SIGNATURE_HEADER} is not a JSON object")
    return detached


def attach(detached: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """Re-attach ``payload`` to a detached envelope, ready for ``open_envelope``. A detached
    envelope that carries its own payload is refused: the receiver decides what was signed."""
    if not isinstance(detached, dict):
        raise SignatureError("signature is malformed: not a JSON object")
    stray = sorted(set(detached) - (set(ENVELOPE_FIELDS) - {"payload"}))
    if stray:
        raise SignatureError(f"signature is malformed: unexpected fields {stray}")
    return {**detached, "payload": payload}
