"""Load: one transaction per run, own run date only, nothing half-written."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from replenishment.db import make_engine
from replenishment.load import ensure_reporting_tables, load_outputs, read_output
from tests.support import InjectedLoadFailure, fail_load_after

D1, D2 = dt.date(2026, 7, 1), dt.date(2026, 7, 2)


def _forecast(sku: str, yhat: float, run_date: dt.date) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sku_id": sku,
            "forecast_date": [run_date + dt.timedelta(days=i) for i in range(3)],
            "yhat": yhat,
            "yhat_lower": yhat - 1,
            "yhat_upper": yhat + 1,
            "interval_width": 0.8,
            "promo": 0,
            "model": "prophet",
        }
    )


def _quality(ok: bool) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "suite": ["order_lines"],
            "success": [int(ok)],
            "evaluated_expectations": [10],
            "failed_expectations": [0 if ok else 1],
            "failed_critical": [0 if ok else 1],
            "failed_warning": [0],
            "failures": ["" if ok else "[critical] something"],
            "data_docs_path": [None],
        }
    )


@pytest.fixture
def engine(tmp_path):
    e = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    ensure_reporting_tables(e, "reporting")
    yield e
    e.dispose()


def test_rerun_replaces_only_its_own_date(engine):
    load_outputs(engine, "reporting", D1, {"demand_forecast": _forecast("A", 5, D1)})
    load_outputs(engine, "reporting", D2, {"demand_forecast": _forecast("A", 7, D2)})
    load_outputs(engine, "reporting", D1, {"demand_forecast": _forecast("B", 9, D1)})
    rows = read_output(engine, "reporting", "demand_forecast")
    assert sorted(rows.groupby("run_date")["sku_id"].first().tolist()) == ["A", "B"]
    assert len(rows) == 6
    assert set(read_output(engine, "reporting", "demand_forecast", D1)["sku_id"]) == {"B"}


def test_failure_halfway_leaves_previous_rows(engine, monkeypatch):
    load_outputs(
        engine,
        "reporting",
        D1,
        {"demand_forecast": _forecast("A", 5, D1), "data_quality_results": _quality(True)},
    )
    before = {
        t: read_output(engine, "reporting", t) for t in ("demand_forecast", "data_quality_results")
    }
    fail_load_after(monkeypatch, "demand_forecast")
    with pytest.raises(InjectedLoadFailure):
        load_outputs(
            engine,
            "reporting",
            D1,
            {"demand_forecast": _forecast("Z", 1, D1), "data_quality_results": _quality(False)},
        )
    for table, frame in before.items():
        pd.testing.assert_frame_equal(read_output(engine, "reporting", table), frame)


def test_unknown_table_is_refused(engine):
    with pytest.raises(ValueError, match="not output tables"):
        load_outputs(engine, "reporting", D1, {"sku_master": pd.DataFrame()})
