"""Forecast: daily demand per SKU for the run's horizon.

Each SKU is routed by its demand pattern (Syntetos-Boylan classes over the last
year of history):

- smooth / erratic (ADI < 1.32): Prophet with weekly and (given two years of
  history) yearly seasonality, the country's public holidays and a 0/1
  promotion regressor whose future values come from the planned promotions;
  multiplicative seasonality, so the promotion coefficient is the relative uplift.
- intermittent / lumpy (ADI >= 1.32): Croston's method with the Syntetos-Boylan
  bias correction (SBA), a flat rate in units/day.
- short history (fewer than ``min_history_days`` observed days): the mean of
  the last 28 observed days ("moving_average").
- no sales at all: zero ("no_history").

Days that ended with nothing on hand are censored: their sales are not demand,
so they are left out of every fit (NaN for Prophet, dropped elsewhere).

Error spread: ``sigma_daily`` is the root mean squared error of a holdout
backtest on the last ``backtest_days`` days before the run date (forecasts made
only from the data before the holdout), or the in-sample residual standard
deviation when the history is too short for a backtest. yhat_lower/yhat_upper
are yhat -/+ z * sigma_daily for the central ``interval_width`` (clipped at 0).

A SKU whose model raises (a Stan error, a degenerate series) falls back to the
seasonal-naive forecast, is flagged ``failed`` and never stops the others.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

ADI_CUTOFF = 1.32
CV2_CUTOFF = 0.49
CLASS_WINDOW_DAYS = 365
MA_WINDOW_DAYS = 28
SBA_ALPHA = 0.1
YEARLY_MIN_DAYS = 730

FORECAST_COLUMNS = [
    "sku_id",
    "forecast_date",
    "yhat",
    "yhat_lower",
    "yhat_upper",
    "interval_width",
    "promo",
    "model",
]
ACCURACY_COLUMNS = [
    "sku_id",
    "model",
    "demand_class",
    "backtest_start",
    "backtest_days",
    "actual_units",
    "wape",
    "mase",
    "bias",
    "baseline_wape",
    "baseline_mase",
    "baseline_bias",
    "beats_baseline",
]
SUMMARY_COLUMNS = [
    "sku_id",
    "model",
    "demand_class",
    "adi",
    "cv2",
    "observed_days",
    "sigma_daily",
    "in_sample_sigma",
    "backtest_rmse",
    "promo_uplift",
    "failed",
    "error",
    "seconds",
]


@dataclass(frozen=True)
class ForecastConfig:
    """What the forecast of one run needs to know.

    horizon_days: days forecast, D .. D+horizon_days-1.
    holiday_country: ISO code for Prophet's public holidays.
    interval_width: central probability mass of [yhat_lower, yhat_upper].
    backtest_days: holdout length for the error spread and accuracy (0 = none).
    min_history_days: observed days needed before a pattern model is used.
    backtest_every_days: each SKU is backtested on one run date in this many
        (a fixed slice of the SKUs each day, by a stable hash of sku_id); 1 = every run.
    """

    run_date: dt.date
    horizon_days: int = 28
    holiday_country: str = "US"
    interval_width: float = 0.80
    backtest_days: int = 28
    min_history_days: int = 56
    backtest_every_days: int = 7

    def to_json(self) -> str:
        d = asdict(self)
        d["run_date"] = self.run_date.isoformat()
        return json.dumps(d)

    @classmethod
    def from_json(cls, text: str) -> ForecastConfig:
        d = json.loads(text)
        d["run_date"] = dt.date.fromisoformat(d["run_date"])
        return cls(**d)


@dataclass
class ForecastResult:
    """forecast: FORECAST_COLUMNS; accuracy: ACCURACY_COLUMNS; summary: SUMMARY_COLUMNS."""

    forecast: pd.DataFrame
    accuracy: pd.DataFrame
    summary: pd.DataFrame

    @classmethod
    def concat(cls, parts: Sequence[ForecastResult]) -> ForecastResult:
        return cls(
            forecast=_concat([p.forecast for p in parts], FORECAST_COLUMNS),
            accuracy=_concat([p.accuracy for p in parts], ACCURACY_COLUMNS),
            summary=_concat([p.summary for p in parts], SUMMARY_COLUMNS),
        )

    def save(self, directory: Path, stem: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.forecast.to_parquet(directory / f"{stem}.forecast.parquet", index=False)
        self.accuracy.to_parquet(directory / f"{stem}.accuracy.parquet", index=False)
        self.summary.to_parquet(directory / f"{stem}.summary.parquet", index=False)

    @classmethod
    def load(cls, directory: Path, stem: str) -> ForecastResult:
        forecast = pd.read_parquet(directory / f"{stem}.forecast.parquet")
        forecast["forecast_date"] = forecast["forecast_date"].astype("datetime64[ns]")
        return cls(
            forecast=forecast,
            accuracy=pd.read_parquet(directory / f"{stem}.accuracy.parquet"),
            summary=pd.read_parquet(directory / f"{stem}.summary.parquet"),
        )


def _concat(frames: Sequence[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


# --------------------------------------------------------------------------- series


@dataclass
class SkuSeries:
    """One SKU's daily history (units/day; NaN on censored days) and promo flags.

    dates: every day from the first sale to D-1; y aligned with it.
    promo_history / promo_future: 1 on promoted days of the history / horizon.
    """

    sku_id: str
    dates: pd.DatetimeIndex
    y: np.ndarray
    promo_history: np.ndarray
    future_dates: pd.DatetimeIndex
    promo_future: np.ndarray
    extra: dict[str, Any] = field(default_factory=dict)


def build_series(
    sku_ids: Sequence[str],
    demand: pd.DataFrame,
    stockouts: pd.DataFrame,
    promotions: pd.DataFrame,
    run_date: dt.date,
    horizon_days: int,
) -> list[SkuSeries]:
    """Daily series per SKU: missing days are zero demand, stock-out days NaN."""
    end = pd.Timestamp(run_date) - pd.Timedelta(days=1)
    future = pd.date_range(pd.Timestamp(run_date), periods=horizon_days, freq="D")
    by_sku = {k: g for k, g in demand.groupby("sku_id", sort=False)}
    out_by_sku = {k: g["ds"].to_numpy() for k, g in stockouts.groupby("sku_id", sort=False)}
    promo_by_sku = {k: g for k, g in promotions.groupby("sku_id", sort=False)}
    result = []
    for sku_id in sku_ids:
        g = by_sku.get(sku_id)
        if g is None or g.empty or float(g["y"].sum()) <= 0:
            dates = pd.DatetimeIndex([])
            y = np.array([], dtype=float)
        else:
            positive = g.loc[g["y"] > 0, "ds"]
            dates = pd.date_range(positive.min(), end, freq="D")
            y = (
                pd.Series(g["y"].to_numpy(dtype=float), index=pd.DatetimeIndex(g["ds"]))
                .groupby(level=0)
                .sum()
                .reindex(dates, fill_value=0.0)
                .to_numpy(dtype=float, copy=True)
            )
            censored = out_by_sku.get(sku_id)
            if censored is not None and len(censored):
                y[dates.isin(pd.DatetimeIndex(censored))] = np.nan
        promos = promo_by_sku.get(sku_id)
        result.append(
            SkuSeries(
                sku_id=sku_id,
                dates=dates,
                y=y,
                promo_history=_promo_flags(dates, promos),
                future_dates=future,
                promo_future=_promo_flags(future, promos),
            )
        )
    return result


def _promo_flags(dates: pd.DatetimeIndex, promos: pd.DataFrame | None) -> np.ndarray:
    flags = np.zeros(len(dates), dtype=float)
    if promos is None or promos.empty or len(dates) == 0:
        return flags
    values = dates.values
    for start, end in zip(promos["start_date"], promos["end_date"], strict=True):
        flags[(values >= np.datetime64(start)) & (values <= np.datetime64(end))] = 1.0
    return flags


# --------------------------------------------------------------------------- classes


def classify(y: np.ndarray, min_history_days: int) -> tuple[str, float, float]:
    """Syntetos-Boylan class of a daily series (NaN = censored) over its last year.

    Returns (class, ADI, CV²): ADI is observed days per day with demand, CV² the
    squared coefficient of variation of the non-zero demand sizes. Classes:
    smooth (ADI < 1.32, CV² < 0.49), erratic (ADI < 1.32), intermittent
    (CV² < 0.49), lumpy; "short" below ``min_history_days`` observed days and
    "none" without any sale.
    """
    observed = y[~np.isnan(y)]
    if observed.size == 0 or observed.sum() <= 0:
        return "none", math.nan, math.nan
    recent = y[-CLASS_WINDOW_DAYS:]
    recent = recent[~np.isnan(recent)]
    nonzero = recent[recent > 0]
    adi = recent.size / nonzero.size if nonzero.size else math.inf
    cv2 = float(np.var(nonzero) / np.mean(nonzero) ** 2) if nonzero.size > 1 else 0.0
    if observed.size < min_history_days:
        return "short", adi, cv2
    if adi < ADI_CUTOFF:
        return ("smooth" if cv2 < CV2_CUTOFF else "erratic"), adi, cv2
    return ("intermittent" if cv2 < CV2_CUTOFF else "lumpy"), adi, cv2


def model_for_class(demand_class: str) -> str:
    return {
        "smooth": "prophet",
        "erratic": "prophet",
        "intermittent": "sba",
        "lumpy": "sba",
        "short": "moving_average",
        "none": "no_history",
    }[demand_class]


# --------------------------------------------------------------------------- models


def seasonal_naive(y: np.ndarray, steps: int, season: int = 7) -> np.ndarray:
    """Repeat the last observed week; censored days take that week's observed mean."""
    if y.size == 0:
        return np.zeros(steps)
    last = y[-season:].astype(float)
    if np.all(np.isnan(last)):
        observed = y[~np.isnan(y)]
        fill = float(observed[-MA_WINDOW_DAYS:].mean()) if observed.size else 0.0
        last = np.full(season, fill)
    else:
        last = np.where(np.isnan(last), np.nanmean(last), last)
    if last.size < season:
        last = np.concatenate([np.full(season - last.size, last.mean()), last])
    reps = math.ceil(steps / season)
    return np.tile(last, reps)[:steps]


