"""The forecast models: one small interface, a class per model, registered by name.

Lives here: what a model is given (:class:`History`, :class:`Horizon`, :class:`Job`,
:class:`ModelContext`) and what it returns (:class:`Prediction`, :class:`Fitted` or
:class:`Failed`), the :class:`Model` base class, the registry :data:`MODELS`, and the
models prophet, sba, moving_average, seasonal_naive and no_history.

The interface follows Nixtla statsforecast's ``_TS`` models: ``fit`` on a history with
its covariates (the 0/1 promotion flag; the run's public holidays come with the
context), ``predict`` the horizon with the in-sample error spread, ``forecast`` = both.
:meth:`Model.forecast_many` is the batch hook the orchestrator calls with all SKUs of a
run routed to one model: per series by default; a global model (one fit across SKUs,
then a prediction per SKU) or a batched fit overrides it. Routing, fallback and failure
counting are the orchestrator's (:mod:`.runner`), never a model's.

May import: numpy, pandas, :mod:`.series`; Prophet (:mod:`replenishment.stan_fast`)
and the batched Prophet fits (:mod:`.prophet_batch`) lazily inside their calls. Not :mod:`.runner`, :mod:`.workers` or :mod:`.calibrate`.
"""

from __future__ import annotations

import math
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np
import pandas as pd

from replenishment.forecast.series import FloatArray

if TYPE_CHECKING:
    from replenishment.forecast.global_model import GlobalForecast

MA_WINDOW_DAYS = 28
SBA_ALPHA = 0.1
#: Observed days Prophet needs before it models yearly seasonality.
YEARLY_MIN_DAYS = 730
#: Most recent days whose residuals give a simple model's in-sample sigma.
RESIDUAL_WINDOW_DAYS = 365
SEASON_DAYS = 7
#: Environment variable choosing Prophet's solver: "batched" (default) or "stan".
SOLVER_ENV = "REPLENISHMENT_PROPHET_SOLVER"


# --------------------------------------------------------------------------- interface


@dataclass(frozen=True)
class History:
    """What a model is fitted on: one SKU's days, units/day (NaN = censored), promo flags."""

    dates: pd.DatetimeIndex
    y: FloatArray
    promo: FloatArray


@dataclass(frozen=True)
class Horizon:
    """The days to forecast and their planned 0/1 promotion flags."""

    dates: pd.DatetimeIndex
    promo: FloatArray


@dataclass(frozen=True)
class ModelContext:
    """What every model of a run shares: Prophet's holidays frame (None = none), the
    central probability mass of the run's intervals, and the global model's predictions
    for the call's SKUs (None when the call has no global model)."""

    holidays: pd.DataFrame | None
    interval_width: float
    global_forecast: GlobalForecast | None = None


@dataclass(frozen=True)
class Prediction:
    """mean: forecast per horizon day, units/day (the orchestrator checks and clips it);
    in_sample_sigma: spread of the fit's one-day errors, units/day;
    promo_uplift: relative uplift of a promoted day (NaN when the model has none)."""

    mean: FloatArray
    in_sample_sigma: float
    promo_uplift: float = math.nan


@dataclass(frozen=True)
class Job:
    """One SKU's work for a model: with a ``holdout`` (training history, held-out days),
    first a backtest fit on it, then the fit on the whole ``history`` for ``horizon``."""

    sku_id: str
    history: History
    horizon: Horizon
    holdout: tuple[History, Horizon] | None = None


@dataclass(frozen=True)
class Fitted:
    """A job done: the backtest's prediction (None without holdout) and the horizon's."""

    backtest: Prediction | None
    future: Prediction
    seconds: float


@dataclass(frozen=True)
class Failed:
    """A job whose model raised; the orchestrator falls back and counts it."""

    error: Exception
    seconds: float


Outcome = Fitted | Failed


class Model(ABC):
    """One forecaster. Instances are per series: ``fit`` then ``predict``; a second
    ``fit`` on the same instance may warm-start from the first (the backtest fit comes
    first, on the same series less its holdout)."""

    #: the name of the model in ROUTES, the outputs' ``model`` column and logs
    name: ClassVar[str]
    #: True for a model fitted across the SKUs of a call before they are dealt out
    #: (its predictions come with the context); the orchestrator skips it when none was
    global_fit: ClassVar[bool] = False

    def __init__(self, context: ModelContext) -> None:
        self.context = context

    @abstractmethod
    def fit(self, history: History) -> None:
        """Fit on ``history``."""

    @abstractmethod
    def predict(self, horizon: Horizon) -> Prediction:
        """Forecast ``horizon`` from the last fit."""

    def forecast(self, history: History, horizon: Horizon) -> Prediction:
        """Fit on ``history`` and forecast ``horizon``."""
        self.fit(history)
        return self.predict(horizon)

    def run(self, job: Job) -> tuple[Prediction | None, Prediction]:
        """(backtest prediction or None, horizon prediction) of one job."""
        backtest = self.forecast(*job.holdout) if job.holdout is not None else None
        return backtest, self.forecast(job.history, job.horizon)

    @classmethod
    def forecast_many(cls, jobs: Sequence[Job], context: ModelContext) -> list[Outcome]:
        """One outcome per job, in order. A model that fits many series at once (a
        global or batched model) overrides this; it must report each job's own error as
        a :class:`Failed` rather than raise, so one bad series does not stop the others.
        """
        outcomes: list[Outcome] = []
        for job in jobs:
            started = time.perf_counter()
            try:
                backtest, future = cls(context).run(job)
            except Exception as exc:  # reported per job; the orchestrator falls back
                outcomes.append(Failed(exc, time.perf_counter() - started))
            else:
                outcomes.append(Fitted(backtest, future, time.perf_counter() - started))
        return outcomes


