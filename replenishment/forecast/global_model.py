"""The global model: one LightGBM fit across the SKUs of a forecast call, then a
prediction per SKU for its holdout days and its horizon.

Lives here: :func:`fit_global` (features, one fit, every SKU's predictions as a
:class:`GlobalForecast`), the feature set (:data:`LAGS`, :data:`ROLL_WINDOWS`) and the
model class ``lightgbm`` the orchestrator routes to, which reads the predictions the
call made before its SKUs were dealt to worker processes.
May import: numpy, pandas, lightgbm (inside :func:`fit_global`), :mod:`.series`,
:mod:`.models`. Not :mod:`.runner` or :mod:`.workers`.

The set-up is the M5 competition's non-recursive one (Makridakis, Spiliotis & Assimakopoulos
2022, "M5 accuracy competition: results, findings and conclusions", IJF 38(4), section 5:
the winners were LightGBM models trained across series with a Tweedie loss): every
feature of a target day t is known ``min_lag`` days before t, where ``min_lag`` is at
least the horizon and the holdout, so one model forecasts every day of the horizon
directly, without feeding forecasts back.

Per SKU, demand is divided by its scale (mean observed units/day over the year before the
cut-off; a SKU with fewer than :data:`SHRINK_DAYS` observed days has its scale shrunk
toward its category's median scale: the cold start borrows its level from the category and
its weekly, holiday and promotion shape from every SKU). Features of day t:

- lags ``y[t - k]`` for k in :data:`LAGS` (all >= ``min_lag``; the smallest are raised to it);
- rolling mean over 7, 28, 91 days and rolling std over 28 days, ending at t - ``min_lag``;
  the share of promoted days in the 28-day window;
- calendar: day of week, day of month, day of year, month, a public-holiday flag and the
  signed days to the nearest holiday within a week;
- the promotion flag of day t (planned promotions for the horizon);
- static: category (categorical), log scale, share of zero days in the year.

Censored (stock-out) days are NaN: they are not targets, and LightGBM routes a NaN lag its
own way. The model is trained once per call on the :data:`TRAIN_DAYS` days before the
holdout (the last ``holdout_days`` days before the run date), so the holdout scores the very
trees the horizon is forecast with (their features are recomputed with the newest data).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from replenishment.forecast.models import (
    Failed,
    Fitted,
    Job,
    Model,
    ModelContext,
    Outcome,
    Prediction,
    register,
)
from replenishment.forecast.series import FloatArray, SkuSeries

log = logging.getLogger(__name__)

#: Lags of demand, days (each at least the call's min_lag).
LAGS = (28, 35, 42, 49, 56, 91, 182, 364)
#: Rolling windows of the mean, days, ending min_lag days before the target day.
ROLL_WINDOWS = (7, 28, 91)
#: Days of targets the model is trained on (per SKU, before the holdout).
TRAIN_DAYS = 365
#: Observed days below which a SKU's scale is shrunk toward its category's median:
#: scale = (n x own + SHRINK_DAYS x category) / (n + SHRINK_DAYS) for n < SHRINK_DAYS.
SHRINK_DAYS = 56
#: LightGBM's settings: Tweedie loss (demand is a non-negative, zero-inflated count), a
#: fixed seed and deterministic threads so a run date always gives the same forecasts.
PARAMS: dict[str, Any] = {
    "objective": "tweedie",
    "tweedie_variance_power": 1.2,
    "learning_rate": 0.05,
    "num_leaves": 63,
    "min_data_in_leaf": 100,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "max_bin": 63,
    "seed": 7,
    "deterministic": True,
    "force_row_wise": True,
    "verbose": -1,
}
ROUNDS = 250
FEATURES = (
    [f"lag_{k}" for k in LAGS]
    + [f"mean_{w}" for w in ROLL_WINDOWS]
    + ["std_28", "promo_share_28", "dow", "dom", "doy", "month", "holiday", "holiday_days"]
    + ["promo", "category", "log_scale", "zero_share"]
)
CATEGORICAL = ["category", "dow"]


@dataclass(frozen=True)
class GlobalForecast:
    """The global model's predictions of one call, units/day per SKU: ``backtest`` (the
    last ``holdout_days`` days before the run date; absent for SKUs with too little history
    before the holdout), ``future`` (the horizon) and ``sigma`` (the SKU's in-sample error
    spread over its training days, units/day). ``seconds``: the fit's wall time."""

    holdout_days: int
    backtest: Mapping[str, FloatArray]
    future: Mapping[str, FloatArray]
    sigma: Mapping[str, float]
    seconds: float

    def to_frame(self) -> pd.DataFrame:
        """One row per SKU, part ('backtest' / 'future') and day h (for staging)."""
        rows: list[pd.DataFrame] = []
        for part, values in (("backtest", self.backtest), ("future", self.future)):
            for sku, mean in values.items():
                rows.append(
                    pd.DataFrame(
                        {"sku_id": sku, "part": part, "h": np.arange(mean.size), "yhat": mean}
                    )
                )
        frame = pd.concat(rows, ignore_index=True) if rows else _empty_frame()
        sigma = pd.DataFrame({"sku_id": list(self.sigma), "sigma": list(self.sigma.values())})
        frame = frame.merge(sigma, on="sku_id", how="left")
        frame["holdout_days"] = self.holdout_days
        frame["seconds"] = self.seconds
        return frame

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> GlobalForecast:
        if frame.empty:
            return cls(0, {}, {}, {}, 0.0)
        frame = frame.sort_values(["sku_id", "part", "h"])
        parts: dict[str, dict[str, FloatArray]] = {"backtest": {}, "future": {}}
        for (sku, part), g in frame.groupby(["sku_id", "part"], sort=False):
            parts[str(part)][str(sku)] = g["yhat"].to_numpy(dtype=float)
        sigma = frame.drop_duplicates("sku_id").set_index("sku_id")["sigma"].astype(float)
        return cls(
            int(frame["holdout_days"].iloc[0]),
            parts["backtest"],
            parts["future"],
            {str(k): float(v) for k, v in sigma.items()},
            float(frame["seconds"].iloc[0]),
        )


