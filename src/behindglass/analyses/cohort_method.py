"""A CohortMethod-style comparative cohort study, fitted exactly across sites.

New users of a target drug against new users of a comparator, one outcome, the study
population of :mod:`behindglass.core.population` (washout, duplicate subjects, prior
outcome, risk window, minimum days at risk). One request gives:

* the propensity model: the logistic regression of ``treatment`` on the PS covariates,
  fitted by the catalog's exact federated IRLS (:mod:`behindglass.analyses.glm`);
* CohortMethod's PS strata (``stratifyByPs``, ``baseSelection = "all"``): the pooled
  scores cut at their type-7 quantiles, found exactly from per-site counts
  (:mod:`behindglass.analyses.ps_strata`);
* two Cox models by the catalog's exact federated Newton-Raphson
  (:mod:`behindglass.analyses.cox`): unadjusted (``treatment``) and stratified by PS
  stratum;
* population counts, stratum sizes by treatment, covariate balance (standardized mean
  differences before and after stratification) and the share of persons in empirical
  equipoise (preference score 0.3 to 0.7).

The three fits are *tracks* run side by side in the same rounds, each by the existing
analysis' own site and hub halves: the site hands each the study population it built once
(through a stand-in store), and prefixes what each releases (``ps/``, ``u/``, ``s/``);
the hub strips the prefix and steps each with its own state. The unadjusted Cox starts in
round 0 beside the PS model; the quantile search starts when the PS model has converged;
the stratified Cox when the strata are known. Every track keeps its own disclosure rules
(minimum cell and events, binary covariate levels and patterns, strata sizes, parameters
per person), so a site refuses with the rule's name whichever model it protects. What
leaves a site in each phase, and the residual risk, is in ``docs/comparative.md``.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
from typing import Any, ClassVar, cast

import numpy as np
import pandas as pd

from behindglass.analyses import ps_diagnostics, ps_strata, tracks
from behindglass.analyses.base import combine_count_tables
from behindglass.analyses.cohort_method_params import STRATUM, CmParams, cm_params
from behindglass.analyses.cox import CoxAnalysis
from behindglass.analyses.glm import FitError, GlmAnalysis
from behindglass.analyses.stats_blocks import block as _block
from behindglass.core.aggregates import Cell, CountTable, SiteAggregate, StatsBlock
from behindglass.core.errors import SpecError
from behindglass.core.sitedata import SiteContext
from behindglass.core.study import AnalysisSpec

KIND = "cohort_method"
GROUPS = ("comparator", "target")  # treatment 0, 1
_GLM = GlmAnalysis()
_COX = CoxAnalysis()


# -- site half ----------------------------------------------------------------------------
def _population(site: SiteContext, spec: AnalysisSpec, p: CmParams) -> pd.DataFrame:
    if "population" not in site.cache:
        frame = site.data.population(site.cohort(spec.cohort),
                                     site.cohort(cast(str, spec.comparator)),
                                     site.cohort(spec.outcomes[0]), p.population)
        missing = [c for c in ("treatment", "event", *p.covariates) if c not in frame.columns]
        if missing:
            raise SpecError(f"{spec.name}: the study population has no column(s) {missing}")
        site.cache["population"] = frame
    return cast(pd.DataFrame, site.cache["population"])


def _scores(site: SiteContext, frame: pd.DataFrame, p: CmParams,
            beta: list[float]) -> np.ndarray:
    cached = site.cache.get("scores")
    if cached is not None and cached[0] == beta:
        return cast(np.ndarray, cached[1])
    x = frame[list(p.covariates)].to_numpy(dtype=np.float64)
    ps = ps_strata.propensity(x, beta)
    site.cache["scores"] = (list(beta), ps)
    return ps


def _count_tables(frame: pd.DataFrame, strata: np.ndarray | None, ps: np.ndarray | None,
                  share: float | None) -> list[CountTable]:
    """Persons, events and (once known) stratum sizes by treatment and equipoise, as person
    tables: the site's small-cell suppression applies to every cell."""
    treat = frame["treatment"].to_numpy()
    event = frame["event"].to_numpy() > 0
    tables = [CountTable(name="cm:persons", cells=(Cell(key=(), count=len(frame)),))]
    cells = []
    for g, label in enumerate(GROUPS):
        rows = treat == g
        cells += [Cell(key=(label, "persons"), count=int(rows.sum())),
                  Cell(key=(label, "events"), count=int((rows & event).sum()))]
    tables.append(CountTable(name="cm:population", dims=("group", "measure"),
                             cells=tuple(cells)))
    if strata is not None:  # only the cells someone is in: under the margin, absent is 0
        keys, counts = np.unique(np.stack([strata, treat], axis=1), axis=0, return_counts=True)
        tables.append(CountTable(
            name="cm:strata", dims=("stratum", "group"), margin="cm:persons",
            cells=tuple(Cell(key=(str(int(s)), GROUPS[int(g)]), count=int(c))
                        for (s, g), c in zip(keys, counts, strict=True))))
    if ps is not None and share is not None:
        tables.append(ps_diagnostics.equipoise_table(ps, share, "cm:persons"))
    return tables


