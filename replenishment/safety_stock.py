"""Safety stock and stock levels from the distribution of demand over the protection period.

What lives here: the step from "mean and spread of demand over P days" to the stock
level that meets a service target, for a mix of normal and negative-binomial SKUs at once.
The formulas themselves (losses, quantiles, exact fill rates and their solvers, with
their sources) are :mod:`replenishment.loss_functions` and :mod:`replenishment.fill_rate`;
this module picks the distribution per SKU and applies them.

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
    ``sigma_P**2 <= mu_P``) for erratic, intermittent and lumpy SKUs (erratic: sizes vary
    widely, CV**2 > 0.49, and their P-day demand is right-skewed) and wherever
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
from scipy.special import ndtri

from replenishment.fill_rate import (
    order_up_to_for_fill_rate_nb,
    order_up_to_for_fill_rate_normal,
    reorder_point_for_fill_rate_normal,
    rs_fill_rate_nb,
    rs_fill_rate_normal,
)
from replenishment.frames import FloatOrArray, as_float_array, scalar_or_array
from replenishment.loss_functions import (
    K_MAX,
    K_MIN,
    k_for_fill_rate,
    nb_expected_shortage,
    nb_quantile,
    normal_loss,
)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

__all__ = [
    "K_MAX",
    "K_MIN",
    "fill_rate_periodic",
    "k_for_fill_rate",
    "levels_for_cycle_service",
    "levels_for_fill_rate_continuous",
    "levels_for_fill_rate_periodic",
    "normal_loss",
    "use_negative_binomial",
    "z_for_service_level",
]

#: mu_P below this many sigma_P makes the normal inaccurate: use the negative binomial.
NORMAL_MIN_CV_INVERSE = 3.0
#: Demand classes modelled as negative binomial whatever their spread.
DISCRETE_CLASSES = frozenset({"intermittent", "lumpy", "erratic"})
_BISECTION_STEPS = 48


def z_for_service_level(service_level: float | npt.ArrayLike) -> FloatOrArray:
    """Safety factor z for a cycle service level: the standard normal quantile.

    service_level: probability of no stock-out in a replenishment cycle, in (0, 1).
    Returns ``Phi^-1(service_level)``, e.g. 0.95 -> 1.6449 (NaN outside (0, 1)).
    """
    return scalar_or_array(np.asarray(ndtri(as_float_array(service_level)), dtype=np.float64))


def use_negative_binomial(
    demand_class: npt.ArrayLike, mu: FloatArray, sigma: FloatArray
) -> BoolArray:
    """True where D_P is modelled as negative binomial rather than normal (see module)."""
    classes = np.asarray(demand_class, dtype=object)
    discrete = np.isin(classes, list(DISCRETE_CLASSES))
    return np.asarray(discrete | (mu < NORMAL_MIN_CV_INVERSE * sigma), dtype=bool)


def _arr(x: FloatOrArray) -> FloatArray:
    return np.atleast_1d(np.asarray(x, dtype=np.float64))


def _by_distribution(
    discrete: BoolArray,
    normal: Callable[[npt.NDArray[np.intp]], FloatOrArray],
    negative_binomial: Callable[[npt.NDArray[np.intp]], FloatOrArray],
) -> FloatArray:
    """One result per SKU: ``normal(rows)`` for the normal SKUs, the other for the rest."""
    out = np.zeros(len(discrete), dtype=np.float64)
    for rows, fn in (
        (np.flatnonzero(~discrete), normal),
        (np.flatnonzero(discrete), negative_binomial),
    ):
        if rows.size:
            out[rows] = _arr(fn(rows))
    return out


def levels_for_cycle_service(
    mu: FloatArray, sigma: FloatArray, alpha: FloatArray, discrete: BoolArray
) -> FloatArray:
    """Stock level S meeting cycle service alpha: ``P(D_P <= S) >= alpha``, never below mu."""
    level = _by_distribution(
        discrete,
        lambda r: mu[r] + np.asarray(ndtri(alpha[r]), dtype=np.float64) * sigma[r],
        lambda r: nb_quantile(alpha[r], mu[r], sigma[r] ** 2),
    )
    return np.asarray(np.maximum(level, mu), dtype=np.float64)


def levels_for_fill_rate_periodic(
    mu_p: FloatArray,
    sigma_p: FloatArray,
    mu_l: FloatArray,
    sigma_l: FloatArray,
    review_demand: FloatArray,
    beta: FloatArray,
    discrete: BoolArray,
) -> FloatArray:
    """Order-up-to S of an (R, S) policy meeting fill rate beta, exact ESPRC (module);
    mu_P where nothing is demanded over the review period. ``review_demand`` (d R) is
    ``mu_p - mu_l`` by construction and only checked for being positive."""
    reviewed = review_demand > 0
    level = _by_distribution(
        discrete,
        lambda r: order_up_to_for_fill_rate_normal(
            beta[r], mu_p[r], sigma_p[r], mu_l[r], sigma_l[r]
        ),
        lambda r: order_up_to_for_fill_rate_nb(
            beta[r], mu_p[r], sigma_p[r] ** 2, mu_l[r], sigma_l[r] ** 2
        ),
    )
    level = np.where(reviewed & np.isfinite(level), level, mu_p)
    return np.asarray(np.maximum(level, mu_p), dtype=np.float64)


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


def _reorder_point_nb(
    beta: FloatArray, lot: FloatArray, mu: FloatArray, var: FloatArray
) -> FloatArray:
    """(s, Q) reorder point for fill rate beta with negative-binomial demand over P:
    ``ESPRC(s) = n(s) - n(s + Q) = (1 - beta) Q``, n the NB loss (Hadley & Whitin)."""

    def shortage(s: FloatArray) -> FloatArray:
        return _arr(nb_expected_shortage(s, mu, var)) - _arr(nb_expected_shortage(s + lot, mu, var))

    hi = mu + 8.0 * np.sqrt(var) + 1.0
    return _bisect(shortage, (1.0 - beta) * np.maximum(lot, 0.0), mu.copy(), hi)


def levels_for_fill_rate_continuous(
    mu_p: FloatArray, sigma_p: FloatArray, lot: FloatArray, beta: FloatArray, discrete: BoolArray
) -> FloatArray:
    """Reorder point s of an (s, Q) policy meeting fill rate beta, exact ESPRC (module)."""
    level = _by_distribution(
        discrete,
        lambda r: reorder_point_for_fill_rate_normal(beta[r], lot[r], mu_p[r], sigma_p[r]),
        lambda r: _reorder_point_nb(beta[r], lot[r], mu_p[r], sigma_p[r] ** 2),
    )
    return np.asarray(np.maximum(level, mu_p), dtype=np.float64)


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
    return _by_distribution(
        discrete,
        lambda r: rs_fill_rate_normal(level[r], mu_p[r], sigma_p[r], mu_l[r], sigma_l[r]),
        lambda r: rs_fill_rate_nb(level[r], mu_p[r], sigma_p[r] ** 2, mu_l[r], sigma_l[r] ** 2),
    )
