"""The forecast learns capped outlier days, not a unit change or a one-off bulk order."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from replenishment.pipeline import cap_outliers


def test_outlier_days_are_clipped_to_their_cap_and_counted() -> None:
    demand = pd.DataFrame(
        {
            "sku_id": ["A", "A", "B", "B"],
            "ds": pd.to_datetime(["2026-06-01", "2026-06-02", "2026-06-01", "2026-06-02"]),
            "y": [5.0, 480.0, 7.0, 9.0],
        }
    )
    outliers = pd.DataFrame(
        {
            "sku_id": ["A", "B"],
            "date": [dt.date(2026, 6, 2), dt.date(2026, 6, 1)],
            "value": [480.0, 7.0],
            "cap": [40.0, 60.0],  # B's day is listed but below its cap: left alone
            "median": [5.0, 8.0],
            "mad": [1.0, 1.0],
        }
    )
    assert cap_outliers(demand, outliers) == 1
    assert demand["y"].tolist() == [5.0, 40.0, 7.0, 9.0]


def test_no_outliers_changes_nothing() -> None:
    demand = pd.DataFrame({"sku_id": ["A"], "ds": pd.to_datetime(["2026-06-01"]), "y": [5.0]})
    empty = pd.DataFrame(columns=["sku_id", "date", "value", "cap", "median", "mad"])
    assert cap_outliers(demand, empty) == 0
    assert demand["y"].tolist() == [5.0]
