"""Cohort covariates: the site's release and the exact pooled result (FeatureExtraction-style).

Site half, :func:`release_covariates`: turns one site's covariates of one cohort (persons
with each binary covariate; n, sum, sum of squares of each continuous one) into a
:class:`~behindglass.core.aggregates.SiteAggregate` of count tables, ready for the site's
disclosure control (:func:`behindglass.privacy.suppression.enforce`):

* ``persons``: the cohort size (the margin of the demographic tables);
* ``binary:<analysis id>:<analysis name>`` with dims ``("covariate_id",)``: persons per
  covariate. Demographic tables (sex, age group, race, ethnicity, index year) partition the
  cohort and name ``persons`` as margin, so the site adds secondary suppression; concept
  tables have no margin, so a suppressed concept disappears, key and all;
* ``continuous:<covariate id>:<analysis name>`` with dims ``("stat",)``: ``n``, ``sum_x1``
  and ``sum_x1_sq``, the sums of ``x + 1`` and ``(x + 1)^2`` over the persons (values are
  non-negative integers). Shifting by one makes every released sum at least ``n`` so a sum
  of zeros is not mistaken for a small person count by the site's cell rule, and the hub
  recovers the exact sums. A continuous covariate over fewer than ``min_cell`` persons is
  withheld altogether: its sums would describe a handful of persons. So is one that one
  or two persons dominate, or that only a few persons' values make differ from a constant
  (:func:`behindglass.analyses.moment_rules.covariate_withheld`, the policy's
  ``max_dominance``): one person with 5,000 visits among others with 2 or 3 would be
  ``mean + sqrt(SSD (n - 1) / n)``, and two persons with a visit among 1,800 without one a
  count of two. ``min``/``max`` are one person's value each and are
  released only when the *site* passes ``release_extremes=True``.

Hub half, :func:`combine_covariates`: counts add; means and sample SDs come exactly from
the pooled n, sum and sum of squares. :func:`standardized_differences` compares two pooled
cohorts as FeatureExtraction / CohortMethod do.

Catalog entry, :class:`CovariatesAnalysis` (kind ``covariates``): a study's request for the
covariates of its target cohort and, optionally, of a comparator with the SMD of every
covariate. The site releases both cohorts in one aggregate, each table's name prefixed with
the cohort's role (``target|persons``, ``comparator|binary:1:sex``, ...).
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction
from typing import Any, ClassVar

from behindglass.analyses.base import with_scopes
from behindglass.analyses.covariate_scopes import release_scopes
from behindglass.analyses.moment_rules import covariate_withheld
from behindglass.analyses.params import check_keys
from behindglass.core.aggregates import Cell, CountTable, SiteAggregate
from behindglass.core.errors import SpecError
from behindglass.core.policy import DEFAULT_MAX_DOMINANCE
from behindglass.core.sitedata import BinaryLike, CovariatesLike, SiteContext
from behindglass.core.study import AnalysisSpec

KIND = "covariates"
DEMOGRAPHIC_ANALYSES = frozenset({"sex", "age_group", "race", "ethnicity", "index_year"})


def release_covariates(name: str, covariates: CovariatesLike, *, min_cell: int,
                       release_extremes: bool = False,
                       max_dominance: float = DEFAULT_MAX_DOMINANCE) -> SiteAggregate:
    """Site half: the count tables of one cohort's covariates (before ``enforce``).

    ``max_dominance``: the site's ``disclosure.max_dominance``; 1.0 judges nothing."""
    if min_cell < 1:
        raise SpecError(f"min_cell must be at least 1, got {min_cell}")
    tables = [CountTable(name="persons", cells=(Cell(key=(), count=covariates.persons),))]
    groups: dict[tuple[int, str], list[BinaryLike]] = {}
    for b in covariates.binary:
        groups.setdefault((b.analysis_id, b.analysis_name), []).append(b)
    for (aid, aname), members in sorted(groups.items()):
        tables.append(CountTable(
            name=f"binary:{aid}:{aname}", dims=("covariate_id",),
            cells=tuple(Cell(key=(str(b.covariate_id),), count=b.persons) for b in members),
            labels={str(b.covariate_id): b.covariate_name for b in members},
            margin="persons" if aname in DEMOGRAPHIC_ANALYSES else None,
        ))
    withheld = 0
    dominated: dict[str, list[str]] = {}  # reason -> covariate ids
    for c in covariates.continuous:
        if c.n < min_cell:
            withheld += 1
            continue
        reason = covariate_withheld(c, min_cell, max_dominance)
        if reason:
            dominated.setdefault(reason, []).append(str(c.covariate_id))
            continue
        s1 = c.total + c.n
        s2 = c.total_sq + 2 * c.total + c.n
        cells = [Cell(key=("n",), count=c.n), Cell(key=("sum_x1",), count=s1),
                 Cell(key=("sum_x1_sq",), count=s2)]
        if release_extremes and c.minimum is not None and c.maximum is not None:
            cells += [Cell(key=("min_x1",), count=c.minimum + 1),
                      Cell(key=("max_x1",), count=c.maximum + 1)]
        tables.append(CountTable(name=f"continuous:{c.covariate_id}:{c.analysis_name}",
                                 dims=("stat",), cells=tuple(cells),
                                 labels={"n": c.covariate_name}))
    notes: tuple[str, ...] = ((f"{withheld} continuous covariate(s) over fewer than "
                               f"{min_cell} persons withheld",) if withheld else ())
    for reason, ids in dominated.items():  # ids and rules, never a value or a share
        notes += (f"continuous covariate(s) {', '.join(ids)} withheld: {reason}",)
    return SiteAggregate(analysis=name, kind=KIND, tables=tuple(tables), notes=notes)