def moving_average(y: np.ndarray, steps: int, window: int = MA_WINDOW_DAYS) -> np.ndarray:
    observed = y[~np.isnan(y)][-window:]
    level = float(observed.mean()) if observed.size else 0.0
    return np.full(steps, level)


def sba(y: np.ndarray, steps: int, alpha: float = SBA_ALPHA) -> np.ndarray:
    """Croston's method with the Syntetos-Boylan correction: (1 - alpha/2) * size / interval.

    Censored days (NaN) are dropped. Hand-written because statsforecast (the
    library of choice) pins pandas < 3.
    """
    observed = y[~np.isnan(y)]
    nz = np.flatnonzero(observed > 0)
    if nz.size == 0:
        return np.zeros(steps)
    sizes = observed[nz]
    intervals = np.diff(np.concatenate([[-1], nz])).astype(float)
    z, p = float(sizes[0]), float(intervals[0])
    for s, q in zip(sizes[1:], intervals[1:], strict=True):
        z += alpha * (s - z)
        p += alpha * (q - p)
    return np.full(steps, (1 - alpha / 2) * z / p)


class _ProphetModel:
    """Prophet with the project's settings; one instance per fit."""

    def __init__(
        self,
        holidays: pd.DataFrame | None,
        interval_width: float,
        init: dict[str, Any] | None = None,
    ) -> None:
        self.holidays = holidays
        self.interval_width = interval_width
        self.promo_uplift = math.nan
        self.init = init
        self.params: dict[str, Any] | None = None
        self.noise_sigma = math.nan

    def fit_predict(
        self,
        dates: pd.DatetimeIndex,
        y: np.ndarray,
        promo: np.ndarray,
        future_dates: pd.DatetimeIndex,
        promo_future: np.ndarray,
    ) -> np.ndarray:
        """Fit on (dates, y) and return yhat for ``future_dates``.

        Only the future rows are predicted (predicting the history costs as much as
        fitting); the in-sample error is the fitted observation noise, ``noise_sigma``.
        """
        from replenishment.stan_fast import LeanProphet

        observed = np.count_nonzero(~np.isnan(y))
        model = LeanProphet(
            growth="linear",
            yearly_seasonality=bool(observed >= YEARLY_MIN_DAYS),
            weekly_seasonality=True,
            daily_seasonality=False,
            seasonality_mode="multiplicative",
            holidays=self.holidays,
            uncertainty_samples=0,
            interval_width=self.interval_width,
        )
        use_promo = bool(np.nansum(promo[~np.isnan(y)]) > 0)
        train = pd.DataFrame({"ds": dates, "y": y})
        if use_promo:
            model.add_regressor("promo", standardize=False, mode="multiplicative")
            train["promo"] = promo
        if self.init is not None:
            model.fit(train, init=self.init)
        else:
            model.fit(train)
        # observation noise of the fitted model, in units/day
        self.noise_sigma = float(model.params["sigma_obs"][0][0]) * float(model.y_scale or 1.0)
        self.params = {
            "k": float(model.params["k"][0][0]),
            "m": float(model.params["m"][0][0]),
            "sigma_obs": float(model.params["sigma_obs"][0][0]),
            "delta": np.asarray(model.params["delta"][0], dtype=float),
            "beta": np.asarray(model.params["beta"][0], dtype=float),
        }
        frame = pd.DataFrame({"ds": future_dates})
        if use_promo:
            frame["promo"] = promo_future
            # multiplicative mode: yhat = trend * (1 + ... + beta * promo), so beta is the uplift
            self.promo_uplift = float(model.params["beta"][0][_regressor_index(model, "promo")])
        return model.predict(frame)["yhat"].to_numpy(dtype=float)


