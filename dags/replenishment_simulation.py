"""
# replenishment_simulation

Replays the replenishment policy over the `days` days before the run date
(default 180): each simulated day it forecasts from the data known that day
(refitting every `refit_every` days), places the orders the pipeline's policy
recommends, receives them after real lead times and serves the actual demand,
next to two baselines on the same review days and measured lead times (a
planner's order-up-to spreadsheet on the trailing 8 weeks, and the forecast's net
requirement). The shared settings (service target, holiday country, interval width,
minimum history, policy) come from the environment and the params, as for the
daily run. KPIs per SKU and per policy go to `reporting.inventory_simulation` and
`reporting.inventory_simulation_summary` (a re-run of the same window replaces its
rows), read by the BI view `v_inventory_kpis`.

Not scheduled (heavy: one forecast per SKU and refit): trigger it, or backfill
it over several run dates to see how the policy fares over time.
"""

from __future__ import annotations

import datetime as dt
import logging
import os

from airflow.sdk import Asset, Param, dag, task


@dag(
    dag_id="replenishment_simulation",
    description="Replay the days before the run date: the pipeline's policy against two baselines",
    schedule=None,
    start_date=dt.datetime(2000, 1, 1, tzinfo=dt.UTC),  # early: any date can be triggered
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["replenishment", "simulation"],
    default_args={
        "owner": "supply-chain-data",
        "retries": int(os.environ.get("REPLENISHMENT_TASK_RETRIES", "1")),
        "retry_delay": dt.timedelta(minutes=5),
    },
    params={
        "days": Param(
            180,
            type="integer",
            minimum=7,
            maximum=730,
            title="Days simulated",
            description="Days replayed, ending the day before the run date.",
        ),
        "refit_every": Param(
            7,
            type="integer",
            minimum=1,
            maximum=91,
            title="Refit every (days)",
            description="Days between two forecast refits inside the replay.",
        ),
        "policy": Param(
            "periodic",
            enum=["periodic", "continuous"],
            title="Review policy",
            description="periodic: order every review period; continuous: order at the reorder point.",
        ),
        "demand_mode": Param(
            "lost_sales",
            enum=["lost_sales", "backorders"],
            title="Unmet demand",
            description="lost_sales: demand not served is lost; backorders: it waits for stock.",
        ),  # fmt: skip
        "supplier_delay_days": Param(
            0,
            type="integer",
            minimum=0,
            maximum=60,
            title="Suppliers late by (days)",
            description="Scenario: suppliers deliver this many days later than their receipts.",
        ),
    },
)
def replenishment_simulation() -> None:
    @task(
        outlets=[
            Asset("replenishment://warehouse/reporting/inventory_simulation"),
            Asset("replenishment://warehouse/reporting/inventory_simulation_summary"),
        ]
    )
    def simulate(**context) -> dict:
        from replenishment.simulate import SimulationConfig, format_report, run_simulation
        from replenishment_airflow import run_date, settings

        s = settings(context)
        params = context["params"]
        days = int(params["days"])
        # policy, service target, holiday country, ...: environment, then params
        cfg = SimulationConfig.from_settings(
            s,
            start=run_date(context) - dt.timedelta(days=days),
            days=days,
            refit_every=int(params["refit_every"]),
            demand_mode=str(params["demand_mode"]),
            supplier_delay_days=int(params.get("supplier_delay_days", 0)),
            workers=s.worker_count(),
        )
        result, written = run_simulation(
            s.warehouse_url, cfg, reporting_schema=s.reporting_schema, write=True
        )
        logging.getLogger("replenishment.simulate").info("\n%s", format_report(result))
        return {"run_id": result.config.key, "rows": written}

    simulate()


replenishment_simulation()
