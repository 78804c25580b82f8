"""Data quality gates on a tiny SQLite warehouse built here, row by row."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from replenishment import db, warehouse
from replenishment.data_docs import warehouse_key
from replenishment.validate import (
    RESULT_COLUMNS,
    SOURCE_SUITES,
    DataQualityError,
    Failure,
    ValidationReport,
    load_suite,
    validate_outputs,
    validate_sources,
)

D = dt.date(2024, 5, 1)


def _ts(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour))


def base_frames() -> dict[str, pd.DataFrame]:
    """Two SKUs, order lines on D-3 .. D-1 (and one on D, not yet known), clean."""
    d1, d2, d3 = (D - dt.timedelta(days=n) for n in (1, 2, 3))
    sku = dict(
        description="widget",
        category="tools",
        unit_cost=2.5,
        pack_size=6,
        moq=12,
        lead_time_days=5,
        review_period_days=7,
        service_level=0.95,
        holding_cost_rate=0.2,
        order_cost=25.0,
        active=True,
    )
    return {
        "sku_master": pd.DataFrame([{"sku_id": "S1", **sku}, {"sku_id": "S2", **sku}]),
        "order_lines": pd.DataFrame(
            [
                ("A-1", 1, "S1", _ts(d3), 2.0, 3.0, "completed"),
                ("A-1", 2, "S2", _ts(d3), 1.0, 4.0, "completed"),
                ("A-2", 1, "S1", _ts(d2), 5.0, 3.0, "returned"),
                ("A-3", 1, "S2", _ts(d1), 3.0, 4.0, "cancelled"),
                ("A-4", 1, "S1", _ts(d1, 23), 1.0, None, "completed"),
                ("A-5", 1, "S1", _ts(D), 4.0, 3.0, "completed"),
            ],
            columns=[
                "order_id",
                "line_no",
                "sku_id",
                "order_ts",
                "quantity",
                "unit_price",
                "status",
            ],
        ),
        "promotions": pd.DataFrame(
            [
                ("P-1", "S1", dt.date(2024, 4, 20), dt.date(2024, 4, 22), 10.0),
                ("P-2", "S2", dt.date(2024, 5, 10), dt.date(2024, 5, 10), 25.0),
            ],
            columns=["promo_id", "sku_id", "start_date", "end_date", "discount_pct"],
        ),
        "inventory_snapshots": pd.DataFrame(
            [(s, d, 40.0) for s in ("S1", "S2") for d in (d2, d1)],
            columns=["sku_id", "snapshot_date", "on_hand"],
        ),
        "purchase_orders": pd.DataFrame(
            [
                (
                    "PO-1",
                    "S1",
                    dt.date(2024, 4, 1),
                    dt.date(2024, 4, 6),
                    dt.date(2024, 4, 7),
                    24.0,
                    "received",
                ),
                ("PO-2", "S2", d2, dt.date(2024, 5, 4), None, 12.0, "open"),
            ],
            columns=[
                "po_id",
                "sku_id",
                "order_date",
                "expected_date",
                "received_date",
                "quantity",
                "status",
            ],
        ),
    }


def _relaxed_ddl() -> list[str]:
    """The source DDL without NOT NULL and keys, to load rows the real DDL would refuse."""
    statements = []
    for stmt in db.split_statements(db.sql_text("create_source_tables.sql")):
        stmt = re.sub(r",\s*PRIMARY KEY \([^)]*\)", "", stmt)
        stmt = stmt.replace("NOT NULL PRIMARY KEY", "").replace("NOT NULL", "")
        statements.append(stmt)
    return statements


Build = Callable[..., sa.Engine]


@pytest.fixture
def build(tmp_path: Path) -> Build:
    """Make a warehouse from ``frames`` (default: the clean base) in a fresh SQLite file."""
    counter = iter(range(1000))

    def _build(
        frames: dict[str, pd.DataFrame] | None = None,
        relaxed: bool = False,
        drop_tables: tuple[str, ...] = (),
        drop_columns: tuple[tuple[str, str], ...] = (),
    ) -> sa.Engine:
        frames = base_frames() if frames is None else frames
        engine = db.make_engine(f"sqlite:///{tmp_path / f'wh{next(counter)}.db'}")
        with engine.begin() as conn:
            if relaxed:
                for stmt in _relaxed_ddl():
                    conn.exec_driver_sql(stmt)
            else:
                db.run_script(conn, "create_source_tables.sql")
            for table, column in drop_columns:
                conn.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN {column}")
            for table in drop_tables:
                conn.exec_driver_sql(f"DROP TABLE {table}")
            for table, frame in frames.items():
                if table in drop_tables:
                    continue
                gone = [c for t, c in drop_columns if t == table]
                warehouse.bulk_insert(conn, table, frame.drop(columns=gone))
        return engine

    return _build


def critical(report: ValidationReport, suite: str, column: str | None = None) -> list[Failure]:
    return [
        f
        for f in report.critical_failures
        if f.suite == suite and (column is None or f.column == column)
    ]


def only_failure(report: ValidationReport, suite: str, column: str | None = None) -> Failure:
    found = critical(report, suite, column)
    assert len(found) >= 1, report.message()
    return found[0]


# --------------------------------------------------------------------------- suites as data


@pytest.mark.parametrize("name", SOURCE_SUITES)
def test_suite_files_are_readable_data_with_a_severity_each(name: str) -> None:
    spec = load_suite(name, D)
    assert spec.required_columns and spec.key_columns
    for exp in spec.expectations:
        assert exp["severity"] in ("critical", "warning")
        assert exp.get("description")
    text = str([spec.as_of_query, spec.expectations])
    assert "{{" not in text  # run date templates rendered
    if spec.as_of_query:
        assert f"'{D.isoformat()}'" in spec.as_of_query


# --------------------------------------------------------------------------- clean data


def test_clean_warehouse_passes_and_reports_every_suite(build: Build, tmp_path: Path) -> None:
    engine = build()
    report = validate_sources(engine, D, data_docs_dir=str(tmp_path / "docs"))

    assert report.ok, report.message()
    assert report.critical_failures == [] and report.warnings == []
    assert [r.suite for r in report.results] == list(SOURCE_SUITES)
    assert all(r.success and r.evaluated > 0 for r in report.results)
    report.raise_for_critical()  # no exception

    frame = report.to_frame()
    assert tuple(frame.columns) == RESULT_COLUMNS
    assert len(frame) == 5 and set(frame["success"]) == {1}
    assert (frame["run_date"] == D).all()
    # the rows fit the reporting table as it is created
    with engine.begin() as conn:
        db.run_script(conn, "create_reporting_tables.sql")
        assert warehouse.bulk_insert(conn, "data_quality_results", frame) == 5

    index = tmp_path / "docs" / warehouse_key(engine.url) / D.isoformat() / "index.html"
    assert report.data_docs_path == str(index)
    assert index.exists() and "order_lines" in index.read_text()


def test_rows_on_or_after_the_run_date_are_not_validated(build: Build) -> None:
    frames = base_frames()
    future = pd.DataFrame(
        [
            ("Z-1", 1, "NOPE", _ts(D, 0), -5.0, -1.0, "bogus"),
            ("Z-2", 1, "S1", _ts(D + dt.timedelta(days=3)), 0.0, 1.0, "x"),
        ],
        columns=frames["order_lines"].columns,
    )
    frames["order_lines"] = pd.concat([frames["order_lines"], future], ignore_index=True)
    frames["inventory_snapshots"].loc[len(frames["inventory_snapshots"])] = ["S1", D, -3.0]
    report = validate_sources(build(frames), D)
    assert report.ok, report.message()


# --------------------------------------------------------------------------- critical failures


def test_null_sku_id_in_order_lines(build: Build) -> None:
    frames = base_frames()
    frames["order_lines"].loc[0, "sku_id"] = None
    report = validate_sources(build(frames, relaxed=True), D)
    failure = only_failure(report, "order_lines", "sku_id")
    assert failure.expectation == "expect_column_values_to_not_be_null"
    assert failure.unexpected_count == 1
    assert "order_lines.sku_id" in failure.message and "sku_id is present" in failure.message
    assert "order_id=A-1 line_no=1" in failure.message


def test_negative_quantity(build: Build) -> None:
    frames = base_frames()
    frames["order_lines"].loc[2, "quantity"] = -5.0
    report = validate_sources(build(frames), D)
    assert not report.ok
    failure = only_failure(report, "order_lines", "quantity")
    assert failure.expectation == "expect_column_values_to_be_between"
    assert "order_lines.quantity" in failure.message and "0 < quantity < 100000" in failure.message
    assert failure.examples == ("order_id=A-2 line_no=1 quantity=-5",)
    with pytest.raises(DataQualityError) as raised:
        report.raise_for_critical()
    assert raised.value.report is report
    assert "order_lines.quantity" in str(raised.value)


def test_duplicated_order_line(build: Build) -> None:
    frames = base_frames()
    lines = frames["order_lines"]
    frames["order_lines"] = pd.concat([lines, lines.iloc[[1]]], ignore_index=True)
    report = validate_sources(build(frames, relaxed=True), D)
    failure = only_failure(report, "order_lines", "order_id,line_no")
    assert failure.expectation == "expect_compound_columns_to_be_unique"
    assert failure.unexpected_count == 2
    assert "order_lines(order_id,line_no)" in failure.message and "unique" in failure.message
    assert "A-1" in failure.message


def test_unknown_sku_in_order_lines(build: Build) -> None:
    frames = base_frames()
    frames["order_lines"].loc[3, "sku_id"] = "S404"
    report = validate_sources(build(frames), D)
    failure = only_failure(report, "order_lines", "sku_id")
    assert failure.expectation == "unexpected_rows_expectation"
    assert "sku_id exists in sku_master" in failure.message
    assert failure.unexpected_count == 1
    assert failure.examples == ("order_id=A-3 line_no=1 sku_id=S404",)


def test_missing_freshness_is_critical(build: Build) -> None:
    frames = base_frames()
    lines = frames["order_lines"]
    day_before = lines["order_ts"].dt.date == D - dt.timedelta(days=1)
    lines.loc[day_before, "order_ts"] = _ts(D, 12)  # moved to D: not yet known, filtered out
    report = validate_sources(build(frames), D)
    [failure] = critical(report, "order_lines")
    assert "order_lines.order_ts" in failure.message
    assert "fresh" in failure.message and "day before the run date" in failure.message
    assert "missing_day=2024-04-30" in failure.message


def test_quantity_given_as_text(build: Build) -> None:
    frames = base_frames()
    frames["order_lines"]["quantity"] = frames["order_lines"]["quantity"].astype(object)
    frames["order_lines"].loc[0, "quantity"] = "abc"
    report = validate_sources(build(frames), D)
    numeric = [f for f in critical(report, "order_lines", "quantity") if "numeric" in f.message]
    assert len(numeric) == 1, report.message()
    assert "order_lines.quantity" in numeric[0].message
    assert numeric[0].examples == ("order_id=A-1 line_no=1 quantity=abc",)


@pytest.mark.parametrize(
    ("column", "value", "rule"),
    [
        ("pack_size", 0, "pack_size >= 1"),
        ("service_level", 1.5, "service_level strictly between 0 and 1"),
        ("lead_time_days", 0, "lead_time_days > 0"),
        ("moq", -1, "moq >= 0"),
    ],
)
def test_invalid_sku_master_fields(build: Build, column: str, value: float, rule: str) -> None:
    frames = base_frames()
    frames["sku_master"].loc[1, column] = value
    report = validate_sources(build(frames), D)
    failure = only_failure(report, "sku_master", column)
    assert f"sku_master.{column}" in failure.message and rule in failure.message
    assert failure.examples[0].startswith("sku_id=S2")
    assert [f.suite for f in report.critical_failures] == ["sku_master"]


def test_promotion_ending_before_it_starts(build: Build) -> None:
    frames = base_frames()
    frames["promotions"].loc[0, "end_date"] = dt.date(2024, 4, 19)
    report = validate_sources(build(frames), D)
    failure = only_failure(report, "promotions")
    assert failure.expectation == "expect_column_pair_values_a_to_be_greater_than_b"
    assert "promotions(end_date,start_date)" in failure.message
    assert "end_date >= start_date" in failure.message and "promo_id=P-1" in failure.message


def test_negative_on_hand(build: Build) -> None:
    frames = base_frames()
    frames["inventory_snapshots"].loc[3, "on_hand"] = -2.0
    report = validate_sources(build(frames), D)
    failure = only_failure(report, "inventory_snapshots", "on_hand")
    assert "inventory_snapshots.on_hand" in failure.message and "on_hand >= 0" in failure.message
    assert "sku_id=S2 snapshot_date=2024-04-30" in failure.message


def test_received_before_ordered_and_unknown_status(build: Build) -> None:
    frames = base_frames()
    frames["purchase_orders"].loc[0, "received_date"] = dt.date(2024, 3, 30)
    frames["purchase_orders"].loc[1, "status"] = "lost"
    report = validate_sources(build(frames), D)
    messages = [f.message for f in critical(report, "purchase_orders")]
    assert any("received_date >= order_date" in m and "po_id=PO-1" in m for m in messages)
    assert any("purchase_orders.status" in m and "po_id=PO-2" in m for m in messages)


def test_missing_table(build: Build) -> None:
    report = validate_sources(build(drop_tables=("order_lines",)), D)
    failure = only_failure(report, "order_lines")
    assert failure.message == "order_lines: table not found"
    assert not report.suite("order_lines").success
    assert report.suite("sku_master").success  # the other suites still run


def test_missing_column(build: Build) -> None:
    report = validate_sources(build(drop_columns=(("sku_master", "pack_size"),)), D)
    failure = only_failure(report, "sku_master", "pack_size")
    assert failure.message.startswith("sku_master: column pack_size missing")
    assert [f.message for f in report.critical_failures] == [failure.message]


def test_missing_column_used_by_the_as_of_query(build: Build) -> None:
    report = validate_sources(build(drop_columns=(("order_lines", "order_ts"),)), D)
    [failure] = critical(report, "order_lines")
    assert failure.message.startswith("order_lines: column order_ts missing")


def test_empty_order_table(build: Build) -> None:
    frames = base_frames()
    frames["order_lines"] = frames["order_lines"].iloc[0:0]
    report = validate_sources(build(frames), D)
    messages = [f.message for f in critical(report, "order_lines")]
    assert any("there are order lines before the run date" in m and "0 rows" in m for m in messages)
    assert any("fresh" in m for m in messages)


# --------------------------------------------------------------------------- warnings


def test_warning_only_leaves_the_run_ok(build: Build) -> None:
    frames = base_frames()
    frames["promotions"].loc[1, "discount_pct"] = 95.0
    frames["order_lines"].loc[0, "unit_price"] = 0.0
    report = validate_sources(build(frames), D)
    assert report.ok, report.message()
    report.raise_for_critical()
    warned = {(f.suite, f.column) for f in report.warnings}
    assert warned == {("promotions", "discount_pct"), ("order_lines", "unit_price")}
    row = report.to_frame().set_index("suite").loc["promotions"]
    assert (row["success"], row["failed_critical"], row["failed_warning"]) == (0, 0, 1)
    assert row["failures"].startswith("[warning] promotions.discount_pct")
    assert "promo_id=P-2" in row["failures"]


def test_stale_inventory_and_sku_without_snapshot_are_warnings(build: Build) -> None:
    frames = base_frames()
    snaps = frames["inventory_snapshots"]
    frames["inventory_snapshots"] = snaps[
        (snaps["sku_id"] == "S1") & (snaps["snapshot_date"] < D - dt.timedelta(days=1))
    ]
    report = validate_sources(build(frames), D)
    assert report.ok, report.message()
    messages = [f.message for f in report.warnings]
    assert any("latest snapshot" in m and "latest_snapshot=2024-04-29" in m for m in messages)
    assert any(
        "every active SKU has an inventory snapshot" in m and "sku_id=S2" in m for m in messages
    )


# --------------------------------------------------------------------------- outputs


def _outputs(horizon: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    days = pd.date_range(pd.Timestamp(D), periods=horizon, freq="D")
    forecast = pd.DataFrame(
        [(s, d, 2.0, 1.0, 3.5) for s in ("S1", "S2") for d in days],
        columns=["sku_id", "forecast_date", "yhat", "yhat_lower", "yhat_upper"],
    )
    orders = pd.DataFrame(
        [("S1", 24.0, 6, 12), ("S2", 0.0, 6, 12)],
        columns=["sku_id", "order_qty", "pack_size", "moq"],
    )
    return forecast, orders


def test_outputs_good() -> None:
    forecast, orders = _outputs()
    result = validate_outputs(forecast, orders, ["S1", "S2"], D, horizon_days=3)
    assert result.suite == "outputs"
    assert result.success and result.failures == () and result.evaluated >= 8


# (frame, row, column, value) or (frame, row, None, None) to drop the row; frame "f" or "o"
BAD_OUTPUTS = {
    "negative yhat": (("f", 0, "yhat", -1.0), "yhat finite and >= 0"),
    "nan yhat": (("f", 1, "yhat", float("nan")), "yhat finite and >= 0"),
    "lower above yhat": (("f", 2, "yhat_lower", 2.5), "yhat_lower <= yhat <= yhat_upper"),
    "missing day": (("f", 5, None, None), "exactly 3 forecast days"),
    "duplicated day": (("f", 5, "forecast_date", pd.Timestamp(D)), "exactly 3 forecast days"),
    "day past horizon": (
        ("f", 5, "forecast_date", pd.Timestamp(D + dt.timedelta(days=3))),
        "forecast_date in 2024-05-01 .. 2024-05-03",
    ),
    "missing order row": (("o", 1, None, None), "exactly one order row per active SKU"),
    "not a pack multiple": (("o", 0, "order_qty", 25.0), "a multiple of pack_size"),
    "below moq": (("o", 0, "order_qty", 6.0), "0 or >= moq"),
    "pack size 0": (("o", 1, "pack_size", 0), "a multiple of pack_size"),
    "infinite qty": (("o", 1, "order_qty", float("inf")), "order_qty finite and >= 0"),
    "negative qty": (("o", 1, "order_qty", -6.0), "order_qty finite and >= 0"),
}


@pytest.mark.parametrize(("change", "expected"), BAD_OUTPUTS.values(), ids=BAD_OUTPUTS.keys())
def test_outputs_bad(change: tuple[str, int, str | None, object], expected: str) -> None:
    frames = dict(zip("fo", _outputs(), strict=True))
    which, row, column, value = change
    if column is None:
        frames[which] = frames[which].drop(index=row)
    else:
        frames[which].loc[row, column] = value
    result = validate_outputs(frames["f"], frames["o"], ["S1", "S2"], D, horizon_days=3)
    assert not result.success
    messages = [f.message for f in result.failed_critical]
    assert any(expected in m for m in messages), messages


def test_outputs_missing_active_sku_and_column() -> None:
    forecast, orders = _outputs()
    result = validate_outputs(forecast, orders.drop(columns="moq"), ["S1", "S2", "S3"], D, 3)
    messages = [f.message for f in result.failed_critical]
    assert any("demand_forecast.sku_id" in m and "sku_id=S3" in m for m in messages), messages
    assert "replenishment_orders: column moq missing" in messages


# --------------------------------------------------------------------------- SQL checks


@pytest.mark.parametrize("module", ["validate_sql", "validate_rows"])
def test_validate_doctests(module: str) -> None:
    import doctest
    import importlib

    assert doctest.testmod(importlib.import_module(f"replenishment.{module}")).failed == 0


def test_unexpected_rows_query_runs_once_and_gives_the_examples(build: Build) -> None:
    """GX's UnexpectedRowsExpectation runs its query for the rows and again for the count,
    and the examples took a third run: the gate runs each such query once."""
    frames = base_frames()
    frames["order_lines"].loc[[1, 3], "sku_id"] = ["S404", "S405"]
    statements: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", record)
    try:
        report = validate_sources(build(frames), D, suites=("order_lines",))
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", record)
    failure = next(f for f in report.critical_failures if "exists in sku_master" in f.message)
    assert failure.expectation == "unexpected_rows_expectation"
    assert failure.unexpected_count == 2
    assert failure.examples == (
        "order_id=A-1 line_no=2 sku_id=S404",
        "order_id=A-3 line_no=1 sku_id=S405",
    )
    runs = [s for s in statements if "LEFT JOIN sku_master AS m ON m.sku_id = b.sku_id" in s]
    assert len(runs) == 1, runs


def test_render_literals_inlines_only_dates_numbers_and_words() -> None:
    from replenishment.validate_sql import render_literals

    sql = "SELECT 1 FROM t WHERE d < :d AND k > :k AND r = :r AND d IN :days AND f = :f"
    rendered = render_literals(
        sql,
        {"d": D, "k": 4.0, "r": "low", "days": (D, D - dt.timedelta(days=7)), "f": True},
    )
    assert rendered == (
        "SELECT 1 FROM t WHERE d < '2024-05-01' AND k > 4.0 AND r = 'low'"
        " AND d IN ('2024-05-01', '2024-04-24') AND f = 1"
    )
    for bad in ("x'; DROP TABLE t; --", dt.datetime(2024, 5, 1, 10), float("nan"), (), None):
        with pytest.raises((ValueError, TypeError)):
            render_literals("SELECT :v", {"v": bad})
    with pytest.raises(ValueError, match=":missing"):
        render_literals("SELECT :missing", {})
    # a PostgreSQL cast and a time literal are not bind parameters
    assert render_literals("SELECT x::date, '10:30'", {}) == "SELECT x::date, '10:30'"


def test_suite_query_reads_the_batch_and_must_join() -> None:
    from replenishment.validate_sql import run_date_params, suite_query

    params = run_date_params(D, "US", {"min_share": 0.2, "multiple": 3.0})
    sql = suite_query("check_duplicate_load.sql", "order_lines", params)
    assert "FROM {batch} AS l" in sql and "order_lines" not in sql
    assert not re.search(r"(?<![:\w]):[a-z_]", sql), sql
    assert "'2024-04-30'" in sql and "'2024-04-23'" in sql
    with pytest.raises(ValueError, match="must read sku_master"):
        suite_query("check_duplicate_load.sql", "sku_master", params)


def test_reference_days_are_the_same_weekday_without_holidays() -> None:
    from replenishment.validate_sql import reference_days, run_date_params

    # D - 1 = 2026-01-01 (a Thursday); Thanksgiving 2025-11-27 and Christmas 2025-12-25 skipped
    days = reference_days(dt.date(2026, 1, 2), weeks=8)
    assert len(days) == 8 and {d.weekday() for d in days} == {3}
    assert dt.date(2025, 12, 25) not in days and dt.date(2025, 11, 27) not in days
    assert days[0] == dt.date(2025, 12, 18) and days == tuple(sorted(days, reverse=True))
    params = run_date_params(dt.date(2026, 1, 2))
    assert params["day_is_holiday"] == 1 and params["window_start"] == days[-1]
    assert run_date_params(D)["day_is_holiday"] == 0


def test_history_rules_are_in_the_suites_with_documented_severities() -> None:
    rules = {
        (e["meta"]["sql_file"], e["meta"]["params"].get("rule"), e["severity"])
        for name in ("order_lines", "sku_master")
        for e in load_suite(name, D).expectations
        if "sql_file" in (e.get("meta") or {})
    }
    assert rules == {
        ("check_daily_volume.sql", "low", "critical"),
        ("check_daily_volume.sql", "stopped", "critical"),
        ("check_daily_volume.sql", "high", "warning"),
        ("check_duplicate_load.sql", None, "critical"),
        ("select_demand_outliers.sql", None, "warning"),
        ("check_lead_time_drift.sql", None, "warning"),
        ("check_stale_active_skus.sql", None, "warning"),
    }
    for name in ("order_lines", "sku_master"):
        for e in load_suite(name, D).expectations:
            assert e.get("description"), e