def _regressor_index(model: Any, name: str) -> int:
    return int(np.argmax(model.train_component_cols[name].to_numpy()))


# --------------------------------------------------------------------------- per SKU


def _errors(actual: np.ndarray, forecast: np.ndarray, scale: float) -> tuple[float, ...]:
    mask = ~np.isnan(actual)
    a, f = actual[mask], forecast[mask]
    total = float(a.sum())
    abs_err = float(np.abs(f - a).sum())
    wape = abs_err / total if total > 0 else math.nan
    bias = (float(f.sum()) - total) / total if total > 0 else math.nan
    mase = float(np.abs(f - a).mean()) / scale if a.size and scale > 0 else math.nan
    return wape, mase, bias, total


def _mase_scale(y: np.ndarray, season: int = 7) -> float:
    if y.size <= season:
        return math.nan
    diff = np.abs(y[season:] - y[:-season])
    diff = diff[~np.isnan(diff)]
    return float(diff.mean()) if diff.size else math.nan


def _predict(
    model_name: str,
    dates: pd.DatetimeIndex,
    y: np.ndarray,
    promo: np.ndarray,
    future_dates: pd.DatetimeIndex,
    promo_future: np.ndarray,
    holidays: pd.DataFrame | None,
    interval_width: float,
    state: dict[str, Any] | None = None,
) -> tuple[np.ndarray, float, float]:
    """(future forecast, promo uplift, in-sample sigma) of one model.

    Forecasts are clipped at 0. The in-sample sigma is the standard deviation of
    the residuals over the last year (Prophet: its fitted observation noise).

    ``state`` carries Prophet's fitted parameters from one call to the next
    (the backtest fit warm-starts the full fit: same model, 28 days less data).
    """
    steps = len(future_dates)
    uplift = math.nan
    if model_name == "prophet":
        init = state.get("prophet") if state is not None else None
        prophet = _ProphetModel(holidays, interval_width, init=init)
        future = prophet.fit_predict(dates, y, promo, future_dates, promo_future)
        uplift, sigma = prophet.promo_uplift, prophet.noise_sigma
        if state is not None:
            state["prophet"] = prophet.params
    else:
        if model_name == "sba":
            future = sba(y, steps)
            fitted = np.full(y.size, future[0] if steps else 0.0)
        elif model_name == "moving_average":
            future = moving_average(y, steps)
            fitted = np.full(y.size, future[0] if steps else 0.0)
        elif model_name == "seasonal_naive":
            future = seasonal_naive(y, steps)
            fitted = np.concatenate([np.full(min(7, y.size), np.nan), y[:-7]])[: y.size]
        else:
            future, fitted = np.zeros(steps), np.zeros(y.size)
        residual = y - np.clip(fitted, 0, None)
        residual = residual[~np.isnan(residual)][-CLASS_WINDOW_DAYS:]
        sigma = float(np.std(residual, ddof=1)) if residual.size > 1 else 0.0
    if not np.all(np.isfinite(future)):
        raise FloatingPointError(f"{model_name} produced non-finite forecasts")
    return np.clip(future, 0, None), uplift, sigma


