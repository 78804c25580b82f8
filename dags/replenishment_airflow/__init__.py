"""Glue between Airflow and the core package: connection, run date, settings.

Kept out of the DAG file so it stays a table of contents, and out of the core
package so that one knows nothing of Airflow. Imported only inside tasks.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

log = logging.getLogger(__name__)

WAREHOUSE_CONN_ID = "warehouse"


def warehouse_url(conn_id: str = WAREHOUSE_CONN_ID) -> str:
    """SQLAlchemy URL of the Airflow connection ``conn_id`` (see ``db.connection_url``)."""
    from airflow.sdk import BaseHook

    from replenishment.db import connection_url

    return connection_url(BaseHook.get_connection(conn_id))


def run_date(context: Any) -> dt.date:
    """The run date D: the DAG run's logical date (its run_after for runs without one)."""
    stamp = context.get("logical_date") or context["dag_run"].run_after
    return stamp.date()


def settings(context: Any) -> Any:
    """Settings for this run: environment, then the DAG params, then the warehouse connection."""
    from replenishment.config import Settings

    params = dict(context.get("params") or {})
    return Settings.load({**params, "warehouse_url": warehouse_url()})


def forecast_settings(context: Any, tasks_at_once: int) -> Any:
    """Settings for one of ``tasks_at_once`` forecast tasks that may run side by side.

    ``forecast_workers = 0`` means one worker process per core for a forecast stage;
    the forecast tasks that run at once share the cores rather than each taking all
    of them (2 tasks x 2 processes on 2 cores would only add context switches).
    """
    import dataclasses
    import os

    base = settings(context)
    if base.forecast_workers:
        return base
    share = max(1, (os.cpu_count() or 1) // max(1, tasks_at_once))
    return dataclasses.replace(base, forecast_workers=share)


def run_type(context: Any) -> str:
    dag_run = context.get("dag_run")
    value = getattr(dag_run, "run_type", None) or "manual"
    return str(getattr(value, "value", value))


def run_id(context: Any) -> str | None:
    dag_run = context.get("dag_run")
    return getattr(dag_run, "run_id", None)