def _empty_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sku_id": pd.Series(dtype=object),
            "part": pd.Series(dtype=object),
            "h": pd.Series(dtype="int64"),
            "yhat": pd.Series(dtype=float),
        }
    )


@dataclass(frozen=True)
class _Panel:
    """Every SKU on one day grid: y (SKUs x days, scaled, NaN = censored or before the
    first sale), promo flags, the grid's dates, and the per-SKU scale (units/day)."""

    y: npt.NDArray[np.float32]
    promo: npt.NDArray[np.float32]
    dates: pd.DatetimeIndex
    scale: FloatArray
    static: npt.NDArray[np.float32]  # SKUs x (category, log_scale, zero_share)


def _panel(
    series: Sequence[SkuSeries],
    categories: Mapping[str, str],
    first_day: pd.Timestamp,
    cutoff: pd.Timestamp,
    horizon: int,
) -> _Panel:
    """The panel of ``series`` from ``first_day`` to the end of the horizon; scales from the
    year before ``cutoff`` (the first holdout day)."""
    end = series[0].future_dates[-1] if horizon else cutoff
    dates = pd.date_range(first_day, end, freq="D")
    n, t = len(series), len(dates)
    y = np.full((n, t), np.nan, dtype=np.float32)
    promo = np.zeros((n, t), dtype=np.float32)
    cut = dates.get_loc(cutoff)
    for i, s in enumerate(series):
        if len(s.dates):
            start = (s.dates[0] - first_day).days
            lo = max(0, -start)
            y[i, start + lo : start + len(s.dates)] = s.y[lo:]
            promo[i, start + lo : start + len(s.dates)] = s.promo_history[lo:]
        promo[i, t - len(s.future_dates) :] = s.promo_future
    year = y[:, max(0, cut - 365) : cut]
    observed = np.sum(~np.isnan(year), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        own = np.nansum(year, axis=1) / observed
        zero_share = np.sum(year == 0, axis=1) / observed
    codes, names = pd.factorize(pd.Series([categories.get(s.sku_id, "") for s in series]))
    own = np.where(np.isfinite(own), own, np.nan)
    scale = _shrunk_scale(own, observed, codes)
    y /= scale[:, None].astype(np.float32)
    static = np.column_stack([codes, np.log(scale), np.nan_to_num(zero_share, nan=1.0)])
    return _Panel(y, promo, dates, scale, static.astype(np.float32))


def _shrunk_scale(own: FloatArray, observed: npt.NDArray[np.int64], codes: Any) -> FloatArray:
    """Each SKU's scale, shrunk toward its category's median below SHRINK_DAYS observed days.

    >>> _shrunk_scale(np.array([2.0, 4.0, 10.0]), np.array([400, 400, 14]), np.zeros(3, int))
    array([2. , 4. , 4.4])
    """
    codes = np.asarray(codes)
    scale = own.copy()
    for c in np.unique(codes):
        members = codes == c
        mature = members & (observed >= SHRINK_DAYS) & np.isfinite(own) & (own > 0)
        pool = own[mature] if mature.any() else own[members & np.isfinite(own) & (own > 0)]
        median = float(np.median(pool)) if pool.size else 1.0
        young = members & (observed < SHRINK_DAYS)
        n = observed[young].astype(float)
        mine = np.nan_to_num(own[young], nan=median)
        scale[young] = (n * mine + SHRINK_DAYS * median) / (n + SHRINK_DAYS)
    return np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)


