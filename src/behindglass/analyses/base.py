"""What every analysis in a site's catalog provides: a site half and a hub half."""

from __future__ import annotations

from typing import Any, Protocol

from behindglass.core.aggregates import MEMBER_AXIS, CountTable, SiteAggregate, TableScope
from behindglass.core.canonical import digest
from behindglass.core.cohort import Cohort
from behindglass.core.sitedata import SiteContext
from behindglass.core.study import AnalysisSpec


class Analysis(Protocol):
    kind: str

    def validate(self, spec: AnalysisSpec) -> None:
        """Raise SpecError if the request's parameters are not acceptable."""
        ...

    def local(self, site: SiteContext, spec: AnalysisSpec) -> SiteAggregate:
        """Site half: aggregates only, before the site's disclosure control (which the
        site applies to every release, whatever the analysis did itself)."""
        ...

    def combine(self, spec: AnalysisSpec,
                releases: list[tuple[str, SiteAggregate]]) -> dict[str, Any]:
        """Hub half: combine released aggregates into a JSON-able result."""
        ...


def scope(cohort: Cohort, *axes: str, subset: object = None) -> TableScope:
    """What a table counts, for suppression across the analyses of a release: the persons
    of ``cohort`` (each once, at first entry) by ``axes``; ``subset``, any JSON-able
    description of how they are narrowed down (None: they are not)."""
    return TableScope(cohort=cohort.fingerprint, axes=axes,
                      subset="" if subset is None else digest(subset))


def with_scopes(aggregate: SiteAggregate, scopes: dict[str, TableScope]) -> SiteAggregate:
    """``aggregate`` with each table named in ``scopes`` scoped."""
    tables = tuple(t.model_copy(update={"scope": scopes[t.name]}) if t.name in scopes else t
                   for t in aggregate.tables)
    return aggregate.model_copy(update={"tables": tables})


def member_axis(cohort: Cohort) -> str:
    """The axis of membership (``yes``/``no``) in ``cohort``."""
    return MEMBER_AXIS + cohort.fingerprint


def combine_count_tables(releases: list[tuple[str, SiteAggregate]]) -> dict[str, Any]:
    """Pool count tables cell by cell across sites.

    A pooled cell sums the numbers sites released; it is marked incomplete when any site
    suppressed it or did not report it, so a reader never mistakes a partial sum for the
    whole.
    """
    sites = [site for site, _ in releases]
    order: list[str] = []
    by_name: dict[str, list[tuple[str, CountTable]]] = {}
    for site, agg in releases:
        for table in agg.tables:
            if table.name not in by_name:
                order.append(table.name)
                by_name[table.name] = []
            by_name[table.name].append((site, table))
    tables: dict[str, Any] = {}
    for name in order:
        site_tables = by_name[name]
        dims = list(site_tables[0][1].dims)
        labels: dict[str, str] = {}
        keys: list[tuple[str, ...]] = []
        values: dict[tuple[str, ...], dict[str, int | str | None]] = {}
        for site, table in site_tables:
            labels.update(table.labels)
            for cell in table.cells:
                if cell.key not in values:
                    keys.append(cell.key)
                    values[cell.key] = dict.fromkeys(sites)
                values[cell.key][site] = "suppressed" if cell.suppressed else cell.count
        # a breakdown of a margin lists every person, so a category a site did not list
        # has no one in it there: an exact zero, not a missing value
        exhaustive = [site for site, table in site_tables if table.margin is not None]
        for key in keys:
            for site in exhaustive:
                if values[key][site] is None:
                    values[key][site] = 0
        rows = []
        for key in keys:
            per_site = values[key]
            numbers = [v for v in per_site.values() if isinstance(v, int)]
            rows.append({
                "key": list(key),
                "pooled": sum(numbers) if numbers else None,
                "complete": len(numbers) == len(sites),
                "sites": per_site,
            })
        tables[name] = {"dims": dims, "labels": labels, "rows": rows}
    return {"tables": tables, "sites": sites}
