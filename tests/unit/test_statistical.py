"""The hand-written statistical models (replenishment.forecast.statistical): golden forecasts
of Nixtla statsforecast 2.1, the properties every model keeps, and the batch hook.

The golden numbers were computed once with statsforecast 2.1.1 (numpy 2.4.6, pandas 2.3.3)
in a side virtualenv by scripts/statsforecast_goldens.py, on the fixed series of its
``golden_series`` (one seeded numpy generator; this test loads that file, numpy only).
Tolerances: exact to float rounding where the algorithm is deterministic (TSB with given
alphas; ADIDA and IMAPA, whose one-dimensional SES search we resolve as finely as
statsforecast's golden section); within 1e-4 for Theta (Nelder-Mead over two parameters,
one of which, the initial level, we solve exactly) and 0.5% / 3% per day for ETS(A,N,A)
on the two-year / 60-day series (Nelder-Mead over ten parameters against our grid plus
least-squares initial states; either optimum is as good to 1% of the squared errors).
"""

from __future__ import annotations

import doctest
import importlib.util
import math
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from replenishment.forecast import statistical as st
from replenishment.forecast.models import (
    MODELS,
    Failed,
    Fitted,
    History,
    Horizon,
    Job,
    ModelContext,
)

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "statsforecast_goldens.py"
NAMES = ("ets", "theta", "tsb", "adida", "imapa")
CONTEXT = ModelContext(holidays=None, interval_width=0.9)
END = pd.Timestamp("2026-06-30")