def forecast_series(
    s: SkuSeries, cfg: ForecastConfig, holidays: pd.DataFrame | None
) -> tuple[pd.DataFrame, dict[str, Any], dict[str, Any]]:
    """Forecast one SKU: (forecast rows, accuracy row, summary row)."""
    from scipy.stats import norm

    started = time.perf_counter()
    demand_class, adi, cv2 = classify(s.y, cfg.min_history_days)
    model = model_for_class(demand_class)
    failed, error = False, ""
    observed_days = int(np.count_nonzero(~np.isnan(s.y)))

    every = max(1, cfg.backtest_every_days)
    in_slice = (zlib.crc32(s.sku_id.encode()) + cfg.run_date.toordinal()) % every == 0

    def run(name: str) -> tuple[np.ndarray, float, float, dict[str, Any]]:
        backtest: dict[str, Any] = {}
        state: dict[str, Any] = {}
        b = cfg.backtest_days
        if in_slice and b and observed_days >= cfg.min_history_days + b and s.y.size > b + 7:
            train_y, test_y = s.y[:-b], s.y[-b:]
            bt, _, _ = _predict(
                name,
                s.dates[:-b],
                train_y,
                s.promo_history[:-b],
                s.dates[-b:],
                s.promo_history[-b:],
                holidays,
                cfg.interval_width,
                state,
            )
            scale = _mase_scale(train_y)
            wape, mase, bias, actual = _errors(test_y, bt, scale)
            base = seasonal_naive(train_y, b)
            b_wape, b_mase, b_bias, _ = _errors(test_y, base, scale)
            mask = ~np.isnan(test_y)
            rmse = float(np.sqrt(np.mean((bt[mask] - test_y[mask]) ** 2))) if mask.any() else None
            backtest = {
                "backtest_start": s.dates[-b].date(),
                "backtest_days": int(mask.sum()),
                "actual_units": actual,
                "wape": wape,
                "mase": mase,
                "bias": bias,
                "baseline_wape": b_wape,
                "baseline_mase": b_mase,
                "baseline_bias": b_bias,
                "rmse": rmse,
            }
        future, uplift, noise = _predict(
            name,
            s.dates,
            s.y,
            s.promo_history,
            s.future_dates,
            s.promo_future,
            holidays,
            cfg.interval_width,
            state,
        )
        return future, uplift, noise, backtest

    try:
        future, uplift, in_sample_sigma, backtest = run(model)
    except Exception as exc:  # one SKU's failure must not stop the batch
        failed, error = True, f"{type(exc).__name__}: {exc}"[:300]
        log.warning(
            "SKU %s: %s failed (%s); falling back to seasonal_naive", s.sku_id, model, error
        )
        model = "seasonal_naive"
        future, uplift, in_sample_sigma, backtest = run(model)

    rmse = backtest.pop("rmse", None) if backtest else None
    backtest_rmse = float(rmse) if rmse is not None and math.isfinite(rmse) else math.nan
    sigma = backtest_rmse if math.isfinite(backtest_rmse) else in_sample_sigma
    z = float(norm.ppf(0.5 + cfg.interval_width / 2))
    forecast = pd.DataFrame(
        {
            "sku_id": s.sku_id,
            "forecast_date": s.future_dates.as_unit("ns"),
            "yhat": future,
            "yhat_lower": np.clip(future - z * sigma, 0, None),
            "yhat_upper": future + z * sigma,
            "interval_width": cfg.interval_width,
            "promo": s.promo_future.astype(int),
            "model": model,
        }
    )
    accuracy: dict[str, Any] = {
        "sku_id": s.sku_id,
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
    }
    if backtest:
        accuracy.update(backtest)
        if math.isfinite(accuracy["wape"]) and math.isfinite(accuracy["baseline_wape"]):
            accuracy["beats_baseline"] = int(accuracy["wape"] < accuracy["baseline_wape"])
    summary = {
        "sku_id": s.sku_id,
        "model": model,
        "demand_class": demand_class,
        "adi": adi,
        "cv2": cv2,
        "observed_days": observed_days,
        "sigma_daily": sigma,
        "in_sample_sigma": in_sample_sigma,
        "backtest_rmse": backtest_rmse,
        "promo_uplift": uplift,
        "failed": int(failed),
        "error": error,
        "seconds": time.perf_counter() - started,
    }
    return forecast, accuracy, summary


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
    from scipy.stats import norm

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
    z = float(norm.ppf(0.5 + interval_width / 2))
    forecast = result.forecast.merge(summary[["sku_id", "sigma_daily"]], on="sku_id", how="left")
    forecast["yhat_lower"] = (forecast["yhat"] - z * forecast["sigma_daily"]).clip(lower=0)
    forecast["yhat_upper"] = forecast["yhat"] + z * forecast["sigma_daily"]
    return ForecastResult(
        forecast=forecast[FORECAST_COLUMNS], accuracy=result.accuracy, summary=summary
    )