def _site_value(cell: Cell | None) -> int | str | None:
    if cell is None:
        return None
    return "suppressed" if cell.suppressed else cell.count


def mean_sd(n: int, s1: int, s2: int) -> tuple[float | None, float | None]:
    """Mean and sample SD (n - 1) from n, sum and sum of squares, exactly."""
    if n <= 0:
        return None, None
    mean = s1 / n
    if n == 1:
        return mean, None
    var = Fraction(n * s2 - s1 * s1, n * (n - 1))
    return mean, math.sqrt(max(var, Fraction(0)))


def combine_covariates(releases: list[tuple[str, SiteAggregate]]) -> dict[str, Any]:
    """Hub half: pooled covariates of one cohort from the sites' released aggregates."""
    sites = [s for s, _ in releases]
    persons_sites = {s: _site_value(_cell(a, "persons", ())) for s, a in releases}
    persons = sum(v for v in persons_sites.values() if isinstance(v, int))
    binary: dict[str, dict[str, Any]] = {}
    continuous: dict[str, dict[str, Any]] = {}
    site_tables: dict[str, dict[str, CountTable]] = {}
    for site, agg in releases:
        site_tables[site] = {t.name: t for t in agg.tables}
        for table in agg.tables:
            kind, _, rest = table.name.partition(":")
            if kind == "binary":
                aid, _, aname = rest.partition(":")
                for cell in table.cells:
                    cid = cell.key[0]
                    row = binary.setdefault(cid, {
                        "covariate_id": int(cid), "covariate_name": table.labels.get(cid, cid),
                        "analysis_id": int(aid), "analysis_name": aname,
                        "concept_id": None if int(aid) in (3, 6) else int(cid) // 1000,
                        "table": table.name, "sites": {}})
                    row["sites"][site] = _site_value(cell)
            elif kind == "continuous":
                cid, _, aname = rest.partition(":")
                stats = {c.key[0]: c.count for c in table.cells if not c.suppressed}
                row = continuous.setdefault(cid, {
                    "covariate_id": int(cid), "covariate_name": table.labels.get("n", cid),
                    "analysis_name": aname, "sites": {}, "_raw": {}})
                row["_raw"][site] = stats
    out_binary = []
    for row in binary.values():
        name = row.pop("table")
        for site in sites:
            if row["sites"].get(site) is None:
                # absent from a demographic table (which lists every person): exactly zero
                t = site_tables[site].get(name)
                row["sites"][site] = 0 if (t is not None and t.margin) else None
        numbers = [v for v in row["sites"].values() if isinstance(v, int)]
        row["count"] = sum(numbers)
        row["proportion"] = row["count"] / persons if persons else None
        row["complete"] = len(numbers) == len(sites)
        out_binary.append(row)
    out_cont = []
    for row in continuous.values():
        raw = row.pop("_raw")
        n = s1 = s2 = 0
        mins: list[int] = []
        maxs: list[int] = []
        for site in sites:
            st = raw.get(site)
            if not st or not all(k in st for k in ("n", "sum_x1", "sum_x1_sq")):
                row["sites"][site] = None
                continue
            sn, t1 = int(st["n"]), int(st["sum_x1"]) - int(st["n"])
            t2 = int(st["sum_x1_sq"]) - 2 * t1 - sn
            m, sd = mean_sd(sn, t1, t2)
            row["sites"][site] = {"n": sn, "mean": m, "sd": sd}
            n, s1, s2 = n + sn, s1 + t1, s2 + t2
            if "min_x1" in st and "max_x1" in st:
                mins.append(int(st["min_x1"]) - 1)
                maxs.append(int(st["max_x1"]) - 1)
        mean, sd = mean_sd(n, s1, s2)
        reported = [v for v in row["sites"].values() if v is not None]
        row.update({"n": n, "sum": s1, "sum_sq": s2, "mean": mean, "sd": sd,
                    "min": min(mins) if mins and len(mins) == len(reported) else None,
                    "max": max(maxs) if maxs and len(maxs) == len(reported) else None,
                    "complete": len(reported) == len(sites)})
        out_cont.append(row)
    out_binary.sort(key=lambda r: (r["analysis_id"], r["covariate_id"]))
    out_cont.sort(key=lambda r: r["covariate_id"])
    return {"kind": KIND, "sites": sites,
            "persons": {"count": persons, "sites": persons_sites,
                        "complete": all(isinstance(v, int) for v in persons_sites.values())},
            "binary": out_binary, "continuous": out_cont,
            "notes": {s: list(a.notes) for s, a in releases if a.notes}}


