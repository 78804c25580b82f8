"""The history rules of the data-quality gate on real warehouses (SQLite and PostgreSQL).

Each fault a warehouse really produces (a load run twice under new order ids, a last day
cut short or missing, a category feed that stopped, a unit change on one SKU, stale
master data) is injected with SQL into a copy of a demo warehouse and must be caught by
the suite rule made for it, with a message naming the table, the rule and example rows.
The unmodified demo must raise no critical alarm on any run date of its last 90 days
(promotions and public holidays included), and PostgreSQL must give the same rows as
SQLite (the two databases' date handling differs).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from replenishment.db import make_engine
from replenishment.validate import (
    OUTLIER_COLUMNS,
    ValidationReport,
    demand_outliers,
    load_suite,
    validate_sources,
)
from replenishment.validate_sql import run_check, run_date_params
from tests.support import RUN_DATE

pytestmark = pytest.mark.slow

#: A demo whose categories sell 20-60 lines a day (the small one sells 42 lines in all).
MEDIUM_DEMO = {"n_skus": 120, "years": 2.2, "end_date": dt.date(2026, 6, 30), "seed": 11}
D = RUN_DATE.isoformat()
DAY_BEFORE = (RUN_DATE - dt.timedelta(days=1)).isoformat()
LAST_DAY = f"order_ts >= '{DAY_BEFORE}' AND order_ts < '{D}'"
#: The SKU selling the most units on the last day (a clear signal for the outlier rule).
TOP_SKU = (
    f"(SELECT sku_id FROM order_lines WHERE {LAST_DAY} AND status <> 'cancelled'"
    " GROUP BY sku_id ORDER BY SUM(quantity) DESC, sku_id LIMIT 1)"
)
#: The category with the most lines on the last day.
TOP_CATEGORY = (
    "(SELECT m.category FROM order_lines AS l JOIN sku_master AS m ON m.sku_id = l.sku_id"
    f" WHERE l.order_ts >= '{DAY_BEFORE}' AND l.order_ts < '{D}'"
    " GROUP BY m.category ORDER BY COUNT(*) DESC, m.category LIMIT 1)"
)
#: An active SKU with three or more receipts in the last year.
RECEIVING_SKU = (
    "(SELECT p.sku_id FROM purchase_orders AS p JOIN sku_master AS m ON m.sku_id = p.sku_id"
    f" WHERE m.active AND p.status = 'received' AND p.received_date >= date('{D}', '-365 days')"
    " GROUP BY p.sku_id HAVING COUNT(*) >= 3 ORDER BY p.sku_id LIMIT 1)"
)


@dataclass(frozen=True)
class Fault:
    """SQL that makes a fault, the suite and severity that must catch it, and substrings of
    the failure message (table.column and rule, example rows)."""

    id: str
    sql: str
    suite: str
    severity: str
    expect: tuple[str, ...]


FAULTS = [
    Fault(
        "repeated-load",
        "INSERT INTO order_lines (order_id, line_no, sku_id, order_ts, quantity, unit_price,"
        " status) SELECT 'RE-' || order_id, line_no, sku_id, order_ts, quantity, unit_price,"
        f" status FROM order_lines WHERE {LAST_DAY}",
        "order_lines",
        "critical",
        ("order_lines.order_ts", "repeated load", f"day={DAY_BEFORE}", "first_order_id=", "RE-"),
    ),
    Fault(
        "partial-last-day",
        f"DELETE FROM order_lines WHERE order_ts >= '{DAY_BEFORE} 12:00:00' AND order_ts < '{D}'",
        "order_lines",
        "critical",
        ("order_lines.order_ts", "volume:", "not below median - 4", "scope=(all) measure=lines"),
    ),
    Fault(
        "missing-last-day",
        f"DELETE FROM order_lines WHERE {LAST_DAY}",
        "order_lines",
        "critical",
        ("order_lines.order_ts", "fresh: order lines exist on the day before", DAY_BEFORE),
    ),
    Fault(
        "category-feed-stopped",
        f"DELETE FROM order_lines WHERE {LAST_DAY} AND sku_id IN"
        f" (SELECT sku_id FROM sku_master WHERE category = {TOP_CATEGORY})",
        "order_lines",
        "critical",
        ("order_lines.order_ts", "feed: no category", "measure=lines value=0"),
    ),
    Fault(
        "unit-change-one-sku",
        f"UPDATE order_lines SET quantity = quantity * 24 WHERE {LAST_DAY} AND sku_id = {TOP_SKU}",
        "order_lines",
        "warning",
        ("order_lines.quantity", "outliers: no SKU-day", f"day={DAY_BEFORE}", "cap="),
    ),
    Fault(
        "active-unit_cost-0",
        "UPDATE sku_master SET unit_cost = 0 WHERE sku_id = "
        "(SELECT MIN(sku_id) FROM sku_master WHERE active)",
        "sku_master",
        "critical",
        ("sku_master.unit_cost", "an active SKU has unit_cost > 0", "unit_cost=0"),
    ),
    Fault(
        "active-order_cost-0",
        "UPDATE sku_master SET order_cost = 0 WHERE sku_id = "
        "(SELECT MIN(sku_id) FROM sku_master WHERE active)",
        "sku_master",
        "warning",
        ("sku_master.order_cost", "an active SKU has order_cost > 0", "order_cost=0"),
    ),
    Fault(
        "moq-not-pack-multiple",
        "UPDATE sku_master SET moq = 2 * pack_size + 1 WHERE sku_id = "
        "(SELECT MIN(sku_id) FROM sku_master WHERE pack_size > 1)",
        "sku_master",
        "warning",
        ("sku_master.moq", "moq is a multiple of pack_size", "pack_size="),
    ),
    Fault(
        "stale-planned-lead-time",
        f"UPDATE sku_master SET lead_time_days = 90 WHERE sku_id = {RECEIVING_SKU}",
        "sku_master",
        "warning",
        ("sku_master.lead_time_days", "planned lead_time_days", "planned_lead_days=90"),
    ),
    Fault(
        "active-sku-without-sales-for-a-year",
        f"DELETE FROM order_lines WHERE order_ts >= date('{D}', '-365 days')"
        " AND sku_id = (SELECT MIN(sku_id) FROM sku_master WHERE active)",
        "sku_master",
        "warning",
        ("sku_master.active", "has sold in the last 365 days", "last_sale="),
    ),
]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def medium_demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from replenishment.demo import DemoSpec, generate

    path = tmp_path_factory.mktemp("medium_demo") / "warehouse.db"
    engine = make_engine(f"sqlite:///{path}")
    generate(engine, DemoSpec(**MEDIUM_DEMO))
    engine.dispose()
    return path


@pytest.fixture
def medium(medium_demo_db: Path, tmp_path: Path) -> Path:
    target = tmp_path / "warehouse.db"
    shutil.copy(medium_demo_db, target)
    return target


@contextlib.contextmanager
def _engine(url: str) -> Iterator[sa.Engine]:
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def _apply(path: Path, sql: str) -> None:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.executescript(sql)
        conn.commit()


def _sql_rules(run_date: dt.date) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(suite, severity, description, bind values) of every suite rule that calls an SQL file."""
    rules = []
    for suite in ("order_lines", "sku_master"):
        for exp in load_suite(suite, run_date).expectations:
            meta = exp.get("meta") or {}
            if "sql_file" in meta:
                values = run_date_params(run_date, "US", meta.get("params"))
                rules.append((meta["sql_file"], exp["severity"], exp["description"], values))
    return rules


