"""The demo store: an (s, S) replenishment loop over days that censors sales by stock-outs
and records stock, purchase orders and order lines."""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy.engine import Connection

from replenishment.demo.demand import (
    _blocked_until,
    _draw_demand,
    _expected_demand,
    _promo_discount,
)
from replenishment.demo.frames import (
    _block_stats,
    _inventory_frame,
    _order_lines_frame,
    _purchase_orders_frame,
    _write,
)
from replenishment.demo.spec import (
    _LATE_SUPPLIER_DAYS,
    _MAX_CYCLE_DAYS,
    _PLANNER_ALPHA,
    _PO_CANCEL_SHARE,
    _Calendar,
    _Counts,
    _Promotions,
    _Spells,
)

log = logging.getLogger(__name__)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


class _Planner:
    """The store's planner: exponentially smoothed mean and variance of daily demand per
    SKU, and (s, S) levels over the lead time plus review period from them."""

    def __init__(self, c: dict[str, np.ndarray], expected: np.ndarray, n_ext: int) -> None:
        launch = c["launch"]
        days = np.arange(n_ext)[None, :]
        first_month = (days >= launch[:, None]) & (days < launch[:, None] + 28)
        self.mean = (expected * first_month).sum(axis=1) / 28.0
        k = np.nan_to_num(c["dispersion"], nan=1.0)
        ms = np.nan_to_num(c["mean_size"], nan=2.0)
        occ = np.nan_to_num(c["occurrence_prob"])
        size_var = (ms - 1.0) + (ms - 1.0) ** 2 / 2.0
        var_int = occ * (size_var + ms**2) - (occ * ms) ** 2
        self.var = np.maximum(
            self.mean, np.where(c["is_intermittent"], var_int, self.mean + self.mean**2 / k)
        )
        self.cover = (c["lead_time_days"] + c["review_period_days"]).astype(float)
        self.review = c["review_period_days"]
        self.z = c["z"]
        self.eoq_factor = 2.0 * 365.0 * c["order_cost"] / (c["holding_cost_rate"] * c["unit_cost"])

    def levels(self, rows: np.ndarray) -> tuple[FloatArray, FloatArray]:
        """(s, S) of the SKUs ``rows`` from the current estimates."""
        m, v = self.mean[rows], self.var[rows]
        low = m * self.cover[rows] + self.z[rows] * np.sqrt(v * self.cover[rows])
        eoq = np.minimum(np.sqrt(self.eoq_factor[rows] * m), _MAX_CYCLE_DAYS * m)
        return low, low + np.maximum(m * self.review[rows], eoq)

    def observe(self, demand: np.ndarray, alive: np.ndarray) -> None:
        diff = demand - self.mean
        self.mean = np.where(alive, self.mean + _PLANNER_ALPHA * diff, self.mean)
        self.var = np.where(
            alive, (1.0 - _PLANNER_ALPHA) * (self.var + _PLANNER_ALPHA * diff * diff), self.var
        )