def _cell(agg: SiteAggregate, table: str, key: tuple[str, ...]) -> Cell | None:
    for t in agg.tables:
        if t.name == table:
            for c in t.cells:
                if c.key == key:
                    return c
    return None


def smd_binary(p1: float, p2: float) -> float | None:
    """(p1 - p2) / sqrt((p1 (1 - p1) + p2 (1 - p2)) / 2); None when both are 0 or 1."""
    den = math.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / 2)
    return None if den == 0 else (p1 - p2) / den


def smd_continuous(m1: float, s1: float, m2: float, s2: float) -> float | None:
    """(m1 - m2) / sqrt((s1^2 + s2^2) / 2); None when both SDs are 0."""
    den = math.sqrt((s1 * s1 + s2 * s2) / 2)
    return None if den == 0 else (m1 - m2) / den


def standardized_differences(target: dict[str, Any], comparator: dict[str, Any]
                             ) -> list[dict[str, Any]]:
    """SMD of every covariate of two pooled results of :func:`combine_covariates`.

    A binary covariate that one cohort does not list has proportion 0 there (or was
    suppressed: the row's ``complete`` flag says which is possible).
    """
    out: list[dict[str, Any]] = []
    a_bin = {r["covariate_id"]: r for r in target["binary"]}
    b_bin = {r["covariate_id"]: r for r in comparator["binary"]}
    for cid in sorted(set(a_bin) | set(b_bin)):
        ra, rb = a_bin.get(cid), b_bin.get(cid)
        pa = (ra["proportion"] if ra else 0.0) or 0.0
        pb = (rb["proportion"] if rb else 0.0) or 0.0
        ref = ra or rb
        assert ref is not None
        out.append({"covariate_id": cid, "covariate_name": ref["covariate_name"],
                    "type": "binary", "target": pa, "comparator": pb,
                    "smd": smd_binary(pa, pb),
                    "complete": bool(ra and ra["complete"] and rb and rb["complete"])})
    a_con = {r["covariate_id"]: r for r in target["continuous"]}
    b_con = {r["covariate_id"]: r for r in comparator["continuous"]}
    for cid in sorted(set(a_con) & set(b_con)):
        ra, rb = a_con[cid], b_con[cid]
        smd = None
        if None not in (ra["mean"], rb["mean"], ra["sd"], rb["sd"]):
            smd = smd_continuous(ra["mean"], ra["sd"], rb["mean"], rb["sd"])
        out.append({"covariate_id": cid, "covariate_name": ra["covariate_name"],
                    "type": "continuous", "target": ra["mean"], "comparator": rb["mean"],
                    "target_sd": ra["sd"], "comparator_sd": rb["sd"], "smd": smd,
                    "complete": bool(ra["complete"] and rb["complete"])})
    return out


