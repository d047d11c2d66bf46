"""Generalized linear models fitted exactly across sites by IRLS, plus per-site meta-analysis.

Families: ``binomial`` (logit link), ``poisson`` (log link, by default with offset
``log(time_at_risk)``) and ``gaussian`` (identity link). The federated fit runs the very
iterations of statsmodels' ``GLM(...).fit()`` (IRLS) on the pooled rows, so coefficients,
standard errors, deviance, log-likelihood and the number of iterations equal the pooled
fit's; no row leaves a site.

Rounds (the hub's ``state`` says which; every site gets the same state):

* ``summary`` (round 0): each site builds its analysis data set (``population``) once, keeps
  it in its cache, applies the disclosure rules below and releases ``glm:summary``
  (persons, sum of the outcome, its within-site sum of squares, and the pieces of the null
  deviance). With ``meta`` it also fits its own model alone and releases the coefficients
  and their covariance (``glm:meta_coef``, ``glm:meta_cov``). The hub pools the outcome
  mean, which statsmodels' IRLS starts from: ``mu0 = (y + mean(y)) / 2`` (binomial
  ``(y + 0.5) / 2``).
* ``irls`` iteration ``i`` (round ``i + 1``): the state holds the coefficients ``beta_i``
  (none at ``i = 0``: the site starts from ``mu0``). Each site releases, at its current
  ``mu``, the IRLS working sums ``X'WX`` (``glm:xtwx``) and ``X'Wz`` (``glm:xtwz``) of its own
  design ``[1 | covariates]``, its deviance, Pearson chi-square and log-likelihood
  (``glm:fit``), and again the previous iteration's sums (``glm:prev_xtwx``/``glm:prev_xtwz``).
  The hub adds the sums, checks convergence as statsmodels does (``|crit_i - crit_{i-1}|
  <= atol + tol * |crit_i|``, the criterion being the deviance divided by the scale: the
  deviance itself for binomial and Poisson), and either stops or sends ``beta_{i+1} =
  solve(sum X'WX, sum X'Wz)``.

Site fixed effects (``site_effects``): the pooled design is ``[site indicators |
covariates]``. A site still releases the sums of its own ``[1 | covariates]``; the hub
places the intercept row and column at the site's own indicator (sites in name order) and
sends only the common coefficients. A site recovers its own intercept from them and its
previous sums, ``alpha = (s_wz - s_wx . beta) / s_w`` (the first equation of the IRLS
system), so no site needs to know its name or position; the hub computes the same
intercepts the same way.

The covariance is ``scale * inverse(sum X'WX)`` at the last iteration's weights, as
statsmodels' (and R's) IRLS gives; ``scale`` is 1 for binomial and Poisson and Pearson
chi-square / residual df for gaussian. Tests are Wald ``z`` (``t`` on the residual df for
gaussian, as R's ``glm``). The null deviance is the intercept-only model's (with the
offset), in closed form from the round-0 sums.

Disclosure rules applied at the site before anything is released (refusals are
:class:`DisclosureError` naming the rule, never a value): at least ``min_cell`` persons;
for binomial, 0 or at least ``min_cell`` persons with the outcome and 0 or at least
``min_cell`` without; for Poisson, 0 or at least ``min_cell`` persons with an outcome;
for every 0/1 covariate, 0 or at least ``min_cell`` persons at each level (the k-pattern
rule: a level with 1 to ``min_cell - 1`` persons would let their rows be read off the
sums); at most :data:`MAX_PARAM_RATIO` parameters per person (the site policy's
``max_param_ratio``, 0.33 by default). A zero is allowed: sums over a level no one is in
hold nobody's data, and a site with no events contributes to the pooled fit as it must.
Every released sum is then over at least ``min_cell`` persons.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import numpy as np
from scipy import linalg, special, stats

from behindglass.analyses.meta import meta_analysis
from behindglass.analyses.params import check_keys, one_outcome, population_param
from behindglass.analyses.stats_blocks import array
from behindglass.analyses.stats_blocks import block as _block
from behindglass.core.aggregates import Cell, CountTable, SiteAggregate
from behindglass.core.errors import BehindGlassError, DisclosureError, SpecError
from behindglass.core.policy import DEFAULT_MAX_PARAM_RATIO
from behindglass.core.population import DEMOGRAPHIC_COLUMNS, PopulationSettings
from behindglass.core.sitedata import SiteContext
from behindglass.core.study import AnalysisSpec

KIND = "glm"
FAMILIES = ("binomial", "poisson", "gaussian")
LINKS = {"binomial": "logit", "poisson": "log", "gaussian": "identity"}
DEFAULT_OUTCOME = {"binomial": "event", "poisson": "outcome_count"}
OFFSET_COLUMNS = ("time_at_risk", "survival_time")
OUTCOME_CHOICES = ("event", "outcome_count", "time_at_risk", "survival_time")
MAX_PARAM_RATIO = DEFAULT_MAX_PARAM_RATIO  # the policy's default; each site may set its own
DEFAULT_MAX_ITER = 25
MAX_ITER_LIMIT = 1000
DEFAULT_TOL = 1e-10
MAX_COVARIATES = 200
MAX_CONDITION = 1e14  # of the equilibrated information matrix; above: collinear
PARAMS = {"family", "outcome_column", "offset", "covariates", "site_effects", "population",
          "max_iter", "tol", "atol", "meta", "alpha"}
SUMMARY = ("n", "sum_y", "ss_y", "sum_ylogy", "sum_ylogt", "sum_t")
FIT = ("deviance", "pearson_chi2", "llf")
FLOAT_EPS = float(np.finfo(float).eps)


class FitError(BehindGlassError):
    """The pooled model cannot be fitted (no events, collinear covariates, ...)."""


# -- parameters ----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class GlmParams:
    family: str
    outcome: str
    offset: str | None
    covariates: tuple[str, ...]
    site_effects: bool
    population: PopulationSettings
    max_iter: int
    tol: float
    atol: float
    meta: bool
    alpha: float

    @property
    def names(self) -> list[str]:
        return ["(Intercept)", *self.covariates]


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _number(spec: AnalysisSpec, key: str, value: object, lo: float, hi: float,
            closed: bool = True) -> float:
    ok = (isinstance(value, int | float) and not isinstance(value, bool)
          and math.isfinite(value) and (lo <= value <= hi if closed else lo < value < hi))
    if not ok:
        raise SpecError(f"{spec.name}: glm parameter {key!r} must be a number "
                        f"{'from' if closed else 'strictly between'} {lo:g} "
                        f"{'to' if closed else 'and'} {hi:g}, got {value!r}")
    return float(value)  # type: ignore[arg-type]


def glm_params(spec: AnalysisSpec) -> GlmParams:
    """The request's parameters, checked, with defaults filled in (SpecError otherwise)."""
    p = spec.params
    check_keys(spec, PARAMS)
    one_outcome(spec, "glm")
    family = p.get("family", "binomial")
    if family not in FAMILIES:
        raise SpecError(f"{spec.name}: glm parameter 'family' must be one of "
                        f"{list(FAMILIES)}, got {family!r}")
    population = population_param(spec)
    allowed = ["treatment", *(DEMOGRAPHIC_COLUMNS if population.demographics else ()),
               *(c.name for c in population.covariates)]
    covariates = p.get("covariates", ["treatment"])
    if (not isinstance(covariates, list | tuple) or len(covariates) > MAX_COVARIATES
            or not all(isinstance(c, str) for c in covariates)):
        raise SpecError(f"{spec.name}: glm parameter 'covariates' must be a list of up to "
                        f"{MAX_COVARIATES} column names, got {covariates!r}")
    bad = [c for c in covariates if c not in allowed]
    if bad:
        raise SpecError(f"{spec.name}: glm parameter 'covariates' names {bad}, which are not "
                        f"covariate columns of the population; available: {allowed}")
    if len(set(covariates)) != len(covariates):
        raise SpecError(f"{spec.name}: glm parameter 'covariates' repeats a column")
    outcome = p.get("outcome_column", DEFAULT_OUTCOME.get(family))
    choices = [*OUTCOME_CHOICES, *allowed]
    if outcome is None:
        raise SpecError(f"{spec.name}: glm parameter 'outcome_column' is required for family "
                        f"'gaussian'; one of {choices}")
    if outcome not in choices or outcome in covariates:
        raise SpecError(f"{spec.name}: glm parameter 'outcome_column' must be a column of the "
                        f"population not among the covariates ({choices}), got {outcome!r}")
    if family == "binomial" and outcome in ("outcome_count", "time_at_risk", "survival_time"):
        raise SpecError(f"{spec.name}: family 'binomial' needs a 0/1 'outcome_column' such as "
                        f"'event', got {outcome!r}")
    offset = p.get("offset", "time_at_risk" if family == "poisson" else None)
    if offset is not None:
        if family != "poisson":
            raise SpecError(f"{spec.name}: glm parameter 'offset' is for family 'poisson' "
                            f"only (log of a time column), got {offset!r}")
        if offset not in OFFSET_COLUMNS or offset == outcome:
            raise SpecError(f"{spec.name}: glm parameter 'offset' must be one of "
                            f"{list(OFFSET_COLUMNS)} (its log is the offset) or null, "
                            f"got {offset!r}")
    for key in ("site_effects", "meta"):
        if not isinstance(p.get(key, False), bool):
            raise SpecError(f"{spec.name}: glm parameter {key!r} must be true or false, "
                            f"got {p[key]!r}")
    max_iter = p.get("max_iter", DEFAULT_MAX_ITER)
    if not _is_int(max_iter) or not 1 <= max_iter <= MAX_ITER_LIMIT:
        raise SpecError(f"{spec.name}: glm parameter 'max_iter' must be a whole number from 1 "
                        f"to {MAX_ITER_LIMIT}, got {max_iter!r}")
    tol = _number(spec, "tol", p.get("tol", DEFAULT_TOL), 0, 0.1)
    atol = _number(spec, "atol", p.get("atol", 0.0), 0, 1e3)
    if tol == 0 and atol == 0:
        raise SpecError(f"{spec.name}: glm parameters 'tol' and 'atol' cannot both be 0")
    alpha = _number(spec, "alpha", p.get("alpha", 0.05), 0, 1, closed=False)
    return GlmParams(family=family, outcome=outcome, offset=offset,
                     covariates=tuple(covariates), site_effects=p.get("site_effects", False),
                     population=population, max_iter=max_iter, tol=tol, atol=atol,
                     meta=p.get("meta", False), alpha=alpha)


