"""Safety stock and stock levels from the distribution of demand over the protection period.

What lives here: the step from "mean and spread of demand over P days" to the stock
level that meets a service target. Pure numpy/scipy; imports only the loss functions.

Notation (units of stock; P, L, R in days)
------------------------------------------
mu_P, sigma_P
    Mean and standard deviation of demand over the protection period P (the forecast
    summed over P days; the forecast's own P-day error spread, see
    :mod:`replenishment.forecast_error`, combined with lead-time variability).
mu_L, sigma_L
    The same over the lead time L alone (the (R, S) fill-rate expression needs both).
D_P
    Demand over P. Modelled as **normal** for SKUs with steady demand, and as
    **negative binomial** (a discrete, right-skewed count; Poisson when
    ``sigma_P**2 <= mu_P``) for intermittent and lumpy SKUs and wherever
    ``mu_P < 3 * sigma_P`` (there a normal puts more than 0.1 % of its mass below zero
    and is too light in the right tail). The negative binomial is fitted by moments:
    ``n = mu**2 / (var - mu)``, ``p = mu / var`` (Silver, Pyke & Thomas, *Inventory and
    Production Management in Supply Chains*, 4th ed., 2017, section 6.11 on slow-moving
    items; Axsäter, *Inventory Control*, 3rd ed., 2015, section 5.3.3).

Cycle service level alpha (probability of no stock-out in a replenishment cycle):
``S = F^-1(alpha)`` of D_P: ``mu_P + z * sigma_P`` for the normal, the smallest integer
``S`` with ``P(D_P <= S) >= alpha`` for the negative binomial.

Fill rate beta (share of demand served from stock), with the exact expected shortage per
replenishment cycle (ESPRC) instead of the approximation ``G(k) * sigma_P``:

(R, S), periodic review
    ``ESPRC(S) = E[(D_{L+R} - S)^+] - E[(D_L - S)^+]`` and
    ``beta = 1 - ESPRC(S) / (d * R)`` (Silver, Pyke & Thomas, 4th ed., eq. 7.12 with
    the correction term of section 7.5.2; Axsäter 3rd ed. eq. 6.27: shortage is only what
    the cycle itself adds, the backlog already short at the start of the cycle does not
    count again).
(s, Q), continuous review
    ``ESPRC(s) = E[(D_P - s)^+] - E[(D_P - s - Q)^+]`` and ``beta = 1 - ESPRC(s) / Q``
    (Hadley & Whitin 1963; Silver, Pyke & Thomas, 4th ed., eq. 6.16 with its exact form,
    ``sigma [G(k) - G(k + Q / sigma)]``, for normal demand).

Both ESPRCs fall as the level rises, so the level is found by bisection, vectorised over
all SKUs at once, between ``mu_P`` (no safety stock) and ``mu_P + 8 * sigma_P + 1``.
Safety stock is never negative: ``SS = max(level - mu_P, 0)``.

>>> lv = levels_for_cycle_service(np.array([100.0, 2.0]), np.array([20.0, 2.0]),
...                               np.array([0.95, 0.95]), np.array([False, True]))
>>> [round(float(x), 2) for x in lv]  # normal: 100 + 1.645 * 20; NB(mean 2, var 4): 6
[132.9, 6.0]
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from scipy import stats
from scipy.special import ndtr, ndtri

from replenishment.frames import FloatOrArray, as_float_array, scalar_or_array

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: mu_P below this many sigma_P makes the normal inaccurate: use the negative binomial.
NORMAL_MIN_CV_INVERSE = 3.0
#: Demand classes modelled as negative binomial whatever their spread.
DISCRETE_CLASSES = frozenset({"intermittent", "lumpy"})
_BISECTION_STEPS = 48
#: Bounds of the approximate fill-rate safety factor k of :func:`k_for_fill_rate`.
K_MIN = 0.0
K_MAX = 5.0
_SUPPORT_SIGMAS = 12.0
_SQRT_2PI = float(np.sqrt(2.0 * np.pi))


def use_negative_binomial(
    demand_class: npt.ArrayLike, mu: FloatArray, sigma: FloatArray
) -> BoolArray:
    """True where D_P is modelled as negative binomial rather than normal (see module)."""
    classes = np.asarray(demand_class, dtype=object)
    discrete = np.isin(classes, list(DISCRETE_CLASSES))
    return np.asarray(discrete | (mu < NORMAL_MIN_CV_INVERSE * sigma), dtype=bool)


def _normal_loss_array(k: FloatArray) -> FloatArray:
    """Standard normal loss ``G(k) = phi(k) - k (1 - Phi(k))``: expected units short, in
    standard deviations, above ``mean + k sigma``. G(0) = 0.39894, G(1) = 0.08332."""
    return np.asarray(np.exp(-0.5 * k * k) / _SQRT_2PI - k * ndtr(-k), dtype=np.float64)


class _Discrete:
    """Negative-binomial (or Poisson) distributions of many SKUs on one integer grid."""

    def __init__(self, mu: FloatArray, var: FloatArray) -> None:
        mu = np.maximum(mu, 0.0)
        var = np.maximum(var, mu)
        top = int(np.ceil(np.max(mu + _SUPPORT_SIGMAS * np.sqrt(var), initial=0.0))) + 2
        x = np.arange(top + 1, dtype=np.float64)[None, :]
        poisson = var <= mu * (1.0 + 1e-9)
        safe_var = np.where(poisson, mu + 1.0, var)
        n = np.where(poisson, 1.0, mu**2 / np.maximum(safe_var - mu, 1e-12))
        p = np.where(poisson, 0.5, mu / safe_var)
        cdf = np.where(
            poisson[:, None],
            stats.poisson.cdf(x, mu[:, None]),
            stats.nbinom.cdf(x, n[:, None], p[:, None]),
        )
        cdf = np.where((mu <= 0)[:, None], 1.0, cdf)
        self.cdf = np.asarray(np.maximum.accumulate(cdf, axis=1), dtype=np.float64)
        survival = 1.0 - self.cdf
        # E[(X - n)^+] = sum_{x >= n} P(X > x), for integer n = 0 .. top
        self.loss_at = np.cumsum(survival[:, ::-1], axis=1)[:, ::-1]
        self.top = top

    def quantile(self, alpha: FloatArray) -> FloatArray:
        """Smallest integer S with P(X <= S) >= alpha."""
        return np.asarray((self.cdf < alpha[:, None] - 1e-12).sum(axis=1), dtype=np.float64)

    def loss(self, level: FloatArray) -> FloatArray:
        """E[(X - s)^+], exact: piecewise linear between integers for an integer X."""
        s = np.clip(level, 0.0, float(self.top))
        whole = np.floor(s).astype(np.int64)
        rows = np.arange(len(s))
        at = self.loss_at[rows, whole]
        above = 1.0 - self.cdf[rows, whole]  # P(X > n): slope of the loss on [n, n + 1)
        below_zero = np.minimum(level, 0.0)  # E[(X - s)^+] = mu - s for s <= 0
        return np.asarray(at - (s - whole) * above - below_zero, dtype=np.float64)


def _loss_function(
    mu: FloatArray, sigma: FloatArray, discrete: BoolArray
) -> Callable[[FloatArray], FloatArray]:
    """E[(D - s)^+] as a function of the level s, per SKU."""
    nb = np.flatnonzero(discrete)
    table = _Discrete(mu[nb], sigma[nb] ** 2) if nb.size else None
    safe = np.where(sigma > 0, sigma, 1.0)

    def loss(level: FloatArray) -> FloatArray:
        normal = np.where(
            sigma > 0, sigma * _normal_loss_array((level - mu) / safe), np.maximum(mu - level, 0.0)
        )
        if table is not None:
            normal[nb] = table.loss(level[nb])
        return np.asarray(normal, dtype=np.float64)

    return loss


def levels_for_cycle_service(
    mu: FloatArray, sigma: FloatArray, alpha: FloatArray, discrete: BoolArray
) -> FloatArray:
    """Stock level S meeting cycle service alpha: ``P(D_P <= S) >= alpha``, never below mu."""
    level = mu + np.asarray(ndtri(alpha), dtype=np.float64) * sigma
    nb = np.flatnonzero(discrete)
    if nb.size:
        level[nb] = _Discrete(mu[nb], sigma[nb] ** 2).quantile(alpha[nb])
    return np.asarray(np.maximum(level, mu), dtype=np.float64)


def _bisect(
    shortage: Callable[[FloatArray], FloatArray],
    allowed: FloatArray,
    lo: FloatArray,
    hi: FloatArray,
) -> FloatArray:
    """The smallest level in [lo, hi] with shortage(level) <= allowed (shortage decreasing)."""
    meets = shortage(lo) <= allowed
    low, high = lo.copy(), hi.copy()
    for _ in range(_BISECTION_STEPS):
        mid = 0.5 * (low + high)
        short = shortage(mid) > allowed
        low = np.where(short, mid, low)
        high = np.where(short, high, mid)
    return np.asarray(np.where(meets, lo, high), dtype=np.float64)


def levels_for_fill_rate_periodic(
    mu_p: FloatArray,
    sigma_p: FloatArray,
    mu_l: FloatArray,
    sigma_l: FloatArray,
    review_demand: FloatArray,
    beta: FloatArray,
    discrete: BoolArray,
) -> FloatArray:
    """Order-up-to S of an (R, S) policy meeting fill rate beta, exact ESPRC (module)."""
    loss_p = _loss_function(mu_p, sigma_p, discrete)
    loss_l = _loss_function(mu_l, sigma_l, discrete)
    allowed = (1.0 - beta) * np.maximum(review_demand, 0.0)
    hi = mu_p + 8.0 * sigma_p + 1.0
    return _bisect(lambda s: loss_p(s) - loss_l(s), allowed, mu_p.copy(), hi)


def levels_for_fill_rate_continuous(
    mu_p: FloatArray, sigma_p: FloatArray, lot: FloatArray, beta: FloatArray, discrete: BoolArray
) -> FloatArray:
    """Reorder point s of an (s, Q) policy meeting fill rate beta, exact ESPRC (module)."""
    loss = _loss_function(mu_p, sigma_p, discrete)
    allowed = (1.0 - beta) * np.maximum(lot, 0.0)
    hi = mu_p + 8.0 * sigma_p + 1.0
    return _bisect(lambda s: loss(s) - loss(s + lot), allowed, mu_p.copy(), hi)


def fill_rate_periodic(
    level: FloatArray,
    mu_p: FloatArray,
    sigma_p: FloatArray,
    mu_l: FloatArray,
    sigma_l: FloatArray,
    review_demand: FloatArray,
    discrete: BoolArray,
) -> FloatArray:
    """Fill rate of an (R, S) policy at order-up-to ``level``: 1 - ESPRC / (d R)."""
    short = _loss_function(mu_p, sigma_p, discrete)(level)
    short = short - _loss_function(mu_l, sigma_l, discrete)(level)
    return np.asarray(1.0 - short / np.maximum(review_demand, 1e-12), dtype=np.float64)


# --------------------------------------------------------------------------- safety factors


def z_for_service_level(service_level: float | npt.ArrayLike) -> FloatOrArray:
    """Safety factor z for a cycle service level: the standard normal quantile.

    service_level: probability of no stock-out in a replenishment cycle, in (0, 1).
    Returns ``Phi^-1(service_level)``, e.g. 0.95 -> 1.6449 (NaN outside (0, 1)).
    """
    return scalar_or_array(np.asarray(ndtri(as_float_array(service_level)), dtype=np.float64))


def normal_loss(k: float | npt.ArrayLike) -> FloatOrArray:
    """Standard normal loss function ``G(k) = phi(k) - k * (1 - Phi(k))``.

    ``G(k)`` is the expected shortage, in standard deviations, of a normal variable
    above ``mean + k * sigma``: ``G(0) = 0.39894``, decreasing in k, ``G(k) -> -k`` as
    ``k -> -inf``.
    """
    return scalar_or_array(_normal_loss_array(as_float_array(k)))


def k_for_fill_rate(
    fill_rate: float | npt.ArrayLike,
    expected_order_qty: float | npt.ArrayLike,
    sigma_protection: float | npt.ArrayLike,
) -> FloatOrArray:
    """Safety factor k that meets a fill rate (beta service level).

    Solves ``G(k) * sigma_protection = (1 - fill_rate) * expected_order_qty`` for k,
    where G is :func:`normal_loss`: the expected units short per cycle equal the
    allowed fraction of the units ordered per cycle.

    fill_rate: fraction of demand served from stock, in (0, 1).
    expected_order_qty: units ordered per replenishment cycle (``d * R`` or the lot size).
    sigma_protection: standard deviation of demand over the protection period, units.

    k is clipped to ``[K_MIN, K_MAX] = [0, 5]``: 0 when cycle stock alone meets the
    target (``(1 - beta) * Q / sigma >= G(0)``), so safety stock is never negative;
    5 when the target is smaller than ``G(5) = 5.4e-8`` (for example Q = 0). When
    ``sigma_protection <= 0`` there is no uncertainty to protect against and k = 0.
    Vectorised: a fixed 50-step bisection over all elements at once (G is monotone),
    precise to 5 / 2**50.
    """
    beta, q, sigma = np.broadcast_arrays(
        as_float_array(fill_rate),
        as_float_array(expected_order_qty),
        as_float_array(sigma_protection),
    )
    positive = sigma > 0
    target = np.divide(
        (1.0 - beta) * np.maximum(q, 0.0),
        sigma,
        out=np.zeros(beta.shape, dtype=np.float64),
        where=positive,
    )
    lo = np.full(beta.shape, K_MIN)
    hi = np.full(beta.shape, K_MAX)
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        too_much_shortage = np.asarray(normal_loss(mid)) > target
        lo = np.where(too_much_shortage, mid, lo)
        hi = np.where(too_much_shortage, hi, mid)
    k = 0.5 * (lo + hi)
    k = np.where(target >= normal_loss(K_MIN), K_MIN, k)
    k = np.where(target <= normal_loss(K_MAX), K_MAX, k)
    k = np.where(positive, k, K_MIN)
    k = np.where(np.isnan(beta) | np.isnan(q) | np.isnan(sigma), np.nan, k)
    return scalar_or_array(np.asarray(k, dtype=np.float64))
