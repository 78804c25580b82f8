"""Engine: the day-by-day ledger a policy is replayed in.

Lives here: the day state a policy sees (:class:`DayState`), the :class:`Policy`
protocol, the :class:`Trace` of a replay and :func:`replay` itself. May import ``config``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from replenishment.policy import review_days
from replenishment.simulate.config import DEMAND_MODES, BoolArray, FloatArray, IntArray

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- the replay


#: Columns of the contract's ``purchase_orders`` table, as :meth:`DayState.purchase_orders`
#: returns them.
PO_COLUMNS = (
    "po_id",
    "sku_id",
    "order_date",
    "expected_date",
    "received_date",
    "quantity",
    "status",
)


def no_purchase_orders() -> pd.DataFrame:
    """An empty ``purchase_orders`` frame with the contract's columns and types."""
    return pd.DataFrame(
        {
            "po_id": pd.Series([], dtype=object),
            "sku_id": pd.Series([], dtype=object),
            "order_date": pd.Series([], dtype="datetime64[ns]"),
            "expected_date": pd.Series([], dtype="datetime64[ns]"),
            "received_date": pd.Series([], dtype="datetime64[ns]"),
            "quantity": pd.Series([], dtype=float),
            "status": pd.Series([], dtype=object),
        }
    )


class OrderBook:
    """The purchase orders as the pipeline would read them from ``purchase_orders`` on day t.

    history: the real purchase orders placed before the window (PO_COLUMNS; received
    ones carry their real received_date). During the replay the engine adds the orders
    the simulated policy places (:meth:`place`): ordered on day d, expected on d + the
    planned lead time (``planned_lead``, days, per SKU: what the buyer was told), received
    on the day the engine delivers them. :meth:`frame` shows a received_date (status
    ``received``) only for receipts before day t; the others are ``open`` (cancelled real
    orders stay ``cancelled``). With ``look_back_days``, day t shows only the orders placed
    in that many days before it, as :file:`include/sql/extract_purchase_orders.sql` reads
    them for the pipeline (its look-back, ``lead_time_start``, cuts by order date).
    """

    def __init__(
        self,
        start: dt.date,
        sku_ids: Sequence[str],
        planned_lead: npt.ArrayLike,
        history: pd.DataFrame | None = None,
        look_back_days: int | None = None,
    ) -> None:
        self.start = np.datetime64(start, "D")
        self.look_back = look_back_days
        self.sku_ids = np.asarray(list(sku_ids), dtype=object)
        self.planned = np.rint(np.asarray(planned_lead, dtype=float)).astype(np.int64)
        real = no_purchase_orders() if history is None else history
        self._real = {
            "po_id": real["po_id"].astype(str).to_numpy(dtype=object),
            "sku_id": real["sku_id"].astype(str).to_numpy(dtype=object),
            "order_date": _days(real["order_date"]),
            "expected_date": _days(real["expected_date"]),
            "received_date": _days(real["received_date"]),
            "quantity": real["quantity"].to_numpy(dtype=float),
            "cancelled": (real["status"].astype(str) == "cancelled").to_numpy(),
        }
        self._placed: list[tuple[IntArray, int, IntArray, FloatArray, npt.NDArray[np.object_]]] = []

    def place(self, day: int, quantity: FloatArray, arrival_day: IntArray) -> None:
        """Record the orders of ``day`` (quantity > 0), each arriving on ``arrival_day``
        (days from the start; the window's length or more: after the window)."""
        rows = np.flatnonzero(quantity > 0)
        if rows.size:
            ids = np.array([f"SIM-{self.sku_ids[i]}-{day}" for i in rows], dtype=object)
            self._placed.append((rows, day, arrival_day[rows].copy(), quantity[rows].copy(), ids))

    def frame(self, day: int) -> pd.DataFrame:
        """The purchase orders known on the morning of ``day`` (PO_COLUMNS): the real ones
        and those placed on earlier days of the replay."""
        today = self.start + np.timedelta64(day, "D")
        real = self._real
        placed = [p for p in self._placed if p[1] < day]  # today's orders come after
        if placed:
            rows = np.concatenate([p[0] for p in placed])
            ordered = np.concatenate([np.full(p[0].size, p[1], dtype=np.int64) for p in placed])
            arrival = np.concatenate([p[2] for p in placed])
            quantity = np.concatenate([p[3] for p in placed])
            po_id = np.concatenate([p[4] for p in placed])
        else:
            rows = ordered = arrival = np.zeros(0, dtype=np.int64)
            quantity = np.zeros(0)
            po_id = np.zeros(0, dtype=object)
        sku = self.sku_ids[rows]
        order_date = self.start + ordered.astype("timedelta64[D]")
        received_sim = np.where(
            arrival < day, self.start + arrival.astype("timedelta64[D]"), np.datetime64("NaT")
        )
        received_real = np.where(
            real["received_date"] < today, real["received_date"], np.datetime64("NaT")
        )
        received = np.concatenate([received_real, received_sim]).astype("datetime64[ns]")
        status = np.where(np.isnat(received), "open", "received").astype(object)
        status[: len(real["cancelled"])][real["cancelled"]] = "cancelled"
        frame = pd.DataFrame(
            {
                "po_id": np.concatenate([real["po_id"], po_id]),
                "sku_id": np.concatenate([real["sku_id"], sku]),
                "order_date": np.concatenate([real["order_date"], order_date]).astype(
                    "datetime64[ns]"
                ),
                "expected_date": np.concatenate(
                    [
                        real["expected_date"],
                        order_date + self.planned[rows].astype("timedelta64[D]"),
                    ]
                ).astype("datetime64[ns]"),
                "received_date": received,
                "quantity": np.concatenate([real["quantity"], quantity]),
                "status": status,
            }
        )
        if self.look_back is None:
            return frame
        first = (today - np.timedelta64(self.look_back, "D")).astype("datetime64[ns]")
        return frame[frame["order_date"].to_numpy() >= first].reset_index(drop=True)


