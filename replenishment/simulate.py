"""Simulate: replay a replenishment policy day by day over a historical window.

For each simulated day t of ``[start, start + days)`` the replay

1. decides today's purchase orders from what was known before t (the policy),
2. places them; each arrives after a *real* lead time (see below),
3. receives the orders due today,
4. serves today's actual demand from stock: what cannot be served is lost
   (``lost_sales``) or owed to the customer and served first from later receipts
   (``backorders``),
5. records the end-of-day stock.

Three policies are replayed on the same demand, the same starting stock and the
same lead-time draws (common random numbers), so their differences are the
policies' own:

``pipeline``
    The project's policy: :func:`replenishment.policy.compute_orders` fed with the
    forecast of the day (:func:`replenishment.forecast.forecast_frames`, then
    :func:`~replenishment.forecast.calibrate`, as the pipeline does), its
    ``sigma_daily``, the SKU master and the lead-time spread of the purchase orders
    received before t (:func:`~replenishment.policy.lead_time_stats`).
``min_max``
    Baseline 1, a min-max rule on the trailing 4-week average. ``m`` and ``s`` are the
    mean and standard deviation of the daily demand recorded over the
    ``trailing_days`` (28) days before t, stock-out days left out; L = planned lead
    time, R = review period (at least 1), z = Phi^-1(service_level) and
    ``SS = z * s * sqrt(L)``. ``min = m * L + SS`` and ``max = m * (L + R) + SS``.
    Reviewed daily: when the inventory position is below ``min`` it orders
    ``max - position``, rounded up to whole packs and raised to the MOQ exactly as
    ``compute_orders`` rounds.
``forecast_net``
    Baseline 2, "order the forecast minus inventory minus safety stock each day",
    read as the MRP net requirement: every day, order
    ``forecast demand over L + R - (inventory position - safety stock)`` when
    positive (the literal signs would aim at a negative safety stock). Same forecast
    as ``pipeline``; the safety stock is the textbook one from the trailing demand
    spread, ``z * s * sqrt(L + R)``, without the forecast-error backtest nor the
    lead-time spread. Computed by ``compute_orders`` (periodic, cycle target) with
    ``sigma_daily = s`` and no lead-time spread, so packs and MOQ are the same.

What "known before t" means
---------------------------
Forecasts and the baselines' trailing statistics are made from the warehouse as
the pipeline would have read it on day t: daily demand of order lines before t,
stock-out days (``on_hand = 0`` snapshots) before t, promotions (planned, so known
ahead), received purchase orders before t. They are the same for the three
policies: the simulated stock-outs do not feed back into the history (the
forecaster leaves censored days out of its fits anyway).

Refits. Fitting Prophet every day for 180 days x 200 SKUs is too slow, so the
forecast is refitted every ``refit_every`` days (day 0, refit_every, ...) with a
horizon of ``refit_every + max(L + R)`` days; on the days between two refits the
last forecast is rolled forward: day t uses that forecast's rows for t onwards and
its ``sigma_daily``. Each refit backtests the SKUs as configured by
``backtest_every`` (1 = every SKU on every refit, the default: with the pipeline's
rotation of one SKU in 7 per run date and a refit every 7 days, the same seventh
of the SKUs would be backtested every time).

The demand served
-----------------
The demand of day t is the warehouse's recorded demand of that day (order lines not
cancelled). On a day the warehouse ended out of stock, its sales understate
demand; there the demand served is the larger of the recorded sales and an
estimate: the mean recorded demand of the same weekday in the 4 weeks before and
after, its own stock-out days left out (else the SKU's mean of uncensored days).
The estimate uses days after t: it builds the ground truth, never a decision.

Lead times and the starting state
---------------------------------
A purchase order placed on day t arrives on day ``t + lead``; ``lead`` is drawn,
seeded by (``seed``, sku_id), from the real lead times ``received_date -
order_date`` of the SKU's purchase orders received from 730 days before the window
to its end, or is the planned ``lead_time_days`` when the SKU has none; at least 1
day. One draw per SKU and day, shared by the three policies.

Every policy starts from the real end-of-day stock of the day before ``start``
and the real open purchase orders: each arrives on its real ``received_date``
(the open quantity is split evenly over a SKU's open orders; orders still open
after the window never arrive in it). SKUs simulated: the active SKUs with sales
before ``start`` (a SKU launched during the window has no history to plan from).

KPIs (per SKU, then per policy and demand class)
------------------------------------------------
cycle_service_level
    Share of complete replenishment cycles without a shortage. A cycle runs from a
    receipt to the day before the next receipt; the days before the first receipt
    and after the last one are not complete cycles. A cycle has a shortage when, on
    one of its days, demand could not be served from stock. NaN without a cycle.
fill_rate
    Units served from stock on the day they were asked for / units demanded.
stockout_days
    Days ending with nothing on hand (the contract's definition).
short_days
    Days on which some demand could not be served.
avg_on_hand, avg_inventory_value
    Mean end-of-day stock, units and at unit cost.
inventory_turns
    Annualised: units shipped x 365 / days / avg_on_hand (value-weighted in totals).
orders, units_ordered
    Purchase orders placed (quantity > 0) and their units, arriving or not.
holding_cost
    Sum over days of end-of-day stock x unit_cost x holding_cost_rate / 365.
ordering_cost
    orders x order_cost.

The demand class of a SKU is the Syntetos-Boylan class of the first refit.

Command line (the project CLI dispatches ``replenishment simulate ...`` to :func:`main`)::

    replenishment simulate --url sqlite:///.data/warehouse.db --start 2026-01-01 --days 180 \\
        [--skus 50] [--policy periodic|continuous] [--demand-mode lost_sales|backorders] \\
        [--refit-every 7] [--write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import logging
import math
import os
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.special import ndtri
from sqlalchemy.engine import Engine

from replenishment.db import query_frame
from replenishment.policy import review_days

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

POLICY_NAMES = ("pipeline", "min_max", "forecast_net")
BASELINES = ("min_max", "forecast_net")
DEMAND_MODES = ("lost_sales", "backorders")
ALL_CLASSES = "all"
#: Days of demand history read for a forecast (as the extract stage reads).
HISTORY_DAYS = 1096
#: Days back from the window in which received purchase orders give lead times.
LEAD_TIME_DAYS_BACK = 730
#: Weeks before and after a censored day whose same weekday estimates its demand.
FILL_WEEKS = 4
_PACK_EPS = 1e-9

SKU_TABLE = "inventory_simulation"
SUMMARY_TABLE = "inventory_simulation_summary"

#: Columns of ``inventory_simulation`` (one row per run_id, policy, sku_id).
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


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class SimulationConfig:
    """What to replay.

    start: first simulated day. days: simulated days, start .. start + days - 1.
    policy: ``periodic`` (R, S) or ``continuous`` (s, Q), given to compute_orders.
    demand_mode: ``lost_sales`` (unserved demand is lost) or ``backorders`` (owed).
    refit_every: days between two forecast refits (the forecast is rolled forward between).
    backtest_every: ForecastConfig.backtest_every_days of each refit (1 = every SKU).
    max_skus: simulate only the first N eligible SKUs (by sku_id); None = all.
    trailing_days: window of the baselines' mean and standard deviation, days.
    seed: seed of the lead-time draws. workers: forecast processes (0 = one per core).
    run_id: key of the reporting rows; default from start, days, policy, mode, refit,
        backtest_every (when not 1) and review_schedule.
    review_schedule: the pipeline's policy (:func:`replenishment.policy.compute_orders`)
        itself places periodic-review orders on each SKU's review days only
        (:func:`review_days`); this flag also holds continuous-review orders to those
        days (for periodic runs it adds nothing) and marks the run id "-reviewed".
    """

    start: dt.date
    days: int = 180
    policy: str = "periodic"
    demand_mode: str = "lost_sales"
    refit_every: int = 7
    backtest_days: int = 28
    backtest_every: int = 1
    holiday_country: str = "US"
    interval_width: float = 0.80
    min_history_days: int = 56
    service_target: str = "cycle"
    trailing_days: int = 28
    max_skus: int | None = None
    seed: int = 0
    workers: int = 1
    run_id: str | None = None
    review_schedule: bool = False

    def __post_init__(self) -> None:
        if self.days < 1:
            raise ValueError(f"days must be >= 1, got {self.days}")
        if self.refit_every < 1:
            raise ValueError(f"refit_every must be >= 1, got {self.refit_every}")
        if self.policy not in ("periodic", "continuous"):
            raise ValueError(f"policy must be 'periodic' or 'continuous', got {self.policy!r}")
        if self.demand_mode not in DEMAND_MODES:
            raise ValueError(f"demand_mode must be one of {DEMAND_MODES}, got {self.demand_mode!r}")
        if self.backtest_every < 1 or math.gcd(self.backtest_every, self.refit_every) != 1:
            # the forecast backtests a SKU when (crc32(sku_id) + date ordinal) % every == 0:
            # with a common factor the same SKUs would be backtested at every refit
            raise ValueError(
                f"backtest_every ({self.backtest_every}) must be >= 1 and coprime with "
                f"refit_every ({self.refit_every})"
            )
        if self.trailing_days < 2:
            raise ValueError(f"trailing_days must be >= 2, got {self.trailing_days}")
        if self.max_skus is not None and self.max_skus < 1:
            raise ValueError(f"max_skus must be >= 1, got {self.max_skus}")

    @property
    def end(self) -> dt.date:
        """The day after the last simulated day."""
        return self.start + dt.timedelta(days=self.days)

    @property
    def key(self) -> str:
        """run_id of the reporting rows."""
        return self.run_id or (
            f"{self.start.isoformat()}+{self.days}d-{self.policy}-{self.demand_mode}"
            f"-refit{self.refit_every}"
            + (f"-bt{self.backtest_every}" if self.backtest_every != 1 else "")
            + ("-reviewed" if self.review_schedule else "")
        )

    def date(self, day: int) -> dt.date:
        return self.start + dt.timedelta(days=day)


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class ReplayData:
    """Everything the replay needs, read once from the warehouse (or built by a test).

    sku: SKU master rows of the simulated SKUs, in simulation order (sku_id, unit_cost,
        pack_size, moq, lead_time_days, review_period_days, service_level,
        holding_cost_rate, order_cost).
    demand: (SKUs x days) demand to serve, units/day.
    recorded: (SKUs x (pad + days)) recorded daily demand from ``pad`` days before the
        start, NaN on stock-out days and before the first sale: the baselines' view.
    pad: days of ``recorded`` before the start.
    on_hand0: stock at the end of the day before the start, units.
    scheduled: (SKUs x (days + 1)) receipts of the real open purchase orders per day;
        the last column holds those arriving after the window.
    lead_times: (SKUs x days) lead time, days, of an order placed on each day.
    history: sku_id, ds, y: recorded daily demand (for the forecasts; it runs past the
        window, each refit keeps the days before its own date).
    stockouts: sku_id, ds: stock-out days (for the forecasts, sliced the same way).
    promotions: promo_id, sku_id, start_date, end_date, discount_pct.
    received: sku_id, order_date, received_date of received purchase orders.
    """

    sku: pd.DataFrame
    demand: FloatArray
    recorded: FloatArray
    pad: int
    on_hand0: FloatArray
    scheduled: FloatArray
    lead_times: IntArray
    history: pd.DataFrame
    stockouts: pd.DataFrame
    promotions: pd.DataFrame
    received: pd.DataFrame

    @property
    def sku_ids(self) -> list[str]:
        return [str(s) for s in self.sku["sku_id"]]


def load_replay_data(engine: Engine, cfg: SimulationConfig) -> ReplayData:
    """Read the warehouse once for the window ``cfg.start .. cfg.end - 1``.

    Uses the pipeline's extract SQL (``include/sql/extract_*.sql``) with the window's
    dates as bind parameters, so a warehouse mapped for the pipeline works here too.
    """
    started = time.perf_counter()
    pad = max(cfg.trailing_days, 7 * FILL_WEEKS)
    after = 7 * FILL_WEEKS
    read_end = cfg.end + dt.timedelta(days=after)
    history_start = cfg.start - dt.timedelta(days=HISTORY_DAYS)
    lead_start = cfg.start - dt.timedelta(days=LEAD_TIME_DAYS_BACK)
    with engine.connect() as conn:
        sku = _typed_master(query_frame(conn, "extract_sku_master.sql"))
        protection = float((sku["lead_time_days"] + sku["review_period_days"]).max())
        horizon_end = cfg.end + dt.timedelta(days=refit_horizon(cfg, protection))
        demand = query_frame(
            conn,
            "extract_daily_demand.sql",
            {"history_start": history_start, "run_date": read_end},
            parse_dates=["ds"],
        )
        stockouts = query_frame(
            conn,
            "extract_stockout_days.sql",
            {"history_start": history_start, "run_date": read_end},
            parse_dates=["ds"],
        )
        promotions = query_frame(
            conn,
            "extract_promotions.sql",
            {"history_start": history_start, "horizon_end": horizon_end},
            parse_dates=["start_date", "end_date"],
        )
        on_hand = query_frame(
            conn, "extract_on_hand.sql", {"run_date": cfg.start}, parse_dates=["snapshot_date"]
        )
        last_snapshot = query_frame(
            conn, "extract_on_hand.sql", {"run_date": read_end}, parse_dates=["snapshot_date"]
        )
        on_order = query_frame(conn, "extract_on_order.sql", {"run_date": cfg.start})
        received = query_frame(
            conn,
            "extract_lead_times.sql",
            {"lead_time_start": lead_start, "run_date": read_end},
            parse_dates=["order_date", "received_date"],
        )
    for frame in (sku, demand, stockouts, promotions, on_hand, last_snapshot, on_order, received):
        frame["sku_id"] = frame["sku_id"].astype(str)
    demand["y"] = pd.to_numeric(demand["y"]).astype("float64")

    last_day = last_snapshot["snapshot_date"].max()
    final = pd.Timestamp(cfg.end - dt.timedelta(days=1))
    if pd.isna(last_day) or last_day < final:
        raise ValueError(
            f"inventory_snapshots: the warehouse ends on {_iso(last_day)}, before the last "
            f"simulated day {final.date().isoformat()} (start {cfg.start}, {cfg.days} days)"
        )

    first_sale = demand[demand["y"] > 0].groupby("sku_id")["ds"].min()
    active = sku[sku["active"]].copy()
    known = active["sku_id"].map(first_sale) < pd.Timestamp(cfg.start)
    skipped = active.loc[~known, "sku_id"].tolist()
    if skipped:
        log.info(
            "simulate: %d active SKUs without sales before %s left out (%s)",
            len(skipped),
            cfg.start,
            ", ".join(skipped[:5]) + (", …" if len(skipped) > 5 else ""),
        )
    chosen = active[known].sort_values("sku_id")
    if cfg.max_skus is not None:
        chosen = chosen.head(cfg.max_skus)
    chosen = chosen.reset_index(drop=True)
    if chosen.empty:
        raise ValueError(f"sku_master: no active SKU has sales before {cfg.start}")
    ids = chosen["sku_id"].tolist()
    keep = set(ids)

    # recorded demand on [start - pad, end + after): NaN where censored or unknown
    origin = pd.Timestamp(cfg.start) - pd.Timedelta(days=pad)
    width = pad + cfg.days + after
    recorded = _day_matrix(demand, ids, origin, width, "y")
    censored = _day_matrix(stockouts.assign(flag=1.0), ids, origin, width, "flag") > 0
    day_index = np.arange(width)
    first = ((chosen["sku_id"].map(first_sale) - origin) / pd.Timedelta(days=1)).to_numpy()
    last = (
        (chosen["sku_id"].map(last_snapshot.set_index("sku_id")["snapshot_date"]) - origin)
        / pd.Timedelta(days=1)
    ).to_numpy(dtype=float, na_value=np.nan)
    unknown = (day_index[None, :] < first[:, None]) | ~(day_index[None, :] <= last[:, None])
    recorded = np.where(unknown, np.nan, recorded)
    observed = np.where(censored, np.nan, recorded)
    served = uncensored_demand(recorded, censored & ~unknown)
    window = slice(pad, pad + cfg.days)

    on_hand0 = (
        chosen["sku_id"]
        .map(on_hand.set_index("sku_id")["on_hand"])
        .astype(float)
        .fillna(0.0)
        .to_numpy()
    )
    scheduled = _open_order_receipts(chosen, on_order, received, cfg)
    pools = _lead_time_pools(received, ids)
    lead = draw_lead_times(ids, pools, chosen["lead_time_days"].to_numpy(), cfg.days, cfg.seed)
    data = ReplayData(
        sku=chosen,
        demand=np.asarray(served[:, window], dtype=np.float64),
        recorded=np.asarray(observed[:, : pad + cfg.days], dtype=np.float64),
        pad=pad,
        on_hand0=np.asarray(on_hand0, dtype=np.float64),
        scheduled=scheduled,
        lead_times=lead,
        history=demand[demand["sku_id"].isin(keep)].reset_index(drop=True),
        stockouts=stockouts[stockouts["sku_id"].isin(keep)].reset_index(drop=True),
        promotions=promotions[promotions["sku_id"].isin(keep)].reset_index(drop=True),
        received=received[received["sku_id"].isin(keep)].reset_index(drop=True),
    )
    log.info(
        "simulate: read %d SKUs, %d demand rows, %d stock-out days, %d received POs in %.1fs; "
        "%.0f units of demand to serve (%d censored SKU-days estimated)",
        len(ids),
        len(data.history),
        len(data.stockouts),
        len(data.received),
        time.perf_counter() - started,
        float(data.demand.sum()),
        int(censored[:, window].sum()),
    )
    return data


def _iso(value: Any) -> str:
    return "no snapshot" if pd.isna(value) else pd.Timestamp(value).date().isoformat()


def _typed_master(sku: pd.DataFrame) -> pd.DataFrame:
    sku = sku.copy()
    sku["active"] = sku["active"].map(
        lambda v: (
            v.strip().lower() in ("1", "true", "t", "yes", "y") if isinstance(v, str) else bool(v)
        )
    )
    for col in ("pack_size", "moq", "lead_time_days", "review_period_days"):
        sku[col] = pd.to_numeric(sku[col]).astype("int64")
    for col in ("unit_cost", "service_level", "holding_cost_rate", "order_cost"):
        sku[col] = pd.to_numeric(sku[col]).astype("float64")
    return sku


def _day_matrix(
    frame: pd.DataFrame, ids: Sequence[str], origin: pd.Timestamp, width: int, column: str
) -> FloatArray:
    """(SKUs x width) matrix of ``column`` by (sku_id, ds); 0 where there is no row."""
    rows = pd.Index(ids).get_indexer(frame["sku_id"])
    offset = ((frame["ds"] - origin) / pd.Timedelta(days=1)).to_numpy(dtype=float, na_value=-1)
    offset = offset.astype(np.int64)
    ok = (rows >= 0) & (offset >= 0) & (offset < width)
    matrix = np.zeros((len(ids), width))
    np.add.at(matrix, (rows[ok], offset[ok]), frame[column].to_numpy(dtype=float)[ok])
    return matrix


def uncensored_demand(
    recorded: FloatArray, censored: BoolArray, weeks: int = FILL_WEEKS
) -> FloatArray:
    """Demand to serve: the recorded demand, estimated upwards on censored days.

    recorded: (SKUs x days) recorded demand (sales), units/day; NaN where unknown
    (before the first sale, after the last snapshot): 0 is served there.
    censored: True where the day ended out of stock.
    A censored day takes the larger of its recorded sales and the mean of the same
    weekday's uncensored, known days within ``weeks`` weeks before and after; without
    any, the SKU's mean over all its uncensored known days (0 without those).
    """
    observed = np.where(censored, np.nan, recorded)
    n, width = observed.shape
    total = np.zeros((n, width))
    count = np.zeros((n, width))
    for k in range(1, weeks + 1):
        for shift in (7 * k, -7 * k):
            if abs(shift) >= width:
                continue
            moved = np.full((n, width), np.nan)
            if shift > 0:
                moved[:, shift:] = observed[:, : width - shift]
            else:
                moved[:, :shift] = observed[:, -shift:]
            valid = ~np.isnan(moved)
            total += np.where(valid, moved, 0.0)
            count += valid
    has_row = (~np.isnan(observed)).any(axis=1)
    row_mean = np.zeros(n)
    row_mean[has_row] = np.nanmean(observed[has_row], axis=1)
    estimate = np.where(count > 0, total / np.maximum(count, 1), row_mean[:, None])
    sales = np.nan_to_num(recorded, nan=0.0)
    return np.asarray(np.where(censored, np.maximum(sales, estimate), sales), dtype=np.float64)


def _lead_days(received: pd.DataFrame) -> pd.Series:
    return (received["received_date"] - received["order_date"]) / pd.Timedelta(days=1)


def _lead_time_pools(received: pd.DataFrame, ids: Sequence[str]) -> dict[str, FloatArray]:
    days = _lead_days(received)
    ok = days.notna() & (days >= 0)
    frame = pd.DataFrame({"sku_id": received.loc[ok, "sku_id"], "days": days[ok]})
    groups = {str(k): g.to_numpy(dtype=float) for k, g in frame.groupby("sku_id")["days"]}
    return {s: groups[s] for s in ids if s in groups}


def draw_lead_times(
    sku_ids: Sequence[str],
    pools: dict[str, FloatArray],
    planned: npt.ArrayLike,
    days: int,
    seed: int,
) -> IntArray:
    """(SKUs x days) lead time, whole days >= 1, of an order placed on each day.

    Each SKU draws uniformly from its pool of real lead times with its own generator,
    seeded by (seed, crc32(sku_id)): the draws of a SKU do not depend on which other
    SKUs are simulated. A SKU without a pool gets its planned lead time.
    """
    planned_days = np.asarray(planned, dtype=float)
    out = np.empty((len(sku_ids), days), dtype=np.int64)
    for i, sku_id in enumerate(sku_ids):
        pool = pools.get(sku_id)
        if pool is None or pool.size == 0:
            out[i] = max(1, int(round(planned_days[i])))
            continue
        rng = np.random.Generator(np.random.PCG64([seed, zlib.crc32(sku_id.encode())]))
        out[i] = np.maximum(1, np.rint(pool[rng.integers(0, pool.size, days)])).astype(np.int64)
    return out


def _open_order_receipts(
    sku: pd.DataFrame, on_order: pd.DataFrame, received: pd.DataFrame, cfg: SimulationConfig
) -> FloatArray:
    """Receipts per day of the purchase orders open at the start (last column: later)."""
    ids = sku["sku_id"].tolist()
    out = np.zeros((len(ids), cfg.days + 1))
    if on_order.empty:
        return out
    start = pd.Timestamp(cfg.start)
    open_then = received[(received["order_date"] < start) & (received["received_date"] >= start)]
    arrival = ((open_then["received_date"] - start) / pd.Timedelta(days=1)).astype(int)
    arrivals = arrival.clip(upper=cfg.days).groupby(open_then["sku_id"]).agg(list)
    for row in on_order.itertuples(index=False):
        if row.sku_id not in ids:
            continue
        i = ids.index(row.sku_id)
        quantity = float(row.on_order)
        days = arrivals.get(row.sku_id, [])
        each = quantity / max(int(row.open_purchase_orders), len(days), 1)
        for d in days:
            out[i, d] += each
        out[i, cfg.days] += quantity - each * len(days)
    return out


# --------------------------------------------------------------------------- the replay


@dataclass(frozen=True)
class DayState:
    """What a policy sees on the morning of day ``day`` (units, one entry per SKU).

    on_hand: stock at the end of the previous day. on_order: ordered, not yet received
    (orders arriving today included). backorders: demand owed to customers.
    """

    day: int
    on_hand: FloatArray
    on_order: FloatArray
    backorders: FloatArray


class Policy(Protocol):
    """Decides the order quantity of every SKU (units, >= 0) on a day."""

    def __call__(self, state: DayState) -> FloatArray: ...


@dataclass(frozen=True)
class Trace:
    """Day-by-day record of one replay, (SKUs x days) arrays in units.

    on_hand_open: stock at the end of the previous day; receipts: arrived today;
    demand: asked today; served: today's demand served today; shipped: units that left
    the shelf (backorders included); short: today's demand not served today;
    on_hand_end: stock at the end of the day; backorders_end: owed at the end of the day;
    ordered: units ordered today; on_order_end: on order at the end of the day.
    """

    on_hand_open: FloatArray
    receipts: FloatArray
    demand: FloatArray
    served: FloatArray
    shipped: FloatArray
    short: FloatArray
    on_hand_end: FloatArray
    backorders_end: FloatArray
    ordered: FloatArray
    on_order_end: FloatArray


def replay(
    demand: FloatArray,
    on_hand0: FloatArray,
    scheduled: FloatArray,
    lead_times: IntArray,
    policy: Policy,
    demand_mode: str = "lost_sales",
) -> Trace:
    """Walk the days: order, receive, serve, record. Vectorised over SKUs.

    demand: (SKUs x days) units/day. on_hand0: starting stock. scheduled: (SKUs x
    (days + 1)) receipts already on order (last column: after the window).
    lead_times: (SKUs x days) days from ordering to receipt (>= 1).
    Conservation holds every day: on_hand_end = on_hand_open + receipts - shipped.
    """
    if demand_mode not in DEMAND_MODES:
        raise ValueError(f"demand_mode must be one of {DEMAND_MODES}, got {demand_mode!r}")
    n, days = demand.shape
    if scheduled.shape != (n, days + 1) or lead_times.shape != (n, days):
        raise ValueError(
            f"scheduled must be {(n, days + 1)} and lead_times {(n, days)}, got "
            f"{scheduled.shape} and {lead_times.shape}"
        )
    if (lead_times < 1).any():
        raise ValueError("lead_times must be >= 1 day")
    backorders = demand_mode == "backorders"
    pipeline = np.array(scheduled, dtype=np.float64, copy=True)
    on_hand = np.array(on_hand0, dtype=np.float64, copy=True)
    on_order = pipeline.sum(axis=1)
    owed = np.zeros(n)
    rows = np.arange(n)
    record = {
        name: np.zeros((n, days))
        for name in (
            "on_hand_open",
            "receipts",
            "served",
            "shipped",
            "short",
            "on_hand_end",
            "backorders_end",
            "ordered",
            "on_order_end",
        )
    }
    for t in range(days):
        qty = np.asarray(
            policy(DayState(t, on_hand.copy(), on_order.copy(), owed.copy())), dtype=np.float64
        )
        if qty.shape != (n,) or not np.isfinite(qty).all() or (qty < 0).any():
            raise ValueError(f"day {t}: the policy must return {n} finite quantities >= 0")
        arrive = np.minimum(t + lead_times[:, t], days)
        np.add.at(pipeline, (rows, arrive), qty)
        on_order += qty
        record["on_hand_open"][:, t] = on_hand
        got = pipeline[:, t]
        on_hand += got
        on_order -= got
        asked = demand[:, t]
        if backorders:
            shipped = np.minimum(on_hand, owed + asked)
            to_backlog = np.minimum(owed, shipped)
            served = shipped - to_backlog
            owed = owed + asked - shipped
        else:
            shipped = np.minimum(on_hand, asked)
            served = shipped
        on_hand -= shipped
        record["receipts"][:, t] = got
        record["served"][:, t] = served
        record["shipped"][:, t] = shipped
        record["short"][:, t] = asked - served
        record["on_hand_end"][:, t] = on_hand
        record["backorders_end"][:, t] = owed
        record["ordered"][:, t] = qty
        record["on_order_end"][:, t] = on_order
    return Trace(demand=np.asarray(demand, dtype=np.float64), **record)


# --------------------------------------------------------------------------- policies


def round_order(need: FloatArray, pack: FloatArray, moq: FloatArray) -> FloatArray:
    """``compute_orders``' rounding: up to whole packs, raised to the MOQ, whole packs again."""
    packed = np.maximum(np.ceil(need / pack - _PACK_EPS), 0.0) * pack
    raised = np.ceil(np.maximum(packed, moq) / pack - _PACK_EPS) * pack
    return np.asarray(np.where(packed > 0, raised, 0.0), dtype=np.float64)


