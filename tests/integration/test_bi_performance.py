"""BI queries on a year of daily runs for 10,000 SKUs read what they need, through indexes.

One PostgreSQL database gets 365 run dates x 10,000 SKUs (9,697 active) of every
reporting table, with the source tables the views join at a matching size
(``scripts/bi_benchmark.py``, ``generate``: the project's own DDL, indexes and views, rows
made by the server). Then every query BI tools and the Airflow plugin send
(``include/sql/select_bi_queries.sql`` and the plugin's own functions) is run under
``EXPLAIN (ANALYZE, FORMAT JSON)`` and its plan checked: the queries about one SKU, one
run or the latest run use indexes and read at most a few thousand rows of any big
table, whatever the table's size; the two that aggregate across a year stay within a
generous time bound.

Size: everything is full size except ``demand_forecast``, which holds one forecast day
per SKU and run instead of 28 (3.5 M rows instead of 99 M), to stay within the suite's
time and disk budget (under 2 minutes, 3.9 GiB). The filters the queries use (one SKU, one
run date, the latest run date) select the same fraction of the table at either size,
so the planner's choice between an index and a full scan is the same.
``scripts/benchmark.py bi`` measures the true size (BENCHMARKS.md, "BI queries on a
year of runs").
"""

from __future__ import annotations

import re

import pandas as pd
import pytest

from replenishment.db import make_engine, sql_text
from scripts.bi_benchmark import (
    BiSpec,
    Query,
    explain,
    generate,
    plugin_queries,
    query_values,
    scans,
    secondary_indexes,
    view_queries,
)
from tests.support import load_plugin

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SPEC = BiSpec(skus=10_000, run_days=365, forecast_days=1, history_days=0, chunk_days=30)
ACTIVE_SKUS = 10_000 - 10_000 // 33
BIG_TABLES = {
    "demand_forecast",
    "replenishment_orders",
    "forecast_accuracy",
    "order_lines",
    "inventory_snapshots",
}
#: Queries that aggregate across every SKU of a run or of 90 days: a full read is their job.
WHOLE_YEAR = {"forecast_realised_run", "accuracy_by_category_90d"}
#: Rows any scan of a big table may read in the other queries: one run of one table is
#: 9,697 rows; a SKU's year is 365 runs (10,220 forecast rows at the real horizon).
MAX_ROWS_READ = 20_000
#: Execution-time bounds, far above what this machine measures (BENCHMARKS.md): the plan
#: checks are the test; these only catch a query that went badly wrong.
MAX_SECONDS = 2.0
MAX_SECONDS_WHOLE_YEAR = 120.0


def _describe(query: Query, plan: dict) -> str:
    read = "; ".join(
        f"{s.relation}: {s.node}{' ' + s.index if s.index else ''} ({s.rows:,.0f} rows)"
        for s in scans(plan)
    )
    return f"{query.name}: {plan['Execution Time']:.1f} ms; {read}"


def _problems(query: Query, plan: dict) -> list[str]:
    big = [s for s in scans(plan) if s.relation in BIG_TABLES]
    seconds = plan["Execution Time"] / 1000
    if query.name in WHOLE_YEAR:
        return [f"took {seconds:.1f} s"] if seconds > MAX_SECONDS_WHOLE_YEAR else []
    out = [f"Seq Scan on {s.relation}" for s in big if s.node == "Seq Scan"]
    out += [f"read {s.rows:,.0f} rows of {s.relation}" for s in big if s.rows > MAX_ROWS_READ]
    if seconds > MAX_SECONDS:
        out.append(f"took {seconds:.1f} s")
    return out


def _index_reads(plan: dict, relation: str) -> set[str | None]:
    return {s.index for s in scans(plan) if s.relation == relation}


