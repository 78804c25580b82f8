"""What changed since the previous run, for the run report.

The latest run stored before the run date in the reporting tables (its orders, and its
forecast of the days both runs forecast), read in one small query each
(:func:`read_previous_run`), and a pure comparison of two runs' frames
(:func:`run_changes`): orders added, removed and changed most, and each SKU's forecast
summed over the common days, then and now.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sqlalchemy as sa

from replenishment.db import make_engine, schema_prefix, sql_value, table_exists

log = logging.getLogger(__name__)

#: A SKU's relative forecast change is ranked only if its previous forecast over the
#: common days was at least this many units (from 0.1 to 2 units is not news).
RELATIVE_MIN_UNITS = 5.0


@dataclass(frozen=True)
class PreviousRun:
    """The latest stored run before the run date, as the report compares with it.

    run_date: None when no run before the run date is stored (or it could not be read);
    orders: sku_id, order_qty of that run; forecast: sku_id, forecast_date, yhat of its
    forecast days from the run date on; error: why it could not be read, else None.
    """

    run_date: dt.date | None = None
    orders: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["sku_id", "order_qty"])
    )
    forecast: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["sku_id", "forecast_date", "yhat"])
    )
    error: str | None = None


def _read_previous(conn: sa.Connection, schema: str, run_date: dt.date) -> PreviousRun:
    prefix = schema_prefix(conn, schema)
    if not table_exists(conn, "replenishment_orders", schema=prefix.rstrip(".") or None):
        return PreviousRun()
    day = sql_value(conn, run_date)
    latest = conn.execute(
        sa.text(f"SELECT MAX(run_date) FROM {prefix}replenishment_orders WHERE run_date < :d"),
        {"d": day},
    ).scalar()
    if latest is None:
        return PreviousRun()
    prev = dt.date.fromisoformat(str(latest)[:10])
    params = {"p": sql_value(conn, prev), "d": day}
    orders = pd.read_sql_query(
        sa.text(f"SELECT sku_id, order_qty FROM {prefix}replenishment_orders WHERE run_date = :p"),
        conn,
        params=params,
    )
    forecast = pd.read_sql_query(
        sa.text(
            f"SELECT sku_id, forecast_date, yhat FROM {prefix}demand_forecast "
            "WHERE run_date = :p AND forecast_date >= :d"
        ),
        conn,
        params=params,
    )
    return PreviousRun(prev, orders, forecast)


def read_previous_run(url: str, schema: str, run_date: dt.date) -> PreviousRun:
    """The latest run before ``run_date`` in the reporting tables at ``url``: its orders and
    its forecast from ``run_date`` on (the days both runs forecast). Reads one run's orders
    (a row per SKU) and at most its horizon of forecast rows per SKU. A failure to read is
    logged as a warning and kept in :attr:`PreviousRun.error`: the report says so and the
    load goes on."""
    try:
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                return _read_previous(conn, schema, run_date)
        finally:
            engine.dispose()
    except Exception as exc:  # the report of this run must not fail the load
        reason = f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:300]}"
        log.warning("run report %s: the previous run could not be read (%s)", run_date, reason)
        return PreviousRun(error=reason)


@dataclass(frozen=True)
class RunChanges:
    """What changed from the previous run to this one (frames sorted, largest first).

    added: sku_id, order_qty, order_value of SKUs ordered now and not then; removed:
    sku_id, previous_qty of SKUs ordered then and not now; qty_changed: sku_id,
    previous_qty, order_qty, qty_change of SKUs ordered in both with another quantity;
    forecast: sku_id, previous_units, units, units_change, change_pct (fraction) of each
    SKU whose forecast summed over ``forecast_days`` (the days both runs forecast)
    changed, largest absolute change first; relative: the same rows of the SKUs forecast at least
    :data:`RELATIVE_MIN_UNITS` units then, largest absolute ``change_pct`` first.
    """

    previous: PreviousRun
    added: pd.DataFrame
    removed: pd.DataFrame
    qty_changed: pd.DataFrame
    forecast: pd.DataFrame
    relative: pd.DataFrame
    forecast_days: list[dt.date]


def run_changes(orders: pd.DataFrame, forecast: pd.DataFrame, previous: PreviousRun) -> RunChanges:
    """Compare this run's orders (sku_id, order_qty, order_value) and forecast (sku_id,
    forecast_date, yhat) with ``previous``'s. A SKU missing from one run's orders counts as
    ordering nothing there; ties are listed by SKU."""
    now = orders[["sku_id", "order_qty", "order_value"]].astype({"sku_id": str})
    then = previous.orders[["sku_id", "order_qty"]].astype({"sku_id": str})
    both = now.merge(then.rename(columns={"order_qty": "previous_qty"}), on="sku_id", how="outer")
    for col in ("order_qty", "previous_qty"):
        both[col] = both[col].astype(float).fillna(0.0)
    both["qty_change"] = both["order_qty"] - both["previous_qty"]
    both = _largest_first(both, "qty_change")
    ordered, was = both["order_qty"] > 0, both["previous_qty"] > 0
    added = both[ordered & ~was].sort_values(["order_value", "sku_id"], ascending=[False, True])
    days = np.intersect1d(
        _days(forecast["forecast_date"]).unique(),
        _days(previous.forecast["forecast_date"]).unique(),
    )
    fc = forecast_changes(forecast, previous.forecast)
    fc = fc[fc["units_change"].abs() > 1e-9].reset_index(drop=True)
    return RunChanges(
        previous=previous,
        added=added,
        removed=both[~ordered & was],
        qty_changed=both[ordered & was & (both["qty_change"].abs() > 1e-9)],
        forecast=fc,
        relative=_largest_first(fc[fc["previous_units"] >= RELATIVE_MIN_UNITS], "change_pct"),
        forecast_days=[d.date() for d in pd.DatetimeIndex(days)],
    )


def _largest_first(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """``frame`` sorted by the absolute value of ``column``, largest first, ties by SKU."""
    key = frame[column].abs().rename("_key")
    ordered = frame.join(key).sort_values(["_key", "sku_id"], ascending=[False, True])
    return ordered.drop(columns="_key").reset_index(drop=True)


def _days(values: pd.Series) -> pd.Series:
    """Dates as stored on SQLite (text), PostgreSQL (dates) or in a frame, as midnights."""
    return pd.to_datetime(values).dt.normalize()


def forecast_changes(forecast: pd.DataFrame, previous: pd.DataFrame) -> pd.DataFrame:
    """Per SKU in both forecasts (sku_id, forecast_date, yhat): units forecast over the days
    both forecast, then (previous_units) and now (units), the change in units and as a
    fraction of then (NaN where then was 0); the largest absolute change first."""

    def keyed(frame: pd.DataFrame, name: str) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "sku_id": frame["sku_id"].astype(str).to_numpy(),
                "day": _days(frame["forecast_date"]).to_numpy(),
                name: frame["yhat"].astype(float).to_numpy(),
            }
        )

    common = keyed(forecast, "units").merge(keyed(previous, "previous_units"), on=["sku_id", "day"])
    sums = common.groupby("sku_id", as_index=False)[["previous_units", "units"]].sum()
    sums["units_change"] = sums["units"] - sums["previous_units"]
    sums["change_pct"] = sums["units_change"] / sums["previous_units"].where(
        sums["previous_units"] > 0
    )
    return _largest_first(sums, "units_change")
