"""Data quality as a federated analysis: each site runs its DataQualityDashboard-style
checks, releases how many passed and failed, and the hub adds them up.

The request names a cohort like every analysis request (any cohort of the study); it is
ignored, since data quality is a property of the whole store, not of a cohort.

Parameters: ``thresholds`` (check-id prefix -> percent of violating rows tolerated, as in
``behindglass dq --thresholds``) and ``detail`` (also list the failed checks).

Tables released (unit ``checks``: counts of checks, not persons, so no minimum cell applies;
only this kind may release such tables, see :data:`~behindglass.core.aggregates.
NON_PERSON_KINDS`):

* ``status``: checks per status (``pass``, ``fail``, ``not_applicable``, ``error``);
* ``status_by_category`` / ``status_by_context``: the same per Kahn category / context;
* with ``detail``: ``failed_checks``, one cell (count 1) per failed check id, labelled with
  its category. A check is listed only when its violating rows number at least the site's
  ``min_cell``, or when its verdict has no row counts (a table or column absent), since the
  id of a check failed by a few rows tells that a few rows (persons' records) violate it.

With ``detail``, ``failed_rows`` (unit persons, dims ``check_id`` x ``measure``) gives the
violating rows (``violated``) and rows checked (``rows``) of listed checks, only when
neither, nor the rows *not* violating, is below ``min_cell`` (the rule of the engine's
``report.py``: the complement of a shown count is itself a count).

Hub result keys: ``sites``, ``network`` and ``per_site`` (each a summary: ``checks``,
``passed``, ``failed``, ``not_applicable``, ``errors``, ``pct_passed`` = passed / (passed
+ failed) as in DQD, ``by_category``, ``by_context``), ``detail``, ``failed_checks`` (per
check id: ``category``, ``sites_failing``, ``sites``, pooled ``violated`` and ``rows`` and
whether they are ``complete``) and the pooled count ``tables``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

from behindglass.analyses.base import combine_count_tables
from behindglass.core.aggregates import Cell, CountTable, SiteAggregate
from behindglass.core.errors import SpecError
from behindglass.core.sitedata import DqResultLike, SiteContext
from behindglass.core.study import AnalysisSpec, check_thresholds

KIND = "data_quality"
PASS, FAIL, NOT_APPLICABLE, ERROR = "pass", "fail", "not_applicable", "error"
STATUSES = (PASS, FAIL, NOT_APPLICABLE, ERROR)
# Checks whose verdict comes from the schema (a table or column absent), not from counting
# rows: their numerator and denominator are stand-ins (1 of 1), so they may be listed
# without any numbers.
STRUCTURAL = frozenset({"cdmTable", "cdmField"})
GROUPINGS: tuple[tuple[str, str], ...] = (("category", "by_category"),
                                          ("context", "by_context"))
PARAMS = {"thresholds", "detail"}


def pct_passed(passed: int, failed: int) -> float | None:
    """DataQualityDashboard's percent passed: of the checks that passed or failed."""
    return round(100.0 * passed / (passed + failed), 2) if passed + failed else None


# -- site half -----------------------------------------------------------------------------
def _status_table(name: str, dim: str | None, results: Sequence[DqResultLike],
                  group: Callable[[DqResultLike], tuple[str, ...]]) -> CountTable:
    """Checks per group and status; every status of every group present, zeros included,
    so a site's table is complete and the hub never guesses a missing cell."""
    counts: dict[tuple[str, ...], int] = {}
    for r in results:
        g = group(r)
        for status in STATUSES:
            counts.setdefault((*g, status), 0)
        counts[(*g, r.status)] += 1
    dims = ((dim,) if dim else ()) + ("status",)
    return CountTable(name=name, dims=dims, unit="checks",
                      cells=tuple(Cell(key=k, count=n) for k, n in sorted(counts.items())))


def listable(r: DqResultLike, min_cell: int) -> bool:
    """A failed check whose id may be released (see the module docstring)."""
    if r.status != FAIL:
        return False
    if r.check.name in STRUCTURAL:
        return True
    return r.num_violated is not None and r.num_violated >= min_cell


