"""Forecast orchestration in one process: route, fit, fall back, assemble the frames.

Lives here: the named steps of a SKU's forecast, :func:`plan_series` (class, candidate
models, backtest holdout), :func:`run_with_fallback` (every SKU's candidates in order,
all SKUs of one model in one :meth:`~.models.Model.forecast_many` call, then the
fallback; the ONLY place a failure is counted and a fallback chosen, as statsforecast's
``fallback_model``), :func:`assemble` (forecast, accuracy, summary and backtest-error
rows), and :func:`forecast_skus`, which runs them over a list of series.
May import: every module of the forecast package except :mod:`.workers`. Not Prophet:
the holidays come from :mod:`.prophet_features`, Prophet itself only with a Stan fit.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from replenishment.forecast.classify import candidates, classify
from replenishment.forecast.config import (
    ACCURACY_COLUMNS,
    BACKTEST_ERROR_COLUMNS,
    FORECAST_COLUMNS,
    SUMMARY_COLUMNS,
    Columns,
    ForecastConfig,
    ForecastResult,
    frame_of_columns,
)
from replenishment.forecast.errors import backtest_error_rows, empty_accuracy, holdout_measures
from replenishment.forecast.global_model import GlobalForecast
from replenishment.forecast.models import (
    MODELS,
    SEASON_DAYS,
    Failed,
    Fitted,
    History,
    Horizon,
    Job,
    Model,
    ModelContext,
    Outcome,
    Prediction,
)
from replenishment.forecast.prophet_features import holidays_frame
from replenishment.forecast.select import describe, select
from replenishment.forecast.series import SkuSeries

# the challengers' modules register their models when imported
from replenishment.forecast import statistical  # noqa: F401  isort: skip

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SeriesPlan:
    """What is decided about a SKU before any fit: its demand class (with ADI and CV²),
    its observed (not censored) days, the models to try in order, and the job."""

    series: SkuSeries
    demand_class: str
    adi: float
    cv2: float
    observed_days: int
    candidates: tuple[str, ...]
    job: Job

    @property
    def holdout_days(self) -> int:
        """Days held out for the backtest (0 = not backtested)."""
        return 0 if self.job.holdout is None else len(self.job.holdout[1].dates)


@dataclass(frozen=True)
class Chosen:
    """The model that forecast a SKU (``a+b`` for a blend), its fit (clipped at 0), whether
    its incumbent model failed (with the first error), the seconds spent on all attempts,
    how it was chosen (:data:`.select.SELECTIONS`) and each candidate's holdout WAPE."""

    model: str
    fitted: Fitted
    failed: bool
    error: str
    seconds: float
    selection: str = "not_backtested"
    errors: dict[str, float] | None = None


def backtest_days(s: SkuSeries, cfg: ForecastConfig, observed_days: int) -> int:
    """Holdout days of ``s`` in this run: ``cfg.backtest_days`` for the SKUs of the day's
    slice (a stable hash of sku_id and the run date, one in ``backtest_every_days``) with
    enough history, else 0."""
    every = max(1, cfg.backtest_every_days)
    in_slice = (zlib.crc32(s.sku_id.encode()) + cfg.run_date.toordinal()) % every == 0
    b = cfg.backtest_days
    enough = observed_days >= cfg.min_history_days + b and s.y.size > b + SEASON_DAYS
    return b if in_slice and b and enough else 0


def plan_series(s: SkuSeries, cfg: ForecastConfig) -> SeriesPlan:
    """Classify ``s``, pick its candidate models and cut its backtest holdout."""
    demand_class, adi, cv2 = classify(s.y, cfg.min_history_days)
    observed_days = int(np.count_nonzero(~np.isnan(s.y)))
    b = backtest_days(s, cfg, observed_days)
    holdout = None
    if b:
        holdout = (
            History(s.dates[:-b], s.y[:-b], s.promo_history[:-b]),
            Horizon(s.dates[-b:], s.promo_history[-b:]),
        )
    job = Job(
        s.sku_id,
        History(s.dates, s.y, s.promo_history),
        Horizon(s.future_dates, s.promo_future),
        holdout,
    )
    names = candidates(demand_class)
    if cfg.only:
        kept = tuple(n for n in names[:-1] if n in cfg.only)
        names = (*kept, names[-1]) if kept else names
    return SeriesPlan(s, demand_class, adi, cv2, observed_days, names, job)


def model_class(name: str) -> type[Model]:
    """The registered model ``name``."""
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(
            f"model {name!r} (forecast.classify.ROUTES) is not registered; "
            f"registered: {sorted(MODELS)}"
        ) from None


