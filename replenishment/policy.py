"""Replenishment policy: from a daily demand forecast to purchase-order recommendations.

What lives here: :func:`plan_orders` (what the pipeline and the simulator call: SKU
master, forecast, stock and purchase orders in, one recommendation per SKU out) and
:func:`compute_orders`, the order arithmetic, split into named steps. The textbook
pieces live in their own modules and are re-exported here: lead times learned from
receipts (:mod:`replenishment.lead_time`), the forecast's P-day error
(:mod:`replenishment.forecast_error`), stock levels for a service target
(:mod:`replenishment.safety_stock`), reason texts (:mod:`replenishment.order_reasons`).
Pure functions over numpy arrays and DataFrames; nothing here knows about Airflow or a
database.

Notation (all quantities in units of stock or in days)
------------------------------------------------------
D
    Run date: the day orders are placed. Day 0 of the forecast is D.
L
    Lead time *used* (``lead_time_used_days``): the supplier lead time learned from the
    receipts known before D, shrunk towards the planned ``lead_time_days`` of the SKU
    master when there are few (:func:`replenishment.lead_time.estimate_lead_times`);
    the planned value when no receipt is known. Fractional days are kept (7.9 is not 7).
R
    ``review_period_days``: days between two reviews of a SKU; below 1 it is 1 (the
    daily run cannot review more often than daily).
sigma_L
    ``lead_time_std_days``: spread of the lead time, days (from the same estimate);
    unknown (NaN) is taken as 0 and said in the reason.
P
    Protection period, days: ``P = L + R`` for the periodic-review (R, S) policy and
    ``P = L + 1`` for the continuous-review (s, Q) policy (the daily run looks at it
    once a day). Periodic SKUs order only on their review days (:func:`review_days`).
yhat(t)
    Forecast demand, units/day, for day ``D + t``. Days the forecast does not cover
    (a horizon shorter than P, or gaps) are filled with the SKU's mean daily yhat
    over the forecast rows it has. A fractional period takes the matching fraction
    of the next day's forecast.
lead_time_demand, protection_demand
    ``sum(yhat(t) for t in 0 .. L-1)`` and over ``0 .. P-1``, units.
d
    ``protection_demand / P``: mean daily forecast over the protection period, units/day
    (reported as ``avg_daily_demand``).
sigma_daily
    Standard deviation of the one-day forecast error, units/day (from the forecast stage).
kappa(P)
    ``error_inflation``: how much wider the forecast's error summed over P days is than
    ``sqrt(P) * sigma_daily`` (errors are autocorrelated), measured on the run's own
    backtest per demand class (:class:`replenishment.forecast_error.ErrorProfile`); 1
    without a backtest.
sigma_protection
    ``sqrt(kappa(P)**2 * P * sigma_daily**2 + d**2 * sigma_L**2)``, units: standard
    deviation of demand over the protection period, forecast error and lead-time
    uncertainty combined (the variance of a random sum; Silver, Pyke & Thomas, 4th ed.,
    eq. 6.13). ``sigma_lead`` is the same over L.
EOQ
    ``sqrt(2 * A * S / H)`` units, with annual demand ``A = 365 * d``, ``S = order_cost``
    (per purchase order) and ``H = holding_cost_rate * unit_cost`` (per unit per year).

Safety stock
------------
Demand over P is normal, or negative binomial for erratic, intermittent and lumpy SKUs and where
``protection_demand < 3 * sigma_protection`` (``demand_distribution``); see
:mod:`replenishment.safety_stock` for the quantiles and the exact fill-rate expressions.
``service_target="cycle"``: the level S is the ``service_level`` quantile of demand over
P. ``service_target="fill_rate"``: S meets the fill rate with the exact expected shortage
per cycle, ``E[(D_P - S)^+] - E[(D_L - S)^+]`` for (R, S) and
``E[(D_P - s)^+] - E[(D_P - s - Q)^+]`` for (s, Q). ``SS = max(S - protection_demand, 0)``
and ``z = SS / sigma_protection`` (the equivalent safety factor).

Order quantities
----------------
Inventory position ``IP = on_hand + on_order - backorders``; an active SKU without an
inventory snapshot counts on_hand 0 and the reason says so.

Periodic (R, S): ``S = protection_demand + SS`` and ``reorder_point = S``. When
``IP < S`` the raw need ``S - IP`` is rounded *up* to whole packs, raised to the MOQ
when below it, and rounded up to whole packs again; otherwise nothing is ordered.
After ordering ``IP + order_qty >= S``.

Continuous (s, Q): ``s = protection_demand + SS`` (``reorder_point``), the lot
``Q = EOQ`` rounded up to whole packs, at least the MOQ (rounded up to packs) and at
least one pack. When ``IP <= s`` and ``s > 0`` the order is the smallest multiple
``n * Q`` that brings the position above s; otherwise nothing (a SKU with no forecast
demand and no spread never triggers a lot). ``order_up_to`` is reported as ``s + Q``.

Every order quantity is therefore a whole number of packs, 0 or at least the MOQ,
finite and >= 0. The expected receipt date is ``D + ceil(L)`` days.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from replenishment.config import POLICIES, SERVICE_TARGETS
from replenishment.eoq import eoq
from replenishment.forecast_error import ErrorProfile
from replenishment.frames import (
    FloatOrArray,
    as_float_array,
    require_columns,
    require_unique,
    sample,
    scalar_or_array,
)
from replenishment.lead_time import (
    LeadTimeRule,
    estimate_lead_times,
    lead_time_stats,
    planned_lead_times,
)
from replenishment.order_inputs import PARAM_COLUMNS, OrderInputs, inventory_position, order_inputs
from replenishment.order_reasons import REASON_MAX_CHARS, OrderFacts, reasons, review_days
from replenishment.protection_demand import cumulative_forecast
from replenishment.safety_stock import (
    K_MAX,
    K_MIN,
    k_for_fill_rate,
    levels_for_cycle_service,
    levels_for_fill_rate_continuous,
    levels_for_fill_rate_periodic,
    normal_loss,
    use_negative_binomial,
    z_for_service_level,
)

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

__all__ = [
    "K_MAX",
    "OUTPUT_COLUMNS",
    "PARAM_COLUMNS",
    "POLICIES",
    "REASON_MAX_CHARS",
    "SERVICE_TARGETS",
    "K_MIN",
    "ceil_to_packs",
    "compute_orders",
    "eoq",
    "inventory_position",
    "k_for_fill_rate",
    "lead_time_stats",
    "normal_loss",
    "plan_orders",
    "review_days",
    "sigma_over_protection",
    "z_for_service_level",
]

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
    "lead_time_used_days",
    "lead_time_source",
    "lead_time_receipts",
    "review_period_days",
    "protection_days",
    "service_level",
    "z",
    "lead_time_demand",
    "protection_demand",
    "sigma_protection",
    "error_inflation",
    "demand_distribution",
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

_PACK_EPS = 1e-9  # tolerance (in packs) so float noise never adds a whole pack


# ---------------------------------------------------------------------------
# Textbook building blocks
# ---------------------------------------------------------------------------


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
    dd = as_float_array(d)
    sd = as_float_array(sigma_d)
    ll = as_float_array(L)
    sl = as_float_array(sigma_L)
    return scalar_or_array(np.asarray(np.sqrt(ll * sd**2 + dd**2 * sl**2), dtype=np.float64))


# ---------------------------------------------------------------------------
# plan_orders: the pipeline's and the simulator's entry point
# ---------------------------------------------------------------------------


def plan_orders(
    master: pd.DataFrame,
    summary: pd.DataFrame,
    forecast: pd.DataFrame,
    position: pd.DataFrame,
    purchase_orders: pd.DataFrame,
    run_date: dt.date,
    *,
    policy: str = "periodic",
    service_target: str = "cycle",
    errors: ErrorProfile | None = None,
    lead_rule: LeadTimeRule | None = None,
) -> pd.DataFrame:
    """The recommendations for the SKUs of ``master`` on ``run_date``.

    master: SKU master rows to plan (sku_id, unit_cost, pack_size, moq, lead_time_days,
        review_period_days, service_level, holding_cost_rate, order_cost, optional policy).
    summary: the forecast stage's per-SKU summary: sku_id, model, sigma_daily and
        optionally demand_class.
    forecast: sku_id, forecast_date, yhat. position: sku_id, on_hand (NaN or absent when
        no snapshot), on_order (absent = 0), optionally backorders.
    purchase_orders: the orders known before the run date
        (:file:`include/sql/extract_purchase_orders.sql`), for the lead times.
    errors: the forecast's P-day error profile; None = independent days.
    """
    lead = estimate_lead_times(
        planned_lead_times(master), purchase_orders, run_date, lead_rule or LeadTimeRule()
    )
    keep = [c for c in ("sku_id", "model", "sigma_daily", "demand_class") if c in summary]
    params = master.merge(summary[keep], on="sku_id", how="left", validate="one_to_one")
    params = params.merge(lead.drop(columns="lead_time_planned_days"), on="sku_id", how="left")
    return compute_orders(
        forecast,
        position,
        params,
        run_date,
        policy=policy,
        service_target=service_target,
        errors=errors,
    )


# ---------------------------------------------------------------------------
# compute_orders and its steps
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ProtectionDemand:
    """Demand over the lead time and the protection period, with its spread."""

    lead: FloatArray  # lead_time_demand, units
    protection: FloatArray  # protection_demand, units
    daily: FloatArray  # d, units/day
    sigma: FloatArray  # sigma_protection, units
    sigma_lead: FloatArray  # the same over L
    kappa: FloatArray  # error_inflation at P
    discrete: BoolArray  # negative binomial rather than normal


@dataclass(frozen=True)
class Levels:
    """Lot, safety factor and stock levels."""

    eoq_units: FloatArray
    lot_from_eoq: FloatArray
    lot: FloatArray
    z: FloatArray
    safety: FloatArray
    reorder_point: FloatArray
    order_up_to: FloatArray


def compute_orders(
    forecast: pd.DataFrame,
    position: pd.DataFrame,
    params: pd.DataFrame,
    run_date: dt.date,
    policy: str = "periodic",
    service_target: str = "cycle",
    review_schedule: bool = True,
    errors: ErrorProfile | None = None,
) -> pd.DataFrame:
    """Recommend the purchase orders to place on ``run_date``, one row per SKU.

    forecast: sku_id, forecast_date, yhat (units/day, negative values count as 0); the
        rows on or after run_date are used (day 0 = run_date). Gaps and days past the
        horizon are filled with the SKU's mean daily yhat.
    position: sku_id, on_hand, on_order and optionally backorders (units). A SKU absent
        here or with on_hand missing counts on_hand 0 and its reason says so; a
        missing on_order or backorders counts 0.
    params: one row per sku_id with unit_cost, pack_size (>= 1, whole), moq (units,
        >= 0), lead_time_days (planned, > 0), review_period_days (>= 0), service_level
        (in (0, 1)), holding_cost_rate (per year, fraction of unit_cost), order_cost (per
        PO), sigma_daily (forecast-error std, units/day, >= 0), model (copied to the
        output), lead_time_std_days (days, NaN -> 0) and optionally policy ("periodic" or
        "continuous"; missing -> the ``policy`` argument), demand_class, and the
        lead_time_* columns of :func:`replenishment.lead_time.estimate_lead_times`
        (lead_time_used_days missing -> the planned lead time, source "planned").
    run_date: the date D the orders are placed on.
    policy: default policy, "periodic" (R, S) or "continuous" (s, Q).
    service_target: "cycle" (service_level is alpha) or "fill_rate" (it is beta).
    review_schedule: periodic SKUs order only on their review days (:func:`review_days`),
        as the (R, S) safety stock over L + R assumes; False orders whenever the
        position is below S (for comparisons only).
    errors: the forecast's P-day error profile (kappa); None = independent days.

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
    require_columns("params", params, PARAM_COLUMNS)
    require_columns("forecast", forecast, ("sku_id", "forecast_date", "yhat"))
    require_columns("position", position, ("sku_id", "on_hand", "on_order"))
    require_unique("params", params["sku_id"])
    require_unique("position", position["sku_id"])
    if params.empty:
        logger.info("replenishment for %s: no SKUs in params", run_date.isoformat())
        return pd.DataFrame({column: [] for column in OUTPUT_COLUMNS})
    inputs = order_inputs(params, position, policy)
    demand = _protection_demand(inputs, forecast, run_date, errors or ErrorProfile.none())
    levels = _levels(inputs, demand, service_target)
    result = _orders_frame(inputs, demand, levels, params, run_date, review_schedule)
    _log_result(result, inputs, run_date, service_target)
    return result


