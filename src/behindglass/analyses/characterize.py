"""Cohort count and characterization: who is in a cohort, per site and pooled.

Tables released (all person counts):

* ``persons``: the cohort size;
* one table per requested dimension (``sex``, ``age_band``, ``race``, ``ethnicity``,
  ``index_year``), whose cells add up to ``persons``;
* ``top_condition`` / ``top_drug`` (and procedure, measurement on request): the most
  prevalent concepts recorded in the window before index, keyed by concept id.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, get_args

from behindglass.analyses.base import combine_count_tables, scope
from behindglass.analyses.params import check_keys
from behindglass.core.aggregates import Cell, CountTable, SiteAggregate
from behindglass.core.cohort import Cohort
from behindglass.core.errors import SpecError
from behindglass.core.sitedata import ConceptDomain, Dimension, SiteContext, SiteData
from behindglass.core.study import AnalysisSpec

DIMENSIONS: tuple[str, ...] = get_args(Dimension)
CONCEPT_DOMAINS: tuple[str, ...] = get_args(ConceptDomain)
DEFAULT_BY = ("sex", "age_band", "race", "ethnicity")
MAX_TOP_N = 100


def _persons_table(data: SiteData, cohort: Cohort) -> CountTable:
    return CountTable(name="persons", cells=(Cell(key=(), count=data.count_persons(cohort)),),
                      scope=scope(cohort))


@dataclasses.dataclass(frozen=True)
class CohortCountAnalysis:
    kind: ClassVar[str] = "cohort_count"

    def validate(self, spec: AnalysisSpec) -> None:
        check_keys(spec, set())

    def local(self, site: SiteContext, spec: AnalysisSpec) -> SiteAggregate:
        return SiteAggregate(analysis=spec.name, kind=self.kind,
                             tables=(_persons_table(site.data, site.cohort(spec.cohort)),))

    def combine(self, spec: AnalysisSpec,
                releases: list[tuple[str, SiteAggregate]]) -> dict[str, Any]:
        return {"kind": self.kind, "analysis": spec.name, **combine_count_tables(releases)}


@dataclasses.dataclass(frozen=True)
class CharacterizeAnalysis:
    kind: ClassVar[str] = "characterize"

    def params(self, spec: AnalysisSpec) -> tuple[tuple[str, ...], int, int | None,
                                                  tuple[str, ...]]:
        self.validate(spec)
        p = spec.params
        return (tuple(p.get("by", DEFAULT_BY)), int(p.get("top_n", 10)),
                p.get("window_days", 365), tuple(p.get("domains", ("condition", "drug"))))

    def validate(self, spec: AnalysisSpec) -> None:
        check_keys(spec, {"by", "top_n", "window_days", "domains"})
        p = spec.params
        by = p.get("by", DEFAULT_BY)
        if not isinstance(by, list | tuple) or any(d not in DIMENSIONS for d in by):
            raise SpecError(f"{spec.name}: 'by' must be a list drawn from {list(DIMENSIONS)}, "
                            f"got {by!r}")
        top_n = p.get("top_n", 10)
        if not isinstance(top_n, int) or isinstance(top_n, bool) or not 0 <= top_n <= MAX_TOP_N:
            raise SpecError(f"{spec.name}: 'top_n' must be an integer from 0 to {MAX_TOP_N}, "
                            f"got {top_n!r}")
        window = p.get("window_days", 365)
        if window is not None and (not isinstance(window, int) or window < 0):
            raise SpecError(f"{spec.name}: 'window_days' must be a non-negative integer or "
                            f"null (any time before index), got {window!r}")
        domains = p.get("domains", ("condition", "drug"))
        if not isinstance(domains, list | tuple) or any(d not in CONCEPT_DOMAINS
                                                         for d in domains):
            raise SpecError(f"{spec.name}: 'domains' must be a list drawn from "
                            f"{list(CONCEPT_DOMAINS)}, got {domains!r}")

    def local(self, site: SiteContext, spec: AnalysisSpec) -> SiteAggregate:
        by, top_n, window, domains = self.params(spec)
        data, cohort = site.data, site.cohort(spec.cohort)
        tables = [_persons_table(data, cohort)]
        for dim in by:
            cells = tuple(Cell(key=(value,), count=n)
                          for value, n in data.count_by(cohort, dim))  # type: ignore[arg-type]
            tables.append(CountTable(name=dim, dims=(dim,), cells=cells, margin="persons",
                                     scope=scope(cohort, dim)))
        if top_n:
            for domain in domains:
                top = data.top_concepts(cohort, domain, top_n, window)  # type: ignore[arg-type]
                tables.append(CountTable(
                    name=f"top_{domain}", dims=("concept_id",),
                    cells=tuple(Cell(key=(str(cid),), count=n) for cid, _, n in top),
                    labels={str(cid): name for cid, name, _ in top},
                ))
        return SiteAggregate(analysis=spec.name, kind=self.kind, tables=tuple(tables))

    def combine(self, spec: AnalysisSpec,
                releases: list[tuple[str, SiteAggregate]]) -> dict[str, Any]:
        combined = combine_count_tables(releases)
        for name, table in combined["tables"].items():
            if name.startswith("top_"):
                table["rows"].sort(key=lambda r: (-(r["pooled"] or 0), r["key"]))
        return {"kind": self.kind, "analysis": spec.name, **combined}