#: model name -> class; filled by :func:`register`
MODELS: dict[str, type[Model]] = {}

M = TypeVar("M", bound=type[Model])


def register(cls: M) -> M:
    """Class decorator: make ``cls`` available under ``cls.name``."""
    if cls.name in MODELS:
        raise ValueError(f"model {cls.name!r} is registered twice")
    MODELS[cls.name] = cls
    return cls


def residual_sigma(y: FloatArray, fitted: FloatArray) -> float:
    """Sample standard deviation of ``y - max(fitted, 0)`` over the observed days of the
    last :data:`RESIDUAL_WINDOW_DAYS` (0 with fewer than two).

    >>> residual_sigma(np.array([1.0, np.nan, 3.0]), np.full(3, 2.0))
    1.4142135623730951
    """
    residual = y - np.clip(fitted, 0, None)
    residual = residual[~np.isnan(residual)][-RESIDUAL_WINDOW_DAYS:]
    return float(np.std(residual, ddof=1)) if residual.size > 1 else 0.0


# --------------------------------------------------------------------------- simple models


def seasonal_naive(y: FloatArray, steps: int, season: int = SEASON_DAYS) -> FloatArray:
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


def moving_average(y: FloatArray, steps: int, window: int = MA_WINDOW_DAYS) -> FloatArray:
    """The mean of the last ``window`` observed days, flat over ``steps`` days."""
    observed = y[~np.isnan(y)][-window:]
    level = float(observed.mean()) if observed.size else 0.0
    return np.full(steps, level)