def _rule_hits(engine: sa.Engine, run_date: dt.date) -> dict[str, pd.DataFrame]:
    """description -> rows the rule returns for run_date (bind-parameter path)."""
    return {
        f"[{severity}] {description}": run_check(engine, sql_file, values)
        for sql_file, severity, description, values in _sql_rules(run_date)
    }


def _report_lines(report: ValidationReport) -> list[str]:
    return [f.line for r in report.results for f in r.failures]


# --------------------------------------------------------------------------- no false alarm


def _alarms(path: Path, last_run_date: dt.date, days: int = 90) -> tuple[list[str], dict[str, int]]:
    """The rules' hits on the ``days`` run dates up to ``last_run_date`` of a SQLite
    warehouse: each critical hit (date, rule, first rows), and warning hits per rule."""
    critical: list[str] = []
    warnings: dict[str, int] = {}
    with _engine(f"sqlite:///{path}") as engine:
        for n in range(days):
            run_date = last_run_date - dt.timedelta(days=n)
            for rule, rows in _rule_hits(engine, run_date).items():
                if rows.empty:
                    continue
                if rule.startswith("[critical]"):
                    critical.append(f"{run_date}: {rule}: {rows.head(3).to_dict('records')}")
                else:
                    warnings[rule] = warnings.get(rule, 0) + 1
    return critical, warnings


