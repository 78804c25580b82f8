"""Loss functions and quantiles of demand over a protection period: normal and count laws.

Vectorised over SKUs: arguments are scalars or arrays (broadcast), a 0-d result is a
Python float, NaN in any input gives NaN out. Exact fill rates and their solvers:
:mod:`replenishment.fill_rate`; empirical (bootstrap) ones: :mod:`replenishment.empirical_loss`.

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
  Supply Chains*, 4th ed., CRC Press, 2017, Chapter 6: the normal loss table G_u(k) and
  the fill-rate rule ``sigma G(k) = (1 - P2) Q`` (:func:`k_for_fill_rate`).
- Cantelli's inequality brackets the quantile search (it holds for any law with that
  mean and variance); a Cornish-Fisher skew-corrected normal quantile starts it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy.special import betainc, gammainc, gammaln, ndtr, ndtri

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IndexArray = npt.NDArray[np.intp]
FloatOrArray = float | FloatArray
ArrayIn = float | npt.ArrayLike

#: Bounds of the normal safety factor k = (S - mean) / sigma searched by the solvers, as in
#: ``policy.k_for_fill_rate``: k >= 0 keeps safety stock non-negative, k <= 5 caps it.
K_MIN = 0.0
K_MAX = 5.0
#: Bisection steps of the continuous solvers: precision (K_MAX - K_MIN) / 2**40 = 5e-12.
BISECTION_STEPS = 40
#: NB shape above which the Poisson limit is used (lgamma differences lose precision).
NB_MAX_SHAPE = 1e10
_SQRT_2PI = float(np.sqrt(2.0 * np.pi))


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
    steps: int = BISECTION_STEPS,
) -> FloatArray:
    """k in [k_min, k_max] with ``shortage(k) = target`` for a shortage decreasing in k.

    Clipped: k_min when ``shortage(k_min) <= target`` (the lower bound already meets the
    target), k_max when ``shortage(k_max) > target`` (the cap binds). A fixed number of
    steps over all elements at once.
    """
    lo = np.full(target.shape, k_min)
    hi = np.full(target.shape, k_max)
    for _ in range(steps):
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


def _gallop(
    meets: Callable[[FloatArray, IndexArray], BoolArray],
    lo: FloatArray,
    hi: FloatArray,
    guess: FloatArray,
) -> None:
    """Narrow the brackets ``(lo, hi]`` in place around a guess of the answer.

    Tests the guess, then steps of 1, 2, 4, ... away from it (down while the target is met,
    up while it is not) until the answer is bracketed: about ``2 log2(|error| + 1)``
    evaluations when the guess is close, instead of ``log2(hi - lo)``.
    """
    idx = np.flatnonzero(hi - lo > 1)
    if not idx.size:
        return
    anchor = np.clip(np.round(guess[idx]), lo[idx] + 1, hi[idx] - 1)
    down = meets(anchor, idx)  # met at the guess: look below it for a miss, else above
    hi[idx[down]] = anchor[down]
    lo[idx[~down]] = anchor[~down]
    step = 1.0
    while idx.size:
        probe = np.where(down, anchor - step, anchor + step)
        inside = (probe > lo[idx]) & (probe < hi[idx])
        idx, probe, down = idx[inside], probe[inside], down[inside]
        good = meets(probe, idx)
        hi[idx[good]] = probe[good]
        lo[idx[~good]] = probe[~good]
        same_side = good == down
        idx, anchor, down = idx[same_side], probe[same_side], down[same_side]
        step *= 2.0


def _smallest_integer(
    meets: Callable[[FloatArray, IndexArray], BoolArray],
    lo: FloatArray,
    hi: FloatArray,
    guess: FloatArray | None = None,
) -> FloatArray:
    """Smallest integer s in (lo, hi] with ``meets(s)``, given meets(lo) false, meets(hi) true.

    Integer bisection on flat arrays (after :func:`_gallop` from ``guess`` when given);
    each round evaluates only the unsettled elements. ``meets`` must be monotone (false
    then true) in s.
    """
    lo, hi = lo.copy(), hi.copy()
    if guess is not None:
        _gallop(meets, lo, hi, guess)
    idx = np.flatnonzero(hi - lo > 1)
    while idx.size:
        mid = np.floor(0.5 * (lo[idx] + hi[idx]))
        good = meets(mid, idx)
        hi[idx[good]] = mid[good]
        lo[idx[~good]] = mid[~good]
        idx = idx[hi[idx] - lo[idx] > 1]
    return hi


def _cornish_fisher(z: FloatArray, fit: _Fit) -> FloatArray:
    """Skew-corrected level ``mean + sd (z + (z^2 - 1) skew / 6)`` (Cornish-Fisher), a guess.

    z: standard normal quantile of the wanted probability. skew: ``(2 - p) / sqrt(r (1 - p))``
    for NB, ``1 / sqrt(mean)`` for Poisson.
    """
    nb = fit.kind == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        skew = np.where(nb, (2.0 - fit.p) / np.sqrt(fit.r * (1.0 - fit.p)), 1.0 / np.sqrt(fit.mean))
    skew = np.nan_to_num(skew, nan=0.0, posinf=0.0)
    sd = np.sqrt(np.nan_to_num(fit.var))
    return np.asarray(fit.mean + sd * (z + (z * z - 1.0) * skew / 6.0), dtype=np.float64)


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

    guess = _cornish_fisher(_f(ndtri(qs)), fit)
    result = np.where(active, _smallest_integer(meets, lo, hi, guess), 0.0)
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
