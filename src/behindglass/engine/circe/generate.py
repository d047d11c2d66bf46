"""Generate a Circe cohort on a site's store: the OHDSI cohort table and the statistics
CohortGenerator reports (inclusion rules, summary, censoring, attrition)."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Any

from behindglass.core.circe.model import CohortExpression
from behindglass.engine.backend import Backend, temp_table
from behindglass.engine.circe import steps
from behindglass.engine.circe.codesets import codesets_sql
from behindglass.engine.circe.filters import Ctx

_RUN = itertools.count(1)


@dataclass(frozen=True)
class RuleStats:
    """One inclusion rule in one mode (events or persons), as Circe's
    ``cohort_inclusion_stats``: how many pass it, and how many it alone removes."""

    rule: int
    name: str
    count: int  # events (or persons) that pass this rule
    gain: int  # events (or persons) that fail only this rule
    total: int  # qualifying events (or persons)


@dataclass(frozen=True)
class ModeStats:
    """``mode`` is "event" (every qualifying event) or "person" (each person's best event:
    the one passing most rules)."""

    mode: str
    base: int
    final: int
    rules: tuple[RuleStats, ...]
    masks: dict[int, int]  # inclusion rule mask -> count (cohort_inclusion_result)
    attrition: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class CohortGeneration:
    cohort_id: int
    table: str  # temporary table with the OHDSI cohort rows, open on the backend
    entries: int
    persons: int
    event: ModeStats
    person: ModeStats
    censored_persons: int  # persons the censor window removed entirely
    seconds: float

    @property
    def rule_names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.event.rules)

    def to_dict(self) -> dict[str, Any]:
        def mode(m: ModeStats) -> dict[str, Any]:
            return {
                "base": m.base, "final": m.final,
                "rules": [{"id": r.rule, "name": r.name, "count": r.count, "gain": r.gain,
                           "total": r.total} for r in m.rules],
                "attrition": [{"step": s, "count": n} for s, n in m.attrition],
            }

        return {
            "cohort_id": self.cohort_id, "entries": self.entries, "persons": self.persons,
            "inclusion": {"events": mode(self.event), "persons": mode(self.person)},
            "censored_persons": self.censored_persons, "seconds": round(self.seconds, 3),
        }


def _mode_stats(backend: Backend, mode: str, table: str, names: tuple[str, ...]) -> ModeStats:
    rows = backend.fetchall(f"SELECT mask, COUNT(*) FROM {table} GROUP BY mask")
    masks = {int(m): int(n) for m, n in rows}
    n_rules = len(names)
    full = (1 << n_rules) - 1
    base = sum(masks.values())
    rules = []
    for i, name in enumerate(names):
        bit = 1 << i
        rules.append(RuleStats(
            rule=i, name=name, count=sum(n for m, n in masks.items() if m & bit),
            gain=masks.get(full & ~bit, 0), total=base,
        ))
    attrition = [("qualifying events" if mode == "event" else "qualifying persons", base)]
    for i, name in enumerate(names):
        prefix = (1 << (i + 1)) - 1
        attrition.append((name or f"rule {i}",
                          sum(n for m, n in masks.items() if m & prefix == prefix)))
    return ModeStats(mode=mode, base=base, final=masks.get(full, 0), rules=tuple(rules),
                     masks=masks, attrition=tuple(attrition))


def generate_cohort(backend: Backend, expression: CohortExpression, cohort_id: int = 1
                    ) -> CohortGeneration:
    """Run ``expression`` on ``backend``; the cohort rows stay in a temporary table."""
    began = time.perf_counter()
    tag = f"bg_c{next(_RUN)}"
    ctx = Ctx(dialect=backend.dialect, codesets=f"{tag}_codesets")
    e = expression
    temp_table(backend, ctx.codesets, codesets_sql(e.concept_sets))
    primary = temp_table(backend, f"{tag}_primary", steps.primary_events(e, ctx))
    qualified = temp_table(backend, f"{tag}_qualified", steps.qualified_events(e, primary, ctx))
    inclusion = temp_table(backend, f"{tag}_inclusion", steps.inclusion_events(e, qualified, ctx))
    masks = temp_table(backend, f"{tag}_masks", steps.event_masks(qualified, inclusion))
    included = temp_table(backend, f"{tag}_included", steps.included_events(e, masks))
    rows = temp_table(backend, f"{tag}_rows",
                      steps.cohort_rows(included, steps.end_dates(e, included, ctx)))
    final = temp_table(backend, f"{tag}_final", steps.final_cohort(e, rows, ctx))
    cohort = temp_table(backend, f"{tag}_cohort", steps.cohort_table(e, final, cohort_id, ctx))
    best = temp_table(
        backend, f"{tag}_best",
        "SELECT person_id, event_id, mask FROM (SELECT person_id, event_id, mask,"
        " row_number() OVER (PARTITION BY person_id ORDER BY rule_count DESC,"
        f" min_rule_id ASC, start_date ASC, event_id) AS rank_value FROM {masks}) R"
        " WHERE rank_value = 1",
    )
    names = tuple(r.name for r in e.inclusion_rules)
    event_stats = _mode_stats(backend, "event", masks, names)
    person_stats = _mode_stats(backend, "person", best, names)
    entries, persons = backend.fetchall(
        f"SELECT COUNT(*), COUNT(DISTINCT subject_id) FROM {cohort}")[0]
    before = backend.fetchall(f"SELECT COUNT(DISTINCT person_id) FROM {final}")[0][0]
    for name in (ctx.codesets, primary, qualified, inclusion, masks, included, rows, final, best):
        backend.execute(backend.dialect.drop_table(name))
    return CohortGeneration(
        cohort_id=cohort_id, table=cohort, entries=int(entries), persons=int(persons),
        event=event_stats, person=person_stats,
        censored_persons=int(before) - int(persons),
        seconds=time.perf_counter() - began,
    )
