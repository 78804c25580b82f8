"""
# replenishment_backtest_weekly

Rolling-origin backtest of the demand forecasts (4 cut-offs, 28 days apart, 28-day
horizons ending before the run date): every active SKU is forecast as the daily run
would have at each cut-off, from the data before it only, and scored against what
happened, next to the weekly seasonal-naive baseline. Rows go to
`reporting.forecast_backtest` (one per run date and SKU).

Heavy (one Prophet fit per SKU and cut-off), so it runs weekly, apart from the
daily run, which backtests a rotating seventh of the SKUs each day.
"""

from __future__ import annotations

import datetime as dt
import os

from airflow.sdk import Asset, dag, task

from replenishment_airflow import params


@dag(
    dag_id="replenishment_backtest_weekly",
    description="Weekly rolling-origin backtest of the forecast against seasonal-naive",
    schedule="@weekly",
    start_date=dt.datetime(2000, 1, 2, tzinfo=dt.UTC),  # a Sunday, early: any week can be run
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["replenishment", "forecast", "accuracy"],
    default_args={
        "owner": "supply-chain-data",
        "retries": int(os.environ.get("REPLENISHMENT_TASK_RETRIES", "2")),
        "retry_delay": dt.timedelta(minutes=5),
    },
    params={"origins": params.origins(), **params.shared()},
)
def replenishment_backtest_weekly() -> None:
    @task(outlets=[Asset("replenishment://warehouse/reporting/forecast_backtest")])
    def backtest(**context) -> dict:
        from replenishment.backtest import BacktestConfig, run, summarise
        from replenishment_airflow import run_date, settings

        s = settings(context)  # the environment, then the params (horizon_days, ...)
        origins = int(context["params"]["origins"])
        cfg = BacktestConfig.from_settings(s, run_date(context), origins=origins)
        results = run(s, cfg, write_results=True)
        return summarise(results).round(4).to_dict(orient="index")

    backtest()


replenishment_backtest_weekly()
