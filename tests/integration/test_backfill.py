"""Backfills a data engineer can trust.

A run for D sees only what was known before D, replaces its own rows in one
transaction, does not disturb a run for another date running at the same time,
and a backfill through the real Airflow scheduler gives one partition per date
whose rows do not change when the backfill is reprocessed.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from replenishment.config import Settings
from replenishment.db import make_engine
from replenishment.extract import extract
from replenishment.load import OUTPUT_TABLES, read_output
from replenishment.pipeline import run_pipeline
from replenishment.warehouse import bulk_insert
from tests.airflow_stack import DAG_ID, AirflowStack
from tests.airflow_stack import airflow_stack as start_stack
from tests.support import (
    RUN_DATE,
    InjectedLoadFailure,
    active_skus,
    assert_same_outputs,
    check_contract,
    fail_load_after,
    outputs,
    raw_output,
)

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DAY = dt.timedelta(days=1)


def _settings(url: str, staging: Path, docs: Path, **overrides) -> Settings:
    # data_docs_dir enters data_quality_results.data_docs_path: runs compared with
    # each other must share it
    return Settings.load(
        {
            "warehouse_url": url,
            "staging_dir": str(staging),
            "data_docs_dir": str(docs),
            "forecast_batches": 2,
            **overrides,
        },
        env={},
    )


def _insert(url: str, table: str, rows: list[dict]) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            bulk_insert(conn, table, pd.DataFrame(rows))
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- SQLite, one run date


@pytest.fixture(scope="module")
def planned_demo(small_demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The small demo after one good run for RUN_DATE (read-only: tests copy the file)."""
    base = tmp_path_factory.mktemp("planned")
    path = base / "warehouse.db"
    shutil.copy(small_demo_db, path)
    docs = base / "docs"
    run_pipeline(_settings(f"sqlite:///{path}", base / "staging", docs), RUN_DATE)
    return {"path": path, "docs": docs}


@pytest.fixture
def planned(planned_demo: dict, tmp_path: Path) -> dict:
    """A private copy of the planned demo: url, and settings for re-runs of RUN_DATE."""
    path = tmp_path / "warehouse.db"
    shutil.copy(planned_demo["path"], path)
    url = f"sqlite:///{path}"

    def settings(**overrides) -> Settings:
        return _settings(url, tmp_path / "staging", planned_demo["docs"], **overrides)

    return {"url": url, "settings": settings}


def _insert_rows_from_the_run_date_on(url: str) -> None:
    """Sales, stock and purchase orders dated D or later, large enough to move every number."""
    skus = active_skus(url)
    lines, snapshots, pos = [], [], []
    stamps = [
        dt.datetime.combine(RUN_DATE, dt.time(0, 0, 0)),  # the first instant of D
        dt.datetime.combine(RUN_DATE, dt.time(0, 0, 1)),
        dt.datetime.combine(RUN_DATE, dt.time(23, 59, 59)),
        dt.datetime.combine(RUN_DATE + DAY, dt.time(9, 30)),
        dt.datetime.combine(RUN_DATE + 20 * DAY, dt.time(12, 0)),
    ]
    for i, sku in enumerate(skus):
        for j, ts in enumerate(stamps):
            lines.append(
                {
                    "order_id": f"LEAK-{i:03d}-{j}",
                    "line_no": 1,
                    "sku_id": sku,
                    "order_ts": ts,
                    "quantity": 5000.0 + 100 * j,
                    "unit_price": 9.99,
                    "status": ("completed", "returned", "completed", "cancelled", "completed")[j],
                }
            )
        for k in range(3):  # a stock-out for half the SKUs, a mountain of stock for the rest
            snapshots.append(
                {
                    "sku_id": sku,
                    "snapshot_date": RUN_DATE + k * DAY,
                    "on_hand": 0.0 if i % 2 == 0 else 1e9,
                }
            )
        pos.append(
            {
                "po_id": f"LEAK-PO-{i:03d}-open",
                "sku_id": sku,
                "order_date": RUN_DATE,
                "expected_date": RUN_DATE + 5 * DAY,
                "received_date": None,
                "quantity": 1e6,
                "status": "open",
            }
        )
        pos.append(  # would shorten the measured lead time if it leaked
            {
                "po_id": f"LEAK-PO-{i:03d}-received",
                "sku_id": sku,
                "order_date": RUN_DATE,
                "expected_date": RUN_DATE + DAY,
                "received_date": RUN_DATE + DAY,
                "quantity": 1e6,
                "status": "received",
            }
        )
    _insert(url, "order_lines", lines)
    _insert(url, "inventory_snapshots", snapshots)
    _insert(url, "purchase_orders", pos)