def rows_releasable(r: DqResultLike, min_cell: int) -> bool:
    """Whether the violating and checked row counts of ``r`` may both be shown."""
    if r.check.name in STRUCTURAL or r.num_violated is None or r.denominator is None:
        return False
    num, den = r.num_violated, r.denominator
    return num >= min_cell and den >= min_cell and (den - num == 0 or den - num >= min_cell)


def _failed_tables(results: Sequence[DqResultLike], min_cell: int) -> list[CountTable]:
    listed = [r for r in results if listable(r, min_cell)]
    ids = CountTable(name="failed_checks", dims=("check_id",), unit="checks",
                     cells=tuple(Cell(key=(r.check.check_id,), count=1) for r in listed),
                     labels={r.check.check_id: r.check.category for r in listed})
    rows: list[Cell] = []
    for r in listed:
        if rows_releasable(r, min_cell):
            assert r.num_violated is not None and r.denominator is not None
            rows += [Cell(key=(r.check.check_id, "violated"), count=r.num_violated),
                     Cell(key=(r.check.check_id, "rows"), count=r.denominator)]
    return [ids, CountTable(name="failed_rows", dims=("check_id", "measure"),
                            cells=tuple(rows))]


@dataclasses.dataclass(frozen=True)
class DataQualityAnalysis:
    kind: ClassVar[str] = KIND

    def params(self, spec: AnalysisSpec) -> tuple[dict[str, float], bool]:
        self.validate(spec)
        return check_thresholds(spec.params.get("thresholds", {})), spec.params.get(
            "detail", False)

    def validate(self, spec: AnalysisSpec) -> None:
        unknown = sorted(set(spec.params) - PARAMS)
        if unknown:
            raise SpecError(f"{spec.name}: unknown parameter(s) {unknown} for {spec.kind}; "
                            f"accepted: {sorted(PARAMS)}")
        if spec.comparator is not None or spec.outcomes:
            raise SpecError(f"{spec.name}: {spec.kind} takes no comparator or outcomes "
                            "(it checks the whole store)")
        try:
            check_thresholds(spec.params.get("thresholds", {}))
        except ValueError as exc:
            raise SpecError(f"{spec.name}: {exc}") from None
        detail = spec.params.get("detail", False)
        if not isinstance(detail, bool):
            raise SpecError(f"{spec.name}: 'detail' must be true or false, got {detail!r}")

    def local(self, site: SiteContext, spec: AnalysisSpec) -> SiteAggregate:
        thresholds, detail = self.params(spec)
        results = list(site.data.data_quality(thresholds).results)
        tables = [_status_table("status", None, results, lambda r: ()),
                  _status_table("status_by_category", "category", results,
                                lambda r: (r.check.category,)),
                  _status_table("status_by_context", "context", results,
                                lambda r: (r.check.context,))]
        notes: list[str] = []
        if detail:
            tables += _failed_tables(results, site.policy.min_cell)
            unlisted = sum(r.status == FAIL and not listable(r, site.policy.min_cell)
                           for r in results)
            if unlisted:
                notes.append(f"{unlisted} failed check(s) not listed: fewer than "
                             f"{site.policy.min_cell} violating rows")
        return SiteAggregate(analysis=spec.name, kind=self.kind, tables=tuple(tables),
                             notes=tuple(notes))

    def combine(self, spec: AnalysisSpec,
                releases: list[tuple[str, SiteAggregate]]) -> dict[str, Any]:
        per_site = {site: site_summary(agg) for site, agg in releases}
        _, detail = self.params(spec)
        return {
            "kind": self.kind, "analysis": spec.name, "sites": [s for s, _ in releases],
            "network": pool(per_site.values()), "per_site": per_site, "detail": detail,
            "failed_checks": failed_checks(releases) if detail else [],
            "tables": combine_count_tables(releases)["tables"],
        }