def _days(values: pd.Series) -> npt.NDArray[np.datetime64]:
    """Dates (or NaT) as datetime64[D]."""
    return np.asarray(pd.to_datetime(values).to_numpy().astype("datetime64[D]"))


@dataclass(frozen=True)
class DayState:
    """What a policy sees on the morning of day ``day`` (units, one entry per SKU).

    on_hand: stock at the end of the previous day. on_order: ordered, not yet received
    (orders arriving today included). backorders: demand owed to customers.
    book: the purchase orders known that morning (:meth:`purchase_orders`); None when
    there are none (a test's state).
    """

    day: int
    on_hand: FloatArray
    on_order: FloatArray
    backorders: FloatArray
    book: OrderBook | None = None

    def purchase_orders(self) -> pd.DataFrame:
        """``purchase_orders`` as the pipeline would read it on this day (PO_COLUMNS):
        the real orders placed before the window and the ones the policy placed since,
        received_date set for receipts before this day."""
        return no_purchase_orders() if self.book is None else self.book.frame(self.day)


def review_calendar(
    sku_ids: Sequence[str], review_period_days: npt.ArrayLike, start: dt.date, days: int
) -> BoolArray:
    """(SKUs x days) True on each SKU's review days
    (:func:`replenishment.policy.review_days`) from ``start``."""
    out = np.zeros((len(sku_ids), days), dtype=bool)
    for t in range(days):
        out[:, t] = review_days(sku_ids, review_period_days, start + dt.timedelta(days=t))
    return out


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


def _serve(
    on_hand: FloatArray, asked: FloatArray, owed: FloatArray, backorders: bool
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(shipped, served today, owed after) of a day: with backorders the owed units
    leave first and today's unserved demand is owed; without, it is lost."""
    if backorders:
        shipped = np.minimum(on_hand, owed + asked)
        served = shipped - np.minimum(owed, shipped)
        return shipped, served, owed + asked - shipped
    shipped = np.minimum(on_hand, asked)
    return shipped, shipped, owed


def replay(
    demand: FloatArray,
    on_hand0: FloatArray,
    scheduled: FloatArray,
    lead_times: IntArray,
    policy: Policy,
    demand_mode: str = "lost_sales",
    book: OrderBook | None = None,
) -> Trace:
    """Walk the days: order, receive, serve, record. Vectorised over SKUs.

    demand: (SKUs x days) units/day. on_hand0: starting stock. scheduled: (SKUs x
    (days + 1)) receipts already on order (last column: after the window).
    lead_times: (SKUs x days) days from ordering to receipt (>= 1).
    book: the purchase orders before the window; the policy's orders are added to it
    and each day's state shows it as the pipeline would read it (None: no book).
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
            policy(DayState(t, on_hand.copy(), on_order.copy(), owed.copy(), book)),
            dtype=np.float64,
        )
        if qty.shape != (n,) or not np.isfinite(qty).all() or (qty < 0).any():
            raise ValueError(f"day {t}: the policy must return {n} finite quantities >= 0")
        arrive = np.minimum(t + lead_times[:, t], days)
        if book is not None:
            book.place(t, qty, arrive)
        np.add.at(pipeline, (rows, arrive), qty)
        on_order += qty
        record["on_hand_open"][:, t] = on_hand
        got = pipeline[:, t]
        on_hand += got
        on_order -= got
        asked = demand[:, t]
        shipped, served, owed = _serve(on_hand, asked, owed, backorders)
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