def test_rows_dated_on_or_after_the_run_date_do_not_change_its_outputs(planned):
    url = planned["url"]
    before = outputs(url, RUN_DATE)
    _insert_rows_from_the_run_date_on(url)

    # the inserted rows are in a shape the extract reads: the next day's run sees them all
    engine = make_engine(url)
    try:
        seen = extract(engine, RUN_DATE + DAY, horizon_days=28)
    finally:
        engine.dispose()
    n_skus = len(active_skus(url))
    day_d = seen.demand[pd.to_datetime(seen.demand["ds"]).dt.date == RUN_DATE]
    assert len(day_d) == n_skus and (day_d["y"] >= 5000).all(), day_d
    assert (pd.to_datetime(seen.on_hand["snapshot_date"]).dt.date == RUN_DATE).sum() == n_skus
    assert (seen.on_order["on_order"] >= 1e6).sum() == n_skus

    run_pipeline(planned["settings"](), RUN_DATE)
    assert_same_outputs(before, outputs(url, RUN_DATE))


def test_a_purchase_order_received_on_the_run_date_is_still_on_order(planned):
    url = planned["url"]
    before = outputs(url, RUN_DATE)
    sku = active_skus(url)[0]
    placed = RUN_DATE - 10 * DAY
    _insert(
        url,
        "purchase_orders",
        [
            {  # arrives on D: not on hand at the end of D-1, so still on order on D
                "po_id": "PO-ARRIVES-ON-D",
                "sku_id": sku,
                "order_date": placed,
                "expected_date": RUN_DATE,
                "received_date": RUN_DATE,
                "quantity": 700.0,
                "status": "received",
            },
            {  # arrived on D-1: no longer on order (a distinct quantity, to tell them apart)
                "po_id": "PO-ARRIVED-ON-D-1",
                "sku_id": sku,
                "order_date": placed,
                "expected_date": RUN_DATE - DAY,
                "received_date": RUN_DATE - DAY,
                "quantity": 50000.0,
                "status": "received",
            },
        ],
    )
    run_pipeline(planned["settings"](), RUN_DATE)
    after = outputs(url, RUN_DATE)

    old = before["replenishment_orders"].set_index("sku_id")
    new = after["replenishment_orders"].set_index("sku_id")
    assert new.loc[sku, "on_order"] == pytest.approx(old.loc[sku, "on_order"] + 700.0)
    assert new.loc[sku, "on_hand"] == pytest.approx(old.loc[sku, "on_hand"])
    assert new.loc[sku, "inventory_position"] == pytest.approx(
        old.loc[sku, "inventory_position"] + 700.0
    )
    # nothing else moves: other SKUs' orders and every forecast
    pd.testing.assert_frame_equal(
        old.drop(index=sku).astype(str), new.drop(index=sku).astype(str), obj="other SKUs"
    )
    pd.testing.assert_frame_equal(
        before["demand_forecast"].astype(str), after["demand_forecast"].astype(str)
    )


@pytest.mark.parametrize("fail_after", ["demand_forecast", "pipeline_runs"])
def test_a_load_that_fails_halfway_leaves_every_table_as_it_was(planned, monkeypatch, fail_after):
    url = planned["url"]
    engine = make_engine(url)
    try:
        raw_before = {t: read_output(engine, "reporting", t) for t in OUTPUT_TABLES}
    finally:
        engine.dispose()

    fail_load_after(monkeypatch, fail_after)
    with pytest.raises(InjectedLoadFailure):
        # a different horizon: every table would get different rows
        run_pipeline(planned["settings"](horizon_days=14), RUN_DATE)

    engine = make_engine(url)
    try:
        for table in OUTPUT_TABLES:  # row for row, wall-clock columns included
            after = read_output(engine, "reporting", table)
            if table == "pipeline_runs" and fail_after != "pipeline_runs":
                # the failure itself is recorded (the contract's status "failed"), nothing else
                assert after["status"].tolist() == ["failed"]
                assert "InjectedLoadFailure" in after["reason"].iloc[0]
                continue
            pd.testing.assert_frame_equal(
                raw_before[table].astype(str), after.astype(str), obj=table
            )
    finally:
        engine.dispose()

    # nothing is left locked or half-done: the next good run replaces the date's rows
    monkeypatch.undo()
    run_pipeline(planned["settings"](horizon_days=14), RUN_DATE)
    check_contract(url, RUN_DATE, horizon_days=14)


