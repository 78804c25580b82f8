"""Replay data: the warehouse read once for a window, and the ground truth built from it.

Lives here: :class:`ReplayData`, :func:`load_replay_data`, the demand to serve on
censored days (:func:`uncensored_demand`) and the lead-time draws
(:func:`draw_lead_times`), the scenarios (:func:`with_scenarios`). May import ``config``,
``engine``.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy.engine import Engine

from replenishment.db import query_frame
from replenishment.extract import DEMAND_HISTORY_DAYS, LEAD_TIME_DAYS_BACK, typed_sku_master
from replenishment.simulate.config import (
    FILL_WEEKS,
    BoolArray,
    FloatArray,
    IntArray,
    SimulationConfig,
    refit_horizon,
)
from replenishment.simulate.engine import no_purchase_orders

log = logging.getLogger(__name__)

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
    purchase_orders: the real purchase orders placed before the start (the contract's
        columns, received dates as they are today): the order book the policies read.
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
    purchase_orders: pd.DataFrame = field(default_factory=no_purchase_orders)

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
    frames = _read_window(engine, cfg, after)
    demand, last_snapshot = frames["demand"], frames["last_snapshot"]
    chosen, first_sale = _choose_skus(frames["sku"], demand, cfg)
    ids = chosen["sku_id"].tolist()
    keep = set(ids)

    # recorded demand on [start - pad, end + after): NaN where censored or unknown
    origin = pd.Timestamp(cfg.start) - pd.Timedelta(days=pad)
    width = pad + cfg.days + after
    recorded = _day_matrix(demand, ids, origin, width, "y")
    censored = _day_matrix(frames["stockouts"].assign(flag=1.0), ids, origin, width, "flag") > 0
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
        .map(frames["on_hand"].set_index("sku_id")["on_hand"])
        .astype(float)
        .fillna(0.0)
        .to_numpy()
    )
    received = frames["received"]
    scheduled = _open_order_receipts(chosen, frames["on_order"], received, cfg)
    pools = _lead_time_pools(received, ids)
    lead = draw_lead_times(ids, pools, chosen["lead_time_days"].to_numpy(), cfg.days, cfg.seed)

    def mine(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame["sku_id"].isin(keep)].reset_index(drop=True)

    data = ReplayData(
        sku=chosen,
        demand=np.asarray(served[:, window], dtype=np.float64),
        recorded=np.asarray(observed[:, : pad + cfg.days], dtype=np.float64),
        pad=pad,
        on_hand0=np.asarray(on_hand0, dtype=np.float64),
        scheduled=scheduled,
        lead_times=lead,
        history=mine(demand),
        stockouts=mine(frames["stockouts"]),
        promotions=mine(frames["promotions"]),
        received=mine(received),
        purchase_orders=mine(frames["purchase_orders"]),
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


def with_scenarios(data: ReplayData, cfg: SimulationConfig) -> ReplayData:
    """``data`` under the scenarios of ``cfg`` (unchanged without any).

    Suppliers late: every lead time of the replay (drawn from the SKU's receipts, or
    its planned lead time) plus ``supplier_delay_days``; the purchase orders placed
    before the window and their receipts stay as they were, so a policy learns the
    lateness only from the receipts of its own orders. Stale master data: the planned
    lead times ``stale_lead_time_days`` shorter (at least 1 day) and the expected dates of
    the purchase orders placed before the window as much earlier; receipts and draws as
    they were. Demand shock: from simulated day
    ``demand_shock_day`` on, the demand served, the recorded demand the baselines read
    and the history the forecasts read are multiplied by ``demand_shock_factor``.
    """
    if cfg.supplier_delay_days:
        data = replace(data, lead_times=data.lead_times + cfg.supplier_delay_days)
    if cfg.stale_lead_time_days:
        data = _stale_master(data, cfg.stale_lead_time_days)
    if cfg.shocked:
        factor, day = cfg.demand_shock_factor, cfg.demand_shock_day
        demand = data.demand.copy()
        demand[:, day:] *= factor
        recorded = data.recorded.copy()
        recorded[:, data.pad + day :] *= factor
        history = data.history.copy()
        later = history["ds"] >= pd.Timestamp(cfg.date(day))
        history.loc[later, "y"] = history.loc[later, "y"] * factor
        data = replace(data, demand=demand, recorded=recorded, history=history)
    return data


def _stale_master(data: ReplayData, days: int) -> ReplayData:
    """The master data ``days`` shorter than the suppliers, before the window as in it."""
    sku = data.sku.copy()
    stale = (sku["lead_time_days"] - days).clip(lower=1.0)
    promised_less = pd.to_timedelta(sku["lead_time_days"] - stale, unit="D")
    sku["lead_time_days"] = stale
    orders = data.purchase_orders.copy()
    if len(orders):
        shift = (
            orders["sku_id"].astype(str).map(dict(zip(data.sku_ids, promised_less, strict=True)))
        )
        orders["expected_date"] = orders["expected_date"] - shift.fillna(pd.Timedelta(0))
    return replace(data, sku=sku, purchase_orders=orders)


def _read_window(engine: Engine, cfg: SimulationConfig, after: int) -> dict[str, pd.DataFrame]:
    """The source rows of the window (and ``after`` days past it), sku_id as text.

    Raises when the warehouse's snapshots end before the last simulated day.
    """
    read_end = cfg.end + dt.timedelta(days=after)
    history_start = cfg.start - dt.timedelta(days=DEMAND_HISTORY_DAYS)
    lead_start = cfg.start - dt.timedelta(days=LEAD_TIME_DAYS_BACK)
    history = {"history_start": history_start, "run_date": read_end}
    frames: dict[str, pd.DataFrame] = {}
    with engine.connect() as conn:
        sku = typed_sku_master(query_frame(conn, "extract_sku_master.sql"))
        protection = float((sku["lead_time_days"] + sku["review_period_days"]).max())
        horizon_end = cfg.end + dt.timedelta(days=refit_horizon(cfg, protection))
        frames["sku"] = sku
        frames["demand"] = query_frame(
            conn, "extract_daily_demand.sql", history, parse_dates=["ds"]
        )
        frames["stockouts"] = query_frame(
            conn, "extract_stockout_days.sql", history, parse_dates=["ds"]
        )
        frames["promotions"] = query_frame(
            conn,
            "extract_promotions.sql",
            {"history_start": history_start, "horizon_end": horizon_end},
            parse_dates=["start_date", "end_date"],
        )
        frames["on_hand"] = query_frame(
            conn, "extract_on_hand.sql", {"run_date": cfg.start}, parse_dates=["snapshot_date"]
        )
        frames["last_snapshot"] = query_frame(
            conn, "extract_on_hand.sql", {"run_date": read_end}, parse_dates=["snapshot_date"]
        )
        frames["on_order"] = query_frame(conn, "extract_on_order.sql", {"run_date": cfg.start})
        frames["received"] = query_frame(
            conn,
            "extract_lead_times.sql",
            {"lead_time_start": lead_start, "run_date": read_end},
            parse_dates=["order_date", "received_date"],
        )
        frames["purchase_orders"] = query_frame(
            conn,
            "extract_purchase_order_book.sql",
            {"lead_time_start": lead_start, "run_date": cfg.start},
            parse_dates=["order_date", "expected_date", "received_date"],
        )
    for frame in frames.values():
        frame["sku_id"] = frame["sku_id"].astype(str)
    frames["demand"]["y"] = pd.to_numeric(frames["demand"]["y"]).astype("float64")
    last_day = frames["last_snapshot"]["snapshot_date"].max()
    final = pd.Timestamp(cfg.end - dt.timedelta(days=1))
    if pd.isna(last_day) or last_day < final:
        raise ValueError(
            f"inventory_snapshots: the warehouse ends on {_iso(last_day)}, before the last "
            f"simulated day {final.date().isoformat()} (start {cfg.start}, {cfg.days} days)"
        )
    return frames


def _choose_skus(
    sku: pd.DataFrame, demand: pd.DataFrame, cfg: SimulationConfig
) -> tuple[pd.DataFrame, pd.Series]:
    """The simulated SKUs (active, with sales before the start; sorted, ``max_skus``) and
    every SKU's first day with sales."""
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
    return chosen, first_sale


def _iso(value: Any) -> str:
    return "no snapshot" if pd.isna(value) else pd.Timestamp(value).date().isoformat()


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