def trailing_stats(recorded: FloatArray, end: int, window: int) -> tuple[FloatArray, FloatArray]:
    """Mean and sample std (units/day) of the last ``window`` observed days before ``end``.

    recorded: (SKUs x days) with NaN on unobserved days. A SKU whose last ``window``
    days are all unobserved uses its last ``window`` observed days; without any, 0.
    """
    part = recorded[:, max(0, end - window) : end]
    observed = ~np.isnan(part)
    count = observed.sum(axis=1)
    total = np.where(observed, part, 0.0).sum(axis=1)
    mean = np.divide(total, count, out=np.zeros(len(part)), where=count > 0)
    dev = np.where(observed, part - mean[:, None], 0.0)
    var = np.divide((dev**2).sum(axis=1), count - 1, out=np.zeros(len(part)), where=count > 1)
    std = np.sqrt(var)
    for i in np.flatnonzero(count == 0):
        history = recorded[i, :end]
        values = history[~np.isnan(history)][-window:]
        if values.size:
            mean[i] = values.mean()
            std[i] = values.std(ddof=1) if values.size > 1 else 0.0
    return mean, std


class MinMaxPolicy:
    """Baseline 1: min-max on the trailing 4-week mean, reviewed daily (module docstring)."""

    def __init__(self, data: ReplayData, trailing_days: int) -> None:
        self.data = data
        self.window = trailing_days
        sku = data.sku
        self.lead = sku["lead_time_days"].to_numpy(dtype=float)
        self.review = np.maximum(sku["review_period_days"].to_numpy(dtype=float), 1.0)
        self.z = np.asarray(ndtri(sku["service_level"].to_numpy(dtype=float)), dtype=np.float64)
        self.pack = sku["pack_size"].to_numpy(dtype=float)
        self.moq = sku["moq"].to_numpy(dtype=float)

    def levels(self, day: int) -> tuple[FloatArray, FloatArray]:
        """(min, max) of every SKU on ``day``, units."""
        mean, std = trailing_stats(self.data.recorded, self.data.pad + day, self.window)
        safety = np.maximum(self.z * std * np.sqrt(self.lead), 0.0)
        return mean * self.lead + safety, mean * (self.lead + self.review) + safety

    def __call__(self, state: DayState) -> FloatArray:
        low, high = self.levels(state.day)
        position = state.on_hand + state.on_order - state.backorders
        need = np.where(position < low, high - position, 0.0)
        return round_order(need, self.pack, self.moq)


