"""The per-run HTML report: totals, biggest orders, charts, accuracy, data quality."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from replenishment.report import write_report

D = dt.date(2026, 7, 1)


def test_report_has_totals_orders_charts_and_quality(tmp_path):
    days = pd.date_range(D, periods=3, freq="D")
    forecast = pd.DataFrame(
        {
            "sku_id": ["A"] * 3 + ["B"] * 3,
            "forecast_date": list(days) * 2,
            "yhat": [5.0, 6, 7, 1, 1, 1],
            "yhat_lower": [4.0, 5, 6, 0, 0, 0],
            "yhat_upper": [6.0, 7, 8, 2, 2, 2],
        }
    )
    orders = pd.DataFrame(
        {
            "sku_id": ["A", "B"],
            "order_qty": [24.0, 0.0],
            "order_packs": [2, 0],
            "order_value": [48.0, 0.0],
            "inventory_position": [3.0, 50.0],
            "reorder_point": [20.0, 5.0],
            "order_up_to": [20.0, 5.0],
            "expected_receipt_date": [D + dt.timedelta(days=5)] * 2,
            "reason": [
                "position 3 below reorder point 20; <pack> rounding +4",
                "position 50 at or above",
            ],
        }
    )
    accuracy = pd.DataFrame(
        {"demand_class": ["smooth"], "wape": [0.2], "baseline_wape": [0.3], "actual_units": [100.0]}
    )
    quality = pd.DataFrame(
        {
            "suite": ["order_lines"],
            "success": [1],
            "evaluated_expectations": [19],
            "failed_critical": [0],
            "failed_warning": [0],
            "failures": [None],
        }
    )
    history = pd.DataFrame(
        {"sku_id": "A", "ds": pd.date_range(end=D - dt.timedelta(days=1), periods=30), "y": 5.0}
    )
    summary = {
        "skus_total": 2,
        "orders_placed": 1,
        "order_value": 48.0,
        "wape": 0.2,
        "baseline_wape": 0.3,
    }
    path = write_report(tmp_path, D, summary, forecast, orders, accuracy, quality, history)
    text = path.read_text()
    assert path.name == "2026-07-01.html"
    assert "Replenishment run 2026-07-01" in text
    assert (
        text.count("<svg") == 1 and 'aria-label="demand and forecast of A"' in text
    )  # B ordered nothing
    assert "&lt;pack&gt; rounding" in text  # escaped
    assert "order_lines" in text and "smooth" in text
    assert "http" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")  # no network


def test_report_reads_like_a_report(tmp_path):
    """Headers in words, numbers right-aligned, the cut said, the Data Docs linked."""
    n = 23
    skus = [f"S{i:02d}" for i in range(n)]
    orders = pd.DataFrame(
        {
            "sku_id": skus,
            "order_qty": [10.0 + i for i in range(n)],
            "order_packs": [1] * n,
            "order_value": [100.0 + i for i in range(n)],
            "inventory_position": [1.0] * n,
            "reorder_point": [5.0] * n,
            "order_up_to": [20.0] * n,
            "expected_receipt_date": [D] * n,
            "reason": ["below reorder point"] * n,
        }
    )
    forecast = pd.DataFrame(
        {"sku_id": skus, "forecast_date": [D] * n, "yhat": 1.0, "yhat_lower": 0.0,
         "yhat_upper": 2.0}
    )  # fmt: skip
    quality = pd.DataFrame(
        {"suite": ["order_lines"], "success": [1], "evaluated_expectations": [19],
         "failed_critical": [0], "failed_warning": [0], "failures": [None],
         "data_docs_path": [str(tmp_path / "docs" / "2026-07-01" / "index.html")]}
    )  # fmt: skip
    accuracy = pd.DataFrame(columns=["demand_class", "wape", "baseline_wape", "actual_units"])
    history = pd.DataFrame({"sku_id": [], "ds": [], "y": []})
    summary = {"skus_total": n, "orders_placed": n, "order_value": 2553.0}
    text = write_report(
        tmp_path, D, summary, forecast, orders, accuracy, quality, history
    ).read_text()
    assert "top 20 of 23 orders" in text
    assert "<th>Order qty</th>" in text and "order_qty" not in text
    assert "<th>Expected receipt</th>" in text and "<th>SKU</th>" in text
    assert '<td class="num">122</td>' in text  # the largest value, right-aligned
    assert (tmp_path / "docs" / "2026-07-01" / "index.html").as_uri() in text
    assert "Data Docs" in text
