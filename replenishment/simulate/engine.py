"""Engine: the day-by-day ledger a policy is replayed in.

Lives here: the day state a policy sees (:class:`DayState`), the :class:`Policy`
protocol, the :class:`Trace` of a replay and :func:`replay` itself. May import ``config``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from replenishment.simulate.config import DEMAND_MODES, FloatArray, IntArray

log = logging.getLogger(__name__)

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
