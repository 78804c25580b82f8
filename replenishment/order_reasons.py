"""Why an order is what it is: the reason text of each replenishment_orders row.

What lives here: the sentences a buyer reads next to a recommendation, and the
review calendar they cite. Pure Python/numpy; imports only the lead-time module.
"""

from __future__ import annotations

import datetime as dt
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from replenishment.lead_time import describe as describe_lead_time

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

REASON_MAX_CHARS = 200
#: A lead time used this many days away from the planned one is worth a sentence.
LEAD_TIME_NOTE_DAYS = 0.5


@dataclass(frozen=True)
class OrderFacts:
    """What the reason of each SKU's row may cite (arrays in the order of ``skus``)."""

    skus: Sequence[str] | npt.NDArray[np.object_]
    run_date: dt.date
    periodic: BoolArray
    reviewed: BoolArray
    review: FloatArray
    pack: FloatArray
    position: FloatArray
    reorder_point: FloatArray
    raw_need: FloatArray
    packed_need: FloatArray
    order_qty: FloatArray
    lots: FloatArray
    lot: FloatArray
    lot_from_eoq: FloatArray
    eoq_units: FloatArray
    moq: FloatArray
    lead_std_unknown: BoolArray
    on_hand_missing: BoolArray
    lead_times: pd.DataFrame  # lead_time_* columns of lead_time.estimate_lead_times


def fmt(x: float) -> str:
    """Units for humans: whole numbers without decimals, otherwise one decimal."""
    if not math.isfinite(x):
        return "n/a"
    rounded = round(x)
    text = f"{rounded:.0f}" if abs(x - rounded) < 0.05 else f"{x:.1f}"
    return "0" if text == "-0" else text


def review_days(
    sku_ids: Sequence[str] | npt.ArrayLike, review_period_days: npt.ArrayLike, day: dt.date
) -> BoolArray:
    """True for the SKUs whose periodic review falls on ``day``.

    A SKU with review period R (days) is reviewed every R days on a fixed calendar
    phase of its own, ``(day.toordinal() + crc32(sku_id)) % R == 0``, so the reviews
    (and the orders) of a large assortment spread evenly over the week. R <= 1 means
    every day. The (R, S) safety stock covers L + R days, which is right only if
    orders are placed every R days, not whenever the position dips below S.
    """
    periods = np.maximum(np.rint(np.asarray(review_period_days, dtype=float)), 1).astype(np.int64)
    phase = np.array([zlib.crc32(str(s).encode()) for s in np.asarray(sku_ids)], dtype=np.int64)
    return np.asarray((day.toordinal() + phase) % periods == 0, dtype=bool)


def next_review(run_date: dt.date, sku_id: str, period: float) -> dt.date:
    """The first day after ``run_date`` on which ``sku_id`` is reviewed."""
    r = max(int(round(period)), 1)
    phase = zlib.crc32(str(sku_id).encode())
    ahead = next(a for a in range(1, r + 1) if (run_date.toordinal() + a + phase) % r == 0)
    return run_date + dt.timedelta(days=ahead)


def _periodic(f: OrderFacts, i: int) -> list[str]:
    ip, rop = fmt(f.position[i]), fmt(f.reorder_point[i])
    if not f.reviewed[i]:
        nxt = next_review(f.run_date, str(f.skus[i]), f.review[i]).isoformat()
        parts = [f"not a review day (reviewed every {fmt(f.review[i])} days, next {nxt})"]
        if f.raw_need[i] > 0:
            parts.append(f"position {ip} below order-up-to {rop}")
        return parts
    if f.order_qty[i] <= 0:
        return [f"position {ip} at or above reorder point {rop}"]
    parts = [f"position {ip} below reorder point {rop}"]
    pack_extra = f.packed_need[i] - f.raw_need[i]
    if pack_extra > 1e-6 and f.pack[i] > 1:  # with single units it is only rounding
        parts.append(f"pack rounding +{fmt(pack_extra)}")
    moq_extra = f.order_qty[i] - f.packed_need[i]
    if moq_extra > 1e-6:
        parts.append(f"MOQ applied (+{fmt(moq_extra)})")
    return parts


def _continuous(f: OrderFacts, i: int) -> list[str]:
    ip, rop = fmt(f.position[i]), fmt(f.reorder_point[i])
    if f.order_qty[i] <= 0:
        return [f"position {ip} above reorder point {rop}"]
    parts = [
        f"position {ip} at or below reorder point {rop}",
        f"{int(f.lots[i])} x lot {fmt(f.lot[i])} (EOQ {fmt(f.eoq_units[i])})",
    ]
    if f.lot[i] > f.lot_from_eoq[i] + 1e-6:
        parts.append(f"MOQ {fmt(f.moq[i])} applied" if f.moq[i] > 0 else "one pack minimum")
    return parts


def _notes(f: OrderFacts, i: int, lead: Mapping[str, Any]) -> list[str]:
    notes: list[str] = []
    used, planned = float(lead["lead_time_used_days"]), float(lead["lead_time_planned_days"])
    if lead["lead_time_source"] != "planned" and abs(used - planned) >= LEAD_TIME_NOTE_DAYS:
        notes.append(describe_lead_time(lead))
    if f.lead_std_unknown[i]:
        notes.append("lead-time std unknown, 0 used")
    if f.on_hand_missing[i]:
        notes.append(f"no inventory snapshot before {f.run_date.isoformat()}: on hand taken as 0")
    return notes


def reasons(f: OrderFacts) -> list[str]:
    """One reason per SKU, at most :data:`REASON_MAX_CHARS` characters."""
    texts: list[str] = []
    leads = f.lead_times.to_dict("records")
    for i in range(len(f.periodic)):
        parts = _periodic(f, i) if f.periodic[i] else _continuous(f, i)
        text = "; ".join(parts + _notes(f, i, leads[i]))
        if len(text) > REASON_MAX_CHARS:
            text = text[: REASON_MAX_CHARS - 1] + "…"
        texts.append(text)
    return texts