@dataclass(frozen=True)
class RefitForecast:
    """A refit's output: forecast rows (sku_id, forecast_date, yhat) and per-SKU summary
    (sku_id, model, demand_class, sigma_daily)."""

    day: int
    forecast: pd.DataFrame
    summary: pd.DataFrame


class ForecastPolicy:
    """``compute_orders`` on the rolled-forward forecast: the pipeline or baseline 2."""

    def __init__(
        self,
        data: ReplayData,
        cfg: SimulationConfig,
        refits: Sequence[RefitForecast],
        baseline: bool,
    ) -> None:
        from replenishment.policy import PARAM_COLUMNS

        self.data = data
        self.cfg = cfg
        self.refits = sorted(refits, key=lambda r: r.day)
        self.baseline = baseline
        self.ids = pd.Index(data.sku_ids)
        base = [c for c in PARAM_COLUMNS if c in data.sku.columns]
        self.params = data.sku[base].copy()
        self.received_at = data.received["received_date"]
        self.last_orders: pd.DataFrame | None = None

    def _refit(self, day: int) -> RefitForecast:
        current = [r for r in self.refits if r.day <= day]
        if not current:
            raise ValueError(f"day {day}: no forecast refitted on or before it")
        return current[-1]

    def _lead_time_std(self, run_date: dt.date) -> FloatArray:
        from replenishment.policy import lead_time_stats

        day = pd.Timestamp(run_date)
        known = (self.received_at < day) & (
            self.received_at >= day - pd.Timedelta(days=LEAD_TIME_DAYS_BACK)
        )
        stats = lead_time_stats(self.data.received[known])
        return np.asarray(
            stats.set_index("sku_id")["lead_time_std_days"].reindex(self.ids).to_numpy(dtype=float),
            dtype=np.float64,
        )

    def __call__(self, state: DayState) -> FloatArray:
        from replenishment.policy import compute_orders

        run_date = self.cfg.date(state.day)
        refit = self._refit(state.day)
        summary = refit.summary.set_index("sku_id").reindex(self.ids)
        params = self.params.copy()
        params["model"] = summary["model"].fillna("no_history").to_numpy()
        if self.baseline:
            _, std = trailing_stats(
                self.data.recorded, self.data.pad + state.day, self.cfg.trailing_days
            )
            params["sigma_daily"] = std
            params["lead_time_std_days"] = np.nan
            policy, target = "periodic", "cycle"
        else:
            params["sigma_daily"] = summary["sigma_daily"].fillna(0.0).to_numpy(dtype=float)
            params["lead_time_std_days"] = self._lead_time_std(run_date)
            policy, target = self.cfg.policy, self.cfg.service_target
        position = pd.DataFrame(
            {
                "sku_id": self.ids,
                "on_hand": state.on_hand,
                "on_order": state.on_order,
                "backorders": state.backorders,
            }
        )
        orders = compute_orders(
            refit.forecast,
            position,
            params,
            run_date,
            policy=policy,
            service_target=target,
            review_schedule=not self.baseline,  # the pipeline orders on review days only
        )
        self.last_orders = orders
        qty = np.asarray(orders["order_qty"].to_numpy(dtype=float), dtype=np.float64)
        if self.cfg.review_schedule and not self.baseline:
            periods = self.data.sku["review_period_days"].to_numpy()
            qty = np.where(review_days(self.data.sku_ids, periods, run_date), qty, 0.0)
        return qty


