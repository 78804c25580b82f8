"""The lean Stan path and memoised features change speed, never results."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from prophet import Prophet

from replenishment.forecast import holidays_frame
from replenishment.stan_fast import LeanProphet


def _fit(cls: type, train: pd.DataFrame, future: pd.DataFrame, holidays: pd.DataFrame):
    m = cls(
        yearly_seasonality=True,
        weekly_seasonality=True,
        seasonality_mode="multiplicative",
        holidays=holidays,
        uncertainty_samples=0,
    )
    m.add_regressor("promo", standardize=False, mode="multiplicative")
    m.fit(train)
    return m, m.predict(future)["yhat"].to_numpy()


def test_lean_prophet_matches_prophet_on_gappy_promoted_series():
    rng = np.random.default_rng(21)
    ds = pd.date_range("2023-07-01", "2026-06-30", freq="D")
    promo = np.zeros(len(ds))
    promo[100:110] = promo[500:507] = 1
    y = rng.poisson(20 * (1 + 0.5 * promo) * np.where(ds.day_of_week >= 5, 1.3, 1.0)).astype(float)
    y[300:320] = np.nan  # censored stock-out spell
    train = pd.DataFrame({"ds": ds, "y": y, "promo": promo})
    future = pd.DataFrame(
        {
            "ds": pd.date_range("2026-07-01", periods=28, freq="D"),
            "promo": np.r_[np.ones(7), np.zeros(21)],
        }
    )
    holidays = holidays_frame("US", dt.date(2026, 7, 1), 28)
    ref, ref_yhat = _fit(Prophet, train, future, holidays)
    for _ in range(2):  # second round hits the memoised features
        lean, lean_yhat = _fit(LeanProphet, train, future, holidays)
        np.testing.assert_allclose(lean_yhat, ref_yhat, rtol=1e-6)
        for name in ("k", "m", "delta", "beta", "sigma_obs"):
            np.testing.assert_allclose(lean.params[name], ref.params[name], rtol=1e-6, atol=1e-9)
