"""The buyer's order file and how an order row reads on the Replenishment page."""

from __future__ import annotations

import datetime as dt

import pytest

from replenishment.order_file import (
    BUYER_COLUMNS,
    buyer_orders,
    display_reason,
    lead_time_std_known,
    order_exceptions,
)


def _row(sku: str, value: float, **kw: object) -> dict[str, object]:
    row: dict[str, object] = {
        "sku_id": sku,
        "description": f"item {sku}",
        "category": "tools",
        "lead_time_days": 9.0,
        "lead_time_std_days": 1.5,
        "order_qty": 12.0,
        "order_packs": 2,
        "pack_size": 6,
        "order_value": value,
        "expected_receipt_date": dt.date(2026, 7, 10),
        "reason": "position 3 below reorder point 1046.2; pack rounding +4.8",
        "on_hand": 3.0,
        "backorders": 0.0,
        "unit_cost": 1.0,
    }
    row.update(kw)
    return row


def test_pack_rounding_of_a_one_unit_pack_is_not_shown():
    reason = "position 3 below reorder point 9.4; pack rounding +0.8; MOQ applied (+10)"
    assert display_reason(reason, 1) == "position 3 below reorder point 9.4; MOQ applied (+10)"
    assert display_reason(reason, 6) == reason
    assert display_reason(None, 1) == ""


def test_lead_time_spread_unknown_is_not_zero():
    known = _row("A", 1.0)
    unknown = _row(
        "B", 1.0, reason="position 3 below reorder point 9; lead-time std unknown, 0 used"
    )
    unknown["lead_time_std_days"] = 0.0
    assert lead_time_std_known(known)
    assert not lead_time_std_known(unknown)
    assert not lead_time_std_known(_row("C", 1.0, lead_time_std_days=None))


def test_exceptions_name_what_a_buyer_checks():
    assert order_exceptions(_row("A", 1.0)) == []
    worst = _row(
        "B",
        1.0,
        on_hand=0.0,
        backorders=4.0,
        reason="position -4 below reorder point 9; MOQ applied (+8); lead-time std unknown, 0 used",
    )
    assert order_exceptions(worst) == [
        "out of stock",
        "backorders",
        "lead-time spread unknown",
        "MOQ applied",
    ]
    held = _row("C", 0.0, on_hand=0.0, model="quarantined", reason="quarantined: x.y rule")
    assert order_exceptions(held) == ["quarantined by data quality"]


def test_buyer_file_columns_rounding_and_order():
    rows = [
        _row("S2", 10.0),
        _row("S1", 1234.5678, lead_time_days=9.44, order_qty=12.0000001, pack_size=1),
        _row("S3", 10.0),
        _row("S4", 0.0, order_qty=0.0, order_packs=0),  # no order: not in the buyer's file
    ]
    frame = buyer_orders(rows, "EUR")
    assert list(frame.columns) == [
        "SKU",
        "Description",
        "Category",
        "Supplier lead time (days)",
        "Order qty (units)",
        "Packs",
        "Pack size (units)",
        "Value (EUR)",
        "Expected receipt",
        "Reason",
    ]
    assert len(BUYER_COLUMNS) == len(frame.columns)
    assert frame["SKU"].tolist() == ["S1", "S2", "S3"]  # value first, ties by SKU
    first = frame.iloc[0]
    assert first["Value (EUR)"] == "1234.57"
    assert first["Order qty (units)"] == 12 and first["Pack size (units)"] == 1
    assert first["Supplier lead time (days)"] == "9.4"
    assert frame.iloc[1]["Supplier lead time (days)"] == "9"
    assert first["Expected receipt"] == "2026-07-10"
    assert first["Reason"] == "position 3 below reorder point 1046.2"  # one-unit pack
    assert frame.iloc[1]["Reason"].endswith("pack rounding +4.8")
    text = frame.to_csv(index=False)
    assert "12.0000001" not in text and "1234.5678" not in text


def test_buyer_file_of_a_run_without_orders_has_the_header_only():
    frame = buyer_orders([_row("S4", 0.0, order_qty=0.0)], "USD")
    assert frame.empty and "Value (USD)" in frame.columns


@pytest.mark.parametrize("currency", ["USD", "CHF"])
def test_currency_setting(monkeypatch, currency):
    from replenishment.config import Settings

    monkeypatch.setenv("REPLENISHMENT_CURRENCY", currency)
    assert Settings.load().currency == currency
    monkeypatch.delenv("REPLENISHMENT_CURRENCY")
    assert Settings.load().currency == "USD"


def test_the_phrases_read_are_the_ones_policy_writes():
    """order_file reads two phrases of the reason text (order_reasons): a reword there must
    show here."""
    from pathlib import Path

    from replenishment import order_reasons
    from replenishment.order_file import LEAD_STD_UNKNOWN

    source = Path(order_reasons.__file__).read_text(encoding="utf-8")
    assert LEAD_STD_UNKNOWN in source
    assert 'f"pack rounding +{' in source
