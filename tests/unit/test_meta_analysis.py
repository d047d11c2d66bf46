"""Meta-analysis of per-site estimates: fixed effect, DerSimonian-Laird and REML.

Oracles: statsmodels' ``combine_effects`` (fixed effect, DL, Q), an independent REML
computation (scipy's bounded minimiser on the restricted log-likelihood written out here),
and metafor's published results for the BCG vaccine trials (``dat.bcg``, log risk ratios).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize, stats
from statsmodels.stats.meta_analysis import combine_effects

from behindglass.analyses.meta import meta_analysis, tau2_dl, tau2_reml

# dat.bcg: tpos, tneg, cpos, cneg of the 13 trials
BCG = np.array([
    [4, 119, 11, 128], [6, 300, 29, 274], [3, 228, 11, 209], [62, 13536, 248, 12619],
    [33, 5036, 47, 5761], [180, 1361, 372, 1079], [8, 2537, 10, 619],
    [505, 87886, 499, 87892], [29, 7470, 45, 7232], [17, 1699, 65, 1600],
    [186, 50448, 141, 27197], [5, 2493, 3, 2338], [27, 16886, 29, 17825]], dtype=float)


def bcg() -> tuple[np.ndarray, np.ndarray]:
    a, b, c, d = BCG.T
    y = np.log((a / (a + b)) / (c / (c + d)))
    v = 1 / a - 1 / (a + b) + 1 / c - 1 / (c + d)
    return y, v


def heterogeneous(k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    v = rng.uniform(0.01, 0.2, k)
    y = 0.3 + rng.normal(0, 0.6, k) + rng.normal(0, np.sqrt(v))
    return y, v


def reml_reference(y: np.ndarray, v: np.ndarray) -> float:
    """Maximise the restricted likelihood over tau2 >= 0 by a bounded scalar search."""

    def negative(t: float) -> float:
        w = 1 / (v + t)
        mu = (w @ y) / w.sum()
        return 0.5 * (np.log(v + t).sum() + np.log(w.sum()) + (w * (y - mu) ** 2).sum())

    upper = 10 * (np.var(y) + v.max())
    res = optimize.minimize_scalar(negative, bounds=(0, upper), method="bounded",
                                   options={"xatol": 1e-14})
    # the bounded search never lands exactly on the boundary
    return 0.0 if negative(0.0) <= res.fun else float(res.x)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_fixed_and_dl_equal_statsmodels(seed: int) -> None:
    y, v = heterogeneous(8, seed)
    out = meta_analysis(y, v)
    ref = combine_effects(y, v, method_re="dl")
    assert ref.tau2 > 0  # heterogeneous: statsmodels' untruncated DL is the estimate
    assert out["fixed"]["estimate"] == pytest.approx(ref.mean_effect_fe, rel=1e-12)
    assert out["fixed"]["se"] == pytest.approx(ref.sd_eff_w_fe, rel=1e-12)
    assert out["random_dl"]["estimate"] == pytest.approx(ref.mean_effect_re, rel=1e-12)
    assert out["random_dl"]["se"] == pytest.approx(ref.sd_eff_w_re, rel=1e-12)
    assert out["random_dl"]["tau2"] == pytest.approx(ref.tau2, rel=1e-12)
    assert out["q"] == pytest.approx(ref.q, rel=1e-12)
    assert out["i2"] == pytest.approx(100 * ref.i2, rel=1e-12)
    ci_fe, ci_re = ref.conf_int(use_t=False)[:2]  # (lower, upper) of fe, re, ...
    assert out["fixed"]["ci_lower"] == pytest.approx(ci_fe[0], rel=1e-12)
    assert out["fixed"]["ci_upper"] == pytest.approx(ci_fe[1], rel=1e-12)
    assert out["random_dl"]["ci_lower"] == pytest.approx(ci_re[0], rel=1e-12)
    assert out["random_dl"]["ci_upper"] == pytest.approx(ci_re[1], rel=1e-12)
    assert out["q_p_value"] == pytest.approx(stats.chi2.sf(ref.q, 7), rel=1e-12)


@pytest.mark.filterwarnings("ignore:invalid value encountered in sqrt")  # statsmodels, tau2 < 0
def test_dl_is_truncated_at_zero() -> None:
    y = np.array([0.10, 0.11, 0.09, 0.10])
    v = np.array([0.05, 0.04, 0.06, 0.05])
    ref = combine_effects(y, v, method_re="dl")
    assert ref.tau2 < 0
    out = meta_analysis(y, v)
    assert out["random_dl"]["tau2"] == 0.0 and out["i2"] == 0.0
    assert out["random_dl"]["estimate"] == pytest.approx(ref.mean_effect_fe, rel=1e-12)
    assert out["random_reml"]["tau2"] == 0.0 == reml_reference(y, v)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_reml_equals_independent_maximisation(seed: int) -> None:
    y, v = heterogeneous(6 + seed, seed)
    tau2, iterations, converged = tau2_reml(y, v)
    assert converged and iterations >= 1
    assert tau2 == pytest.approx(reml_reference(y, v), rel=1e-7, abs=1e-10)
    out = meta_analysis(y, v)
    w = 1 / (v + tau2)
    assert out["random_reml"]["estimate"] == pytest.approx((w @ y) / w.sum(), rel=1e-12)
    assert out["random_reml"]["se"] == pytest.approx(1 / math.sqrt(w.sum()), rel=1e-12)


def test_bcg_matches_metafor() -> None:
    """metafor: rma(yi, vi, data = escalc("RR", ...dat.bcg), method = "REML" / "DL")."""
    y, v = bcg()
    out = meta_analysis(y, v)
    reml = out["random_reml"]
    assert reml["tau2"] == pytest.approx(0.3132, abs=5e-5)
    assert reml["estimate"] == pytest.approx(-0.7145, abs=5e-5)
    assert reml["se"] == pytest.approx(0.1798, abs=5e-5)
    assert out["random_dl"]["tau2"] == pytest.approx(0.3088, abs=5e-5)
    assert out["random_dl"]["estimate"] == pytest.approx(-0.7141, abs=5e-5)
    assert out["q"] == pytest.approx(152.2330, abs=5e-4)
    assert reml["tau2"] == pytest.approx(reml_reference(y, v), rel=1e-7)


def test_single_site() -> None:
    out = meta_analysis([0.5], [0.04], labels=["a"])
    assert out["k"] == 1 and out["q"] == 0.0 and out["q_p_value"] is None
    assert out["fixed"]["estimate"] == out["random_reml"]["estimate"] == 0.5
    assert out["fixed"]["se"] == pytest.approx(0.2)
    assert out["fixed"]["ci_lower"] == pytest.approx(0.5 - 1.959963984540054 * 0.2)
    assert out["sites"][0]["site"] == "a" and out["sites"][0]["weight_fixed"] == 1.0
    assert tau2_dl([0.5], [0.04]) == 0.0


def test_weights_and_alpha() -> None:
    y, v = heterogeneous(5, 9)
    out = meta_analysis(y, v, alpha=0.1, labels=list("abcde"))
    for key in ("weight_fixed", "weight_dl", "weight_reml"):
        assert sum(s[key] for s in out["sites"]) == pytest.approx(1.0)
    f = out["fixed"]
    half = stats.norm.ppf(0.95) * f["se"]
    assert f["ci_upper"] - f["estimate"] == pytest.approx(half)
    assert f["p"] == pytest.approx(2 * stats.norm.sf(abs(f["estimate"] / f["se"])))


@pytest.mark.parametrize(("y", "v"), [([], []), ([1.0], [0.0]), ([1.0, 2.0], [0.1]),
                                      ([float("nan")], [0.1])])
def test_rejects_bad_input(y: list[float], v: list[float]) -> None:
    with pytest.raises(ValueError, match="meta-analysis"):
        meta_analysis(y, v)
