"""Cox proportional hazards, fitted exactly across sites by distributed Newton-Raphson.

The log partial likelihood of a Cox model, its score and its information are sums over the
distinct event times ``t`` of each stratum of functions of risk-set sums::

    S0(t) = sum exp(x b),  S1(t) = sum x exp(x b),  S2(t) = sum x x' exp(x b)

over the persons still at risk at ``t`` (time >= t), plus, for Efron's handling of ties, the
same sums over the persons with an event at ``t``, the number of events ``d(t)`` and the sum
of ``x`` over them. Every one of these adds up across sites, so a hub that knows them per
stratum and event time computes the pooled model's likelihood exactly.

Rounds (hub state ``phase``):

* ``times``: each site releases, per stratum, its distinct event days, its number of
  persons and the sum of each covariate; the hub takes the union of the event days and the
  pooled covariate means (covariates are centred on them, which leaves the partial
  likelihood unchanged and keeps ``exp(x b)`` in range).
* ``fit``: given ``beta``, each site releases per stratum and union event day the sums
  above; the hub computes the pooled log partial likelihood, score and information and
  takes a Newton step, halving it while the likelihood falls (as R's ``coxph``). It stops
  when no coefficient moves by more than ``tol``; the estimates, standard errors and
  likelihood are those of the last evaluated ``beta``.

With ``strata = "site"`` each site is its own stratum and uses its own event days; with a
column name, sums are per value of that column and never across values.

At convergence the hub also computes the Grambsch-Therneau test of proportional hazards
(R's ``cox.zph``): the score test, at the fitted ``beta``, for adding ``x * g(t)`` to the
model, with ``g`` the event time (``identity``) or its rank among the events (``rank``).
It needs only the per-time sums the sites released at the final ``beta``.

Disclosure rules at the site (refused with :class:`DisclosureError`, naming the rule):
fewer than ``min_cell`` persons, or 1 to ``min_cell - 1`` events (a site with no events at
all only adds risk-set sums and is allowed); a binary covariate level, or a stratum, held
by 1 to ``min_cell - 1`` persons; more than :data:`MAX_PARAMS_PER_OBS` parameters per
person. The residual risks of the
per-time release are set out in ``docs/models.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy.stats import chi2, norm

from behindglass.analyses.meta import meta_analysis
from behindglass.analyses.params import check_keys, one_outcome, population_param
from behindglass.analyses.stats_blocks import array as _array
from behindglass.analyses.stats_blocks import block as _block
from behindglass.core.aggregates import SiteAggregate, StatsBlock
from behindglass.core.errors import DisclosureError, SpecError
from behindglass.core.policy import DEFAULT_MAX_PARAM_RATIO
from behindglass.core.population import PopulationSettings
from behindglass.core.sitedata import SiteContext
from behindglass.core.study import AnalysisSpec

KIND = "cox"
TIES = ("efron", "breslow")
PH_TRANSFORMS = ("rank", "identity")
# refuse a site with more parameters per person than this (the policy's default)
MAX_PARAMS_PER_OBS = DEFAULT_MAX_PARAM_RATIO
MAX_COVARIATES = 50
MAX_ITER_LIMIT = 200
MAX_HALVINGS = 30
MAX_BIN_DAYS = 3650
RESERVED = ("time_at_risk", "event", "survival_time", "outcome_count")
PARAMS = {"covariates", "ties", "strata", "population", "max_iter", "tol", "time_bin_days",
          "alpha", "ph_test", "meta"}
ALL = "all"  # the stratum key when the model is not stratified
SYMMETRIC = ("s2", "s2d")  # released as upper triangles


# -- parameters ---------------------------------------------------------------------------
@dataclass(frozen=True)
class CoxParams:
    covariates: tuple[str, ...]
    ties: str
    strata: str | None
    population: dict[str, Any]
    max_iter: int
    tol: float
    time_bin_days: int
    alpha: float
    ph_test: str | None
    meta: bool = False


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def cox_params(spec: AnalysisSpec) -> CoxParams:
    """The request's parameters, checked, with defaults filled in."""
    p = spec.params
    check_keys(spec, PARAMS)
    one_outcome(spec, "cox")
    cov = p.get("covariates", ["treatment"])
    if (not isinstance(cov, list | tuple) or not 1 <= len(cov) <= MAX_COVARIATES
            or not all(isinstance(c, str) and c for c in cov)):
        raise SpecError(f"{spec.name}: cox parameter 'covariates' must be a list of 1 to "
                        f"{MAX_COVARIATES} column names, got {cov!r}")
    if len(set(cov)) != len(cov):
        raise SpecError(f"{spec.name}: cox parameter 'covariates' repeats a column")
    bad = [c for c in cov if c in RESERVED]
    if bad:
        raise SpecError(f"{spec.name}: cox parameter 'covariates' names outcome columns {bad}")
    ties = p.get("ties", "efron")
    if ties not in TIES:
        raise SpecError(f"{spec.name}: cox parameter 'ties' must be one of {list(TIES)}, "
                        f"got {ties!r}")
    strata = p.get("strata")
    if strata is not None and (not isinstance(strata, str) or not strata
                               or strata in RESERVED or strata in cov):
        raise SpecError(f"{spec.name}: cox parameter 'strata' must be null, 'site' or a "
                        f"column that is not a covariate or outcome column, got {strata!r}")
    population_param(spec)
    pop = p.get("population") or {}
    max_iter = p.get("max_iter", 30)
    if not _is_int(max_iter) or not 1 <= max_iter <= MAX_ITER_LIMIT:
        raise SpecError(f"{spec.name}: cox parameter 'max_iter' must be an integer from 1 "
                        f"to {MAX_ITER_LIMIT}, got {max_iter!r}")
    tol = p.get("tol", 1e-9)
    if not _is_num(tol) or not 0 < tol < 1:
        raise SpecError(f"{spec.name}: cox parameter 'tol' must be a number strictly between "
                        f"0 and 1, got {tol!r}")
    binw = p.get("time_bin_days", 1)
    if not _is_int(binw) or not 1 <= binw <= MAX_BIN_DAYS:
        raise SpecError(f"{spec.name}: cox parameter 'time_bin_days' must be an integer from "
                        f"1 to {MAX_BIN_DAYS}, got {binw!r}")
    alpha = p.get("alpha", 0.05)
    if not _is_num(alpha) or not 0 < alpha < 1:
        raise SpecError(f"{spec.name}: cox parameter 'alpha' must be a number strictly "
                        f"between 0 and 1, got {alpha!r}")
    ph = p.get("ph_test", "rank")
    if ph is not None and ph not in PH_TRANSFORMS:
        raise SpecError(f"{spec.name}: cox parameter 'ph_test' must be null or one of "
                        f"{list(PH_TRANSFORMS)}, got {ph!r}")
    meta = p.get("meta", False)
    if not isinstance(meta, bool):
        raise SpecError(f"{spec.name}: cox parameter 'meta' must be true or false, "
                        f"got {meta!r}")
    return CoxParams(covariates=tuple(cov), ties=ties, strata=strata, population=dict(pop),
                     max_iter=max_iter, tol=float(tol), time_bin_days=binw,
                     alpha=float(alpha), ph_test=ph, meta=meta)


