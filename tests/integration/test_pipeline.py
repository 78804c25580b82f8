"""The pipeline end to end through the command line, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from replenishment.cli import main
from replenishment.config import Settings
from replenishment.db import make_engine
from replenishment.load import load_outputs, read_output
from replenishment.pipeline import run_pipeline
from replenishment.staging import runs
from tests.support import RUN_DATE, assert_same_outputs, check_contract, outputs

pytestmark = pytest.mark.slow


def _settings(url: str, tmp_path) -> Settings:
    return Settings.load(
        {
            "warehouse_url": url,
            "staging_dir": str(tmp_path / "staging"),
            "data_docs_dir": str(tmp_path / "docs"),
            "forecast_batches": 2,
        }
    )


def test_cli_run_sqlite_meets_contract_and_reruns_identically(sqlite_warehouse, tmp_path, capsys):
    args = ["run", "--date", RUN_DATE.isoformat(), "--url", sqlite_warehouse]
    args += ["--staging-dir", str(tmp_path / "staging"), "--data-docs-dir", str(tmp_path / "docs")]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "SKUs forecast" in printed and "orders recommended" in printed
    first = check_contract(sqlite_warehouse, RUN_DATE)
    assert "First run: nothing to compare" in _report(sqlite_warehouse)
    _copy_run_to(sqlite_warehouse, RUN_DATE - dt.timedelta(days=1))
    assert main(args) == 0
    second = check_contract(sqlite_warehouse, RUN_DATE)
    assert_same_outputs(first, second)
    # the rerun's report compares with the run stored the day before (a copy of this one)
    assert "Compared with the run of 2026-06-30: 0 orders added, 0 removed, 0 with another" in (
        _report(sqlite_warehouse)
    )
    assert runs(str(tmp_path / "staging")) == {}, "staging not cleaned up"


def _report(url: str) -> str:
    engine = make_engine(url)
    path = read_output(engine, "reporting", "pipeline_runs", RUN_DATE)["report_path"].iloc[0]
    engine.dispose()
    return Path(path).read_text()


def _copy_run_to(url: str, day: dt.date) -> None:
    """The orders and forecast of RUN_DATE stored again as the run of ``day``."""
    engine = make_engine(url)
    frames = {
        t: read_output(engine, "reporting", t, RUN_DATE).drop(columns="run_date")
        for t in ("replenishment_orders", "demand_forecast")
    }
    load_outputs(engine, "reporting", day, frames)
    engine.dispose()


@pytest.mark.postgres
def test_pipeline_postgres_matches_sqlite(pg_warehouse, sqlite_warehouse, tmp_path):
    run_pipeline(_settings(pg_warehouse, tmp_path / "pg"), RUN_DATE)
    pg = check_contract(pg_warehouse, RUN_DATE)
    run_pipeline(_settings(pg_warehouse, tmp_path / "pg"), RUN_DATE)
    assert_same_outputs(pg, outputs(pg_warehouse, RUN_DATE))
    run_pipeline(_settings(sqlite_warehouse, tmp_path / "lite"), RUN_DATE)
    lite = outputs(sqlite_warehouse, RUN_DATE)
    for table in ("replenishment_orders", "demand_forecast"):
        a, b = pg[table], lite[table]
        assert list(a["sku_id"]) == list(b["sku_id"])
        assert (
            a["yhat" if table == "demand_forecast" else "order_qty"].round(6).tolist()
            == b["yhat" if table == "demand_forecast" else "order_qty"].round(6).tolist()
        )
