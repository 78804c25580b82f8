"""Error spread for every SKU of a run, from the SKUs backtested in it.

Lives here: :func:`calibrate` and :data:`MIN_CALIBRATION_SKUS`.
May import: :mod:`.config`, :mod:`.runner` (the interval's z).
"""

from __future__ import annotations

from replenishment.forecast.config import FORECAST_COLUMNS, ForecastResult
from replenishment.forecast.runner import interval_z

#: SKUs with a backtest a model needs before its own sigma ratio is used.
MIN_CALIBRATION_SKUS = 5


def calibrate(result: ForecastResult, interval_width: float) -> ForecastResult:
    """Error spread for every SKU of a run, from the SKUs backtested in it.

    A SKU backtested in this run keeps its holdout RMSE as ``sigma_daily``. For
    the others, the in-sample sigma (which understates out-of-sample error) is
    scaled by the median ratio holdout RMSE / in-sample sigma of the SKUs of the
    same model backtested in this run (all models pooled below
    ``MIN_CALIBRATION_SKUS``; 1 without any). yhat_lower/yhat_upper follow.
    Deterministic for a run date: it uses only that run's own fits.
    """
    summary = result.summary.copy()
    has = summary["backtest_rmse"].notna() & (summary["in_sample_sigma"] > 0)
    ratios = summary.loc[has, "backtest_rmse"] / summary.loc[has, "in_sample_sigma"]
    pooled = float(ratios.median()) if len(ratios) else 1.0
    by_model = ratios.groupby(summary.loc[has, "model"]).agg(["median", "size"])
    factor = summary["model"].map(
        lambda m: (
            float(by_model.loc[m, "median"])
            if m in by_model.index and by_model.loc[m, "size"] >= MIN_CALIBRATION_SKUS
            else pooled
        )
    )
    summary["sigma_daily"] = summary["backtest_rmse"].where(
        summary["backtest_rmse"].notna(), summary["in_sample_sigma"] * factor
    )
    summary["sigma_daily"] = summary["sigma_daily"].fillna(0.0)
    z = interval_z(interval_width)
    forecast = result.forecast.merge(summary[["sku_id", "sigma_daily"]], on="sku_id", how="left")
    forecast["yhat_lower"] = (forecast["yhat"] - z * forecast["sigma_daily"]).clip(lower=0)
    forecast["yhat_upper"] = forecast["yhat"] + z * forecast["sigma_daily"]
    return ForecastResult(
        forecast=forecast[FORECAST_COLUMNS],
        accuracy=result.accuracy,
        summary=summary,
        backtest_errors=result.backtest_errors,
    )