def _goldens_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("statsforecast_goldens", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _values(text: str) -> np.ndarray:
    return np.array(text.split(), dtype=float)


#: statsforecast 2.1.1's 28-day forecasts (scripts/statsforecast_goldens.py); ETS's repeat weekly
GOLDEN = {
    ("smooth", "ets"): np.tile(
        _values(
            "24.99259579 25.09703319 27.86385442 34.53603579 20.48106098 20.54335235 22.77088267"
        ),
        4,
    ),
    ("short", "ets"): np.tile(
        _values("9.81395058 10.27577347 7.10250882 5.94909241 6.60696021 7.97236921 7.66564749"), 4
    ),
    ("smooth", "theta"): _values(
        """25.77904858 25.86135837 28.92188858 36.76483170 20.66305072 20.68625611 23.38780304
        25.81167454 25.89408259 28.95847889 36.81133605 20.68918298 20.71241299 23.41737057
        25.84430050 25.92680681 28.99506920 36.85784039 20.71531523 20.73856987 23.44693810
        25.87692647 25.95953102 29.03165951 36.90434474 20.74144749 20.76472675 23.47650563"""
    ),
    ("short", "theta"): _values(
        """7.62990520 7.62564013 7.62137505 7.61710998 7.61284491 7.60857983 7.60431476
        7.60004969 7.59578461 7.59151954 7.58725447 7.58298939 7.57872432 7.57445924
        7.57019417 7.56592910 7.56166402 7.55739895 7.55313388 7.54886880 7.54460373
        7.54033866 7.53607358 7.53180851 7.52754343 7.52327836 7.51901329 7.51474821"""
    ),
    ("intermittent", "tsb"): np.full(28, 1.53267755562),
    ("intermittent", "adida"): np.full(28, 1.096920347256),
    ("intermittent", "imapa"): np.full(28, 1.211775000699),
    ("lumpy", "tsb"): np.full(28, 0.581759646876),
    ("lumpy", "adida"): np.full(28, 1.057529367048),
    ("lumpy", "imapa"): np.full(28, 1.274407408585),
}
#: relative tolerance per day of each golden
RTOL = {
    ("smooth", "ets"): 5e-3,
    ("short", "ets"): 3e-2,
    ("smooth", "theta"): 1e-4,
    ("short", "theta"): 1e-4,
    "tsb": 1e-10,
    "adida": 1e-8,
    "imapa": 1e-8,
}


def _job(y: np.ndarray, holdout: int = 0, steps: int = 28, sku: str = "s") -> Job:
    dates = pd.date_range(end=END, periods=y.size, freq="D")
    history = History(dates, y, np.zeros(y.size))
    future = pd.date_range(END + pd.Timedelta(days=1), periods=steps, freq="D")
    horizon = Horizon(future, np.zeros(steps))
    if not holdout:
        return Job(sku, history, horizon)
    train = History(dates[:-holdout], y[:-holdout], np.zeros(y.size - holdout))
    return Job(sku, history, horizon, (train, Horizon(dates[-holdout:], np.zeros(holdout))))


def _mixed_series() -> list[np.ndarray]:
    """Smooth, intermittent, short, censored and degenerate series, deterministic."""
    rng = np.random.default_rng(7)
    t = np.arange(1100)
    smooth = rng.poisson(12 * (1 + 0.3 * np.sin(2 * np.pi * t / 7))).astype(float)
    sparse = (rng.random(1100) < 0.15) * rng.poisson(3.0, 1100).astype(float)
    censored = smooth.copy()
    censored[300:420] = np.nan  # a long stock-out
    censored[:5] = np.nan
    return [
        smooth,
        sparse,
        censored,
        smooth[-60:],
        sparse[-60:],
        np.zeros(200),
        np.full(30, np.nan),
    ]


def test_module_doctests_pass() -> None:
    result = doctest.testmod(st, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 20
    assert result.failed == 0


def test_the_models_are_registered() -> None:
    for name in NAMES:
        assert MODELS[name].name == name
        assert MODELS[name].__module__ == st.__name__


@pytest.mark.parametrize("key", list(GOLDEN), ids=lambda k: "-".join(k))
def test_forecasts_agree_with_statsforecast(key: tuple[str, str]) -> None:
    series, model = key
    y = _goldens_script().golden_series()[series]
    mean, sigma = MODELS[model].batch([y], 28)  # type: ignore[attr-defined]
    np.testing.assert_allclose(mean[0], GOLDEN[key], rtol=RTOL.get(key, RTOL.get(model)))
    assert np.isfinite(sigma).all() and sigma[0] > 0


@pytest.mark.parametrize("name", NAMES)
def test_all_zeros_forecast_zeros(name: str) -> None:
    mean, sigma = MODELS[name].batch([np.zeros(400), np.zeros(60)], 28)  # type: ignore[attr-defined]
    np.testing.assert_allclose(mean, 0.0, atol=1e-12)
    np.testing.assert_allclose(sigma, 0.0, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_degenerate_and_censored_series_give_finite_forecasts(name: str) -> None:
    ys = [*_mixed_series(), np.array([]), np.array([5.0]), np.array([0.0, 0.0, 3.0])]
    mean, sigma = st.run_batched(MODELS[name].batch, ys, 28)  # type: ignore[attr-defined]
    assert mean.shape == (len(ys), 28)
    assert np.isfinite(mean).all() and np.isfinite(sigma).all() and (sigma >= 0).all()
    assert (np.clip(mean, 0, None) >= 0).all()
    # a smooth series' level is kept through its long stock-out
    assert abs(mean[2].mean() - mean[0].mean()) < 0.2 * mean[0].mean()


@pytest.mark.parametrize("name", ["tsb", "adida", "imapa"])
def test_intermittent_models_drop_censored_days(name: str) -> None:
    y = _mixed_series()[1].copy()
    y[100:250] = np.nan
    batch = MODELS[name].batch  # type: ignore[attr-defined]
    np.testing.assert_allclose(batch([y], 28)[0], batch([y[~np.isnan(y)]], 28)[0], rtol=1e-12)


@pytest.mark.parametrize("name", ["ets", "theta"])
def test_smooth_models_impute_censored_days_with_last_week(name: str) -> None:
    y = _mixed_series()[2]
    batch = MODELS[name].batch  # type: ignore[attr-defined]
    filled = st.fill_censored(y)
    assert not np.isnan(filled).any()
    np.testing.assert_array_equal(filled[300:420], filled[293:413])
    np.testing.assert_allclose(batch([y], 28)[0], batch([filled], 28)[0], rtol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_forecast_many_equals_per_job_runs_with_and_without_holdout(name: str) -> None:
    cls = MODELS[name]
    jobs = [
        _job(y, holdout=28 if i % 2 == 0 and y.size > 56 else 0, sku=f"s{i}")
        for i, y in enumerate(_mixed_series())
    ]
    outcomes = cls.forecast_many(jobs, CONTEXT)
    assert len(outcomes) == len(jobs)
    for job, outcome in zip(jobs, outcomes, strict=True):
        assert isinstance(outcome, Fitted), outcome
        backtest, future = cls(CONTEXT).run(job)
        # equal but for float rounding (a batch's padding changes summation orders)
        np.testing.assert_allclose(outcome.future.mean, future.mean, rtol=1e-6, atol=1e-6)
        assert math.isclose(outcome.future.in_sample_sigma, future.in_sample_sigma, rel_tol=1e-6)
        assert outcome.future.mean.size == 28
        if job.holdout is None:
            assert outcome.backtest is None and backtest is None
            continue
        # the backtest is the fit on the history less its held-out days, for those days
        assert outcome.backtest is not None and backtest is not None
        train, held = job.holdout
        alone = cls.batch([train.y], len(held.dates))[0][0]  # type: ignore[attr-defined]
        np.testing.assert_allclose(outcome.backtest.mean, alone, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(backtest.mean, alone, rtol=1e-6, atol=1e-6)
    assert cls.forecast_many([], CONTEXT) == []


def test_a_bad_series_fails_alone() -> None:
    good = _mixed_series()[0]
    bad = good.copy()
    bad[500] = np.inf
    outcomes = MODELS["ets"].forecast_many([_job(good), _job(bad), _job(good)], CONTEXT)
    assert [type(o) for o in outcomes] == [Fitted, Failed, Fitted]


def test_a_raising_batch_is_run_one_series_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    def fragile(ys: list[np.ndarray], steps: int) -> tuple[np.ndarray, np.ndarray]:
        if any(y.size == 13 for y in ys):
            raise ValueError("13 days")
        return st.tsb(ys, steps)

    monkeypatch.setattr(MODELS["tsb"], "batch", staticmethod(fragile))
    y = _mixed_series()[1]
    outcomes = MODELS["tsb"].forecast_many([_job(y), _job(y[:13]), _job(y, holdout=28)], CONTEXT)
    assert [type(o) for o in outcomes] == [Fitted, Failed, Fitted]
    assert isinstance(outcomes[1], Failed) and "13 days" in str(outcomes[1].error)