def test_bi_queries_on_a_year_of_runs_use_indexes(pg_url):
    engine = make_engine(pg_url)
    try:
        rows = generate(engine, SPEC)["rows"]
        assert rows["sku_master"] == 10_000 and rows["pipeline_runs"] == 365
        for table in ("replenishment_orders", "forecast_accuracy", "demand_forecast"):
            assert rows[table] == 365 * ACTIVE_SKUS, table
        assert rows["order_lines"] > 4_000_000 and rows["inventory_snapshots"] == 10_000 * 364

        # generate() dropped the secondary indexes while writing and ensure_reporting_tables
        # made them again: what the next load does to a database that lacks a new index
        ddl = re.findall(
            r"CREATE INDEX IF NOT EXISTS (\w+)", sql_text("create_reporting_tables.sql")
        )
        assert "ix_forecast_accuracy_sku" in ddl
        assert set(secondary_indexes(engine)) == set(ddl)

        values = query_values(SPEC)
        queries = view_queries(engine, values)
        queries += plugin_queries(engine, load_plugin(), values["run_date"], values["sku_id"])
        names = {q.name for q in queries}
        assert {"latest_orders", "forecast_vs_actual_sku", "plugin_run_dates"} <= names
        assert "plugin_series_of_sku_2" in names  # the page's several statements, each checked

        plans, problems = {}, []
        with engine.connect() as conn:
            for query in queries:
                plans[query.name] = plan = explain(conn, query)
                problems += [f"{query.name}: {p}" for p in _problems(query, plan)]
        summary = "\n".join(_describe(q, plans[q.name]) for q in queries)
        print(summary)  # shown with pytest -rP
        assert not problems, "\n".join(problems) + "\n\nplans:\n" + summary

        # the indexes this was about, by name
        assert _index_reads(plans["forecast_vs_actual_sku"], "demand_forecast") == {
            "ix_demand_forecast_sku",
            "demand_forecast_pkey",  # MIN(run_date): the latest-first walk of the key
        }, summary
        assert _index_reads(plans["accuracy_sku"], "forecast_accuracy") == {
            "ix_forecast_accuracy_sku"
        }, summary
        assert _index_reads(plans["latest_orders"], "replenishment_orders") == {
            "replenishment_orders_pkey"
        }, summary
        # the plugin's run-date list: one probe per run date, not a row per SKU and run
        run_dates_read = sum(
            s.rows for s in scans(plans["plugin_run_dates"]) if s.relation == "replenishment_orders"
        )
        assert run_dates_read <= SPEC.run_days + 2, summary
        # scoring one run reads that run's forecasts by the primary key, not the year's
        assert _index_reads(plans["forecast_realised_run"], "demand_forecast") == {
            "demand_forecast_pkey"
        }, summary

        _check_forecast_vs_actual(engine, values["sku_id"])
    finally:
        engine.dispose()


def _check_forecast_vs_actual(engine, sku_id: str) -> None:
    """The view's actuals for one SKU are its order lines' daily totals (the rewrite keeps them)."""
    with engine.connect() as conn:
        view = pd.read_sql_query(
            "SELECT run_date, forecast_date, actual_units FROM reporting.v_forecast_vs_actual "
            "WHERE sku_id = %(sku_id)s",
            conn,
            params={"sku_id": sku_id},
        )
        lines = pd.read_sql_query(
            "SELECT date(order_ts) AS ds, SUM(quantity) AS units FROM order_lines "
            "WHERE sku_id = %(sku_id)s AND status <> 'cancelled' GROUP BY 1",
            conn,
            params={"sku_id": sku_id},
        )
    assert len(view) == SPEC.run_days * SPEC.forecast_days
    known = view[view["forecast_date"] < SPEC.last_run_date]
    assert view.loc[view["forecast_date"] >= SPEC.last_run_date, "actual_units"].isna().all()
    assert known["actual_units"].notna().all() and len(known) == SPEC.run_days - 1
    daily = dict(zip(lines["ds"], lines["units"], strict=True))
    expected = [daily.get(d, 0.0) for d in known["forecast_date"]]
    assert known["actual_units"].tolist() == pytest.approx(expected)
    assert sum(expected) > 0