# -- catalog entry -------------------------------------------------------------------------
# The engine's names (engine/characterization/covariates.py), repeated here because an
# analysis may not import the engine: validation happens at the hub too, which has none.
COVARIATE_DOMAINS: tuple[str, ...] = (
    "condition_occurrence", "condition_era", "drug_exposure", "drug_era",
    "procedure_occurrence", "measurement", "observation")
COUNT_DOMAINS: tuple[str, ...] = (
    "condition_occurrence", "drug_exposure", "procedure_occurrence", "measurement",
    "observation", "visit_occurrence")
# FeatureExtraction's any time prior, long, medium and short term
DEFAULT_WINDOWS: tuple[tuple[int | None, int], ...] = ((None, 0), (-365, 0), (-180, 0),
                                                       (-30, 0))
MAX_WINDOWS = 99  # analysis ids are domain base + window position + 1
MAX_DAYS = 100_000  # about 270 years: anything further is a typo, not a window
ROLE_SEP = "|"
ROLES = ("target", "comparator")
PARAMS = {"windows", "domains", "count_domains", "demographics"}


@dataclasses.dataclass(frozen=True)
class CovariateParams:
    windows: tuple[tuple[int | None, int], ...]
    domains: tuple[str, ...]
    count_domains: tuple[str, ...]
    demographics: bool


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_window(spec: AnalysisSpec, w: object) -> tuple[int | None, int]:
    bad = SpecError(f"{spec.name}: each of 'windows' must be [start_day or null, end_day], "
                    f"whole days from index with start <= end and |day| <= {MAX_DAYS}, "
                    f"got {w!r}")
    if not isinstance(w, list | tuple) or len(w) != 2:
        raise bad
    start, end = w
    if not _is_int(end) or abs(end) > MAX_DAYS:
        raise bad
    if start is not None and (not _is_int(start) or abs(start) > MAX_DAYS or start > end):
        raise bad
    return start, end


def _check_windows(spec: AnalysisSpec, windows: object) -> tuple[tuple[int | None, int], ...]:
    if not isinstance(windows, list | tuple) or len(windows) > MAX_WINDOWS:
        raise SpecError(f"{spec.name}: 'windows' must be a list of at most {MAX_WINDOWS} "
                        f"[start_day or null, end_day] pairs, got {windows!r}")
    out = tuple(_check_window(spec, w) for w in windows)
    if len(set(out)) != len(out):
        raise SpecError(f"{spec.name}: 'windows' repeat a window: {[list(w) for w in out]}")
    return out


def _check_names(spec: AnalysisSpec, key: str, value: object,
                 allowed: tuple[str, ...]) -> tuple[str, ...]:
    if (not isinstance(value, list | tuple) or any(v not in allowed for v in value)
            or len(set(value)) != len(value)):
        raise SpecError(f"{spec.name}: {key!r} must be a list of distinct names drawn from "
                        f"{list(allowed)}, got {value!r}")
    return tuple(value)


