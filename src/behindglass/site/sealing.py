"""The site's half of sealed results: encrypt a release to the study's researcher as it
leaves, so the hub relays only ciphertext.

A study that opts in (``StudySpec.seal_results``) has this site seal the aggregates and
refusals of every release to the researcher's encryption key from the *signed roster*
(never from the task: the hub could swap in a key of its own). The release that leaves is
the sealed one, so the site's signature and the digest in its audit log cover the exact
ciphertext bytes sent; the audit entry still lists what was sealed (names and tallies, from
the plaintext), so the steward can read what left without holding the researcher's key.

A sealed study must never leave in the clear: if this site cannot seal it (no roster, no
key for the researcher), the release is replaced by a failed one saying why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from behindglass.core.canonical import canonical_json
from behindglass.core.errors import SignatureError
from behindglass.core.messages import Release, Task, seal_release
from behindglass.governance.identity import Roster

log = logging.getLogger("behindglass.site")


@dataclass(frozen=True)
class Outgoing:
    """What leaves the site for one task: the exact bytes, and to whom they are sealed."""

    body: bytes
    release: Release  # what the audit lists: the plaintext's shapes, or the failed release
    sealed_to: str | None = None  # the researcher's encryption key id, when sealed


def _bytes(release: Release) -> bytes:
    return canonical_json(release.model_dump(mode="json")).encode("utf-8")


def seal_outgoing(task: Task, release: Release, body: bytes,
                  roster: Roster | None) -> Outgoing:
    """``body`` (the plaintext ``release``'s bytes) as it must leave for ``task``: unchanged
    for a study that does not seal; else sealed to the task's researcher, or, if this site
    cannot seal, a failed release that names the reason and carries no result."""
    if not task.study.seal_results or release.sealed is not None:
        return Outgoing(body, release)
    if not release.aggregates:
        # no result to hide: an error or refusals alone (reasons built from the spec and the
        # policy, never from data) travel as they are, so the hub can show the task refused
        return Outgoing(body, release)
    try:
        if roster is None:
            raise SignatureError("this site has no roster (network.json and hub.pub in its "
                                 "home), so it has no researcher key to seal to")
        recipient = roster.member(task.researcher, "researcher").encryption_public()
    except SignatureError as exc:
        log.error("task %s: cannot seal the results: %s", task.task_id, exc)
        failed = Release(task_id=release.task_id, site=release.site, round=release.round,
                         error=f"site {release.site} cannot seal the results of this sealed "
                               f"study, so it released nothing: {exc}",
                         audit_head=release.audit_head)
        return Outgoing(_bytes(failed), failed)
    sealed = seal_release(release, recipient)
    return Outgoing(_bytes(sealed), release, sealed_to=recipient.key_id)


__all__ = ["Outgoing", "seal_outgoing"]
