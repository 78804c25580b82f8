"""``benchmark.py prophet``: Prophet fits side by side on the same SKUs, CPU-seconds per SKU.

Measures, in one run and one process tree, on the demo warehouse's Prophet-routed SKUs
(the project's model: linear growth, multiplicative weekly and yearly seasonality,
holidays, multiplicative 0/1 promotion regressor, 28 future days; one full fit + forecast
per SKU, no backtest):

  project      the forecast package's batched MAP solver (``prophet_batch.forecast_jobs``)
  stan         the same model by Stan per SKU (LeanProphet, the path before the solver)
  prophet-batch  the PyPI package ``prophet_batch.fit_many`` + ``predict_many`` (if importable)
  floor        the CmdStan optimizer binary alone on each SKU's inputs
  naive        default ``Prophet()`` fit + predict per SKU (a subset)
  stage        the whole forecast stage (``forecast_frames``: routing, backtests, every model)

CPU-seconds include child processes (``getrusage`` of self and children). Then the
distribution over the SKUs of the log posterior (``prophet_map.log_posterior`` on Prophet's
Stan inputs, the same function for every fit) relative to Stan's, and of the forecasts'
largest gap to Stan's in % of the SKU's mean demand.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import resource
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

RUN_DATE = dt.date(2026, 7, 1)


def cpu_seconds() -> float:
    """User + system CPU of this process and its waited-for children, s."""
    own, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = cpu_seconds()
    out = fn()
    return out, cpu_seconds() - start


def _jobs(args: argparse.Namespace) -> tuple[Any, list[str], list[Any], Any]:
    from replenishment.db import make_engine
    from replenishment.extract import extract
    from replenishment.forecast import ForecastConfig, build_series, holidays_frame
    from replenishment.forecast.models import Job, ModelContext
    from replenishment.forecast.runner import plan_series

    data = extract(make_engine(args.url), RUN_DATE, 28)
    ids = sorted(data.sku.loc[data.sku["active"], "sku_id"])[: args.skus]
    cfg = ForecastConfig(run_date=RUN_DATE)
    series = build_series(ids, data.demand, data.stockouts, data.promotions, RUN_DATE, 28)
    plans = [plan_series(s, cfg) for s in series]
    jobs = [
        Job(p.job.sku_id, p.job.history, p.job.horizon)
        for p in plans
        if p.candidates[0] == "prophet"
    ]
    context = ModelContext(holidays_frame(cfg.holiday_country, RUN_DATE, 28), cfg.interval_width)
    return data, ids, jobs, (context, cfg, series)


def _stan_fit(job: Any, context: Any) -> tuple[np.ndarray, dict[str, Any], dict[str, Any]]:
    from replenishment.forecast.models import _ProphetModel

    m = _ProphetModel(context.holidays, context.interval_width)
    h, z = job.history, job.horizon
    mean = m.fit_predict(h.dates, h.y, h.promo, z.dates, z.promo)
    train = pd.DataFrame({"ds": h.dates, "y": h.y})
    if m._use_promo:
        train["promo"] = h.promo
    inputs = m._model.preprocess(train)
    data = {
        k: getattr(inputs, k) for k in ("y", "t", "t_change", "X", "sigmas", "tau", "s_a", "s_m")
    }
    return mean, dict(m.params or {}), data


def _prophet_batch(
    jobs: list[Any], context: Any
) -> dict[str, tuple[np.ndarray, dict[str, Any]]] | None:
    try:
        from prophet_batch import fit_many, predict_many
    except ImportError:
        return None
    from replenishment.forecast.models import YEARLY_MIN_DAYS

    config = {}
    frames, futures = [], {}
    for j in jobs:
        observed = ~np.isnan(j.history.y)
        promo = bool(np.sum(j.history.promo[observed]) > 0)
        config[j.sku_id] = (int(observed.sum()) >= YEARLY_MIN_DAYS, promo)
        frames.append(
            pd.DataFrame(
                {
                    "unique_id": j.sku_id,
                    "ds": j.history.dates,
                    "y": j.history.y,
                    "promo": j.history.promo,
                }
            )
        )
        futures[j.sku_id] = pd.DataFrame({"ds": j.horizon.dates, "promo": j.horizon.promo})

    def make_model(sid: Any) -> Any:
        from prophet import Prophet

        yearly, promo = config[sid]
        m = Prophet(
            growth="linear", yearly_seasonality=yearly, weekly_seasonality=True, daily_seasonality=False,
            seasonality_mode="multiplicative", holidays=context.holidays, uncertainty_samples=0,
            interval_width=context.interval_width,
        )  # fmt: skip
        if promo:
            m.add_regressor("promo", standardize=False, mode="multiplicative")
        return m

    models = fit_many(pd.concat(frames, ignore_index=True), make_model=make_model, n_jobs=1)
    out = predict_many(models, futures=futures, include_history=False, n_jobs=1)
    result = {}
    for sid, m in models.items():
        p = {k: np.asarray(m.params[k])[0] for k in ("k", "m", "delta", "beta", "sigma_obs")}
        params = {"k": float(p["k"].ravel()[0]), "m": float(p["m"].ravel()[0]),
                  "sigma_obs": float(p["sigma_obs"].ravel()[0]), "delta": p["delta"].ravel(),
                  "beta": p["beta"].ravel()}  # fmt: skip
        result[sid] = (out[sid]["yhat"].to_numpy(dtype=float), params)
    return result


def _project(jobs: list[Any], context: Any) -> tuple[list[Any], dict[str, int]]:
    from replenishment.forecast import prophet_batch as pb

    grid = pb._Features(context, *pb._grid(jobs))
    fits = pb.solve_fits([(j.history, j.horizon) for j in jobs], grid, [None] * len(jobs))
    counts = {"batched": sum(isinstance(f, pb.Fit) for f in fits)}
    out = []
    for j, f in zip(jobs, fits, strict=True):
        if isinstance(f, pb.Fit):
            out.append((f.mean, f.params))
        else:  # what the stage does: Stan for what the solver does not cover
            counts[f"stan: {f}"] = counts.get(f"stan: {f}", 0) + 1
            mean, params, _ = _stan_fit(j, context)
            out.append((mean, params))
    return out, counts


def _lp(data: dict[str, Any], p: dict[str, Any]) -> float:
    from replenishment.forecast.prophet_map import log_posterior

    return log_posterior(data, p["k"], p["m"], p["delta"], p["beta"], p["sigma_obs"])


def _distribution(name: str, values: np.ndarray, fmt: str) -> str:
    q = np.quantile(values, [0.0, 0.05, 0.5, 0.95, 1.0])
    return f"{name:44s} " + " ".join(format(v, fmt) for v in q)


def _agreement(jobs: list[Any], stan: list[Any], others: dict[str, list[Any]]) -> None:
    print(
        f"\n{'distribution over SKUs':44s} {'min':>9s} {'p5':>9s} {'median':>9s} {'p95':>9s} {'max':>9s}"
    )
    for name, fits in others.items():
        rel, gap = [], []
        for j, (s_mean, s_params, data), (mean, params) in zip(jobs, stan, fits, strict=True):
            lp_s, lp_o = _lp(data, s_params), _lp(data, params)
            rel.append((lp_o - lp_s) / abs(lp_s))
            gap.append(100 * np.max(np.abs(mean - s_mean)) / np.nanmean(j.history.y))
        r, g = np.array(rel), np.array(gap)
        print(_distribution(f"{name}: (lp - lp_stan) / |lp_stan|", r, "9.2e"))
        print(_distribution(f"{name}: max |yhat - yhat_stan|, % mean demand", g, "9.2f"))
        print(f"  {name}: lp >= Stan's - 1e-6 rel on {np.sum(r >= -1e-6)}/{r.size} SKUs; "
              f"forecast within 1 % on {np.sum(g <= 1)}/{g.size}")  # fmt: skip


def bench_prophet(args: argparse.Namespace) -> None:
    """Run the side-by-side measurement and print the table (see the module docstring)."""
    import benchmark as bm  # scripts/benchmark.py, beside this file

    from replenishment.forecast import forecast_frames

    bm._quiet()
    logging.getLogger("prophet_batch").setLevel(logging.WARNING)
    data, ids, jobs, (context, cfg, series) = _jobs(args)
    n = len(jobs)
    print(
        f"{len(ids)} SKUs, {n} Prophet-routed; run date {RUN_DATE}; load average {os.getloadavg()}"
    )
    rows: list[tuple[str, float, int]] = []
    if args.stage_only:
        result, cpu = timed(
            lambda: forecast_frames(
                ids, data.demand, data.stockouts, data.promotions, cfg, workers=args.workers
            )
        )
        print(f"forecast stage, all {len(ids)} SKUs ({args.workers} processes): {cpu / len(ids):.4f} CPU-s/SKU; "
              f"models {result.summary['model'].value_counts().to_dict()}; load average {os.getloadavg()}")  # fmt: skip
        return
    pbatch, cpu = timed(lambda: _prophet_batch(jobs, context))
    if pbatch is not None:
        rows.append(("prophet-batch 0.1.2 (fit_many + predict_many, 1 process)", cpu / n, n))
    (project, counts), cpu = timed(lambda: _project(jobs, context))
    rows.append(("project batched solver (1 process)", cpu / n, n))
    stan, cpu = timed(lambda: [_stan_fit(j, context) for j in jobs])
    rows.append(("Stan per SKU (LeanProphet, 1 process)", cpu / n, n))
    floor, cpu = timed(lambda: bm._optimizer_floor(series, _routed(jobs), cfg))
    rows.append(("floor: CmdStan optimizer binary alone", cpu / max(floor[1], 1), floor[1]))
    naive_n = min(args.naive_skus, n)
    _, cpu = timed(lambda: _naive(jobs[:naive_n]))
    rows.append(("naive: default Prophet() loop", cpu / max(naive_n, 1), naive_n))
    result, cpu = timed(
        lambda: forecast_frames(
            ids, data.demand, data.stockouts, data.promotions, cfg, workers=args.workers
        )
    )
    rows.append(
        (
            f"forecast stage, all {len(ids)} SKUs ({args.workers} processes)",
            cpu / len(ids),
            len(ids),
        )
    )
    print(
        f"project solver: {counts}; stage models {result.summary['model'].value_counts().to_dict()}"
    )
    project_cpu = rows[1][1] if pbatch is not None else rows[0][1]
    print(f"\n{'measure':58s} {'CPU-s/SKU':>10s} {'SKUs':>5s} {'x project':>10s}")
    for name, per, count in rows:
        print(f"{name:58s} {per:10.4f} {count:5d} {per / project_cpu:10.2f}")
    others = {"project": project} | (
        {"prophet-batch": [pbatch[j.sku_id] for j in jobs]} if pbatch else {}
    )
    _agreement(jobs, stan, others)
    if args.polish:
        _polish(jobs, stan, project, context)
    print(f"load average at the end {os.getloadavg()}")


def _polish(jobs: list[Any], stan: list[Any], project: list[Any], context: Any) -> None:
    """Stan's L-BFGS started at the project's optimum: does it find a higher log posterior?"""
    from replenishment.forecast.models import _ProphetModel

    gain, gap = [], []
    for j, (_, _, data), (mean, params) in zip(jobs, stan, project, strict=True):
        m = _ProphetModel(context.holidays, context.interval_width, init=params)
        h, z = j.history, j.horizon
        polished = m.fit_predict(h.dates, h.y, h.promo, z.dates, z.promo)
        lp = _lp(data, params)
        gain.append((_lp(data, dict(m.params or {})) - lp) / abs(lp))
        gap.append(100 * np.max(np.abs(mean - polished)) / np.nanmean(h.y))
    g, d = np.array(gain), np.array(gap)
    print(_distribution("Stan from project's optimum: lp gain, rel", g, "9.2e"))
    print(_distribution("  its forecast vs project's, % mean demand", d, "9.2f"))
    print(f"  Stan improves the project's lp by > 1e-6 rel on {np.sum(g > 1e-6)}/{g.size} SKUs; "
          f"forecasts within 1 % on {np.sum(d <= 1)}/{d.size}")  # fmt: skip


def _routed(jobs: list[Any]) -> pd.DataFrame:
    return pd.DataFrame({"sku_id": [j.sku_id for j in jobs], "model": "prophet"})


def _naive(jobs: list[Any]) -> None:
    from prophet import Prophet

    for j in jobs:
        m = Prophet().fit(pd.DataFrame({"ds": j.history.dates, "y": np.nan_to_num(j.history.y)}))
        m.predict(m.make_future_dataframe(28))
