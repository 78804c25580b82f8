"""Error measures of the holdout backtest: WAPE, MASE, bias, RMSE and the per-day errors.

Lives here: the measures of one backtest against its actuals and the seasonal-naive
baseline (:func:`holdout_measures`), the empty accuracy row, and the per-day rows of
``ForecastResult.backtest_errors`` (:func:`backtest_error_rows`).
May import: numpy, pandas, :mod:`.models` (seasonal_naive, the baseline), :mod:`.config`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from replenishment.forecast.config import Columns
from replenishment.forecast.models import SEASON_DAYS, seasonal_naive
from replenishment.forecast.series import FloatArray


def errors(actual: FloatArray, forecast: FloatArray, scale: float) -> tuple[float, ...]:
    """(WAPE, MASE, bias, actual units) over the observed (not NaN) days of ``actual``.

    WAPE = sum|f - a| / sum a; bias = (sum f - sum a) / sum a; MASE = mean|f - a| / scale
    (Hyndman & Koehler 2006, eq. 9, with the in-sample seasonal-naive MAE as scale).

    >>> errors(np.array([2.0, np.nan, 2.0]), np.array([1.0, 9.0, 4.0]), 1.5)
    (0.75, 1.0, 0.25, 4.0)
    """
    mask = ~np.isnan(actual)
    a, f = actual[mask], forecast[mask]
    total = float(a.sum())
    abs_err = float(np.abs(f - a).sum())
    wape = abs_err / total if total > 0 else math.nan
    bias = (float(f.sum()) - total) / total if total > 0 else math.nan
    mase = float(np.abs(f - a).mean()) / scale if a.size and scale > 0 else math.nan
    return wape, mase, bias, total


def mase_scale(y: FloatArray, season: int = SEASON_DAYS) -> float:
    """In-sample MAE of the seasonal-naive forecast, units/day (NaN without a season)."""
    if y.size <= season:
        return math.nan
    diff = np.abs(y[season:] - y[:-season])
    diff = diff[~np.isnan(diff)]
    return float(diff.mean()) if diff.size else math.nan


def empty_accuracy(sku_id: str, model: str, demand_class: str) -> dict[str, Any]:
    """The accuracy row of a SKU that was not backtested in this run."""
    return {
        "sku_id": sku_id,
        "model": model,
        "demand_class": demand_class,
        "backtest_start": None,
        "backtest_days": 0,
        "actual_units": math.nan,
        "wape": math.nan,
        "mase": math.nan,
        "bias": math.nan,
        "baseline_wape": math.nan,
        "baseline_mase": math.nan,
        "baseline_bias": math.nan,
        "beats_baseline": None,
        "selection": "not_backtested",
        "incumbent": model,
        "incumbent_wape": math.nan,
        "fva": math.nan,
        "candidate_wapes": "",
    }


def holdout_measures(
    train_y: FloatArray, test_y: FloatArray, forecast: FloatArray
) -> tuple[dict[str, Any], float]:
    """(accuracy fields, RMSE) of a backtest ``forecast`` of the held-out ``test_y``.

    The fields are those of ACCURACY_COLUMNS the backtest fills, with the seasonal-naive
    baseline forecast from ``train_y``; RMSE (units/day) is NaN when every held-out day
    is censored.
    """
    scale = mase_scale(train_y)
    wape, mase, bias, actual = errors(test_y, forecast, scale)
    b_wape, b_mase, b_bias, _ = errors(test_y, seasonal_naive(train_y, test_y.size), scale)
    mask = ~np.isnan(test_y)
    rmse = float(np.sqrt(np.mean((forecast[mask] - test_y[mask]) ** 2))) if mask.any() else None
    fields: dict[str, Any] = {
        "backtest_days": int(mask.sum()),
        "actual_units": actual,
        "wape": wape,
        "mase": mase,
        "bias": bias,
        "baseline_wape": b_wape,
        "baseline_mase": b_mase,
        "baseline_bias": b_bias,
    }
    if math.isfinite(wape) and math.isfinite(b_wape):
        fields["beats_baseline"] = int(wape < b_wape)
    return fields, float(rmse) if rmse is not None and math.isfinite(rmse) else math.nan


def backtest_error_rows(
    sku_id: str,
    model: str,
    demand_class: str,
    dates: pd.DatetimeIndex,
    actual: FloatArray,
    forecast: FloatArray,
    scale: float = math.nan,
) -> Columns:
    """BACKTEST_ERROR_COLUMNS for the held-out ``dates`` (``actual`` NaN = censored day);
    ``scale``: the backtest fit's in-sample sigma, units/day."""
    n = len(dates)
    return {
        "sku_id": np.full(n, sku_id),
        "model": np.full(n, model),
        "demand_class": np.full(n, demand_class),
        "h": np.arange(n, dtype="int64"),
        "forecast_date": dates.as_unit("ns").values,
        "actual": np.asarray(actual, dtype=float),
        "forecast": np.asarray(forecast, dtype=float),
        "censored": np.isnan(actual),
        "scale": np.full(n, scale, dtype=float),
    }