# -- the families, as statsmodels computes them ----------------------------------------------
def _clip01(mu: np.ndarray) -> np.ndarray:
    return np.clip(mu, FLOAT_EPS, 1 - FLOAT_EPS)


def _clean(x: np.ndarray) -> np.ndarray:
    return np.clip(x, FLOAT_EPS, np.inf)


@dataclasses.dataclass(frozen=True)
class Family:
    name: str

    def start_mu(self, y: np.ndarray, ybar: float) -> np.ndarray:
        return (y + 0.5) / 2 if self.name == "binomial" else (y + ybar) / 2

    def link(self, mu: np.ndarray) -> np.ndarray:
        if self.name == "binomial":
            p = _clip01(mu)
            return np.log(p / (1 - p))
        if self.name == "poisson":
            return np.log(_clean(mu))
        return mu

    def inverse(self, eta: np.ndarray) -> np.ndarray:
        if self.name == "binomial":
            return 1.0 / (1.0 + np.exp(-eta))
        if self.name == "poisson":
            return np.exp(eta)
        return eta

    def deriv(self, mu: np.ndarray) -> np.ndarray:
        if self.name == "binomial":
            p = _clip01(mu)
            return 1.0 / (p * (1 - p))
        if self.name == "poisson":
            return 1.0 / mu
        return np.ones_like(mu)

    def variance(self, mu: np.ndarray) -> np.ndarray:
        if self.name == "binomial":
            p = _clip01(mu)
            return p * (1 - p)
        if self.name == "poisson":
            return mu
        return np.ones_like(mu)

    def weights(self, mu: np.ndarray) -> np.ndarray:
        return 1.0 / (self.deriv(mu) ** 2 * self.variance(mu))

    def deviance(self, y: np.ndarray, mu: np.ndarray) -> float:
        if self.name == "binomial":
            return float(np.sum(2 * (y * np.log(_clean(y / mu))
                                     + (1 - y) * np.log(_clean((1 - y) / (1 - mu))))))
        if self.name == "poisson":
            return float(np.sum(2 * (y * np.log(_clean(y / mu)) - (y - mu))))
        return float(np.sum((y - mu) ** 2))

    def pearson(self, y: np.ndarray, mu: np.ndarray) -> float:
        return float(np.sum((y - mu) ** 2 / self.variance(mu)))

    def llf(self, y: np.ndarray, mu: np.ndarray) -> float:
        """Log-likelihood at scale 1 (gaussian: computed from the deviance at the hub)."""
        if self.name == "binomial":
            return float(np.sum(y * np.log(mu / (1 - mu + 1e-200)) + np.log(1 - mu + 1e-200)))
        if self.name == "poisson":
            return float(np.sum(y * np.log(mu) - mu - special.gammaln(y + 1)))
        return 0.0


