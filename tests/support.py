"""Contract checks and constants shared by the end-to-end tests."""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from replenishment.db import make_engine
from replenishment.load import OUTPUT_TABLES, read_output

#: The small demo used by the integration tests: history ends the day before RUN_DATE.
RUN_DATE = dt.date(2026, 7, 1)
SMALL_DEMO = {"n_skus": 24, "years": 2.2, "end_date": dt.date(2026, 6, 30), "seed": 7}

PLUGIN_FILE = Path(__file__).resolve().parents[1] / "plugins" / "replenishment_plugin.py"


class InjectedLoadFailure(RuntimeError):
    """Raised by :func:`fail_load_after`, the tests' fault in the middle of a load."""


def fail_load_after(monkeypatch: Any, table: str) -> None:
    """Make every load raise :class:`InjectedLoadFailure` right after it wrote ``table``.

    The seam is :func:`replenishment.load.write_table`, the one write per table of
    :func:`replenishment.load.load_outputs`: the real write runs, then the failure, so the
    test proves that the transaction rolls back rows already written.
    """
    from replenishment import load

    real = load.write_table

    def write_then_fail(conn: Any, name: str, run_date: dt.date, frame: pd.DataFrame) -> int:
        rows = real(conn, name, run_date, frame)
        if name.split(".")[-1] == table:
            raise InjectedLoadFailure(f"injected failure after writing {table}")
        return rows

    monkeypatch.setattr(load, "write_table", write_then_fail)


VOLATILE = {"pipeline_runs": ["started_at", "finished_at", "run_id", "run_type", "report_path"]}


def outputs(
    url: str, run_date: dt.date | None, schema: str = "reporting"
) -> dict[str, pd.DataFrame]:
    """Every output table (for one run date), without wall-clock columns."""
    engine = make_engine(url)
    try:
        frames = {t: read_output(engine, schema, t, run_date) for t in OUTPUT_TABLES}
    finally:
        engine.dispose()
    for table, cols in VOLATILE.items():
        frames[table] = frames[table].drop(columns=cols)
    frames["pipeline_runs"] = frames["pipeline_runs"].drop(
        columns=[c for c in frames["pipeline_runs"].columns if c.endswith("_seconds")]
    )
    quality = frames["data_quality_results"]
    quality["data_docs_path"] = quality["data_docs_path"].map(_without_warehouse_key)
    return frames


def _without_warehouse_key(path: Any) -> Any:
    """``<docs>/<run date>/index.html`` of ``<docs>/<warehouse key>/<run date>/index.html``.

    The Data Docs folder names the warehouse (replenishment.data_docs.warehouse_key): two
    warehouses holding the same data give the same rows but for that name.
    """
    if not isinstance(path, str):
        return path
    index = Path(path)
    return str(index.parents[2] / index.parent.name / index.name)


def assert_same_outputs(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    for table in OUTPUT_TABLES:
        left = a[table].astype(str).reset_index(drop=True)
        right = b[table].astype(str).reset_index(drop=True)
        pd.testing.assert_frame_equal(left, right, check_dtype=False, obj=table)


def check_contract(url: str, run_date: dt.date, horizon_days: int = 28) -> dict[str, pd.DataFrame]:
    """Assert the contract's rules on the output tables of ``run_date``; return them."""
    engine = make_engine(url)
    with engine.connect() as conn:
        sku = pd.read_sql_query("SELECT sku_id, pack_size, moq, active FROM sku_master", conn)
    engine.dispose()
    active = set(sku.loc[sku["active"].astype(bool), "sku_id"])
    out = outputs(url, run_date)

    fc = out["demand_forecast"]
    assert not fc.duplicated(["run_date", "sku_id", "forecast_date"]).any()
    assert set(fc["sku_id"]) == active
    assert (fc.groupby("sku_id").size() == horizon_days).all()
    assert (fc["yhat"] >= 0).all() and np.isfinite(fc["yhat"]).all()
    assert (fc["yhat_lower"] <= fc["yhat"] + 1e-9).all()
    assert (fc["yhat_upper"] >= fc["yhat"] - 1e-9).all()
    dates = pd.to_datetime(fc["forecast_date"].astype(str))
    assert dates.min().date() == run_date
    assert dates.max().date() == run_date + dt.timedelta(days=horizon_days - 1)

    orders = out["replenishment_orders"]
    assert not orders.duplicated(["run_date", "sku_id"]).any()
    assert set(orders["sku_id"]) == active
    merged = orders.merge(sku, on="sku_id", suffixes=("", "_master"))
    qty = merged["order_qty"]
    assert (qty >= 0).all()
    assert np.allclose(qty % merged["pack_size_master"], 0)
    assert ((qty == 0) | (qty >= merged["moq_master"])).all()
    assert np.allclose(
        merged["inventory_position"], merged["on_hand"] + merged["on_order"] - merged["backorders"]
    )

    acc = out["forecast_accuracy"]
    assert set(acc["sku_id"]) == active
    dq = out["data_quality_results"]
    assert len(dq) >= 5 and dq["success"].astype(int).isin([0, 1]).all()
    runs = out["pipeline_runs"]
    assert len(runs) == 1 and int(runs["skus_total"].iloc[0]) == len(active)
    engine = make_engine(url)
    report = read_output(engine, "reporting", "pipeline_runs", run_date)["report_path"].iloc[0]
    engine.dispose()
    assert report and Path(report).is_file(), f"run report missing: {report}"
    return out


def load_plugin() -> ModuleType:
    """The Airflow plugin's module (``plugins/`` is not a package on ``sys.path``)."""
    spec = importlib.util.spec_from_file_location("replenishment_plugin", PLUGIN_FILE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def active_skus(url: str) -> list[str]:
    """The active SKUs of a warehouse's sku_master, sorted."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            sku = pd.read_sql_query("SELECT sku_id, active FROM sku_master", conn)
    finally:
        engine.dispose()
    return sorted(sku.loc[sku["active"].astype(bool), "sku_id"].astype(str))


def raw_output(url: str, table: str) -> pd.DataFrame:
    """Every row of a reporting table, wall-clock columns included."""
    engine = make_engine(url)
    try:
        return read_output(engine, "reporting", table)
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- browser tests

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"  # screenshots CI keeps
CHROMIUM = "/usr/bin/chromium"  # Debian's package; nothing is downloaded at run time
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def playwright_sync_api(required: bool) -> ModuleType:
    """Playwright's sync API, when it and Debian's Chromium are installed.

    Missing either skips the calling test on a developer's machine and fails it when
    ``required`` (CI: REPLENISHMENT_REQUIRE_POSTGRES, set by .ci/run, which installs
    chromium).
    """
    import pytest

    try:
        from playwright import sync_api
    except ImportError:
        problem = "playwright is not installed (pip install -r requirements.txt)"
    else:
        if Path(CHROMIUM).exists():
            return sync_api
        problem = f"{CHROMIUM} is not installed (apt-get install chromium)"
    if required:
        pytest.fail(f"{problem}: CI must run the browser tests")
    pytest.skip(problem)
