"""Forecast: daily demand per SKU for the run's horizon.

Each SKU is routed by its demand pattern (Syntetos-Boylan classes over the last
year of history) to its class's candidates (``classify.ROUTES``); a SKU backtested in the
run is forecast by all of them and keeps the default blend of its class model and the
global LightGBM model unless a candidate is 20 % better on the holdout (:mod:`.select`).
The class models:

- smooth / erratic (ADI < 1.32): Prophet with weekly and (given two years of
  history) yearly seasonality, the country's public holidays and a 0/1
  promotion regressor whose future values come from the planned promotions;
  multiplicative seasonality, so the promotion coefficient is the relative uplift.
- intermittent / lumpy (ADI >= 1.32): Croston's method with the Syntetos-Boylan
  bias correction (SBA), a flat rate in units/day.
- short history (fewer than ``min_history_days`` observed days): the global model (a
  cold start: its level shrunk toward the category's), else the mean of the last 28
  observed days ("moving_average").
- no sales at all: zero ("no_history").

Days that ended with nothing on hand are censored: their sales are not demand,
so they are left out of every fit (NaN for Prophet, dropped elsewhere).

Error spread: ``sigma_daily`` is the root mean squared error of a holdout
backtest on the last ``backtest_days`` days before the run date (forecasts made
only from the data before the holdout), or the in-sample residual standard
deviation when the history is too short for a backtest. yhat_lower/yhat_upper are
split-conformal intervals calibrated on the run's held-out days (:mod:`.calibrate`).

Each model is a class with one interface (:class:`~.models.Model`: fit on a history
with its covariates, predict the horizon with its in-sample spread), registered by name;
``ROUTES`` maps a demand class to its candidate models. A SKU not backtested whose model raises (a Stan
error, a degenerate series) or forecasts a non-finite value gets its next candidate and
finally the seasonal-naive forecast, is flagged ``failed`` and never stops the others.

Besides the forecast rows, the per-SKU accuracy and the summary, a run returns
``backtest_errors``: each backtested SKU's held-out days with actual and forecast, the
raw material of error-based safety stock.

Modules, each importing only those above it: ``config`` (ForecastConfig, ForecastResult),
``series`` (SkuSeries, build_series), ``classify`` (classes, routing table ROUTES),
``models`` (the Model interface, the registry and the models), ``prophet_features``
(Prophet's features and holidays in numpy, without importing Prophet), ``prophet_map`` (Prophet's
log posterior and its batched MAP solver, numpy only) and ``prophet_batch`` (the Prophet
model's batch hook: Prophet's inputs per SKU, one solve per batch, Stan as the counted
fallback), ``statistical`` (ETS, Theta, TSB, ADIDA, IMAPA in numpy), ``global_model`` (LightGBM
across the SKUs of a call), ``select`` (the per-SKU choice by holdout error), ``errors``
(backtest error measures), ``runner`` (one process: route, contest or fall back, assemble),
``calibrate`` (spread and conformal intervals), ``workers`` (forecast_frames: the global fit,
then subprocesses).
This package re-exports what the rest of the project uses.
"""

from replenishment.forecast.calibrate import MIN_CALIBRATION_SKUS, calibrate
from replenishment.forecast.classify import (
    ADI_CUTOFF,
    CLASS_WINDOW_DAYS,
    CV2_CUTOFF,
    FALLBACK_MODEL,
    FALLBACK_MODELS,
    INTERMITTENT_MODELS,
    ROUTES,
    candidates,
    classify,
    model_for_class,
)
from replenishment.forecast.config import (
    ACCURACY_COLUMNS,
    BACKTEST_ERROR_COLUMNS,
    FORECAST_COLUMNS,
    SUMMARY_COLUMNS,
    ForecastConfig,
    ForecastResult,
)
from replenishment.forecast.models import (
    MA_WINDOW_DAYS,
    MODELS,
    SBA_ALPHA,
    YEARLY_MIN_DAYS,
    Model,
    ModelContext,
    Prediction,
    _ProphetModel,
    moving_average,
    register,
    sba,
    seasonal_naive,
)
from replenishment.forecast.prophet_features import holidays_frame
from replenishment.forecast.runner import forecast_series, forecast_skus
from replenishment.forecast.series import SkuSeries, build_series
from replenishment.forecast.workers import forecast_frames

__all__ = [
    "ACCURACY_COLUMNS",
    "ADI_CUTOFF",
    "BACKTEST_ERROR_COLUMNS",
    "CLASS_WINDOW_DAYS",
    "CV2_CUTOFF",
    "FALLBACK_MODEL",
    "FALLBACK_MODELS",
    "INTERMITTENT_MODELS",
    "FORECAST_COLUMNS",
    "MA_WINDOW_DAYS",
    "MIN_CALIBRATION_SKUS",
    "MODELS",
    "ROUTES",
    "SBA_ALPHA",
    "SUMMARY_COLUMNS",
    "YEARLY_MIN_DAYS",
    "ForecastConfig",
    "ForecastResult",
    "Model",
    "ModelContext",
    "Prediction",
    "SkuSeries",
    "_ProphetModel",
    "build_series",
    "calibrate",
    "candidates",
    "classify",
    "forecast_frames",
    "forecast_series",
    "forecast_skus",
    "holidays_frame",
    "model_for_class",
    "moving_average",
    "register",
    "sba",
    "seasonal_naive",
]
