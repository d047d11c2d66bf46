"""The site's policy around each analysis: what runs before it, and what its output passes
through after suppression, whatever analysis produced it.

Before an analysis runs: its kind and parameters must be allowed by the policy
(``[analyses]``), and (round 0) each cohort it uses is checked against the differencing
ledger: a population that differs from one already released to the same researcher or study
(or from another of the same analysis) by fewer than k persons is refused. Once it ran:
differential privacy on its own output, charged to the researcher's and the study's epsilon
budgets (``[privacy]``); then the site's suppression; then rounding
(``disclosure.rounding``). Noise comes first so that suppression and rounding, which are
post-processing, cannot weaken it, and no released count falls below the minimum cell.

Around suppression, which works over all the task's analyses at once: the tables released
earlier to the same researcher or study that count the same persons are recalled, so their
hidden cells stay hidden; each table released is remembered (``TableMemory``).

Each refusal reason is built from the policy and the spec only: it never says how many
persons differ, nor which earlier release it was compared with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from behindglass.core.aggregates import SiteAggregate
from behindglass.core.errors import DisclosureError
from behindglass.core.messages import Task
from behindglass.core.policy import SitePolicy
from behindglass.core.study import AnalysisSpec
from behindglass.privacy.allowed import check_allowed
from behindglass.privacy.budget import EpsilonBudget
from behindglass.privacy.dp import apply_dp
from behindglass.privacy.fingerprints import fingerprint
from behindglass.privacy.ledger import ReleaseLedger
from behindglass.privacy.linkage import Prior
from behindglass.privacy.rounding import round_counts
from behindglass.privacy.table_memory import TableMemory

# kinds whose output describes no persons, so no population to remember
NO_POPULATION = frozenset({"data_quality"})


@dataclass
class SiteGuard:
    """One site's policy checks around every analysis of every task."""

    policy: SitePolicy
    ledger: ReleaseLedger | None = None
    ledger_key: bytes = b""
    budget: EpsilonBudget | None = None
    memory: TableMemory | None = None  # the tables released, for suppression across studies

    def lockout(self, researcher: str) -> str | None:
        """Why this researcher may not run anything here now (None: they may)."""
        if self.ledger is None or not self.policy.differencing.enabled:
            return None
        return self.ledger.lockout_reason(researcher, self.policy.differencing)

    def before(self, task: Task, spec: AnalysisSpec, data: Any) -> str | None:
        """A refusal reason, or None if the analysis may run. The populations it will
        describe are remembered now (the ledger errs toward refusing, never forgetting)."""
        reason = check_allowed(self.policy.analyses, spec)
        if reason is not None:
            return reason
        if (self.ledger is None or not self.policy.differencing.enabled or task.round > 0
                or spec.kind in NO_POPULATION):
            return None
        populations = {name: fingerprint(data.person_ids(task.study.cohorts[name]),
                                         self.ledger_key)
                       for name in spec.cohort_names}
        try:
            self.ledger.admit(task.researcher, task.study_id, spec.name, populations,
                              self.policy.differencing, self.policy.k)
        except DisclosureError as exc:
            return str(exc)
        return None

    def noise(self, task: Task, spec: AnalysisSpec, aggregate: SiteAggregate) -> SiteAggregate:
        """Differential privacy on the analysis's own output, before suppression (which
        then works on noisy values, so min_cell holds for every released count), charged
        to the researcher's and the study's epsilon budgets."""
        rules = self.policy.privacy
        if not rules.enabled:
            return aggregate
        aggregate, epsilon = apply_dp(aggregate, rules, edges=aggregate.bounds or None,
                                      min_cell=self.policy.disclosure.min_cell)
        if epsilon > 0 and self.budget is not None:
            self.budget.charge(task.researcher, task.study_id, epsilon, rules,
                               label=f"{task.task_id}/{spec.name}")
        return aggregate

    def after(self, task: Task, aggregate: SiteAggregate) -> SiteAggregate:
        """Rounding of the suppressed output."""
        return round_counts(aggregate, self.policy.disclosure)

    def recall(self, task: Task, cohorts: set[str]) -> list[Prior]:
        """Earlier releases to the researcher or in the study of the same persons."""
        if self.memory is None:
            return []
        return self.memory.recall(task.researcher, task.study_id, cohorts)

    def remember(self, task: Task, spec: AnalysisSpec, raw: SiteAggregate,
                 released: SiteAggregate) -> None:
        if self.memory is not None:
            self.memory.remember(task.researcher, task.study_id,
                                 f"{task.task_id}/{spec.name}", raw, released)