def checked(name: str, outcome: Outcome) -> Outcome:
    """``outcome`` with its forecasts clipped at 0; Failed when any is not finite."""
    if isinstance(outcome, Failed):
        return outcome
    predictions = [p for p in (outcome.backtest, outcome.future) if p is not None]
    if not all(np.all(np.isfinite(p.mean)) for p in predictions):
        return Failed(FloatingPointError(f"{name} produced non-finite forecasts"), outcome.seconds)

    def clip(p: Prediction | None) -> Prediction | None:
        if p is None:
            return None
        return Prediction(np.clip(p.mean, 0, None), p.in_sample_sigma, p.promo_uplift)

    future = clip(outcome.future)
    assert future is not None
    return Fitted(clip(outcome.backtest), future, outcome.seconds)


def _outcomes(name: str, jobs: Sequence[Job], context: ModelContext) -> list[Outcome]:
    outcomes = model_class(name).forecast_many(jobs, context)
    if len(outcomes) != len(jobs):
        raise RuntimeError(f"model {name}: {len(outcomes)} outcomes for {len(jobs)} jobs")
    return [checked(name, o) for o in outcomes]


@dataclass
class _Open:
    """A SKU being forecast: its plan, which candidate is next, the seconds spent and
    the first error (empty while no candidate has failed)."""

    plan: SeriesPlan
    attempt: int = 0
    seconds: float = 0.0
    error: str = ""

    @property
    def model(self) -> str:
        return self.plan.candidates[self.attempt]


def _fall_back(state: _Open, failure: Failed) -> None:
    """Count ``failure`` of the SKU's current model and move it to the next candidate;
    raise the failure when it was the last (the fallback model itself)."""
    failed_model = state.model
    state.attempt += 1
    if state.attempt == len(state.plan.candidates):
        raise failure.error
    error = f"{type(failure.error).__name__}: {failure.error}"[:300]
    state.error = state.error or error
    log.warning(
        "SKU %s: %s failed (%s); falling back to %s",
        state.plan.job.sku_id,
        failed_model,
        error,
        state.model,
    )


def run_with_fallback(plans: Sequence[SeriesPlan], context: ModelContext) -> list[Chosen]:
    """Each SKU's forecast: a contest of its candidates when it has a holdout, else the
    first of its candidates that does not fail.

    Contest (a backtested SKU with two or more available candidates): every candidate is
    fitted (all SKUs of one model in one call) and :func:`.select.select` picks the winner
    by holdout error. Chain (the others, and contest SKUs whose candidates all failed):
    rounds in which the SKUs still open are grouped by their next candidate; a failure is
    logged and counted here (``failed``, the first error) and the SKU moves on; the last is
    the fallback (seasonal_naive), whose failure is raised.
    """
    usable = [_usable(p, context) for p in plans]
    contest = [i for i, p in enumerate(usable) if p.holdout_days and len(p.candidates) > 2]
    chosen = _contest(usable, contest, context)
    states = [_Open(p) for p in usable]
    for i in set(range(len(plans))) - set(chosen):
        if i in contest:  # every candidate failed: straight to the fallback
            states[i].attempt = len(usable[i].candidates) - 1
            states[i].error = "every candidate failed"
    pending = sorted(set(range(len(plans))) - set(chosen))
    while pending:
        groups: dict[str, list[int]] = {}
        for i in pending:
            groups.setdefault(states[i].model, []).append(i)
        pending = []
        for name, members in groups.items():
            outcomes = _outcomes(name, [usable[k].job for k in members], context)
            for i, outcome in zip(members, outcomes, strict=True):
                state = states[i]
                state.seconds += outcome.seconds
                if isinstance(outcome, Fitted):
                    how = "fallback" if state.error else "not_backtested"
                    chosen[i] = Chosen(
                        name, outcome, bool(state.error), state.error, state.seconds, how
                    )
                else:
                    _fall_back(state, outcome)
                    pending.append(i)
    return [chosen[i] for i in range(len(plans))]


def _usable(plan: SeriesPlan, context: ModelContext) -> SeriesPlan:
    """``plan`` without the candidates the call cannot run (the global model when the call
    made no global forecast)."""
    names = tuple(
        n
        for n in plan.candidates
        if not (model_class(n).global_fit and context.global_forecast is None)
    )
    return plan if names == plan.candidates else dataclasses.replace(plan, candidates=names)


def default_model(plan: SeriesPlan) -> str:
    """The model a contest keeps unless a candidate beats it by the margin: the blend of the
    class's own model and the global model when both are candidates (``prophet+lightgbm``),
    else the class's own model (see :mod:`.select`)."""
    names = plan.candidates
    if len(names) > 2 and model_class(names[1]).global_fit and not model_class(names[0]).global_fit:
        return f"{names[0]}+{names[1]}"
    return names[0]


