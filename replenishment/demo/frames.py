"""The demo's rows: the source tables and demo_truth as DataFrames, ids and dates built
without Python loops."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sqlalchemy.engine import Connection

from replenishment import warehouse
from replenishment.demo.spec import (
    _CANCELLED_LINE_PER_CELL,
    _HOUR_WEIGHTS,
    _NEW_ORDER_SHARE,
    _NO_DATE,
    _PO_DAY_OFFSET,
    _RETURNED_SHARE,
    SKU_MASTER_VALUES,
    TRUTH_HORIZON_DAYS,
    DemoSpec,
    _Calendar,
    _Counts,
    _Promotions,
)

log = logging.getLogger(__name__)


def _format_ids(prefix: str, parts: list[tuple[np.ndarray, int]]) -> np.ndarray:
    """Strings ``prefix`` + zero-padded integers joined by '-', built without a Python loop."""
    n = len(parts[0][0])
    columns = [np.tile(np.frombuffer(prefix.encode(), dtype=np.uint8), (n, 1))]
    for i, (values, width) in enumerate(parts):
        if i:
            columns.append(np.full((n, 1), ord("-"), dtype=np.uint8))
        powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
        digits = (np.asarray(values, dtype=np.int64)[:, None] // powers) % 10 + ord("0")
        columns.append(digits.astype(np.uint8))
    matrix = np.ascontiguousarray(np.hstack(columns))
    width = matrix.shape[1]
    return matrix.view(f"S{width}").ravel().astype(f"U{width}").astype(object)


def _yyyymmdd(cal: _Calendar, day: np.ndarray) -> np.ndarray:
    days = np.datetime64(cal.start, "D") + day.astype("timedelta64[D]")
    year = days.astype("datetime64[Y]").astype(np.int64) + 1970
    month = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
    dom = (days - days.astype("datetime64[M]")).astype(np.int64) + 1
    return np.asarray(year * 10_000 + month * 100 + dom)


def _day_sequence(day: np.ndarray, per_day: np.ndarray, offset: int = 0) -> np.ndarray:
    """1-based numbers within each day continuing ``per_day`` (updated); ``day`` sorted."""
    n = day.size
    starts = np.r_[True, day[1:] != day[:-1]] if n else np.zeros(0, dtype=bool)
    first = np.maximum.accumulate(np.where(starts, np.arange(n), 0)) if n else starts.astype(int)
    seq = per_day[day + offset] + (np.arange(n) - first) + 1
    np.add.at(per_day, day + offset, 1)
    return np.asarray(seq)


def _sku_master_frame(catalog: pd.DataFrame) -> pd.DataFrame:
    columns = ["sku_id", "description", "category", *SKU_MASTER_VALUES, "active"]
    return catalog[columns].copy()


def _promotions_frame(cal: _Calendar, catalog: pd.DataFrame, promos: _Promotions) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "promo_id": _format_ids("PR-", [(np.arange(1, promos.sku.size + 1), 7)]),
            "sku_id": catalog["sku_id"].to_numpy()[promos.sku],
            "start_date": cal.dates(promos.start),
            "end_date": cal.dates(promos.end),
            "discount_pct": promos.discount.astype(float),
        }
    )


def _inventory_frame(
    cal: _Calendar, c: dict[str, np.ndarray], snapshot: np.ndarray
) -> pd.DataFrame:
    rows, days = np.nonzero(np.arange(cal.n_days)[None, :] >= c["launch"][:, None])
    return pd.DataFrame(
        {
            "sku_id": c["sku_id"][rows],
            "snapshot_date": cal.dates(days),
            "on_hand": snapshot[rows, days],
        }
    )


def _purchase_orders_frame(
    cal: _Calendar, c: dict[str, np.ndarray], po: list[np.ndarray] | None, counts: _Counts
) -> pd.DataFrame:
    if po is None:
        return pd.DataFrame()
    rows, ordered, qty, planned, arrive, cancelled = po
    order = np.lexsort((rows, ordered))
    rows, ordered, qty, planned, arrive, cancelled = (
        a[order] for a in (rows, ordered, qty, planned, arrive, cancelled)
    )
    seq = _day_sequence(ordered, counts.pos_per_day, _PO_DAY_OFFSET)
    received = ~cancelled & (arrive < cal.n_days)
    status = np.where(cancelled, "cancelled", np.where(received, "received", "open"))
    received_date = cal.dates_where(received, arrive)
    return pd.DataFrame(
        {
            "po_id": _format_ids("PO-", [(_yyyymmdd(cal, ordered), 8), (seq, 6)]),
            "sku_id": c["sku_id"][rows],
            "order_date": cal.dates(ordered),
            "expected_date": cal.dates(ordered + planned),
            "received_date": received_date,
            "quantity": qty,
            "status": status.astype(object),
        }
    )


def _order_lines_frame(
    cal: _Calendar,
    c: dict[str, np.ndarray],
    demand: np.ndarray,
    sales: np.ndarray,
    discount: np.ndarray,
    rng: np.random.Generator,
    counts: _Counts,
) -> pd.DataFrame:
    """Sales of each SKU-day split into 1-4 lines, plus ~3 % cancelled lines, grouped into orders."""
    # sales lines
    cell_row, cell_day = np.nonzero(sales)
    sold = sales[cell_row, cell_day]
    n_lines = np.minimum(sold, 1 + rng.choice(4, size=sold.size, p=[0.45, 0.30, 0.15, 0.10]))
    cell = np.repeat(np.arange(sold.size), n_lines)
    weight = rng.random(cell.size) + 0.05
    weight_sum = np.bincount(cell, weights=weight, minlength=sold.size)
    spare = sold - n_lines
    extra = np.floor(spare[cell] * weight / weight_sum[cell]).astype(np.int64)
    remainder = spare - np.bincount(cell, weights=extra, minlength=sold.size).astype(np.int64)
    first_line = np.r_[0, np.cumsum(n_lines)[:-1]].astype(np.int64)
    quantity = 1 + extra
    quantity[first_line] += remainder
    status = np.where(rng.random(cell.size) < _RETURNED_SHARE, "returned", "completed")
    line_row, line_day = cell_row[cell], cell_day[cell]

    # cancelled lines: customers who came (demand > 0), sold or not
    asked_row, asked_day = np.nonzero(demand)
    pick = rng.random(asked_row.size) < _CANCELLED_LINE_PER_CELL
    asked_row, asked_day = asked_row[pick], asked_day[pick]
    cancelled_qty = np.minimum(demand[asked_row, asked_day], rng.integers(1, 6, asked_row.size))

    row = np.r_[line_row, asked_row]
    day = np.r_[line_day, asked_day]
    quantity = np.r_[quantity, cancelled_qty]
    status = np.r_[status, np.full(asked_row.size, "cancelled")]
    price = c["unit_cost"][row] * c["markup"][row] * (1.0 - discount[row, day] / 100.0)

    # group the lines of a day into customer orders of ~1.8 lines
    order = np.lexsort((rng.random(row.size), day))
    row, day, quantity, status, price = (a[order] for a in (row, day, quantity, status, price))
    n = row.size
    day_start = np.r_[True, day[1:] != day[:-1]] if n else np.zeros(0, dtype=bool)
    new_order = day_start | (rng.random(n) < _NEW_ORDER_SHARE)
    order_start = np.maximum.accumulate(np.where(new_order, np.arange(n), 0)) if n else day_start
    line_no = np.arange(n) - order_start + 1
    first_of_order = np.flatnonzero(new_order)
    order_seq = _day_sequence(day[first_of_order], counts.orders_per_day)
    hours = rng.choice(24, size=first_of_order.size, p=_HOUR_WEIGHTS / _HOUR_WEIGHTS.sum())
    seconds = hours * 3600 + rng.integers(0, 3600, first_of_order.size)
    order_no = np.cumsum(new_order) - 1
    order_day = day[first_of_order]
    order_ts = (
        np.datetime64(cal.start, "s") + (order_day * 86_400 + seconds).astype("timedelta64[s]")
    )[order_no]
    order_id = _format_ids("SO-", [(_yyyymmdd(cal, order_day), 8), (order_seq, 6)])[order_no]
    return pd.DataFrame(
        {
            "order_id": order_id,
            "line_no": line_no,
            "sku_id": c["sku_id"][row],
            "order_ts": order_ts,
            "quantity": quantity,
            "unit_price": price.round(2),
            "status": status.astype(object),
        }
    )


def _block_stats(
    cal: _Calendar,
    c: dict[str, np.ndarray],
    demand: np.ndarray,
    sales: np.ndarray,
    snapshot: np.ndarray,
    expected: np.ndarray,
    po: list[np.ndarray] | None,
) -> pd.DataFrame:
    n_days = cal.n_days
    tt = np.arange(n_days)[None, :]
    selling = (tt >= c["launch"][:, None]) & (tt < c["discontinued"][:, None])
    has_sale = sales > 0
    first_sale = np.where(has_sale.any(axis=1), has_sale.argmax(axis=1), -1)
    lead_mean = np.full(len(c["sku_id"]), np.nan)
    if po is not None:
        rows, ordered, _, _, arrive, cancelled = po
        got = ~cancelled & (arrive < n_days)
        total = np.bincount(rows[got], weights=(arrive - ordered)[got], minlength=lead_mean.size)
        number = np.bincount(rows[got], minlength=lead_mean.size)
        lead_mean = np.where(number > 0, total / np.maximum(number, 1), np.nan)
    return pd.DataFrame(
        {
            "sku_id": c["sku_id"],
            "first_sale": first_sale,
            "mean_lead_time_actual": lead_mean,
            "total_demand": demand.sum(axis=1).astype(float),
            "total_sales": sales.sum(axis=1).astype(float),
            "stockout_days": ((snapshot == 0) & selling).sum(axis=1),
            "expected_demand_next_28d": expected[:, n_days : n_days + TRUTH_HORIZON_DAYS].sum(
                axis=1
            ),
        }
    )


def _truth_frame(
    spec: DemoSpec, cal: _Calendar, catalog: pd.DataFrame, stats: pd.DataFrame
) -> pd.DataFrame:
    n_days = cal.n_days
    active = catalog["active"].to_numpy()
    level_at_end = catalog["base_daily"].to_numpy() * np.maximum(
        0.05, 1.0 + catalog["trend_per_year"].to_numpy() * (n_days - cal.t_ref) / 365.25
    )
    first_sale = stats["first_sale"].to_numpy()
    discontinued = catalog["discontinued"].to_numpy()
    total_demand = stats["total_demand"].to_numpy()
    total_sales = stats["total_sales"].to_numpy()
    truth = pd.DataFrame(
        {
            "sku_id": catalog["sku_id"],
            "pattern": catalog["pattern"],
            "category": catalog["category"],
            "active": active,
            "base_daily": catalog["base_daily"].round(4),
            "trend_per_year": catalog["trend_per_year"].round(4),
            "trend_ref_date": cal.dates(np.full(len(catalog), int(cal.t_ref))),
            "daily_rate_at_end": np.where(active, level_at_end, 0.0).round(4),
        }
    )
    for col in (
        "weekly_amplitude",
        "yearly_amplitude",
        "yearly_peak_doy",
        "q4_peak",
        "holiday_multiplier",
        "minor_holiday_multiplier",
        "pre_holiday_uplift",
        "promo_uplift",
    ):
        truth[col] = catalog[col].round(4)
    truth["n_promotions"] = catalog["n_promotions"]
    for col in ("dispersion", "occurrence_prob", "mean_size", "markup"):
        truth[col] = catalog[col].round(4)
    truth["forced_stockouts"] = catalog["forced_stockouts"]
    truth["late_supplier"] = catalog["late_supplier"]
    truth["mean_lead_time_actual"] = stats["mean_lead_time_actual"].round(2).to_numpy()
    truth["launch_date"] = cal.dates(catalog["launch"].to_numpy())
    truth["first_sale_date"] = cal.dates_where(first_sale >= 0, first_sale)
    truth["discontinued_date"] = cal.dates_where(discontinued < _NO_DATE, discontinued)
    truth["total_demand"] = total_demand
    truth["total_sales"] = total_sales
    truth["lost_sales"] = total_demand - total_sales
    truth["stockout_days"] = stats["stockout_days"].to_numpy()
    truth["run_date"] = spec.run_date
    truth["expected_demand_next_28d"] = stats["expected_demand_next_28d"].round(3).to_numpy()
    return truth


def _write(conn: Connection, table: str, frame: pd.DataFrame, counts: _Counts) -> None:
    written = warehouse.bulk_insert(conn, table, frame)
    counts.rows[table] = counts.rows.get(table, 0) + written
    log.debug("demo: %s: %d rows", table, written)
