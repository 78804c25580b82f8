"""Glue between Airflow and the core package: connection, run date, settings, staging.

Kept out of the DAG file so it stays a table of contents, and out of the core
package so that one knows nothing of Airflow. Imported only inside tasks.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

# the task SDK's "fail without retry"; this module is imported only inside tasks
from airflow.sdk.exceptions import AirflowFailException

log = logging.getLogger(__name__)

WAREHOUSE_CONN_ID = "warehouse"


class DataQualityError(AirflowFailException):
    """The data-quality gate stopped the run (no retry); the message lists the failures.

    Airflow's counterpart of :class:`replenishment.validate.DataQualityError`, same name
    so the task log reads the same as the command line's.
    Raised ``from None`` so the task log shows the failures once, not again through
    the chained :class:`replenishment.validate.DataQualityError`.
    """


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


def staging(context: Any) -> Any:
    """The run's :class:`replenishment.staging.Staging`: ``<staging_dir>/<run date>/<run id>``,
    through Airflow's ``ObjectStoragePath`` (credentials from ``staging_conn_id``)."""
    from replenishment.staging import Staging, display_url, run_key
    from replenishment_airflow.storage import staging_root

    config = settings(context)
    root = staging_root(config.staging_dir, config.staging_conn_id)
    key = run_key(run_date(context), run_id(context) or f"manual__{run_date(context)}")
    # str(root) carries the connection id as user info: display_url drops it
    return Staging(display_url(str(root)), key, fs=root.fs)


def run_type(context: Any) -> str:
    dag_run = context.get("dag_run")
    value = getattr(dag_run, "run_type", None) or "manual"
    return str(getattr(value, "value", value))


def run_id(context: Any) -> str | None:
    dag_run = context.get("dag_run")
    return getattr(dag_run, "run_id", None)


def record_failure(context: Any) -> None:
    """``on_failure_callback``: record ``status = 'failed'`` in pipeline_runs.

    A blocked run (:class:`DataQualityError`) has recorded itself; nothing is done then.
    """
    error = context.get("exception")
    if isinstance(error, DataQualityError) or error is None:
        return
    from replenishment.run_status import record_failed_run

    ti = context.get("ti") or context.get("task_instance")
    stage = str(getattr(ti, "task_id", "") or "task")
    try:
        config = settings(context)
    except Exception as exc:  # e.g. no warehouse connection: nothing to record into
        log.error("failure of %s not recorded in pipeline_runs: %s", stage, exc)
        return
    record_failed_run(
        config, run_date(context), stage, error, run_id=run_id(context), run_type=run_type(context)
    )
