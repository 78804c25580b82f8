"""Exact fill rates of (R, S) and (s, Q) policies, and the levels that meet a target.

Vectorised over SKUs like :mod:`replenishment.loss_functions` (whose notation this module
uses): arguments broadcast, 0-d results are floats, NaN in gives NaN out.

Formulas
--------
(R, S), backorders, review every R, lead time L. The shortage of one review cycle is the
demand above S by the end of the cycle's coverage, less what was already short when the
order arrived::

    ESPRC(S) = E[(D_{L+R} - S)^+] - E[(D_L - S)^+],   beta = 1 - ESPRC / E[D_R]

with ``E[D_R] = mean_lr - mean_l``; normal (``sd``) and moment-fitted negative binomial
(``var``) versions. Silver-Pyke-Thomas use the first term alone.

(s, Q), continuous review, normal lead-time demand, each lot Q triggered at s::

    ESPRC(s) = sigma_L [G(k) - G(k + Q / sigma_L)],   k = (s - mean_L) / sigma_L,
    beta = 1 - ESPRC / Q

(the Hadley-Whitin backorder form; Silver-Pyke-Thomas again keep ``sigma_L G(k)``).

Sources
-------
- E. A. Silver, D. F. Pyke, D. J. Thomas, *Inventory and Production Management in Supply
  Chains*, 4th ed., CRC Press, 2017, Chapter 6 (ESPRC, fill rate P2, (s, Q) and (R, S)
  decision rules and the approximations above).
- S. Axsaeter, *Inventory Control*, 3rd ed., Springer, 2015, (5.52): the exact (s, Q)
  fill rate with normal lead-time demand (as cited by the AMInventory R package).
- E. A. Silver, D. P. Bischak, "The exact fill rate in a periodic review base stock system
  under normally distributed demand", Omega 39 (2011) 346-349.
- Scarf's bound ``E[(X - S)^+] <= (sqrt(var + (S - mean)^2) - (S - mean)) / 2`` (any law
  with that mean and variance) caps the negative-binomial search.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import ndtr

from replenishment.loss_functions import (
    BISECTION_STEPS,
    K_MAX,
    K_MIN,
    ArrayIn,
    BoolArray,
    FloatArray,
    FloatOrArray,
    IndexArray,
    _any_nan,
    _bisect_k,
    _cornish_fisher,
    _f,
    _fit,
    _loss_at,
    _out,
    _smallest_integer,
    nb_expected_shortage,
    nb_quantile,
    normal_expected_shortage,
    normal_loss,
)

_TINY_LOT = 1e-9  # Q / sigma below this: the (s, Q) shortage ratio is its limit 1 - Phi(k)


def _fill(shortage: FloatArray, demand: FloatArray) -> FloatArray:
    """``1 - shortage / demand``; 1 where no demand is expected, NaN where demand < 0."""
    shortage, demand = np.broadcast_arrays(shortage, demand)
    ratio = np.divide(shortage, demand, out=np.zeros(demand.shape), where=demand > 0)
    return np.where(demand < 0, np.nan, 1.0 - ratio)


def _rs_shortage(
    loss: Callable[[ArrayIn, ArrayIn, ArrayIn], FloatOrArray],
    order_up_to: ArrayIn,
    mean_lr: ArrayIn,
    spread_lr: ArrayIn,
    mean_l: ArrayIn,
    spread_l: ArrayIn,
) -> FloatArray:
    """``loss(S | D_{L+R}) - loss(S | D_L)`` for a loss ``(level, mean, sd or var)``."""
    return _f(loss(order_up_to, mean_lr, spread_lr)) - _f(loss(order_up_to, mean_l, spread_l))


def rs_expected_shortage_normal(
    order_up_to: ArrayIn, mean_lr: ArrayIn, sd_lr: ArrayIn, mean_l: ArrayIn, sd_l: ArrayIn
) -> FloatOrArray:
    """ESPRC of (R, S), normal demand: ``E[(D_{L+R} - S)^+] - E[(D_L - S)^+]``, units.

    mean_lr, sd_lr: demand over L + R; mean_l, sd_l: over L (units). [SPT ch. 6] exact
    form (the second term is the shortage already there when the order arrives).

    >>> round(rs_expected_shortage_normal(100, 74, 20, 69, 10), 6)  # 20 G(1.3) - 10 G(3.1)
    0.907887
    """
    return _out(_rs_shortage(normal_expected_shortage, order_up_to, mean_lr, sd_lr, mean_l, sd_l))


def rs_fill_rate_normal(
    order_up_to: ArrayIn, mean_lr: ArrayIn, sd_lr: ArrayIn, mean_l: ArrayIn, sd_l: ArrayIn
) -> FloatOrArray:
    """Fill rate of (R, S), normal demand: ``1 - ESPRC / E[D_R]``, ``E[D_R] = mean_lr - mean_l``.

    1 when ``E[D_R] = 0``; NaN when ``mean_lr < mean_l``. Not clipped to [0, 1].

    >>> round(rs_fill_rate_normal(100, 74, 20, 69, 10), 6)
    0.818423
    """
    shortage = _rs_shortage(normal_expected_shortage, order_up_to, mean_lr, sd_lr, mean_l, sd_l)
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
    ``S >= mean_lr`` (``P(D_{L+R} > S) >= P(D_L > S)`` there, given ``mean_lr >= mean_l``
    and ``sd_lr >= sd_l``: the protection period contains the lead time). k = k_min when
    cycle stock alone meets the target, k_max when the cap binds. ``sd_lr <= 0`` gives
    ``S = mean_lr`` (zero demand gives 0); NaN in any input gives NaN.

    >>> s = order_up_to_for_fill_rate_normal(0.98, 80, 12, 50, 9)
    >>> round(float(rs_fill_rate_normal(s, 80, 12, 50, 9)), 9)
    0.98
    """
    beta, m_lr, s_lr, m_l, s_l = np.broadcast_arrays(
        _f(fill_rate), _f(mean_lr), _f(sd_lr), _f(mean_l), _f(sd_l)
    )
    result = _rs_normal_level(beta, m_lr, s_lr, m_l, s_l, k_min, k_max, BISECTION_STEPS)
    return _out(np.where(_any_nan(beta, m_lr, s_lr, m_l, s_l), np.nan, result))