# -- site half ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Stratum:
    time: np.ndarray  # int64, binned survival time
    event: np.ndarray  # bool
    x: np.ndarray  # float64 (n, p), uncentred


def _by_time(time: np.ndarray, event: np.ndarray, x: np.ndarray) -> _Stratum:
    """A stratum with its rows in time order, once: every round then adds up runs of
    consecutive rows instead of sorting again."""
    order = np.argsort(time, kind="stable")
    return _Stratum(time[order], event[order], np.ascontiguousarray(x[order]))


def _stratum_key(value: Any) -> str:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _check_frame(spec: AnalysisSpec, p: CoxParams, frame: pd.DataFrame, min_cell: int,
                 max_ratio: float = MAX_PARAMS_PER_OBS) -> None:
    """The disclosure rules; messages name the rule, never a value or a count."""
    events = int(frame["event"].sum())
    if 0 < events < min_cell:
        raise DisclosureError(f"{spec.name}: fewer than {min_cell} events at this site "
                              "(minimum events rule); refused")
    n = len(frame)
    if n < min_cell:
        raise DisclosureError(f"{spec.name}: fewer than {min_cell} persons at this site "
                              "(minimum cell rule); refused")
    if len(p.covariates) / n > max_ratio:
        raise DisclosureError(f"{spec.name}: more than {max_ratio:g} parameters per "
                              "person at this site (parameters per observation rule); refused")
    for col in p.covariates:
        values = frame[col]
        if values.isin((0, 1)).all():
            for level in (0, 1):
                k = int((values == level).sum())
                if 0 < k < min_cell:
                    raise DisclosureError(
                        f"{spec.name}: a level of binary covariate {col!r} has fewer than "
                        f"{min_cell} persons at this site (minimum cell rule); refused")
    if p.strata is not None and p.strata != "site":
        sizes = frame[p.strata].value_counts()
        if ((sizes > 0) & (sizes < min_cell)).any():
            raise DisclosureError(f"{spec.name}: a stratum of {p.strata!r} has fewer than "
                                  f"{min_cell} persons at this site (minimum cell rule); "
                                  "refused")