def _check_grids(spec: AnalysisSpec, p: CmParams, grids: list[list[float]]) -> None:
    """The request bounds what the hub may ask in a round: ``number_of_strata - 1``
    increasing grids of at most ``quantile_grid`` thresholds each."""
    if len(grids) >= p.strata or any(
            len(g) > p.grid or any(b <= a for a, b in itertools.pairwise(g)) for g in grids):
        raise SpecError(f"{spec.name}: the hub asked for PS threshold counts beyond "
                        "'number_of_strata' and 'quantile_grid'; refused")


def local_release(site: SiteContext, spec: AnalysisSpec) -> SiteAggregate:
    """Site half of one round: every active track's release, prefixed by its track."""
    p = cm_params(spec)
    state = dict(site.state) if site.state is not None else start_state(spec)
    frame = _population(site, spec, p)
    tables: list[CountTable] = []
    blocks: list[StatsBlock] = []
    notes: list[str] = []

    def add(part: tracks.Parts) -> None:
        tables.extend(part[0])
        blocks.extend(part[1])
        notes.extend(part[2])

    if state.get("ps") is not None:
        ctx = tracks.context(site, frame, "ps", state["ps"])
        add(tracks.wrap("ps", _GLM.local(ctx, p.ps_spec)))
    if _active(state.get("cox_u")):
        ctx = tracks.context(site, frame, "u", state["cox_u"])
        add(tracks.wrap("u", _COX.local(ctx, p.unadjusted_spec)))
    ps = strata = None
    if state.get("ps_beta") is not None:
        ps = _scores(site, frame, p, state["ps_beta"])
    quant = state.get("quantiles")
    if quant is not None and state.get("cuts") is None and ps is not None:
        _check_grids(spec, p, quant["grids"])
        for j, points in enumerate(quant["grids"]):
            if points:
                blocks.append(_block(f"q:{j}", ps_strata.count_at_or_below(ps, points)))
    if state.get("cuts") is not None and ps is not None:
        strata = ps_strata.assign(ps, state["cuts"])
        if p.balance:
            bal, why = ps_diagnostics.balance_blocks(
                frame[list(p.covariates)].to_numpy(dtype=np.float64),
                frame["treatment"].to_numpy(), strata, len(state["cuts"]) + 1,
                site.policy.min_cell)
            blocks += bal
            notes += why
    if _active(state.get("cox_s")) and strata is not None:
        if "frame_s" not in site.cache:
            site.cache["frame_s"] = frame.assign(**{STRATUM: strata})
        ctx = tracks.context(site, site.cache["frame_s"], "s", state["cox_s"])
        add(tracks.wrap("s", _COX.local(ctx, p.stratified_spec)))
    tables = _count_tables(frame, strata, ps, state.get("treated_share")) + tables
    return SiteAggregate(analysis=spec.name, kind=KIND, tables=tuple(tables),
                         stats=tuple(blocks), notes=tuple(notes))


# -- hub half -----------------------------------------------------------------------------
def _active(cox_state: dict[str, Any] | None) -> bool:
    return cox_state is not None and cox_state.get("phase") != "done"


