"""Forecast demand summed over a period of days from the run date, per SKU.

What lives here: ``C(t)``, the cumulative daily forecast, evaluated at fractional days
(a lead time of 7.9 days takes 0.9 of day 8's forecast). Imports only :mod:`frames`.

>>> f = pd.DataFrame({"sku_id": "A", "forecast_date": pd.date_range("2026-07-01", periods=3),
...                   "yhat": [10.0, 20.0, 30.0]})
>>> c = cumulative_forecast(f, pd.Index(["A"]), dt.date(2026, 7, 1), 5.0)
>>> [float(c(np.array([t]))[0]) for t in (1.0, 2.5, 5.0)]  # beyond the horizon: the mean, 20/day
[10.0, 45.0, 100.0]
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import numpy.typing as npt
import pandas as pd

from replenishment.frames import float_col, sample, to_naive_datetime

FloatArray = npt.NDArray[np.float64]


class Cumulative:
    """Cumulative forecast demand ``C(t)`` from day 0 (the run date) to day t, per SKU.

    Holds an (n_skus x W) matrix of daily yhat with gaps filled by the SKU's mean;
    beyond W days demand continues at that mean. ``C`` is piecewise linear in t so that a
    fractional period takes the matching fraction of the next day.
    """

    def __init__(self, daily: FloatArray, mean: FloatArray) -> None:
        self.daily = daily
        self.mean = mean
        self.width = daily.shape[1]
        self.cum = np.zeros((daily.shape[0], self.width + 1))
        np.cumsum(daily, axis=1, out=self.cum[:, 1:])

    def __call__(self, days: FloatArray) -> FloatArray:
        rows = np.arange(self.daily.shape[0])
        whole = np.minimum(np.floor(days).astype(np.int64), self.width)
        fraction = days - whole
        next_day = np.where(
            whole < self.width,
            self.daily[rows, np.minimum(whole, self.width - 1)],
            self.mean,
        )
        return np.asarray(self.cum[rows, whole] + fraction * next_day, dtype=np.float64)


def cumulative_forecast(
    forecast: pd.DataFrame, skus: pd.Index, run_date: dt.date, max_days: float
) -> Cumulative:
    """The cumulative forecast of ``skus`` from ``run_date`` on, at least ``max_days`` wide.

    forecast: sku_id, forecast_date, yhat (negative values count as 0; rows before the
    run date, of other SKUs or not finite are ignored). Raises ValueError for a SKU
    without rows or with duplicate (sku_id, forecast_date) rows.
    """
    rows = skus.get_indexer(forecast["sku_id"])
    dates = to_naive_datetime(forecast["forecast_date"])
    day = np.asarray(dates.to_numpy().astype("datetime64[D]"))
    valid_date = ~np.isnat(day)
    offsets = np.zeros(len(forecast), dtype=np.int64)
    offsets[valid_date] = (day[valid_date] - np.datetime64(run_date, "D")).astype(np.int64)
    yhat = float_col(forecast, "yhat")
    keep = (rows >= 0) & valid_date & (offsets >= 0) & np.isfinite(yhat)
    rows, offsets, yhat = rows[keep], offsets[keep], np.maximum(yhat[keep], 0.0)

    n = len(skus)
    counts = np.bincount(rows, minlength=n)
    if (counts == 0).any():
        missing = skus[counts == 0]
        raise ValueError(
            f"forecast: no rows on or after {run_date.isoformat()} for {len(missing)} SKUs "
            f"({sample(missing)})"
        )
    width = int(min(offsets.max() + 1, math.ceil(max_days)))
    key = rows * (int(offsets.max()) + 1) + offsets
    unique_keys, key_counts = np.unique(key, return_counts=True)
    if (key_counts > 1).any():
        dup = unique_keys[key_counts > 1]
        span = int(offsets.max()) + 1
        examples = [
            f"{skus[k // span]} {(run_date + dt.timedelta(days=int(k % span))).isoformat()}"
            for k in dup[:5]
        ]
        raise ValueError(
            f"forecast: {len(dup)} duplicate (sku_id, forecast_date) rows ({', '.join(examples)})"
        )
    mean = np.bincount(rows, weights=yhat, minlength=n) / counts
    in_window = offsets < width
    matrix = np.full((n, width), np.nan)
    matrix[rows[in_window], offsets[in_window]] = yhat[in_window]
    matrix = np.where(np.isnan(matrix), mean[:, None], matrix)
    return Cumulative(matrix, mean)
