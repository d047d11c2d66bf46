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

Catalog entry, :class:`IncidenceAnalysis` (kind ``incidence``): a study's request for the
incidence of each of its ``outcomes`` in its target cohort. Sites number the target 1 and
outcome ``i`` (0-based) of the request ``i + 1``; the pooled rows carry the study's cohort
names as well. With a ``comparator`` (allowed only with ``rate_ratios``), the sites compute
the same rows for it as target 2.

Rate ratios (``rate_ratios``, :func:`rate_ratios`): computed at the hub from the pooled
outcome counts and person-days, target vs comparator for every outcome x TAR x stratum
value, and/or each stratum value vs a reference value of its stratum (e.g. male vs
female). The interval is the exact conditional one: given ``a + b`` outcomes, ``a`` (the
index group's) is binomial with ``p = T1 IRR / (T1 IRR + T0)``, so the Clopper-Pearson
interval of ``p`` maps to one for the IRR; the p-value is the exact two-sided binomial test
of ``p = T1 / (T1 + T0)`` (IRR = 1). A ratio needing a row that some site did not release in
full is reported as not computable, naming the site.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, ClassVar

from scipy.stats import binomtest, chi2

from behindglass.analyses.params import check_alpha, check_keys
from behindglass.core.aggregates import Cell, CountTable, SiteAggregate
from behindglass.core.errors import SpecError
from behindglass.core.sitedata import IncidenceRowLike, SiteContext, Tar
from behindglass.core.study import AnalysisSpec

KIND = "incidence"
MEASURES = ("persons_at_risk", "persons_with_outcome", "outcomes", "person_days")
DAYS_PER_YEAR = 365.25


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
                # a site releases a row (suppressed or not) for every stratum value anyone
                # is at risk in: a row it did not release is an exact zero there (shown as
                # null: the hub publishes no per-site count it was not sent)
                row["sites"][site] = None
                per = dict.fromkeys(MEASURES, 0)
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


# -- rate ratios (hub) ------------------------------------------------------------------------
RATIO_STRATA = ("sex", "age_group", "start_year")


def exact_rate_ratio(a: int, t1: float, b: int, t0: float, alpha: float = 0.05
                     ) -> dict[str, Any]:
    """IRR of ``a`` events in ``t1`` person-time vs ``b`` in ``t0``, exact conditional CI and
    two-sided p-value (binomial, given ``a + b``). ``irr``/``ci_upper`` are None when
    unbounded (no reference events)."""
    out: dict[str, Any] = {"irr": None, "ci_lower": None, "ci_upper": None, "p_value": None,
                           "computable": False, "reason": None}
    if t1 <= 0 or t0 <= 0:
        return {**out, "reason": "no person-time in one of the groups"}
    n = a + b
    if n == 0:
        return {**out, "reason": "no outcomes in either group"}
    test = binomtest(a, n, t1 / (t1 + t0))
    ci = test.proportion_ci(confidence_level=1 - alpha, method="exact")
    scale = t0 / t1

    def ratio(p: float) -> float | None:
        return None if p >= 1 else scale * p / (1 - p)

    out.update(irr=ratio(a / n), ci_lower=ratio(ci.low), ci_upper=ratio(ci.high),
               p_value=float(test.pvalue), computable=True)
    if b == 0:
        out["reason"] = "no outcomes in the reference group: the ratio is unbounded above"
    return out


def _missing(row: dict[str, Any]) -> list[str]:
    return sorted(s for s, per in row["sites"].items()
                  if per is not None and not all(isinstance(per.get(m), int) for m in MEASURES))


def _ratio(row: dict[str, Any], ref: dict[str, Any], alpha: float, **head: Any
           ) -> dict[str, Any]:
    out = {**head, "outcome_id": row["outcome_id"], "tar": row["tar"],
           "stratum": row["stratum"], "outcomes": row["outcomes"],
           "person_days": row["person_days"], "ref_outcomes": ref["outcomes"],
           "ref_person_days": ref["person_days"]}
    missing = {"index": _missing(row), "reference": _missing(ref)}
    if missing["index"] or missing["reference"]:
        why = "; ".join(f"the {k} row was not released in full by {', '.join(v)}"
                        for k, v in missing.items() if v)
        # the sums over the other sites are no pooled numbers: not shown
        return {**out, **dict.fromkeys(("outcomes", "person_days", "ref_outcomes",
                                        "ref_person_days")),
                "irr": None, "ci_lower": None, "ci_upper": None, "p_value": None,
                "computable": False,
                "reason": f"not computable: {why} (a count was suppressed there)"}
    return {**out, **exact_rate_ratio(row["outcomes"], row["person_days"], ref["outcomes"],
                                      ref["person_days"], alpha)}


def rate_ratios(rows: list[dict[str, Any]], *, comparator: bool,
                reference: dict[str, str], alpha: float = 0.05) -> list[dict[str, Any]]:
    """Rate ratios from pooled incidence rows (``combine_incidence``'s): target (id 1) vs
    comparator (id 2) per outcome x TAR x stratum value when ``comparator``, and each value
    of a stratum in ``reference`` vs its reference value, per target."""
    by_key = {(r["target_id"], r["outcome_id"], r["tar"], r["stratum"], r["value"]): r
              for r in rows}
    out = []

    def absent(head: dict[str, Any], oid: int, tar: str, stratum: str, why: str
               ) -> dict[str, Any]:
        return {**head, "outcome_id": oid, "tar": tar, "stratum": stratum,
                **dict.fromkeys(("outcomes", "person_days", "ref_outcomes", "ref_person_days",
                                 "irr", "ci_lower", "ci_upper", "p_value")),
                "computable": False, "reason": f"not computable: {why}"}

    if comparator:
        for (tid, oid, tar, stratum, value), row in by_key.items():
            if tid != 1:
                continue
            head = {"contrast": "target_vs_comparator", "target_id": 1, "value": value,
                    "ref_target_id": 2, "ref_value": value}
            ref = by_key.get((2, oid, tar, stratum, value))
            out.append(_ratio(row, ref, alpha, **head) if ref is not None else absent(
                head, oid, tar, stratum, f"no site released the comparator's row of "
                                         f"{stratum} {value!r}"))
    for (tid, oid, tar, stratum, value), row in by_key.items():
        ref_value = reference.get(stratum)
        if ref_value is None or value == ref_value:
            continue
        head = {"contrast": "stratum", "target_id": tid, "value": value,
                "ref_target_id": tid, "ref_value": ref_value}
        ref = by_key.get((tid, oid, tar, stratum, ref_value))
        out.append(_ratio(row, ref, alpha, **head) if ref is not None else absent(
            head, oid, tar, stratum, f"no site released the reference value {ref_value!r} "
                                     f"of {stratum}"))
    return out


# -- catalog entry -------------------------------------------------------------------------
TAR_KEYS = ("start_offset", "start_anchor", "end_offset", "end_anchor")
DEFAULT_TAR: dict[str, Any] = {"start_offset": 0, "start_anchor": "start",
                               "end_offset": 0, "end_anchor": "end"}
ANCHORS = ("start", "end")
AGE_WIDTHS = (1, 5, 10)  # the engine's age bands (engine/characterization/incidence.py)
MAX_TARS = 20
MAX_OUTCOMES = 50
MAX_DAYS = 100_000  # about 270 years; 99999 is the usual "ever" washout
PARAMS = {"tars", "washout_days", "age_width", "alpha", "rate_ratios"}
RATIO_KEYS = {"comparator", "reference"}


@dataclasses.dataclass(frozen=True)
class IncidenceParams:
    tars: tuple[Tar, ...]
    washout_days: int | None
    age_width: int
    alpha: float
    comparator_ratios: bool = False
    reference: dict[str, str] = dataclasses.field(default_factory=dict)


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_tar(spec: AnalysisSpec, tar: object) -> Tar:
    if not isinstance(tar, dict) or set(tar) - set(TAR_KEYS):
        raise SpecError(f"{spec.name}: each of 'tars' must be an object with keys from "
                        f"{list(TAR_KEYS)}, got {tar!r}")
    t = {**DEFAULT_TAR, **tar}
    for key in ("start_offset", "end_offset"):
        if not _is_int(t[key]) or abs(t[key]) > MAX_DAYS:
            raise SpecError(f"{spec.name}: time at risk {key!r} must be a whole number of days "
                            f"within +-{MAX_DAYS}, got {t[key]!r}")
    for key in ("start_anchor", "end_anchor"):
        if t[key] not in ANCHORS:
            raise SpecError(f"{spec.name}: time at risk {key!r} must be 'start' or 'end' "
                            f"(cohort start or end date), got {t[key]!r}")
    return (t["start_offset"], t["start_anchor"], t["end_offset"], t["end_anchor"])


def _check_tars(spec: AnalysisSpec, tars: object) -> tuple[Tar, ...]:
    if not isinstance(tars, list | tuple) or not 1 <= len(tars) <= MAX_TARS:
        raise SpecError(f"{spec.name}: 'tars' must be a list of 1 to {MAX_TARS} times at "
                        f"risk, got {tars!r}")
    out = tuple(_check_tar(spec, t) for t in tars)
    if len(set(out)) != len(out):
        raise SpecError(f"{spec.name}: 'tars' repeat a time at risk")
    return out


def incidence_params(spec: AnalysisSpec) -> IncidenceParams:
    """The request's parameters, checked, with defaults filled in."""
    check_keys(spec, PARAMS)
    p = spec.params
    washout = p.get("washout_days")
    if washout is not None and (not _is_int(washout) or not 0 <= washout <= MAX_DAYS):
        raise SpecError(f"{spec.name}: 'washout_days' must be an integer from 0 to {MAX_DAYS} "
                        f"or null (no washout), got {washout!r}")
    age_width = p.get("age_width", 10)
    if not _is_int(age_width) or age_width not in AGE_WIDTHS:
        raise SpecError(f"{spec.name}: 'age_width' must be one of {list(AGE_WIDTHS)} years, "
                        f"got {age_width!r}")
    alpha = check_alpha(spec)
    comparator_ratios, reference = _check_ratios(spec, p.get("rate_ratios"))
    return IncidenceParams(tars=_check_tars(spec, p.get("tars", [DEFAULT_TAR])),
                           washout_days=washout, age_width=age_width, alpha=float(alpha),
                           comparator_ratios=comparator_ratios, reference=reference)


def _check_ratios(spec: AnalysisSpec, ratios: object) -> tuple[bool, dict[str, str]]:
    """(target vs comparator?, stratum -> reference value) of ``rate_ratios``."""
    if ratios is None:
        return False, {}
    if not isinstance(ratios, dict) or set(ratios) - RATIO_KEYS:
        raise SpecError(f"{spec.name}: 'rate_ratios' must be an object with keys from "
                        f"{sorted(RATIO_KEYS)}, got {ratios!r}")
    comparator = ratios.get("comparator", spec.comparator is not None)
    if not isinstance(comparator, bool):
        raise SpecError(f"{spec.name}: 'rate_ratios.comparator' must be true or false, "
                        f"got {comparator!r}")
    if comparator and spec.comparator is None:
        raise SpecError(f"{spec.name}: 'rate_ratios.comparator' needs a 'comparator' cohort")
    reference = ratios.get("reference", {})
    if (not isinstance(reference, dict) or set(reference) - set(RATIO_STRATA)
            or not all(isinstance(v, str) and v for v in reference.values())):
        raise SpecError(f"{spec.name}: 'rate_ratios.reference' must map strata from "
                        f"{list(RATIO_STRATA)} to a reference value such as \"female\", "
                        f"\"40-49\" or \"2010\", got {reference!r}")
    if not comparator and not reference:
        raise SpecError(f"{spec.name}: 'rate_ratios' asks for no ratio; set 'comparator' "
                        "or 'reference'")
    return comparator, dict(reference)


def _check_cohorts(spec: AnalysisSpec) -> None:
    if not 1 <= len(spec.outcomes) <= MAX_OUTCOMES:
        raise SpecError(f"{spec.name}: incidence needs 1 to {MAX_OUTCOMES} outcome cohorts "
                        f"in 'outcomes', got {list(spec.outcomes)}")
    if len(set(spec.outcomes)) != len(spec.outcomes):
        raise SpecError(f"{spec.name}: 'outcomes' repeat a cohort: {list(spec.outcomes)}")
    ratios = spec.params.get("rate_ratios")
    if spec.comparator is not None and not (isinstance(ratios, dict)
                                            and ratios.get("comparator", True)):
        raise SpecError(f"{spec.name}: incidence takes no comparator unless 'rate_ratios' "
                        "compares the target with it; for the comparator's rates alone "
                        f"request a second incidence analysis on {spec.comparator!r}")


@dataclasses.dataclass(frozen=True)
class _Renumbered:
    """An incidence row of the comparator, computed as the site's target 1, as target 2."""

    target_id: int
    outcome_id: int
    tar: str
    stratum: str
    value: str
    persons_at_risk: int
    persons_with_outcome: int
    outcomes: int
    person_days: int


def _as_comparator(rows: Sequence[IncidenceRowLike]) -> list[IncidenceRowLike]:
    return [_Renumbered(2, r.outcome_id, r.tar, r.stratum, r.value, r.persons_at_risk,
                        r.persons_with_outcome, r.outcomes, r.person_days) for r in rows]


@dataclasses.dataclass(frozen=True)
class IncidenceAnalysis:
    """CohortIncidence-style rates of each outcome in the target cohort's time at risk."""

    kind: ClassVar[str] = KIND

    def validate(self, spec: AnalysisSpec) -> None:
        _check_cohorts(spec)
        incidence_params(spec)

    def local(self, site: SiteContext, spec: AnalysisSpec) -> SiteAggregate:
        _check_cohorts(spec)
        p = incidence_params(spec)
        outcomes = [site.cohort(o) for o in spec.outcomes]
        rows = list(site.data.incidence(site.cohort(spec.cohort), outcomes, tars=p.tars,
                                        washout_days=p.washout_days, age_width=p.age_width))
        if spec.comparator is not None:
            rows += _as_comparator(site.data.incidence(
                site.cohort(spec.comparator), outcomes, tars=p.tars,
                washout_days=p.washout_days, age_width=p.age_width))
        return release_incidence(spec.name, rows, min_cell=site.policy.min_cell)

    def combine(self, spec: AnalysisSpec,
                releases: list[tuple[str, SiteAggregate]]) -> dict[str, Any]:
        p = incidence_params(spec)
        pooled = combine_incidence(releases, p.alpha)
        # ids the site gave: target 1, comparator 2, outcome i + 1 for the request's outcome i
        names = {1: spec.cohort, 2: spec.comparator}

        def outcome(oid: int) -> str | None:
            return spec.outcomes[oid - 1] if 0 < oid <= len(spec.outcomes) else None

        for row in pooled["rows"]:
            row["target"] = names.get(row["target_id"])
            row["outcome"] = outcome(row["outcome_id"])
        out = {"kind": self.kind, "analysis": spec.name, "target": spec.cohort,
               "outcomes": list(spec.outcomes), **pooled}
        if p.comparator_ratios or p.reference:
            ratios = rate_ratios(pooled["rows"], comparator=p.comparator_ratios,
                                 reference=p.reference, alpha=p.alpha)
            for r in ratios:
                r["target"], r["ref_target"] = names.get(r["target_id"]), names.get(
                    r["ref_target_id"])
                r["outcome"] = outcome(r["outcome_id"])
            out.update(comparator=spec.comparator, rate_ratios=ratios)
        return out