def _contest(
    plans: Sequence[SeriesPlan], members: Sequence[int], context: ModelContext
) -> dict[int, Chosen]:
    """The winners of the contest SKUs ``members`` (indexes into ``plans``) whose
    candidates did not all fail."""
    fits: dict[int, dict[str, Fitted]] = {i: {} for i in members}
    errors: dict[tuple[int, str], str] = {}
    seconds: dict[int, float] = dict.fromkeys(members, 0.0)
    names = sorted({n for i in members for n in plans[i].candidates[:-1]})
    for name in names:
        group = [i for i in members if name in plans[i].candidates[:-1]]
        for i, outcome in zip(
            group, _outcomes(name, [plans[k].job for k in group], context), strict=True
        ):
            seconds[i] += outcome.seconds
            if isinstance(outcome, Fitted) and outcome.backtest is not None:
                fits[i][name] = outcome
            elif isinstance(outcome, Failed):
                error = f"{name}: {type(outcome.error).__name__}: {outcome.error}"[:300]
                errors[i, name] = error
                log.warning("SKU %s: %s failed (%s)", plans[i].job.sku_id, name, error)
    chosen: dict[int, Chosen] = {}
    for i in members:
        if not fits[i]:
            continue
        plan = plans[i]
        won = select(default_model(plan), fits[i], plan.series.y[-plan.holdout_days :])
        failed = plan.candidates[0] not in fits[i]
        chosen[i] = Chosen(
            won.model,
            won.fitted,
            failed,
            errors.get((i, plan.candidates[0]), "") if failed else "",
            seconds[i],
            won.selection,
            dict(won.errors),
        )
    return chosen


def _forecast_rows(
    s: SkuSeries, model: str, future: Prediction, sigma: float, cfg: ForecastConfig, z: float
) -> Columns:
    n = len(s.future_dates)
    return {
        "sku_id": np.full(n, s.sku_id),
        "forecast_date": s.future_dates.as_unit("ns").values,
        "yhat": future.mean,
        "yhat_lower": np.clip(future.mean - z * sigma, 0, None),
        "yhat_upper": future.mean + z * sigma,
        "interval_width": np.full(n, cfg.interval_width, dtype=float),
        "promo": s.promo_future.astype(int),
        "model": np.full(n, model),
    }


def assemble(
    plan: SeriesPlan, chosen: Chosen, cfg: ForecastConfig, z: float
) -> tuple[Columns, dict[str, Any], dict[str, Any], Columns | None]:
    """(forecast rows, accuracy row, summary row, backtest-error rows or None) of a SKU;
    the rows as columns of arrays, made frames for all SKUs at once (:func:`frame_of_columns`).

    ``sigma_daily`` is the backtest RMSE when there is one, else the in-sample sigma;
    yhat_lower/yhat_upper are yhat -/+ ``z`` * sigma_daily (the lower clipped at 0).
    A model the contest chose over the default (:func:`contest_sigma`) keeps the
    default's error level.
    """
    s, model, fitted = plan.series, chosen.model, chosen.fitted
    accuracy = empty_accuracy(s.sku_id, model, plan.demand_class)
    accuracy["incumbent"] = plan.candidates[0]
    accuracy["selection"] = chosen.selection
    backtest_rmse, errors = math.nan, None
    b = plan.holdout_days
    if b and fitted.backtest is not None:
        train_y, test_y = s.y[:-b], s.y[-b:]
        fields, backtest_rmse = holdout_measures(train_y, test_y, fitted.backtest.mean)
        accuracy.update(fields, backtest_start=s.dates[-b].date())
        if math.isfinite(fields["wape"]) and fields["baseline_wape"] > 0:
            accuracy["fva"] = 1 - fields["wape"] / fields["baseline_wape"]
        errors = backtest_error_rows(
            s.sku_id,
            model,
            plan.demand_class,
            s.dates[-b:],
            test_y,
            fitted.backtest.mean,
            fitted.backtest.in_sample_sigma,
        )
    if chosen.errors:
        default = default_model(plan)
        accuracy["incumbent"] = default
        accuracy["incumbent_wape"] = chosen.errors.get(default, math.nan)
        accuracy["candidate_wapes"] = describe(chosen.errors)
    in_sample = fitted.future.in_sample_sigma
    sigma = backtest_rmse if math.isfinite(backtest_rmse) else in_sample
    if chosen.selection == "backtest" and chosen.errors:
        sigma = contest_sigma(sigma, chosen.errors, default_model(plan), model)
    summary = {
        "sku_id": s.sku_id,
        "model": model,
        "demand_class": plan.demand_class,
        "adi": plan.adi,
        "cv2": plan.cv2,
        "observed_days": plan.observed_days,
        "sigma_daily": sigma,
        "in_sample_sigma": in_sample,
        "backtest_rmse": backtest_rmse,
        "promo_uplift": fitted.future.promo_uplift,
        "failed": int(chosen.failed),
        "error": chosen.error,
        "seconds": chosen.seconds,
    }
    return _forecast_rows(s, model, fitted.future, sigma, cfg, z), accuracy, summary, errors