class _Store:
    """Stock, open orders and the purchase orders of one block of SKUs, day by day."""

    def __init__(
        self, c: dict[str, np.ndarray], planner: _Planner, n_days: int, rng: np.random.Generator
    ) -> None:
        self.c, self.planner, self.n_days, self.rng = c, planner, n_days, rng
        nb = len(c["sku_id"])
        self.pack = c["pack_size"].astype(np.int64)
        self.moq = c["moq"].astype(np.int64)
        s0, big_s0 = planner.levels(np.arange(nb))
        start_stock = np.round(s0 + rng.random(nb) * (big_s0 - s0)).astype(np.int64)
        self.on_hand = np.where(c["launch"] == 0, start_stock, 0)
        self.on_order = np.zeros(nb, dtype=np.int64)
        self.arrivals = np.zeros((nb, n_days + 1), dtype=np.int64)  # column n_days: after end
        self.po_parts: list[tuple[np.ndarray, ...]] = []
        self._first_stock(big_s0)

    def _first_stock(self, big_s0: FloatArray) -> None:
        """New SKUs: the first stock was ordered a lead time before launch."""
        launch = self.c["launch"]
        later = np.flatnonzero(launch > 0)
        if not later.size:
            return
        first_qty = np.ceil(big_s0[later] / self.pack[later]) * self.pack[later]
        first_qty = np.maximum(first_qty, self.pack[later]).astype(np.int64)
        self.arrivals[later, launch[later]] += first_qty
        self.on_order[later] += first_qty
        lead = self.c["lead_time_days"][later]
        zeros = np.zeros(later.size, dtype=bool)
        self.po_parts.append((later, launch[later] - lead, first_qty, lead, launch[later], zeros))

    def serve(self, t: int, demand: np.ndarray) -> IntArray:
        """Receive day t's arrivals and serve its demand; the units sold."""
        got = self.arrivals[:, t]
        self.on_hand += got
        self.on_order -= got
        sold = np.minimum(demand, self.on_hand)
        self.on_hand -= sold
        return np.asarray(sold, dtype=np.int64)

    def order(self, t: int, rows: np.ndarray, blocked: np.ndarray) -> None:
        """Review SKUs ``rows`` on day t: order up to S when the position is at or below s."""
        c, rng, n_days = self.c, self.rng, self.n_days
        position = self.on_hand[rows] + self.on_order[rows]
        low, high = self.planner.levels(rows)
        need = position <= low
        rows, position, high = rows[need], position[need], high[need]
        if not rows.size:
            return
        qty = np.ceil(np.maximum(high - position, 1.0) / self.pack[rows]) * self.pack[rows]
        qty = np.maximum(qty, self.moq[rows]).astype(np.int64)
        planned = c["lead_time_days"][rows]
        noise = np.round(rng.normal(0.0, 0.1 * planned))
        # a late supplier is 2 days late on every order, and on half of them later still
        # (exponential, mean 40 % of the planned lead time): about 3-5 days on average
        extra = np.where(rng.random(rows.size) < 0.5, np.ceil(rng.exponential(0.4 * planned)), 0)
        delay = np.where(c["late_supplier"][rows] == 1, _LATE_SUPPLIER_DAYS + extra, 0)
        arrive = t + np.maximum(1, planned + noise + delay).astype(np.int64)
        in_window = arrive < n_days
        until = np.where(in_window, blocked[rows, np.minimum(arrive, n_days - 1)], -1)
        arrive = np.where(until >= 0, until + 1 + rng.integers(0, 3, rows.size), arrive)
        cancelled = rng.random(rows.size) < _PO_CANCEL_SHARE
        ok = ~cancelled
        self.arrivals[rows[ok], np.minimum(arrive[ok], n_days)] += qty[ok]
        self.on_order[rows[ok]] += qty[ok]
        self.po_parts.append((rows, np.full(rows.size, t), qty, planned, arrive, cancelled))

    def purchase_orders(self) -> list[np.ndarray] | None:
        parts = self.po_parts
        return [np.concatenate(p) for p in zip(*parts, strict=True)] if parts else None


def _run_days(
    store: _Store, c: dict[str, np.ndarray], demand: np.ndarray, blocked: np.ndarray
) -> tuple[IntArray, IntArray]:
    """The daily loop: serve, record, update the planner, review; (sales, end-of-day stock)."""
    launch, stop = c["launch"], c["discontinued"] - c["lead_time_days"]
    shape = demand.shape
    sales = np.zeros(shape, dtype=np.int64)
    snapshot = np.zeros(shape, dtype=np.int64)
    for t in range(shape[1]):
        sales[:, t] = store.serve(t, demand[:, t])
        snapshot[:, t] = store.on_hand
        alive = launch <= t
        store.planner.observe(demand[:, t], alive)
        review = (
            alive & (t < stop) & ((t - launch - c["review_phase"]) % c["review_period_days"] == 0)
        )
        rows = np.flatnonzero(review)
        if rows.size:
            store.order(t, rows, blocked)
    return sales, snapshot


def _simulate_block(
    conn: Connection,
    cal: _Calendar,
    catalog: pd.DataFrame,
    promos: _Promotions,
    spells: _Spells,
    b0: int,
    b1: int,
    rng: np.random.Generator,
    counts: _Counts,
) -> pd.DataFrame:
    """Demand, stock and replenishment of SKUs b0..b1-1; writes their rows, returns truth stats."""
    c = {col: catalog[col].to_numpy()[b0:b1] for col in catalog.columns}
    n_days = cal.n_days
    discount = _promo_discount(cal, promos, b0, b1)
    expected, mult = _expected_demand(cal, c, discount > 0)
    demand = _draw_demand(rng, c, expected[:, :n_days], mult[:, :n_days])
    store = _Store(c, _Planner(c, expected, cal.n_ext), n_days, rng)
    sales, snapshot = _run_days(store, c, demand, _blocked_until(cal, spells, b0, b1))
    po = store.purchase_orders()
    _write(conn, "inventory_snapshots", _inventory_frame(cal, c, snapshot), counts)
    _write(conn, "purchase_orders", _purchase_orders_frame(cal, c, po, counts), counts)
    lines = _order_lines_frame(cal, c, demand, sales, discount, rng, counts)
    _write(conn, "order_lines", lines, counts)
    return _block_stats(cal, c, demand, sales, snapshot, expected, po)