# --------------------------------------------------------------------------- PostgreSQL, two dates at once


@pytest.mark.postgres
def test_two_run_dates_at_once_on_postgres_give_the_rows_of_sequential_runs(pg_warehouse, tmp_path):
    dates = [RUN_DATE, RUN_DATE - 7 * DAY]
    docs = tmp_path / "docs"
    procs = {}
    for d in dates:
        log = (tmp_path / f"run-{d}.log").open("w")
        cmd = [str(BIN / "replenishment"), "run", "--date", d.isoformat(), "--url", pg_warehouse]
        cmd += ["--staging-dir", str(tmp_path / f"staging-{d}"), "--data-docs-dir", str(docs)]
        cmd += ["--forecast-batches", "2"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("REPLENISHMENT_")}
        procs[d] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env), log)
    try:
        for d, (proc, log) in procs.items():
            rc = proc.wait(timeout=600)
            log.close()
            text = (tmp_path / f"run-{d}.log").read_text()
            assert rc == 0, f"run for {d} failed (exit {rc}):\n{text[-5000:]}"
    finally:
        for proc, log in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.close()

    concurrent = {d: check_contract(pg_warehouse, d) for d in dates}
    stored = outputs(pg_warehouse, None)
    for table in OUTPUT_TABLES:
        got = {dt.date.fromisoformat(str(v)[:10]) for v in stored[table]["run_date"]}
        assert got == set(dates), f"{table}: run dates {sorted(got)}"

    # one date at a time, same database, same settings: the same rows
    for d in dates:
        run_pipeline(_settings(pg_warehouse, tmp_path / "sequential", docs), d)
        assert_same_outputs(concurrent[d], outputs(pg_warehouse, d))


