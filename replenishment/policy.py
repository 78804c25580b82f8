"""Replenishment policy: from a daily demand forecast to purchase-order recommendations.

Pure functions over numpy arrays and DataFrames; nothing here knows about Airflow or
a database. :func:`compute_orders` is the entry point used by the pipeline; the small
functions above it are the textbook building blocks, exported so that they can be
tested against published numbers.

Notation (all quantities in units of stock or in days)
------------------------------------------------------
D
    Run date: the day orders are placed. Day 0 of the forecast is D.
L
    ``lead_time_days``: planned supplier lead time, days, > 0.
R
    ``review_period_days``: days between two reviews of a SKU, >= 0.
sigma_L
    ``lead_time_std_days``: standard deviation of the measured lead time, days
    (see :func:`lead_time_stats`); unknown (NaN) is taken as 0.
P
    Protection period, days: ``P = L + R`` for the periodic-review (R, S) policy and
    ``P = L + 1`` for the continuous-review (s, Q) policy (the daily run looks at it
    once a day). The stock ordered today must cover demand until the next order can
    arrive. Periodic SKUs order only on their review days (:func:`review_days`).
yhat(t)
    Forecast demand, units/day, for day ``D + t``. Days the forecast does not cover
    (a horizon shorter than P, or gaps) are filled with the SKU's mean daily yhat
    over the forecast rows it has. A fractional period takes the matching fraction
    of the next day's forecast.
lead_time_demand
    ``sum(yhat(t) for t in 0 .. L-1)``, units.
protection_demand
    ``sum(yhat(t) for t in 0 .. P-1)``, units.
d
    ``protection_demand / P``: mean daily forecast over the protection period, units/day
    (reported as ``avg_daily_demand``).
sigma_daily
    Standard deviation of the one-day forecast error, units/day (from the forecast stage).
    Daily errors are taken as independent.
sigma_protection
    ``sqrt(P * sigma_daily**2 + d**2 * sigma_L**2)``, units: standard deviation of demand
    over the protection period, with demand and lead-time uncertainty combined.
EOQ
    ``sqrt(2 * A * S / H)`` units, with annual demand ``A = 365 * d``, ``S = order_cost``
    (per purchase order) and ``H = holding_cost_rate * unit_cost`` (per unit per year).

Safety stock
------------
``service_target="cycle"`` (alpha, probability of no stock-out in a replenishment cycle):
``z = Phi^-1(service_level)`` and ``SS = max(z * sigma_protection, 0)``.

``service_target="fill_rate"`` (beta, fraction of demand served from stock): the
service level is read as beta and the safety factor k solves
``G(k) * sigma_protection = (1 - beta) * Q`` where G is the standard normal loss function
(:func:`normal_loss`) and Q the expected order quantity: ``d * R`` for periodic review,
the order lot (EOQ rounded up to whole packs and at least the MOQ) for continuous
review. ``SS = k * sigma_protection``; k is reported in the ``z`` column.

Order quantities
----------------
Inventory position ``IP = on_hand + on_order - backorders``.

Periodic (R, S): ``S = protection_demand + SS`` and ``reorder_point = S``. When
``IP < S`` the raw need ``S - IP`` is rounded *up* to whole packs, raised to the MOQ
when below it, and rounded up to whole packs again; otherwise nothing is ordered.
After ordering ``IP + order_qty >= S``.

Continuous (s, Q): ``s = protection_demand + SS`` (``reorder_point``), with
``P = L + 1`` because the daily run looks at the SKU once a day, the lot
``Q = EOQ`` rounded up to whole packs, at least the MOQ (rounded up to packs) and at
least one pack. When ``IP <= s`` the order is the smallest multiple ``n * Q`` that
brings the position above s; otherwise nothing. ``order_up_to`` is reported as ``s + Q``.

Every order quantity is therefore a whole number of packs, 0 or at least the MOQ.
The expected receipt date is ``D + ceil(L)`` days.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import zlib
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.special import ndtr, ndtri

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
FloatOrArray = float | FloatArray

POLICIES = ("periodic", "continuous")
SERVICE_TARGETS = ("cycle", "fill_rate")

#: Bounds of the fill-rate safety factor k. k >= 0 keeps safety stock non-negative when
#: cycle stock alone already meets the fill rate (the textbook root would be negative);
#: k <= 5 (G(5) = 5.4e-8) caps safety stock when the expected order quantity tends to 0.
K_MIN = 0.0
K_MAX = 5.0

#: Columns of ``reporting.replenishment_orders``, in the table's order.
OUTPUT_COLUMNS: tuple[str, ...] = (
    "run_date",
    "sku_id",
    "policy",
    "model",
    "on_hand",
    "on_order",
    "backorders",
    "inventory_position",
    "avg_daily_demand",
    "sigma_daily",
    "lead_time_days",
    "lead_time_std_days",
    "review_period_days",
    "protection_days",
    "service_level",
    "z",
    "lead_time_demand",
    "protection_demand",
    "sigma_protection",
    "safety_stock",
    "reorder_point",
    "order_up_to",
    "eoq",
    "pack_size",
    "moq",
    "order_qty",
    "order_packs",
    "order_value",
    "expected_receipt_date",
    "reason",
)

#: Columns ``compute_orders`` needs in ``params`` (``policy`` is optional).
PARAM_COLUMNS: tuple[str, ...] = (
    "sku_id",
    "unit_cost",
    "pack_size",
    "moq",
    "lead_time_days",
    "review_period_days",
    "service_level",
    "holding_cost_rate",
    "order_cost",
    "sigma_daily",
    "model",
    "lead_time_std_days",
)

REASON_MAX_CHARS = 200
_PACK_EPS = 1e-9  # tolerance (in packs) so float noise never adds a whole pack
_SQRT_2PI = math.sqrt(2.0 * math.pi)


# ---------------------------------------------------------------------------
# Textbook building blocks
# ---------------------------------------------------------------------------


def _as_float_array(x: npt.ArrayLike) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


def _out(x: FloatArray) -> FloatOrArray:
    """A Python float for 0-d results, the array otherwise."""
    return float(x) if x.ndim == 0 else x


def z_for_service_level(service_level: float | npt.ArrayLike) -> FloatOrArray:
    """Safety factor z for a cycle service level: the standard normal quantile.

    service_level: probability of no stock-out in a replenishment cycle, in (0, 1).
    Returns ``Phi^-1(service_level)``, e.g. 0.95 -> 1.6449 (NaN outside (0, 1)).
    """
    return _out(np.asarray(ndtri(_as_float_array(service_level)), dtype=np.float64))


def normal_loss(k: float | npt.ArrayLike) -> FloatOrArray:
    """Standard normal loss function ``G(k) = phi(k) - k * (1 - Phi(k))``.

    ``G(k)`` is the expected shortage, in standard deviations, of a normal variable
    above ``mean + k * sigma``: ``G(0) = 0.39894``, decreasing in k, ``G(k) -> -k`` as
    ``k -> -inf``.
    """
    kk = _as_float_array(k)
    # scipy.special rather than scipy.stats.norm: same values, far less per-call overhead
    # (k_for_fill_rate calls this 50 times per bisection).
    pdf = np.exp(-0.5 * kk * kk) / _SQRT_2PI
    return _out(np.asarray(pdf - kk * ndtr(-kk), dtype=np.float64))


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
        _as_float_array(fill_rate),
        _as_float_array(expected_order_qty),
        _as_float_array(sigma_protection),
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
    return _out(np.asarray(k, dtype=np.float64))


def eoq(
    annual_demand: float | npt.ArrayLike,
    order_cost: float | npt.ArrayLike,
    holding_cost_per_unit_year: float | npt.ArrayLike,
) -> FloatOrArray:
    """Economic order quantity ``sqrt(2 * A * S / H)``, units.

    annual_demand: A, units per year. order_cost: S, currency per purchase order.
    holding_cost_per_unit_year: H, currency per unit per year.
    Returns 0 where ``H <= 0``, ``A <= 0`` or ``S <= 0`` (no meaningful trade-off).
    EOQ(A=1000, S=100, H=10) = 141.42.
    """
    a, s, h = np.broadcast_arrays(
        _as_float_array(annual_demand),
        _as_float_array(order_cost),
        _as_float_array(holding_cost_per_unit_year),
    )
    valid = (a > 0) & (s > 0) & (h > 0)
    with np.errstate(over="ignore"):
        ratio = np.divide(2.0 * a * s, h, out=np.zeros(a.shape, dtype=np.float64), where=valid)
    result = np.sqrt(ratio)
    result = np.where(np.isnan(a) | np.isnan(s) | np.isnan(h), np.nan, result)
    return _out(np.asarray(result, dtype=np.float64))


def sigma_over_protection(
    d: float | npt.ArrayLike,
    sigma_d: float | npt.ArrayLike,
    L: float | npt.ArrayLike,
    sigma_L: float | npt.ArrayLike,
) -> FloatOrArray:
    """Standard deviation of demand over a period of uncertain length, units.

    ``sqrt(L * sigma_d**2 + d**2 * sigma_L**2)`` with d the mean daily demand
    (units/day), sigma_d the daily demand (or forecast-error) std (units/day), L the
    period (days) and sigma_L the std of its length (days). Pass the protection
    period P for L. d=50, sigma_d=5, L=6, sigma_L=2 gives 100.75.
    """
    dd = _as_float_array(d)
    sd = _as_float_array(sigma_d)
    ll = _as_float_array(L)
    sl = _as_float_array(sigma_L)
    return _out(np.asarray(np.sqrt(ll * sd**2 + dd**2 * sl**2), dtype=np.float64))


def inventory_position(
    on_hand: float | npt.ArrayLike,
    on_order: float | npt.ArrayLike,
    backorders: float | npt.ArrayLike,
) -> FloatOrArray:
    """Inventory position ``on_hand + on_order - backorders``, units."""
    result = _as_float_array(on_hand) + _as_float_array(on_order) - _as_float_array(backorders)
    return _out(np.asarray(result, dtype=np.float64))


def lead_time_stats(purchase_orders: pd.DataFrame, min_samples: int = 5) -> pd.DataFrame:
    """Measured supplier lead times per SKU from received purchase orders.

    purchase_orders: columns sku_id, order_date, received_date (dates, datetimes or ISO
    strings); only received orders should be passed. The lead time of a PO is
    ``received_date - order_date`` in days (fractional if the inputs carry times).
    Rows without a received date are ignored; rows received before they were ordered
    are dropped with a warning.

    Returns one row per sku_id (sorted) with ``lead_time_mean_days``,
    ``lead_time_std_days`` (sample std, ddof=1, NaN for SKUs with fewer than
    ``min_samples`` receipts) and ``lead_time_samples`` (int).
    """
    missing = [c for c in ("sku_id", "order_date", "received_date") if c not in purchase_orders]
    if missing:
        raise ValueError(f"purchase_orders: missing columns {missing}")
    ordered = _to_naive_datetime(purchase_orders["order_date"])
    received = _to_naive_datetime(purchase_orders["received_date"])
    days = (received - ordered) / pd.Timedelta(days=1)
    negative = days < 0
    if negative.any():
        bad = purchase_orders.loc[negative, "sku_id"].astype(str).unique()
        logger.warning(
            "purchase_orders: %d received rows with received_date < order_date ignored (%s)",
            int(negative.sum()),
            _sample(bad),
        )
    keep = days.notna() & ~negative
    frame = pd.DataFrame(
        {"sku_id": purchase_orders.loc[keep, "sku_id"], "lead_time": days[keep].astype(float)}
    )
    stats = (
        frame.groupby("sku_id", sort=True)["lead_time"]
        .agg(["mean", "std", "size"])
        .reset_index()
        .rename(
            columns={
                "mean": "lead_time_mean_days",
                "std": "lead_time_std_days",
                "size": "lead_time_samples",
            }
        )
    )
    stats["lead_time_samples"] = stats["lead_time_samples"].astype("int64")
    stats["lead_time_mean_days"] = stats["lead_time_mean_days"].astype(float)
    stats["lead_time_std_days"] = stats["lead_time_std_days"].astype(float)
    stats.loc[stats["lead_time_samples"] < min_samples, "lead_time_std_days"] = np.nan
    return stats[["sku_id", "lead_time_mean_days", "lead_time_std_days", "lead_time_samples"]]


# ---------------------------------------------------------------------------
# compute_orders
# ---------------------------------------------------------------------------


def compute_orders(
    forecast: pd.DataFrame,
    position: pd.DataFrame,
    params: pd.DataFrame,
    run_date: dt.date,
    policy: str = "periodic",
    service_target: str = "cycle",
    review_schedule: bool = True,
) -> pd.DataFrame:
    """Recommend the purchase orders to place on ``run_date``, one row per SKU.

    forecast: sku_id, forecast_date, yhat (units/day, negative values count as 0); the
        rows on or after run_date are used (day 0 = run_date). Gaps and days past the
        horizon are filled with the SKU's mean daily yhat.
    position: sku_id, on_hand, on_order and optionally backorders (units). SKUs absent
        here, and missing values, count as 0.
    params: one row per sku_id with unit_cost, pack_size (>= 1, whole), moq (units,
        >= 0), lead_time_days (> 0), review_period_days (>= 0), service_level (in (0, 1)),
        holding_cost_rate (per year, fraction of unit_cost), order_cost (per PO),
        sigma_daily (forecast-error std, units/day, >= 0), model (copied to the output),
        lead_time_std_days (days, NaN -> 0) and optionally policy ("periodic" or
        "continuous"; missing -> the ``policy`` argument).
    run_date: the date D the orders are placed on.
    policy: default policy, "periodic" (R, S) or "continuous" (s, Q).
    service_target: "cycle" (service_level is alpha) or "fill_rate" (it is beta).
    review_schedule: periodic SKUs order only on their review days (:func:`review_days`),
        as the (R, S) safety stock over L + R assumes; False orders whenever the
        position is below S (for comparisons only).

    Returns the columns of ``replenishment_orders`` in the table's order
    (:data:`OUTPUT_COLUMNS`), rows in the order of ``params``; formulas in the module
    docstring. Raises ValueError for missing columns, duplicate SKUs, invalid
    parameters or SKUs of ``params`` that have no forecast rows.
    """
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    if service_target not in SERVICE_TARGETS:
        raise ValueError(f"service_target must be one of {SERVICE_TARGETS}, got {service_target!r}")
    if isinstance(run_date, dt.datetime):
        run_date = run_date.date()
    _require_columns("params", params, PARAM_COLUMNS)
    _require_columns("forecast", forecast, ("sku_id", "forecast_date", "yhat"))
    _require_columns("position", position, ("sku_id", "on_hand", "on_order"))
    _require_unique("params", params["sku_id"])
    _require_unique("position", position["sku_id"])

    skus = pd.Index(params["sku_id"])
    n = len(skus)
    if n == 0:
        logger.info("replenishment for %s: no SKUs in params", run_date.isoformat())
        return pd.DataFrame({column: [] for column in OUTPUT_COLUMNS})
    periodic = _policy_mask(params, policy, skus)

    unit_cost = _float_col(params, "unit_cost")
    pack = _float_col(params, "pack_size")
    moq = _float_col(params, "moq")
    lead = _float_col(params, "lead_time_days")
    review = _float_col(params, "review_period_days")
    service = _float_col(params, "service_level")
    holding_rate = _float_col(params, "holding_cost_rate")
    order_cost = _float_col(params, "order_cost")
    sigma_daily = _float_col(params, "sigma_daily")
    lead_std_raw = _float_col(params, "lead_time_std_days")
    _validate_params(
        skus,
        unit_cost=unit_cost,
        pack_size=pack,
        moq=moq,
        lead=lead,
        review=review,
        service=service,
        holding_rate=holding_rate,
        order_cost=order_cost,
        sigma_daily=sigma_daily,
        lead_std=lead_std_raw,
    )
    lead_std_unknown = np.isnan(lead_std_raw)
    lead_std = np.where(lead_std_unknown, 0.0, lead_std_raw)

    # Inventory position.
    pos = position.set_index("sku_id").reindex(skus)
    on_hand = np.nan_to_num(_float_col(pos, "on_hand"), nan=0.0)
    on_order = np.nan_to_num(_float_col(pos, "on_order"), nan=0.0)
    backorders = (
        np.nan_to_num(_float_col(pos, "backorders"), nan=0.0)
        if "backorders" in pos
        else np.zeros(n)
    )
    position_units = np.asarray(inventory_position(on_hand, on_order, backorders))

    # Demand over the lead time and the protection period. Continuous-review SKUs are
    # looked at once a day by the daily run, so they are protected for that day too.
    protection = np.where(periodic, lead + review, lead + 1.0)
    cumulative = _cumulative_forecast(forecast, skus, run_date, float(protection.max(initial=1.0)))
    lead_demand = cumulative(lead)
    protection_demand = cumulative(protection)
    daily = protection_demand / protection
    sigma_p = np.asarray(sigma_over_protection(daily, sigma_daily, protection, lead_std))

    # EOQ and the continuous-review lot.
    eoq_units = np.asarray(eoq(365.0 * daily, order_cost, holding_rate * unit_cost))
    if not np.isfinite(eoq_units).all():
        bad = skus[~np.isfinite(eoq_units)]
        raise ValueError(
            f"params: EOQ overflows for {len(bad)} SKUs: holding_cost_rate * unit_cost "
            f"is too small ({_sample(bad)})"
        )
    lot_from_eoq = _ceil_to_packs(eoq_units, pack)
    moq_packed = _ceil_to_packs(moq, pack)
    lot = np.maximum(np.maximum(lot_from_eoq, moq_packed), pack)

    # Safety stock.
    if service_target == "cycle":
        z = np.asarray(z_for_service_level(service))
        safety = np.maximum(z * sigma_p, 0.0)
    else:
        expected_qty = np.where(periodic, daily * review, lot)
        z = np.asarray(k_for_fill_rate(service, expected_qty, sigma_p))
        safety = z * sigma_p

    # Periodic review (R, S).
    up_to_periodic = protection_demand + safety
    raw_need = np.where(position_units < up_to_periodic, up_to_periodic - position_units, 0.0)
    packed_need = _ceil_to_packs(raw_need, pack)
    reviewed = review_days(skus, review, run_date) if review_schedule else np.ones(n, dtype=bool)
    qty_periodic = np.where(
        (packed_need > 0) & reviewed, _ceil_to_packs(np.maximum(packed_need, moq), pack), 0.0
    )

    # Continuous review (s, Q).
    reorder_continuous = protection_demand + safety  # P = L + 1 day of review lag
    below_s = position_units <= reorder_continuous
    lots = np.where(below_s, np.floor((reorder_continuous - position_units) / lot) + 1.0, 0.0)
    qty_continuous = lots * lot

    reorder_point = np.where(periodic, up_to_periodic, reorder_continuous)
    order_up_to = np.where(periodic, up_to_periodic, reorder_continuous + lot)
    order_packs = np.rint(np.where(periodic, qty_periodic, qty_continuous) / pack).astype(np.int64)
    order_qty = order_packs * pack

    receipt_days = np.ceil(lead).astype(np.int64).astype("timedelta64[D]")
    receipt = (np.datetime64(run_date, "D") + receipt_days).astype(object)

    reasons = _reasons(
        skus=skus,
        run_date=run_date,
        reviewed=reviewed,
        review=review,
        periodic=periodic,
        position=position_units,
        reorder_point=reorder_point,
        raw_need=raw_need,
        packed_need=packed_need,
        order_qty=order_qty,
        lots=lots,
        lot=lot,
        lot_from_eoq=lot_from_eoq,
        eoq_units=eoq_units,
        moq=moq,
        lead_std_unknown=lead_std_unknown,
    )

    result = pd.DataFrame(
        {
            "run_date": [run_date] * n,
            "sku_id": params["sku_id"].to_numpy(),
            "policy": np.where(periodic, "periodic", "continuous"),
            "model": params["model"].to_numpy(),
            "on_hand": on_hand,
            "on_order": on_order,
            "backorders": backorders,
            "inventory_position": position_units,
            "avg_daily_demand": daily,
            "sigma_daily": sigma_daily,
            "lead_time_days": lead,
            "lead_time_std_days": lead_std,
            "review_period_days": review,
            "protection_days": protection,
            "service_level": service,
            "z": z,
            "lead_time_demand": lead_demand,
            "protection_demand": protection_demand,
            "sigma_protection": sigma_p,
            "safety_stock": safety,
            "reorder_point": reorder_point,
            "order_up_to": order_up_to,
            "eoq": eoq_units,
            "pack_size": np.rint(pack).astype(np.int64),
            "moq": np.rint(moq).astype(np.int64),
            "order_qty": order_qty,
            "order_packs": order_packs,
            "order_value": order_qty * unit_cost,
            "expected_receipt_date": receipt,
            "reason": reasons,
        },
        columns=list(OUTPUT_COLUMNS),
    )
    placed = order_qty > 0
    logger.info(
        "replenishment for %s: %d SKUs (%d periodic, %d continuous, target %s), "
        "%d orders, %.0f units, value %.2f",
        run_date.isoformat(),
        n,
        int(periodic.sum()),
        int(n - periodic.sum()),
        service_target,
        int(placed.sum()),
        float(order_qty.sum()),
        float(result["order_value"].sum()),
    )
    return result


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def _sample(values: Iterable[Any], limit: int = 5) -> str:
    items = [str(v) for v in values]
    shown = ", ".join(items[:limit])
    return shown + (f", … ({len(items) - limit} more)" if len(items) > limit else "")


def _require_columns(name: str, frame: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name}: missing columns {missing}")


def _require_unique(name: str, sku_ids: pd.Series) -> None:
    duplicated = sku_ids[sku_ids.duplicated()]
    if len(duplicated):
        raise ValueError(
            f"{name}: {len(duplicated)} duplicate sku_id rows ({_sample(duplicated.unique())})"
        )


def _float_col(frame: pd.DataFrame, column: str) -> FloatArray:
    values = pd.to_numeric(frame[column], errors="coerce")
    return np.asarray(values.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)


def _to_naive_datetime(values: pd.Series) -> pd.Series:
    converted = pd.to_datetime(values, errors="coerce")
    if getattr(converted.dt, "tz", None) is not None:
        converted = converted.dt.tz_convert("UTC").dt.tz_localize(None)
    return converted


def _policy_mask(params: pd.DataFrame, default: str, skus: pd.Index) -> npt.NDArray[np.bool_]:
    """True where a SKU follows the periodic policy."""
    if "policy" not in params:
        return np.full(len(params), default == "periodic")
    chosen = params["policy"].astype(object).where(params["policy"].notna(), default)
    chosen = chosen.astype(str).str.strip().str.lower().replace("", default)
    invalid = ~chosen.isin(POLICIES).to_numpy()
    if invalid.any():
        raise ValueError(
            f"params: {int(invalid.sum())} SKUs with policy not in {POLICIES} "
            f"({_sample(skus[invalid])})"
        )
    return np.asarray((chosen == "periodic").to_numpy(), dtype=bool)


def _validate_params(skus: pd.Index, **columns: FloatArray) -> None:
    """Raise one ValueError listing every invalid parameter, with example SKUs."""
    c = columns
    with np.errstate(invalid="ignore"):
        checks = {
            "unit_cost missing or < 0": ~(c["unit_cost"] >= 0),
            "pack_size missing, < 1 or not whole": ~(
                (c["pack_size"] >= 1) & (c["pack_size"] == np.round(c["pack_size"]))
            ),
            "moq missing or < 0": ~(c["moq"] >= 0),
            "lead_time_days missing or <= 0": ~(c["lead"] > 0) | np.isinf(c["lead"]),
            "review_period_days missing or < 0": ~(c["review"] >= 0) | np.isinf(c["review"]),
            "service_level outside (0, 1)": ~((c["service"] > 0) & (c["service"] < 1)),
            "holding_cost_rate missing or < 0": ~(c["holding_rate"] >= 0),
            "order_cost missing or < 0": ~(c["order_cost"] >= 0),
            "sigma_daily missing or < 0": ~(c["sigma_daily"] >= 0) | np.isinf(c["sigma_daily"]),
            "lead_time_std_days < 0": c["lead_std"] < 0,
        }
    problems = [
        f"{int(mask.sum())} SKUs with {what} ({_sample(skus[mask])})"
        for what, mask in checks.items()
        if mask.any()
    ]
    if problems:
        raise ValueError("params: " + "; ".join(problems))


def _ceil_to_packs(units: FloatArray, pack: FloatArray) -> FloatArray:
    """Round units up to a whole number of packs (never below 0)."""
    packs = np.maximum(np.ceil(units / pack - _PACK_EPS), 0.0)
    return np.asarray(packs * pack, dtype=np.float64)


ceil_to_packs = _ceil_to_packs


class _Cumulative:
    """Cumulative forecast demand ``C(t)`` from day 0 (the run date) to day t, per SKU.

    Holds an (n_skus x W) matrix of daily yhat with gaps filled by the SKU's mean;
    beyond W days demand continues at that mean. ``C`` is piecewise linear in t so that a
    fractional period takes the matching fraction of the next day.
    """

    def __init__(self, daily: FloatArray, mean: FloatArray) -> None:
        self.daily = daily
        self.mean = mean
        self.width = daily.shape[1]
        self.cum = np.zeros((daily.shape[0], self.width + 1))
        np.cumsum(daily, axis=1, out=self.cum[:, 1:])

    def __call__(self, days: FloatArray) -> FloatArray:
        rows = np.arange(self.daily.shape[0])
        whole = np.minimum(np.floor(days).astype(np.int64), self.width)
        fraction = days - whole
        next_day = np.where(
            whole < self.width,
            self.daily[rows, np.minimum(whole, self.width - 1)],
            self.mean,
        )
        return np.asarray(self.cum[rows, whole] + fraction * next_day, dtype=np.float64)


def _cumulative_forecast(
    forecast: pd.DataFrame, skus: pd.Index, run_date: dt.date, max_days: float
) -> _Cumulative:
    rows = skus.get_indexer(forecast["sku_id"])
    dates = _to_naive_datetime(forecast["forecast_date"])
    day = np.asarray(dates.to_numpy().astype("datetime64[D]"))
    valid_date = ~np.isnat(day)
    offsets = np.zeros(len(forecast), dtype=np.int64)
    offsets[valid_date] = (day[valid_date] - np.datetime64(run_date, "D")).astype(np.int64)
    yhat = _float_col(forecast, "yhat")
    keep = (rows >= 0) & valid_date & (offsets >= 0) & np.isfinite(yhat)
    rows, offsets, yhat = rows[keep], offsets[keep], np.maximum(yhat[keep], 0.0)

    n = len(skus)
    counts = np.bincount(rows, minlength=n)
    if (counts == 0).any():
        missing = skus[counts == 0]
        raise ValueError(
            f"forecast: no rows on or after {run_date.isoformat()} for {len(missing)} SKUs "
            f"({_sample(missing)})"
        )
    width = int(min(offsets.max() + 1, math.ceil(max_days)))
    key = rows * (int(offsets.max()) + 1) + offsets
    unique_keys, key_counts = np.unique(key, return_counts=True)
    if (key_counts > 1).any():
        dup = unique_keys[key_counts > 1]
        span = int(offsets.max()) + 1
        examples = [
            f"{skus[k // span]} {(run_date + dt.timedelta(days=int(k % span))).isoformat()}"
            for k in dup[:5]
        ]
        raise ValueError(
            f"forecast: {len(dup)} duplicate (sku_id, forecast_date) rows ({', '.join(examples)})"
        )
    mean = np.bincount(rows, weights=yhat, minlength=n) / counts
    in_window = offsets < width
    matrix = np.full((n, width), np.nan)
    matrix[rows[in_window], offsets[in_window]] = yhat[in_window]
    matrix = np.where(np.isnan(matrix), mean[:, None], matrix)
    return _Cumulative(matrix, mean)


def _fmt(x: float) -> str:
    """Units for humans: whole numbers without decimals, otherwise one decimal."""
    if not math.isfinite(x):
        return "n/a"
    rounded = round(x)
    text = f"{rounded:.0f}" if abs(x - rounded) < 0.05 else f"{x:.1f}"
    return "0" if text == "-0" else text


def review_days(
    sku_ids: Sequence[str] | npt.ArrayLike, review_period_days: npt.ArrayLike, day: dt.date
) -> npt.NDArray[np.bool_]:
    """True for the SKUs whose periodic review falls on ``day``.

    A SKU with review period R (days) is reviewed every R days on a fixed calendar
    phase of its own, ``(day.toordinal() + crc32(sku_id)) % R == 0``, so the reviews
    (and the orders) of a large assortment spread evenly over the week. R <= 1 means
    every day. The (R, S) safety stock covers L + R days, which is right only if
    orders are placed every R days, not whenever the position dips below S.
    """
    periods = np.maximum(np.rint(np.asarray(review_period_days, dtype=float)), 1).astype(np.int64)
    phase = np.array([zlib.crc32(str(s).encode()) for s in np.asarray(sku_ids)], dtype=np.int64)
    return np.asarray((day.toordinal() + phase) % periods == 0, dtype=bool)


def _next_review(run_date: dt.date, sku_id: str, period: float) -> dt.date:
    """The first day after ``run_date`` on which ``sku_id`` is reviewed."""
    r = max(int(round(period)), 1)
    phase = zlib.crc32(str(sku_id).encode())
    ahead = next(a for a in range(1, r + 1) if (run_date.toordinal() + a + phase) % r == 0)
    return run_date + dt.timedelta(days=ahead)


def _reasons(
    *,
    skus: Sequence[str] | npt.NDArray[np.object_],
    run_date: dt.date,
    reviewed: npt.NDArray[np.bool_],
    review: FloatArray,
    periodic: npt.NDArray[np.bool_],
    position: FloatArray,
    reorder_point: FloatArray,
    raw_need: FloatArray,
    packed_need: FloatArray,
    order_qty: FloatArray,
    lots: FloatArray,
    lot: FloatArray,
    lot_from_eoq: FloatArray,
    eoq_units: FloatArray,
    moq: FloatArray,
    lead_std_unknown: npt.NDArray[np.bool_],
) -> list[str]:
    reasons: list[str] = []
    for i in range(len(periodic)):
        ip, rop = _fmt(position[i]), _fmt(reorder_point[i])
        parts: list[str]
        if periodic[i] and not reviewed[i]:
            nxt = _next_review(run_date, skus[i], review[i]).isoformat()
            parts = [f"not a review day (reviewed every {_fmt(review[i])} days, next {nxt})"]
            if raw_need[i] > 0:
                parts.append(f"position {ip} below order-up-to {rop}")
        elif periodic[i]:
            if order_qty[i] > 0:
                parts = [f"position {ip} below reorder point {rop}"]
                pack_extra = packed_need[i] - raw_need[i]
                if pack_extra > 1e-6:
                    parts.append(f"pack rounding +{_fmt(pack_extra)}")
                moq_extra = order_qty[i] - packed_need[i]
                if moq_extra > 1e-6:
                    parts.append(f"MOQ applied (+{_fmt(moq_extra)})")
            else:
                parts = [f"position {ip} at or above reorder point {rop}"]
        elif order_qty[i] > 0:
            parts = [
                f"position {ip} at or below reorder point {rop}",
                f"{int(lots[i])} x lot {_fmt(lot[i])} (EOQ {_fmt(eoq_units[i])})",
            ]
            if lot[i] > lot_from_eoq[i] + 1e-6:
                parts.append(f"MOQ {_fmt(moq[i])} applied" if moq[i] > 0 else "one pack minimum")
        else:
            parts = [f"position {ip} above reorder point {rop}"]
        if lead_std_unknown[i]:
            parts.append("lead-time std unknown, 0 used")
        text = "; ".join(parts)
        if len(text) > REASON_MAX_CHARS:
            text = text[: REASON_MAX_CHARS - 1] + "…"
        reasons.append(text)
    return reasons
