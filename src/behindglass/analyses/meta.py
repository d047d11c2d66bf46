"""Meta-analysis of per-site estimates: fixed effect and random effects (DL, REML).

Given one estimate ``y_i`` and its variance ``v_i`` per site:

* fixed effect (inverse variance): ``w_i = 1 / v_i``, ``mu = sum(w y) / sum(w)``,
  ``se = 1 / sqrt(sum(w))``;
* Cochran's ``Q = sum(w (y - mu)^2)`` on ``k - 1`` degrees of freedom, its p-value, and
  Higgins' ``I^2 = max(0, (Q - (k - 1)) / Q)`` in percent;
* random effects, ``w_i = 1 / (v_i + tau^2)``, with the between-site variance ``tau^2``
  estimated by DerSimonian-Laird (moments, closed form) and by REML (restricted maximum
  likelihood, Fisher scoring from the DL value, truncated at 0, as metafor's
  ``rma(method = "REML")``).

Intervals and p-values are normal (Wald), as metafor and statsmodels' ``combine_effects``
by default. Pure functions of numbers: no site data here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

REML_TOL = 1e-12
REML_MAX_ITER = 200


def _summary(estimate: float, se: float, alpha: float) -> dict[str, float]:
    q = float(stats.norm.ppf(1 - alpha / 2))
    z = estimate / se if se > 0 else math.nan
    return {"estimate": estimate, "se": se, "z": z,
            "p": float(2 * stats.norm.sf(abs(z))) if se > 0 else math.nan,
            "ci_lower": estimate - q * se, "ci_upper": estimate + q * se}


def _check(y: Sequence[float], v: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    ya = np.asarray(y, dtype=float)
    va = np.asarray(v, dtype=float)
    if ya.ndim != 1 or ya.shape != va.shape or len(ya) == 0:
        raise ValueError("meta-analysis needs one variance per estimate, at least one")
    if not (np.isfinite(ya).all() and np.isfinite(va).all()) or (va <= 0).any():
        raise ValueError("meta-analysis needs finite estimates and positive variances")
    return ya, va


def pooled(y: np.ndarray, v: np.ndarray, tau2: float) -> tuple[float, float]:
    """Inverse-variance weighted mean and its standard error, with ``tau2`` added."""
    w = 1.0 / (v + tau2)
    return float(np.sum(w * y) / np.sum(w)), float(1.0 / math.sqrt(np.sum(w)))


def cochran_q(y: np.ndarray, v: np.ndarray) -> float:
    mu, _ = pooled(y, v, 0.0)
    return float(np.sum((y - mu) ** 2 / v))


def tau2_dl(y: Sequence[float], v: Sequence[float]) -> float:
    """DerSimonian-Laird moment estimate of the between-site variance."""
    ya, va = _check(y, v)
    k = len(ya)
    if k < 2:
        return 0.0
    w = 1.0 / va
    c = float(np.sum(w) - np.sum(w ** 2) / np.sum(w))
    return max(0.0, (cochran_q(ya, va) - (k - 1)) / c)


def reml_loglik(tau2: float, y: np.ndarray, v: np.ndarray) -> float:
    """Restricted log-likelihood of ``tau2`` (up to a constant)."""
    w = 1.0 / (v + tau2)
    mu = np.sum(w * y) / np.sum(w)
    return float(-0.5 * (np.sum(np.log(v + tau2)) + math.log(np.sum(w))
                         + np.sum(w * (y - mu) ** 2)))


def tau2_reml(y: Sequence[float], v: Sequence[float], *, tol: float = REML_TOL,
              max_iter: int = REML_MAX_ITER) -> tuple[float, int, bool]:
    """REML estimate of the between-site variance by Fisher scoring (metafor's algorithm:
    start at the DL value, step ``score / information``, halve a step that leaves
    ``[0, inf)``, stop when the change is below ``tol``); (tau2, iterations, converged)."""
    ya, va = _check(y, v)
    if len(ya) < 2:
        return 0.0, 0, True
    tau2 = tau2_dl(ya, va)
    for it in range(1, max_iter + 1):
        w = 1.0 / (va + tau2)
        sw = np.sum(w)
        mu = np.sum(w * ya) / sw
        # P = W - w w' / sum(w); score = (y'PPy - tr P) / 2, information = tr(PP) / 2
        r = w * (ya - mu)  # P y
        tr_p = sw - np.sum(w ** 2) / sw
        tr_pp = np.sum(w ** 2) - 2 * np.sum(w ** 3) / sw + (np.sum(w ** 2) / sw) ** 2
        score = 0.5 * (np.sum(r ** 2) - tr_p)
        info = 0.5 * tr_pp
        delta = float(score / info)
        new = tau2 + delta
        while new < 0:
            delta /= 2
            new = tau2 + delta
            if abs(delta) < tol:
                new = 0.0
                break
        if abs(new - tau2) <= tol * max(1.0, tau2):
            return new, it, True
        tau2 = new
    return tau2, max_iter, False


def meta_analysis(estimates: Sequence[float], variances: Sequence[float], *,
                  alpha: float = 0.05, labels: Sequence[str] | None = None) -> dict[str, Any]:
    """Fixed-effect and random-effects (DL, REML) summaries of per-site estimates."""
    y, v = _check(estimates, variances)
    k = len(y)
    labels = list(labels) if labels is not None else [str(i) for i in range(k)]
    fe_est, fe_se = pooled(y, v, 0.0)
    q = cochran_q(y, v)
    df = k - 1
    i2 = max(0.0, (q - df) / q) * 100 if df > 0 and q > 0 else 0.0
    t_dl = tau2_dl(y, v)
    t_reml, iterations, converged = tau2_reml(y, v)
    dl = _summary(*pooled(y, v, t_dl), alpha)
    reml = _summary(*pooled(y, v, t_reml), alpha)
    w_fe = (1 / v) / np.sum(1 / v)
    w_dl = (1 / (v + t_dl)) / np.sum(1 / (v + t_dl))
    w_reml = (1 / (v + t_reml)) / np.sum(1 / (v + t_reml))
    return {
        "k": k, "alpha": alpha,
        "sites": [{"site": labels[i], "estimate": float(y[i]), "se": float(math.sqrt(v[i])),
                   "weight_fixed": float(w_fe[i]), "weight_dl": float(w_dl[i]),
                   "weight_reml": float(w_reml[i])} for i in range(k)],
        "fixed": _summary(fe_est, fe_se, alpha),
        "random_dl": {**dl, "tau2": t_dl, "tau": math.sqrt(t_dl)},
        "random_reml": {**reml, "tau2": t_reml, "tau": math.sqrt(t_reml),
                        "iterations": iterations, "converged": converged},
        "q": q, "df": df,
        "q_p_value": float(stats.chi2.sf(q, df)) if df > 0 else None,
        "i2": i2,
    }