def covariate_params(spec: AnalysisSpec) -> CovariateParams:
    """The request's parameters, checked, with defaults filled in."""
    check_keys(spec, PARAMS)
    p = spec.params
    demographics = p.get("demographics", True)
    if not isinstance(demographics, bool):
        raise SpecError(f"{spec.name}: 'demographics' must be true or false, "
                        f"got {demographics!r}")
    return CovariateParams(
        windows=_check_windows(spec, p.get("windows", DEFAULT_WINDOWS)),
        domains=_check_names(spec, "domains", p.get("domains", COVARIATE_DOMAINS),
                             COVARIATE_DOMAINS),
        count_domains=_check_names(spec, "count_domains",
                                   p.get("count_domains", COUNT_DOMAINS), COUNT_DOMAINS),
        demographics=demographics)


def cohort_roles(spec: AnalysisSpec) -> list[tuple[str, str]]:
    """(role, study cohort name) of every cohort the request describes."""
    return [("target", spec.cohort)] + ([("comparator", spec.comparator)]
                                        if spec.comparator else [])


def _with_role(role: str, table: CountTable) -> CountTable:
    # the margin is renamed too, so the site's secondary suppression still finds it
    margin = f"{role}{ROLE_SEP}{table.margin}" if table.margin else None
    return table.model_copy(update={"name": f"{role}{ROLE_SEP}{table.name}", "margin": margin})


def role_release(agg: SiteAggregate, role: str) -> SiteAggregate:
    """One cohort's part of a site's release, with the table names it had alone."""
    prefix = f"{role}{ROLE_SEP}"
    tables = tuple(
        t.model_copy(update={"name": t.name.removeprefix(prefix),
                             "margin": t.margin.removeprefix(prefix) if t.margin else None})
        for t in agg.tables if t.name.startswith(prefix))
    notes = tuple(n.removeprefix(prefix) for n in agg.notes if n.startswith(prefix))
    return agg.model_copy(update={"tables": tables, "notes": notes})


@dataclasses.dataclass(frozen=True)
class CovariatesAnalysis:
    """FeatureExtraction-style covariates of the target (and comparator, with SMDs)."""

    kind: ClassVar[str] = KIND

    def validate(self, spec: AnalysisSpec) -> None:
        covariate_params(spec)
        if spec.outcomes:
            raise SpecError(f"{spec.name}: covariates take no outcomes, got "
                            f"{list(spec.outcomes)}; request an incidence analysis for them")
        if spec.comparator == spec.cohort:
            raise SpecError(f"{spec.name}: the comparator must be another cohort than the "
                            f"target {spec.cohort!r}")

    def local(self, site: SiteContext, spec: AnalysisSpec) -> SiteAggregate:
        self.validate(spec)
        p = covariate_params(spec)
        tables: list[CountTable] = []
        notes: list[str] = []
        for role, name in cohort_roles(spec):
            cov = site.data.covariates(site.cohort(name), windows=p.windows, domains=p.domains,
                                       count_domains=p.count_domains,
                                       demographics=p.demographics)
            part = release_covariates(spec.name, cov, min_cell=site.policy.min_cell,
                                      max_dominance=site.policy.max_dominance)
            part = with_scopes(part, release_scopes(site.cohort(name), part))
            tables += [_with_role(role, t) for t in part.tables]
            notes += [f"{role}{ROLE_SEP}{n}" for n in part.notes]
        return SiteAggregate(analysis=spec.name, kind=self.kind, tables=tuple(tables),
                             notes=tuple(notes))

    def combine(self, spec: AnalysisSpec,
                releases: list[tuple[str, SiteAggregate]]) -> dict[str, Any]:
        pooled = {role: {"cohort": name, **combine_covariates(
                      [(site, role_release(agg, role)) for site, agg in releases])}
                  for role, name in cohort_roles(spec)}
        out: dict[str, Any] = {"kind": self.kind, "analysis": spec.name,
                               "sites": [site for site, _ in releases], **pooled}
        if "comparator" in pooled:
            out["smd"] = standardized_differences(pooled["target"], pooled["comparator"])
        # the site's own notes on the whole release (cells it suppressed in either cohort)
        prefixes = tuple(f"{role}{ROLE_SEP}" for role in ROLES)
        out["notes"] = {site: shared for site, agg in releases
                        if (shared := [n for n in agg.notes if not n.startswith(prefixes)])}
        return out

