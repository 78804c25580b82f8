"""The DAG's staging glue: the run's Staging through ObjectStoragePath, keyed by run."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from types import SimpleNamespace

import pandas as pd
import pytest

from replenishment_airflow import staging
from replenishment_airflow.storage import as_url, s3_options


def _context(staging_dir: str, run_id: str) -> dict:
    return {
        "params": {"staging_dir": staging_dir},
        "logical_date": dt.datetime(2026, 7, 1, tzinfo=dt.UTC),
        "dag_run": SimpleNamespace(run_id=run_id, run_type="manual"),
    }


@pytest.fixture(autouse=True)
def _warehouse(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    conn = {"conn_type": "sqlite", "host": str(tmp_path / "w.db")}
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps(conn))


@pytest.mark.parametrize("kind", ["local", "memory"])
def test_each_task_of_a_run_finds_the_run_folder_and_only_its_own(kind: str, tmp_path) -> None:
    root = str(tmp_path / "staging") if kind == "local" else f"memory://{uuid.uuid4().hex}"
    first = staging(_context(root, "scheduled__2026-07-01T00:00:00+00:00"))
    first.start(dt.datetime(2026, 7, 1))
    first.save_orders(pd.DataFrame({"sku_id": ["A"]}))
    again = staging(_context(root, "scheduled__2026-07-01T00:00:00+00:00"))  # a later task
    other = staging(_context(root, "manual__2026-07-01T09:00:00+00:00"))
    assert again.orders()["sku_id"].tolist() == ["A"]
    assert other.path != first.path and not other.exists()
    assert first.url == f"{as_url(root)}/2026-07-01/scheduled__2026-07-01T00_00_00_00_00"
    first.cleanup()


def test_s3_options_from_an_aws_connection() -> None:
    conn = SimpleNamespace(
        conn_id="staging_s3",
        login="AKIA",
        password="s3cret",
        extra_dejson={"service_config": {"s3": {"endpoint_url": "http://127.0.0.1:9000"}}},
    )
    assert s3_options(conn) == {
        "key": "AKIA",
        "secret": "s3cret",
        "endpoint_url": "http://127.0.0.1:9000",
    }
    assert s3_options(None) == {}, "no connection: the environment's credentials"
