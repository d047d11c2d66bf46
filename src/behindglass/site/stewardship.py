"""The steward's side of the agent: a study runs here only once approved, and a sensitive
output leaves only once reviewed.

Round 0 of a study is a *request*. The policy may approve it at once (a trusted researcher
or study, a standing rule, or approvals not required); otherwise the agent keeps the task in
the site's approval store, tells the hub the task awaits the steward's approval, and moves on.
When a steward approves (``behindglass site approve ID``, in another process), the agent
finds the request on its next turn and runs it; a rejection goes to the hub as a refusal of
every analysis with the steward's reason. Later rounds of an iterative fit run only for a
study that was approved here.

Outputs of the kinds the policy lists for review are held until enough distinct stewards
passed them (``behindglass site pass ID``); a withheld output is sent as a refusal.

Whatever stewards decided is copied from the store's journal into the agent's hash-chained
audit log, which only the agent may write.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from behindglass.core.canonical import canonical_json, digest
from behindglass.core.errors import NetworkError
from behindglass.core.messages import Refusal, Release, Task, TaskUpdate, update_payload
from behindglass.core.policy import SitePolicy
from behindglass.core.signing import SigningKey
from behindglass.governance.approvals import ApprovalStore, Request, can_finish
from behindglass.governance.standing import automatic_approval, needs_review
from behindglass.site.hublink import HubLink
from behindglass.site.signatures import sign_payload

log = logging.getLogger("behindglass.site")

Admit = Literal["run", "hold"]
POLICY_STEWARD = "site policy"
# requests a steward approved after the agent had moved on: run on its next turn
RUNNABLE_AFTER_APPROVAL = ("approved",)
CONTINUES = ("running", "released", "refused")


@dataclass
class Stewardship:
    store: ApprovalStore
    policy: SitePolicy
    link: HubLink
    audit: Any
    site: str
    signer: SigningKey | None = None  # signs what the site tells the hub of its tasks

    # -- round 0 and later rounds ------------------------------------------------------
    def admit(self, task: Task) -> Admit | str:
        """"run", "hold" (waiting for the steward) or a refusal reason for every analysis."""
        if task.round > 0:
            request = self.store.find(task.study_id)
            if request is None or request.state not in CONTINUES:
                return (f"study {task.study_id} was not approved at site {self.site}; a later "
                        "round of a fit runs only for an approved study")
            return "run"
        study_digest = digest(task.study.to_dict())
        request = self.store.submit(task, study_digest)
        if request.state == "pending":
            rule = automatic_approval(self.policy.approvals, self.policy.disclosure.min_cell,
                                      task.researcher, task.study, study_digest)
            if rule is not None:
                request = self.store.approve(task.study_id, POLICY_STEWARD, rule=rule)
        if request.state == "pending":
            self._tell(task, "awaiting_approval",
                       f"waiting for the approval of site {self.site}'s steward")
            self.audit.append("approval_requested", {
                "study_id": task.study_id, "task_id": task.task_id,
                "researcher": task.researcher, "study_digest": study_digest})
            log.info("study %s from %s awaits the steward's approval", task.study_id,
                     task.researcher)
            return "hold"
        if request.state == "rejected":
            return _rejected(request)
        if request.state == "approved":
            self.store.start(task.study_id)
        return "run"

    def finished(self, task: Task, release: Release) -> None:
        """Round 0 was released (or refused): the request is done."""
        if task.round > 0:
            return
        request = self.store.find(task.study_id)
        # a re-run of a finished study (its release was lost on the way) is done already
        if request is not None and can_finish(request):
            self.store.finish(task.study_id, released=bool(release.aggregates))

    # -- outputs -----------------------------------------------------------------------
    def hold_if_sensitive(self, task: Task, release: Release, body: bytes) -> bool:
        """Hold an output of a kind under review; True if held (nothing is sent now)."""
        kinds = sorted({a.kind for a in release.aggregates})
        if not kinds or not needs_review(self.policy.approvals, kinds):
            return False
        self.store.hold(task.task_id, task.study_id, body, kinds,
                        self.policy.approvals.reviewers)
        self._tell(task, "awaiting_review",
                   f"output held for review by site {self.site}'s stewards")
        self.audit.append("output_held", {"task_id": task.task_id, "study_id": task.study_id,
                                          "kinds": kinds, "reviewers":
                                          self.policy.approvals.reviewers})
        return True

    # -- between polls -----------------------------------------------------------------
    def waiting(self) -> bool:
        """Whether something here waits for a steward (the agent then polls briefly)."""
        return bool(self.store.list(["pending", "approved"]) or self.store.outputs(["held",
                                                                                   "passed"]))

    def turn(self, run: Callable[[Task], object],
             send: Callable[[Task, bytes], None]) -> None:
        """Act on what stewards decided since the last turn."""
        self.copy_journal()
        for request in self.store.approved_not_started():
            task = self.store.task(request.study_id)
            try:
                self._tell(task, "running", f"approved at site {self.site}")
            except NetworkError as exc:
                log.warning("study %s approved, but the hub no longer waits for it: %s",
                            request.study_id, exc)
                self.store.start(request.study_id)
                self.store.finish(request.study_id, released=False)
                continue
            run(task)
        for request in self.store.list(["rejected"]):
            if not self.store.was_told(request.task_id):
                task = self.store.task(request.study_id)
                self._refuse(task, _rejected(request), send)
        for output in self.store.passed_not_sent():
            task = self.store.task(output.study_id)
            body = self.store.body(output.task_id)
            send(task.model_copy(update={"task_id": output.task_id}), body)
            self.store.mark_sent(output.task_id)
        for output in self.store.outputs(["withheld"]):
            if not self.store.was_told(output.task_id):
                task = self.store.task(output.study_id)
                reason = (f"withheld by site {self.site}'s output review: {output.reason}")
                self._refuse(task.model_copy(update={"task_id": output.task_id}), reason, send)
        self.copy_journal()

    def copy_journal(self) -> None:
        rows = self.store.unaudited()
        for row in rows:
            event = str(row.get("event", "decision"))
            self.audit.append(f"steward_{event}", {k: v for k, v in row.items()
                                                    if k not in ("event", "audited")})
        if rows:
            self.store.mark_audited([int(r["id"]) for r in rows])

    def _tell(self, task: Task, state: str, detail: str) -> None:
        """Tell the hub the task's state, signed when the site has a key."""
        signature = None
        if self.signer is not None:
            update = TaskUpdate(state=state, detail=detail)  # type: ignore[arg-type]
            signature = sign_payload(update_payload(task.task_id, update), self.signer,
                                     self.site)
        self.link.update_task(task.task_id, state, detail, signature)

    def _refuse(self, task: Task, reason: str, send: Callable[[Task, bytes], None]) -> None:
        release = refusal(task, self.site, reason, None)
        send(task, canonical_json(release.model_dump(mode="json")).encode("utf-8"))
        self.store.mark_told(task.task_id)  # kept: a restarted agent does not send it again


def _rejected(request: Request) -> str:
    return f"the site's steward rejected this study: {request.reason}"


def refusal(task: Task, site: str, reason: str, audit_head: str | None) -> Release:
    """Every analysis the task asks for, refused with one reason."""
    names = [a.name for a in task.study.analyses
             if task.analyses is None or a.name in task.analyses]
    return Release(task_id=task.task_id, site=site, round=task.round,
                   refusals=tuple(Refusal(analysis=n, reason=reason) for n in names),
                   audit_head=audit_head)
