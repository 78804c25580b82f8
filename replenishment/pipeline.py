"""The pipeline's stages, as the DAG's tasks and the command line call them.

Each stage reads its inputs from and writes its outputs to the run's staging
folder (:class:`replenishment.staging.Staging`: ``<staging_dir>/<run_date>/<run_id>``,
a local directory or object storage), so the stages can run as separate Airflow
tasks, on separate workers that share no disk, and be retried one by one. Nothing is
written to the reporting tables before ``stage_load`` (except the
data-quality report of a run that fails validation).

Validation comes first: it runs in the database, so a missing table, a
missing column or text in a numeric column is reported as a data-quality
failure with its table, rule and example rows, instead of surfacing as a
crash inside the extraction that reads those tables.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from replenishment.config import Settings
from replenishment.db import make_engine
from replenishment.staging import Staging, cli_run_id, run_key, sweep

log = logging.getLogger(__name__)


class StageError(RuntimeError):
    """A stage cannot go on; the message says why."""


def run_staging(settings: Settings, run_date: dt.date, run_id: str) -> Staging:
    """The staging folder of run ``run_id`` of ``run_date`` under ``settings.staging_dir``
    (fsspec reads an object store's credentials from the standard environment variables)."""
    return Staging(settings.staging_dir, run_key(run_date, run_id))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@contextmanager
def _timed(staging: Staging, stage: str) -> Iterator[None]:
    started = _now()
    t0 = time.perf_counter()
    yield
    staging.save_timing(stage, started, time.perf_counter() - t0)


def _active_sku_ids(staging: Staging) -> list[str]:
    sku = staging.read("sku", columns=["sku_id", "active"])
    return sorted(sku.loc[sku["active"], "sku_id"].astype(str))


# --------------------------------------------------------------------------- stages


def stage_extract(settings: Settings, run_date: dt.date, staging: Staging) -> dict[str, int]:
    """Extract the sources as of ``run_date`` into the run's staging folder; row counts."""
    from replenishment.extract import extract
    from replenishment.quarantine import quarantined_sku_ids
    from replenishment.validate import demand_outliers

    with _timed(staging, "extract"):
        held = quarantined_sku_ids(staging.quarantine())  # dq_mode = quarantine (stage_validate)
        engine = make_engine(settings.warehouse_url)
        try:
            data = extract(engine, run_date, settings.horizon_days, exclude=held)
            outliers = demand_outliers(engine, run_date, settings.holiday_country)
        finally:
            engine.dispose()
        capped = cap_outliers(data.demand, outliers)
        staging.save_extract(data.frames())
    return {**data.counts(), "outlier_days_capped": capped, "skus_quarantined": len(held)}


def cap_outliers(demand: pd.DataFrame, outliers: pd.DataFrame) -> int:
    """Clip the outlier SKU-days of ``demand`` (sku_id, ds, y) to their robust cap, in
    place, so the forecast does not learn a unit change, a test order or a one-off bulk
    order (the data-quality gate warns about each: ``select_demand_outliers.sql``).
    Returns the number of SKU-days capped, each logged with its value and cap."""
    if outliers.empty or demand.empty:
        return 0
    caps = outliers.assign(ds=pd.to_datetime(outliers["date"]))[["sku_id", "ds", "cap", "value"]]
    keyed = demand[["sku_id", "ds"]].merge(caps, on=["sku_id", "ds"], how="left")
    hit = keyed["cap"].notna().to_numpy() & (demand["y"].to_numpy() > keyed["cap"].to_numpy())
    for row in keyed[hit].itertuples():
        log.warning(
            "demand outlier capped for the forecast: %s on %s, %g units -> %g",
            row.sku_id,
            row.ds.date().isoformat(),
            row.value,
            row.cap,
        )
    demand.loc[hit, "y"] = keyed.loc[hit, "cap"].to_numpy()
    return int(hit.sum())


def stage_validate(
    settings: Settings,
    run_date: dt.date,
    staging: Staging,
    run_id: str | None = None,
    run_type: str = "manual",
) -> dict[str, Any]:
    """Validate the sources with Great Expectations.

    The first stage: it starts the run's staging folder (clean, so a retry starts over;
    a location that cannot be written fails here, naming its URL) and deletes the
    folders that failed runs left more than ``staging_retention_days`` days ago.

    On a critical failure the run is blocked: the data-quality report is written to
    ``data_quality_results`` and a ``status = 'blocked'`` row with the failures to
    ``pipeline_runs`` (only those tables, only this run date, one transaction), the
    blocked run's report is written, and
    :class:`replenishment.validate.DataQualityError` is raised. With ``dq_mode =
    quarantine`` and only row-level critical failures, the run goes on instead: the SKUs of
    their rows are staged in ``quarantine.parquet`` (:mod:`replenishment.quarantine`).
    """
    from replenishment.load import ensure_reporting_tables, load_outputs
    from replenishment.quarantine import confine
    from replenishment.run_status import blocked_run
    from replenishment.validate import validate_sources

    started = _now()
    staging.start(started)
    sweep(staging.root, settings.staging_retention_days, started, fs=staging.fs)
    with _timed(staging, "validate"):
        engine = make_engine(settings.warehouse_url)
        try:
            report = validate_sources(
                engine,
                run_date,
                data_docs_dir=settings.data_docs_dir,
                holiday_country=settings.holiday_country,
                quarantine=settings.dq_mode == "quarantine",
            )
            frame = report.to_frame()
            staging.save_quality(frame)
            held = confine(engine, report) if settings.dq_mode == "quarantine" else None
            if held is not None:
                staging.save_quarantine(held)
            elif not report.ok:
                ensure_reporting_tables(engine, settings.reporting_schema)
                quality = frame.drop(columns=["run_date"], errors="ignore")
                blocked = blocked_run(
                    settings, run_date, report.message(), quality, report.data_docs_path,
                    started_at=started, run_id=run_id, run_type=run_type,
                )  # fmt: skip
                load_outputs(
                    engine,
                    settings.reporting_schema,
                    run_date,
                    {"data_quality_results": quality, "pipeline_runs": blocked},
                )
                if report.data_docs_path:
                    log.error("Data Docs for this validation: %s", report.data_docs_path)
                report.raise_for_critical()
        finally:
            engine.dispose()
    for w in report.warnings:
        log.warning("data quality warning: %s", w.message)
    return {
        "suites": len(report.results),
        "warnings": len(report.warnings),
        "data_docs_path": report.data_docs_path,
        "staging": staging.url,
        "skus_quarantined": 0 if held is None else len(held),
    }


def plan_batches(settings: Settings, run_date: dt.date, staging: Staging) -> list[int]:
    """Indexes of the forecast batches for this run (at most ``forecast_batches``)."""
    n = len(_active_sku_ids(staging))
    return list(range(max(1, min(settings.forecast_batches, n))))


def stage_forecast(
    settings: Settings,
    run_date: dt.date,
    staging: Staging,
    batch: int = 0,
    batches: int | None = None,
    tasks_at_once: int = 1,
) -> dict[str, Any]:
    """Forecast batch ``batch`` of ``batches`` (active SKUs dealt round-robin).

    ``batches`` defaults to the count :func:`plan_batches` gives for this run.
    ``tasks_at_once``: forecast tasks that may run side by side (they share the cores).
    """
    from replenishment.forecast import ForecastConfig, forecast_frames

    batches = batches or len(plan_batches(settings, run_date, staging))
    with _timed(staging, f"forecast-{batch}"):
        sku_ids = _active_sku_ids(staging)[batch::batches]
        # only this batch's rows are read (a row filter pushed into the Parquet reader)
        demand = staging.read("demand", sku_ids=sku_ids)
        stockouts = staging.read("stockouts", sku_ids=sku_ids)
        promotions = staging.read("promotions", sku_ids=sku_ids)
        sku = staging.read("sku", sku_ids=sku_ids, columns=["sku_id", "category"])
        cfg = ForecastConfig.from_settings(settings, run_date)
        result = forecast_frames(
            sku_ids,
            demand,
            stockouts,
            promotions,
            cfg,
            workers=settings.worker_count(tasks_at_once),
            categories=dict(
                zip(sku["sku_id"].astype(str), sku["category"].astype(str), strict=True)
            ),
        )
        staging.save_batch(batch, result.frames())
    summary = result.summary
    out = {
        "batch": batch,
        "skus": len(sku_ids),
        "models": summary["model"].value_counts().to_dict() if len(summary) else {},
        "failed": int(summary["failed"].sum()) if len(summary) else 0,
        "failed_skus": sorted(summary.loc[summary["failed"].astype(bool), "sku_id"].astype(str))
        if len(summary)
        else [],
        "seconds": round(staging.timings()[f"forecast-{batch}"]["seconds"], 1),
    }
    log.info("%s", batch_sentence(out, batches))
    return out


def batch_sentence(out: dict[str, Any], batches: int) -> str:
    """The task log's sentence for one forecast batch (the dict :func:`stage_forecast` returns).

    >>> batch_sentence({"batch": 0, "skus": 3, "models": {"prophet": 2, "sba": 1},
    ...                 "failed": 1, "failed_skus": ["S-7"], "seconds": 4.2}, 2)
    'Forecast batch 1 of 2: 3 SKUs in 4.2 s (prophet 2, sba 1); 1 SKU fell back after its model failed: S-7.'
    """
    models = ", ".join(f"{name} {count}" for name, count in sorted(out["models"].items()))
    text = (
        f"Forecast batch {out['batch'] + 1} of {batches}: {out['skus']} SKUs in {out['seconds']} s"
    )
    text += f" ({models})" if models else ""
    failed = out["failed_skus"]
    if not failed:
        return text + "; no model failed."
    shown = ", ".join(failed[:20]) + (f" and {len(failed) - 20} more" if len(failed) > 20 else "")
    noun = "SKU" if len(failed) == 1 else "SKUs"
    return text + f"; {len(failed)} {noun} fell back after its model failed: {shown}."


def _forecast_results(staging: Staging) -> Any:
    from replenishment.forecast import ForecastResult

    return ForecastResult.concat([ForecastResult.from_frames(b) for b in staging.batches()])


def stage_replenish(settings: Settings, run_date: dt.date, staging: Staging) -> dict[str, Any]:
    """Turn the forecasts into order recommendations and check the outputs."""
    from replenishment.forecast import calibrate
    from replenishment.forecast_error import ErrorProfile
    from replenishment.policy import plan_orders
    from replenishment.quarantine import quarantined_orders
    from replenishment.validate import validate_outputs

    with _timed(staging, "replenish"):
        sku = staging.read("sku")
        on_hand, on_order = staging.read("on_hand"), staging.read("on_order")
        result = calibrate(_forecast_results(staging), settings.interval_width)
        staging.save_calibrated(result.frames())
        active = sku[sku["active"]].copy()
        missing = sorted(set(active["sku_id"]) - set(result.summary["sku_id"]))
        if missing:
            raise StageError(f"{len(missing)} active SKUs have no forecast, e.g. {missing[:5]}")
        position = active[["sku_id"]].merge(on_hand[["sku_id", "on_hand"]], how="left")
        position = position.merge(on_order[["sku_id", "on_order"]], how="left")
        position = position.fillna({"on_order": 0.0})  # no snapshot: on_hand stays missing
        errors = ErrorProfile.measure(
            result.backtest_errors, result.summary.set_index("sku_id")["sigma_daily"]
        )
        orders = plan_orders(
            active,
            result.summary,
            result.forecast[["sku_id", "forecast_date", "yhat"]],
            position,
            staging.read("purchase_orders"),
            run_date,
            policy=settings.policy,
            service_target=settings.service_target,
            errors=errors,
        )
        held = quarantined_orders(staging.quarantine(), list(orders.columns), run_date)
        orders = pd.concat([orders, held], ignore_index=True) if len(held) else orders
        check = validate_outputs(
            result.forecast,
            orders,
            [*active["sku_id"], *held["sku_id"]],
            run_date,
            settings.horizon_days,
            quarantined=held["sku_id"].tolist(),
        )
        if not check.success:
            lines = "\n".join(f"  - {f.message}" for f in check.failures)
            raise StageError(f"output checks failed, nothing loaded:\n{lines}")
        staging.save_orders(orders)
    placed = orders[orders["order_qty"] > 0]
    return {
        "skus": len(orders),
        "orders": len(placed),
        "value": float(placed["order_value"].sum()),
        "skus_without_on_hand": int(position["on_hand"].isna().sum()),
    }


def stage_load(
    settings: Settings,
    run_date: dt.date,
    staging: Staging,
    run_id: str | None = None,
    run_type: str = "manual",
    cleanup: bool = True,
) -> dict[str, Any]:
    """Write every output table for ``run_date`` in one transaction; the run summary.

    With ``cleanup``, the run's staging folder is deleted once the rows are written."""
    from replenishment.forecast import ForecastResult
    from replenishment.load import BiTables, ensure_reporting_tables, load_outputs, publish_views

    load_started = time.perf_counter()
    result = ForecastResult.from_frames(staging.calibrated())
    orders = staging.orders()
    quality = staging.quality().drop(columns=["run_date"], errors="ignore")
    timings = staging.timings()
    forecast = result.forecast.copy()
    forecast["forecast_date"] = pd.to_datetime(forecast["forecast_date"]).dt.date
    accuracy = result.accuracy.copy()
    accuracy["beats_baseline"] = accuracy["beats_baseline"].astype("Int64")
    accuracy["backtest_days"] = accuracy["backtest_days"].astype("int64")
    orders = orders.drop(columns=["run_date"], errors="ignore")
    summary = _run_summary(settings, run_date, run_id, run_type, result, orders, accuracy, timings)
    from replenishment.report import CHART_HISTORY_DAYS, write_report
    from replenishment.report_changes import read_previous_run

    since = run_date - dt.timedelta(days=CHART_HISTORY_DAYS)
    report = write_report(
        Path(settings.report_dir),
        run_date,
        summary,
        forecast,
        orders,
        accuracy,
        quality,
        staging.read("demand", since=since),
        stockouts=staging.read("stockouts", since=since),
        previous=read_previous_run(settings.warehouse_url, settings.reporting_schema, run_date),
        currency=settings.currency,
    )
    summary["report_path"] = str(report)
    # for BI tools: the run's daily actuals and SKU dimension (issue 20)
    bi_tables = BiTables.from_staging(staging, run_date, orders, settings.currency)
    engine = make_engine(settings.warehouse_url)

    def run_row() -> pd.DataFrame:
        # written last, inside the load's transaction: its load time covers the other tables
        summary["load_seconds"] = time.perf_counter() - load_started
        summary["finished_at"] = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        return pd.DataFrame([summary]).drop(columns=["run_date"])

    try:
        ensure_reporting_tables(engine, settings.reporting_schema)
        if settings.publish_views:
            publish_views(engine, settings.reporting_schema)
        written = load_outputs(
            engine,
            settings.reporting_schema,
            run_date,
            {
                "demand_forecast": forecast,
                "replenishment_orders": orders,
                "forecast_accuracy": accuracy,
                "data_quality_results": quality,
                "pipeline_runs": run_row,
            },
            bi_tables=bi_tables,
        )
    finally:
        engine.dispose()
    if cleanup:
        staging.cleanup()
    out = {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in summary.items()}
    out["rows_written"] = written
    return out


def _run_summary(
    settings: Settings,
    run_date: dt.date,
    run_id: str | None,
    run_type: str,
    result: Any,
    orders: pd.DataFrame,
    accuracy: pd.DataFrame,
    timings: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    from replenishment.forecast import FALLBACK_MODELS, INTERMITTENT_MODELS
    from replenishment.quarantine import QUARANTINED, summary_reason

    models = result.summary["model"]
    forecast_seconds = sum(v["seconds"] for k, v in timings.items() if k.startswith("forecast"))
    starts = [dt.datetime.fromisoformat(v["started_at"]) for v in timings.values()]
    scored = accuracy.dropna(subset=["wape", "baseline_wape"])
    actual = scored["actual_units"].sum()
    wape = float((scored["wape"] * scored["actual_units"]).sum() / actual) if actual > 0 else None
    base = (
        float((scored["baseline_wape"] * scored["actual_units"]).sum() / actual)
        if actual > 0
        else None
    )
    placed = orders[orders["order_qty"] > 0]
    return {
        "run_date": run_date,
        "run_id": run_id,
        "run_type": run_type,
        "status": "success",
        "started_at": min(starts) if starts else dt.datetime.now(dt.UTC).replace(tzinfo=None),
        "finished_at": None,
        "horizon_days": settings.horizon_days,
        "holiday_country": settings.holiday_country,
        "skus_total": int(len(result.summary)),
        "skus_prophet": int(_uses(models, ("prophet",)).sum()),
        "skus_intermittent": int(_uses(models, INTERMITTENT_MODELS).sum()),
        "skus_challenger": int((accuracy["selection"] == "backtest").sum())
        if "selection" in accuracy
        else 0,
        "skus_fallback": int(models.isin(FALLBACK_MODELS).sum()),
        "skus_failed": int(result.summary["failed"].sum()),
        "skus_quarantined": int((orders["model"] == QUARANTINED).sum()),
        "reason": summary_reason(orders),
        "orders_placed": int(len(placed)),
        "order_value": float(placed["order_value"].sum()),
        "wape": wape,
        "baseline_wape": base,
        "extract_seconds": timings.get("extract", {}).get("seconds"),
        "validate_seconds": timings.get("validate", {}).get("seconds"),
        "forecast_seconds": forecast_seconds,
        "replenish_seconds": timings.get("replenish", {}).get("seconds"),
        "load_seconds": None,
    }


def _uses(models: pd.Series, names: tuple[str, ...]) -> pd.Series:
    """Which SKUs' model is one of ``names`` or a blend (``a+b``) with one of them."""
    return models.astype(str).str.split("+").map(lambda parts: any(p in names for p in parts))


def run_pipeline(
    settings: Settings, run_date: dt.date, run_type: str = "cli", run_id: str | None = None
) -> dict[str, Any]:
    """Run every stage for ``run_date`` in this process, as the DAG would.

    run_id: the run's id, which keys its staging folder and is recorded in pipeline_runs;
    by default ``<run_type>__<UTC timestamp>`` (:func:`replenishment.staging.cli_run_id`),
    so two runs of one date at once never share staging files.
    A run the data-quality gate blocks records itself (:func:`stage_validate`) and leaves
    no staging files; any other error is recorded as ``status = 'failed'`` in
    ``pipeline_runs`` and raised, its staging files kept for debugging (deleted by a later
    run after ``staging_retention_days``).
    """
    from replenishment.run_status import record_failed_run
    from replenishment.validate import DataQualityError

    run_id = run_id or cli_run_id(run_type, _now())
    staging = run_staging(settings, run_date, run_id)
    stage = "validate"
    try:
        log.info("validate: %s", stage_validate(settings, run_date, staging, run_id, run_type))
        stage = "extract"
        log.info("extract: %s", stage_extract(settings, run_date, staging))
        stage = "forecast"
        batches = plan_batches(settings, run_date, staging)
        for b in batches:
            log.info("forecast: %s", stage_forecast(settings, run_date, staging, b, len(batches)))
        stage = "replenish"
        log.info("replenish: %s", stage_replenish(settings, run_date, staging))
        stage = "load"
        return stage_load(settings, run_date, staging, run_id=run_id, run_type=run_type)
    except Exception as exc:
        if isinstance(exc, DataQualityError):
            staging.cleanup()  # the report is in the database; nothing staged to debug
        else:
            if staging.exists():
                log.error("%s failed; its staging files are kept at %s", stage, staging.url)
            record_failed_run(settings, run_date, stage, exc, run_id=run_id, run_type=run_type)
        raise
