"""The purchase-order file a buyer works from, and how an order row reads to a person.

Presentation of ``replenishment_orders`` rows (dicts of one run date, joined with the
SKU's description and category): the buyer's CSV columns, rounding and order, the
reason text without noise, the exceptions a buyer looks at first, and numbers written as
the page's ``static/format.js`` writes them (``Fmt.num``, ``Fmt.units``, ``Fmt.reason``).
Used by the Airflow plugin's page and CSV and by the run report; pure functions, no
database, no Airflow.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pandas as pd

from replenishment.order_reasons import fmt
from replenishment.quarantine import QUARANTINED

#: Placeholder for a missing number (``Fmt.num`` writes the same).
MISSING = "–"

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


def format_number(value: Any, decimals: int = 0) -> str:
    """A number with thousands separators and ``decimals`` decimals, as ``Fmt.num`` writes
    it (en locale): rounded half away from zero on the number's shortest decimal form, as
    the browser rounds (ECMA-402 "halfExpand": 9.95 -> 10.0 and 0.25 -> 0.3, where
    ``f"{9.95:.1f}"`` gives 9.9); :data:`MISSING` for None, NaN or text.

    >>> format_number(2553.456, 2), format_number(None)
    ('2,553.46', '–')
    """
    try:
        x = float(value)
    except (TypeError, ValueError):
        return MISSING
    if not math.isfinite(x):
        return MISSING
    rounded = Decimal(repr(x)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    return f"{rounded:,.{decimals}f}"


def format_units(value: Any) -> str:
    """Units as the reason text and the page's cards write them (``Fmt.units``): whole
    numbers without decimals, anything else with one (the rule of
    :func:`replenishment.order_reasons.fmt`), with thousands separators.

    >>> format_units(1046.2), format_units(12000.0), format_units(-0.01)
    ('1,046.2', '12,000', '0')
    """
    text = format_number(value)
    if text == MISSING:
        return text
    short = fmt(float(value))
    return short if short == "0" else format_number(value, 1 if "." in short else 0)


#: A number in a reason that is not part of a date or an identifier (as ``Fmt.reason``).
_REASON_NUMBER = re.compile(r"(?<![\w.\-])\d+(?:\.\d+)?(?![\w.]|-\d)", re.ASCII)


def format_reason(text: str | None) -> str:
    """The reason with its numbers written as :func:`format_number` writes them, each with
    its own decimals; dates (2026-07-08) and identifiers (SKU-0001) left as they are.

    >>> format_reason("position 1046 below reorder point 12046.2 (SKU-10001, next 2026-07-08)")
    'position 1,046 below reorder point 12,046.2 (SKU-10001, next 2026-07-08)'
    """

    def number(m: re.Match[str]) -> str:
        token = m.group(0)
        return format_number(float(token), len(token.partition(".")[2]))

    return _REASON_NUMBER.sub(number, text or "")


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