# --------------------------------------------------------------------------- forecasts

#: Makes the refit of a day: (config, data, day index, horizon days) -> RefitForecast.
Forecaster = Callable[[SimulationConfig, ReplayData, int, int], RefitForecast]


def refit_horizon(cfg: SimulationConfig, max_protection_days: float) -> int:
    """Days forecast at a refit: until the next refit plus the longest protection period."""
    return int(cfg.refit_every + math.ceil(max_protection_days) + 1)


def pipeline_forecaster(cache_dir: Path | None = None, cache_key: str = "") -> Forecaster:
    """The pipeline's forecast stage on the data known at the refit day.

    forecast_frames over the SKUs with the history ``[t - HISTORY_DAYS, t)``, then
    calibrate (as the pipeline's forecast stage does). With ``cache_dir``, each refit
    is stored under a key of (cache_key, config, SKUs, date) and read back when present.
    """

    def forecast(cfg: SimulationConfig, data: ReplayData, day: int, horizon: int) -> RefitForecast:
        from replenishment.config import Settings
        from replenishment.forecast import (
            ForecastConfig,
            ForecastResult,
            calibrate,
            forecast_frames,
        )

        run_date = cfg.date(day)
        fc_cfg = ForecastConfig.from_settings(
            Settings(
                holiday_country=cfg.holiday_country,
                interval_width=cfg.interval_width,
                backtest_days=cfg.backtest_days,
                min_history_days=cfg.min_history_days,
            ),
            run_date,
            horizon_days=horizon,
            backtest_every_days=cfg.backtest_every,
        )
        stem = ""
        if cache_dir is not None:
            digest = hashlib.sha1(
                json.dumps([cache_key, fc_cfg.to_json(), data.sku_ids]).encode()
            ).hexdigest()[:16]
            stem = f"{run_date.isoformat()}-{digest}"
            if (cache_dir / f"{stem}.summary.parquet").exists():
                result = ForecastResult.load(cache_dir, stem)
                return _refit_from(day, result.forecast, result.summary)
        day_ts = pd.Timestamp(run_date)
        since = day_ts - pd.Timedelta(days=HISTORY_DAYS)
        history = data.history[(data.history["ds"] >= since) & (data.history["ds"] < day_ts)]
        stockouts = data.stockouts[
            (data.stockouts["ds"] >= since) & (data.stockouts["ds"] < day_ts)
        ]
        horizon_end = day_ts + pd.Timedelta(days=horizon - 1)
        promotions = data.promotions[
            (data.promotions["end_date"] >= since) & (data.promotions["start_date"] <= horizon_end)
        ]
        result = forecast_frames(
            data.sku_ids, history, stockouts, promotions, fc_cfg, workers=cfg.workers
        )
        result = calibrate(result, cfg.interval_width)
        if cache_dir is not None:
            result.save(cache_dir, stem)
        return _refit_from(day, result.forecast, result.summary)

    return forecast


