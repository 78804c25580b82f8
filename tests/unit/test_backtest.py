"""Rolling-origin backtest: cut-offs, no leakage, scoring, and the value of censoring."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from replenishment.backtest import BacktestConfig, cutoffs, rolling_origin, summarise
from replenishment.config import Settings

RUN_DATE = dt.date(2026, 7, 1)
DAYS = pd.date_range(end=pd.Timestamp(RUN_DATE) - pd.Timedelta(days=1), periods=500, freq="D")
NO_PROMOS = pd.DataFrame(
    {
        "sku_id": pd.Series(dtype=str),
        "start_date": pd.Series(dtype="datetime64[ns]"),
        "end_date": pd.Series(dtype="datetime64[ns]"),
    }
)


def _demand(sku: str, y: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame({"sku_id": sku, "ds": DAYS, "y": y.astype(float)})
    return frame[frame["y"] > 0]


def test_cutoffs_end_before_the_run_date():
    cfg = BacktestConfig(run_date=RUN_DATE, origins=3, step_days=14, horizon_days=28)
    assert cutoffs(cfg) == [dt.date(2026, 5, 6), dt.date(2026, 5, 20), dt.date(2026, 6, 3)]


def test_scores_against_actuals_and_beats_naive_on_a_seasonal_series():
    rng = np.random.default_rng(11)
    weekly = np.where(DAYS.day_of_week >= 5, 2.0, 1.0)
    y = rng.poisson(15 * weekly)
    cfg = BacktestConfig(run_date=RUN_DATE, origins=2, horizon_days=14, step_days=14)
    out = rolling_origin(["A"], _demand("A", y), _demand("A", y).iloc[0:0], NO_PROMOS, cfg)
    row = out.iloc[0]
    assert row["scored_days"] == 28 and row["actual_units"] == pytest.approx(y[-28:].sum())
    assert row["wape"] < row["baseline_wape"] and row["beats_baseline"] == 1
    assert summarise(out).loc["all", "skus"] == 1


def test_nothing_after_a_cutoff_is_used():
    rng = np.random.default_rng(12)
    y = rng.poisson(10, len(DAYS)).astype(float)
    spiked = y.copy()
    spiked[-14:] = 1000  # the last origin's own horizon: scored, never fitted
    cfg = BacktestConfig(run_date=RUN_DATE, origins=1, horizon_days=14)
    a = rolling_origin(["A"], _demand("A", y), _demand("A", y).iloc[0:0], NO_PROMOS, cfg)
    b = rolling_origin(["A"], _demand("A", spiked), _demand("A", y).iloc[0:0], NO_PROMOS, cfg)
    # same forecasts (bias in units = bias * actual is the forecast sum minus actuals)
    fa = (a["bias"] * a["actual_units"] + a["actual_units"]).iloc[0]
    fb = (b["bias"] * b["actual_units"] + b["actual_units"]).iloc[0]
    assert fa == pytest.approx(fb)


def test_censoring_stockouts_improves_accuracy():
    rng = np.random.default_rng(13)
    true = rng.poisson(20, len(DAYS)).astype(float)
    sales = true.copy()
    out_days = []
    for start in range(20, len(DAYS) - 60, 45):  # a 10-day stock-out every 45 days
        sales[start : start + 10] = 0
        out_days.extend(DAYS[start : start + 10])
    stockouts = pd.DataFrame({"sku_id": "A", "ds": out_days})
    cfg = BacktestConfig(run_date=RUN_DATE, origins=2, horizon_days=14, step_days=14)
    with_c = rolling_origin(["A"], _demand("A", sales), stockouts, NO_PROMOS, cfg).iloc[0]
    without = BacktestConfig(**{**cfg.__dict__, "censoring": False})
    plain = rolling_origin(["A"], _demand("A", sales), stockouts, NO_PROMOS, without).iloc[0]
    assert with_c["wape"] < plain["wape"]
    assert abs(with_c["bias"]) < abs(plain["bias"])
    assert plain["bias"] < -0.05  # zeros taught the uncensored model that demand fell


# --------------------------------------------------------------------------- settings


def test_config_from_settings_keeps_every_run_setting():
    """The weekly DAG builds its config from the run's Settings: REPLENISHMENT_MIN_HISTORY_DAYS
    (and horizon, holidays, workers) reach the backtest, not only the DAG's own params."""
    env = {"REPLENISHMENT_MIN_HISTORY_DAYS": "600", "REPLENISHMENT_FORECAST_WORKERS": "1"}
    settings = Settings.load({"horizon_days": 14, "holiday_country": "DE"}, env=env)
    cfg = BacktestConfig.from_settings(settings, RUN_DATE, origins=1)
    assert (cfg.horizon_days, cfg.holiday_country, cfg.min_history_days) == (14, "DE", 600)
    assert (cfg.origins, cfg.step_days, cfg.censoring, cfg.workers) == (1, 28, True, 1)

    # 500 days of history < 600: the forecasts are those of a short history
    y = np.random.default_rng(3).poisson(20, len(DAYS))
    empty = pd.DataFrame({"sku_id": pd.Series(dtype=str), "ds": pd.Series(dtype="datetime64[ns]")})
    out = rolling_origin(["A"], _demand("A", y), empty, NO_PROMOS, cfg)
    # a short history gets the cold-start model (the global model, the first candidate)
    assert out["demand_class"].tolist() == ["short"] and out["model"].tolist() == ["lightgbm"]


def test_weekly_dag_builds_its_config_from_settings():
    dag_file = Path(__file__).resolve().parents[2] / "dags" / "replenishment_backtest_weekly.py"
    calls = [
        ast.unparse(node.func)
        for node in ast.walk(ast.parse(dag_file.read_text()))
        if isinstance(node, ast.Call)
    ]
    assert "BacktestConfig.from_settings" in calls and "BacktestConfig" not in calls