@pytest.mark.postgres
def test_first_loads_of_two_dates_at_once_both_create_the_reporting_tables(pg_warehouse):
    """The first two runs of a backfill load at the same moment into a fresh warehouse."""
    from replenishment.load import ensure_reporting_tables, publish_views
    from replenishment.reporting import view_statements

    barrier = threading.Barrier(2)
    errors: list[str] = []

    def first_load() -> None:
        engine = make_engine(pg_warehouse)
        try:
            with engine.connect():
                pass
            barrier.wait(timeout=30)
            # what stage_load does before writing rows: tables, then views and comments
            ensure_reporting_tables(engine, "reporting")
            publish_views(engine, "reporting")
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
        finally:
            engine.dispose()

    threads = [threading.Thread(target=first_load) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    for table in OUTPUT_TABLES:
        assert raw_output(pg_warehouse, table).empty
    engine = make_engine(pg_warehouse)
    with engine.connect() as conn:
        for name, _ in view_statements():
            conn.exec_driver_sql(f"SELECT * FROM reporting.{name} LIMIT 1")
    engine.dispose()


@pytest.mark.postgres
def test_loads_of_two_dates_rewriting_the_same_days_at_once_take_turns(pg_warehouse):
    """Two loads of a backfill rewrite overlapping days of daily_actuals at one moment.

    Without a turn each, the second's DELETE runs before the first commits, misses the
    first's new rows, and its INSERT violates daily_actuals' primary key (seen in CI).
    """
    from replenishment.load import BiTables, ensure_reporting_tables, write_bi_tables

    def bi_tables(run_date: dt.date) -> BiTables:
        days = [run_date - i * DAY for i in (3, 2, 1)]
        actuals = pd.DataFrame(
            {"demand_date": days, "sku_id": "A", "actual_units": 1.0, "stockout_day": 0}
        )
        sku_dim = pd.DataFrame(
            {
                "sku_id": ["A"], "description": ["a"], "category": ["c"], "unit_cost": [1.0],
                "currency": ["USD"], "pack_size": [1], "moq": [1], "lead_time_days": [7.0],
                "lead_time_used_days": [7.0], "lead_time_source": ["planned"],
                "review_period_days": [7.0], "service_level": [0.95], "active": [1],
            }
        )  # fmt: skip
        return BiTables(actuals=actuals, sku_dim=sku_dim)

    engine = make_engine(pg_warehouse)
    ensure_reporting_tables(engine, "reporting")
    errors: list[str] = []
    second = threading.Thread(
        target=lambda: errors.extend(_load_error(engine, RUN_DATE, bi_tables(RUN_DATE)))
    )
    with engine.begin() as conn:  # the first load: written, not yet committed
        write_bi_tables(conn, "reporting.", RUN_DATE - DAY, bi_tables(RUN_DATE - DAY))
        second.start()
        second.join(timeout=3)
        assert second.is_alive(), f"the second load did not wait for the first: {errors}"
    second.join(timeout=60)
    assert not errors, errors
    with engine.connect() as conn:
        got = conn.exec_driver_sql(
            "SELECT demand_date, as_of_run_date FROM reporting.daily_actuals ORDER BY 1"
        ).all()
    engine.dispose()
    # the first load's day before the overlap stays; the overlap is the second load's
    assert [(str(d), str(a)) for d, a in got] == [
        (str(RUN_DATE - 4 * DAY), str(RUN_DATE - DAY)),
        *((str(RUN_DATE - i * DAY), str(RUN_DATE)) for i in (3, 2, 1)),
    ]


def _load_error(engine, run_date: dt.date, tables) -> list[str]:
    from replenishment.load import load_outputs

    try:
        load_outputs(engine, "reporting", run_date, {}, tables)
    except Exception as exc:  # the assertion reports it
        return [f"{type(exc).__name__}: {str(exc).splitlines()[0]}"]
    return []


# --------------------------------------------------------------------------- the real scheduler

BACKFILL_DATES = [RUN_DATE - i * DAY for i in range(6, -1, -1)]  # 2026-06-25 .. 2026-07-01


@pytest.fixture
def airflow_stack(pg_warehouse: str, tmp_path: Path) -> Iterator[AirflowStack]:
    """scripts/airflow_local.sh's LocalExecutor topology on a metadata database of its own."""
    with start_stack(pg_warehouse, tmp_path) as stack:
        yield stack


@pytest.mark.postgres
def test_backfill_through_the_scheduler_fills_one_partition_per_date_and_reprocesses_identically(
    airflow_stack, pg_warehouse
):
    stack = airflow_stack
    expected = [d.isoformat() for d in BACKFILL_DATES]
    with stack.reporting_failures():
        stack.airflow("dags", "unpause", DAG_ID)
        states = stack.backfill(BACKFILL_DATES[0], BACKFILL_DATES[-1])
        assert states == {d: "success" for d in expected}, states

        runs = stack.list_runs()
        assert sorted(r["logical_date"][:10] for r in runs) == expected, runs
        assert all(r["state"] == "success" for r in runs), runs

        first = outputs(pg_warehouse, None)
        for table in OUTPUT_TABLES:
            got = sorted({str(v)[:10] for v in first[table]["run_date"]})
            assert got == expected, f"{table}: run dates {got}"
        for d in BACKFILL_DATES:
            check_contract(pg_warehouse, d)
        runs_before = raw_output(pg_warehouse, "pipeline_runs")
        assert set(runs_before["run_type"]) == {"backfill"}, runs_before[["run_date", "run_type"]]
        assert sorted(runs_before["run_id"]) == sorted(r["run_id"] for r in runs)

        # reprocess the completed runs of the last three dates: the same rows for them,
        # and the other dates' rows untouched (wall-clock columns included)
        again = BACKFILL_DATES[-3:]
        states = stack.backfill(again[0], again[-1], "--reprocess-behavior", "completed")
        assert states == {d.isoformat(): "success" for d in again}, states
        assert len(stack.list_runs()) == len(BACKFILL_DATES)  # cleared and re-run, not added

        runs_after = raw_output(pg_warehouse, "pipeline_runs")
        assert list(runs_after["run_date"]) == list(runs_before["run_date"])
        rerun = runs_after["run_date"].isin(again)
        assert (runs_after["finished_at"] > runs_before["finished_at"])[rerun].all(), (
            "reprocessed dates were not loaded again"
        )
        pd.testing.assert_frame_equal(
            runs_before[~rerun].astype(str), runs_after[~rerun].astype(str), obj="other dates"
        )
        assert set(runs_after["run_type"]) == {"backfill"}
        assert_same_outputs(first, outputs(pg_warehouse, None))
