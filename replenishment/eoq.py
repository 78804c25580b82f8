"""Economic order quantity (EOQ), vectorised over SKUs.

One concept per module, as in stockpyl's ``eoq.py``: the lot size that balances the fixed
cost of a purchase order against the cost of holding the lot.

Notation (units)
----------------
A
    ``annual_demand``: expected demand, units per year (Snyder & Shen write lambda).
K
    ``order_cost``: fixed cost per purchase order, currency (Snyder & Shen K; the old
    ``policy.eoq`` called it S).
h
    ``holding_cost_per_unit_year``: cost of holding one unit for a year, currency per unit
    per year (``holding_cost_rate * unit_cost`` in ``sku_master`` terms).
Q
    Order quantity, units.

Sources
-------
- L. V. Snyder and Z.-J. M. Shen, *Fundamentals of Supply Chain Theory*, 2nd ed., Wiley,
  2019, Section 3.2, equations (3.4) ``Q* = sqrt(2 K lambda / h)`` and (3.5)
  ``g* = sqrt(2 K lambda h)``; Example 3.1 (K = 8, h = 0.225, lambda = 1300 gives
  Q* = 304.0468), which is also the doctest of stockpyl's ``economic_order_quantity``.
- E. A. Silver, D. F. Pyke and D. J. Thomas, *Inventory and Production Management in
  Supply Chains*, 4th ed., CRC Press, 2017, Chapter 4 (the EOQ), which gives the same
  formula with A for the fixed cost and D for the annual demand.

With a minimum order quantity M the annual cost ``K A / Q + h Q / 2`` is convex in Q, so the
best lot that respects ``Q >= M`` is ``max(EOQ, M)`` (:func:`eoq_with_moq`).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
FloatOrArray = float | FloatArray

__all__ = ["eoq", "eoq_annual_cost", "eoq_with_moq"]


def _as_float_array(x: npt.ArrayLike) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


def _out(x: FloatArray) -> FloatOrArray:
    """A Python float for 0-d results, the array otherwise."""
    return float(x) if x.ndim == 0 else x


def eoq(
    annual_demand: float | npt.ArrayLike,
    order_cost: float | npt.ArrayLike,
    holding_cost_per_unit_year: float | npt.ArrayLike,
) -> FloatOrArray:
    """Economic order quantity ``Q* = sqrt(2 * K * A / h)``, units (Snyder & Shen (3.4)).

    annual_demand: A, units per year. order_cost: K, currency per purchase order.
    holding_cost_per_unit_year: h, currency per unit per year.
    Returns 0 where ``A <= 0``, ``K <= 0`` or ``h <= 0`` (no meaningful trade-off), NaN
    where any input is NaN; the same semantics as ``replenishment.policy.eoq``.

    Snyder & Shen, Example 3.1 (K = 8, h = 0.225, lambda = 1300):

    >>> round(eoq(1300, 8, 0.225), 4)
    304.0468
    >>> eoq([1000, 0, 1000], [100, 100, 100], [10, 10, 0]).round(2).tolist()
    [141.42, 0.0, 0.0]
    """
    a, k, h = np.broadcast_arrays(
        _as_float_array(annual_demand),
        _as_float_array(order_cost),
        _as_float_array(holding_cost_per_unit_year),
    )
    valid = (a > 0) & (k > 0) & (h > 0)
    with np.errstate(over="ignore"):
        ratio = np.divide(2.0 * a * k, h, out=np.zeros(a.shape, dtype=np.float64), where=valid)
    result = np.sqrt(ratio)
    result = np.where(np.isnan(a) | np.isnan(k) | np.isnan(h), np.nan, result)
    return _out(np.asarray(result, dtype=np.float64))


def eoq_annual_cost(
    order_qty: float | npt.ArrayLike,
    annual_demand: float | npt.ArrayLike,
    order_cost: float | npt.ArrayLike,
    holding_cost_per_unit_year: float | npt.ArrayLike,
) -> FloatOrArray:
    """Annual ordering plus holding cost ``g(Q) = K * A / Q + h * Q / 2``, currency per year.

    Snyder & Shen (3.1)-(3.2); at ``Q = Q*`` it equals ``sqrt(2 K A h)`` (3.5).
    ``order_qty <= 0`` gives ``inf`` when ``K * A > 0`` (no lot never replenishes).

    Snyder & Shen, Example 3.1: g* = 68.4105 per year.

    >>> round(eoq_annual_cost(eoq(1300, 8, 0.225), 1300, 8, 0.225), 4)
    68.4105
    """
    q, a, k, h = np.broadcast_arrays(
        _as_float_array(order_qty),
        _as_float_array(annual_demand),
        _as_float_array(order_cost),
        _as_float_array(holding_cost_per_unit_year),
    )
    ordering = np.divide(
        k * a, q, out=np.where(k * a > 0, np.inf, 0.0).astype(np.float64), where=q > 0
    )
    result = ordering + h * np.maximum(q, 0.0) / 2.0
    return _out(np.asarray(result, dtype=np.float64))


def eoq_with_moq(
    annual_demand: float | npt.ArrayLike,
    order_cost: float | npt.ArrayLike,
    holding_cost_per_unit_year: float | npt.ArrayLike,
    moq: float | npt.ArrayLike,
) -> FloatOrArray:
    """Best lot under a minimum order quantity: ``max(EOQ, moq)`` units.

    ``g(Q)`` is convex with its minimum at the EOQ, so when the EOQ is below the
    supplier's minimum ``moq`` (units, >= 0) the cheapest admissible lot is ``moq``.
    Where there is no demand (``A <= 0``) the lot is 0: nothing to order. Where demand is
    positive but the EOQ has no trade-off (``K <= 0`` or ``h <= 0``, EOQ = 0) the lot is
    ``moq``. NaN in any input gives NaN. Pack rounding is the caller's job.

    >>> eoq_with_moq([1300, 1300, 0], 8, 0.225, [100, 500, 500]).round(2).tolist()
    [304.05, 500.0, 0.0]
    """
    a, m = np.broadcast_arrays(_as_float_array(annual_demand), _as_float_array(moq))
    q = _as_float_array(eoq(annual_demand, order_cost, holding_cost_per_unit_year))
    a, m, q = np.broadcast_arrays(a, m, q)
    result = np.where(a > 0, np.maximum(q, np.maximum(m, 0.0)), 0.0)
    result = np.where(np.isnan(q) | np.isnan(m) | np.isnan(a), np.nan, result)
    return _out(np.asarray(result, dtype=np.float64))