def holidays_frame(country: str, run_date: dt.date, horizon_days: int) -> pd.DataFrame:
    """Public holidays of ``country`` over the history window and the horizon, for Prophet."""
    from prophet.make_holidays import make_holidays_df

    end = run_date + dt.timedelta(days=horizon_days)
    years = list(range(run_date.year - 4, end.year + 1))
    try:
        frame = make_holidays_df(year_list=years, country=country)
    except Exception as exc:
        raise ValueError(f"holiday_country {country!r} is not a known country code: {exc}") from exc
    return frame


def forecast_skus(series: Sequence[SkuSeries], cfg: ForecastConfig) -> ForecastResult:
    """Forecast every SKU of ``series`` in this process."""
    _quiet_stan()
    holidays = holidays_frame(cfg.holiday_country, cfg.run_date, cfg.horizon_days)
    forecasts, accuracy, summary = [], [], []
    for s in series:
        f, a, row = forecast_series(s, cfg, holidays)
        forecasts.append(f)
        accuracy.append(a)
        summary.append(row)
    return ForecastResult(
        forecast=_concat(forecasts, FORECAST_COLUMNS),
        accuracy=pd.DataFrame(accuracy, columns=ACCURACY_COLUMNS),
        summary=pd.DataFrame(summary, columns=SUMMARY_COLUMNS),
    )