# -- linear algebra ------------------------------------------------------------------------
def solve_spd(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """``a^-1 b`` (or ``a^-1``) for a symmetric positive definite information matrix, by
    Cholesky on the equilibrated matrix; FitError if it is singular or nearly so."""
    d = np.sqrt(np.diag(a))
    if not (np.isfinite(a).all() and (d > 0).all()):
        raise FitError("the information matrix is singular: a covariate has no variation in "
                       "the pooled data")
    scaled = a / np.outer(d, d)
    try:
        chol = linalg.cho_factor(scaled, lower=True)
    except linalg.LinAlgError:
        raise FitError("the information matrix is not positive definite: covariates are "
                       "collinear in the pooled data") from None
    if np.linalg.cond(scaled) > MAX_CONDITION:
        raise FitError("the information matrix is nearly singular: covariates are collinear "
                       "in the pooled data")
    if b is None:
        return linalg.cho_solve(chol, np.eye(len(d))) / np.outer(d, d)
    return linalg.cho_solve(chol, b / d) / d


def site_intercept(xtwx: np.ndarray, xtwz: np.ndarray, beta: np.ndarray) -> float:
    """A site's own intercept given the common coefficients: the intercept row of the IRLS
    equations of its own sums (site fixed effects)."""
    return float((xtwz[0] - xtwx[0, 1:] @ beta) / xtwx[0, 0])


def irls(x: np.ndarray, y: np.ndarray, offset: np.ndarray | None, family: Family, *,
         max_iter: int, tol: float, atol: float) -> tuple[np.ndarray, np.ndarray, int, bool]:
    """One data set's fit, the same iterations as the federated one (a site's own fit for
    meta-analysis): (coefficients, covariance, iterations, converged)."""
    off = np.zeros(len(y)) if offset is None else offset
    n, k = x.shape
    df_resid = n - k
    mu = family.start_mu(y, float(y.mean()))
    lin = family.link(mu)

    def scale_at(mu: np.ndarray) -> float:
        return family.pearson(y, mu) / df_resid if family.name == "gaussian" else 1.0

    scale = scale_at(mu)
    crit = family.deviance(y, mu) / scale
    converged = False
    a = np.zeros((k, k))
    beta = np.zeros(k)
    iterations = 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 (the count is returned)
        w = family.weights(mu)
        z = lin + family.deriv(mu) * (y - mu) - off
        a = x.T @ (w[:, None] * x)
        beta = solve_spd(a, x.T @ (w * z))
        lin = x @ beta + off
        mu = family.inverse(lin)
        new = family.deviance(y, mu) / scale  # statsmodels: the previous scale
        scale = scale_at(mu)
        if not math.isfinite(new):
            raise FitError("the deviance is not finite")
        converged = abs(new - crit) <= atol + tol * abs(new)
        crit = new
        if converged:
            break
    return beta, scale * solve_spd(a), iterations, converged


# -- site half -------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class SiteFrame:
    """The site's design, outcome and offset (kept in the site's cache between rounds)."""

    x: np.ndarray
    y: np.ndarray
    offset: np.ndarray | None


def _frame(site: SiteContext, spec: AnalysisSpec, p: GlmParams) -> SiteFrame:
    cached = site.cache.get("frame")
    if isinstance(cached, SiteFrame):
        return cached
    comparator = site.cohort(spec.comparator) if spec.comparator else None
    df = site.data.population(site.cohort(spec.cohort), comparator,
                              site.cohort(spec.outcomes[0]), p.population)
    needed = [p.outcome, *p.covariates, *([p.offset] if p.offset else [])]
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise SpecError(f"{spec.name}: the population has no column(s) {missing}")
    y = df[p.outcome].to_numpy(dtype=float)
    cols = [np.ones(len(df))] + [df[c].to_numpy(dtype=float) for c in p.covariates]
    x = np.column_stack(cols)
    offset = None
    if p.offset:
        t = df[p.offset].to_numpy(dtype=float)
        if not (t > 0).all():
            raise SpecError(f"{spec.name}: the offset column {p.offset!r} must be positive "
                            "for every person (its log is the offset)")
        offset = np.log(t)
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise SpecError(f"{spec.name}: the outcome and covariates must be finite numbers")
    frame = SiteFrame(x=x, y=y, offset=offset)
    site.cache["frame"] = frame
    return frame


def _small(k: int, min_cell: int) -> bool:
    return 0 < k < min_cell


def check_site(spec: AnalysisSpec, p: GlmParams, frame: SiteFrame, min_cell: int,
               max_param_ratio: float = MAX_PARAM_RATIO) -> None:
    """The disclosure rules (module docstring); DisclosureError naming the rule."""
    y, x = frame.y, frame.x
    n = len(y)
    if n < min_cell:
        raise DisclosureError(f"{spec.name}: fewer than {min_cell} persons at this site "
                              "(minimum cell rule); refused")
    if p.family == "binomial":
        if not np.isin(y, (0.0, 1.0)).all():
            raise SpecError(f"{spec.name}: family 'binomial' needs a 0/1 outcome; column "
                            f"{p.outcome!r} is not 0/1 at this site")
        events = int(y.sum())
        if _small(events, min_cell) or _small(n - events, min_cell):
            raise DisclosureError(
                f"{spec.name}: 1 to {min_cell - 1} persons with (or without) the outcome at "
                f"this site (minimum events rule, min_cell {min_cell}); refused")
    elif p.family == "poisson":
        if (y < 0).any() or (y != np.floor(y)).any():
            raise SpecError(f"{spec.name}: family 'poisson' needs a count outcome; column "
                            f"{p.outcome!r} is not a whole non-negative number at this site")
        if _small(int((y > 0).sum()), min_cell):
            raise DisclosureError(
                f"{spec.name}: 1 to {min_cell - 1} persons with the outcome at this site "
                f"(minimum events rule, min_cell {min_cell}); refused")
    binary: list[tuple[str, np.ndarray]] = []
    for j, name in enumerate(p.covariates, start=1):
        col = x[:, j]
        if np.isin(col, (0.0, 1.0)).all():
            ones = int(col.sum())
            if _small(ones, min_cell) or _small(n - ones, min_cell):
                raise DisclosureError(
                    f"{spec.name}: covariate {name!r} has a level with 1 to {min_cell - 1} "
                    "persons at this site (covariate pattern rule); refused")
            binary.append((name, col))
    # X'WX holds the cross-products of 0/1 columns, i.e. the 2 x 2 tables of each pair
    # (and, in the first round of a logistic fit, of each column with the outcome)
    if p.family == "binomial" and binary:
        binary.append(("the outcome", y))
    _check_pairs(spec, binary, n, min_cell, outcome_last=p.family == "binomial")
    if x.shape[1] / n > max_param_ratio:
        raise DisclosureError(
            f"{spec.name}: more than {max_param_ratio:g} parameters per person at this site "
            f"({x.shape[1]} parameters; parameter ratio rule); refused")


def _check_pairs(spec: AnalysisSpec, binary: list[tuple[str, np.ndarray]], n: int,
                 min_cell: int, outcome_last: bool) -> None:
    """Every 2 x 2 table of two 0/1 columns (the outcome, when last, only against the
    covariates) has no cell of 1 to min_cell - 1 persons; one matrix product gives them
    all."""
    if len(binary) < 2:
        return
    b = np.column_stack([col for _, col in binary])
    both = b.T @ b  # persons with both levels 1
    ones = np.diag(both)
    cells = (both, ones[:, None] - both, ones[None, :] - both,
             n - ones[:, None] - ones[None, :] + both)
    bad = np.zeros(both.shape, dtype=bool)
    for c in cells:
        bad |= (c > 0) & (c < min_cell)
    if outcome_last:  # the outcome is checked against covariates, not against itself
        bad[-1, -1] = False
    np.fill_diagonal(bad, False)
    if not bad.any():
        return
    i, j = (int(v) for v in np.argwhere(np.triu(bad | bad.T))[0])
    name_b = binary[j][0]
    what = name_b if outcome_last and j == len(binary) - 1 else repr(name_b)
    raise DisclosureError(
        f"{spec.name}: covariate {binary[i][0]!r} and {what} have a combination of levels "
        f"held by 1 to {min_cell - 1} persons at this site (covariate pattern "
        "rule); refused")


def _summary(frame: SiteFrame) -> list[float]:
    y = frame.y
    n = len(y)
    mean = float(y.mean())
    logt = frame.offset if frame.offset is not None else np.zeros(n)
    pos = y > 0
    return [float(n), float(y.sum()), float(np.sum((y - mean) ** 2)),
            float(np.sum(y[pos] * np.log(y[pos]))), float(np.sum(y * logt)),
            float(np.sum(np.exp(logt)))]


def _meta_fit(p: GlmParams, frame: SiteFrame) -> tuple[np.ndarray, np.ndarray]:
    """The site's own fit for meta-analysis; FitError when it is not estimable here."""
    y, x = frame.y, frame.x
    if p.family != "gaussian" and (y.sum() == 0 or (p.family == "binomial" and y.min() == 1)):
        raise FitError("no events (or no non-events) at this site")
    for j in range(1, x.shape[1]):
        if np.ptp(x[:, j]) == 0:
            raise FitError("a covariate is constant at this site")
    beta, cov, _, converged = irls(x, y, frame.offset, Family(p.family), max_iter=p.max_iter,
                                   tol=p.tol, atol=p.atol)
    if not converged:
        raise FitError("the site's own fit did not converge")
    return beta, cov


def local_release(site: SiteContext, spec: AnalysisSpec) -> SiteAggregate:
    """Site half of one round (see the module docstring)."""
    p = glm_params(spec)
    state = dict(site.state) if site.state is not None else start_state()
    frame = _frame(site, spec, p)
    if not site.cache.get("checked"):  # the frame is fixed for the study: check it once
        check_site(spec, p, frame, site.policy.min_cell, site.policy.max_param_ratio)
        site.cache["checked"] = True
    fam = Family(p.family)
    blocks = [_block("glm:summary", np.array(_summary(frame)))]
    notes: list[str] = []
    if p.meta:
        if "meta" not in site.cache:
            try:
                site.cache["meta"] = _meta_fit(p, frame)
            except (FitError, np.linalg.LinAlgError) as exc:
                site.cache["meta"] = str(exc) if isinstance(exc, FitError) else "singular"
        meta = site.cache["meta"]
        if isinstance(meta, tuple):
            blocks += [_block("glm:meta_coef", meta[0]), _block("glm:meta_cov", meta[1])]
        else:
            notes.append(f"meta: this site's own fit is not estimable ({meta})")
    tables: tuple[CountTable, ...] = ()
    stage = state.get("stage")
    if stage == "summary":
        n = len(frame.y)
        cells = [Cell(key=("persons",), count=n)]
        if p.family != "gaussian":
            with_outcome = int((frame.y > 0).sum())
            if with_outcome >= site.policy.min_cell:
                cells.append(Cell(key=("persons_with_outcome",), count=with_outcome))
        tables = (CountTable(name="glm:persons", dims=("measure",), cells=tuple(cells)),)
    elif stage == "irls":
        i = int(state["iteration"])
        history: dict[int, tuple[np.ndarray, np.ndarray]] = site.cache.setdefault("irls", {})
        y, x = frame.y, frame.x
        off = frame.offset if frame.offset is not None else np.zeros(len(y))
        if i == 0:
            mu = fam.start_mu(y, float(state["ybar"]))
            lin = fam.link(mu)
        else:
            if i - 1 not in history:
                raise SpecError(f"{spec.name}: iteration {i} reached this site without "
                                f"iteration {i - 1}; the fit must be restarted")
            beta = np.asarray(state["beta"], dtype=float)
            if p.site_effects:
                prev_a, prev_b = history[i - 1]
                beta = np.concatenate([[site_intercept(prev_a, prev_b, beta)], beta])
            if beta.shape != (x.shape[1],):
                raise SpecError(f"{spec.name}: the hub sent {beta.size} coefficients for "
                                f"{x.shape[1]} parameters")
            lin = x @ beta + off
            mu = fam.inverse(lin)
        w = fam.weights(mu)
        z = lin + fam.deriv(mu) * (y - mu) - off
        xtwx = x.T @ (w[:, None] * x)
        xtwz = x.T @ (w * z)
        fit = [fam.deviance(y, mu), fam.pearson(y, mu), fam.llf(y, mu)]
        if not (np.isfinite(xtwx).all() and np.isfinite(xtwz).all()
                and all(math.isfinite(v) for v in fit)):
            raise FitError(f"{spec.name}: the working sums are not finite at this site")
        history[i] = (xtwx, xtwz)
        for old in [k for k in history if k < i - 1]:
            del history[old]
        blocks += [_block("glm:iteration", np.array([float(i)])), _block("glm:xtwx", xtwx),
                   _block("glm:xtwz", xtwz), _block("glm:fit", np.array(fit))]
        if i >= 1:
            blocks += [_block("glm:prev_xtwx", history[i - 1][0]),
                       _block("glm:prev_xtwz", history[i - 1][1])]
    else:
        raise SpecError(f"{spec.name}: unknown glm round {stage!r}")
    return SiteAggregate(analysis=spec.name, kind=KIND, tables=tables, stats=tuple(blocks),
                         notes=tuple(notes))


# -- hub half ----------------------------------------------------------------------------
def start_state() -> dict[str, Any]:
    return {"stage": "summary", "iteration": 0, "beta": None}


def _arr(agg: SiteAggregate, name: str) -> np.ndarray:
    return array(agg.block(name))


def _sorted(releases: list[tuple[str, SiteAggregate]]) -> list[tuple[str, SiteAggregate]]:
    names = [s for s, _ in releases]
    if len(set(names)) != len(names):
        raise FitError("a site released this analysis twice in one round")
    if not releases:
        raise FitError("no site released this analysis")
    return sorted(releases, key=lambda r: r[0])


def assemble(blocks: list[tuple[np.ndarray, np.ndarray]], site_effects: bool
             ) -> tuple[np.ndarray, np.ndarray]:
    """The pooled IRLS system from the sites' own ``[1 | covariates]`` sums (in site order):
    summed, or with each site's intercept placed at its own indicator column."""
    k = blocks[0][0].shape[0]
    if not site_effects:
        return sum(a for a, _ in blocks), sum(b for _, b in blocks)  # type: ignore[return-value]
    nsites = len(blocks)
    q = nsites + k - 1
    big_a = np.zeros((q, q))
    big_b = np.zeros(q)
    for s, (a, b) in enumerate(blocks):
        idx = [s, *range(nsites, q)]
        big_a[np.ix_(idx, idx)] += a
        big_b[idx] += b
    return big_a, big_b


@dataclasses.dataclass
class _Pooled:
    sites: list[str]
    n: float
    sum_y: float
    ybar: float
    ss_y: float
    sum_ylogy: float
    sum_ylogt: float
    sum_t: float


def _pool_summary(rel: list[tuple[str, SiteAggregate]]) -> _Pooled:
    rows = np.array([_arr(agg, "glm:summary") for _, agg in rel])
    n = float(rows[:, 0].sum())
    sum_y = float(rows[:, 1].sum())
    ybar = sum_y / n
    # Chan et al.: within-site sums of squares plus the between-site part
    site_means = rows[:, 1] / rows[:, 0]
    ss = float(rows[:, 2].sum() + np.sum(rows[:, 0] * (site_means - ybar) ** 2))
    return _Pooled(sites=[s for s, _ in rel], n=n, sum_y=sum_y, ybar=ybar, ss_y=ss,
                   sum_ylogy=float(rows[:, 3].sum()), sum_ylogt=float(rows[:, 4].sum()),
                   sum_t=float(rows[:, 5].sum()))


def null_deviance(family: str, s: _Pooled) -> float:
    """Deviance of the intercept-only model (with the offset), in closed form."""
    if family == "gaussian":
        return s.ss_y
    if family == "binomial":
        p = s.sum_y / s.n
        dev = 0.0
        if s.sum_y > 0:
            dev -= 2 * s.sum_y * math.log(p)
        if s.n - s.sum_y > 0:
            dev -= 2 * (s.n - s.sum_y) * math.log(1 - p)
        return dev
    if s.sum_y == 0:
        return 0.0
    rate = s.sum_y / s.sum_t  # the MLE: mu_i = t_i * sum(y) / sum(t)
    return 2 * (s.sum_ylogy - s.sum_ylogt - s.sum_y * math.log(rate))


def _nparams(p: GlmParams, nsites: int) -> int:
    return nsites + len(p.covariates) if p.site_effects else 1 + len(p.covariates)


def step_state(spec: AnalysisSpec, state: dict[str, Any],
               releases: list[tuple[str, SiteAggregate]]) -> tuple[dict[str, Any], bool]:
    p = glm_params(spec)
    rel = _sorted(releases)
    pooled = _pool_summary(rel)
    q = _nparams(p, len(rel))
    if state.get("stage") == "summary":
        if pooled.n <= q:
            raise FitError(f"{spec.name}: {q} parameters need more persons than the sites "
                           "have together")
        if p.family != "gaussian" and pooled.sum_y == 0:
            raise FitError(f"{spec.name}: no site has a person with the outcome")
        if p.family == "binomial" and pooled.sum_y == pooled.n:
            raise FitError(f"{spec.name}: every person has the outcome")
        return {"stage": "irls", "iteration": 0, "beta": None, "ybar": pooled.ybar,
                "criterion": [], "nsites": len(rel)}, False
    if state.get("stage") != "irls":
        raise FitError(f"{spec.name}: unknown glm state {state.get('stage')!r}")
    i = int(state["iteration"])
    if len(rel) != state.get("nsites"):  # the hub's rounds keep the same sites
        raise FitError(f"{spec.name}: the number of sites changed since round 0")
    for site, agg in rel:
        if int(_arr(agg, "glm:iteration")[0]) != i:
            raise FitError(f"{spec.name}: {site} released iteration "
                           f"{int(_arr(agg, 'glm:iteration')[0])}, the hub awaited {i}")
    fit = sum(_arr(agg, "glm:fit") for _, agg in rel)
    dev, pearson = float(fit[0]), float(fit[1])
    df_resid = pooled.n - q
    scale = pearson / df_resid if p.family == "gaussian" else 1.0
    # as statsmodels' IRLS: the deviance of iteration i over the scale of iteration i - 1
    # (gaussian only; the scale is 1 otherwise)
    crit = dev / (scale if i == 0 else float(state["scale"]))
    if not (math.isfinite(crit) and math.isfinite(scale) and scale > 0):
        raise FitError(f"{spec.name}: the deviance is not finite at iteration {i}")
    history = [*state.get("criterion", []), crit]
    state = {**state, "criterion": history, "scale": scale}
    if i >= 1 and abs(history[-1] - history[-2]) <= p.atol + p.tol * abs(history[-1]):
        return {**state, "done": True, "converged": True}, True
    if i >= p.max_iter:
        return {**state, "done": True, "converged": False}, True
    a, b = assemble([(_arr(agg, "glm:xtwx"), _arr(agg, "glm:xtwz")) for _, agg in rel],
                    p.site_effects)
    beta = solve_spd(a, b)
    if p.site_effects:
        beta = beta[len(rel):]
    return {**state, "iteration": i + 1, "beta": [float(v) for v in beta]}, False


def _exp(v: float) -> float | None:
    """exp, or None where it overflows (a site intercept of a site without events)."""
    return math.exp(v) if v < 709 else None


def _coef_rows(names: list[str], beta: np.ndarray, se: np.ndarray, family: str,
               df_resid: float, alpha: float) -> list[dict[str, Any]]:
    if family == "gaussian":
        dist: Any = stats.t(df_resid)
        stat_name = "t"
    else:
        dist = stats.norm()
        stat_name = "z"
    crit = float(dist.ppf(1 - alpha / 2))
    rows = []
    for name, b, s in zip(names, beta, se, strict=True):
        stat = float(b / s)
        row: dict[str, Any] = {"name": name, "coef": float(b), "se": float(s),
                               stat_name: stat, "p": float(2 * dist.sf(abs(stat))),
                               "ci_lower": float(b - crit * s), "ci_upper": float(b + crit * s)}
        if family != "gaussian":
            row.update({"exp_coef": _exp(b), "exp_ci_lower": _exp(b - crit * s),
                        "exp_ci_upper": _exp(b + crit * s)})
        rows.append(row)
    return rows


def combine_fit(spec: AnalysisSpec, releases: list[tuple[str, SiteAggregate]],
                state: dict[str, Any]) -> dict[str, Any]:
    p = glm_params(spec)
    if state.get("stage") != "irls" or not state.get("done"):
        raise FitError(f"{spec.name}: the fit has not finished")
    rel = _sorted(releases)
    pooled = _pool_summary(rel)
    nsites = len(rel)
    q = _nparams(p, nsites)
    i = int(state["iteration"])
    if i < 1 or any(int(_arr(agg, "glm:iteration")[0]) != i for _, agg in rel):
        raise FitError(f"{spec.name}: the releases are not those of the final iteration")
    prev = [(_arr(agg, "glm:prev_xtwx"), _arr(agg, "glm:prev_xtwz")) for _, agg in rel]
    info, _ = assemble(prev, p.site_effects)
    beta = np.asarray(state["beta"], dtype=float)
    names = list(p.covariates) if p.site_effects else p.names
    if p.site_effects:
        alphas = [site_intercept(a, b, beta) for a, b in prev]
        beta = np.concatenate([alphas, beta])
        names = [f"site:{s}" for s in pooled.sites] + names
    fit = sum(_arr(agg, "glm:fit") for _, agg in rel)
    dev, pearson, llf = float(fit[0]), float(fit[1]), float(fit[2])
    n = pooled.n
    df_resid = n - q
    scale = pearson / df_resid if p.family == "gaussian" else 1.0
    if p.family == "gaussian":
        llf = -n / 2 * (math.log(2 * math.pi * dev / n) + 1)
    cov = scale * solve_spd(info)
    se = np.sqrt(np.diag(cov))
    result: dict[str, Any] = {
        "kind": KIND, "analysis": spec.name, "target": spec.cohort,
        "comparator": spec.comparator, "outcome": spec.outcomes[0],
        "family": p.family, "link": LINKS[p.family], "outcome_column": p.outcome,
        "offset": f"log({p.offset})" if p.offset else None,
        "covariates": list(p.covariates), "site_effects": p.site_effects,
        "sites": pooled.sites, "n": round(n),
        "events": round(pooled.sum_y) if p.family != "gaussian" else None,
        "iterations": i, "converged": bool(state.get("converged")),
        "coefficients": _coef_rows(names, beta, se, p.family, df_resid, p.alpha),
        "covariance": [[float(v) for v in row] for row in cov],
        "deviance": dev, "null_deviance": null_deviance(p.family, pooled),
        "df_resid": df_resid, "df_null": n - 1, "scale": scale, "pearson_chi2": pearson,
        "log_likelihood": llf, "aic": -2 * llf + 2 * q, "bic": -2 * llf + q * math.log(n),
        "alpha": p.alpha,
    }
    if p.meta:
        result["meta"] = _meta(p, rel)
    return result


def _meta(p: GlmParams, rel: list[tuple[str, SiteAggregate]]) -> dict[str, Any]:
    fits = {}
    for site, agg in rel:
        try:
            fits[site] = (_arr(agg, "glm:meta_coef"), _arr(agg, "glm:meta_cov"))
        except KeyError:
            continue
    out: dict[str, Any] = {"sites": sorted(fits),
                           "not_estimable": sorted({s for s, _ in rel} - set(fits)),
                           "coefficients": {}}
    if not fits:
        return out
    for j, name in enumerate(p.names):
        if j == 0:
            continue  # intercepts differ by site by design
        sites = sorted(fits)
        out["coefficients"][name] = meta_analysis(
            [fits[s][0][j] for s in sites], [fits[s][1][j, j] for s in sites],
            alpha=p.alpha, labels=sites)
    return out


# -- catalog entry -----------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class GlmAnalysis:
    """A GLM of the outcome on covariates of the study population, fitted exactly across
    sites by IRLS rounds; optionally also each site alone, meta-analysed."""

    kind: ClassVar[str] = KIND
    iterative: ClassVar[bool] = True

    def validate(self, spec: AnalysisSpec) -> None:
        glm_params(spec)

    def start(self, spec: AnalysisSpec) -> dict[str, Any]:
        glm_params(spec)
        return start_state()

    def local(self, site: SiteContext, spec: AnalysisSpec) -> SiteAggregate:
        return local_release(site, spec)

    def step(self, spec: AnalysisSpec, state: dict[str, Any],
             releases: list[tuple[str, SiteAggregate]]) -> tuple[dict[str, Any], bool]:
        return step_state(spec, state, releases)

    def combine(self, spec: AnalysisSpec, releases: list[tuple[str, SiteAggregate]],
                state: dict[str, Any] | None = None) -> dict[str, Any]:
        if state is None:
            raise FitError(f"{spec.name}: a glm is combined from its final state")
        return combine_fit(spec, releases, state)