@pytest.mark.parametrize("demo", ["small", "medium"])
def test_demo_history_raises_no_critical_alarm_on_90_run_dates(
    demo: str, small_demo_db: Path, medium_demo_db: Path
) -> None:
    path = small_demo_db if demo == "small" else medium_demo_db
    critical, warnings = _alarms(path, RUN_DATE)
    assert not critical, "\n".join(critical)
    # warnings are allowed (a real peak, an erratic SKU's heavy tail) but must stay rare
    # the demo's late suppliers (issue 14) deliver days later than planned on every order:
    # the stale-lead-time warning is right about them, so it does not count as a false alarm
    false_alarms = {r: k for r, k in warnings.items() if "planned lead_time_days" not in r}
    assert sum(false_alarms.values()) <= 45, warnings


BIKE_SALES = Path(__file__).resolve().parents[1] / "data" / "bike_sales_sample.csv"


@pytest.fixture(scope="module")
def bike_sales_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/data/bike_sales_sample.csv (real order lines, see tests/data/README.md) as a
    warehouse: each model a SKU of its category_2, each line an order line."""
    from replenishment.db import run_script

    lines = pd.read_csv(BIKE_SALES, parse_dates=["order_date"])
    models = sorted(lines["model"].unique())
    ids = {m: f"BIKE-{i:03d}" for i, m in enumerate(models, 1)}
    first = lines.drop_duplicates("model").set_index("model")
    sku = pd.DataFrame(
        {
            "sku_id": [ids[m] for m in models],
            "description": models,
            "category": [first.loc[m, "category_2"] for m in models],
            "unit_cost": [round(float(first.loc[m, "price"]) * 0.6, 2) for m in models],
            "pack_size": 1, "moq": 0, "lead_time_days": 14, "review_period_days": 7,
            "service_level": 0.95, "holding_cost_rate": 0.2, "order_cost": 50.0, "active": True,
        }
    )  # fmt: skip
    order_lines = pd.DataFrame(
        {
            "order_id": lines["order_id"].astype(str),
            "line_no": lines["order_line"],
            "sku_id": lines["model"].map(ids),
            "order_ts": lines["order_date"],
            "quantity": lines["quantity"].astype(float),
            "unit_price": lines["price"].astype(float),
            "status": "completed",
        }
    )
    path = tmp_path_factory.mktemp("bike") / "warehouse.db"
    with _engine(f"sqlite:///{path}") as engine:
        with engine.begin() as conn:
            run_script(conn, "create_source_tables.sql")
        sku.to_sql("sku_master", engine, if_exists="append", index=False)
        order_lines.to_sql("order_lines", engine, if_exists="append", index=False)
    return path


def test_real_order_lines_raise_no_critical_alarm_on_90_run_dates(bike_sales_db: Path) -> None:
    """A real shop chain's year (weekdays, Thanksgiving, Christmas): its last 90 run dates."""
    last = pd.read_csv(BIKE_SALES, parse_dates=["order_date"])["order_date"].max().date()
    critical, warnings = _alarms(bike_sales_db, last + dt.timedelta(days=1))
    assert not critical, "\n".join(critical)
    assert sum(warnings.values()) <= 20, warnings


