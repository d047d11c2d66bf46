"""Incidence rates: the site's release and the exact pooled rates with Poisson intervals.

Site half, :func:`release_incidence`: one site's incidence rows (per target x outcome x
time at risk x stratum: persons at risk, persons with the outcome, outcomes, person-days)
become count tables ``ir:<target>:<outcome>:<tar>:<stratum>`` with dims
``("value", "measure")``. The four measures of a stratum are linked (person-days of a fixed
TAR nearly give its person count), so the disclosure rule is applied here, to each
stratum as a whole, with the site's ``min_cell``:

* a stratum with fewer than ``min_cell`` persons at risk is hidden with all its measures;
  within a stratification that partitions the overall row (sex, age group, year), more
  strata are hidden, smallest first, until at least two are hidden holding at least
  ``min_cell`` persons, so a hidden stratum cannot be recovered as overall minus the rest;
* outcome counts (``outcomes``, ``persons_with_outcome``) below ``min_cell`` are
  suppressed the same way, across the strata that are shown;
* person-days are released only with the persons at risk of their stratum.

Hidden measures are released as suppressed cells, which the site's ``enforce`` drops, so
nothing of them leaves. Tables carry no margin, so ``enforce`` adds nothing on top.

Hub half, :func:`combine_incidence`: per row, the sums over the sites that reported all
four measures, the rate per 1,000 person-years and its exact (Garwood) Poisson interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from scipy.stats import chi2

from behindglass.core.aggregates import Cell, CountTable, SiteAggregate
from behindglass.core.errors import SpecError

KIND = "incidence"
MEASURES = ("persons_at_risk", "persons_with_outcome", "outcomes", "person_days")
DAYS_PER_YEAR = 365.25


class IncidenceRowLike(Protocol):
    """One row of ``engine.characterization.compute_incidence``."""

    @property
    def target_id(self) -> int: ...
    @property
    def outcome_id(self) -> int: ...
    @property
    def tar(self) -> str: ...
    @property
    def stratum(self) -> str: ...
    @property
    def value(self) -> str: ...
    @property
    def persons_at_risk(self) -> int: ...
    @property
    def persons_with_outcome(self) -> int: ...
    @property
    def outcomes(self) -> int: ...
    @property
    def person_days(self) -> int: ...


def hide_small(counts: dict[str, int], min_cell: int, already: set[str] | None = None,
               partition: bool = True) -> set[str]:
    """Keys to hide: counts below ``min_cell``, plus ``already``; if the counts partition a
    released total, more (smallest first) until at least two are hidden with at least
    ``min_cell`` between them, or everything is."""
    hidden = set(already or ()) | {k for k, v in counts.items() if v < min_cell}
    if not partition:
        return hidden
    while hidden:
        if len(hidden) >= 2 and sum(counts[k] for k in hidden) >= min_cell:
            break
        shown = sorted((v, k) for k, v in counts.items() if k not in hidden)
        if not shown:
            break
        hidden.add(shown[0][1])
    return hidden


def release_incidence(name: str, rows: Sequence[IncidenceRowLike], *,
                      min_cell: int) -> SiteAggregate:
    """Site half: disclosure-controlled count tables of one site's incidence rows."""
    if min_cell < 1:
        raise SpecError(f"min_cell must be at least 1, got {min_cell}")
    groups: dict[tuple[int, int, str, str], list[IncidenceRowLike]] = {}
    for r in rows:
        groups.setdefault((r.target_id, r.outcome_id, r.tar, r.stratum), []).append(r)
    tables = []
    for (tid, oid, tar, stratum), members in groups.items():
        by_value = {r.value: r for r in members}
        part = stratum != "all"
        persons = {v: r.persons_at_risk for v, r in by_value.items()}
        hidden = hide_small(persons, min_cell, partition=part)
        hidden_out = {
            m: hide_small({v: getattr(r, m) for v, r in by_value.items()}, min_cell,
                          already=hidden, partition=part)
            for m in ("outcomes", "persons_with_outcome")
        }
        cells = []
        for value, r in sorted(by_value.items()):
            for measure in MEASURES:
                hide = (value in hidden_out[measure] if measure in hidden_out
                        else value in hidden)
                cells.append(Cell(key=(value, measure), suppressed=True) if hide
                             else Cell(key=(value, measure), count=getattr(r, measure)))
        tables.append(CountTable(name=f"ir:{tid}:{oid}:{tar}:{stratum}",
                                 dims=("value", "measure"), cells=tuple(cells)))
    return SiteAggregate(analysis=name, kind=KIND, tables=tuple(tables))


def poisson_interval(events: int, alpha: float = 0.05) -> tuple[float, float]:
    """Exact (Garwood) interval for a Poisson count."""
    lower = 0.0 if events == 0 else float(chi2.ppf(alpha / 2, 2 * events)) / 2
    upper = float(chi2.ppf(1 - alpha / 2, 2 * events + 2)) / 2
    return lower, upper


def rate_per_1000py(events: int, person_days: int, alpha: float = 0.05
                    ) -> dict[str, float | None]:
    """Incidence rate per 1,000 person-years with its exact Poisson interval."""
    if person_days <= 0:
        return {"rate": None, "lower": None, "upper": None}
    py = person_days / DAYS_PER_YEAR
    lo, hi = poisson_interval(events, alpha)
    return {"rate": 1000 * events / py, "lower": 1000 * lo / py, "upper": 1000 * hi / py}


def combine_incidence(releases: list[tuple[str, SiteAggregate]],
                      alpha: float = 0.05) -> dict[str, Any]:
    """Hub half: pooled incidence per target x outcome x TAR x stratum value."""
    sites = [s for s, _ in releases]
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for site, agg in releases:
        for table in agg.tables:
            if not table.name.startswith("ir:"):
                continue
            for cell in table.cells:
                value, measure = cell.key
                row = rows.setdefault((table.name, value), {"sites": {}})
                per = row["sites"].setdefault(site, {})
                per[measure] = "suppressed" if cell.suppressed else cell.count
    out = []
    for (tname, value), row in rows.items():
        _, tid, oid, rest = tname.split(":", 3)
        tar, _, stratum = rest.rpartition(":")
        pooled = dict.fromkeys(MEASURES, 0)
        used = []
        for site in sites:
            per = row["sites"].get(site)
            if per is None:
                row["sites"][site] = None
                continue
            if all(isinstance(per.get(m), int) for m in MEASURES):
                used.append(site)
                for m in MEASURES:
                    pooled[m] += per[m]
        rate = rate_per_1000py(pooled["outcomes"], pooled["person_days"], alpha)
        out.append({
            "target_id": int(tid), "outcome_id": int(oid), "tar": tar, "stratum": stratum,
            "value": value, **pooled,
            "person_years": pooled["person_days"] / DAYS_PER_YEAR,
            "incidence_rate_per_1000py": rate["rate"],
            "ci_lower": rate["lower"], "ci_upper": rate["upper"],
            "incidence_proportion_per_1000": (1000 * pooled["persons_with_outcome"]
                                              / pooled["persons_at_risk"]
                                              if pooled["persons_at_risk"] else None),
            "sites_used": used, "complete": len(used) == len(sites),
            "sites": row["sites"],
        })
    strata_order = {"all": 0, "sex": 1, "age_group": 2, "start_year": 3}
    out.sort(key=lambda r: (r["target_id"], r["outcome_id"], r["tar"],
                            strata_order.get(r["stratum"], 9), r["value"]))
    return {"kind": KIND, "sites": sites, "alpha": alpha, "rows": out}
