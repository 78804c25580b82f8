"""Backfills a data engineer can trust.

A run for D sees only what was known before D, replaces its own rows in one
transaction, does not disturb a run for another date running at the same time,
and a backfill through the real Airflow scheduler gives one partition per date
whose rows do not change when the backfill is reprocessed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from replenishment.config import Settings
from replenishment.db import bulk_insert, make_engine
from replenishment.extract import extract
from replenishment.load import FAIL_AFTER_ENV, OUTPUT_TABLES, InjectedLoadFailure, read_output
from replenishment.pipeline import run_pipeline
from tests.support import RUN_DATE, assert_same_outputs, check_contract, outputs

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


def _active_skus(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            sku = pd.read_sql_query("SELECT sku_id, active FROM sku_master", conn)
    finally:
        engine.dispose()
    return sorted(sku.loc[sku["active"].astype(bool), "sku_id"])


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
    skus = _active_skus(url)
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
    n_skus = len(_active_skus(url))
    day_d = seen.demand[pd.to_datetime(seen.demand["ds"]).dt.date == RUN_DATE]
    assert len(day_d) == n_skus and (day_d["y"] >= 5000).all(), day_d
    assert (pd.to_datetime(seen.on_hand["snapshot_date"]).dt.date == RUN_DATE).sum() == n_skus
    assert (seen.on_order["on_order"] >= 1e6).sum() == n_skus

    run_pipeline(planned["settings"](), RUN_DATE)
    assert_same_outputs(before, outputs(url, RUN_DATE))


def test_a_purchase_order_received_on_the_run_date_is_still_on_order(planned):
    url = planned["url"]
    before = outputs(url, RUN_DATE)
    sku = _active_skus(url)[0]
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

    monkeypatch.setenv(FAIL_AFTER_ENV, fail_after)
    with pytest.raises(InjectedLoadFailure):
        # a different horizon: every table would get different rows
        run_pipeline(planned["settings"](horizon_days=14), RUN_DATE)

    engine = make_engine(url)
    try:
        for table in OUTPUT_TABLES:  # row for row, wall-clock columns included
            pd.testing.assert_frame_equal(
                raw_before[table].astype(str),
                read_output(engine, "reporting", table).astype(str),
                obj=table,
            )
    finally:
        engine.dispose()

    # nothing is left locked or half-done: the next good run replaces the date's rows
    monkeypatch.delenv(FAIL_AFTER_ENV)
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
def test_first_loads_of_two_dates_at_once_both_create_the_reporting_tables(pg_url):
    """The first two runs of a backfill load at the same moment into a fresh warehouse."""
    from replenishment.load import ensure_reporting_tables

    barrier = threading.Barrier(2)
    errors: list[str] = []

    def first_load() -> None:
        engine = make_engine(pg_url)
        try:
            with engine.connect():
                pass
            barrier.wait(timeout=30)
            ensure_reporting_tables(engine, "reporting")
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
        assert _raw(pg_url, table).empty


# --------------------------------------------------------------------------- the real scheduler

BACKFILL_DATES = [RUN_DATE - i * DAY for i in range(6, -1, -1)]  # 2026-06-25 .. 2026-07-01
DAG_ID = "replenishment_daily"
TERMINAL = ("success", "failed")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _session_pids(sid: int) -> list[int]:
    """Processes of session ``sid`` (Linux /proc): a component and everything it started."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) == sid:  # after "pid (comm)": state ppid pgrp session
            pids.append(int(entry.name))
    return pids


def _task_log_summary(path: Path, tail: int = 15) -> str:
    """The errors of a task log (JSON lines), then its last lines, each cut short."""
    lines = path.read_text(errors="replace").splitlines()
    errors = []
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("level") in ("error", "critical"):
            details = [
                f"{d.get('exc_type')}: {d.get('exc_value')}"
                for d in event.get("error_detail") or []
            ]
            errors.append(f"{event.get('event')} {' | '.join(details)}"[:3000])
    return "\n".join([f"({path})", *errors, "...", *(line[:400] for line in lines[-tail:])])