@pytest.mark.parametrize(
    "run_date",
    [
        RUN_DATE,
        dt.date(2025, 12, 26),  # the last day is Christmas
        dt.date(2025, 11, 28),  # the last day is Thanksgiving
        dt.date(2025, 7, 5),  # the last day is Independence Day
    ],
    ids=str,
)
def test_clean_demo_passes_the_gate_on_holidays(medium_demo_db: Path, run_date: dt.date) -> None:
    with _engine(f"sqlite:///{medium_demo_db}") as engine:
        report = validate_sources(engine, run_date, suites=("sku_master", "order_lines"))
    assert report.ok, report.message()


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.id)
def test_fault_is_caught_with_table_rule_and_examples(fault: Fault, medium: Path) -> None:
    _apply(medium, fault.sql)
    with _engine(f"sqlite:///{medium}") as engine:
        report = validate_sources(engine, RUN_DATE, suites=("sku_master", "order_lines"))
    failures = report.critical_failures if fault.severity == "critical" else report.warnings
    matching = [f for f in failures if all(part in f.line for part in fault.expect)]
    assert matching, f"{fault.id} not caught as {fault.severity}:\n" + "\n".join(
        _report_lines(report)
    )
    assert {f.suite for f in matching} == {fault.suite}
    if fault.severity == "warning":
        assert report.ok, report.message()  # a warning never stops the run
    frame = report.to_frame()
    row = frame[frame["suite"] == fault.suite].iloc[0]
    assert int(row["success"]) == 0
    assert f"[{fault.severity}]" in row["failures"]


def test_demand_outliers_lists_the_unit_change_for_the_forecast(medium: Path) -> None:
    with _engine(f"sqlite:///{medium}") as engine:
        clean = demand_outliers(engine, RUN_DATE)
        with engine.connect() as conn:
            sku = conn.exec_driver_sql(TOP_SKU.strip("()")).scalar_one()
        _apply(medium, next(f.sql for f in FAULTS if f.id == "unit-change-one-sku"))
        found = demand_outliers(engine, RUN_DATE)
    assert list(found.columns) == list(OUTLIER_COLUMNS)
    day = RUN_DATE - dt.timedelta(days=1)
    assert not ((clean["sku_id"] == sku) & (clean["date"] == day)).any()
    rows = found[(found["sku_id"] == sku) & (found["date"] == day)]
    assert len(rows) == 1, found
    row = rows.iloc[0]
    assert row["value"] > row["cap"] >= row["median"] > 0
    # the history window is half a year: no day on or after D, none older than 182 days
    assert found["date"].max() < RUN_DATE
    assert found["date"].min() >= RUN_DATE - dt.timedelta(days=182)


def _outliers_by_pandas(path: Path, run_date: dt.date, recent_days: int) -> pd.DataFrame:
    """The outlier rule of select_demand_outliers.sql computed with pandas from the lines:
    every SKU's median and MAD over its selling days of the history window, no pruning."""
    params = {k: float(v) for k, v in _outlier_params().items()}
    start = run_date - dt.timedelta(days=int(params["history_days"]))
    with contextlib.closing(sqlite3.connect(path)) as conn:
        lines = pd.read_sql_query(
            "SELECT l.sku_id, date(l.order_ts) AS day, l.quantity FROM order_lines AS l"
            " JOIN sku_master AS m ON m.sku_id = l.sku_id WHERE l.status <> 'cancelled'"
            " AND l.order_ts >= ? AND l.order_ts < ?",
            conn,
            params=(start.isoformat(), run_date.isoformat()),
        )
    daily = lines.groupby(["sku_id", "day"], as_index=False)["quantity"].sum()
    by_sku = daily.groupby("sku_id")["quantity"]
    daily["median"] = by_sku.transform("median")
    daily["mad"] = (
        (daily["quantity"] - daily["median"]).abs().groupby(daily["sku_id"]).transform("median")
    )
    daily["cap"] = pd.concat(
        [
            daily["median"] + params["mad_k"] * 1.4826 * daily["mad"],
            params["min_multiple"] * daily["median"],
            daily["median"] + params["min_excess"],
        ],
        axis=1,
    ).max(axis=1)
    recent = (run_date - dt.timedelta(days=recent_days)).isoformat()
    hit = (
        (by_sku.transform("size") >= params["min_days"])
        & (daily["day"] >= recent)
        & (daily["quantity"] > daily["cap"])
    )
    return daily[hit].rename(columns={"quantity": "value"}).reset_index(drop=True)


def _outlier_params() -> dict[str, Any]:
    spec = load_suite("order_lines", RUN_DATE)
    [exp] = [
        e for e in spec.expectations if e["meta"].get("sql_file") == "select_demand_outliers.sql"
    ]
    return dict(exp["meta"]["params"])


