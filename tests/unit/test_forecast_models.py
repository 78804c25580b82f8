"""Forecast model interface: registry and routing, fallback owned by the orchestrator,
the batch hook, ForecastConfig.from_settings, and the backtest_errors frame."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

from replenishment import forecast as fc
from replenishment.config import Settings
from replenishment.forecast import models
from tests.unit.test_forecast import NO_PROMOS, NO_STOCKOUTS

RUN_DATE = dt.date(2026, 7, 1)
DAYS = pd.date_range(end=pd.Timestamp(RUN_DATE) - pd.Timedelta(days=1), periods=400, freq="D")


def _demand(sku: str, y: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame({"sku_id": sku, "ds": DAYS, "y": y.astype(float)})
    return frame[frame["y"] > 0]


class FlatTwo(models.Model):
    """A test model: 2 units every day; counts its batch calls."""

    name = "flat_two"
    batches: list[int] = []

    def fit(self, history: models.History) -> None:
        self._sigma = models.residual_sigma(history.y, np.full(history.y.size, 2.0))

    def predict(self, horizon: models.Horizon) -> models.Prediction:
        return models.Prediction(np.full(len(horizon.dates), 2.0), self._sigma)

    @classmethod
    def forecast_many(
        cls, jobs: Sequence[models.Job], context: models.ModelContext
    ) -> list[models.Outcome]:
        cls.batches.append(len(jobs))
        return super().forecast_many(jobs, context)


class Broken(FlatTwo):
    name = "broken"

    def fit(self, history: models.History) -> None:
        raise RuntimeError("cannot fit")


class NotFinite(FlatTwo):
    name = "not_finite"

    def predict(self, horizon: models.Horizon) -> models.Prediction:
        return models.Prediction(np.full(len(horizon.dates), np.inf), 0.0)


def test_every_routed_model_is_registered():
    for demand_class, names in fc.ROUTES.items():
        assert names, demand_class
        for name in fc.candidates(demand_class):
            assert fc.MODELS[name].name == name
    assert fc.candidates("lumpy") == ("sba", "lightgbm", "tsb", "adida", "imapa", "seasonal_naive")
    assert fc.model_for_class("smooth") == "prophet"


def test_a_new_model_is_a_class_and_a_row_and_gets_one_batch(monkeypatch):
    monkeypatch.setitem(models.MODELS, "flat_two", FlatTwo)
    monkeypatch.setitem(fc.ROUTES, "smooth", ("flat_two",))
    monkeypatch.setattr(FlatTwo, "batches", [])
    rng = np.random.default_rng(1)
    ids = ["A", "B", "C"]
    demand = pd.concat([_demand(s, rng.poisson(20, len(DAYS))) for s in ids])
    cfg = fc.ForecastConfig(run_date=RUN_DATE, horizon_days=5, backtest_every_days=1)
    result = fc.forecast_frames(ids, demand, NO_STOCKOUTS, NO_PROMOS, cfg)
    assert (result.forecast["model"] == "flat_two").all()
    assert (result.forecast["yhat"] == 2.0).all()
    assert FlatTwo.batches == [3]  # all SKUs of the model in one forecast_many call
    assert (result.summary["failed"] == 0).all()


def test_fallback_and_failure_count_happen_in_the_orchestrator(monkeypatch):
    for cls in (FlatTwo, Broken, NotFinite):
        monkeypatch.setitem(models.MODELS, cls.name, cls)
    monkeypatch.setitem(fc.ROUTES, "smooth", ("broken", "flat_two"))
    monkeypatch.setitem(fc.ROUTES, "erratic", ("not_finite",))
    rng = np.random.default_rng(2)
    demand = pd.concat(
        [
            _demand("NEXT", rng.poisson(20, len(DAYS))),
            _demand("NAIVE", rng.choice([1.0, 2.0, 60.0], size=len(DAYS))),
        ]
    )
    cfg = fc.ForecastConfig(run_date=RUN_DATE, horizon_days=7, backtest_days=0)
    result = fc.forecast_frames(["NEXT", "NAIVE"], demand, NO_STOCKOUTS, NO_PROMOS, cfg)
    s = result.summary.set_index("sku_id")
    assert s.loc["NEXT", "model"] == "flat_two" and s.loc["NEXT", "failed"] == 1
    assert s.loc["NEXT", "error"] == "RuntimeError: cannot fit"
    assert s.loc["NAIVE", "model"] == "seasonal_naive" and s.loc["NAIVE", "failed"] == 1
    assert "not_finite produced non-finite forecasts" in s.loc["NAIVE", "error"]
    assert np.isfinite(result.forecast["yhat"]).all()


def test_from_settings_takes_settings_and_only_own_fields():
    settings = Settings(horizon_days=14, holiday_country="DE", min_history_days=30)
    cfg = fc.ForecastConfig.from_settings(settings, RUN_DATE, backtest_days=0)
    assert cfg == fc.ForecastConfig(
        run_date=RUN_DATE,
        horizon_days=14,
        holiday_country="DE",
        interval_width=settings.interval_width,
        backtest_days=0,
        min_history_days=30,
        backtest_every_days=settings.backtest_every_days,
    )
    with pytest.raises(TypeError, match="no field"):
        fc.ForecastConfig.from_settings(settings, RUN_DATE, policy="periodic")
    defaults = fc.ForecastConfig.from_settings(Settings(), RUN_DATE)
    assert defaults == fc.ForecastConfig(run_date=RUN_DATE)


def test_backtest_errors_are_the_backtest_of_the_run(tmp_path):
    rng = np.random.default_rng(3)
    smooth = rng.poisson(12, len(DAYS)).astype(float)
    slow = np.where(rng.random(len(DAYS)) < 0.25, 4.0, 0.0)
    short = np.zeros(len(DAYS))
    short[-20:] = 3.0
    demand = pd.concat([_demand("S", smooth), _demand("I", slow), _demand("N", short)])
    # two stock-out days inside the holdout of S: censored, left out of the measures
    stockouts = pd.DataFrame({"sku_id": "S", "ds": DAYS[-5:-3]})
    cfg = fc.ForecastConfig(
        run_date=RUN_DATE, horizon_days=7, backtest_days=28, backtest_every_days=1
    )
    result = fc.forecast_frames(["S", "I", "N"], demand, stockouts, NO_PROMOS, cfg)
    errors = result.backtest_errors
    assert list(errors.columns) == fc.BACKTEST_ERROR_COLUMNS
    assert sorted(errors["sku_id"].unique()) == ["I", "S"]  # N is too short to backtest
    assert errors.groupby("sku_id")["h"].apply(list).map(lambda h: h == list(range(28))).all()
    s = errors[errors["sku_id"] == "S"].set_index("h")
    assert s["forecast_date"].iloc[0] == DAYS[-28] and s["forecast_date"].iloc[-1] == DAYS[-1]
    assert s["censored"].tolist() == [h in (23, 24) for h in range(28)]
    observed = [h not in (23, 24) for h in range(28)]
    assert s["actual"][~s["censored"]].tolist() == smooth[-28:][observed].tolist()
    assert s["actual"][s["censored"]].isna().all()
    assert (errors["forecast"] >= 0).all()
    # the backtest of the chosen model (the SKU's forecast model): the same for every day
    chosen = result.summary.set_index("sku_id")["model"]
    assert set(zip(errors["sku_id"], errors["model"], errors["demand_class"], strict=True)) == {
        ("S", chosen["S"], "smooth"),
        ("I", chosen["I"], "intermittent"),
    }
    # the same backtest as forecast_accuracy and backtest_rmse
    acc = result.accuracy.set_index("sku_id")
    summary = result.summary.set_index("sku_id")
    for sku, g in errors[~errors["censored"]].groupby("sku_id"):
        err = g["forecast"] - g["actual"]
        assert acc.loc[sku, "backtest_days"] == len(g)
        assert acc.loc[sku, "wape"] == pytest.approx(err.abs().sum() / g["actual"].sum())
        assert summary.loc[sku, "backtest_rmse"] == pytest.approx(math.sqrt((err**2).mean()))
    # saved, loaded, concatenated and calibrated like the other frames
    result.save(tmp_path, "batch0000")
    loaded = fc.ForecastResult.load(tmp_path, "batch0000")
    pd.testing.assert_frame_equal(loaded.backtest_errors, errors)
    both = fc.ForecastResult.concat([loaded, loaded])
    assert len(both.backtest_errors) == 2 * len(errors)
    assert fc.calibrate(result, 0.8).backtest_errors is result.backtest_errors


def test_backtest_errors_empty_with_columns_when_nothing_is_backtested(tmp_path):
    rng = np.random.default_rng(4)
    demand = _demand("S", rng.poisson(5, len(DAYS)))
    cfg = fc.ForecastConfig(run_date=RUN_DATE, horizon_days=7, backtest_days=0)
    result = fc.forecast_frames(["S"], demand, NO_STOCKOUTS, NO_PROMOS, cfg)
    assert result.backtest_errors.empty
    assert list(result.backtest_errors.columns) == fc.BACKTEST_ERROR_COLUMNS
    result.save(tmp_path, "x")
    loaded = fc.ForecastResult.load(tmp_path, "x")
    assert list(loaded.backtest_errors.columns) == fc.BACKTEST_ERROR_COLUMNS
    assert fc.ForecastResult.concat([loaded]).backtest_errors.empty
