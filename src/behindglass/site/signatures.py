"""The site's half of signed messages: check every task before admitting it, sign every
release before sending it.

On a signed network a task carries two detached signatures (``Task.signatures``):

* ``researcher`` — the researcher's, made when the study was submitted, over the study
  itself. It proves *who asked for what*: the hub cannot change a study it relays.
* ``hub`` — the hub's, made when it handed this task out, over every other field of the
  task (site, round, analyses, the states of iterative fits). It proves the task is fresh
  (its time and nonce) and that nothing was changed on the way.

:class:`TaskVerifier` refuses a task unless both hold, each refusal with its own reason.
:func:`sign_release` makes the header value a release is posted with
(:data:`RELEASE_SIGNATURE_HEADER`): the site's signature over the SHA-256 of the exact body
bytes, so the hub and, later, the researcher can check every byte came from this site.

:class:`NonceBook` is a durable record of the hub nonces a site has seen, for
``TaskVerifier(seen=...)``: a task replayed after a restart of the agent is still refused.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from behindglass.core.errors import SignatureError
from behindglass.core.keyfiles import write_atomic
from behindglass.core.messages import (
    SIGNATURE_HEADER,
    Task,
    attach,
    release_payload,
    study_payload,
    task_payload,
    to_header,
)
from behindglass.core.signing import CLOCK_SKEW_SECONDS, SigningKey, open_envelope, sign_envelope
from behindglass.governance.identity import Roster

# the header ``HubLink.post_release`` sends the value of :func:`sign_release` in
RELEASE_SIGNATURE_HEADER = SIGNATURE_HEADER
# how old the hub's signature on a task may be when the site checks it (the hub signs each
# task as it hands it out, so this only has to cover the trip and clock drift)
TASK_MAX_AGE_SECONDS = 300.0


class TaskVerifier:
    """Checks the signatures of tasks from the hub against the network's roster.

    ``seen(nonce)`` answers whether a hub nonce was already used *and records it*
    (:class:`NonceBook` does both, durably). It is asked last, only when everything else
    holds, so a forged or altered task never uses up a nonce.
    """

    def __init__(self, roster: Roster, seen: Callable[[str], bool], *,
                 max_age_seconds: float = TASK_MAX_AGE_SECONDS) -> None:
        self.roster = roster
        self.seen = seen
        self.max_age_seconds = max_age_seconds

    def check(self, task: Task, now: dt.datetime | None = None) -> None:
        """Return if ``task`` is signed by its researcher and by the hub, fresh and not
        seen before; else raise :class:`SignatureError` saying which check failed. Call it
        once, when the task arrives from the hub."""
        self._check(task, now, fresh=True)

    def recheck(self, task: Task, now: dt.datetime | None = None) -> None:
        """Check a task this site already checked on arrival and kept (held for its
        steward, run later): both signatures must still hold over it, but its age and nonce
        are not asked again: :meth:`check` would call it expired or replayed."""
        self._check(task, now, fresh=False)

    def _check(self, task: Task, now: dt.datetime | None, fresh: bool) -> None:
        what = f"task {task.task_id}"
        sigs = task.signatures
        if not sigs:
            raise SignatureError(f"{what} is unsigned: this site accepts only tasks signed by "
                                 "the researcher and the hub (is the hub in development mode?)")
        for part in ("researcher", "hub"):
            if not isinstance(sigs.get(part), dict):
                raise SignatureError(f"{what} carries no {part} signature")
        self._researcher(task, sigs["researcher"], what, now)
        self._hub(task, sigs["hub"], what, now, fresh)

    def _researcher(self, task: Task, detached: dict[str, Any], what: str,
                    now: dt.datetime | None) -> None:
        member = self._member(detached, "researcher", what)
        if member.name != task.researcher or detached.get("signer") != task.researcher:
            raise SignatureError(f"{what}: the study is signed by researcher {member.name!r} "
                                 f"(as {detached.get('signer')!r}), but the task says it comes "
                                 f"from {task.researcher!r}")
        try:
            # no age limit: a study may wait days for a steward; the hub checked its age at
            # submission and the hub's own signature below proves this task is fresh.
            # No nonce either: every task of a study carries the same researcher signature.
            open_envelope(attach(detached, study_payload(task.study)),
                          {member.key_id: member.verify_key()}, max_age_seconds=math.inf,
                          seen=lambda _: False, now=now)
        except SignatureError as exc:
            raise SignatureError(f"{what}: the researcher's signature does not cover this "
                                 f"study ({exc})") from None

    def _hub(self, task: Task, detached: dict[str, Any], what: str,
             now: dt.datetime | None, fresh: bool) -> None:
        member = self._member(detached, "hub", what)
        try:
            open_envelope(attach(detached, task_payload(task)),
                          {member.key_id: member.verify_key()},
                          max_age_seconds=self.max_age_seconds if fresh else math.inf,
                          seen=self.seen if fresh else (lambda _: False), now=now)
        except SignatureError as exc:
            raise SignatureError(f"{what}: hub signature refused: {exc}") from None

    def _member(self, detached: dict[str, Any], role: str, what: str) -> Any:
        key_id = detached.get("key_id")
        member = next((m for m in self.roster.members if m.key_id == key_id), None)
        if member is None:
            raise SignatureError(f"{what}: the {role} signature is made with key {key_id!r}, "
                                 "which belongs to no member of this network's roster")
        if member.role != role:
            raise SignatureError(f"{what}: the {role} signature is made with the key of "
                                 f"{member.role} {member.name!r}, not of a {role}")
        return member


def sign_release(body: bytes, key: SigningKey, site: str,
                 now: dt.datetime | None = None) -> str:
    """The :data:`RELEASE_SIGNATURE_HEADER` value for posting ``body`` (the exact bytes):
    this site's signature over their SHA-256. Sign again for each attempt to post (a
    resend after the hub was down must not arrive expired); the body, and so the digest in
    the audit log, stays the same."""
    return sign_payload(release_payload(body), key, site, now)


def sign_payload(payload: dict[str, Any], key: SigningKey, site: str,
                 now: dt.datetime | None = None) -> str:
    """The signature header value for a message this site sends (a release's digest, an
    audit head, a task's state): detached, with a fresh nonce."""
    return to_header(sign_envelope(payload, key, signer=site, now=now))


class NonceBook:
    """The hub nonces this site has seen, one JSON line each in ``path`` (append-only).

    Call it as ``seen(nonce)``: True if the nonce was recorded before, else records it and
    returns False. Entries older than ``memory_seconds`` are forgotten when the book is
    opened: a task signed that long ago is refused as expired before its nonce is asked.
    """

    def __init__(self, path: str | Path, *, memory_seconds: float = 86400.0) -> None:
        if memory_seconds < TASK_MAX_AGE_SECONDS + CLOCK_SKEW_SECONDS:
            raise ValueError("a nonce book must remember nonces at least as long as a task "
                             "stays valid")
        self.path = Path(path)
        self._lock = threading.Lock()
        self._seen: dict[str, str] = {}
        cutoff = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=memory_seconds)).isoformat()
        lines = (self.path.read_text(encoding="utf-8").splitlines()
                 if self.path.is_file() else [])
        for n, line in enumerate(lines, 1):
            try:
                entry = json.loads(line)
                nonce, when = str(entry["nonce"]), str(entry["seen"])
            except (ValueError, KeyError, TypeError):
                if n == len(lines):
                    continue  # the last line, cut short by a crash while it was written
                raise SignatureError(f"{self.path}:{n}: not a nonce record") from None
            if when >= cutoff:
                self._seen[nonce] = when
        self._rewrite()

    def _rewrite(self) -> None:
        lines = "".join(json.dumps({"nonce": nonce, "seen": when}) + "\n"
                        for nonce, when in self._seen.items())
        write_atomic(self.path, lines.encode("utf-8"), 0o644)

    def __call__(self, nonce: str) -> bool:
        with self._lock:
            if nonce in self._seen:
                return True
            when = dt.datetime.now(dt.UTC).isoformat()
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps({"nonce": nonce, "seen": when}) + "\n")
                f.flush()
                os.fsync(f.fileno())
            self._seen[nonce] = when
            return False
