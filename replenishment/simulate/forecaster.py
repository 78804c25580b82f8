"""Forecaster: the pipeline's forecast stage refitted on the data known at a day.

Lives here: :class:`RefitForecast`, the :data:`Forecaster` signature and
:func:`pipeline_forecaster`. May import ``config``, ``data``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from replenishment.extract import DEMAND_HISTORY_DAYS
from replenishment.simulate.config import SimulationConfig
from replenishment.simulate.data import ReplayData
from replenishment.staging import Staging

if TYPE_CHECKING:
    from replenishment.forecast import ForecastConfig, ForecastResult

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- forecasts


@dataclass(frozen=True)
class RefitForecast:
    """A refit's output: forecast rows (sku_id, forecast_date, yhat) and per-SKU summary
    (sku_id, model, demand_class, sigma_daily)."""

    day: int
    forecast: pd.DataFrame
    summary: pd.DataFrame
    #: the refit's backtest errors (forecast.BACKTEST_ERROR_COLUMNS), for the error profile
    backtest_errors: pd.DataFrame = field(default_factory=pd.DataFrame)


#: Makes the refit of a day: (config, data, day index, horizon days) -> RefitForecast.
Forecaster = Callable[[SimulationConfig, ReplayData, int, int], RefitForecast]


def forecast_config(cfg: SimulationConfig, day: int, horizon: int) -> ForecastConfig:
    """The forecast stage's config of the refit on ``day``: the run's shared settings
    (holiday country, interval width, backtest and minimum history days) with the refit's
    date, ``horizon`` days and ``cfg.backtest_every``."""
    from replenishment.forecast import ForecastConfig

    return ForecastConfig.from_settings(
        cfg.settings, cfg.date(day), horizon_days=horizon, backtest_every_days=cfg.backtest_every
    )


def pipeline_forecaster(cache_dir: Path | None = None, cache_key: str = "") -> Forecaster:
    """The pipeline's forecast stage on the data known at the refit day.

    forecast_frames over the SKUs with the history ``[t - DEMAND_HISTORY_DAYS, t)``, then
    calibrate (as the pipeline's forecast stage does). With ``cache_dir``, each refit's
    uncalibrated result is stored under a key of (cache_key, config, SKUs, date) and read
    back, then calibrated, when present.
    """

    def forecast(cfg: SimulationConfig, data: ReplayData, day: int, horizon: int) -> RefitForecast:
        from replenishment.forecast import ForecastResult, calibrate, forecast_frames

        run_date = cfg.date(day)
        fc_cfg = forecast_config(cfg, day, horizon)
        stem = ""
        if cache_dir is not None:
            digest = hashlib.sha1(
                json.dumps([cache_key, fc_cfg.to_json(), data.sku_ids, *_shock(cfg)]).encode()
            ).hexdigest()[:16]
            stem = f"{run_date.isoformat()}-{digest}"
            if Staging(str(cache_dir), "").has_result(stem):
                raw = ForecastResult.load(cache_dir, stem)
                return _refit_from(day, calibrate(raw, cfg.settings.interval_width))
        day_ts = pd.Timestamp(run_date)
        since = day_ts - pd.Timedelta(days=DEMAND_HISTORY_DAYS)
        history = data.history[(data.history["ds"] >= since) & (data.history["ds"] < day_ts)]
        stockouts = data.stockouts[
            (data.stockouts["ds"] >= since) & (data.stockouts["ds"] < day_ts)
        ]
        horizon_end = day_ts + pd.Timedelta(days=horizon - 1)
        promotions = data.promotions[
            (data.promotions["end_date"] >= since) & (data.promotions["start_date"] <= horizon_end)
        ]
        result = forecast_frames(
            data.sku_ids, history, stockouts, promotions, fc_cfg, workers=cfg.workers
        )
        if cache_dir is not None:
            result.save(cache_dir, stem)  # uncalibrated: a change of calibration keeps the cache
        return _refit_from(day, calibrate(result, cfg.settings.interval_width))

    return forecast


def _shock(cfg: SimulationConfig) -> list[float]:
    """The demand shock in the cache key (nothing without one: older keys stay valid)."""
    return [cfg.demand_shock_factor, cfg.demand_shock_day] if cfg.shocked else []


def _refit_from(day: int, result: ForecastResult) -> RefitForecast:
    summary = result.summary[["sku_id", "model", "demand_class", "sigma_daily"]]
    return RefitForecast(
        day=day,
        forecast=result.forecast[["sku_id", "forecast_date", "yhat"]].reset_index(drop=True),
        summary=summary.reset_index(drop=True),
        backtest_errors=result.backtest_errors.reset_index(drop=True),
    )
