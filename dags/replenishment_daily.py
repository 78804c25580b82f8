"""
# replenishment_daily

Forecasts daily demand per SKU and recommends the purchase orders to place on
the run date D (the run's logical date).

| stage | what it does | task |
|---|---|---|
| validate | Great Expectations suites of `include/expectations/`, run in the warehouse on what is known before D; a critical failure stops the run, nothing is loaded | `validate` |
| extract | order lines (as daily demand), SKU master, promotions, inventory, open POs known before D | `extract` |
| forecast | one model per SKU (Prophet / SBA / fallback), in mapped batches | `forecast` |
| replenish | safety stock, reorder point, order-up-to, EOQ, pack and MOQ rounding | `replenish` |
| load | replaces D's rows of every reporting table in one transaction | `load` |

Params: `horizon_days` (days forecast from D) and `holiday_country` (ISO code).
The tasks hand data to each other through the run's staging folder
(`<staging_dir>/<run date>/<run id>`, a local directory or object storage); XCom
carries only counts and the folder's URL.
Re-running a date replaces that date's rows only. See the README for the tables.
"""

from __future__ import annotations

import datetime as dt
import os

from airflow.sdk import Asset, dag, task

from replenishment_airflow import params

#: Forecast tasks that run at once (all runs of the DAG): a 90-day backfill does not
#: starve the machine, and each task's worker processes share the cores among them.
FORECAST_TASKS_AT_ONCE = 2

REPORTING_ASSETS = [
    Asset(f"replenishment://warehouse/reporting/{name}")
    for name in (
        "demand_forecast",
        "replenishment_orders",
        "forecast_accuracy",
        "data_quality_results",
        "pipeline_runs",
    )
]


def _record_failure(context: dict) -> None:
    from replenishment_airflow import record_failure

    record_failure(context)


@dag(
    dag_id="replenishment_daily",
    description="Forecast daily demand per SKU and recommend the purchase orders to place "
    "on the run date",
    schedule="@daily",
    # early and static: any date a warehouse holds can be run or backfilled; catchup is off,
    # so the scheduler still creates only the latest interval's run
    start_date=dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=2,
    doc_md=__doc__,
    tags=["replenishment", "forecast"],
    default_args={
        "owner": "supply-chain-data",
        # tests set REPLENISHMENT_TASK_RETRIES=0 to fail fast; production keeps the default
        "retries": int(os.environ.get("REPLENISHMENT_TASK_RETRIES", "2")),
        "retry_delay": dt.timedelta(
            seconds=int(os.environ.get("REPLENISHMENT_TASK_RETRY_DELAY_SECONDS", "120"))
        ),
        "retry_exponential_backoff": True,
        # a task that fails for good records status 'failed' in pipeline_runs
        "on_failure_callback": _record_failure,
    },
    params={**params.shared(), "dq_mode": params.dq_mode()},
)
def replenishment_daily() -> None:
    @task
    def extract(**context) -> dict:
        from replenishment.pipeline import stage_extract
        from replenishment_airflow import run_date, settings, staging

        return stage_extract(settings(context), run_date(context), staging(context))

    @task
    def validate(**context) -> dict:
        from replenishment.pipeline import stage_validate
        from replenishment.validate import DataQualityError
        from replenishment_airflow import DataQualityError as Blocked
        from replenishment_airflow import run_date, run_id, run_type, settings, staging

        try:
            return stage_validate(
                settings(context),
                run_date(context),
                staging(context),
                run_id(context),
                run_type(context),
            )
        except DataQualityError as exc:  # bad data: retrying will not fix it; logged once
            raise Blocked(str(exc)) from None

    @task
    def plan_batches(**context) -> list[int]:
        from replenishment.pipeline import plan_batches
        from replenishment_airflow import run_date, settings, staging

        return plan_batches(settings(context), run_date(context), staging(context))

    @task(max_active_tis_per_dag=FORECAST_TASKS_AT_ONCE)
    def forecast(batch: int, **context) -> dict:
        from replenishment.pipeline import stage_forecast
        from replenishment_airflow import run_date, settings, staging

        return stage_forecast(
            settings(context),
            run_date(context),
            staging(context),
            batch,
            tasks_at_once=FORECAST_TASKS_AT_ONCE,
        )

    @task
    def replenish(**context) -> dict:
        from replenishment.pipeline import stage_replenish
        from replenishment_airflow import run_date, settings, staging

        return stage_replenish(settings(context), run_date(context), staging(context))

    @task(outlets=REPORTING_ASSETS)
    def load(**context) -> dict:
        from replenishment.pipeline import stage_load
        from replenishment_airflow import run_date, run_id, run_type, settings, staging

        return stage_load(
            settings(context),
            run_date(context),
            staging(context),
            run_id(context),
            run_type(context),
        )

    batches = plan_batches()
    validate() >> extract() >> batches
    forecast.expand(batch=batches) >> replenish() >> load()


replenishment_daily()
