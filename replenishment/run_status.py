"""The outcome of a run that did not load: its ``pipeline_runs`` row and its report.

A run ends ``success`` (every table loaded), ``blocked`` (the data-quality gate
stopped it: a critical expectation failed) or ``failed`` (any other error). A
blocked or failed run changes only ``pipeline_runs`` (and, when blocked,
``data_quality_results``) for its run date: the other reporting tables keep what
an earlier run of that date loaded, so a BI dashboard never shows half a run.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from replenishment.config import Settings
from replenishment.db import make_engine, unreachable

log = logging.getLogger(__name__)

SUCCESS, BLOCKED, FAILED = "success", "blocked", "failed"
#: Characters of an error kept in ``pipeline_runs.reason``.
REASON_CHARS = 4000


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def status_row(
    settings: Settings,
    run_date: dt.date,
    status: str,
    reason: str,
    *,
    started_at: dt.datetime,
    run_id: str | None = None,
    run_type: str = "manual",
    report_path: str | None = None,
) -> pd.DataFrame:
    """The ``pipeline_runs`` row (without run_date) of a run that loaded nothing.

    No SKU was forecast and no order recommended by this run, so those counts are 0
    and the accuracy and stage durations are NULL.
    """
    if status not in (BLOCKED, FAILED):
        raise ValueError(f"status_row is for blocked or failed runs, got {status!r}")
    return pd.DataFrame(
        [
            {
                "run_id": run_id,
                "run_type": run_type,
                "status": status,
                "reason": reason[:REASON_CHARS],
                "started_at": started_at,
                "finished_at": _now(),
                "horizon_days": settings.horizon_days,
                "holiday_country": settings.holiday_country,
                "skus_total": 0,
                "skus_prophet": 0,
                "skus_intermittent": 0,
                "skus_challenger": 0,
                "skus_fallback": 0,
                "skus_failed": 0,
                "skus_quarantined": 0,
                "orders_placed": 0,
                "order_value": 0.0,
                "report_path": report_path,
            }
        ]
    )


def blocked_run(
    settings: Settings,
    run_date: dt.date,
    reason: str,
    quality: pd.DataFrame,
    data_docs_path: str | None,
    *,
    started_at: dt.datetime,
    run_id: str | None = None,
    run_type: str = "manual",
) -> pd.DataFrame:
    """Write the run report of a blocked run; its ``pipeline_runs`` row.

    reason: the gate's message (the critical failures with example rows, Data Docs).
    quality: the ``data_quality_results`` rows of this run date.
    """
    from replenishment.report import write_blocked_report

    report = write_blocked_report(
        Path(settings.report_dir), run_date, reason, quality, data_docs_path
    )
    return status_row(
        settings,
        run_date,
        BLOCKED,
        reason,
        started_at=started_at,
        run_id=run_id,
        run_type=run_type,
        report_path=str(report),
    )


def record_failed_run(
    settings: Settings,
    run_date: dt.date,
    stage: str,
    error: BaseException,
    *,
    started_at: dt.datetime | None = None,
    run_id: str | None = None,
    run_type: str = "manual",
) -> bool:
    """Record ``status = 'failed'`` for ``run_date`` with the stage and the error.

    Only ``pipeline_runs``' row of that date changes. Returns False (and logs why)
    when the row cannot be written, e.g. the warehouse itself is unreachable: the
    error that stopped the run stays the one reported.
    """
    from replenishment.load import ensure_reporting_tables, load_outputs

    reason = f"{stage}: {type(error).__name__}: {error}"
    row = status_row(
        settings, run_date, FAILED, reason, started_at=started_at or _now(),
        run_id=run_id, run_type=run_type,
    )  # fmt: skip
    try:
        engine = make_engine(settings.warehouse_url)
        try:
            ensure_reporting_tables(engine, settings.reporting_schema)
            load_outputs(engine, settings.reporting_schema, run_date, {"pipeline_runs": row})
        finally:
            engine.dispose()
    except Exception as exc:  # the original error is the one to report
        why = unreachable(exc, settings.warehouse_url) or exc
        log.error("could not record the failed run of %s in pipeline_runs: %s", run_date, why)
        return False
    log.error("run %s failed in %s; recorded in pipeline_runs: %s", run_date, stage, reason)
    return True


def describe(row: dict[str, Any]) -> str:
    """One paragraph for a person: the status of a stored run that did not succeed."""
    status = row.get("status")
    head = f"run date {row.get('run_date')}: {status}"
    if status == BLOCKED:
        head += " by the data-quality gate; nothing new was loaded for this date"
    elif status == FAILED:
        head += "; nothing new was loaded for this date"
    lines = [head, str(row.get("reason") or "(no reason recorded)")]
    if row.get("report_path"):
        lines.append(f"report: {row['report_path']}")
    return "\n".join(lines)