def start_state(spec: AnalysisSpec) -> dict[str, Any]:
    p = cm_params(spec)
    return {"round": 0, "ps": _GLM.start(p.ps_spec), "ps_result": None, "ps_beta": None,
            "treated_share": None, "quantiles": None, "cuts": None, "breaks": None,
            "cox_u": _COX.start(p.unadjusted_spec), "cox_s": None, "done": False}


def _pooled_counts(releases: list[tuple[str, SiteAggregate]], name: str) -> np.ndarray:
    total: np.ndarray | None = None
    for site, agg in releases:
        try:
            b = agg.block(name)
        except KeyError:
            raise FitError(f"{site} released no PS threshold counts this round") from None
        a = np.rint(np.asarray(b.values, dtype=np.float64)).astype(np.int64)
        total = a if total is None else total + a
    return cast(np.ndarray, total)


def _set_cuts(st: dict[str, Any], p: CmParams) -> None:
    q = st["quantiles"]
    n = q["n"]
    cuts = ps_strata.thresholds(q["brackets"], n)
    st["cuts"] = [c["threshold"] for c in cuts]
    st["breaks"] = [{"probability": (j + 1) / p.strata, "order_statistic": b["r"],
                     "threshold": float(b["hi"]), "persons_at_or_below": int(b["n_hi"])}
                    for j, b in enumerate(q["brackets"])]
    st["cox_s"] = _COX.start(p.stratified_spec)


def step_state(spec: AnalysisSpec, state: dict[str, Any],
               releases: list[tuple[str, SiteAggregate]]) -> tuple[dict[str, Any], bool]:
    """One hub round: each track that released this round takes its own step."""
    p = cm_params(spec)
    if not releases:
        raise FitError(f"{spec.name}: no site released this analysis")
    rel = sorted(releases, key=lambda r: r[0])
    st = copy.deepcopy(state)
    st["round"] = int(state["round"]) + 1
    if state.get("ps") is not None:
        sub = tracks.unwrap("ps", "glm", rel)
        new, done = _GLM.step(p.ps_spec, state["ps"], sub)
        st["ps"] = new
        if done:
            result = _GLM.combine(p.ps_spec, sub, new)
            if not result.get("converged"):
                raise FitError(f"{spec.name}: the propensity model did not converge in "
                               "'ps_max_iter' iterations")
            n = int(result["n"])
            st["ps"] = None
            st["ps_result"] = {k: v for k, v in result.items()
                               if k not in ("kind", "analysis", "target", "comparator",
                                            "outcome", "meta")}
            st["ps_beta"] = [float(r["coef"]) for r in result["coefficients"]]
            st["treated_share"] = float(result["events"]) / n
            brackets = ps_strata.start(n, p.strata)
            st["quantiles"] = {"n": n, "brackets": brackets, "rounds": 0,
                               "grids": [ps_strata.grid(b, p.grid) for b in brackets]}
            if all(b["done"] for b in brackets):
                _set_cuts(st, p)
    if _active(state.get("cox_u")):
        st["cox_u"], _ = _COX.step(p.unadjusted_spec, state["cox_u"],
                                   tracks.unwrap("u", "cox", rel))
    quant = state.get("quantiles")
    if quant is not None and state.get("cuts") is None:
        q = st["quantiles"]
        for j, points in enumerate(quant["grids"]):
            if points:
                counts = _pooled_counts(rel, f"q:{j}")
                if counts.shape != (len(points),):
                    raise FitError(f"{spec.name}: a site released {counts.size} threshold "
                                   f"counts for {len(points)} thresholds")
                q["brackets"][j] = ps_strata.narrow(q["brackets"][j], points,
                                                    [int(c) for c in counts])
        q["rounds"] += 1
        q["grids"] = [ps_strata.grid(b, p.grid) for b in q["brackets"]]
        if all(b["done"] for b in q["brackets"]):
            _set_cuts(st, p)
    if _active(state.get("cox_s")):
        st["cox_s"], _ = _COX.step(p.stratified_spec, state["cox_s"],
                                   tracks.unwrap("s", "cox", rel))
    done = (st["ps"] is None and st["cuts"] is not None and not _active(st["cox_u"])
            and st["cox_s"] is not None and not _active(st["cox_s"]))
    st["done"] = done
    return st, done


