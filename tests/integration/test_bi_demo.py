"""A demo history fills every BI view (what ``./dev demo --history`` does, on the small demo).

Two real pipeline runs 8 days apart (the earlier one a backfill) and a written replay
simulation, on SQLite: every view has rows, and the load's daily actuals are the order
lines of the sources, so the lag-7 view's actuals are the day's sales, once.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from replenishment import reporting
from replenishment.cli import main as cli_main
from replenishment.config import Settings
from replenishment.db import make_engine
from replenishment.load import ACTUALS_DAYS
from replenishment.pipeline import run_pipeline
from tests.support import RUN_DATE

BACKFILL = RUN_DATE - dt.timedelta(days=8)


@pytest.mark.slow
def test_a_demo_history_fills_every_view(sqlite_warehouse, tmp_path):
    settings = Settings.load(
        {
            "warehouse_url": sqlite_warehouse,
            "staging_dir": str(tmp_path / "staging"),
            "data_docs_dir": str(tmp_path / "docs"),
            "forecast_batches": 1,
        }
    )
    run_pipeline(settings, RUN_DATE, run_type="backfill")
    run_pipeline(settings, BACKFILL, run_type="backfill")  # loaded after: an older backfill
    start = (RUN_DATE - dt.timedelta(days=28)).isoformat()
    simulate = ["simulate", "--url", sqlite_warehouse, "--start", start, "--days", "28"]
    assert cli_main([*simulate, "--skus", "6", "--write"]) == 0

    engine = make_engine(sqlite_warehouse)
    with engine.connect() as conn:
        views = {
            name: pd.read_sql_query(f"SELECT * FROM {name}", conn)
            for name, rel in reporting.dictionary().items()
            if rel.kind == "view"
        }
        lines = pd.read_sql_query(
            "SELECT sku_id, date(order_ts) AS ds, SUM(quantity) AS units FROM order_lines "
            "WHERE status <> 'cancelled' GROUP BY sku_id, date(order_ts)",
            conn,
        )
    engine.dispose()
    empty = [name for name, frame in views.items() if frame.empty]
    assert not empty, f"views without rows: {empty}"

    actuals = views["v_daily_actuals"].assign(ds=lambda f: f["demand_date"].str.slice(0, 10))
    first = (BACKFILL - dt.timedelta(days=ACTUALS_DAYS)).isoformat()
    assert (
        actuals["ds"].min() == first
        and actuals["ds"].max() == (RUN_DATE - dt.timedelta(days=1)).isoformat()
    )
    check = actuals.merge(lines, on=["sku_id", "ds"], how="left").fillna({"units": 0.0})
    assert check["actual_units"].to_numpy() == pytest.approx(check["units"].to_numpy())
    assert len(actuals) == len(actuals.drop_duplicates(["sku_id", "ds"]))

    lag7 = views["v_forecast_vs_actual_lag7"]
    known = lag7[lag7["actual_units"].notna()]
    day = (BACKFILL + dt.timedelta(days=7)).isoformat()
    assert set(known["forecast_date"].str.slice(0, 10)) == {day}
    forecast = lines["sku_id"].isin(set(known["sku_id"]))  # the active SKUs
    sold = lines.loc[(lines["ds"] == day) & forecast, "units"].sum()
    assert set(known["sku_id"]) == set(views["v_latest_forecast"]["sku_id"])
    assert known["actual_units"].sum() == pytest.approx(sold) and sold > 0
    # the SKU dimension is the newer run's, though the backfill was loaded after it
    assert set(views["v_sku"]["as_of_run_date"].str.slice(0, 10)) == {RUN_DATE.isoformat()}
    assert set(views["v_latest_orders"]["currency"]) == {"USD"}