def _protection_demand(
    inputs: OrderInputs, forecast: pd.DataFrame, run_date: dt.date, errors: ErrorProfile
) -> ProtectionDemand:
    protection = inputs.protection
    cumulative = cumulative_forecast(
        forecast, inputs.skus, run_date, float(protection.max(initial=1.0))
    )
    lead_demand = cumulative(inputs.lead)
    protection_demand = cumulative(protection)
    daily = protection_demand / protection
    kappa = errors.factor(inputs.demand_class, protection)
    kappa_lead = errors.factor(inputs.demand_class, inputs.lead)
    sigma_p = np.asarray(
        sigma_over_protection(daily, kappa * inputs.sigma_daily, protection, inputs.lead_std)
    )
    sigma_l = np.asarray(
        sigma_over_protection(daily, kappa_lead * inputs.sigma_daily, inputs.lead, inputs.lead_std)
    )
    return ProtectionDemand(
        lead=lead_demand,
        protection=protection_demand,
        daily=daily,
        sigma=sigma_p,
        sigma_lead=sigma_l,
        kappa=kappa,
        discrete=use_negative_binomial(inputs.demand_class, protection_demand, sigma_p),
    )


def _lot(inputs: OrderInputs, daily: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """EOQ, the EOQ in whole packs, and the continuous-review lot (>= MOQ, >= one pack)."""
    eoq_units = np.asarray(
        eoq(365.0 * daily, inputs.order_cost, inputs.holding_rate * inputs.unit_cost)
    )
    if not np.isfinite(eoq_units).all():
        bad = inputs.skus[~np.isfinite(eoq_units)]
        raise ValueError(
            f"params: EOQ overflows for {len(bad)} SKUs: holding_cost_rate * unit_cost "
            f"is too small ({sample(bad)})"
        )
    lot_from_eoq = ceil_to_packs(eoq_units, inputs.pack)
    lot = np.maximum(np.maximum(lot_from_eoq, ceil_to_packs(inputs.moq, inputs.pack)), inputs.pack)
    return eoq_units, lot_from_eoq, lot


def _levels(inputs: OrderInputs, demand: ProtectionDemand, service_target: str) -> Levels:
    eoq_units, lot_from_eoq, lot = _lot(inputs, demand.daily)
    mu, sigma, nb = demand.protection, demand.sigma, demand.discrete
    if service_target == "cycle":
        level = levels_for_cycle_service(mu, sigma, inputs.service, nb)
    else:
        review_demand = demand.daily * np.maximum(inputs.review, 1.0)
        periodic = levels_for_fill_rate_periodic(
            mu, sigma, demand.lead, demand.sigma_lead, review_demand, inputs.service, nb
        )
        continuous = levels_for_fill_rate_continuous(mu, sigma, lot, inputs.service, nb)
        level = np.where(inputs.periodic, periodic, continuous)
    safety = np.maximum(level - mu, 0.0)
    z = np.divide(safety, sigma, out=np.zeros_like(safety), where=sigma > 0)
    reorder_point = mu + safety
    order_up_to = np.where(inputs.periodic, reorder_point, reorder_point + lot)
    return Levels(eoq_units, lot_from_eoq, lot, z, safety, reorder_point, order_up_to)


def _quantities(
    inputs: OrderInputs, levels: Levels, run_date: dt.date, review_schedule: bool
) -> dict[str, FloatArray]:
    """Periodic need rounded to packs and MOQ on review days; continuous lots below s."""
    position, pack = inputs.position, inputs.pack
    s = levels.reorder_point
    raw_need = np.where(position < s, s - position, 0.0)
    packed_need = ceil_to_packs(raw_need, pack)
    n = len(inputs.skus)
    reviewed = (
        review_days(inputs.skus, inputs.review, run_date) if review_schedule else np.ones(n, bool)
    )
    qty_periodic = np.where(
        (packed_need > 0) & reviewed, ceil_to_packs(np.maximum(packed_need, inputs.moq), pack), 0.0
    )
    below_s = (position <= s) & (s > 0)
    lots = np.where(below_s, np.floor((s - position) / levels.lot) + 1.0, 0.0)
    qty = np.where(inputs.periodic, qty_periodic, lots * levels.lot)
    packs = np.rint(qty / pack)
    if not (np.isfinite(packs).all() and (packs >= 0).all()):
        bad = inputs.skus[~(np.isfinite(packs) & (packs >= 0))]
        raise ValueError(f"order_qty not finite or negative for {len(bad)} SKUs ({sample(bad)})")
    return {
        "raw_need": raw_need,
        "packed_need": packed_need,
        "reviewed": reviewed.astype(np.float64),
        "lots": lots,
        "packs": packs,
        "qty": packs * pack,
    }


def _orders_frame(
    inputs: OrderInputs,
    demand: ProtectionDemand,
    levels: Levels,
    params: pd.DataFrame,
    run_date: dt.date,
    review_schedule: bool,
) -> pd.DataFrame:
    q = _quantities(inputs, levels, run_date, review_schedule)
    n = len(inputs.skus)
    receipt_days = np.ceil(inputs.lead - 1e-9).astype(np.int64).astype("timedelta64[D]")
    facts = OrderFacts(
        skus=np.asarray(inputs.skus, dtype=object),
        run_date=run_date,
        periodic=inputs.periodic,
        reviewed=q["reviewed"] > 0,
        review=inputs.review,
        pack=inputs.pack,
        position=inputs.position,
        reorder_point=levels.reorder_point,
        raw_need=q["raw_need"],
        packed_need=q["packed_need"],
        order_qty=q["qty"],
        lots=q["lots"],
        lot=levels.lot,
        lot_from_eoq=levels.lot_from_eoq,
        eoq_units=levels.eoq_units,
        moq=inputs.moq,
        lead_std_unknown=inputs.lead_std_unknown,
        on_hand_missing=inputs.on_hand_missing,
        lead_times=inputs.lead_times,
    )
    columns: dict[str, Any] = {
        "run_date": [run_date] * n,
        "sku_id": params["sku_id"].to_numpy(),
        "policy": np.where(inputs.periodic, "periodic", "continuous"),
        "model": params["model"].to_numpy(),
        "on_hand": inputs.on_hand,
        "on_order": inputs.on_order,
        "backorders": inputs.backorders,
        "inventory_position": inputs.position,
        "avg_daily_demand": demand.daily,
        "sigma_daily": inputs.sigma_daily,
        "lead_time_days": inputs.lead_planned,
        "lead_time_std_days": inputs.lead_std,
        "lead_time_used_days": inputs.lead,
        "lead_time_source": inputs.lead_times["lead_time_source"].to_numpy(),
        "lead_time_receipts": inputs.lead_times["lead_time_receipts"].to_numpy(),
        "review_period_days": inputs.review,
        "protection_days": inputs.protection,
        "service_level": inputs.service,
        "z": levels.z,
        "lead_time_demand": demand.lead,
        "protection_demand": demand.protection,
        "sigma_protection": demand.sigma,
        "error_inflation": demand.kappa,
        "demand_distribution": np.where(demand.discrete, "negative_binomial", "normal"),
        "safety_stock": levels.safety,
        "reorder_point": levels.reorder_point,
        "order_up_to": levels.order_up_to,
        "eoq": levels.eoq_units,
        "pack_size": np.rint(inputs.pack).astype(np.int64),
        "moq": np.rint(inputs.moq).astype(np.int64),
        "order_qty": q["qty"],
        "order_packs": q["packs"].astype(np.int64),
        "order_value": q["qty"] * inputs.unit_cost,
        "expected_receipt_date": (np.datetime64(run_date, "D") + receipt_days).astype(object),
        "reason": reasons(facts),
    }
    return pd.DataFrame(columns, columns=list(OUTPUT_COLUMNS))


def _log_result(
    result: pd.DataFrame, inputs: OrderInputs, run_date: dt.date, service_target: str
) -> None:
    qty = result["order_qty"].to_numpy(dtype=float)
    n, periodic = len(result), int(inputs.periodic.sum())
    logger.info(
        "replenishment for %s: %d SKUs (%d periodic, %d continuous, target %s), "
        "%d orders, %.0f units, value %.2f; lead times %s; %d negative-binomial",
        run_date.isoformat(),
        n,
        periodic,
        n - periodic,
        service_target,
        int((qty > 0).sum()),
        float(qty.sum()),
        float(result["order_value"].sum()),
        result["lead_time_source"].value_counts().to_dict(),
        int((result["demand_distribution"] == "negative_binomial").sum()),
    )
    if inputs.on_hand_missing.any():
        logger.warning(
            "replenishment for %s: %d active SKUs without an inventory snapshot, on hand taken "
            "as 0 (%s)",
            run_date.isoformat(),
            int(inputs.on_hand_missing.sum()),
            sample(inputs.skus[inputs.on_hand_missing]),
        )


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def ceil_to_packs(units: FloatArray, pack: FloatArray) -> FloatArray:
    """Round units up to a whole number of packs (never below 0)."""
    packs = np.maximum(np.ceil(units / pack - _PACK_EPS), 0.0)
    return np.asarray(packs * pack, dtype=np.float64)