class AirflowStack:
    """api-server + dag-processor + scheduler (LocalExecutor) on a PostgreSQL metadata database.

    Every component starts in a session of its own (start_new_session), so stop()
    ends the component and every process it started, task processes included, and
    nothing else. Only 127.0.0.1 is bound: the api-server, and no log server.
    """

    def __init__(self, home: Path, meta_url: str, warehouse_url: str, work: Path) -> None:
        self.home = home
        self.meta_url = meta_url
        self.port = _free_port()
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}
        wh = sa.engine.make_url(warehouse_url)
        conn = {
            "conn_type": "postgres",
            "host": wh.host,
            "port": wh.port,
            "login": wh.username,
            "schema": wh.database,
        }
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AIRFLOW", "REPLENISHMENT_", "PYTEST"))
        }
        env.update(
            {
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": meta_url,
                "AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_SIZE": "2",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_MAX_OVERFLOW": "5",
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.port}/execution/",
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{self.port}",
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
                "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
                # no cron runs: the DAG is unpaused only so that the backfill's runs
                # get scheduled, and "now" is far past the demo's history
                "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
                "AIRFLOW_CONN_WAREHOUSE": json.dumps(conn),
                "REPLENISHMENT_STAGING_DIR": str(work / "staging"),
                "REPLENISHMENT_DATA_DOCS_DIR": str(work / "docs"),
                "REPLENISHMENT_TASK_RETRIES": "0",
                "REPLENISHMENT_FORECAST_BATCHES": "1",
                "REPLENISHMENT_FORECAST_WORKERS": "1",
                "GX_ANALYTICS_ENABLED": "False",
                "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            }
        )
        self.env = env
        self.meta = sa.create_engine(meta_url, poolclass=sa.pool.NullPool)

    # -- commands

    def airflow(self, *args: str, timeout: float = 300) -> str:
        proc = subprocess.run(
            [str(BIN / "airflow"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert proc.returncode == 0, (
            f"airflow {' '.join(args)} exited {proc.returncode}:\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
        return proc.stdout

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.airflow("db", "migrate", timeout=600)
        self._spawn(
            "api-server", "api-server", "--host", "127.0.0.1", "--port", str(self.port), "-w", "1"
        )
        self._wait(self._api_healthy, 180, "the api-server to answer")
        self._spawn("dag-processor", "dag-processor")
        self._spawn("scheduler", "scheduler", "--skip-serve-logs")
        self._wait(self._dag_serialized, 180, f"the dag-processor to serialize {DAG_ID}")

    def _spawn(self, name: str, *args: str) -> None:
        log = self.home / f"{name}.log"
        with log.open("w") as out:
            self.procs[name] = subprocess.Popen(
                [str(BIN / "airflow"), *args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.logs[name] = log

    def stop(self) -> None:
        # the scheduler first, so that it starts nothing new while the others stop
        for name in ("scheduler", "dag-processor", "api-server"):
            proc = self.procs.get(name)
            if proc is None:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
            deadline = time.monotonic() + 10
            while _session_pids(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.5)
            for pid in _session_pids(proc.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
        self.meta.dispose()

    # -- state

    def _api_healthy(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.port}/api/v2/monitor/health"
            with urllib.request.urlopen(url, timeout=5) as resp:
                return resp.status == 200
        except OSError:
            return False

    def _dag_serialized(self) -> bool:
        with self.meta.connect() as conn:
            try:
                return bool(
                    conn.execute(
                        sa.text("SELECT count(*) FROM serialized_dag WHERE dag_id = :d"),
                        {"d": DAG_ID},
                    ).scalar()
                )
            except sa.exc.ProgrammingError:
                return False

    def _wait(self, ready, timeout: float, what: str, every: float = 2.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            dead = {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}
            assert not dead, f"components exited while waiting for {what}: {dead}"
            time.sleep(every)
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")

    def backfill(
        self, first: dt.date, last: dt.date, *extra: str, timeout: float = 900
    ) -> dict[str, str]:
        """`airflow backfill create` for first..last; wait until its runs end; their states."""
        # one active backfill per DAG: the scheduler marks the previous one complete
        # (every 30 s) once none of its runs is queued or running
        self._wait(self._no_active_backfill, 120, "the previous backfill to complete")
        with self.meta.connect() as conn:
            before = conn.execute(sa.text("SELECT max(id) FROM backfill")).scalar() or 0
        self.airflow(
            "backfill",
            "create",
            "--dag-id",
            DAG_ID,
            "--from-date",
            first.isoformat(),
            "--to-date",
            last.isoformat(),
            "--max-active-runs",
            "2",
            *extra,
        )
        with self.meta.connect() as conn:
            backfill_id = conn.execute(sa.text("SELECT max(id) FROM backfill")).scalar()
        assert backfill_id and backfill_id > before, "airflow backfill create made no backfill"
        n_days = (last - first).days + 1
        query = sa.text("SELECT logical_date, state FROM dag_run WHERE backfill_id = :i")

        def states() -> dict[str, str]:
            with self.meta.connect() as conn:
                rows = conn.execute(query, {"i": backfill_id}).fetchall()
            return {r.logical_date.date().isoformat(): r.state for r in rows}

        def finished() -> bool:
            now = states()
            return len(now) == n_days and all(s in TERMINAL for s in now.values())

        self._wait(finished, timeout, f"the {n_days} runs of backfill {backfill_id}", every=5.0)
        return states()

    def _no_active_backfill(self) -> bool:
        with self.meta.connect() as conn:
            return not conn.execute(
                sa.text("SELECT count(*) FROM backfill WHERE completed_at IS NULL")
            ).scalar()

    def list_runs(self) -> list[dict]:
        out = self.airflow("dags", "list-runs", DAG_ID, "-o", "json")
        listing = next(line for line in reversed(out.splitlines()) if line.startswith("["))
        return json.loads(listing)

    # -- diagnostics

    def report(self) -> str:
        parts = []
        for name, log in self.logs.items():
            lines = log.read_text(errors="replace").splitlines() if log.exists() else []
            parts.append(f"===== {name} (last 60 lines of {log})\n" + "\n".join(lines[-60:]))
        try:
            with self.meta.connect() as conn:
                bad = conn.execute(
                    sa.text(
                        "SELECT run_id, task_id, map_index, state FROM task_instance "
                        "WHERE dag_id = :d AND state NOT IN ('success', 'skipped') "
                        "ORDER BY run_id, task_id"
                    ),
                    {"d": DAG_ID},
                ).fetchall()
        except Exception as exc:  # the report must not hide the failure it reports
            bad = []
            parts.append(f"(task instances unavailable: {exc})")
        for run_id, task_id, map_index, state in bad[:10]:
            parts.append(f"===== task {run_id} {task_id}[{map_index}]: {state}")
            folder = (
                self.home / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}" / f"task_id={task_id}"
            )
            if map_index >= 0:
                folder = folder / f"map_index={map_index}"
            for attempt in sorted(folder.glob("attempt=*.log"))[-1:]:
                parts.append(_task_log_summary(attempt))
        return "\n".join(parts)

    @contextlib.contextmanager
    def reporting_failures(self) -> Iterator[None]:
        try:
            yield
        except BaseException:
            print(self.report())  # pytest shows it with the failure
            raise


@pytest.fixture
def airflow_stack(pg_warehouse: str, tmp_path: Path) -> Iterator[AirflowStack]:
    from tests.conftest import PG_ADMIN_URL

    name = f"replenishment_airflow_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    meta_url = sa.engine.make_url(PG_ADMIN_URL).set(database=name)
    stack = AirflowStack(
        tmp_path / "airflow_home",
        meta_url.render_as_string(hide_password=False),
        pg_warehouse,
        tmp_path,
    )
    try:
        with stack.reporting_failures():
            stack.start()
        yield stack
    finally:
        stack.stop()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _raw(url: str, table: str) -> pd.DataFrame:
    engine = make_engine(url)
    try:
        return read_output(engine, "reporting", table)
    finally:
        engine.dispose()


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
        runs_before = _raw(pg_warehouse, "pipeline_runs")
        assert set(runs_before["run_type"]) == {"backfill"}, runs_before[["run_date", "run_type"]]
        assert sorted(runs_before["run_id"]) == sorted(r["run_id"] for r in runs)

        # reprocess the completed runs of the last three dates: the same rows for them,
        # and the other dates' rows untouched (wall-clock columns included)
        again = BACKFILL_DATES[-3:]
        states = stack.backfill(again[0], again[-1], "--reprocess-behavior", "completed")
        assert states == {d.isoformat(): "success" for d in again}, states
        assert len(stack.list_runs()) == len(BACKFILL_DATES)  # cleared and re-run, not added

        runs_after = _raw(pg_warehouse, "pipeline_runs")
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