# -- hub half ------------------------------------------------------------------------------
def _by_status(agg: SiteAggregate, name: str) -> dict[tuple[str, ...], dict[str, int]]:
    """group key -> status -> checks, from one of a release's status tables."""
    out: dict[tuple[str, ...], dict[str, int]] = {}
    try:
        table = agg.table(name)
    except KeyError:
        return out
    for cell in table.cells:
        group, status = cell.key[:-1], cell.key[-1]
        out.setdefault(group, dict.fromkeys(STATUSES, 0))[status] = cell.count or 0
    return out


def _summary(overall: Mapping[str, int],
             groups: Mapping[str, Mapping[str, Mapping[str, int]]]) -> dict[str, Any]:
    passed, failed = overall.get(PASS, 0), overall.get(FAIL, 0)
    out: dict[str, Any] = {
        "checks": sum(overall.values()), "passed": passed, "failed": failed,
        "not_applicable": overall.get(NOT_APPLICABLE, 0), "errors": overall.get(ERROR, 0),
        "pct_passed": pct_passed(passed, failed),
    }
    for _, key in GROUPINGS:
        out[key] = {g: dict(counts) for g, counts in sorted(groups[key].items())}
    return out


def site_summary(agg: SiteAggregate) -> dict[str, Any]:
    """One site's summary, in the shape of ``DqReport.summary()`` plus ``by_context``."""
    overall = _by_status(agg, "status").get((), dict.fromkeys(STATUSES, 0))
    groups = {key: {g[0]: c for g, c in _by_status(agg, f"status_{key}").items()}
              for _, key in GROUPINGS}
    return _summary(overall, groups)


def pool(summaries: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The network's summary: every site's checks added up (percent passed recomputed)."""
    overall = dict.fromkeys(STATUSES, 0)
    groups: dict[str, dict[str, dict[str, int]]] = {key: {} for _, key in GROUPINGS}
    names = {PASS: "passed", FAIL: "failed", NOT_APPLICABLE: "not_applicable", ERROR: "errors"}
    for s in summaries:
        for status, key in names.items():
            overall[status] += s[key]
        for _, key in GROUPINGS:
            for g, counts in s[key].items():
                mine = groups[key].setdefault(g, dict.fromkeys(STATUSES, 0))
                for status in STATUSES:
                    mine[status] += counts.get(status, 0)
    return _summary(overall, groups)


def failed_checks(releases: list[tuple[str, SiteAggregate]]) -> list[dict[str, Any]]:
    """Every listed failed check with the sites listing it, most widely failed first.

    ``violated`` and ``rows`` add up the sites that released them (None if none did);
    ``complete`` is False when a listing site withheld its numbers."""
    found: dict[str, dict[str, Any]] = {}
    for site, agg in releases:
        try:
            ids = agg.table("failed_checks")
        except KeyError:
            continue
        rows = _rows_of(agg)
        for cell in ids.cells:
            check_id = cell.key[0]
            entry = found.setdefault(check_id, {
                "check_id": check_id, "category": ids.labels.get(check_id),
                "sites_failing": 0, "sites": [], "violated": None, "rows": None,
                "complete": True})
            entry["sites_failing"] += 1
            entry["sites"].append(site)
            if check_id not in rows:
                entry["complete"] = False
                continue
            num, den = rows[check_id]
            entry["violated"] = (entry["violated"] or 0) + num
            entry["rows"] = (entry["rows"] or 0) + den
    return sorted(found.values(), key=lambda e: (-e["sites_failing"], e["check_id"]))


def _rows_of(agg: SiteAggregate) -> dict[str, tuple[int, int]]:
    """check id -> (violating rows, rows checked), where the site released both."""
    try:
        table = agg.table("failed_rows")
    except KeyError:
        return {}
    values = {c.key: c.count for c in table.cells if c.count is not None}
    out: dict[str, tuple[int, int]] = {}
    for check_id in {k[0] for k in values}:
        num, den = values.get((check_id, "violated")), values.get((check_id, "rows"))
        if num is not None and den is not None:
            out[check_id] = (num, den)
    return out

