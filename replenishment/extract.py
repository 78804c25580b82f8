"""Extract: read what was known before the run date from the warehouse.

Every query lives in ``include/sql/extract_*.sql`` and gets the run date as a
bound parameter, so a run for D sees the same rows whenever it runs.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection
from dataclasses import dataclass, fields, replace

import pandas as pd
from sqlalchemy.engine import Engine

from replenishment.db import query_frame

log = logging.getLogger(__name__)

#: Days of daily demand history read for the models: D - 1096 .. D - 1, three years
#: plus a day for a leap year (Prophet's yearly seasonality wants two full years).
DEMAND_HISTORY_DAYS = 1096
#: Days back in which received purchase orders are used to measure lead times.
LEAD_TIME_DAYS_BACK = 730


@dataclass(frozen=True)
class Extract:
    """The inputs of one run, as of its run date.

    sku: SKU master, one row per sku_id (all SKUs; ``active`` says which are planned).
    demand: daily demand, units: sku_id, ds (day), y; only days with sales.
    promotions: promo_id, sku_id, start_date, end_date (inclusive), discount_pct.
    stockouts: sku_id, ds: days that ended with on_hand = 0 (censored demand).
    on_hand: sku_id, snapshot_date, on_hand (latest snapshot before D).
    on_order: sku_id, on_order, open_purchase_orders.
    lead_times: sku_id, order_date, received_date of received purchase orders.
    purchase_orders: sku_id, order_date, expected_date, received_date (NaT while still
        open on D) of the orders placed in the look-back window, for learning lead times.
    """

    sku: pd.DataFrame
    demand: pd.DataFrame
    promotions: pd.DataFrame
    stockouts: pd.DataFrame
    on_hand: pd.DataFrame
    on_order: pd.DataFrame
    lead_times: pd.DataFrame
    purchase_orders: pd.DataFrame

    def frames(self) -> dict[str, pd.DataFrame]:
        """The frames by name (what :meth:`replenishment.staging.Staging.save_extract` stores)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def without(self, sku_ids: Collection[str]) -> Extract:
        """A copy with the rows of ``sku_ids`` left out of every frame."""
        left_out = {str(x) for x in sku_ids}
        kept: dict[str, pd.DataFrame] = {}
        for f in fields(self):
            frame = getattr(self, f.name)
            kept[f.name] = frame[~frame["sku_id"].astype(str).isin(left_out)].reset_index(drop=True)
        return Extract(**kept)

    def counts(self) -> dict[str, int]:
        return {f.name: len(getattr(self, f.name)) for f in fields(self)}


def history_start(run_date: dt.date) -> dt.date:
    """First day of the demand history read for run date D: D - :data:`DEMAND_HISTORY_DAYS`."""
    return run_date - dt.timedelta(days=DEMAND_HISTORY_DAYS)


def extract(
    engine: Engine, run_date: dt.date, horizon_days: int, exclude: Collection[str] = ()
) -> Extract:
    """Read the five source tables as known before ``run_date``.

    horizon_days: days forecast from the run date; promotions planned up to
    D + horizon_days - 1 are read. Nothing else is read: in particular no output of
    earlier runs, so a run's rows never depend on which other runs exist.
    exclude: sku_ids left out of every frame before its values are typed (the SKUs the
    data-quality gate quarantined: their rows may hold values that cannot be cast).
    """
    params = {
        "run_date": run_date,
        "history_start": history_start(run_date),
        "horizon_end": run_date + dt.timedelta(days=horizon_days - 1),
        "lead_time_start": run_date - dt.timedelta(days=LEAD_TIME_DAYS_BACK),
    }
    with engine.connect() as conn:
        sku = query_frame(conn, "extract_sku_master.sql")
        demand = query_frame(conn, "extract_daily_demand.sql", params, parse_dates=["ds"])
        promotions = query_frame(
            conn, "extract_promotions.sql", params, parse_dates=["start_date", "end_date"]
        )
        stockouts = query_frame(conn, "extract_stockout_days.sql", params, parse_dates=["ds"])
        on_hand = query_frame(conn, "extract_on_hand.sql", params, parse_dates=["snapshot_date"])
        on_order = query_frame(conn, "extract_on_order.sql", params)
        lead_times = query_frame(
            conn, "extract_lead_times.sql", params, parse_dates=["order_date", "received_date"]
        )
        purchase_orders = query_frame(
            conn,
            "extract_purchase_orders.sql",
            params,
            parse_dates=["order_date", "expected_date", "received_date"],
        )
    result = Extract(
        sku, demand, promotions, stockouts, on_hand, on_order, lead_times, purchase_orders
    )
    if exclude:
        result = result.without(exclude)
        log.info("extract for %s: %d quarantined SKU(s) left out", run_date, len(set(exclude)))
    result = replace(result, sku=typed_sku_master(result.sku))
    result.demand["y"] = pd.to_numeric(result.demand["y"]).astype("float64")
    result.on_hand["on_hand"] = pd.to_numeric(result.on_hand["on_hand"]).astype("float64")
    result.on_order["on_order"] = pd.to_numeric(result.on_order["on_order"]).astype("float64")
    for f in fields(result):
        frame = getattr(result, f.name)
        frame["sku_id"] = frame["sku_id"].astype(str)
    log.info("extract for %s: %s", run_date, result.counts())
    return result


def typed_sku_master(sku: pd.DataFrame) -> pd.DataFrame:
    """The SKU master with the contract's types: sku_id text, active bool, pack_size and
    moq whole units, lead and review times (days, fractional allowed) and the cost and
    service columns float."""
    sku = sku.copy()
    sku["sku_id"] = sku["sku_id"].astype(str)
    sku["active"] = sku["active"].map(_truthy).astype(bool)
    for col in ("pack_size", "moq"):
        sku[col] = pd.to_numeric(sku[col]).astype("int64")
    # lead and review times may be fractional (7.9 days is not 7)
    for col in (
        "lead_time_days",
        "review_period_days",
        "unit_cost",
        "service_level",
        "holding_cost_rate",
        "order_cost",
    ):
        sku[col] = pd.to_numeric(sku[col]).astype("float64")
    return sku


def _truthy(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "t", "yes", "y")
    return bool(value)