@pytest.mark.parametrize("recent_days", [28, 182])
def test_outlier_rule_equals_median_and_mad_computed_by_pandas(
    medium: Path, recent_days: int
) -> None:
    """The SQL (which measures the MAD only for SKUs with a day above 8 x median and median
    + 20) finds exactly the SKU-days, caps, medians and MADs of the rule computed in full,
    on the demo with a unit change: the gate's last 28 days and the forecast's 182."""
    _apply(medium, next(f.sql for f in FAULTS if f.id == "unit-change-one-sku"))
    expected = _outliers_by_pandas(medium, RUN_DATE, recent_days)
    params = {**_outlier_params(), "recent_days": recent_days}
    with _engine(f"sqlite:///{medium}") as engine:
        found = run_check(
            engine, "select_demand_outliers.sql", run_date_params(RUN_DATE, "US", params)
        )
    assert len(expected) >= 1 and len(found) == len(expected), (found, expected)
    for column in ("sku_id", "day"):
        assert found[column].astype(str).tolist() == expected[column].astype(str).tolist()
    for column in ("value", "cap", "median", "mad"):
        assert found[column].astype(float).round(9).tolist() == expected[column].round(9).tolist()


# --------------------------------------------------------------------------- PostgreSQL


def _same_rows(left: pd.DataFrame, right: pd.DataFrame) -> None:
    """Equal rows, whatever each driver returns: text or datetime, Decimal or float."""

    def value(v: Any) -> Any:
        if isinstance(v, dt.datetime):
            return v.strftime("%Y-%m-%d %H:%M:%S")
        if isinstance(v, dt.date):
            return v.isoformat()
        if isinstance(v, (int, float, Decimal)) and not isinstance(v, bool):
            return round(float(v), 6)
        return str(v)

    def norm(frame: pd.DataFrame) -> list[tuple[Any, ...]]:
        return [tuple(value(v) for v in row) for row in frame.itertuples(index=False)]

    assert list(left.columns) == list(right.columns)
    assert norm(left) == norm(right)


@pytest.mark.postgres
def test_postgres_rules_give_the_sqlite_rows(small_demo_db: Path, pg_warehouse: str) -> None:
    """Every SQL rule, on ten run dates (holidays among them), finds the same rows on both."""
    dates = [RUN_DATE - dt.timedelta(days=n) for n in range(0, 90, 9)]
    dates.append(dt.date(2025, 12, 26))
    # a repeated load and a unit change on both, so the rules have rows to compare
    faults = [f for f in FAULTS if f.id in ("repeated-load", "unit-change-one-sku")]
    sqlite_copy = small_demo_db.parent / "pg_compare.db"
    shutil.copy(small_demo_db, sqlite_copy)
    for fault in faults:
        _apply(sqlite_copy, fault.sql)
    with _engine(pg_warehouse) as pg, pg.begin() as conn:
        for fault in faults:
            conn.exec_driver_sql(fault.sql)
    compared = 0
    with _engine(f"sqlite:///{sqlite_copy}") as lite, _engine(pg_warehouse) as pg:
        for run_date in dates:
            left, right = _rule_hits(lite, run_date), _rule_hits(pg, run_date)
            for rule, rows in left.items():
                assert len(rows) == len(right[rule]), f"{run_date} {rule}"
                if len(rows):
                    _same_rows(rows, right[rule])
                    compared += 1
    assert compared >= 2  # the injected faults were found on both


@pytest.mark.postgres
@pytest.mark.parametrize("fault_id", [None, "repeated-load", "partial-last-day"])
def test_postgres_gate_catches_volume_and_repeated_load(
    pg_warehouse: str, fault_id: str | None
) -> None:
    if fault_id is not None:
        fault = next(f for f in FAULTS if f.id == fault_id)
        with _engine(pg_warehouse) as pg, pg.begin() as conn:
            conn.exec_driver_sql(fault.sql)
    with _engine(pg_warehouse) as pg:
        report = validate_sources(pg, RUN_DATE, suites=("sku_master", "order_lines"))
    if fault_id is None:
        assert report.ok and not report.warnings, report.message()
        return
    lines = [f.line for f in report.critical_failures]
    assert any(all(p in line for p in fault.expect) for line in lines), report.message()