def _rs_normal_level(
    beta: FloatArray,
    m_lr: FloatArray,
    s_lr: FloatArray,
    m_l: FloatArray,
    s_l: FloatArray,
    k_min: float,
    k_max: float,
    steps: int,
) -> FloatArray:
    """The bisection of :func:`order_up_to_for_fill_rate_normal` on broadcast arrays."""
    positive = s_lr > 0
    sd = np.where(positive, s_lr, 1.0)
    spread_l = s_l > 0
    sd_l = np.where(spread_l, s_l, 1.0)
    target = (1.0 - beta) * np.maximum(m_lr - m_l, 0.0)

    def shortage(k: FloatArray) -> FloatArray:  # n_{L+R}(S) - n_L(S) at S = m_lr + k sd
        level = m_lr + k * sd
        short_l = sd_l * _f(normal_loss((level - m_l) / sd_l))
        return sd * _f(normal_loss(k)) - np.where(spread_l, short_l, np.maximum(m_l - level, 0))

    k = _bisect_k(shortage, np.where(positive, target, np.inf), k_min, k_max, steps)
    return np.where(positive, m_lr + k * sd, m_lr)


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
    return _out(_rs_shortage(nb_expected_shortage, order_up_to, mean_lr, var_lr, mean_l, var_l))


def rs_fill_rate_nb(
    order_up_to: ArrayIn, mean_lr: ArrayIn, var_lr: ArrayIn, mean_l: ArrayIn, var_l: ArrayIn
) -> FloatOrArray:
    """Fill rate of (R, S), NB demand: ``1 - ESPRC / (mean_lr - mean_l)`` (see the normal one).

    >>> round(rs_fill_rate_nb(28, 23.333333333333336, 77.77777777777779, 15, 37.5), 6)
    0.796353
    """
    shortage = _rs_shortage(nb_expected_shortage, order_up_to, mean_lr, var_lr, mean_l, var_l)
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

    # Guess: the normal (R, S) level with the same moments, skew-corrected on D_{L+R}.
    sd_lr, sd_l = np.sqrt(np.nan_to_num(fit_lr.var)), np.sqrt(np.nan_to_num(fit_l.var))
    level = _rs_normal_level(b, fit_lr.mean, sd_lr, fit_l.mean, sd_l, -3.0, 2 * K_MAX, 14)
    z = np.divide(level - fit_lr.mean, sd_lr, out=np.zeros(level.shape), where=sd_lr > 0)
    guess = _cornish_fisher(z, fit_lr)
    result = np.where(active, _smallest_integer(meets, lo, hi, guess), 0.0)
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
