"""Forecast stage: routing, censoring, promotions, fallback; small known series."""

from __future__ import annotations

import dataclasses
import datetime as dt
import doctest
import importlib
import multiprocessing

import numpy as np
import pandas as pd
import pytest

from replenishment import forecast as fc
from replenishment.forecast.calibrate import conformal_quantiles

RUN_DATE = dt.date(2026, 7, 1)
DAYS = pd.date_range(end=pd.Timestamp(RUN_DATE) - pd.Timedelta(days=1), periods=800, freq="D")


def _demand(sku: str, y: np.ndarray, dates: pd.DatetimeIndex = DAYS) -> pd.DataFrame:
    frame = pd.DataFrame({"sku_id": sku, "ds": dates, "y": y.astype(float)})
    return frame[frame["y"] > 0]


def _empty(*cols: str) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in cols})


NO_PROMOS = pd.DataFrame(
    {
        "sku_id": pd.Series(dtype=str),
        "start_date": pd.Series(dtype="datetime64[ns]"),
        "end_date": pd.Series(dtype="datetime64[ns]"),
    }
)
NO_STOCKOUTS = pd.DataFrame(
    {"sku_id": pd.Series(dtype=str), "ds": pd.Series(dtype="datetime64[ns]")}
)


def test_classify_syntetos_boylan_classes():
    rng = np.random.default_rng(1)
    smooth = rng.poisson(20, 400).astype(float)
    erratic = rng.choice([1.0, 2.0, 60.0], size=400)
    intermittent = np.where(rng.random(400) < 0.2, 5.0, 0.0)
    lumpy = np.where(rng.random(400) < 0.2, rng.choice([1.0, 40.0], size=400), 0.0)
    assert fc.classify(smooth, 56)[0] == "smooth"
    assert fc.classify(erratic, 56)[0] == "erratic"
    assert fc.classify(intermittent, 56)[0] == "intermittent"
    assert fc.classify(lumpy, 56)[0] == "lumpy"
    assert fc.classify(smooth[:30], 56)[0] == "short"
    assert fc.classify(np.zeros(100), 56)[0] == "none"
    assert fc.model_for_class("lumpy") == "sba" and fc.model_for_class("smooth") == "prophet"


def test_sba_textbook_value():
    # demand of 4 every 4th day: size 4, interval 4 -> SBA rate (1 - 0.05) * 4 / 4 = 0.95
    y = np.tile([0.0, 0.0, 0.0, 4.0], 50)
    assert fc.sba(y, 3) == pytest.approx(np.full(3, 0.95))


def test_seasonal_naive_repeats_last_week_and_fills_censored():
    y = np.array([1, 2, 3, 4, 5, 6, 7, 10, 20, 30, np.nan, 50, 60, 70], dtype=float)
    out = fc.seasonal_naive(y, 9)
    assert out[:7].tolist() == [10, 20, 30, 40, 50, 60, 70]
    assert out[7:].tolist() == [10, 20]


def test_build_series_fills_zeros_and_censors_stockouts():
    y = np.zeros(len(DAYS))
    y[::2] = 5
    stockouts = pd.DataFrame({"sku_id": "A", "ds": DAYS[10:13]})
    (s,) = fc.build_series(["A"], _demand("A", y), stockouts, NO_PROMOS, RUN_DATE, 7)
    assert s.dates[0] == DAYS[0] and s.dates[-1] == DAYS[-1]
    assert np.isnan(s.y[10:13]).all()
    assert s.y[1] == 0 and s.y[0] == 5
    assert list(s.future_dates.date) == [RUN_DATE + dt.timedelta(days=i) for i in range(7)]


