"""Contingency tables: persons cross-classified by two categorical variables, pooled exactly,
with Pearson's chi-square test and Fisher's exact test on the pooled table.

Two sources of persons:

* the target cohort's persons at their first entry (default), by ``sex``, ``age_band``,
  ``race``, ``ethnicity``, ``index_year`` (the characterization's labels) or
  ``cohort:<name>``, membership of one of the request's ``outcomes`` cohorts at any time
  (``yes``/``no``);
* with ``population`` (study population settings, :mod:`behindglass.core.population`):
  the study population of the target (vs ``comparator``) and the one outcome cohort in
  ``outcomes``, by ``treatment`` (the cohort names), ``outcome`` (``yes``/``no``: any
  outcome in the time at risk), ``sex`` (``male``/``not male``), ``age_band``,
  ``index_year`` or one of the population's binary covariates (``yes``/``no``). Its rows are
  the population's entries: with ``remove_duplicate_subjects = "keep_all"`` a person in
  both cohorts is counted once in each.

What a site releases: ``persons`` (a one-cell table; a site with fewer than ``min_cell``
refuses, naming the rule) and ``table``, the non-empty cells keyed ``(row level, column
level)`` with ``persons`` as their margin, so the site's small-cell suppression, primary
and secondary, applies to them; an unlisted cell is an exact zero.

Hub half: cells summed across sites. The tests need every cell: if any site suppressed one,
they are not computed, and the result says which cell at which site. Otherwise Pearson's
chi-square (``scipy.stats.chi2_contingency``; with ``correction`` Yates' continuity
correction, which applies to 2 x 2 tables only, as in R's ``chisq.test``), and for a 2 x 2
table Fisher's exact test (``scipy.stats.fisher_exact``: the sample odds ratio and the
two-sided p-value) with the conditional maximum-likelihood odds ratio and its exact
interval (``scipy.stats.contingency.odds_ratio``). For larger tables the installed scipy
computes Fisher's p-value only by random permutation or Monte Carlo sampling, not exactly,
so it is reported as not available.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency, fisher_exact
from scipy.stats.contingency import odds_ratio

from behindglass.analyses.base import combine_count_tables, member_axis, scope, with_scopes
from behindglass.analyses.params import check_alpha, check_keys, one_outcome, population_param
from behindglass.core.aggregates import Cell, CountTable, SiteAggregate, TableScope
from behindglass.core.errors import DisclosureError, SpecError
from behindglass.core.population import PopulationSettings
from behindglass.core.sitedata import PersonColumn, SiteContext
from behindglass.core.study import AnalysisSpec

KIND = "contingency"
COHORT_VARIABLES = ("sex", "age_band", "race", "ethnicity", "index_year")
POPULATION_VARIABLES = ("treatment", "outcome", "sex", "age_band", "index_year")
PARAMS = {"rows", "cols", "correction", "alpha", "population"}
AGE_BAND_WIDTH = 10  # as the store's age_band (engine/site_store.py)
AGE_BAND_TOP = 90


@dataclasses.dataclass(frozen=True)
class ContingencyParams:
    rows: str
    cols: str
    correction: bool
    alpha: float
    population: PopulationSettings | None


def _check_variable(spec: AnalysisSpec, key: str, value: object,
                    population: PopulationSettings | None) -> str:
    if population is None:
        choices = [*COHORT_VARIABLES, *(f"cohort:{o}" for o in spec.outcomes)]
    else:
        covariates = [c.name for c in population.covariates]
        demographic = POPULATION_VARIABLES[2:] if population.demographics else ()
        choices = [*POPULATION_VARIABLES[:2], *demographic, *covariates]
        if spec.comparator is None:
            choices.remove("treatment")
    if value not in choices:
        raise SpecError(f"{spec.name}: {key!r} must be one of {choices}, got {value!r}")
    return str(value)


def contingency_params(spec: AnalysisSpec) -> ContingencyParams:
    """The request's parameters, checked, with defaults filled in (SpecError otherwise)."""
    check_keys(spec, PARAMS)
    p = spec.params
    population = None
    if "population" in p:
        population = population_param(spec)
        one_outcome(spec, "a study population")
    elif spec.comparator is not None:
        raise SpecError(f"{spec.name}: a comparator is used through the study population "
                        "(give 'population', and 'treatment' as a variable)")
    rows = _check_variable(spec, "rows", p.get("rows"), population)
    cols = _check_variable(spec, "cols", p.get("cols"), population)
    if rows == cols:
        raise SpecError(f"{spec.name}: 'rows' and 'cols' are both {rows!r}")
    correction = p.get("correction", True)
    if not isinstance(correction, bool):
        raise SpecError(f"{spec.name}: 'correction' must be true or false, got {correction!r}")
    return ContingencyParams(rows=rows, cols=cols, correction=correction,
                             alpha=check_alpha(spec), population=population)


