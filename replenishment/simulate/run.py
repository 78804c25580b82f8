"""Run: a whole simulation, from the warehouse (or a test's data) to the result tables.

Lives here: :func:`simulate` and :func:`run_simulation`. May import every other
simulate module except ``cli``.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from replenishment.extract import LEAD_TIME_DAYS_BACK
from replenishment.simulate.config import POLICY_NAMES, SimulationConfig, refit_horizon
from replenishment.simulate.data import ReplayData, load_replay_data, with_scenarios
from replenishment.simulate.engine import OrderBook, Policy, Trace, replay, review_calendar
from replenishment.simulate.forecaster import Forecaster, RefitForecast, pipeline_forecaster
from replenishment.simulate.kpis import (
    SKU_COLUMNS,
    SUMMARY_COLUMNS,
    SimulationResult,
    sku_kpis,
    summarise,
)
from replenishment.simulate.policies import ForecastPolicy, SpreadsheetPolicy
from replenishment.simulate.write import write_results

log = logging.getLogger(__name__)


def simulate(
    data: ReplayData,
    cfg: SimulationConfig,
    forecaster: Forecaster | None = None,
    policies: Sequence[str] = POLICY_NAMES,
) -> SimulationResult:
    """Replay ``policies`` over the window of ``cfg`` on ``data`` (under its scenarios:
    :func:`~replenishment.simulate.data.with_scenarios`).

    The forecast is refitted on days 0, refit_every, 2 * refit_every, ... by
    ``forecaster`` (default :func:`pipeline_forecaster`) and rolled forward in between.
    """
    unknown = set(policies) - set(POLICY_NAMES)
    if unknown:
        raise ValueError(f"unknown policies {sorted(unknown)}; known: {POLICY_NAMES}")
    data = with_scenarios(data, cfg)
    started = time.perf_counter()
    needs_forecast = any(p in ("pipeline", "forecast_net") for p in policies)
    refits = _refits(data, cfg, forecaster or pipeline_forecaster(), needs_forecast)
    forecast_seconds = time.perf_counter() - started

    first = refits[0].summary.set_index("sku_id").reindex(data.sku_ids)
    demand_class = first["demand_class"].fillna("none").to_numpy()
    model = first["model"].fillna("no_history").to_numpy()
    review = review_calendar(
        data.sku_ids, data.sku["review_period_days"].to_numpy(), cfg.start, cfg.days
    )

    started = time.perf_counter()
    traces: dict[str, Trace] = {}
    frames = []
    for name in policies:
        policy: Policy
        if name == "spreadsheet":
            policy = SpreadsheetPolicy(data, cfg)
        else:
            policy = ForecastPolicy(data, cfg, refits, baseline=name == "forecast_net")
        book = OrderBook(
            cfg.start,
            data.sku_ids,
            data.sku["lead_time_days"].to_numpy(),
            data.purchase_orders,
            look_back_days=LEAD_TIME_DAYS_BACK,
        )
        trace = replay(
            data.demand,
            data.on_hand0,
            data.scheduled,
            data.lead_times,
            policy,
            cfg.demand_mode,
            book,
        )
        traces[name] = trace
        kpis = sku_kpis(trace, data.sku, review, data.lead_times)
        kpis.insert(0, "policy", name)
        kpis["demand_class"] = demand_class
        kpis["model"] = model
        frames.append(kpis)
        log.info("simulate: replayed %s over %d days", name, cfg.days)
    replay_seconds = time.perf_counter() - started
    per_sku = pd.concat(frames, ignore_index=True)
    summary = summarise(per_sku, cfg.days)
    ident = {
        "run_id": cfg.key,
        "start_date": cfg.start,
        "end_date": cfg.end - dt.timedelta(days=1),
        "days": cfg.days,
        "pipeline_policy": cfg.settings.policy,
        "demand_mode": cfg.demand_mode,
        "refit_every_days": cfg.refit_every,
    }
    per_sku = per_sku.assign(**ident)[list(SKU_COLUMNS)]
    summary = summary.assign(**ident)[list(SUMMARY_COLUMNS)]
    return SimulationResult(cfg, per_sku, summary, traces, forecast_seconds, replay_seconds)


def _refits(
    data: ReplayData, cfg: SimulationConfig, forecaster: Forecaster, every_refit: bool
) -> list[RefitForecast]:
    """The forecasts of the refit days (day 0 only when no policy needs them)."""
    protection = (data.sku["lead_time_days"] + data.sku["review_period_days"]).max()
    horizon = refit_horizon(cfg, float(protection))
    refit_days = list(range(0, cfg.days, cfg.refit_every)) if every_refit else [0]
    refits = []
    for k, day in enumerate(refit_days):
        t0 = time.perf_counter()
        refits.append(forecaster(cfg, data, day, horizon))
        log.info(
            "simulate: forecast %d/%d for %s (%d SKUs, %d days) in %.1fs",
            k + 1,
            len(refit_days),
            cfg.date(day),
            len(data.sku),
            horizon,
            time.perf_counter() - t0,
        )
    return refits


# --------------------------------------------------------------------------- entry points


def run_simulation(
    url: str,
    cfg: SimulationConfig,
    reporting_schema: str = "reporting",
    write: bool = False,
    forecast_cache: Path | None = None,
) -> tuple[SimulationResult, dict[str, int]]:
    """Read the warehouse at ``url``, replay the window of ``cfg``, optionally write.

    The one call a command line or an Airflow task needs (a backfillable task keys
    ``cfg.start`` on its logical date and passes ``write=True``: a re-run of the same
    window replaces its rows). Returns the result and the rows written per table.
    """
    from replenishment.db import make_engine

    engine = make_engine(url)
    try:
        data = load_replay_data(engine, cfg)
        if forecast_cache is not None:
            forecast_cache.mkdir(parents=True, exist_ok=True)
        cache_key = engine.url.render_as_string(hide_password=True)
        result = simulate(data, cfg, pipeline_forecaster(forecast_cache, cache_key))
        written = write_results(engine, reporting_schema, result) if write else {}
    finally:
        engine.dispose()
    return result, written
