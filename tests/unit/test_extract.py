"""Extract: exactly what was known before the run date, on a hand-made warehouse."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from replenishment.db import make_engine, run_script
from replenishment.extract import extract
from replenishment.warehouse import bulk_insert

D = dt.date(2026, 7, 1)


def _ts(day: str, time: str = "10:00:00") -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day} {time}")


@pytest.fixture
def engine(tmp_path):
    e = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    with e.begin() as conn:
        run_script(conn, "create_source_tables.sql")
        bulk_insert(
            conn,
            "sku_master",
            pd.DataFrame(
                {
                    "sku_id": ["A", "B"],
                    "description": ["a", "b"],
                    "category": ["c", "c"],
                    "unit_cost": [2.0, 3.0],
                    "pack_size": [6, 1],
                    "moq": [12, 0],
                    "lead_time_days": [5, 3],
                    "review_period_days": [7, 1],
                    "service_level": [0.95, 0.9],
                    "holding_cost_rate": [0.2, 0.2],
                    "order_cost": [50.0, 20.0],
                    "active": [True, False],
                }
            ),
        )
        lines = [
            ("O1", 1, "A", _ts("2026-06-29"), 3.0, "completed"),
            ("O1", 2, "A", _ts("2026-06-29", "23:59:59"), 2.0, "returned"),
            ("O2", 1, "A", _ts("2026-06-30"), 5.0, "cancelled"),  # not demand
            ("O3", 1, "A", _ts("2026-06-30", "23:00:00"), 4.0, "completed"),
            ("O4", 1, "A", _ts("2026-07-01", "00:00:00"), 99.0, "completed"),  # on D: unknown
            ("O5", 1, "B", _ts("2026-07-02"), 99.0, "completed"),
        ]
        bulk_insert(
            conn,
            "order_lines",
            pd.DataFrame(
                lines, columns=["order_id", "line_no", "sku_id", "order_ts", "quantity", "status"]
            ).assign(unit_price=1.0),
        )
        snaps = [
            ("A", dt.date(2026, 6, 29), 10.0),
            ("A", dt.date(2026, 6, 30), 0.0),
            ("A", dt.date(2026, 7, 1), 500.0),
        ]
        bulk_insert(
            conn,
            "inventory_snapshots",
            pd.DataFrame(snaps, columns=["sku_id", "snapshot_date", "on_hand"]),
        )
        pos = [
            ("P1", "A", "2026-06-01", "2026-06-06", "2026-06-08", 60.0, "received"),
            ("P2", "A", "2026-06-25", "2026-06-30", "2026-07-01", 30.0, "received"),  # open on D
            ("P3", "A", "2026-06-28", "2026-07-03", None, 12.0, "open"),
            ("P4", "A", "2026-06-28", "2026-07-03", None, 100.0, "cancelled"),
            ("P5", "A", "2026-06-20", "2026-06-25", None, 7.0, "received"),  # no date: not on order
            ("P6", "A", "2026-07-01", "2026-07-06", None, 1000.0, "open"),  # placed on D
        ]
        frame = pd.DataFrame(
            pos,
            columns=[
                "po_id",
                "sku_id",
                "order_date",
                "expected_date",
                "received_date",
                "quantity",
                "status",
            ],
        )
        for col in ("order_date", "expected_date", "received_date"):
            frame[col] = pd.Series(
                [dt.date.fromisoformat(v) if isinstance(v, str) else None for v in frame[col]],
                dtype=object,
            )
        bulk_insert(conn, "purchase_orders", frame)
        bulk_insert(
            conn,
            "promotions",
            pd.DataFrame(
                {
                    "promo_id": ["X", "Y", "Z"],
                    "sku_id": ["A", "A", "A"],
                    "start_date": [dt.date(2026, 6, 1), dt.date(2026, 7, 10), dt.date(2026, 9, 1)],
                    "end_date": [dt.date(2026, 6, 5), dt.date(2026, 7, 14), dt.date(2026, 9, 5)],
                    "discount_pct": [10.0, 20.0, 30.0],
                }
            ),
        )
    yield e
    e.dispose()


def test_demand_is_non_cancelled_quantity_by_utc_date_before_the_run_date(engine):
    x = extract(engine, D, 28)
    demand = x.demand.set_index(x.demand["ds"].dt.date)["y"].to_dict()
    assert demand == {dt.date(2026, 6, 29): 5.0, dt.date(2026, 6, 30): 4.0}


def test_inventory_and_purchase_orders_as_of_the_run_date(engine):
    x = extract(engine, D, 28)
    assert x.on_hand.set_index("sku_id")["on_hand"].to_dict() == {"A": 0.0}
    assert x.stockouts["ds"].dt.date.tolist() == [dt.date(2026, 6, 30)]
    # P2 (received on D) and P3 (open) are on order; cancelled, undated and on-D POs are not
    assert x.on_order.set_index("sku_id")["on_order"].to_dict() == {"A": 42.0}
    assert sorted(x.lead_times["received_date"].dt.date) == [dt.date(2026, 6, 8)]


def test_promotions_overlapping_history_and_horizon(engine):
    x = extract(engine, D, 28)
    assert sorted(x.promotions["promo_id"]) == ["X", "Y"]  # Z starts after D+27
    assert set(x.sku["sku_id"]) == {"A", "B"} and x.sku["active"].tolist() == [True, False]