def _rolling(values: npt.NDArray[np.float32], window: int) -> tuple[FloatArray, FloatArray]:
    """(mean, std) of the observed values of the ``window`` days ending at each column
    (NaN where none is observed)."""
    observed = ~np.isnan(values)
    zeroed = np.where(observed, values, 0.0).astype(float)
    pad = np.zeros((values.shape[0], 1))
    s1 = np.concatenate([pad, np.cumsum(zeroed, axis=1)], axis=1)
    s2 = np.concatenate([pad, np.cumsum(zeroed**2, axis=1)], axis=1)
    cnt = np.concatenate([pad, np.cumsum(observed, axis=1)], axis=1)
    hi = np.arange(1, values.shape[1] + 1)
    lo = np.maximum(hi - window, 0)
    n = cnt[:, hi] - cnt[:, lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (s1[:, hi] - s1[:, lo]) / n
        var = (s2[:, hi] - s2[:, lo]) / n - mean**2
    mean[n == 0] = np.nan
    return mean, np.sqrt(np.clip(var, 0, None))


def _calendar(dates: pd.DatetimeIndex, holidays: pd.DataFrame | None) -> FloatArray:
    """Per day of ``dates``: dow, dom, doy, month, holiday flag, signed days to the nearest
    holiday (NaN when none is within 7 days)."""
    days = dates.values.astype("datetime64[D]").astype(np.int64)
    flag = np.zeros(len(dates))
    near = np.full(len(dates), np.nan)
    if holidays is not None and len(holidays):
        hol = np.unique(pd.DatetimeIndex(holidays["ds"]).values.astype("datetime64[D]"))
        hol = hol.astype(np.int64)
        flag = np.isin(days, hol).astype(float)
        idx = np.clip(np.searchsorted(hol, days), 1, len(hol) - 1) if len(hol) > 1 else None
        if idx is not None:
            before, after = days - hol[idx - 1], hol[idx] - days
            signed = np.where(np.abs(before) <= np.abs(after), before, -after).astype(float)
            near = np.where(np.abs(signed) <= 7, signed, np.nan)
    return np.column_stack(
        [dates.dayofweek, dates.day, dates.dayofyear, dates.month, flag, near]
    ).astype(float)


def _features(panel: _Panel, columns: npt.NDArray[np.intp], min_lag: int, cal: FloatArray) -> Any:
    """The feature matrix of target days ``columns`` of every SKU (rows SKU-major)."""
    n = panel.y.shape[0]
    blocks: list[FloatArray] = []
    for k in LAGS:
        blocks.append(_shifted(panel.y, columns, max(k, min_lag)))
    for w in ROLL_WINDOWS:
        mean, std = _rolling(panel.y, w)
        blocks.append(_shifted(mean, columns, min_lag))
        if w == 28:
            std28 = _shifted(std, columns, min_lag)
    blocks.append(std28)
    promo_mean, _ = _rolling(panel.promo, 28)
    blocks.append(_shifted(promo_mean, columns, min_lag))
    for j in range(cal.shape[1]):
        blocks.append(np.broadcast_to(cal[columns, j], (n, columns.size)))
    blocks.append(panel.promo[:, columns].astype(float))
    for j in range(panel.static.shape[1]):
        blocks.append(np.broadcast_to(panel.static[:, j : j + 1], (n, columns.size)))
    return np.stack([b.reshape(-1) for b in blocks], axis=1).astype(np.float32)


def _shifted(
    values: npt.NDArray[np.floating[Any]], columns: npt.NDArray[np.intp], lag: int
) -> FloatArray:
    """``values`` at column ``c - lag`` for each target column ``c`` (NaN before the grid)."""
    src = columns - lag
    out = np.full((values.shape[0], columns.size), np.nan)
    ok = src >= 0
    out[:, ok] = values[:, src[ok]]
    return out


def fit_global(
    series: Sequence[SkuSeries],
    holdout_days: int,
    holidays: pd.DataFrame | None,
    categories: Mapping[str, str] | None = None,
    threads: int = 1,
) -> GlobalForecast:
    """One LightGBM fit across ``series`` (all forecast from the same run date) and every
    SKU's predictions: the holdout (the last ``holdout_days`` days before the run date, for
    SKUs observed before it) and the horizon, units/day (>= 0). ``threads``: LightGBM's
    OpenMP threads for the dataset, the fit and the predictions; 1 by default: other
    forecast work shares the cores (spinning threads doubled a fit's CPU on a busy 2-core
    machine), and a process that started an OpenMP pool cannot fork a child that uses it
    (the child hangs: libgomp is not fork-safe), as a Celery prefork or a test may do."""
    import lightgbm as lgb

    started = time.perf_counter()
    with_history = [s for s in series if len(s.dates) and np.nansum(s.y) > 0]
    if not with_history:
        return GlobalForecast(holdout_days, {}, {}, {}, 0.0)
    horizon = len(with_history[0].future_dates)
    run_date = with_history[0].future_dates[0]
    min_lag = max(horizon, holdout_days, 1)
    cutoff = run_date - pd.Timedelta(days=holdout_days)
    first_day = cutoff - pd.Timedelta(days=TRAIN_DAYS + max(LAGS) + max(ROLL_WINDOWS))
    panel = _panel(with_history, categories or {}, first_day, cutoff, horizon)
    cal = _calendar(panel.dates, holidays)
    cut = panel.dates.get_loc(cutoff)
    train_cols = np.arange(cut - TRAIN_DAYS, cut)
    x = _features(panel, train_cols, min_lag, cal)
    target = panel.y[:, train_cols].reshape(-1)
    keep = ~np.isnan(target)
    booster = lgb.train(
        {**PARAMS, "num_threads": threads},
        lgb.Dataset(
            x[keep],
            target[keep],
            feature_name=FEATURES,
            categorical_feature=CATEGORICAL,
            free_raw_data=True,
            params={"num_threads": threads, "max_bin": PARAMS["max_bin"], "verbose": -1},
        ),
        num_boost_round=ROUNDS,
    )
    fitted = np.asarray(booster.predict(x, num_threads=threads)).reshape(len(with_history), -1)
    del x
    residual = (panel.y[:, train_cols] - fitted) * panel.scale[:, None]
    days = np.sum(~np.isnan(residual), axis=1)
    sigma = np.sqrt(np.nansum(residual**2, axis=1) / np.maximum(days, 1))
    holdout_cols = np.arange(cut, len(panel.dates) - horizon)
    future_cols = np.arange(len(panel.dates) - horizon, len(panel.dates))
    predicted = {}
    for name, cols in (("backtest", holdout_cols), ("future", future_cols)):
        yhat = np.asarray(
            booster.predict(_features(panel, cols, min_lag, cal), num_threads=threads)
        )
        yhat = yhat.reshape(len(with_history), -1)
        predicted[name] = np.clip(yhat * panel.scale[:, None], 0, None)
    seen_before = np.sum(~np.isnan(panel.y[:, :cut]), axis=1) > 0
    ids = [s.sku_id for s in with_history]
    seconds = time.perf_counter() - started
    log.info(
        "global model: %d SKUs, %d training rows, %d rounds in %.1f s",
        len(ids),
        int(keep.sum()),
        ROUNDS,
        seconds,
    )
    return GlobalForecast(
        holdout_days,
        {sku: predicted["backtest"][i] for i, sku in enumerate(ids) if seen_before[i]}
        if holdout_days
        else {},
        {sku: predicted["future"][i] for i, sku in enumerate(ids)},
        {sku: float(np.nan_to_num(sigma[i])) for i, sku in enumerate(ids)},
        seconds,
    )


@register
class GlobalModel(Model):
    """The global LightGBM model (:func:`fit_global`): its predictions were made for every
    SKU of the call before the SKUs were dealt out; this looks them up per job."""

    name = "lightgbm"
    global_fit = True

    def fit(self, history: Any) -> None:  # the fit is global, see forecast_many
        raise NotImplementedError("the global model is fitted across SKUs by fit_global")

    def predict(self, horizon: Any) -> Prediction:
        raise NotImplementedError("the global model predicts in fit_global")

    @classmethod
    def forecast_many(cls, jobs: Sequence[Job], context: ModelContext) -> list[Outcome]:
        g = context.global_forecast
        outcomes: list[Outcome] = []
        for job in jobs:
            future = g.future.get(job.sku_id) if g is not None else None
            if future is None or g is None:
                outcomes.append(Failed(KeyError(f"no global forecast for {job.sku_id}"), 0.0))
                continue
            sigma = g.sigma.get(job.sku_id, math.nan)
            backtest = None
            if job.holdout is not None:
                b = g.backtest.get(job.sku_id)
                if b is None or b.size != len(job.holdout[1].dates):
                    outcomes.append(Failed(KeyError(f"no global holdout for {job.sku_id}"), 0.0))
                    continue
                backtest = Prediction(b, sigma)
            outcomes.append(Fitted(backtest, Prediction(future, sigma), 0.0))
        return outcomes
