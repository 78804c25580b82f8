"""KPIs: per-SKU figures of a replay and their totals per policy and demand class.

Lives here: the columns of both result tables, :func:`cycle_counts`,
:func:`sku_kpis`, :func:`summarise` and :class:`SimulationResult`. May import
``config``, ``engine``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from replenishment.simulate.config import (
    ALL_CLASSES,
    POLICY_NAMES,
    BoolArray,
    FloatArray,
    IntArray,
    SimulationConfig,
)
from replenishment.simulate.engine import Trace

log = logging.getLogger(__name__)

SKU_COLUMNS: tuple[str, ...] = (
    "run_id",
    "start_date",
    "end_date",
    "days",
    "policy",
    "sku_id",
    "demand_class",
    "model",
    "pipeline_policy",
    "demand_mode",
    "refit_every_days",
    "service_level",
    "unit_cost",
    "cycles",
    "stockout_cycles",
    "cycle_service_level",
    "service_level_gap",
    "lot_bound",
    "demand_units",
    "served_units",
    "short_units",
    "shipped_units",
    "fill_rate",
    "stockout_days",
    "short_days",
    "avg_on_hand",
    "avg_inventory_value",
    "inventory_turns",
    "orders",
    "units_ordered",
    "holding_cost",
    "ordering_cost",
    "total_cost",
    "ending_backorders",
)
#: Columns of ``inventory_simulation_summary`` (one row per run_id, policy, demand_class).
SUMMARY_COLUMNS: tuple[str, ...] = (
    "run_id",
    "start_date",
    "end_date",
    "days",
    "policy",
    "demand_class",
    "pipeline_policy",
    "demand_mode",
    "refit_every_days",
    "skus",
    "skus_with_cycles",
    "target_service_level",
    "cycle_service_level",
    "service_level_gap",
    "service_level_abs_gap",
    "lot_bound_skus",
    "controlled_service_level_gap",
    "controlled_gap_std_error",
    "fill_rate",
    "stockout_days",
    "short_days",
    "demand_units",
    "short_units",
    "avg_on_hand",
    "avg_inventory_value",
    "inventory_turns",
    "orders",
    "units_ordered",
    "holding_cost",
    "ordering_cost",
    "total_cost",
)


#: A SKU is lot-bound when its smallest possible order, max(MOQ, pack), exceeds this many
#: review periods of its mean demand: after each order its stock stands above the level
#: by the lot's excess, so its service is set by the supplier's lot, not by the policy.
LOT_BOUND_REVIEWS = 2.0

# --------------------------------------------------------------------------- KPIs


def lot_bound(sku: pd.DataFrame, daily_demand: FloatArray) -> BoolArray:
    """Per SKU: True when max(moq, pack_size) > :data:`LOT_BOUND_REVIEWS` x the mean demand
    over a review period (``daily_demand`` x max(review_period_days, 1)).

    >>> sku = pd.DataFrame({"moq": [0, 50], "pack_size": [6, 1], "review_period_days": [7, 7]})
    >>> lot_bound(sku, np.array([1.0, 1.0])).tolist()  # 6 <= 14 units; 50 > 14
    [False, True]
    """
    lot = np.maximum(sku["moq"].to_numpy(dtype=float), sku["pack_size"].to_numpy(dtype=float))
    review = np.maximum(sku["review_period_days"].to_numpy(dtype=float), 1.0)
    return np.asarray(lot > LOT_BOUND_REVIEWS * daily_demand * review, dtype=bool)


def cycle_counts(
    review: BoolArray, lead_times: IntArray, short: BoolArray
) -> tuple[IntArray, IntArray]:
    """Complete review cycles and those with a shortage, per SKU.

    review: (SKUs x days) True on the SKU's review days. lead_times: (SKUs x days) lead
    time of an order placed on each day (the replay's draws, whether or not the policy
    ordered). short: (SKUs x days) True where some demand went unserved.
    The review cycle of review day k runs from the receipt day of an order placed on k,
    ``k + lead(k)``, to the day before the receipt day of the next review day's order:
    the days the order-up-to level of k must cover ((R, S) cycle service, Silver, Pyke
    and Thomas 4th ed. sec. 7.5). Only cycles that end inside the window count, and a
    cycle emptied by crossing lead times counts not at all. A cycle has a shortage when
    any of its days had unserved demand.

    >>> review = np.array([[1, 0, 1, 0, 1, 0, 1, 0]], dtype=bool)
    >>> short = np.array([[0, 0, 0, 1, 0, 0, 0, 0]], dtype=bool)
    >>> cycle_counts(review, np.ones((1, 8), dtype=np.int64), short)
    (array([3]), array([1]))
    """
    n, days = short.shape
    cycles = np.zeros(n, dtype=np.int64)
    stockouts = np.zeros(n, dtype=np.int64)
    shortfalls = np.zeros((n, days + 1), dtype=np.int64)
    np.cumsum(short, axis=1, out=shortfalls[:, 1:])
    for i in range(n):
        reviewed = np.flatnonzero(review[i])
        arrival = reviewed + lead_times[i, reviewed]
        begin, end = arrival[:-1], arrival[1:]
        complete = (end <= days) & (end > begin)
        begin, end = begin[complete], end[complete]
        cycles[i] = begin.size
        stockouts[i] = int((shortfalls[i, end] > shortfalls[i, begin]).sum())
    return cycles, stockouts


def sku_kpis(
    trace: Trace, sku: pd.DataFrame, review: BoolArray, lead_times: IntArray
) -> pd.DataFrame:
    """One row per SKU: the KPIs of the package docstring (no run identifiers); cycles
    are review cycles (:func:`cycle_counts` of ``review`` and ``lead_times``)."""
    days = trace.demand.shape[1]
    unit_cost = sku["unit_cost"].to_numpy(dtype=float)
    demand = trace.demand.sum(axis=1)
    served = trace.served.sum(axis=1)
    shipped = trace.shipped.sum(axis=1)
    avg_on_hand = trace.on_hand_end.mean(axis=1)
    cycles, stockout_cycles = cycle_counts(review, lead_times, trace.short > 1e-9)
    orders = (trace.ordered > 0).sum(axis=1)
    holding = trace.on_hand_end.sum(axis=1) * unit_cost * sku["holding_cost_rate"].to_numpy() / 365
    ordering = orders * sku["order_cost"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        fill = np.where(demand > 0, served / demand, np.nan)
        csl = np.where(cycles > 0, 1.0 - stockout_cycles / np.maximum(cycles, 1), np.nan)
        turns = np.where(avg_on_hand > 0, shipped * 365.0 / days / avg_on_hand, np.nan)
    return pd.DataFrame(
        {
            "sku_id": sku["sku_id"].to_numpy(),
            "service_level": sku["service_level"].to_numpy(dtype=float),
            "unit_cost": unit_cost,
            "cycles": cycles,
            "stockout_cycles": stockout_cycles,
            "cycle_service_level": csl,
            "service_level_gap": csl - sku["service_level"].to_numpy(dtype=float),
            "lot_bound": lot_bound(sku, demand / max(days, 1)).astype(np.int64),
            "demand_units": demand,
            "served_units": served,
            "short_units": demand - served,
            "shipped_units": shipped,
            "fill_rate": fill,
            "stockout_days": (trace.on_hand_end <= 1e-9).sum(axis=1),
            "short_days": (trace.short > 1e-9).sum(axis=1),
            "avg_on_hand": avg_on_hand,
            "avg_inventory_value": avg_on_hand * unit_cost,
            "inventory_turns": turns,
            "orders": orders,
            "units_ordered": trace.ordered.sum(axis=1),
            "holding_cost": holding,
            "ordering_cost": ordering,
            "total_cost": holding + ordering,
            "ending_backorders": trace.backorders_end[:, -1] if days else np.zeros(len(sku)),
        }
    )


def _service(g: pd.DataFrame) -> dict[str, float | int]:
    """Cycle service of a group of SKUs, over those with a complete review cycle:
    skus_with_cycles; the means of target_service_level and cycle_service_level;
    service_level_gap, the SIGNED mean of (achieved - target), where over- and
    under-shooting SKUs cancel; service_level_abs_gap, the mean of |achieved - target|;
    lot_bound_skus (:func:`lot_bound`) and controlled_service_level_gap, the signed mean
    gap over the other SKUs, whose service the policy's level sets;
    controlled_gap_std_error, that gap's sampling noise: the standard error of a mean of
    binomial shares for a policy that holds every target exactly,
    ``sqrt(sum(a_i * (1 - a_i) / n_i)) / N`` over the N controlled SKUs (target a_i, n_i
    review cycles). With few SKUs of few cycles a class gap of 1.5 pp can be noise alone:
    8 SKUs of 24 cycles at 95 % give 1.6 pp.

    >>> g = pd.DataFrame({"service_level": [0.9, 0.9, 0.9],
    ...                   "cycle_service_level": [0.96, 0.86, float("nan")],
    ...                   "lot_bound": [1, 0, 0], "cycles": [25, 50, 0]})
    >>> {k: round(v, 3) for k, v in _service(g).items()}  # doctest: +NORMALIZE_WHITESPACE
    {'skus_with_cycles': 2, 'target_service_level': 0.9, 'cycle_service_level': 0.91,
     'service_level_gap': 0.01, 'service_level_abs_gap': 0.05, 'lot_bound_skus': 1,
     'controlled_service_level_gap': -0.04, 'controlled_gap_std_error': 0.042}
    """
    has = g["cycle_service_level"].notna()
    bound = g["lot_bound"].astype(bool)
    target = g.loc[has, "service_level"]
    gap = g.loc[has, "cycle_service_level"] - target
    mine = has & ~bound  # the SKUs the policy's level controls
    controlled = gap[mine[has]]
    alpha, cycles = target[mine[has]], g.loc[mine, "cycles"].astype(float)
    noise = math.sqrt(float((alpha * (1.0 - alpha) / cycles).sum())) / max(len(controlled), 1)
    nan = math.nan
    return {
        "skus_with_cycles": int(has.sum()),
        "target_service_level": float(target.mean()) if has.any() else nan,
        "cycle_service_level": float(g.loc[has, "cycle_service_level"].mean())
        if has.any()
        else nan,
        "service_level_gap": float(gap.mean()) if has.any() else nan,
        "service_level_abs_gap": float(gap.abs().mean()) if has.any() else nan,
        "lot_bound_skus": int(bound.sum()),
        "controlled_service_level_gap": float(controlled.mean()) if len(controlled) else nan,
        "controlled_gap_std_error": noise if len(controlled) else nan,
    }


def summarise(per_sku: pd.DataFrame, days: int) -> pd.DataFrame:
    """Totals per policy, over all SKUs (``demand_class = 'all'``) and per demand class.

    Service figures are over the SKUs with at least one complete review cycle
    (:func:`_service`). Fill rate and turns are ratios of totals (turns at unit cost, annualised).
    """
    frames = [per_sku.assign(demand_class=ALL_CLASSES), per_sku]
    both = pd.concat(frames, ignore_index=True)
    rows = []
    for (policy, demand_class), g in both.groupby(["policy", "demand_class"], sort=False):
        value = float(g["avg_inventory_value"].sum())
        cogs = float((g["shipped_units"] * g["unit_cost"]).sum())
        demand = float(g["demand_units"].sum())
        rows.append(
            {
                "policy": policy,
                "demand_class": demand_class,
                "skus": len(g),
                **_service(g),
                "fill_rate": float(g["served_units"].sum()) / demand if demand > 0 else math.nan,
                "stockout_days": int(g["stockout_days"].sum()),
                "short_days": int(g["short_days"].sum()),
                "demand_units": demand,
                "short_units": float(g["short_units"].sum()),
                "avg_on_hand": float(g["avg_on_hand"].sum()),
                "avg_inventory_value": value,
                "inventory_turns": cogs * 365.0 / days / value if value > 0 else math.nan,
                "orders": int(g["orders"].sum()),
                "units_ordered": float(g["units_ordered"].sum()),
                "holding_cost": float(g["holding_cost"].sum()),
                "ordering_cost": float(g["ordering_cost"].sum()),
                "total_cost": float(g["total_cost"].sum()),
            }
        )
    summary = pd.DataFrame(rows)
    order = {name: i for i, name in enumerate(POLICY_NAMES)}
    classes = [ALL_CLASSES, *sorted(set(per_sku["demand_class"]))]
    summary["_c"] = summary["demand_class"].map({c: i for i, c in enumerate(classes)})
    summary["_p"] = summary["policy"].map(order).fillna(len(order))
    return summary.sort_values(["_c", "_p"]).drop(columns=["_c", "_p"]).reset_index(drop=True)


# --------------------------------------------------------------------------- the result


@dataclass(frozen=True)
class SimulationResult:
    """per_sku: SKU_COLUMNS rows; summary: SUMMARY_COLUMNS rows; traces by policy."""

    config: SimulationConfig
    per_sku: pd.DataFrame
    summary: pd.DataFrame
    traces: dict[str, Trace]
    forecast_seconds: float
    replay_seconds: float
