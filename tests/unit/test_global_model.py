"""The global LightGBM model: one fit across SKUs, no leakage past the cut-off, the
promotion flag and the weekly shape learned across SKUs, the cold start borrowing its
level from the category, and per-SKU selection with its stability rule."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from replenishment.forecast.global_model import GlobalForecast, _shrunk_scale, fit_global
from replenishment.forecast.models import Fitted, Prediction
from replenishment.forecast.select import SELECTION_MARGIN, select
from replenishment.forecast.series import SkuSeries

RUN_DATE = dt.date(2026, 7, 1)
HORIZON = 28
WEEKLY = np.array([1.0, 0.8, 0.8, 0.9, 1.1, 1.6, 1.8])  # Monday .. Sunday


def _series(sku: str, level: float, days: int, rng: np.random.Generator, promo_every: int = 0):
    end = pd.Timestamp(RUN_DATE) - pd.Timedelta(days=1)
    dates = pd.date_range(end=end, periods=days, freq="D")
    future = pd.date_range(pd.Timestamp(RUN_DATE), periods=HORIZON, freq="D")
    all_days = dates.append(future)
    promo = np.zeros(len(all_days))
    if promo_every:
        for start in range(3, len(all_days), promo_every):
            promo[start : start + 4] = 1.0
    mean = level * WEEKLY[all_days.dayofweek] * (1 + 1.0 * promo)
    y = rng.poisson(mean).astype(float)
    return (
        SkuSeries(sku, dates, y[:days], promo[:days], future, promo[days:]),
        mean[days:],
    )


@pytest.fixture(scope="module")
def panel():
    rng = np.random.default_rng(3)
    series, truth = [], {}
    for i in range(40):
        s, future_mean = _series(f"A-{i}", 5 + i % 7, 500, rng, promo_every=37 + i % 5)
        series.append(s)
        truth[s.sku_id] = future_mean
    categories = {s.sku_id: "A" for s in series}
    return series, truth, categories


def test_one_fit_predicts_every_sku_with_the_weekly_shape_and_the_promotion(panel):
    series, truth, categories = panel
    g = fit_global(series, 28, None, categories, threads=1)
    assert set(g.future) == {s.sku_id for s in series} == set(g.backtest)
    errors, naive = [], []
    for s in series:
        f = g.future[s.sku_id]
        assert f.shape == (HORIZON,) and np.all(np.isfinite(f)) and np.all(f >= 0)
        errors.append(np.abs(f - truth[s.sku_id]).sum() / truth[s.sku_id].sum())
        flat = np.full(HORIZON, np.nanmean(s.y[-28:]))
        naive.append(np.abs(flat - truth[s.sku_id]).sum() / truth[s.sku_id].sum())
    # against the true mean: the global model learns the weekly shape and the promotions
    assert np.mean(errors) < 0.6 * np.mean(naive)
    promo_days = series[0].promo_future > 0
    if promo_days.any():
        f = g.future[series[0].sku_id]
        assert f[promo_days].mean() > 1.4 * f[~promo_days].mean()


def test_the_holdout_prediction_does_not_see_the_holdout(panel):
    series, _, categories = panel
    g = fit_global(series, 28, None, categories)
    changed = []
    for s in series:
        y = s.y.copy()
        y[-28:] *= 50  # the holdout days: no feature of the holdout may use them
        changed.append(
            SkuSeries(s.sku_id, s.dates, y, s.promo_history, s.future_dates, s.promo_future)
        )
    h = fit_global(changed, 28, None, categories)
    for s in series:
        np.testing.assert_allclose(g.backtest[s.sku_id], h.backtest[s.sku_id], rtol=1e-9)


def test_cold_start_borrows_the_category_level_and_the_shape(panel):
    series, _, categories = panel
    rng = np.random.default_rng(11)
    big = [_series(f"B-{i}", 60.0, 500, rng)[0] for i in range(20)]
    new, _ = _series("B-new", 60.0, 10, rng)
    cats = {**categories, **{s.sku_id: "B" for s in big}, "B-new": "B"}
    g = fit_global([*series, *big, new], 28, None, cats)
    f = g.future["B-new"]
    assert 35 < f.mean() < 90  # the category's level, not the A SKUs' 5-11 units/day
    by_dow = pd.Series(f).groupby(new.future_dates.dayofweek).mean()
    assert by_dow.loc[[5, 6]].mean() > 1.3 * by_dow.loc[[1, 2]].mean()  # weekend peak
    assert "B-new" not in g.backtest  # no history before its holdout


def test_shrinkage_rule():
    scale = _shrunk_scale(np.array([2.0, 4.0, 10.0]), np.array([400, 400, 14]), np.zeros(3, int))
    assert scale[2] == pytest.approx((14 * 10 + 56 * 3.0) / 70)


def test_round_trip_through_staging_frame(panel):
    series, _, categories = panel
    g = fit_global(series[:5], 28, None, categories)
    back = GlobalForecast.from_frame(g.to_frame())
    assert set(back.future) == set(g.future)
    for k in g.future:
        np.testing.assert_allclose(back.future[k], g.future[k])
        np.testing.assert_allclose(back.backtest[k], g.backtest[k])
        assert back.sigma[k] == pytest.approx(g.sigma[k])


def _fit(values: list[float]) -> Fitted:
    p = Prediction(np.array(values), 1.0)
    return Fitted(p, p, 0.0)


def test_selection_margin_keeps_the_incumbent_on_noise():
    actual = np.array([10.0, 10.0, np.nan, 10.0])
    near = 1 - SELECTION_MARGIN / 2  # a challenger better by half the margin
    fits = {"prophet": _fit([8.0] * 4), "ets": _fit([10 - 2 * near] * 4)}
    assert select("prophet", fits, actual).model == "prophet"
    fits["ets"] = _fit([9.0] * 4)
    won = select("prophet", fits, actual)
    assert won.model in {"ets", "prophet+ets"} and won.selection == "backtest"


def test_blend_wins_when_errors_cancel_and_failed_incumbent_is_replaced():
    actual = np.array([10.0] * 4)
    fits = {"prophet": _fit([8.0] * 4), "lightgbm": _fit([12.0] * 4)}
    won = select("prophet", fits, actual)
    assert won.model == "lightgbm+prophet" or won.model == "prophet+lightgbm"
    np.testing.assert_allclose(won.fitted.future.mean, 10.0)
    only = select("prophet", {"ets": _fit([9.0] * 4)}, actual)
    assert only.model == "ets" and only.selection == "backtest"


def test_holdout_with_no_demand_keeps_the_incumbent():
    won = select("sba", {"sba": _fit([1.0] * 3), "tsb": _fit([0.0] * 3)}, np.zeros(3))
    assert won.model == "sba" and won.selection == "incumbent"


def _frames(series):
    demand = pd.concat(
        pd.DataFrame({"sku_id": s.sku_id, "ds": s.dates, "y": s.y}).query("y > 0") for s in series
    )
    stockouts = pd.DataFrame({"sku_id": pd.Series(dtype=str), "ds": pd.Series(dtype="M8[ns]")})
    promotions = pd.DataFrame(
        {"sku_id": pd.Series(dtype=str)}
        | {c: pd.Series(dtype="M8[ns]") for c in ("start_date", "end_date")}
    )
    return demand, stockouts, promotions


@pytest.fixture(scope="module")
def contest(panel):
    from replenishment import forecast as fc

    series, _, categories = panel
    demand, stockouts, promotions = _frames(series[:12])
    cfg = fc.ForecastConfig(run_date=RUN_DATE, horizon_days=HORIZON)
    ids = [s.sku_id for s in series[:12]]
    return fc.forecast_frames(ids, demand, stockouts, promotions, cfg, categories=categories)


def test_every_backtested_sku_holds_a_contest_and_says_how_it_was_chosen(contest):
    acc = contest.accuracy.set_index("sku_id")
    assert (acc["demand_class"] == "smooth").all()
    assert set(acc["selection"]) <= {"default", "backtest"}
    assert (acc["incumbent"] == "prophet+lightgbm").all()
    for row in acc.itertuples():
        names = [part.split(" ")[0] for part in row.candidate_wapes.split("; ")]
        assert {"prophet", "lightgbm", "ets", "theta", "prophet+lightgbm"} <= set(names)
        assert row.fva == pytest.approx(1 - row.wape / row.baseline_wape)
        summary = contest.summary.set_index("sku_id").loc[row.Index]
        if row.selection == "default":
            assert row.model == "prophet+lightgbm" and row.wape == pytest.approx(row.incumbent_wape)
            assert summary["sigma_daily"] == pytest.approx(summary["backtest_rmse"])
        else:  # replaced only by a candidate 20 % better on the holdout
            assert row.wape < (1 - SELECTION_MARGIN) * row.incumbent_wape
            # its safety stock keeps the default's error level (runner.contest_sigma)
            assert summary["sigma_daily"] == pytest.approx(
                summary["backtest_rmse"] * row.incumbent_wape / row.wape
            )
    models = contest.summary.set_index("sku_id")["model"]
    per_sku = contest.forecast.groupby("sku_id")["model"].first()
    assert per_sku.sort_index().equals(models.sort_index())
    assert (contest.summary["failed"] == 0).all()


def test_a_failing_challenger_is_dropped_not_counted(panel, monkeypatch):
    from replenishment import forecast as fc
    from replenishment.forecast import statistical

    def boom(*args, **kwargs):
        raise RuntimeError("theta broke")

    monkeypatch.setattr(statistical.ThetaModel, "batch", staticmethod(boom))
    series, _, categories = panel
    demand, stockouts, promotions = _frames(series[:3])
    cfg = fc.ForecastConfig(run_date=RUN_DATE, horizon_days=HORIZON, only=("prophet", "theta"))
    ids = [s.sku_id for s in series[:3]]
    result = fc.forecast_frames(ids, demand, stockouts, promotions, cfg, categories=categories)
    assert (result.summary["failed"] == 0).all()  # the class's own model did not fail
    assert (result.summary["model"] == "prophet").all()
    assert result.accuracy["candidate_wapes"].str.startswith("prophet").all()
    assert (result.accuracy["selection"] == "incumbent").all()


def test_a_global_fit_that_fails_leaves_the_batch_to_the_other_models(panel, monkeypatch, caplog):
    from replenishment import forecast as fc
    from replenishment.forecast import workers

    def no_openmp(*args, **kwargs):
        raise OSError("libgomp.so.1: cannot open shared object file")

    monkeypatch.setattr(workers, "fit_global", no_openmp)
    series, _, categories = panel
    demand, stockouts, promotions = _frames(series[:3])
    cfg = fc.ForecastConfig(run_date=RUN_DATE, horizon_days=HORIZON)
    ids = [s.sku_id for s in series[:3]]
    result = fc.forecast_frames(ids, demand, stockouts, promotions, cfg, categories=categories)
    assert len(result.summary) == 3 and (result.summary["failed"] == 0).all()
    assert not result.summary["model"].str.contains("lightgbm").any()
    assert "global model not fitted (OSError: libgomp.so.1" in caplog.text


def test_a_contest_winner_keeps_the_defaults_error_level(panel):
    from replenishment.forecast import ForecastConfig
    from replenishment.forecast.runner import Chosen, assemble, default_model, plan_series

    series, _, _ = panel
    cfg = ForecastConfig(run_date=RUN_DATE, horizon_days=HORIZON)
    plan = plan_series(series[0], cfg)
    assert plan.holdout_days > 0 and default_model(plan) == "prophet+lightgbm"
    held = series[0].y[-plan.holdout_days :]
    fit = Fitted(Prediction(held + 2.0, 1.0), Prediction(np.full(HORIZON, 5.0), 1.0), 0.0)
    wapes = {"prophet+lightgbm": 0.5, "ets": 0.25}

    def summary(selection: str) -> dict:
        chosen = Chosen("ets", fit, False, "", 0.0, selection, wapes)
        return assemble(plan, chosen, cfg, 1.28)[2]

    won, kept = summary("backtest"), summary("default")
    assert kept["backtest_rmse"] == pytest.approx(2.0) == kept["sigma_daily"]
    # chosen on this holdout: its own holdout error is optimistic; the default's level
    assert won["backtest_rmse"] == pytest.approx(2.0)
    assert won["sigma_daily"] == pytest.approx(2.0 * 0.5 / 0.25)