def test_planned_promotion_raises_forecast_on_its_days_only():
    rng = np.random.default_rng(3)
    promo = np.zeros(len(DAYS))
    for start in range(30, len(DAYS) - 10, 60):
        promo[start : start + 7] = 1
    y = rng.poisson(30 * (1 + 1.0 * promo))
    planned = pd.DataFrame(
        {
            "sku_id": "P",
            "start_date": [DAYS[s] for s in range(30, len(DAYS) - 10, 60)]
            + [pd.Timestamp(RUN_DATE) + pd.Timedelta(days=10)],
        }
    )
    planned["end_date"] = planned["start_date"] + pd.Timedelta(days=6)
    cfg = fc.ForecastConfig(run_date=RUN_DATE, horizon_days=28, backtest_days=0)
    result = fc.forecast_frames(["P"], _demand("P", y), NO_STOCKOUTS, planned, cfg)
    f = result.forecast
    on = f[f["promo"] == 1]["yhat"]
    off = f[f["promo"] == 0]["yhat"]
    assert len(on) == 7
    assert on.min() > off.max()
    assert on.mean() / off.mean() == pytest.approx(2.0, rel=0.25)
    assert result.summary["promo_uplift"].iloc[0] == pytest.approx(1.0, rel=0.2)
    assert (f["model"] == "prophet").all()


