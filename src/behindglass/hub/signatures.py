"""The hub's half of signed messages: it checks the researcher's signature on a study and a
site's on a release, a task state or an audit head, and signs every task it hands out.

A hub started with a roster (``hub serve --roster network.json --signing-key hub/signing.key``)
is a *signed* hub: it refuses any study or release that is unsigned, signed by a key that is
not the sender's in the roster, altered after signing, too old, or replayed. Without a roster
the hub runs in development mode and none of this applies (it says so when it starts).

Signatures travel detached (see :mod:`behindglass.core.messages`): the receiver rebuilds the
signed payload from the message it actually got, so any change to the message is a mismatch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from behindglass.core.errors import SignatureError
from behindglass.core.messages import (
    AuditHead,
    Task,
    TaskUpdate,
    attach,
    detach,
    from_header,
    head_payload,
    release_payload,
    study_payload,
    task_payload,
    update_payload,
)
from behindglass.core.signing import SigningKey, open_envelope, sign_envelope
from behindglass.core.study import StudySpec
from behindglass.governance.identity import Roster, load_roster
from behindglass.hub.state import HubState

# how old a researcher's or site's signature may be when it reaches the hub
MAX_AGE_SECONDS = 300.0


class SignatureRefused(SignatureError):
    """A message the hub refuses because of its signature; ``status`` is the HTTP status:
    401 (unsigned, wrong key, altered, expired), 409 (replayed), 422 (malformed)."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class HubSigning:
    """The roster the hub trusts and the key it signs tasks with."""

    roster: Roster
    key: SigningKey
    max_age_seconds: float = MAX_AGE_SECONDS

    def __post_init__(self) -> None:
        hub = self.roster.member("hub", "hub")
        if hub.key_id != self.key.key_id:
            raise SignatureError(f"the hub signing key {self.key.key_id} is not the hub key "
                                 f"{hub.key_id} of the roster")

    @classmethod
    def load(cls, roster_path: str | Path, key_path: str | Path) -> HubSigning:
        """The hub key, and the roster verified with that key's public half: a roster the
        hub did not sign is never trusted."""
        key = SigningKey.load(key_path)
        return cls(load_roster(roster_path, key.public()), key)

    # -- incoming ----------------------------------------------------------------------
    def _open(self, header: str | None, payload: dict[str, Any], role: str, name: str,
              what: str) -> dict[str, Any]:
        """Verify the detached envelope in ``header`` over ``payload`` as signed by the
        ``role`` member ``name``; returns the detached envelope. The nonce is not used here:
        the caller records it only once everything else holds."""
        try:
            detached = from_header(header)
        except SignatureError as exc:
            raise SignatureRefused(f"{what}: {exc}", 422) from None
        if detached is None:
            raise SignatureRefused(f"{what} is unsigned: this hub requires a signature from "
                                   f"{role} {name!r} (see docs/identity.md)")
        try:
            member = self.roster.member(name, role)
        except SignatureError as exc:
            raise SignatureRefused(f"{what}: {exc}") from None
        key_id = detached.get("key_id")
        if key_id != member.key_id:
            owner = next((m for m in self.roster.members if m.key_id == key_id), None)
            whose = (f"the key of {owner.role} {owner.name!r}" if owner is not None
                     else f"key {key_id!r}, which is in no member's name")
            raise SignatureRefused(f"{what} is signed with {whose}, not with the key of "
                                   f"{role} {name!r} who sent it")
        if detached.get("signer") != name:
            raise SignatureRefused(f"{what} is signed as {detached.get('signer')!r} but sent "
                                   f"by {role} {name!r}")
        try:
            attached = attach(detached, payload)
            open_envelope(attached, {member.key_id: member.verify_key()},
                          max_age_seconds=self.max_age_seconds, seen=lambda _: False)
        except SignatureError as exc:
            raise SignatureRefused(f"{what}: {exc}") from None
        return detach(attached)

    def _use_nonce(self, hub: HubState, detached: dict[str, Any], kind: str, what: str) -> None:
        if hub.use_nonce(str(detached["nonce"]), kind, str(detached["signer"])):
            raise SignatureRefused(f"{what} replayed: its signature (nonce {detached['nonce']})"
                                   " was already used", 409)

    def check_study(self, hub: HubState, header: str | None, spec: StudySpec,
                    researcher: str) -> dict[str, Any]:
        """The researcher's detached signature over the submitted study, verified and its
        nonce recorded; raises :class:`SignatureRefused` naming the reason."""
        what = f"study {spec.title!r}"
        detached = self._open(header, study_payload(spec), "researcher", researcher, what)
        self._use_nonce(hub, detached, "study", what)
        return detached

    def check_release(self, hub: HubState, header: str | None, body: bytes, site: str,
                      task_id: str) -> dict[str, Any]:
        """The site's detached signature over the exact release body, verified and its
        nonce recorded."""
        what = f"release of task {task_id}"
        detached = self._open(header, release_payload(body), "site", site, what)
        self._use_nonce(hub, detached, "release", what)
        return detached

    def check_update(self, hub: HubState, header: str | None, task_id: str,
                     update: TaskUpdate, site: str) -> dict[str, Any]:
        """The site's signature over a task state it reports, verified, nonce recorded."""
        what = f"state {update.state!r} of task {task_id}"
        detached = self._open(header, update_payload(task_id, update), "site", site, what)
        self._use_nonce(hub, detached, "task_update", what)
        return detached

    def check_head(self, hub: HubState, header: str | None, head: AuditHead,
                   site: str) -> dict[str, Any]:
        """The site's signature over an audit head it publishes, verified, nonce recorded:
        the hub keeps it, so the head is the site's word, not the hub's."""
        what = f"audit head {head.seq} of site {site!r}"
        detached = self._open(header, head_payload(site, head), "site", site, what)
        self._use_nonce(hub, detached, "audit_head", what)
        return detached

    # -- outgoing ----------------------------------------------------------------------
    def sign_task(self, task: Task) -> Task:
        """``task`` with the hub's signature over it beside the researcher's. Called each
        time a task is handed out, so a task offered again carries a fresh nonce."""
        # a study stored before the hub was signed has no researcher signature: the task
        # still goes out, and the site refuses it as unsigned by the researcher
        signatures = dict(task.signatures or {})
        signatures["hub"] = detach(sign_envelope(task_payload(task), self.key, signer="hub"))
        return task.model_copy(update={"signatures": signatures})
