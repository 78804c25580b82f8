"""The purchase-order file a buyer works from, and how an order row reads to a person.

Presentation of ``replenishment_orders`` rows (dicts of one run date, joined with the
SKU's description and category): the buyer's CSV columns, rounding and order, the
reason text without noise, and the exceptions a buyer looks at first. Used by the
Airflow plugin's page and CSV; pure functions, no database, no Airflow.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from replenishment.quarantine import QUARANTINED

#: Marker policy.py writes in the reason when no receipts measured the lead-time spread.
LEAD_STD_UNKNOWN = "lead-time std unknown"


def display_reason(reason: str | None, pack_size: float | None) -> str:
    """The reason as a planner reads it: "pack rounding +x" dropped where the pack is one
    unit (there it is the rounding of a fractional need up to a whole unit, not packing).

    >>> display_reason("position 3 below reorder point 9.4; pack rounding +0.8", 1)
    'position 3 below reorder point 9.4'
    >>> display_reason("position 3 below reorder point 9.4; pack rounding +4.8", 6)
    'position 3 below reorder point 9.4; pack rounding +4.8'
    """
    text = reason or ""
    if pack_size is not None and pack_size > 1:
        return text
    return "; ".join(p for p in text.split("; ") if not p.startswith("pack rounding +"))


def lead_time_std_known(order: dict[str, Any]) -> bool:
    """False where the lead-time spread is unknown (stored as 0 with a note in the reason)."""
    std = order.get("lead_time_std_days")
    return std is not None and LEAD_STD_UNKNOWN not in (order.get("reason") or "")


def order_exceptions(order: dict[str, Any]) -> list[str]:
    """What a buyer should look at before placing the order: no stock left, backorders,
    an unknown lead-time spread, a quantity raised to the MOQ; for a SKU the data-quality
    gate quarantined (``dq_mode = quarantine``: no order, zero quantities), only that."""
    if order.get("model") == QUARANTINED:
        return ["quarantined by data quality"]
    found = []
    if (order.get("on_hand") or 0) <= 0:
        found.append("out of stock")
    if (order.get("backorders") or 0) > 0:
        found.append("backorders")
    if not lead_time_std_known(order):
        found.append("lead-time spread unknown")
    if "MOQ" in (order.get("reason") or ""):
        found.append("MOQ applied")
    return found


#: The buyer's order file: column of ``order_rows`` -> header ({currency} filled in).
BUYER_COLUMNS = {
    "sku_id": "SKU",
    "description": "Description",
    "category": "Category",
    "lead_time_days": "Supplier lead time (days)",
    "order_qty": "Order qty (units)",
    "order_packs": "Packs",
    "pack_size": "Pack size (units)",
    "order_value": "Value ({currency})",
    "expected_receipt_date": "Expected receipt",
    "reason": "Reason",
}


def buyer_orders(rows: list[dict[str, Any]], currency: str) -> pd.DataFrame:
    """The orders to place (``order_qty > 0``) as a buyer reads them: the columns of
    :data:`BUYER_COLUMNS` in that order, units and packs as whole numbers, lead time in days
    to 0.1, value in ``currency`` to the cent, receipt as a date, the reason without
    one-unit pack noise; the largest value first (ties by SKU)."""
    placed = [r for r in rows if (r.get("order_qty") or 0) > 0]
    frame = pd.DataFrame(placed, columns=list(BUYER_COLUMNS))
    frame["reason"] = [display_reason(r["reason"], r["pack_size"]) for r in placed]
    frame["expected_receipt_date"] = [str(r["expected_receipt_date"])[:10] for r in placed]
    for col in ("order_qty", "order_packs", "pack_size"):
        frame[col] = frame[col].astype(float).round().astype("int64")
    frame["lead_time_days"] = [f"{round(float(v), 1):g}" for v in frame["lead_time_days"]]
    frame = frame.sort_values(["order_value", "sku_id"], ascending=[False, True], kind="stable")
    frame["order_value"] = [f"{float(v):.2f}" for v in frame["order_value"]]
    headers = {k: v.format(currency=currency) for k, v in BUYER_COLUMNS.items()}
    return frame.rename(columns=headers).reset_index(drop=True)