def _quiet_stan() -> None:
    for name in ("cmdstanpy", "prophet", "prophet.plot"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("cmdstanpy").disabled = True
    logging.getLogger("prophet.plot").setLevel(logging.CRITICAL)  # "plotly failed": not needed


# --------------------------------------------------------------------------- batches


def forecast_frames(
    sku_ids: Sequence[str],
    demand: pd.DataFrame,
    stockouts: pd.DataFrame,
    promotions: pd.DataFrame,
    cfg: ForecastConfig,
    workers: int = 1,
) -> ForecastResult:
    """Forecast ``sku_ids`` from extracted frames, across ``workers`` processes.

    Worker processes are plain subprocesses (``python -m replenishment.forecast``),
    not multiprocessing children, so this also works inside daemonic workers
    such as Celery's prefork pool. Each pays the Prophet import once.
    """
    started = time.perf_counter()
    sku_ids = list(sku_ids)
    workers = max(1, min(workers, len(sku_ids) // 8 or 1))
    if workers == 1:
        series = build_series(
            sku_ids, demand, stockouts, promotions, cfg.run_date, cfg.horizon_days
        )
        result = forecast_skus(series, cfg)
    else:
        result = _forecast_in_subprocesses(sku_ids, demand, stockouts, promotions, cfg, workers)
    log.info(
        "forecast %d SKUs in %.1f s with %d process(es): %s; %d failed",
        len(sku_ids),
        time.perf_counter() - started,
        workers,
        result.summary["model"].value_counts().to_dict(),
        int(result.summary["failed"].sum()) if len(result.summary) else 0,
    )
    return result


def _forecast_in_subprocesses(
    sku_ids: list[str],
    demand: pd.DataFrame,
    stockouts: pd.DataFrame,
    promotions: pd.DataFrame,
    cfg: ForecastConfig,
    workers: int,
) -> ForecastResult:
    chunks = [sku_ids[i::workers] for i in range(workers)]
    with tempfile.TemporaryDirectory(prefix="forecast-") as tmp:
        root = Path(tmp)
        procs = []
        for i, chunk in enumerate(chunks):
            d = root / f"chunk{i}"
            d.mkdir()
            keep = set(chunk)
            pd.DataFrame({"sku_id": chunk}).to_parquet(d / "skus.parquet")
            demand[demand["sku_id"].isin(keep)].to_parquet(d / "demand.parquet")
            stockouts[stockouts["sku_id"].isin(keep)].to_parquet(d / "stockouts.parquet")
            promotions[promotions["sku_id"].isin(keep)].to_parquet(d / "promotions.parquet")
            (d / "config.json").write_text(cfg.to_json())
            env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "replenishment.forecast", str(d)],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            )
        outputs = [p.communicate()[0] for p in procs]
        for p, out, i in zip(procs, outputs, range(workers), strict=True):
            if p.returncode != 0:
                tail = out.decode(errors="replace")[-2000:]
                raise RuntimeError(f"forecast worker {i} exited with {p.returncode}:\n{tail}")
        return ForecastResult.concat(
            [ForecastResult.load(root / f"chunk{i}", "out") for i in range(workers)]
        )


def _worker_main(directory: str) -> int:
    d = Path(directory)
    logging.basicConfig(level=logging.WARNING)
    cfg = ForecastConfig.from_json((d / "config.json").read_text())
    sku_ids = pd.read_parquet(d / "skus.parquet")["sku_id"].tolist()
    series = build_series(
        sku_ids,
        pd.read_parquet(d / "demand.parquet"),
        pd.read_parquet(d / "stockouts.parquet"),
        pd.read_parquet(d / "promotions.parquet"),
        cfg.run_date,
        cfg.horizon_days,
    )
    forecast_skus(series, cfg).save(d, "out")
    return 0


if __name__ == "__main__":
    sys.exit(_worker_main(sys.argv[1]))