def _refit_from(day: int, forecast: pd.DataFrame, summary: pd.DataFrame) -> RefitForecast:
    return RefitForecast(
        day=day,
        forecast=forecast[["sku_id", "forecast_date", "yhat"]].reset_index(drop=True),
        summary=summary[["sku_id", "model", "demand_class", "sigma_daily"]].reset_index(drop=True),
    )


# --------------------------------------------------------------------------- KPIs


def cycle_counts(receipts: BoolArray, short: BoolArray) -> tuple[IntArray, IntArray]:
    """Complete replenishment cycles and those with a shortage, per SKU.

    A cycle runs from a receipt day to the day before the next receipt; days before
    the first receipt and from the last receipt on are not complete cycles.
    """
    n, days = receipts.shape
    cycle_id = np.cumsum(receipts, axis=1)  # 0 before the first receipt
    last = cycle_id[:, -1] if days else np.zeros(n, dtype=np.int64)
    complete = (cycle_id >= 1) & (cycle_id < last[:, None])
    cycles = np.maximum(last - 1, 0).astype(np.int64)
    key = (np.arange(n)[:, None] * (days + 2) + cycle_id)[complete & short]
    stockout = np.zeros(n, dtype=np.int64)
    if key.size:
        unique = np.unique(key)
        stockout = np.bincount(unique // (days + 2), minlength=n).astype(np.int64)
    return cycles, stockout


def sku_kpis(trace: Trace, sku: pd.DataFrame) -> pd.DataFrame:
    """One row per SKU: the KPIs of the module docstring (no run identifiers)."""
    days = trace.demand.shape[1]
    unit_cost = sku["unit_cost"].to_numpy(dtype=float)
    demand = trace.demand.sum(axis=1)
    served = trace.served.sum(axis=1)
    shipped = trace.shipped.sum(axis=1)
    avg_on_hand = trace.on_hand_end.mean(axis=1)
    cycles, stockout_cycles = cycle_counts(trace.receipts > 0, trace.short > 1e-9)
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


def summarise(per_sku: pd.DataFrame, days: int) -> pd.DataFrame:
    """Totals per policy, over all SKUs (``demand_class = 'all'``) and per demand class.

    Cycle service level and its target are means over the SKUs with at least one
    complete cycle; service_level_gap is the mean of (achieved - target) over them.
    Fill rate and turns are ratios of totals (turns at unit cost, annualised).
    """
    frames = [per_sku.assign(demand_class=ALL_CLASSES), per_sku]
    both = pd.concat(frames, ignore_index=True)
    rows = []
    for (policy, demand_class), g in both.groupby(["policy", "demand_class"], sort=False):
        has = g["cycle_service_level"].notna()
        value = float(g["avg_inventory_value"].sum())
        cogs = float((g["shipped_units"] * g["unit_cost"]).sum())
        demand = float(g["demand_units"].sum())
        rows.append(
            {
                "policy": policy,
                "demand_class": demand_class,
                "skus": len(g),
                "skus_with_cycles": int(has.sum()),
                "target_service_level": float(g.loc[has, "service_level"].mean())
                if has.any()
                else math.nan,
                "cycle_service_level": float(g.loc[has, "cycle_service_level"].mean())
                if has.any()
                else math.nan,
                "service_level_gap": float(
                    (g.loc[has, "cycle_service_level"] - g.loc[has, "service_level"]).mean()
                )
                if has.any()
                else math.nan,
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


# --------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class SimulationResult:
    """per_sku: SKU_COLUMNS rows; summary: SUMMARY_COLUMNS rows; traces by policy."""

    config: SimulationConfig
    per_sku: pd.DataFrame
    summary: pd.DataFrame
    traces: dict[str, Trace]
    forecast_seconds: float
    replay_seconds: float


def simulate(
    data: ReplayData,
    cfg: SimulationConfig,
    forecaster: Forecaster | None = None,
    policies: Sequence[str] = POLICY_NAMES,
) -> SimulationResult:
    """Replay ``policies`` over the window of ``cfg`` on ``data``.

    The forecast is refitted on days 0, refit_every, 2 * refit_every, ... by
    ``forecaster`` (default :func:`pipeline_forecaster`) and rolled forward in between.
    """
    unknown = set(policies) - set(POLICY_NAMES)
    if unknown:
        raise ValueError(f"unknown policies {sorted(unknown)}; known: {POLICY_NAMES}")
    forecaster = forecaster or pipeline_forecaster()
    sku = data.sku
    protection = (sku["lead_time_days"] + sku["review_period_days"]).max()
    horizon = refit_horizon(cfg, float(protection))
    started = time.perf_counter()
    refits: list[RefitForecast] = []
    needs_forecast = any(p in ("pipeline", "forecast_net") for p in policies)
    refit_days = list(range(0, cfg.days, cfg.refit_every)) if needs_forecast else [0]
    for k, day in enumerate(refit_days):
        t0 = time.perf_counter()
        refits.append(forecaster(cfg, data, day, horizon))
        log.info(
            "simulate: forecast %d/%d for %s (%d SKUs, %d days) in %.1fs",
            k + 1,
            len(refit_days),
            cfg.date(day),
            len(sku),
            horizon,
            time.perf_counter() - t0,
        )
    forecast_seconds = time.perf_counter() - started

    first = refits[0].summary.set_index("sku_id").reindex(data.sku_ids)
    demand_class = first["demand_class"].fillna("none").to_numpy()
    model = first["model"].fillna("no_history").to_numpy()

    started = time.perf_counter()
    traces: dict[str, Trace] = {}
    frames = []
    for name in policies:
        policy: Policy
        if name == "min_max":
            policy = MinMaxPolicy(data, cfg.trailing_days)
        else:
            policy = ForecastPolicy(data, cfg, refits, baseline=name == "forecast_net")
        trace = replay(
            data.demand, data.on_hand0, data.scheduled, data.lead_times, policy, cfg.demand_mode
        )
        traces[name] = trace
        kpis = sku_kpis(trace, sku)
        kpis.insert(0, "policy", name)
        kpis["demand_class"] = demand_class
        kpis["model"] = model
        frames.append(kpis)
        log.info("simulate: replayed %s over %d days", name, cfg.days)
    replay_seconds = time.perf_counter() - started
    per_sku = pd.concat(frames, ignore_index=True)
    summary = summarise(per_sku, cfg.days)
    ident = {
        "run_id": cfg.key,
        "start_date": cfg.start,
        "end_date": cfg.end - dt.timedelta(days=1),
        "days": cfg.days,
        "pipeline_policy": cfg.policy,
        "demand_mode": cfg.demand_mode,
        "refit_every_days": cfg.refit_every,
    }
    per_sku = per_sku.assign(**ident)[list(SKU_COLUMNS)]
    summary = summary.assign(**ident)[list(SUMMARY_COLUMNS)]
    return SimulationResult(cfg, per_sku, summary, traces, forecast_seconds, replay_seconds)


# --------------------------------------------------------------------------- bars, report


@dataclass(frozen=True)
class Bar:
    name: str
    value: str
    met: bool


def evaluate_bars(summary: pd.DataFrame) -> list[Bar]:
    """The issue's bars on a summary (all SKUs and smooth SKUs of the pipeline policy).

    1. mean |cycle service level - target| over smooth SKUs <= 2 percentage points
       (the mean signed gap is reported; the bar is on its absolute value);
    2. pipeline fill rate >= 97 %;
    3. against the better baseline (higher fill rate; ties: less inventory), at equal or
       better fill rate: >= 30 % fewer stock-out days or >= 20 % less average inventory
       (value at unit cost).
    """
    total = summary[summary["demand_class"] == ALL_CLASSES].set_index("policy")
    bars: list[Bar] = []
    smooth = summary[(summary["policy"] == "pipeline") & (summary["demand_class"] == "smooth")]
    if len(smooth):
        gap = float(smooth["service_level_gap"].iloc[0]) * 100
        bars.append(
            Bar(
                "smooth SKUs: cycle service level within 2 pp of target",
                f"{float(smooth['cycle_service_level'].iloc[0]):.1%} vs target "
                f"{float(smooth['target_service_level'].iloc[0]):.1%} (mean gap {gap:+.1f} pp)",
                bool(abs(gap) <= 2.0),
            )
        )
    if "pipeline" not in total.index:
        return bars
    pipe = total.loc["pipeline"]
    bars.append(
        Bar(
            "pipeline fill rate >= 97%",
            f"{float(pipe['fill_rate']):.2%}",
            bool(pipe["fill_rate"] >= 0.97),
        )
    )
    present = [b for b in BASELINES if b in total.index]
    if present:
        ranked = sorted(
            present,
            key=lambda b: (
                -float(total.loc[b, "fill_rate"]),
                float(total.loc[b, "avg_inventory_value"]),
            ),
        )
        best = total.loc[ranked[0]]
        so = _change(float(pipe["stockout_days"]), float(best["stockout_days"]))
        inv = _change(float(pipe["avg_inventory_value"]), float(best["avg_inventory_value"]))
        fill_ok = float(pipe["fill_rate"]) >= float(best["fill_rate"]) - 1e-12
        bars.append(
            Bar(
                f"vs better baseline ({ranked[0]}): >= 30% fewer stock-out days or >= 20% "
                "less inventory, at equal or better fill rate",
                f"stock-out days {so:+.0%}, avg inventory {inv:+.0%}, fill rate "
                f"{float(pipe['fill_rate']):.2%} vs {float(best['fill_rate']):.2%}",
                bool(fill_ok and (so <= -0.30 or inv <= -0.20)),
            )
        )
    return bars


def _change(value: float, reference: float) -> float:
    if reference == 0:
        return 0.0 if value == 0 else math.inf
    return value / reference - 1.0


def format_report(result: SimulationResult) -> str:
    """The comparison table (per demand class) and the bars, as printed by ``main``."""
    cfg = result.config
    s = result.summary
    skus = int(s.loc[(s["demand_class"] == ALL_CLASSES), "skus"].iloc[0]) if len(s) else 0
    head = (
        f"replay {cfg.start} .. {cfg.end - dt.timedelta(days=1)} ({cfg.days} days), {skus} SKUs, "
        f"policy {cfg.policy}, {cfg.demand_mode}, refit every {cfg.refit_every} days "
        f"(forecasts {result.forecast_seconds:.0f}s, replay {result.replay_seconds:.0f}s); "
        f"run_id {cfg.key}"
    )
    columns = [
        ("class", 12, "<"),
        ("policy", 12, "<"),
        ("SKUs", 4, ">"),
        ("CSL", 6, ">"),
        ("target", 6, ">"),
        ("gap pp", 6, ">"),
        ("fill", 6, ">"),
        ("SO days", 7, ">"),
        ("avg inv u", 9, ">"),
        ("avg inv $", 10, ">"),
        ("turns", 5, ">"),
        ("orders", 6, ">"),
        ("units", 9, ">"),
        ("holding $", 10, ">"),
        ("ordering $", 10, ">"),
        ("total $", 10, ">"),
    ]
    lines = [head, "  ".join(f"{name:{align}{width}}" for name, width, align in columns)]
    previous = None
    for row in s.itertuples(index=False):
        if previous is not None and row.demand_class != previous:
            lines.append("")
        previous = row.demand_class
        cells = [
            row.demand_class,
            row.policy,
            f"{row.skus:d}",
            _pct(row.cycle_service_level),
            _pct(row.target_service_level),
            "n/a" if pd.isna(row.service_level_gap) else f"{row.service_level_gap * 100:+.1f}",
            _pct(row.fill_rate),
            f"{row.stockout_days:d}",
            f"{row.avg_on_hand:,.0f}",
            f"{row.avg_inventory_value:,.0f}",
            "n/a" if pd.isna(row.inventory_turns) else f"{row.inventory_turns:.1f}",
            f"{row.orders:d}",
            f"{row.units_ordered:,.0f}",
            f"{row.holding_cost:,.0f}",
            f"{row.ordering_cost:,.0f}",
            f"{row.total_cost:,.0f}",
        ]
        lines.append(
            "  ".join(
                f"{cell:{align}{width}}"
                for cell, (_, width, align) in zip(cells, columns, strict=True)
            )
        )
    lines.append("")
    lines.append("bars:")
    for bar in evaluate_bars(s):
        lines.append(f"  [{'met' if bar.met else 'NOT met'}] {bar.name}: {bar.value}")
    return "\n".join(lines)


def _pct(x: float) -> str:
    return "n/a" if pd.isna(x) else f"{x * 100:.1f}%"


# --------------------------------------------------------------------------- reporting tables


def write_results(engine: Engine, schema: str, result: SimulationResult) -> dict[str, int]:
    """Replace the run's rows of both reporting tables in one transaction.

    Creates the schema (where the database has schemas and it is missing: the
    least-privilege pipeline role may not create one) and the tables of
    ``include/sql/create_simulation_tables.sql`` when missing; deletes the rows of
    ``run_id`` and inserts the new ones (:mod:`replenishment.warehouse`).
    """
    from replenishment.warehouse import replace_rows, reporting_transaction

    run_id = result.config.key
    written: dict[str, int] = {}
    with reporting_transaction(engine, schema, "create_simulation_tables.sql") as (conn, prefix):
        for table, frame in ((SKU_TABLE, result.per_sku), (SUMMARY_TABLE, result.summary)):
            key = {"run_id": run_id}
            written[table] = replace_rows(conn, f"{prefix}{table}", key, _sql_ready(frame))
    log.info("simulate: wrote run %s: %s", run_id, written)
    return written


def _sql_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with non-finite floats (NaN, inf) as None, stored as SQL NULL."""
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_float_dtype(out[col]):
            out[col] = out[col].astype(object).where(np.isfinite(out[col].to_numpy()), None)
    return out


# --------------------------------------------------------------------------- entry points


def run_simulation(
    url: str,
    cfg: SimulationConfig,
    reporting_schema: str = "reporting",
    write: bool = False,
    forecast_cache: Path | None = None,
) -> tuple[SimulationResult, dict[str, int]]:
    """Read the warehouse at ``url``, replay the window of ``cfg``, optionally write.

    The one call a command line or an Airflow task needs (a backfillable task keys
    ``cfg.start`` on its logical date and passes ``write=True``: a re-run of the same
    window replaces its rows). Returns the result and the rows written per table.
    """
    from replenishment.db import make_engine

    engine = make_engine(url)
    try:
        data = load_replay_data(engine, cfg)
        if forecast_cache is not None:
            forecast_cache.mkdir(parents=True, exist_ok=True)
        cache_key = engine.url.render_as_string(hide_password=True)
        result = simulate(data, cfg, pipeline_forecaster(forecast_cache, cache_key))
        written = write_results(engine, reporting_schema, result) if write else {}
    finally:
        engine.dispose()
    return result, written


def main(argv: list[str] | None = None) -> int:
    """``replenishment simulate --url URL --start YYYY-MM-DD [--days 180] ...``; prints the table."""
    from replenishment.config import DEFAULT_WAREHOUSE_URL

    defaults = SimulationConfig(start=dt.date(2026, 1, 1))
    parser = argparse.ArgumentParser(
        prog="replenishment simulate",
        description="Replay the pipeline's policy and two baselines day by day over a "
        "historical window and compare service, stock and cost.",
    )
    parser.add_argument("--url", default=DEFAULT_WAREHOUSE_URL, help="SQLAlchemy URL")
    parser.add_argument(
        "--start", required=True, type=dt.date.fromisoformat, help="first simulated day"
    )
    parser.add_argument("--days", type=int, default=defaults.days, help="simulated days")
    parser.add_argument("--skus", type=int, default=None, help="only the first N SKUs")
    parser.add_argument("--policy", choices=("periodic", "continuous"), default=defaults.policy)
    parser.add_argument("--demand-mode", choices=DEMAND_MODES, default=defaults.demand_mode)
    parser.add_argument(
        "--refit-every",
        type=int,
        default=defaults.refit_every,
        help="days between forecast refits; the last forecast is rolled forward in between",
    )
    parser.add_argument(
        "--backtest-every",
        type=int,
        default=defaults.backtest_every,
        help="backtest each SKU on one refit in this many (1 = every refit)",
    )
    parser.add_argument("--holiday-country", default=defaults.holiday_country)
    parser.add_argument("--service-target", choices=("cycle", "fill_rate"), default="cycle")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="lead-time draws")
    parser.add_argument("--workers", type=int, default=0, help="forecast processes (0 = cores)")
    parser.add_argument(
        "--forecast-cache",
        type=Path,
        default=None,
        help="directory keeping each refit's forecast, reused by later runs on the same "
        "warehouse (clear it when the warehouse changes)",
    )
    parser.add_argument(
        "--review-schedule",
        action="store_true",
        help="place the pipeline's orders only on each SKU's review days (every "
        "review_period_days) instead of every day",
    )
    parser.add_argument("--run-id", default=None, help="key of the reporting rows")
    parser.add_argument("--reporting-schema", default="reporting")
    parser.add_argument(
        "--write", action="store_true", help="write the results to the reporting tables"
    )
    args = parser.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    # one line per simulated day and policy otherwise
    logging.getLogger("replenishment.policy").setLevel(logging.WARNING)
    for noisy in ("cmdstanpy", "prophet"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        cfg = SimulationConfig(
            start=args.start,
            days=args.days,
            policy=args.policy,
            demand_mode=args.demand_mode,
            refit_every=args.refit_every,
            backtest_every=args.backtest_every,
            holiday_country=args.holiday_country,
            service_target=args.service_target,
            max_skus=args.skus,
            seed=args.seed,
            workers=args.workers or max(1, os.cpu_count() or 1),
            run_id=args.run_id,
            review_schedule=args.review_schedule,
        )
    except ValueError as exc:
        parser.error(str(exc))
    try:
        result, written = run_simulation(
            args.url,
            cfg,
            args.reporting_schema,
            write=args.write,
            forecast_cache=args.forecast_cache,
        )
    except ValueError as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return 2
    print(format_report(result))
    if written:
        print(
            f"written: {written[SKU_TABLE]} rows to {SKU_TABLE}, "
            f"{written[SUMMARY_TABLE]} rows to {SUMMARY_TABLE} (run_id {cfg.key})"
        )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