# -- site half -----------------------------------------------------------------------------
def _age_band(age: int) -> str:
    if age < 0:
        return "unknown"
    if age >= AGE_BAND_TOP:
        return f"{AGE_BAND_TOP}+"
    low = age - age % AGE_BAND_WIDTH
    return f"{low}-{low + AGE_BAND_WIDTH - 1}"


def _population_labels(frame: pd.DataFrame, variable: str, spec: AnalysisSpec) -> pd.Series:
    if variable == "treatment":
        return frame["treatment"].map({1: spec.cohort, 0: spec.comparator})
    if variable == "outcome":
        return frame["event"].map({1: "yes", 0: "no"})
    if variable == "sex":
        return frame["male"].map({1: "male", 0: "not male"})
    if variable == "age_band":
        return frame["age"].map(lambda a: _age_band(int(a)))
    if variable == "index_year":
        return frame["index_year"].astype(str)
    return frame[variable].map({1: "yes", 0: "no"})  # a binary covariate


def _cohort_column(site: SiteContext, variable: str) -> PersonColumn:
    if variable.startswith("cohort:"):
        return PersonColumn(kind="member_of", cohort=site.cohort(variable.split(":", 1)[1]))
    return PersonColumn(kind=variable)  # type: ignore[arg-type]


def _scopes(site: SiteContext, spec: AnalysisSpec, p: ContingencyParams) -> dict[str, TableScope]:
    """What the tables count: the target's persons by the two variables (cohort source),
    or the study population's entries by its variables (``population``)."""
    target = site.cohort(spec.cohort)
    if p.population is None:
        axes = tuple(member_axis(site.cohort(v.split(":", 1)[1])) if v.startswith("cohort:")
                     else v for v in (p.rows, p.cols))
        subset = None
    else:
        comparator = None if spec.comparator is None else site.cohort(spec.comparator)
        subset = {"population": p.population.model_dump(mode="json"),
                  "comparator": comparator.fingerprint if comparator else None,
                  "outcome": site.cohort(spec.outcomes[0]).fingerprint}
        # treatment levels are the cohorts' names in this request
        axes = tuple(f"treatment:{spec.cohort}:{spec.comparator}" if v == "treatment"
                     else f"population:{v}" for v in (p.rows, p.cols))
    return {"persons": scope(target, subset=subset),
            "table": scope(target, *axes, subset=subset)}


def release_contingency(name: str, rows: pd.Series, cols: pd.Series, min_cell: int
                        ) -> SiteAggregate:
    """Site half: the cross-classification of paired labels, before the site's enforce."""
    persons = len(rows)
    if persons < min_cell:
        raise DisclosureError(f"{name}: fewer than {min_cell} persons at this site (the "
                              "site's minimum cell size); refused")
    labels = pd.DataFrame({"r": rows.fillna("unknown").astype(str),
                           "c": cols.fillna("unknown").astype(str)})
    counts = labels.groupby(["r", "c"]).size()
    cells = tuple(Cell(key=(r, c), count=int(n)) for (r, c), n in sorted(counts.items()) if n)
    return SiteAggregate(analysis=name, kind=KIND, tables=(
        CountTable(name="persons", cells=(Cell(key=(), count=persons),)),
        CountTable(name="table", dims=("row", "col"), cells=cells, margin="persons"),
    ))


# -- hub half ------------------------------------------------------------------------------
def level_order(level: str) -> tuple[int, float, str]:
    """Levels in a reader's order: ``yes`` before ``no`` (so a 2 x 2 table reads exposed /
    outcome first, as its odds ratio does), numbers and bands by their number, 'unknown'
    last."""
    if level in ("yes", "no"):
        return (-1, float(level == "no"), level)
    if level == "unknown":
        return (2, 0.0, level)
    match = re.match(r"^-?\d+(\.\d+)?", level)
    return (0, float(match.group()), level) if match else (1, 0.0, level)


def ordered_levels(levels: set[str], first: Sequence[str] = ()) -> list[str]:
    """``levels`` in :func:`level_order`, those in ``first`` (the target cohort before the
    comparator) leading in that order."""
    lead = [x for x in first if x in levels]
    return lead + sorted(levels - set(lead), key=level_order)