def sba(y: FloatArray, steps: int, alpha: float = SBA_ALPHA) -> FloatArray:
    """Croston's method with the Syntetos-Boylan correction: (1 - alpha/2) * size / interval.

    Censored days (NaN) are dropped. Hand-written because statsforecast (the
    library of choice) pins pandas < 3. Syntetos & Boylan (2005), eq. 6:

    >>> float(sba(np.tile([0.0, 0.0, 0.0, 4.0], 50), 1)[0])
    0.95
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


class _FlatRateModel(Model):
    """A model whose forecast is one rate for every day; its in-sample fit is that rate."""

    @abstractmethod
    def rate(self, y: FloatArray) -> float:
        """The rate fitted on ``y``, units/day."""

    def fit(self, history: History) -> None:
        self._rate = self.rate(history.y)
        self._sigma = residual_sigma(history.y, np.full(history.y.size, self._rate))

    def predict(self, horizon: Horizon) -> Prediction:
        return Prediction(np.full(len(horizon.dates), self._rate), self._sigma)


@register
class SbaModel(_FlatRateModel):
    """Intermittent demand: Croston/SBA rate (:func:`sba`), units/day."""

    name = "sba"

    def rate(self, y: FloatArray) -> float:
        return float(sba(y, 1)[0])


@register
class MovingAverageModel(_FlatRateModel):
    """Short history: the mean of the last 28 observed days (:func:`moving_average`)."""

    name = "moving_average"

    def rate(self, y: FloatArray) -> float:
        return float(moving_average(y, 1)[0])


@register
class SeasonalNaiveModel(Model):
    """The last observed week repeated (:func:`seasonal_naive`); also the fallback."""

    name = "seasonal_naive"

    def fit(self, history: History) -> None:
        y = history.y
        self._y = y
        fitted = np.concatenate([np.full(min(SEASON_DAYS, y.size), np.nan), y[:-SEASON_DAYS]])
        self._sigma = residual_sigma(y, fitted[: y.size])

    def predict(self, horizon: Horizon) -> Prediction:
        return Prediction(seasonal_naive(self._y, len(horizon.dates)), self._sigma)


@register
class NoHistoryModel(Model):
    """No sale ever: zero."""

    name = "no_history"

    def fit(self, history: History) -> None:
        self._sigma = residual_sigma(history.y, np.zeros(history.y.size))

    def predict(self, horizon: Horizon) -> Prediction:
        return Prediction(np.zeros(len(horizon.dates)), self._sigma)


# --------------------------------------------------------------------------- Prophet


def new_prophet(
    holidays: pd.DataFrame | None, interval_width: float, yearly: bool, promo: bool
) -> Any:
    """An unfitted :class:`~replenishment.stan_fast.LeanProphet` with the project's
    settings: linear growth, weekly and (``yearly``) yearly seasonality, ``holidays``, all
    multiplicative, and (``promo``) the 0/1 regressor ``promo``, not standardised."""
    from replenishment.stan_fast import LeanProphet

    model = LeanProphet(
        growth="linear",
        yearly_seasonality=yearly,
        weekly_seasonality=True,
        daily_seasonality=False,
        seasonality_mode="multiplicative",
        holidays=holidays,
        uncertainty_samples=0,
        interval_width=interval_width,
    )
    if promo:
        model.add_regressor("promo", standardize=False, mode="multiplicative")
    return model


class _ProphetModel:
    """Prophet with the project's settings; one instance per fit.

    Weekly and (given two years of observed days) yearly seasonality, the holidays, and
    a 0/1 promotion regressor when the history has promoted days; multiplicative
    seasonality, so the promotion coefficient is the relative uplift. ``init``: fitted
    parameters of an earlier fit to warm-start the optimiser from.
    """

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
        self._model: Any = None
        self._use_promo = False

    def fit(self, dates: pd.DatetimeIndex, y: FloatArray, promo: FloatArray) -> None:
        """Fit on (dates, y); sets ``params``, ``noise_sigma`` and ``promo_uplift``."""
        observed = np.count_nonzero(~np.isnan(y))
        self._use_promo = bool(np.nansum(promo[~np.isnan(y)]) > 0)
        model = new_prophet(
            self.holidays, self.interval_width, bool(observed >= YEARLY_MIN_DAYS), self._use_promo
        )
        train = pd.DataFrame({"ds": dates, "y": y})
        if self._use_promo:
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
        if self._use_promo:
            # multiplicative mode: yhat = trend * (1 + ... + beta * promo), so beta is the uplift
            self.promo_uplift = float(model.params["beta"][0][_regressor_index(model, "promo")])
        self._model = model

    def predict(self, future_dates: pd.DatetimeIndex, promo_future: FloatArray) -> FloatArray:
        """yhat for ``future_dates`` only (predicting the history costs as much as fitting)."""
        frame = pd.DataFrame({"ds": future_dates})
        if self._use_promo:
            frame["promo"] = promo_future
        return np.asarray(self._model.predict(frame)["yhat"].to_numpy(dtype=float))

    def fit_predict(
        self,
        dates: pd.DatetimeIndex,
        y: FloatArray,
        promo: FloatArray,
        future_dates: pd.DatetimeIndex,
        promo_future: FloatArray,
    ) -> FloatArray:
        """Fit on (dates, y) and return yhat for ``future_dates``; the in-sample error is
        the fitted observation noise, ``noise_sigma``."""
        self.fit(dates, y, promo)
        return self.predict(future_dates, promo_future)


def _regressor_index(model: Any, name: str) -> int:
    return int(np.argmax(model.train_component_cols[name].to_numpy()))


@register
class ProphetModel(Model):
    """Smooth and erratic demand: Prophet (:class:`_ProphetModel`). A refit on the same
    instance warm-starts from the previous fit's parameters (the backtest fit starts the
    full fit: same model, the holdout's days less data)."""

    name = "prophet"

    def __init__(self, context: ModelContext) -> None:
        super().__init__(context)
        self._init: dict[str, Any] | None = None
        self._prophet: _ProphetModel | None = None

    @classmethod
    def forecast_many(cls, jobs: Sequence[Job], context: ModelContext) -> list[Outcome]:
        """All jobs by the batched MAP solver (:mod:`.prophet_batch`), Stan (this class's
        per-series fit) for what it does not cover; ``REPLENISHMENT_PROPHET_SOLVER=stan``
        fits every job by Stan (the reference the batched fits are checked against)."""
        if os.environ.get(SOLVER_ENV, "batched") == "stan":
            return super().forecast_many(jobs, context)
        from replenishment.forecast.prophet_batch import forecast_jobs

        return forecast_jobs(jobs, context, lambda job: cls(context).run(job))

    def _new(self) -> _ProphetModel:
        return _ProphetModel(self.context.holidays, self.context.interval_width, init=self._init)

    def fit(self, history: History) -> None:
        self._prophet = self._new()
        self._prophet.fit(history.dates, history.y, history.promo)
        self._init = self._prophet.params

    def predict(self, horizon: Horizon) -> Prediction:
        if self._prophet is None:
            raise RuntimeError("ProphetModel.predict before fit")
        p = self._prophet
        return Prediction(p.predict(horizon.dates, horizon.promo), p.noise_sigma, p.promo_uplift)

    def forecast(self, history: History, horizon: Horizon) -> Prediction:
        p = self._new()
        mean = p.fit_predict(history.dates, history.y, history.promo, horizon.dates, horizon.promo)
        self._prophet, self._init = p, p.params
        return Prediction(mean, p.noise_sigma, p.promo_uplift)