def test_failing_model_falls_back_and_is_counted(monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("Stan optimisation failed")

    monkeypatch.setattr(fc._ProphetModel, "fit_predict", boom)
    monkeypatch.setenv("REPLENISHMENT_PROPHET_SOLVER", "stan")  # the Stan path is what fails
    rng = np.random.default_rng(4)
    demand = pd.concat(
        [_demand("BAD", rng.poisson(10, len(DAYS))), _demand("SLOW", np.tile([0, 0, 0, 0, 2], 160))]
    )
    cfg = fc.ForecastConfig(run_date=RUN_DATE, horizon_days=14)
    result = fc.forecast_frames(["BAD", "SLOW"], demand, NO_STOCKOUTS, NO_PROMOS, cfg)
    summary = result.summary.set_index("sku_id")
    # backtested: the failed Prophet leaves the contest to the other candidates
    assert summary.loc["BAD", "failed"] == 1 and "prophet" not in summary.loc["BAD", "model"]
    assert "Stan optimisation failed" in summary.loc["BAD", "error"]
    assert summary.loc["SLOW", "failed"] == 0
    assert len(result.forecast) == 28 and (result.forecast["yhat"] >= 0).all()
    # not backtested, no global model: the chain of candidates runs to the fallback
    plain = dataclasses.replace(cfg, backtest_days=0, global_model=False, only=("prophet",))
    result = fc.forecast_frames(["BAD"], demand, NO_STOCKOUTS, NO_PROMOS, plain)
    row = result.summary.iloc[0]
    assert row["failed"] == 1 and row["model"] == "seasonal_naive"
    assert result.accuracy.iloc[0]["selection"] == "fallback"


def test_intervals_and_backtest_metrics():
    rng = np.random.default_rng(5)
    y = rng.poisson(12, len(DAYS)).astype(float)
    cfg = fc.ForecastConfig(
        run_date=RUN_DATE,
        horizon_days=7,
        backtest_days=28,
        interval_width=0.8,
        backtest_every_days=1,
    )
    result = fc.forecast_frames(["S"], _demand("S", y), NO_STOCKOUTS, NO_PROMOS, cfg)
    acc = result.accuracy.iloc[0]
    assert acc["backtest_days"] == 28
    assert 0 < acc["wape"] < 0.5 and acc["wape"] < acc["baseline_wape"]
    result = fc.calibrate(result, 0.8)
    sigma = result.summary["sigma_daily"].iloc[0]
    assert sigma == pytest.approx(np.sqrt(12), rel=0.3)  # Poisson noise
    # split conformal: the held-out errors over the backtest fit's in-sample sigma, their
    # 10 % and 90 % order statistics times the SKU's in-sample sigma around yhat
    e = result.backtest_errors
    scores = ((e["actual"] - e["forecast"]) / e["scale"]).to_numpy()
    lo, hi = conformal_quantiles(scores, 0.8)
    assert lo < 0 < hi
    f = result.forecast
    s = result.summary["in_sample_sigma"].iloc[0]
    assert np.allclose(f["yhat_upper"], f["yhat"] + hi * s)
    assert np.allclose(f["yhat_lower"], np.clip(f["yhat"] + lo * s, 0, None))
    inside = (e["forecast"] + lo * e["scale"] <= e["actual"]) & (
        e["actual"] <= e["forecast"] + hi * e["scale"]
    )
    # at least 80 % of the calibration days by construction (the finite-sample correction)
    assert 0.8 <= inside.mean() <= 0.95


def test_subprocess_workers_give_the_same_result():
    rng = np.random.default_rng(6)
    ids = [f"S{i}" for i in range(16)]
    demand = pd.concat([_demand(s, rng.poisson(5 + i, len(DAYS))) for i, s in enumerate(ids)])
    cfg = fc.ForecastConfig(run_date=RUN_DATE, horizon_days=7, backtest_days=0)
    one = fc.forecast_frames(ids, demand, NO_STOCKOUTS, NO_PROMOS, cfg, workers=1)
    two = fc.forecast_frames(ids, demand, NO_STOCKOUTS, NO_PROMOS, cfg, workers=2)
    a = one.forecast.sort_values(["sku_id", "forecast_date"]).reset_index(drop=True)
    b = two.forecast.sort_values(["sku_id", "forecast_date"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9)


def _in_daemonic_process(target, *args) -> str:
    """Run ``target(*args)`` in a daemonic process, as Celery's prefork pool does; its outcome."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()

    def child() -> None:
        try:
            queue.put(f"ok {target(*args)}")
        except BaseException as exc:  # reported to the parent, which asserts on it
            queue.put(f"{type(exc).__name__}: {exc}")

    proc = ctx.Process(target=child, daemon=True)
    proc.start()
    try:
        return queue.get(timeout=300)
    finally:
        proc.join(timeout=60)


def _pool_map() -> int:
    with multiprocessing.get_context("fork").Pool(2) as pool:
        return sum(pool.map(abs, [1, -2]))


def test_worker_processes_work_inside_a_daemonic_process():
    # the constraint is real here: multiprocessing cannot start children in a daemon
    assert "daemonic processes are not allowed to have children" in _in_daemonic_process(_pool_map)
    rng = np.random.default_rng(9)
    ids = [f"D{i}" for i in range(16)]
    demand = pd.concat([_demand(s, rng.poisson(6, len(DAYS))) for s in ids])
    cfg = fc.ForecastConfig(run_date=RUN_DATE, horizon_days=7, backtest_days=0)

    def two_workers() -> int:
        result = fc.forecast_frames(ids, demand, NO_STOCKOUTS, NO_PROMOS, cfg, workers=2)
        return int(result.forecast["sku_id"].nunique())

    assert _in_daemonic_process(two_workers) == "ok 16"


def test_backtest_rotation_and_calibrated_spread():
    rng = np.random.default_rng(8)
    ids = [f"R{i:02d}" for i in range(28)]
    demand = pd.concat([_demand(s, rng.poisson(10, len(DAYS))) for s in ids])
    cfg = fc.ForecastConfig(run_date=RUN_DATE, horizon_days=7, backtest_every_days=7)
    raw = fc.forecast_frames(ids, demand, NO_STOCKOUTS, NO_PROMOS, cfg)
    tested = raw.summary["backtest_rmse"].notna()
    assert 0 < tested.sum() < len(ids)  # about one SKU in seven
    assert (
        raw.accuracy.set_index("sku_id").loc[raw.summary.loc[tested, "sku_id"], "backtest_days"]
        == 28
    ).all()
    out = fc.calibrate(raw, 0.8)
    s = out.summary.set_index("sku_id")
    ratio = (raw.summary["backtest_rmse"] / raw.summary["in_sample_sigma"])[tested].median()
    untested = raw.summary.loc[~tested, "sku_id"]
    expected = raw.summary.set_index("sku_id").loc[untested, "in_sample_sigma"] * ratio
    assert np.allclose(s.loc[untested, "sigma_daily"], expected)
    assert (s["sigma_daily"] > 0).all()
    # a backtested SKU: the stage's sigma_daily (a contest winner's is raised) shrunk toward
    # the prior the untested ones get, with 28 observed days against PRIOR_DAYS (28)
    tested_ids = raw.summary.loc[tested, "sku_id"]
    stage = raw.summary.set_index("sku_id").loc[tested_ids]
    prior = stage["in_sample_sigma"] * ratio
    assert np.allclose(
        s.loc[tested_ids, "sigma_daily"], np.sqrt((stage["sigma_daily"] ** 2 + prior**2) / 2)
    )
    raised = raw.summary.assign(sigma_daily=raw.summary["sigma_daily"] * np.where(tested, 2.0, 1.0))
    again = fc.calibrate(dataclasses.replace(raw, summary=raised), 0.8).summary.set_index("sku_id")
    assert np.allclose(
        again.loc[tested_ids, "sigma_daily"],
        np.sqrt(((2 * stage["backtest_rmse"]) ** 2 + prior**2) / 2),
    )
    f = out.forecast.merge(s[["in_sample_sigma"]].reset_index(), on="sku_id")
    e = raw.backtest_errors
    _, hi = conformal_quantiles(((e["actual"] - e["forecast"]) / e["scale"]).to_numpy(), 0.8)
    assert np.allclose(f["yhat_upper"] - f["yhat"], hi * f["in_sample_sigma"])
    # next day, another slice of SKUs is backtested
    nxt = fc.forecast_frames(
        ids,
        demand,
        NO_STOCKOUTS,
        NO_PROMOS,
        fc.ForecastConfig(
            run_date=RUN_DATE + dt.timedelta(days=1), horizon_days=7, backtest_every_days=7
        ),
    )
    assert set(nxt.summary.loc[nxt.summary["backtest_rmse"].notna(), "sku_id"]).isdisjoint(
        set(raw.summary.loc[tested, "sku_id"])
    )


def test_a_holdouts_spread_is_shrunk_toward_the_models_prior() -> None:
    cal = importlib.import_module("replenishment.forecast.calibrate")

    own = np.array([1.0, 4.0, 2.0, 2.0])
    days = np.array([28.0, 28.0, 0.0, 10.0])
    prior = np.array([3.0, np.nan, 5.0, 2.0])
    got = cal.shrunk_sigma(own, days, prior)
    assert got[0] == pytest.approx(np.sqrt((28 * 1 + 28 * 9) / 56))
    assert got[1] == 4.0  # no prior: its own value
    assert got[2] == pytest.approx(5.0)  # no observed day: the prior
    assert got[3] == pytest.approx(2.0)  # agreeing values stay
    # lumpy errors: 28 days hold a handful of lumps, so one holdout's RMSE scatters widely;
    # shrunk toward a prior at the true level, the estimates scatter less and fall short
    # of the truth less often (the safety stock is hurt most by an underestimate)
    rng = np.random.default_rng(3)
    errors = rng.binomial(1, 0.15, (2000, 28)) * rng.gamma(1.0, 8.0, (2000, 28))
    errors = errors - errors.mean()
    truth = float(errors.std())
    holdout = np.sqrt((errors**2).mean(axis=1))
    shrunk = cal.shrunk_sigma(holdout, np.full(2000, 28.0), np.full(2000, truth))
    assert np.std(np.log(shrunk)) < 0.6 * np.std(np.log(holdout))
    assert (shrunk < 0.7 * truth).mean() < (holdout < 0.7 * truth).mean() / 2
    assert doctest.testmod(cal).failed == 0