def table_tests(observed: np.ndarray, correction: bool, alpha: float) -> dict[str, Any]:
    """Chi-square and (2 x 2) Fisher tests of a complete pooled table."""
    if min(observed.shape) < 2:
        reason = "not computed: the pooled table has a single row or column"
        return {"chi_square": {"computed": False, "reason": reason},
                "fisher": {"computed": False, "reason": reason}}
    chi = chi2_contingency(observed, correction=correction)
    expected = np.asarray(chi.expected_freq)
    out: dict[str, Any] = {"chi_square": {
        "computed": True, "statistic": float(chi.statistic), "df": int(chi.dof),
        "p_value": float(chi.pvalue),
        "yates": bool(correction and chi.dof == 1),
        "min_expected": float(expected.min()),
        "cells_expected_below_5": int((expected < 5).sum()),
    }}
    if observed.shape != (2, 2):
        out["fisher"] = {"computed": False, "reason": (
            "not available: the installed scipy computes Fisher's test of a table larger "
            "than 2 x 2 only by random permutation or Monte Carlo sampling, not exactly")}
        return out
    fisher = fisher_exact(observed)
    conditional = odds_ratio(observed, kind="conditional")
    ci = conditional.confidence_interval(confidence_level=1 - alpha)
    out["fisher"] = {"computed": True, "odds_ratio": float(fisher.statistic),
                     "p_value": float(fisher.pvalue),
                     "conditional_odds_ratio": float(conditional.statistic),
                     "ci_lower": float(ci.low), "ci_upper": float(ci.high)}
    return out


def _lines(row_levels: list[str], col_levels: list[str],
           cells: dict[tuple[str, ...], dict[str, Any]]) -> list[list[int | None]]:
    lines = []
    for r in row_levels:
        line: list[int | None] = []
        for c in col_levels:
            cell = cells.get((r, c))
            line.append(0 if cell is None else cell["pooled"] if cell["complete"] else None)
        lines.append(line)
    return lines


def combine_contingency(releases: list[tuple[str, SiteAggregate]], *, correction: bool = True,
                        alpha: float = 0.05, first: Sequence[str] = ()) -> dict[str, Any]:
    """Hub half: the pooled table and its tests, or why they are not computed. Levels in
    ``first`` lead their row or column (the target cohort, then the comparator)."""
    pooled = combine_count_tables(releases)
    table = pooled["tables"].get("table", {"rows": []})
    persons = pooled["tables"].get("persons", {"rows": []})["rows"]
    cells = {tuple(r["key"]): r for r in table["rows"]}
    row_levels = ordered_levels({k[0] for k in cells}, first)
    col_levels = ordered_levels({k[1] for k in cells}, first)
    hidden = []
    for (r, c), cell in cells.items():
        if not cell["complete"]:
            where = [s for s, v in cell["sites"].items() if not isinstance(v, int)]
            hidden.append(f"cell ({r}, {c}) was suppressed at {', '.join(where)}")
    counts = _lines(row_levels, col_levels, cells)
    out: dict[str, Any] = {
        "sites": pooled["sites"], "row_levels": row_levels, "col_levels": col_levels,
        "counts": counts, "n": persons[0]["pooled"] if persons else None,
        "complete": not hidden, "cells": table["rows"],
    }
    if hidden:
        reason = "not computed: " + "; ".join(hidden)
        return {**out, "chi_square": {"computed": False, "reason": reason},
                "fisher": {"computed": False, "reason": reason}}
    observed = np.array(counts, dtype=np.int64)
    out["row_totals"] = observed.sum(axis=1).tolist()
    out["col_totals"] = observed.sum(axis=0).tolist()
    return {**out, **table_tests(observed, correction, alpha)}


@dataclasses.dataclass(frozen=True)
class ContingencyAnalysis:
    """Two-way tables of persons, pooled exactly, with chi-square and Fisher tests."""

    kind: ClassVar[str] = KIND

    def validate(self, spec: AnalysisSpec) -> None:
        contingency_params(spec)

    def local(self, site: SiteContext, spec: AnalysisSpec) -> SiteAggregate:
        p = contingency_params(spec)
        target = site.cohort(spec.cohort)
        if p.population is None:
            if site.data.count_persons(target) < site.policy.min_cell:  # before any label
                raise DisclosureError(f"{spec.name}: fewer than {site.policy.min_cell} "
                                      "persons at this site (the site's minimum cell size); "
                                      "refused")
            frame = site.data.person_frame(target, {"r": _cohort_column(site, p.rows),
                                                    "c": _cohort_column(site, p.cols)})
            rows, cols = frame["r"], frame["c"]
        else:
            comparator = None if spec.comparator is None else site.cohort(spec.comparator)
            pop = site.data.population(target, comparator, site.cohort(spec.outcomes[0]),
                                       p.population)
            rows = _population_labels(pop, p.rows, spec)
            cols = _population_labels(pop, p.cols, spec)
        return with_scopes(release_contingency(spec.name, rows, cols, site.policy.min_cell),
                           _scopes(site, spec, p))

    def combine(self, spec: AnalysisSpec,
                releases: list[tuple[str, SiteAggregate]]) -> dict[str, Any]:
        p = contingency_params(spec)
        return {"kind": KIND, "analysis": spec.name, "rows": p.rows, "cols": p.cols,
                **combine_contingency(releases, correction=p.correction, alpha=p.alpha,
                                      first=[spec.cohort, spec.comparator]
                                      if spec.comparator else ())}