def _prepare(site: SiteContext, spec: AnalysisSpec, p: CoxParams) -> dict[str, _Stratum]:
    settings = PopulationSettings.from_dict(p.population)
    comparator = site.cohort(spec.comparator) if spec.comparator else None
    frame = site.data.population(site.cohort(spec.cohort), comparator,
                                 site.cohort(spec.outcomes[0]), settings)
    needed = ["survival_time", "event", *p.covariates]
    if p.strata not in (None, "site"):
        needed.append(p.strata)
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise SpecError(f"{spec.name}: the analysis data set has no column(s) {missing}")
    for col in needed:
        if not pd.api.types.is_numeric_dtype(frame[col]) or frame[col].isna().any():
            raise SpecError(f"{spec.name}: column {col!r} of the analysis data set must be "
                            "numeric with no missing values")
    _check_frame(spec, p, frame, site.policy.min_cell, site.policy.max_param_ratio)
    # binned times: day t falls in bin ceil(t / w), reported as its last day
    days = frame["survival_time"].to_numpy(dtype=np.int64)
    w = p.time_bin_days
    time = -((-days) // w) * w
    event = frame["event"].to_numpy() > 0
    x = frame[list(p.covariates)].to_numpy(dtype=np.float64)
    if p.strata in (None, "site"):
        key = ALL if p.strata is None else "site"
        return {key: _by_time(time, event, x)}
    labels = frame[p.strata].to_numpy()
    out = {}
    for value in pd.unique(labels):
        rows = labels == value
        out[_stratum_key(value)] = _by_time(time[rows], event[rows], x[rows])
    return out


def _sums_by_time(at: np.ndarray, k: int, w: np.ndarray, x: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per time index ``at`` (0..k-1): sums of w, w x and w x x' over the rows of ``x``.

    Rows sorted by time, then one matrix product per time for the cross-products: no
    (n, p, p) array, no ``ufunc.at`` (an order of magnitude slower), no Python loop over
    pairs of columns."""
    p = x.shape[1]
    b0, b1, b2 = np.zeros(k), np.zeros((k, p)), np.zeros((k, p, p))
    if np.any(at[1:] < at[:-1]):  # rows not in time order yet
        order = np.argsort(at, kind="stable")
        at, x, w = at[order], x[order], w[order]
    wx = x * w[:, None]
    bounds = np.searchsorted(at, np.arange(k + 1))
    for t in np.flatnonzero(np.diff(bounds)):
        lo, hi = bounds[t], bounds[t + 1]
        b0[t] = w[lo:hi].sum()
        b1[t] = wx[lo:hi].sum(axis=0)
        b2[t] = x[lo:hi].T @ wx[lo:hi]
    return b0, b1, b2


def _risk_sums(s: _Stratum, times: np.ndarray, beta: np.ndarray, center: np.ndarray,
               efron: bool) -> list[tuple[str, np.ndarray]]:
    """Per event time: d, sum x over events, S0, S1, S2 (and event-set sums for Efron)."""
    k = len(times)
    xc = s.x - center
    w = np.exp(xc @ beta)
    # a person is at risk at every event time up to their own time: add each person to
    # the last event time they reach, then sum from the end
    last = np.searchsorted(times, s.time, side="right") - 1
    keep = last >= 0
    b0, b1, b2 = _sums_by_time(last[keep], k, w[keep], xc[keep])
    s0 = np.cumsum(b0[::-1])[::-1]
    s1 = np.cumsum(b1[::-1], axis=0)[::-1]
    s2 = np.cumsum(b2[::-1], axis=0)[::-1]
    ev = s.event & np.isin(s.time, times)
    at = np.searchsorted(times, s.time[ev])
    d = np.bincount(at, minlength=k).astype(np.float64)
    xd = np.zeros((k, len(beta)))
    for i, col in enumerate(xc[ev].T):
        xd[:, i] = np.bincount(at, weights=col, minlength=k)
    out = [("d", d), ("xd", xd), ("s0", s0), ("s1", s1), ("s2", s2)]
    if efron:
        e0, e1, e2 = _sums_by_time(at, k, w[ev], xc[ev])
        out += [("s0d", e0), ("s1d", e1), ("s2d", e2)]
    return out


def _pack(a: np.ndarray) -> np.ndarray:
    """Per time, the upper triangle of a symmetric (p, p) matrix: half the bytes."""
    rows, cols = np.triu_indices(a.shape[1])
    return a[:, rows, cols]


def _unpack(a: np.ndarray, p: int) -> np.ndarray:
    rows, cols = np.triu_indices(p)
    if a.ndim != 2 or a.shape[1] != len(rows):
        raise SpecError(f"cox: a site released packed sums of shape {a.shape}, expected "
                        f"(times, {len(rows)}) for {p} covariates")
    out = np.empty((a.shape[0], p, p))
    out[:, rows, cols] = a
    out[:, cols, rows] = a
    return out


def _site_release(site: SiteContext, spec: AnalysisSpec, p: CoxParams) -> SiteAggregate:
    state = site.state
    if state is None or "phase" not in state:
        raise SpecError(f"{spec.name}: cox is fitted over several rounds and needs the hub's "
                        "state for this round")
    if "strata" not in site.cache:
        site.cache["strata"] = _prepare(site, spec, p)
    strata: dict[str, _Stratum] = site.cache["strata"]
    blocks = _blocks(p, strata, state)
    notes: tuple[str, ...] = ()
    if p.meta and state["phase"] == "times":
        fit = _own_fit(spec, p, strata)
        if isinstance(fit, str):
            notes = (f"meta: this site's own fit is not estimable ({fit})",)
        else:
            blocks += [_block("meta_coef", fit[0]), _block("meta_cov", fit[1])]
    return SiteAggregate(analysis=spec.name, kind=KIND, stats=tuple(blocks), notes=notes)


def _own_fit(spec: AnalysisSpec, p: CoxParams, strata: dict[str, _Stratum]
             ) -> tuple[np.ndarray, np.ndarray] | str:
    """This site's model on its own rows, for meta-analysis: the hub's own Newton steps,
    run here on this site's sums alone (so it is the same estimator); the reason when it
    is not estimable."""
    if not any(s.event.any() for s in strata.values()):
        return "no events at this site"
    # only the coefficients are wanted: no PH test and no meta-analysis of this one site
    spec = spec.model_copy(update={"params": {**spec.params, "meta": False, "ph_test": None}})
    state = cox_start(spec)
    for _ in range(p.max_iter * (MAX_HALVINGS + 1) + 2):
        agg = SiteAggregate(analysis=spec.name, kind=KIND, stats=tuple(_blocks(p, strata,
                                                                                 state)))
        state, done = cox_step(spec, state, [("site", agg)])
        if done:
            break
    if "fit" not in state or not state["fit"]["converged"]:
        return str(state.get("error") or "its Newton steps did not converge")
    beta = np.array([r["coef"] for r in state["fit"]["coefficients"]])
    return beta, np.asarray(state["fit"]["covariance"])


def _blocks(p: CoxParams, strata: dict[str, _Stratum], state: dict[str, Any]
            ) -> list[StatsBlock]:
    """The statistics of one round (the hub's ``state``) from this site's strata."""
    blocks: list[StatsBlock] = []
    if state["phase"] == "times":
        n = sum(len(s.time) for s in strata.values())
        xsum = sum((s.x.sum(axis=0) for s in strata.values()), np.zeros(len(p.covariates)))
        blocks += [_block("n", np.asarray(float(n))), _block("xsum", xsum)]
        for key, s in strata.items():
            blocks.append(_block(f"times:{key}", np.unique(s.time[s.event])))
    else:
        beta = np.asarray(state["beta"], dtype=np.float64)
        center = np.asarray(state["center"], dtype=np.float64)
        shared = state.get("times") or {}
        for key, s in strata.items():
            if p.strata == "site":
                times = np.unique(s.time[s.event])
            elif key in shared:
                times = np.asarray(shared[key], dtype=np.int64)
            else:
                continue  # a stratum with no event anywhere adds nothing
            if len(times) == 0:
                continue
            blocks.append(_block(f"t:{key}", times))
            for name, a in _risk_sums(s, times, beta, center, p.ties == "efron"):
                blocks.append(_block(f"{name}:{key}", _pack(a) if name in SYMMETRIC else a))
    return blocks


# -- hub half -----------------------------------------------------------------------------
def _pool(p: CoxParams, releases: list[tuple[str, SiteAggregate]]
          ) -> dict[str, dict[str, np.ndarray]]:
    """Per stratum: the per-time sums added over sites (a site's own stratum with 'site')."""
    pooled: dict[str, dict[str, np.ndarray]] = {}
    for site, agg in releases:
        for b in agg.stats:
            name, _, key = b.name.partition(":")
            if not key:
                continue
            skey = site if p.strata == "site" else key
            arrays = pooled.setdefault(skey, {})
            a = _array(b)
            if name == "t":
                if "t" in arrays and not np.array_equal(arrays["t"], a):
                    raise SpecError("cox: sites released sums at different event times")
                arrays["t"] = a
            else:
                if name in SYMMETRIC:
                    a = _unpack(a, len(p.covariates))
                arrays[name] = arrays[name] + a if name in arrays else a
    return pooled


def _per_time(arrays: dict[str, np.ndarray], efron: bool
              ) -> tuple[float, np.ndarray, np.ndarray]:
    """Log partial likelihood contributions: total, per-time score (k, p) and per-time
    information (k, p, p) of one stratum, at the beta the sums were computed at (the
    linear predictor part ``sum x b`` over events is added by the caller)."""
    d, s0, s1, s2 = arrays["d"], arrays["s0"], arrays["s1"], arrays["s2"]
    xd = arrays["xd"]
    k = len(d)
    if not efron:
        m = s1 / s0[:, None]
        ll = -float(np.sum(d * np.log(s0)))
        score = xd - d[:, None] * m
        info = d[:, None, None] * (s2 / s0[:, None, None] - m[:, :, None] * m[:, None, :])
        return ll, score, info
    # Efron: the l-th of the d tied events (l = 0..d-1) sees the risk set less the share
    # f = l / d of the tied set. Every term is linear in S or S' S'' products with
    # per-time weights that depend on the denominators only, so the sums over l are
    # per-time scalars (no array per event):
    #   a = sum 1/den, b = sum f/den, c_j = sum f^j / den^2 (j = 0, 1, 2)
    di = np.rint(d).astype(np.int64)
    rep = np.repeat(np.arange(k), di)
    f = (np.arange(len(rep)) - np.repeat(np.cumsum(di) - di, di)) / di[rep]
    den = s0[rep] - f * arrays["s0d"][rep]
    ll = -float(np.sum(np.log(den)))

    def per_time(weights: np.ndarray) -> np.ndarray:
        return np.bincount(rep, weights=weights, minlength=k)

    a, b = per_time(1 / den), per_time(f / den)
    c0, c1, c2 = per_time(den ** -2), per_time(f / den ** 2), per_time(f * f / den ** 2)
    s1d, s2d = arrays["s1d"], arrays["s2d"]
    score = xd - (a[:, None] * s1 - b[:, None] * s1d)
    outer = s1[:, :, None] * s1d[:, None, :]
    info = (a[:, None, None] * s2 - b[:, None, None] * s2d
            - c0[:, None, None] * (s1[:, :, None] * s1[:, None, :])
            + c1[:, None, None] * (outer + outer.transpose(0, 2, 1))
            - c2[:, None, None] * (s1d[:, :, None] * s1d[:, None, :]))
    return ll, score, info


@dataclass
class _Eval:
    loglik: float
    score: np.ndarray
    info: np.ndarray
    times: list[np.ndarray]
    d: list[np.ndarray]
    u_t: list[np.ndarray]
    i_t: list[np.ndarray]


def _evaluate(p: CoxParams, beta: np.ndarray, releases: list[tuple[str, SiteAggregate]]
              ) -> _Eval:
    pooled = _pool(p, releases)
    n = len(beta)
    ev = _Eval(0.0, np.zeros(n), np.zeros((n, n)), [], [], [], [])
    for key in sorted(pooled):
        arrays = pooled[key]
        ll, u_t, i_t = _per_time(arrays, p.ties == "efron")
        ev.loglik += ll + float(np.sum(arrays["xd"] @ beta))
        ev.score += u_t.sum(axis=0)
        ev.info += i_t.sum(axis=0)
        ev.times.append(arrays["t"])
        ev.d.append(arrays["d"])
        ev.u_t.append(u_t)
        ev.i_t.append(i_t)
    return ev


def ph_test(ev: _Eval, transform: str) -> dict[str, Any]:
    """Grambsch-Therneau score test (``cox.zph``) for ``x * g(t)`` at the fitted beta."""
    if transform == "identity":
        gs = [t.astype(np.float64) for t in ev.times]
    else:  # average rank of each event time among all events, all strata together
        t_all = np.concatenate(ev.times)
        d_all = np.concatenate(ev.d)
        order = np.argsort(t_all, kind="stable")
        ts, ds = t_all[order], d_all[order]
        uniq, inv = np.unique(ts, return_inverse=True)
        per = np.zeros(len(uniq))
        np.add.at(per, inv, ds)
        below = np.cumsum(per) - per
        rank_of = below + (per + 1) / 2
        gs = [rank_of[np.searchsorted(uniq, t)] for t in ev.times]
    g_mean = float(sum(np.sum(g * d) for g, d in zip(gs, ev.d, strict=True))
                   / sum(np.sum(d) for d in ev.d))
    p = ev.score.shape[0]
    u = np.zeros(2 * p)
    imat = np.zeros((2 * p, 2 * p))
    for g0, u_t, i_t in zip(gs, ev.u_t, ev.i_t, strict=True):
        g = g0 - g_mean
        u[:p] += u_t.sum(axis=0)
        u[p:] += g @ u_t
        imat[:p, :p] += i_t.sum(axis=0)
        cross = np.tensordot(g, i_t, axes=1)
        imat[:p, p:] += cross
        imat[p:, :p] += cross
        imat[p:, p:] += np.tensordot(g * g, i_t, axes=1)
    per_cov = []
    for i in range(p):
        jj = [i, i + p]
        stat = float(u[jj] @ np.linalg.solve(imat[np.ix_(jj, jj)], u[jj]))
        per_cov.append({"chisq": stat, "df": 1, "p": float(chi2.sf(stat, 1))})
    glob = float(u @ np.linalg.solve(imat, u))
    return {"transform": transform, "covariates": per_cov,
            "global": {"chisq": glob, "df": p, "p": float(chi2.sf(glob, p))}}


def _finish(p: CoxParams, state: dict[str, Any], ev: _Eval, beta: np.ndarray,
            converged: bool, iterations: int) -> dict[str, Any]:
    try:
        cov = np.linalg.inv(ev.info)
    except np.linalg.LinAlgError:
        return {**state, "phase": "done", "error": "the information matrix is singular "
                "(a covariate is constant or collinear in the pooled data)"}
    se = np.sqrt(np.diag(cov))
    zq = float(norm.ppf(1 - p.alpha / 2))
    rows = []
    for i, name in enumerate(p.covariates):
        z = beta[i] / se[i]
        rows.append({
            "covariate": name, "coef": float(beta[i]), "se": float(se[i]), "z": float(z),
            "p": float(2 * norm.sf(abs(z))), "hazard_ratio": float(math.exp(beta[i])),
            "ci_lower": float(math.exp(beta[i] - zq * se[i])),
            "ci_upper": float(math.exp(beta[i] + zq * se[i])),
        })
    lr = 2 * (ev.loglik - state["loglik0"])
    fit: dict[str, Any] = {
        "coefficients": rows, "covariance": cov.tolist(), "loglik": ev.loglik,
        "loglik_null": state["loglik0"],
        "lr_test": {"chisq": lr, "df": len(beta), "p": float(chi2.sf(lr, len(beta)))},
        "events": round(sum(float(np.sum(d)) for d in ev.d)),
        "persons": state["persons"], "iterations": iterations, "converged": converged,
        "strata": len(ev.times),
    }
    if p.ph_test is not None:
        try:
            fit["ph_test"] = ph_test(ev, p.ph_test)
        except np.linalg.LinAlgError:
            fit["ph_test"] = None
    if p.meta:
        fit["meta"] = _meta(p, state)
    return {**state, "phase": "done", "fit": fit}


def _meta_fits(releases: list[tuple[str, SiteAggregate]]) -> dict[str, Any]:
    fits = {}
    for site, agg in releases:
        names = {b.name for b in agg.stats}
        if {"meta_coef", "meta_cov"} <= names:
            fits[site] = {"coef": list(agg.block("meta_coef").values),
                          "cov": _array(agg.block("meta_cov")).tolist()}
    return fits


def _meta(p: CoxParams, state: dict[str, Any]) -> dict[str, Any]:
    """Per covariate, the fixed- and random-effects summaries of the sites' own fits."""
    fits = state.get("meta_fits") or {}
    sites = sorted(fits)
    out: dict[str, Any] = {"sites": sites,
                           "not_estimable": sorted(set(state["sites"]) - set(fits)),
                           "coefficients": {}}
    for j, name in enumerate(p.covariates):
        if sites:
            out["coefficients"][name] = meta_analysis(
                [fits[s]["coef"][j] for s in sites], [fits[s]["cov"][j][j] for s in sites],
                alpha=p.alpha, labels=sites)
    return out


def cox_start(spec: AnalysisSpec) -> dict[str, Any]:
    cox_params(spec)
    return {"phase": "times"}


def cox_step(spec: AnalysisSpec, state: dict[str, Any],
             releases: list[tuple[str, SiteAggregate]]) -> tuple[dict[str, Any], bool]:
    """One hub round: the next state, and whether the fit is finished."""
    p = cox_params(spec)
    sites = sorted(s for s, _ in releases)
    if state["phase"] == "times":
        if not releases:
            return {**state, "phase": "done", "error": "no site released anything"}, True
        n = sum(float(_array(a.block("n"))) for _, a in releases)
        xsum = sum(_array(a.block("xsum")) for _, a in releases)
        times: dict[str, list[int]] = {}
        for _, agg in releases:
            for b in agg.stats:
                name, _, key = b.name.partition(":")
                if name == "times":
                    times[key] = sorted(set(times.get(key, [])) | {int(v) for v in b.values})
        events_somewhere = any(times.values())
        if not events_somewhere:
            return {**state, "phase": "done", "error": "no events at any site"}, True
        nxt = {"phase": "fit", "sites": sites, "persons": round(n),
               **({"meta_fits": _meta_fits(releases)} if p.meta else {}),
               "center": (np.asarray(xsum) / n).tolist(),
               "beta": [0.0] * len(p.covariates), "best": None, "iter": 0, "halvings": 0}
        if p.strata != "site":
            nxt["times"] = {k: v for k, v in times.items() if v}
        return nxt, False
    if state["phase"] != "fit":
        return state, True
    if sites != state["sites"]:
        return {**state, "phase": "done", "error": "the sites that released changed between "
                "rounds, so no exact pooled fit is possible"}, True
    beta = np.asarray(state["beta"], dtype=np.float64)
    ev = _evaluate(p, beta, releases)
    best = state["best"]
    st = dict(state)
    if best is None:
        st["loglik0"] = ev.loglik
    # a fall within rounding of the best likelihood is no fall (near convergence)
    slack = 1e-10 * (1 + abs(best["loglik"])) if best is not None else 0.0
    if best is not None and not (math.isfinite(ev.loglik)
                                 and ev.loglik >= best["loglik"] - slack):
        # the step overshot: halve it towards the best beta so far
        if st["halvings"] >= MAX_HALVINGS:
            return {**st, "phase": "done", "error": "step halving did not improve the "
                    "partial likelihood"}, True
        st["halvings"] += 1
        st["beta"] = ((beta + np.asarray(best["beta"])) / 2).tolist()
        return st, False
    st["best"] = {"beta": beta.tolist(), "loglik": ev.loglik}
    st["halvings"] = 0
    try:
        step = np.linalg.solve(ev.info, ev.score)
    except np.linalg.LinAlgError:
        return {**st, "phase": "done", "error": "the information matrix is singular "
                "(a covariate is constant or collinear in the pooled data)"}, True
    if np.all(np.abs(step) <= p.tol):
        return _finish(p, st, ev, beta, True, st["iter"]), True
    if st["iter"] >= p.max_iter:
        return _finish(p, st, ev, beta, False, st["iter"]), True
    st["iter"] += 1
    st["beta"] = (beta + step).tolist()
    return st, False


@dataclass(frozen=True)
class CoxAnalysis:
    """Cox proportional hazards of an outcome in the target (vs comparator) population."""

    kind: ClassVar[str] = KIND
    iterative: ClassVar[bool] = True

    def validate(self, spec: AnalysisSpec) -> None:
        cox_params(spec)

    def start(self, spec: AnalysisSpec) -> dict[str, Any]:
        return cox_start(spec)

    def local(self, site: SiteContext, spec: AnalysisSpec) -> SiteAggregate:
        return _site_release(site, spec, cox_params(spec))

    def step(self, spec: AnalysisSpec, state: dict[str, Any],
             releases: list[tuple[str, SiteAggregate]]) -> tuple[dict[str, Any], bool]:
        return cox_step(spec, state, releases)

    def combine(self, spec: AnalysisSpec, releases: list[tuple[str, SiteAggregate]],
                state: dict[str, Any] | None = None) -> dict[str, Any]:
        p = cox_params(spec)
        out: dict[str, Any] = {
            "kind": KIND, "analysis": spec.name, "target": spec.cohort,
            "comparator": spec.comparator, "outcome": spec.outcomes[0],
            "covariates": list(p.covariates), "ties": p.ties, "strata": p.strata,
            "time_bin_days": p.time_bin_days, "alpha": p.alpha,
            "sites": (state or {}).get("sites", [s for s, _ in releases]),
        }
        if not state or state.get("phase") != "done":
            return {**out, "error": "the fit has not finished"}
        if "error" in state:
            return {**out, "error": state["error"]}
        return {**out, **state["fit"]}

