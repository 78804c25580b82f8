"""Faults in flight (issue 16): the warehouse's server restarted during extract and during
load, for real, a warehouse that cannot be reached, and a staging area that fills up.

The stages are called one by one as the DAG's tasks run them, so a failed task's retry
finds its staged inputs. The server is one of the test's own (tests/pg_cluster.py), so its
restarts do not touch the machine's PostgreSQL that other tests use.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from replenishment.config import Settings
from replenishment.db import make_engine, unreachable
from replenishment.load import OUTPUT_TABLES
from replenishment.pipeline import (
    plan_batches,
    run_staging,
    stage_extract,
    stage_forecast,
    stage_load,
    stage_replenish,
    stage_validate,
)
from replenishment.staging import Staging
from tests.conftest import REQUIRE_POSTGRES
from tests.pg_cluster import Cluster, temporary_cluster
from tests.support import RUN_DATE, SMALL_DEMO, assert_same_outputs, outputs

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A PostgreSQL server of this module's own, holding the small demo warehouse."""
    from replenishment.demo import DemoSpec, generate

    with temporary_cluster() as server:
        engine = make_engine(server.url)
        generate(engine, DemoSpec(**SMALL_DEMO))
        engine.dispose()
        yield server


def _settings(url: str, tmp: Path, **overrides: Any) -> Settings:
    values = {"warehouse_url": url, "staging_dir": str(tmp / "staging")}
    values |= {"data_docs_dir": str(tmp / "docs"), "forecast_batches": 1, **overrides}
    return Settings.load(values, env={})


def _until_load(settings: Settings, run_date: dt.date, run_id: str) -> Staging:
    staging = run_staging(settings, run_date, run_id)
    stage_validate(settings, run_date, staging, run_id)
    stage_extract(settings, run_date, staging)
    for batch in plan_batches(settings, run_date, staging):
        stage_forecast(settings, run_date, staging, batch)
    stage_replenish(settings, run_date, staging)
    return staging


def test_a_restart_during_extract_fails_the_task_clearly_and_its_retry_succeeds(
    cluster, tmp_path, monkeypatch
):
    from replenishment import extract

    settings = _settings(cluster.url, tmp_path)
    staging = run_staging(settings, RUN_DATE, "manual__extract")
    stage_validate(settings, RUN_DATE, staging, "manual__extract")
    with monkeypatch.context() as patch:
        real = extract.query_frame
        calls: list[str] = []

        def restart_before_the_third_query(conn: Any, name: str, *args: Any, **kw: Any) -> Any:
            calls.append(name)
            if len(calls) == 3:
                cluster.restart()  # the extract's connection is gone mid-stage
            return real(conn, name, *args, **kw)

        patch.setattr(extract, "query_frame", restart_before_the_third_query)
        with pytest.raises(Exception) as failure:  # which error: checked below
            stage_extract(settings, RUN_DATE, staging)
    message = unreachable(failure.value, settings.warehouse_url)
    assert message is not None, f"not recognised as the warehouse going away: {failure.value}"
    assert f"127.0.0.1:{cluster.port}" in message

    counts = stage_extract(settings, RUN_DATE, staging)  # the task's retry
    assert counts["sku"] == SMALL_DEMO["n_skus"]


def test_a_restart_during_load_leaves_the_previous_rows_and_the_retry_loads_the_new(
    cluster, tmp_path, monkeypatch
):
    from replenishment import load

    # the date's first load: 14 forecast days
    first = _settings(cluster.url, tmp_path / "first", horizon_days=14)
    stage_load(first, RUN_DATE, _until_load(first, RUN_DATE, "manual__first"), "manual__first")
    before = outputs(cluster.url, RUN_DATE)
    assert len(before["demand_forecast"]) == 14 * len(before["replenishment_orders"])

    # a re-run of the date with 28 forecast days; the server restarts after the load
    # wrote its first table, inside the transaction
    again = _settings(cluster.url, tmp_path / "again", horizon_days=28)
    staging = _until_load(again, RUN_DATE, "manual__again")
    with monkeypatch.context() as patch:
        real = load.write_table
        written: list[str] = []

        def restart_after_the_first_table(conn: Any, table: str, *args: Any) -> int:
            rows = real(conn, table, *args)
            written.append(table)
            if len(written) == 1:
                cluster.restart()
            return rows

        patch.setattr(load, "write_table", restart_after_the_first_table)
        with pytest.raises(Exception) as failure:  # which error: checked below
            stage_load(again, RUN_DATE, staging, "manual__again")
    assert unreachable(failure.value, again.warehouse_url) is not None, failure.value
    assert_same_outputs(before, outputs(cluster.url, RUN_DATE))  # all the previous rows

    stage_load(again, RUN_DATE, staging, "manual__again")  # the task's retry: the new rows
    after = outputs(cluster.url, RUN_DATE)
    assert len(after["demand_forecast"]) == 28 * len(after["replenishment_orders"])
    assert set(after) == set(OUTPUT_TABLES)


def test_an_unreachable_warehouse_is_one_line_naming_the_host(tmp_path):
    url = "postgresql+psycopg2://etl@127.0.0.1:1/warehouse"
    done = subprocess.run(
        [str(BIN / "replenishment"), "run", "--date", RUN_DATE.isoformat(), "--url", url,
         "--staging-dir", str(tmp_path / "staging")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"run {RUN_DATE} failed: cannot reach the warehouse at 127.0.0.1:1 ")
    assert "(database warehouse)" in last
    assert len(done.stderr.strip().splitlines()) <= 3, done.stderr


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 200 KiB tmpfs: a staging area that fills up during the run (mounting needs root)."""
    if os.geteuid() != 0 and not REQUIRE_POSTGRES:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mount = tmp_path / "tiny"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_staging_disk_fails_the_run_in_one_line_and_loads_nothing(
    sqlite_warehouse, full_disk, tmp_path
):
    cli = [str(BIN / "replenishment"), "run", "--date", RUN_DATE.isoformat()]
    cli += ["--url", sqlite_warehouse, "--data-docs-dir", str(tmp_path / "docs")]
    first = subprocess.run(
        [*cli, "--staging-dir", str(tmp_path / "staging")], capture_output=True, text=True
    )
    assert first.returncode == 0, first.stderr[-3000:]
    before = outputs(sqlite_warehouse, RUN_DATE)

    done = subprocess.run(
        [*cli, "--staging-dir", str(full_disk)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"run {RUN_DATE} failed: staging area {full_disk}/"), last
    assert "is full (no space left on device)" in last

    after = outputs(sqlite_warehouse, RUN_DATE)
    for table in OUTPUT_TABLES:  # only the run's status row says it failed
        if table != "pipeline_runs":
            pd.testing.assert_frame_equal(
                before[table].astype(str), after[table].astype(str), obj=table
            )
    status = after["pipeline_runs"].iloc[0]
    assert status["status"] == "failed" and "is full" in status["reason"], status.to_dict()
