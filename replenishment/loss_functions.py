"""Loss functions, quantiles and exact fill rates of demand over a protection period.

Vectorised over SKUs: arguments are scalars or arrays (broadcast), a 0-d result is a
Python float, NaN in any input gives NaN out. The solvers sit with the losses they invert.
The empirical (bootstrap) counterparts are in :mod:`replenishment.empirical_loss`.

Notation (units of stock unless said otherwise)
-----------------------------------------------
X, D_{L+R}, D_L
    Demand over a period (protection period P = L + R, or lead time L), units;
    ``n(S) = E[(X - S)^+]`` its loss function, the expected units above the level S.
G(k), G2(k)
    Standard normal loss ``phi(k) - k (1 - Phi(k))`` and second-order loss
    ``E[((Z - k)^+)^2] / 2``; for ``X ~ N(mu, sigma^2)``, ``n(S) = sigma G((S - mu)/sigma)``.
mean, var
    Mean and variance of a count demand. The negative binomial NB(r, p) fitted by moments
    has ``p = mean / var``, ``r = mean^2 / (var - mean)`` (pmf
    ``C(x + r - 1, x) p^r (1 - p)^x``, scipy's ``nbinom(r, p)``); ``var <= mean`` (or
    ``r > NB_MAX_SHAPE``) falls back to Poisson(mean), ``mean == 0`` to the point mass at 0.
S, s, Q, beta, ESPRC
    Order-up-to level (R, S), reorder point (s, Q), lot size (units); fill rate (fraction
    of demand served from stock); expected shortage per replenishment cycle (units).

Sources
-------
- [SS] L. V. Snyder, Z.-J. M. Shen, *Fundamentals of Supply Chain Theory*, 2nd ed., Wiley,
  2019, Appendix C: (C.22) G(k), (C.27) G2(k), (C.31) ``n(x) = sigma G(z)``, (C.41)
  Poisson loss ``n(x) = -(x - mu)(1 - F(x)) + mu f(x)``; Example 4.7 (Poisson(6), critical
  ratio 0.8, S* = 8). Doctest values below are those of stockpyl's ``loss_functions``.
- [Z] P. H. Zipkin, *Foundations of Inventory Management*, McGraw-Hill, 2000, Section
  C.2.3.6: negative binomial loss ``n(x) = -(x - r b)(1 - F(x)) + (x + r) b f(x)`` with
  ``b = (1 - p) / p``.
- [SPT] E. A. Silver, D. F. Pyke, D. J. Thomas, *Inventory and Production Management in
  Supply Chains*, 4th ed., CRC Press, 2017, Chapter 6: fill rate ``P2 = 1 - ESPRC / Q``;
  for (s, Q) with normal lead-time demand the exact (Hadley-Whitin) backorder expression
  ``ESPRC = sigma_L [G(k) - G(k + Q / sigma_L)]``, which SPT approximate by
  ``sigma_L G(k)``; for (R, S) ``ESPRC = E[(D_{L+R} - S)^+] - E[(D_L - S)^+]``, which SPT
  approximate by the first term. The same exact (s, Q) fill rate is Axsaeter,
  *Inventory Control*, 3rd ed., Springer, 2015, (5.52); the exact (R, S) one is
  re-derived in Silver & Bischak, Omega 39 (2011) 346-349.
- Scarf's bound ``E[(X - S)^+] <= (sqrt(var + (S - mean)^2) - (S - mean)) / 2`` and
  Cantelli's inequality bound the searches (they hold for any law with that mean and var).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy.special import betainc, gammainc, gammaln, ndtr

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IndexArray = npt.NDArray[np.intp]
FloatOrArray = float | FloatArray
ArrayIn = float | npt.ArrayLike

#: Bounds of the normal safety factor k = (S - mean) / sigma searched by the solvers, as in
#: ``policy.k_for_fill_rate``: k >= 0 keeps safety stock non-negative, k <= 5 caps it.
K_MIN = 0.0
K_MAX = 5.0
#: Bisection steps of the continuous solvers: precision (K_MAX - K_MIN) / 2**50.
BISECTION_STEPS = 50
#: NB shape above which the Poisson limit is used (lgamma differences lose precision).
NB_MAX_SHAPE = 1e10
_SQRT_2PI = float(np.sqrt(2.0 * np.pi))
_TINY_LOT = 1e-9  # Q / sigma below this: the (s, Q) shortage ratio is its limit 1 - Phi(k)


def _f(x: ArrayIn) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


def _out(x: FloatArray) -> FloatOrArray:
    """A Python float for 0-d results, the array otherwise."""
    return float(x) if x.ndim == 0 else x


def _any_nan(*arrays: FloatArray) -> BoolArray:
    result = np.zeros(np.broadcast_shapes(*(a.shape for a in arrays)), dtype=bool)
    for a in arrays:
        result = result | np.isnan(a)
    return result


# --- Normal ---


def normal_loss(k: ArrayIn) -> FloatOrArray:
    """Standard normal loss ``G(k) = phi(k) - k (1 - Phi(k))`` [SS (C.22)].

    Expected shortage, in standard deviations, above ``mean + k sigma``; decreasing in k,
    ``G(k) -> -k`` as ``k -> -inf``. Same values as ``policy.normal_loss``.

    >>> round(normal_loss(1.3), 12)  # stockpyl doctest: 0.04552796208651397
    0.045527962087
    >>> normal_loss([0.0, 1.0, 2.0]).round(4).tolist()  # SPT table values
    [0.3989, 0.0833, 0.0085]
    """
    kk = _f(k)
    pdf = np.exp(-0.5 * kk * kk) / _SQRT_2PI
    return _out(np.asarray(pdf - kk * ndtr(-kk), dtype=np.float64))


def normal_second_loss(k: ArrayIn) -> FloatOrArray:
    """Second-order standard normal loss ``G2(k) = ((k^2 + 1)(1 - Phi(k)) - k phi(k)) / 2``.

    ``E[((Z - k)^+)^2] / 2`` [SS (C.27)]; ``sigma^2 G2(k)`` is the normal second-order
    loss (expected backorders of (s, Q) are ``sigma^2 [G2(k) - G2(k + Q/sigma)] / Q``).

    >>> round(normal_second_loss(1.3), 12)  # stockpyl doctest: 0.01880706693657111
    0.018807066937
    """
    kk = _f(k)
    pdf = np.exp(-0.5 * kk * kk) / _SQRT_2PI
    return _out(np.asarray(0.5 * ((kk * kk + 1.0) * ndtr(-kk) - kk * pdf), dtype=np.float64))


def normal_expected_shortage(level: ArrayIn, mean: ArrayIn, sd: ArrayIn) -> FloatOrArray:
    """``E[(X - level)^+]`` for ``X ~ N(mean, sd^2)``, units: ``sd G((level - mean)/sd)``.

    [SS (C.31)]. ``sd <= 0`` is the deterministic limit ``max(mean - level, 0)``.

    >>> round(normal_expected_shortage(18.6, 15, 3), 12)  # stockpyl: 0.1683073521514889
    0.168307352151
    """
    x, m, s = np.broadcast_arrays(_f(level), _f(mean), _f(sd))
    positive = s > 0
    safe = np.where(positive, s, 1.0)
    loss = safe * _f(normal_loss((x - m) / safe))
    result = np.where(positive, loss, np.maximum(m - x, 0.0))
    return _out(np.where(_any_nan(x, m, s), np.nan, result))


def _bisect_k(
    shortage: Callable[[FloatArray], FloatArray],
    target: FloatArray,
    k_min: float,
    k_max: float,
) -> FloatArray:
    """k in [k_min, k_max] with ``shortage(k) = target`` for a shortage decreasing in k.

    Clipped: k_min when ``shortage(k_min) <= target`` (the lower bound already meets the
    target), k_max when ``shortage(k_max) > target`` (the cap binds). Fixed
    ``BISECTION_STEPS`` steps over all elements at once.
    """
    lo = np.full(target.shape, k_min)
    hi = np.full(target.shape, k_max)
    for _ in range(BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        too_much = shortage(mid) > target
        lo = np.where(too_much, mid, lo)
        hi = np.where(too_much, hi, mid)
    k = 0.5 * (lo + hi)
    k = np.where(shortage(np.full(target.shape, k_min)) <= target, k_min, k)
    return np.where(shortage(np.full(target.shape, k_max)) > target, k_max, k)


def normal_loss_inverse(
    target: ArrayIn, k_min: float = K_MIN, k_max: float = K_MAX
) -> FloatOrArray:
    """Safety factor k with ``G(k) = target`` (standard deviations), clipped to [k_min, k_max].

    >>> round(normal_loss_inverse(0.04552796208651397), 9)
    1.3
    """
    t = _f(target)
    k = _bisect_k(lambda kk: _f(normal_loss(kk)), t, k_min, k_max)
    return _out(np.where(np.isnan(t), np.nan, k))


def k_for_fill_rate(
    fill_rate: ArrayIn, expected_order_qty: ArrayIn, sigma_protection: ArrayIn
) -> FloatOrArray:
    """Safety factor of the simple fill-rate rule ``G(k) sigma = (1 - beta) Q`` [SPT ch. 6].

    Same semantics as ``policy.k_for_fill_rate``: k clipped to [0, 5]; 0 when
    ``sigma_protection <= 0``; 5 when the target is below G(5) (e.g. Q = 0); NaN in, NaN out.
    The exact expressions are :func:`order_up_to_for_fill_rate_normal` (R, S) and
    :func:`reorder_point_for_fill_rate_normal` (s, Q).

    >>> round(k_for_fill_rate(0.98, 500, 100), 4)  # G(k) = 0.1
    0.9023
    """
    beta, q, sigma = np.broadcast_arrays(
        _f(fill_rate), _f(expected_order_qty), _f(sigma_protection)
    )
    positive = sigma > 0
    target = np.divide(
        (1.0 - beta) * np.maximum(q, 0.0), sigma, out=np.zeros(beta.shape), where=positive
    )
    k = np.where(positive, _f(normal_loss_inverse(target)), K_MIN)
    return _out(np.where(_any_nan(beta, q, sigma), np.nan, k))


# --- Negative binomial (Poisson, point mass) fitted to a mean and a variance ---


class _Fit(NamedTuple):
    """Moment fit, flattened: ``kind`` 0 = NB(r, p), 1 = Poisson(mean), 2 = 0, 3 = invalid."""

    mean: FloatArray
    var: FloatArray  # the fitted law's variance (= mean for Poisson)
    r: FloatArray
    p: FloatArray
    kind: npt.NDArray[np.int8]


def _fit(mean: FloatArray, var: FloatArray) -> _Fit:
    m = mean.ravel()
    v = var.ravel()
    bad = ~((m >= 0) & (v >= 0) & np.isfinite(m) & np.isfinite(v))
    excess = np.where(bad, 1.0, v - m)
    with np.errstate(divide="ignore"):
        r = np.where(excess > 0, m * m / np.where(excess > 0, excess, 1.0), np.inf)
    kind = np.where(r <= NB_MAX_SHAPE, 0, 1).astype(np.int8)
    kind[m == 0] = 2
    kind[bad] = 3
    nb = kind == 0
    p = np.where(nb, m / np.where(nb, v, 1.0), 1.0)
    return _Fit(m, np.where(kind == 1, m, v), r, p, kind)


def _pmf_sf(x: FloatArray, fit: _Fit, idx: IndexArray) -> tuple[FloatArray, FloatArray]:
    """pmf ``f(x)`` and survival ``P(X > x)`` at integers ``x >= 0`` for elements ``idx``."""
    kind = fit.kind[idx]
    pmf = np.where(x == 0, 1.0, 0.0)  # point mass at 0 (and placeholders)
    sf = np.zeros(x.shape)
    nb = kind == 0
    if nb.any():
        xn, r, p = x[nb], fit.r[idx][nb], fit.p[idx][nb]
        log_f = gammaln(xn + r) - gammaln(r) - gammaln(xn + 1) + r * np.log(p) + xn * np.log1p(-p)
        pmf[nb] = np.exp(log_f)
        sf[nb] = betainc(xn + 1.0, r, 1.0 - p)  # 1 - I_p(r, x + 1)
    po = kind == 1
    if po.any():
        xp, mu = x[po], fit.mean[idx][po]
        pmf[po] = np.exp(xp * np.log(mu) - mu - gammaln(xp + 1))
        sf[po] = gammainc(xp + 1.0, mu)  # 1 - Q(x + 1, mu)
    return pmf, sf


def _loss_at(level: FloatArray, fit: _Fit, idx: IndexArray) -> FloatArray:
    """``E[(X - level)^+]`` for real levels, elements ``idx`` (flat arrays).

    At an integer x >= 0: ``n(x) = (mean + b x) f(x) + (mean - x)(1 - F(x))`` [Z C.2.3.6],
    b = (1 - p) / p (b = 0 is the Poisson case [SS (C.41)]). Between integers n is linear
    with slope ``-(1 - F(floor(level)))``; below 0 it is ``mean - level``.
    """
    mean = fit.mean[idx]
    base = np.floor(np.maximum(level, 0.0))
    pmf, sf = _pmf_sf(base, fit, idx)
    b = np.where(fit.kind[idx] == 0, (1.0 - fit.p[idx]) / fit.p[idx], 0.0)
    at_base = (mean + b * base) * pmf + (mean - base) * sf
    at_base = np.maximum(at_base, np.maximum(mean - base, 0.0))  # Jensen; float noise
    frac = np.where(level > 0, level - base, 0.0)
    return np.where(level < 0, mean - level, at_base - frac * sf)


def _smallest_integer(
    meets: Callable[[FloatArray, IndexArray], BoolArray],
    lo: FloatArray,
    hi: FloatArray,
) -> FloatArray:
    """Smallest integer s in (lo, hi] with ``meets(s)``, given meets(lo) false, meets(hi) true.

    Integer bisection on flat arrays; each round evaluates only the unsettled elements.
    ``meets`` must be monotone (false then true) in s.
    """
    lo, hi = lo.copy(), hi.copy()
    idx = np.flatnonzero(hi - lo > 1)
    while idx.size:
        mid = np.floor(0.5 * (lo[idx] + hi[idx]))
        good = meets(mid, idx)
        hi[idx[good]] = mid[good]
        lo[idx[~good]] = mid[~good]
        idx = idx[hi[idx] - lo[idx] > 1]
    return hi


def nb_parameters(mean: ArrayIn, var: ArrayIn) -> tuple[FloatOrArray, FloatOrArray]:
    """Method-of-moments NB shape r and success probability p (scipy's ``nbinom(r, p)``).

    ``r = mean^2 / (var - mean)``, ``p = mean / var``; r = inf, p = 1 where the fit falls
    back to Poisson or to 0 (module notes); NaN where inputs are invalid (NaN, < 0).

    >>> [round(x, 9) for x in nb_parameters(23.333333333333336, 8.819171036881968**2)]
    [10.0, 0.3]
    """
    m, v = np.broadcast_arrays(_f(mean), _f(var))
    fit = _fit(m, v)
    r = np.where(fit.kind == 0, fit.r, np.inf)
    bad = fit.kind == 3
    r = np.where(bad, np.nan, r).reshape(m.shape)
    p = np.where(bad, np.nan, fit.p).reshape(m.shape)
    return _out(r), _out(p)


def nb_pmf(x: ArrayIn, mean: ArrayIn, var: ArrayIn) -> FloatOrArray:
    """``P(X = x)`` of the moment-fitted count law; 0 at non-integer or negative x.

    >>> from scipy.stats import nbinom
    >>> round(nb_pmf(14, 15, 37.5), 12) == round(float(nbinom.pmf(14, 10, 0.4)), 12)
    True
    """
    xx, m, v = np.broadcast_arrays(_f(x), _f(mean), _f(var))
    fit = _fit(m, v)
    flat = xx.ravel()
    integer = (flat >= 0) & (np.floor(flat) == flat)
    pmf, _ = _pmf_sf(np.where(integer, flat, 0.0), fit, np.arange(flat.size))
    result = np.where(integer, pmf, 0.0)
    result = np.where((fit.kind == 3) | np.isnan(flat), np.nan, result)
    return _out(result.reshape(xx.shape))


def nb_cdf(x: ArrayIn, mean: ArrayIn, var: ArrayIn) -> FloatOrArray:
    """``P(X <= x)`` of the moment-fitted count law, for real x (0 below 0).

    >>> round(nb_cdf(8, 6, 6), 6)  # var = mean: Poisson(6); scipy poisson.cdf(8, 6)
    0.847237
    """
    xx, m, v = np.broadcast_arrays(_f(x), _f(mean), _f(var))
    fit = _fit(m, v)
    flat = xx.ravel()
    _, sf = _pmf_sf(np.floor(np.maximum(np.nan_to_num(flat), 0.0)), fit, np.arange(flat.size))
    result = np.where(flat < 0, 0.0, 1.0 - sf)
    result = np.where((fit.kind == 3) | np.isnan(flat), np.nan, result)
    return _out(result.reshape(xx.shape))


def nb_quantile(prob: ArrayIn, mean: ArrayIn, var: ArrayIn) -> FloatOrArray:
    """Smallest integer ``S >= 0`` with ``P(X <= S) >= prob``: the cycle-service order-up-to.

    prob: cycle service level (probability of no stock-out), in (0, 1); outside gives NaN.
    mean 0 gives 0. Bisection between Cantelli's bounds ``mean - sd sqrt((1-q)/q)`` and
    ``mean + sd sqrt(q/(1-q))``, which bracket the quantile of any law with that mean
    and variance.

    [SS] Example 4.7: Poisson(6) (var = mean) with critical ratio 4 / (1 + 4) = 0.8:

    >>> nb_quantile(0.8, 6, 6)
    8.0
    >>> nb_quantile([0.5, 0.95], 23.333333333333336, 77.77777777777779).tolist()
    [22.0, 39.0]
    """
    q, m, v = np.broadcast_arrays(_f(prob), _f(mean), _f(var))
    fit = _fit(m, v)
    qq = q.ravel()
    ok = (qq > 0) & (qq < 1) & (fit.kind != 3)
    active = ok & (fit.kind != 2)
    qs = np.where(active, qq, 0.5)
    sd = np.sqrt(np.where(active, fit.var, 0.0))
    lo = np.where(active, np.maximum(np.ceil(fit.mean - sd * np.sqrt((1 - qs) / qs)) - 1, -1), 0)
    hi = np.where(active, np.maximum(np.ceil(fit.mean + sd * np.sqrt(qs / (1 - qs))), 0), 1)

    def meets(s: FloatArray, idx: IndexArray) -> BoolArray:
        return _pmf_sf(s, fit, idx)[1] <= 1.0 - qs[idx]

    result = np.where(active, _smallest_integer(meets, lo - 0.0, hi - 0.0), 0.0)
    return _out(np.where(ok, result, np.nan).reshape(q.shape))


def nb_expected_shortage(level: ArrayIn, mean: ArrayIn, var: ArrayIn) -> FloatOrArray:
    """``E[(X - level)^+]`` of the moment-fitted count law, units, for real levels.

    [Z] C.2.3.6 at integers, linear in between (the loss of an integer-valued X).
    stockpyl's tests (NB r = 10, p = 0.3: mean 23.33, sd 8.819) give n(14) = 9.7401 and
    n(28) = 1.8055; Poisson(200) at 220 gives 0.53601:

    >>> nb_expected_shortage([14, 28], 23.333333333333336, 77.77777777777779).round(4).tolist()
    [9.7401, 1.8055]
    >>> round(nb_expected_shortage(220, 200, 200), 5)
    0.53601
    """
    x, m, v = np.broadcast_arrays(_f(level), _f(mean), _f(var))
    fit = _fit(m, v)
    flat = x.ravel()
    loss = _loss_at(np.nan_to_num(flat), fit, np.arange(flat.size))
    loss = np.where(fit.kind == 2, np.maximum(-flat, 0.0), loss)
    loss = np.where((fit.kind == 3) | np.isnan(flat), np.nan, loss)
    return _out(loss.reshape(x.shape))


# --- Exact fill rates and the levels that meet them ---


def _fill(shortage: FloatArray, demand: FloatArray) -> FloatArray:
    """``1 - shortage / demand``; 1 where no demand is expected, NaN where demand < 0."""
    shortage, demand = np.broadcast_arrays(shortage, demand)
    ratio = np.divide(shortage, demand, out=np.zeros(demand.shape), where=demand > 0)
    return np.where(demand < 0, np.nan, 1.0 - ratio)


def rs_expected_shortage_normal(
    order_up_to: ArrayIn, mean_lr: ArrayIn, sd_lr: ArrayIn, mean_l: ArrayIn, sd_l: ArrayIn
) -> FloatOrArray:
    """ESPRC of (R, S), normal demand: ``E[(D_{L+R} - S)^+] - E[(D_L - S)^+]``, units.

    mean_lr, sd_lr: demand over L + R; mean_l, sd_l: over L (units). [SPT ch. 6] exact
    form (the second term is the shortage already there when the order arrives).

    >>> round(rs_expected_shortage_normal(100, 74, 20, 69, 10), 6)  # 20 G(1.3) - 10 G(3.1)
    0.907887
    """
    lr = _f(normal_expected_shortage(order_up_to, mean_lr, sd_lr))
    return _out(lr - _f(normal_expected_shortage(order_up_to, mean_l, sd_l)))


def rs_fill_rate_normal(
    order_up_to: ArrayIn, mean_lr: ArrayIn, sd_lr: ArrayIn, mean_l: ArrayIn, sd_l: ArrayIn
) -> FloatOrArray:
    """Fill rate of (R, S), normal demand: ``1 - ESPRC / E[D_R]``, ``E[D_R] = mean_lr - mean_l``.

    1 when ``E[D_R] = 0``; NaN when ``mean_lr < mean_l``. Not clipped to [0, 1].

    >>> round(rs_fill_rate_normal(100, 74, 20, 69, 10), 6)
    0.818423
    """
    shortage = _f(rs_expected_shortage_normal(order_up_to, mean_lr, sd_lr, mean_l, sd_l))
    return _out(_fill(shortage, _f(mean_lr) - _f(mean_l)))


def order_up_to_for_fill_rate_normal(
    fill_rate: ArrayIn,
    mean_lr: ArrayIn,
    sd_lr: ArrayIn,
    mean_l: ArrayIn,
    sd_l: ArrayIn,
    k_min: float = K_MIN,
    k_max: float = K_MAX,
) -> FloatOrArray:
    """Order-up-to S meeting a fill rate under the exact (R, S) ESPRC, normal demand, units.

    ``S = mean_lr + k sd_lr`` with k solving ``ESPRC(S) = (1 - beta) (mean_lr - mean_l)``
    by bisection on [k_min, k_max] = [0, 5]: the ESPRC is decreasing in S for
    ``S >= mean_lr`` (``P(D_{L+R} > S) >= P(D_L > S)`` there). k = k_min when cycle stock
    alone meets the target, k_max when the cap binds. ``sd_lr <= 0`` gives ``S = mean_lr``
    (zero demand gives 0); NaN in any input gives NaN.

    >>> s = order_up_to_for_fill_rate_normal(0.98, 80, 12, 50, 9)
    >>> round(float(rs_fill_rate_normal(s, 80, 12, 50, 9)), 9)
    0.98
    """
    beta, m_lr, s_lr, m_l, s_l = np.broadcast_arrays(
        _f(fill_rate), _f(mean_lr), _f(sd_lr), _f(mean_l), _f(sd_l)
    )
    positive = s_lr > 0
    sd = np.where(positive, s_lr, 1.0)
    target = (1.0 - beta) * np.maximum(m_lr - m_l, 0.0)

    def shortage(k: FloatArray) -> FloatArray:
        return _f(rs_expected_shortage_normal(m_lr + k * sd, m_lr, sd, m_l, s_l))

    k = _bisect_k(shortage, np.where(positive, target, np.inf), k_min, k_max)
    result = np.where(positive, m_lr + k * sd, m_lr)
    return _out(np.where(_any_nan(beta, m_lr, s_lr, m_l, s_l), np.nan, result))


def sq_expected_shortage_normal(
    reorder_point: ArrayIn, order_qty: ArrayIn, mean_l: ArrayIn, sd_l: ArrayIn
) -> FloatOrArray:
    """ESPRC of (s, Q), normal lead-time demand: ``sigma_L [G(k) - G(k + Q / sigma_L)]``.

    k = (s - mean_l) / sd_l; Hadley-Whitin exact backorder form [SPT ch. 6], Axsaeter
    (5.52). Written as ``n(s) - n(s + Q)``, so ``sd_l <= 0`` is the deterministic limit.

    >>> round(sq_expected_shortage_normal(100, 50, 80, 10), 6)  # 10 [G(2) - G(7)]
    0.084907
    """
    q = _f(order_qty)
    at_s = _f(normal_expected_shortage(reorder_point, mean_l, sd_l))
    return _out(at_s - _f(normal_expected_shortage(_f(reorder_point) + q, mean_l, sd_l)))


def sq_fill_rate_normal(
    reorder_point: ArrayIn, order_qty: ArrayIn, mean_l: ArrayIn, sd_l: ArrayIn
) -> FloatOrArray:
    """Fill rate of (s, Q): ``1 - ESPRC / Q``; NaN where ``Q <= 0``.

    >>> round(sq_fill_rate_normal(100, 50, 80, 10), 6)
    0.998302
    """
    q = _f(order_qty)
    shortage = _f(sq_expected_shortage_normal(reorder_point, q, mean_l, sd_l))
    fill = 1.0 - np.divide(shortage, q, out=np.zeros(shortage.shape), where=q > 0)
    return _out(np.where(q > 0, fill, np.nan))


def reorder_point_for_fill_rate_normal(
    fill_rate: ArrayIn,
    order_qty: ArrayIn,
    mean_l: ArrayIn,
    sd_l: ArrayIn,
    k_min: float = K_MIN,
    k_max: float = K_MAX,
) -> FloatOrArray:
    """Reorder point s meeting a fill rate under the exact (s, Q) ESPRC, normal demand, units.

    ``s = mean_l + k sd_l`` with ``[G(k) - G(k + q)] / q = 1 - beta``, q = Q / sd_l,
    bisection on [k_min, k_max] (the left side decreases in k). As Q -> 0 the ratio tends
    to ``1 - Phi(k)``, so ``Q <= 0`` gives the cycle-service factor ``Phi^-1(beta)``
    (clipped), not the cap. ``sd_l <= 0`` gives ``s = mean_l`` (zero demand: 0).

    >>> s = reorder_point_for_fill_rate_normal(0.99, 50, 80, 10)
    >>> round(float(sq_fill_rate_normal(s, 50, 80, 10)), 9)
    0.99
    """
    beta, q, m, sd = np.broadcast_arrays(_f(fill_rate), _f(order_qty), _f(mean_l), _f(sd_l))
    positive = sd > 0
    sigma = np.where(positive, sd, 1.0)
    lot = np.maximum(q, 0.0) / sigma
    small = lot < _TINY_LOT
    safe_lot = np.where(small, 1.0, lot)

    def ratio(k: FloatArray) -> FloatArray:
        exact = (_f(normal_loss(k)) - _f(normal_loss(k + safe_lot))) / safe_lot
        return np.where(small, ndtr(-k), exact)

    k = _bisect_k(ratio, np.where(positive, 1.0 - beta, np.inf), k_min, k_max)
    result = np.where(positive, m + k * sigma, m)
    return _out(np.where(_any_nan(beta, q, m, sd), np.nan, result))


def rs_expected_shortage_nb(
    order_up_to: ArrayIn, mean_lr: ArrayIn, var_lr: ArrayIn, mean_l: ArrayIn, var_l: ArrayIn
) -> FloatOrArray:
    """ESPRC of (R, S) with moment-fitted NB demand over L + R and over L, units.

    >>> round(rs_expected_shortage_nb(28, 23.333333333333336, 77.77777777777779, 15, 37.5), 6)
    1.697061
    """
    lr = _f(nb_expected_shortage(order_up_to, mean_lr, var_lr))
    return _out(lr - _f(nb_expected_shortage(order_up_to, mean_l, var_l)))


def rs_fill_rate_nb(
    order_up_to: ArrayIn, mean_lr: ArrayIn, var_lr: ArrayIn, mean_l: ArrayIn, var_l: ArrayIn
) -> FloatOrArray:
    """Fill rate of (R, S), NB demand: ``1 - ESPRC / (mean_lr - mean_l)`` (see the normal one).

    >>> round(rs_fill_rate_nb(28, 23.333333333333336, 77.77777777777779, 15, 37.5), 6)
    0.796353
    """
    shortage = _f(rs_expected_shortage_nb(order_up_to, mean_lr, var_lr, mean_l, var_l))
    return _out(_fill(shortage, _f(mean_lr) - _f(mean_l)))


def order_up_to_for_fill_rate_nb(
    fill_rate: ArrayIn, mean_lr: ArrayIn, var_lr: ArrayIn, mean_l: ArrayIn, var_l: ArrayIn
) -> FloatOrArray:
    """Smallest integer S >= 0 whose exact (R, S) NB fill rate is at least ``fill_rate``.

    fill_rate in (0, 1), else NaN. Integer bisection on (-1, hi], hi from Scarf's bound:
    ``n_{L+R}(hi) <= eps = (1 - beta)(mean_lr - mean_l)`` when
    ``hi >= mean_lr + var_lr / (4 eps) - eps``. Assumes the fill rate increases in S (true
    when D_L is stochastically below D_{L+R}, e.g. both fits share var/mean). Unlike the
    normal solver S is not floored at mean_lr. mean_lr = 0 gives 0; mean_lr > 0 with
    ``mean_lr <= mean_l`` gives NaN.

    >>> nb_args = (23.333333333333336, 77.77777777777779, 15, 37.5)
    >>> s = order_up_to_for_fill_rate_nb(0.95, *nb_args)
    >>> s, bool(rs_fill_rate_nb(s, *nb_args) >= 0.95), bool(rs_fill_rate_nb(s - 1, *nb_args) < 0.95)
    (37.0, True, True)
    """
    beta, m_lr, v_lr, m_l, v_l = np.broadcast_arrays(
        _f(fill_rate), _f(mean_lr), _f(var_lr), _f(mean_l), _f(var_l)
    )
    fit_lr = _fit(m_lr, v_lr)
    fit_l = _fit(m_l, v_l)
    b = beta.ravel()
    mean_r = fit_lr.mean - fit_l.mean
    ok = (b > 0) & (b < 1) & (fit_lr.kind != 3) & (fit_l.kind != 3)
    zero = ok & (fit_lr.kind == 2)
    ok = ok & (zero | (mean_r > 0))
    active = ok & ~zero
    eps = np.where(active, (1.0 - b) * mean_r, 1.0)
    hi = np.where(active, np.ceil(fit_lr.mean + np.maximum(fit_lr.var / (4 * eps) - eps, 0)), 1)
    lo = np.where(active, -1.0, 0.0)

    def meets(s: FloatArray, idx: IndexArray) -> BoolArray:
        shortage = _loss_at(s, fit_lr, idx) - _loss_at(s, fit_l, idx)
        return shortage <= eps[idx]

    result = np.where(active, _smallest_integer(meets, lo, hi), 0.0)
    return _out(np.where(ok, result, np.nan).reshape(beta.shape))


def order_up_to_for_cycle_service_nb(
    service_level: ArrayIn, mean_lr: ArrayIn, var_lr: ArrayIn
) -> FloatOrArray:
    """Order-up-to S for a cycle service level under NB demand over L + R: the quantile.

    The smallest integer S with ``P(D_{L+R} <= S) >= service_level`` (:func:`nb_quantile`).

    >>> order_up_to_for_cycle_service_nb(0.95, 23.333333333333336, 77.77777777777779)
    39.0
    """
    return nb_quantile(service_level, mean_lr, var_lr)
