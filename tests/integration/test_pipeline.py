"""The pipeline end to end through the command line, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from replenishment.cli import main
from replenishment.config import Settings
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
    assert main(args) == 0
    second = check_contract(sqlite_warehouse, RUN_DATE)
    assert_same_outputs(first, second)
    assert runs(str(tmp_path / "staging")) == {}, "staging not cleaned up"


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
