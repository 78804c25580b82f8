"""Error spread and calibrated intervals for every SKU of a run, from its backtests.

Lives here: :func:`calibrate`, :func:`conformal_quantiles` and their constants.
May import: numpy, pandas, :mod:`.config`, :mod:`.runner` (the interval's z).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from replenishment.forecast.config import FORECAST_COLUMNS, ForecastResult
from replenishment.forecast.runner import interval_z

#: SKUs with a backtest a model needs before its own sigma ratio is used.
MIN_CALIBRATION_SKUS = 5
#: Held-out SKU-days a demand class needs before its own conformal quantiles are used
#: (all classes pooled below it).
MIN_CONFORMAL_SCORES = 200
#: Weight, in held-out days, of the prior spread a backtested SKU's holdout RMSE is shrunk
#: toward (:func:`shrunk_sigma`): one 28-day holdout's worth.
PRIOR_DAYS = 28.0


def shrunk_sigma(
    own: np.ndarray, days: np.ndarray, prior: np.ndarray, prior_days: float = PRIOR_DAYS
) -> np.ndarray:
    """A backtested SKU's daily error spread: its holdout value ``own`` (RMSE over
    ``days`` observed held-out days) shrunk toward ``prior`` (its in-sample sigma times the
    median holdout / in-sample ratio of its model, the value a SKU without a backtest gets)::

        sigma**2 = (days * own**2 + prior_days * prior**2) / (days + prior_days)

    the moderated variance of Smyth (2004, "Linear models and empirical Bayes methods for
    assessing differential expression in microarray experiments", *Statistical
    Applications in Genetics and Molecular Biology* 3(1), eq. 7: a prior variance worth
    ``prior_days`` degrees of freedom). One 28-day holdout of an intermittent or lumpy SKU
    holds a handful of demand days, so its RMSE is mostly which lumps fell inside it; the
    safety stock is convex in that error (a spread underestimated by half costs far more
    service than one overestimated by half gains), so the noise alone leaves the class
    under target. The class's overall error level is restored by the error profile,
    which is measured against these spreads. ``own`` where ``prior`` is not finite.

    >>> shrunk_sigma(np.array([1.0, 4.0]), np.array([28, 28]), np.array([3.0, np.nan])).round(3)
    array([2.236, 4.   ])
    """
    usable = np.isfinite(prior) & (prior > 0) & np.isfinite(own)
    weight = np.where(usable, days, 1.0)
    mixed = (weight * own**2 + prior_days * np.where(usable, prior, 0.0) ** 2) / (
        weight + prior_days
    )
    return np.where(usable, np.sqrt(mixed), own)


def conformal_quantiles(scores: np.ndarray, interval_width: float) -> tuple[float, float]:
    """(lower, upper) split-conformal quantiles of ``scores`` for a central interval of
    ``interval_width``: the order statistics at ceil((n + 1) p) / n for p = (1 -/+ w) / 2,
    the finite-sample correction of split conformal prediction (Lei, G'Sell, Rinaldo,
    Tibshirani & Wasserman 2018, "Distribution-free predictive inference for regression",
    JASA 113(523), section 2.2), one per tail so a skewed error gets a skewed interval.

    >>> conformal_quantiles(np.arange(-50.0, 50.0), 0.8)
    (-41.0, 40.0)
    """
    n = scores.size
    sorted_scores = np.sort(scores)
    lo_rank = math.floor((n + 1) * (1 - interval_width) / 2)
    hi_rank = math.ceil((n + 1) * (1 + interval_width) / 2)
    lo = sorted_scores[min(max(lo_rank, 1), n) - 1]
    hi = sorted_scores[min(max(hi_rank, 1), n) - 1]
    return float(lo), float(hi)


def _scores(errors: pd.DataFrame) -> pd.DataFrame:
    """Normalised held-out errors (demand_class, score): (actual - forecast) / scale, on
    observed days with a positive scale (the backtest fit's in-sample sigma)."""
    ok = ~errors["censored"].astype(bool) & (errors["scale"] > 0) & errors["actual"].notna()
    e = errors[ok]
    return pd.DataFrame(
        {
            "demand_class": e["demand_class"].to_numpy(),
            "score": ((e["actual"] - e["forecast"]) / e["scale"]).to_numpy(dtype=float),
        }
    )


def calibrate(result: ForecastResult, interval_width: float) -> ForecastResult:
    """Error spread and intervals for every SKU of a run, from the SKUs backtested in it.

    ``sigma_daily``: for a SKU without a backtest in this run, the in-sample sigma (which
    understates out-of-sample error) scaled by the median ratio holdout RMSE / in-sample
    sigma of the SKUs of the same model backtested in this run (all models pooled below
    ``MIN_CALIBRATION_SKUS``; 1 without any): the prior. A backtested SKU's own value (its
    holdout RMSE, or the default's error level for a contest winner) is shrunk toward that
    prior by :func:`shrunk_sigma`, weighted by its observed held-out days. Calibrate the
    stage's own result once (the simulator's forecast cache stores it uncalibrated).

    ``yhat_lower`` / ``yhat_upper``: split-conformal intervals calibrated on the run's
    held-out days. Each held-out day's score is its error divided by the backtest fit's
    in-sample sigma (a normaliser fitted before the holdout, so the scores are honest
    out-of-sample errors); per demand class (pooled below ``MIN_CONFORMAL_SCORES``), the
    scores' lower and upper quantiles (:func:`conformal_quantiles`) times the SKU's
    in-sample sigma are added to ``yhat`` (the lower bound clipped at 0). Without any
    held-out day, yhat -/+ z x sigma_daily. Deterministic for a run date: it uses only
    that run's own fits.
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
    # a backtested SKU: the stage's own sigma_daily (its holdout RMSE, raised to the
    # default's error level where the contest chose another model: runner.contest_sigma)
    # shrunk toward the prior the others get (shrunk_sigma)
    prior = (summary["in_sample_sigma"] * factor).to_numpy(dtype=float)
    # observed held-out days per SKU: the accuracy row's backtest_days (errors.holdout_measures)
    held_out = result.accuracy.set_index("sku_id")["backtest_days"].reindex(summary["sku_id"])
    days = held_out.fillna(0).to_numpy(dtype=float)
    own = shrunk_sigma(summary["sigma_daily"].to_numpy(dtype=float), days, prior)
    summary["sigma_daily"] = np.where(summary["backtest_rmse"].notna(), own, prior)
    summary["sigma_daily"] = summary["sigma_daily"].fillna(0.0)
    per_sku = summary[["sku_id", "sigma_daily", "in_sample_sigma", "demand_class"]]
    forecast = result.forecast.merge(per_sku, on="sku_id", how="left")
    lower, upper = _intervals(forecast, result.backtest_errors, interval_width)
    forecast["yhat_lower"] = np.clip(lower, 0, None)
    forecast["yhat_upper"] = np.maximum(upper, forecast["yhat"].to_numpy(dtype=float))
    return ForecastResult(
        forecast=forecast[FORECAST_COLUMNS],
        accuracy=result.accuracy,
        summary=summary,
        backtest_errors=result.backtest_errors,
    )


def _intervals(
    forecast: pd.DataFrame, errors: pd.DataFrame, interval_width: float
) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) per forecast row (forecast holds yhat, sigma_daily, in_sample_sigma,
    demand_class); see :func:`calibrate`."""
    yhat = forecast["yhat"].to_numpy(dtype=float)
    sigma = forecast["sigma_daily"].to_numpy(dtype=float)
    normal = interval_z(interval_width) * sigma
    scores = _scores(errors) if len(errors) and "scale" in errors else pd.DataFrame()
    if scores.empty:
        return yhat - normal, yhat + normal
    everything = conformal_quantiles(scores["score"].to_numpy(), interval_width)
    quantiles = {
        str(c): conformal_quantiles(g.to_numpy(), interval_width)
        for c, g in scores.groupby("demand_class")["score"]
        if len(g) >= MIN_CONFORMAL_SCORES
    }
    classes = forecast["demand_class"].astype(str)
    q_lo = classes.map(lambda c: quantiles.get(c, everything)[0]).to_numpy(dtype=float)
    q_hi = classes.map(lambda c: quantiles.get(c, everything)[1]).to_numpy(dtype=float)
    scale = forecast["in_sample_sigma"].to_numpy(dtype=float)
    usable = np.isfinite(scale) & (scale > 0)
    lower = np.where(usable, yhat + q_lo * np.where(usable, scale, 0), yhat - normal)
    upper = np.where(usable, yhat + q_hi * np.where(usable, scale, 0), yhat + normal)
    return lower, upper