def _rows(tables: dict[str, Any], name: str) -> dict[tuple[str, ...], dict[str, Any]]:
    return {tuple(r["key"]): r for r in tables.get(name, {}).get("rows", [])}


def _population_summary(tables: dict[str, Any]) -> dict[str, Any]:
    rows = _rows(tables, "cm:population")
    persons = _rows(tables, "cm:persons").get((), {})
    out: dict[str, Any] = {"persons": persons.get("pooled"),
                           "complete": bool(persons.get("complete"))}
    for g in GROUPS:
        out[g] = {}
        for m in ("persons", "events"):
            r = rows.get((g, m), {})
            out[g][m] = r.get("pooled")
            out["complete"] = out["complete"] and bool(r.get("complete"))
    return out


def _strata_table(tables: dict[str, Any], n_strata: int) -> list[dict[str, Any]]:
    rows = _rows(tables, "cm:strata")
    out = []
    for s in range(1, n_strata + 1):
        entry: dict[str, Any] = {"stratum": s}
        complete = True
        for g in GROUPS:
            r = rows.get((str(s), g))
            # a stratum a site did not list has no one of that group there: zero
            entry[g] = r["pooled"] if r else 0
            complete = complete and (r is None or bool(r["complete"]))
        entry["complete"] = complete
        out.append(entry)
    return out


def combine_result(spec: AnalysisSpec, releases: list[tuple[str, SiteAggregate]],
                   state: dict[str, Any] | None) -> dict[str, Any]:
    p = cm_params(spec)
    out: dict[str, Any] = {"kind": KIND, "analysis": spec.name, "target": spec.cohort,
                           "comparator": spec.comparator, "outcome": spec.outcomes[0],
                           "ps_covariates": list(p.covariates), "alpha": p.alpha}
    if not state or not state.get("done"):
        return {**out, "error": "the study has not finished"}
    rel = sorted(releases, key=lambda r: r[0])
    mine = [(s, agg.model_copy(update={"tables": tuple(t for t in agg.tables
                                                        if t.name.startswith("cm:"))}))
            for s, agg in rel]
    pooled = combine_count_tables(mine)
    tables = pooled["tables"]
    n_strata = len(state["cuts"]) + 1
    out.update({
        "sites": pooled["sites"], "rounds": state["round"],
        "population": _population_summary(tables),
        "propensity_model": state["ps_result"],
        "ps_strata": {"requested": p.strata, "base_selection": "all", "strata": n_strata,
                      "cuts": state["cuts"], "breaks": state["breaks"],
                      "search_rounds": state["quantiles"]["rounds"],
                      "table": _strata_table(tables, n_strata)},
        "equipoise": ps_diagnostics.equipoise(_rows(tables, "cm:equipoise")),
        "unadjusted": _COX.combine(p.unadjusted_spec, [], state["cox_u"]),
        "stratified": _COX.combine(p.stratified_spec, [], state["cox_s"]),
        "tables": tables,
    })
    if p.balance:
        out["balance"] = ps_diagnostics.balance(p.covariates, rel)
    return out


# -- catalog entry ------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class CohortMethodAnalysis:
    """Target vs comparator: PS model, PS strata, unadjusted and PS-stratified Cox, all
    equal to the pooled computation."""

    kind: ClassVar[str] = KIND
    iterative: ClassVar[bool] = True

    def validate(self, spec: AnalysisSpec) -> None:
        cm_params(spec)

    def start(self, spec: AnalysisSpec) -> dict[str, Any]:
        return start_state(spec)

    def local(self, site: SiteContext, spec: AnalysisSpec) -> SiteAggregate:
        return local_release(site, spec)

    def step(self, spec: AnalysisSpec, state: dict[str, Any],
             releases: list[tuple[str, SiteAggregate]]) -> tuple[dict[str, Any], bool]:
        return step_state(spec, state, releases)

    def combine(self, spec: AnalysisSpec, releases: list[tuple[str, SiteAggregate]],
                state: dict[str, Any] | None = None) -> dict[str, Any]:
        return combine_result(spec, releases, state)
