"""What leaves a site for a task, and how: the exact bytes of a release (sealed to the
researcher when the study asks), written to the audit log before they are sent, signed with
the site's key, resent while the hub is down, and the audit chain head published after.

A mixin of :class:`~behindglass.site.agent.SiteAgent`, which holds the link, the audit log,
the signer and the verifier's roster.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from behindglass.core.canonical import canonical_json
from behindglass.core.errors import AuthError, NetworkError
from behindglass.core.messages import AuditHead, Release, Task, head_payload
from behindglass.core.signing import SigningKey
from behindglass.site.execute import summarize
from behindglass.site.hublink import Backoff, HubLink, HubUnavailable, ReleaseConflict
from behindglass.site.sealing import seal_outgoing
from behindglass.site.signatures import TaskVerifier, sign_payload, sign_release

if TYPE_CHECKING:
    from behindglass.governance.audit import AuditLog

HEAD_EVERY = 10.0  # seconds between audit heads published after releases

log = logging.getLogger("behindglass.site")


def release_bytes(release: Release) -> bytes:
    return canonical_json(release.model_dump(mode="json")).encode("utf-8")


class Outbox:
    """Sending releases and audit heads (the agent supplies what is declared here)."""

    name: str
    signer: SigningKey | None
    _link: HubLink
    _audit: AuditLog
    _verifier: TaskVerifier | None
    _head_published: float
    _sleep: Callable[[float], bool]  # True when the agent was told to stop meanwhile

    def _emit(self, task: Task, release: Release, body: bytes | None = None) -> Release:
        """Audit the exact bytes, then send them."""
        self._send_body(task, release_bytes(release) if body is None else body, release)
        return release

    def _send_body(self, task: Task, body: bytes, release: Release | None = None) -> None:
        if release is None:  # a held output, or a refusal made by the stewardship
            release = Release.model_validate_json(body)
        out = seal_outgoing(task, release, body,
                            None if self._verifier is None else self._verifier.roster)
        body, release = out.body, out.release  # the bytes sent; the audit lists the shapes
        sent_digest = hashlib.sha256(body).hexdigest()
        self._audit.append("release", {
            "task_id": task.task_id, "study_id": task.study_id, "digest": sent_digest,
            "bytes": len(body), "released": [summarize(a) for a in release.aggregates],
            "refused": [r.analysis for r in release.refusals], "error": release.error,
            **({"sealed_to": out.sealed_to} if out.sealed_to else {})})
        log.info("task %s: releasing %d analysis(es), refusing %d; digest %s", task.task_id,
                 len(release.aggregates), len(release.refusals), sent_digest[:16])
        self._send(task, body, sent_digest)
        self._publish_head(force=False)

    def _publish_head(self, force: bool = True) -> None:
        """Give the hub this log's head (after a release, at most every ``HEAD_EVERY``
        seconds: a model fit's rounds follow each other fast); a failure is logged, the
        next release retries."""
        head = self._audit.head
        if head is None or self._audit.next_seq == 0:
            return
        now = time.monotonic()
        if not force and now - self._head_published < HEAD_EVERY:
            return
        self._head_published = now
        published = AuditHead(seq=self._audit.next_seq - 1, head=head)
        signature = (None if self.signer is None else
                     sign_payload(head_payload(self.name, published), self.signer, self.name))
        try:
            self._link.publish_audit_head(published.seq, published.head, signature)
        except NetworkError as exc:
            log.warning("could not publish the audit head: %s", exc)

    def _send(self, task: Task, body: bytes, sent_digest: str) -> None:
        backoff = Backoff()
        while True:
            try:
                signature = (None if self.signer is None
                             else sign_release(body, self.signer, self.name))
                receipt = self._link.post_release(task.task_id, body, signature)
            except HubUnavailable as exc:
                delay = backoff.next()
                log.warning("%s; resending release of %s in %.1f s", exc, task.task_id, delay)
                if self._sleep(delay):
                    # the hub re-offers the task when its lease runs out
                    self._audit.append("release_abandoned", {"task_id": task.task_id,
                                                             "digest": sent_digest})
                    return
                continue
            except AuthError:
                raise  # a revoked token stops the agent; the lease re-offers the task
            except NetworkError as exc:  # 409 (already released) or a refusal by the hub
                self._audit.append("release_rejected", {"task_id": task.task_id,
                                                        "digest": sent_digest,
                                                        "reason": str(exc)})
                log.log(logging.WARNING if isinstance(exc, ReleaseConflict) else logging.ERROR,
                        "%s", exc)
                return
            hub_digest = receipt.get("digest")
            self._audit.append("release_acknowledged", {
                "task_id": task.task_id, "digest": sent_digest, "hub_digest": hub_digest,
                "state": receipt.get("state")})
            if hub_digest != sent_digest:
                log.error("task %s: hub recorded digest %s, the site sent %s", task.task_id,
                          hub_digest, sent_digest)
            return