def contest_sigma(sigma: float, wapes: Mapping[str, float], default: str, winner: str) -> float:
    """The error spread of a model the contest chose over ``default`` on one holdout:
    its own holdout ``sigma`` raised to the default's error level, ``sigma * WAPE(default)
    / WAPE(winner)`` (the same held-out days: the ratio of their mean absolute errors).

    The winner of a contest is the candidate whose errors on *this* holdout were
    smallest, so its holdout error understates its error on the days to come (the
    winner's curse of selection on the test set: Cawley & Talbot, "On over-fitting in
    model selection and subsequent selection bias in performance evaluation", JMLR 11,
    2010); the default, fixed before the holdout was seen, has no such bias. A safety
    stock sized on the winner's own holdout error fell short of its target in the
    replay simulator (challengers chosen for lumpy SKUs: 23 % of their protection
    periods above the order-up-to level against 4 % asked). Unchanged when either WAPE
    is unknown or the winner's is not below the default's.

    >>> contest_sigma(2.0, {"sba+lightgbm": 0.5, "tsb": 0.4}, "sba+lightgbm", "tsb")
    2.5
    >>> contest_sigma(2.0, {"tsb": 0.4}, "sba+lightgbm", "tsb")
    2.0
    """
    base, own = wapes.get(default, math.nan), wapes.get(winner, math.nan)
    if not (math.isfinite(base) and math.isfinite(own)) or own <= 0 or base <= own:
        return sigma
    return sigma * base / own


def interval_z(interval_width: float) -> float:
    """Standard normal quantile of a central interval: 1.2816 for 80 %.

    >>> round(interval_z(0.8), 4)
    1.2816
    """
    from statistics import NormalDist  # not scipy.stats: its import costs seconds per process

    return float(NormalDist().inv_cdf(0.5 + interval_width / 2))


def forecast_skus(
    series: Sequence[SkuSeries],
    cfg: ForecastConfig,
    global_forecast: GlobalForecast | None = None,
) -> ForecastResult:
    """Forecast every SKU of ``series`` in this process; ``global_forecast``: the global
    model's predictions for them (None: no global model in this call)."""
    _quiet_stan()
    holidays = holidays_frame(cfg.holiday_country, cfg.run_date, cfg.horizon_days)
    context = ModelContext(holidays, cfg.interval_width, global_forecast)
    plans = [plan_series(s, cfg) for s in series]
    z = interval_z(cfg.interval_width)
    rows = [
        assemble(p, c, cfg, z)
        for p, c in zip(plans, run_with_fallback(plans, context), strict=True)
    ]
    return ForecastResult(
        forecast=frame_of_columns([r[0] for r in rows], FORECAST_COLUMNS),
        accuracy=pd.DataFrame([r[1] for r in rows], columns=ACCURACY_COLUMNS),
        summary=pd.DataFrame([r[2] for r in rows], columns=SUMMARY_COLUMNS),
        backtest_errors=frame_of_columns(
            [r[3] for r in rows if r[3] is not None], BACKTEST_ERROR_COLUMNS
        ),
    )


def forecast_series(
    s: SkuSeries, cfg: ForecastConfig, holidays: pd.DataFrame | None
) -> tuple[pd.DataFrame, dict[str, Any], dict[str, Any]]:
    """Forecast one SKU: (forecast rows, accuracy row, summary row)."""
    plan = plan_series(s, cfg)
    (chosen,) = run_with_fallback([plan], ModelContext(holidays, cfg.interval_width))
    forecast, accuracy, summary, _ = assemble(plan, chosen, cfg, interval_z(cfg.interval_width))
    return frame_of_columns([forecast], FORECAST_COLUMNS), accuracy, summary


def _quiet_stan() -> None:
    for name in ("cmdstanpy", "prophet", "prophet.plot"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("cmdstanpy").disabled = True
    logging.getLogger("prophet.plot").setLevel(logging.CRITICAL)  # "plotly failed": not needed
