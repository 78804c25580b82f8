"""The reporting views as a BI tool reads them, on SQLite and PostgreSQL (issue 20).

A known history is written through the load's own writers (``write_table``,
``write_bi_tables``): ten daily runs of two SKUs with a 14-day horizon, every forecast
day of a SKU forecast by up to 14 runs. Summed the way a dashboard sums, no view may
count a day's actuals or forecast more than once; the date filter a BI tool generates
must keep its first day; flags must be booleans on PostgreSQL and every computed column
one storage class on SQLite; every money column has its currency beside it; no view
reads a source table; the BI role reads every table and view of the dictionary.
"""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest
import sqlalchemy as sa

from replenishment import reporting
from replenishment.db import make_engine, run_script, schema_prefix
from replenishment.demo import SOURCE_TABLES
from replenishment.load import (
    BiTables,
    daily_actuals_frame,
    ensure_reporting_tables,
    reporting_columns,
    sku_dim_frame,
    write_bi_tables,
    write_table,
)
from replenishment.warehouse import replace_rows, table_columns

FIRST_RUN = dt.date(2026, 6, 22)
RUNS = [FIRST_RUN + dt.timedelta(days=i) for i in range(10)]  # 2026-06-22 .. 07-01
LATEST = RUNS[-1]
HORIZON = 14
SKUS = ("A-1", "B-2")
#: The filter Superset sends for "2026-07-01 ≤ col < 2026-07-08" on a DATE column.
BI_FILTER = "{col} >= '{start} 00:00:00.000000' AND {col} < '{end} 00:00:00.000000'"


def _units(sku: str, day: dt.date) -> float:
    """The day's sales: 34 units of A-1 on 2026-06-24 (the issue's example), a pattern else."""
    if (sku, day) == ("A-1", dt.date(2026, 6, 24)):
        return 34.0
    return float((day.toordinal() % 5) + (3 if sku == "A-1" else 1))


def _yhat(sku: str, run: dt.date, day: dt.date) -> float:
    return 10.0 + (day - run).days + (2.0 if sku == "B-2" else 0.0)


def _sku_master() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sku_id": list(SKUS),
            "description": ["Apple 1kg", "Bread"],
            "category": ["fruit", "bakery"],
            "unit_cost": [2.5, 1.25],
            "pack_size": [6, 10],
            "moq": [12, 10],
            "lead_time_days": [5.0, 3.0],
            "review_period_days": [7.0, 7.0],
            "service_level": [0.95, 0.9],
            "active": [True, True],
        }
    )


def _row(table: str, **values: object) -> dict[str, object]:
    """A row of an output or simulation table: every column filled by its type, then ``values``."""
    columns = {**reporting_columns(), **table_columns(["create_simulation_tables.sql"])}[table]
    row: dict[str, object] = {}
    for column, sql_type in columns.items():
        if sql_type.startswith(("VARCHAR", "TEXT")):
            row[column] = "x"
        elif sql_type in ("DATE", "TIMESTAMP"):
            row[column] = FIRST_RUN
        else:
            row[column] = 1 if sql_type == "INTEGER" else 1.0
    row.update(values)
    return row


def _orders(run: dt.date) -> pd.DataFrame:
    """One replenishment_orders row per SKU, every column filled (an order for A-1 only)."""
    rows = []
    for i, sku in enumerate(SKUS):
        row = _row("replenishment_orders")
        row.update(sku_id=sku, policy="periodic", model="sba", lead_time_source="measured")
        row.update(order_qty=12.0 if i == 0 else 0.0, order_value=30.0 if i == 0 else 0.0)
        row.update(lead_time_used_days=6.5 + i, expected_receipt_date=run + dt.timedelta(days=7))
        rows.append(row)
    return pd.DataFrame(rows).drop(columns=["run_date"])


def _forecast(run: dt.date) -> pd.DataFrame:
    days = [run + dt.timedelta(days=h) for h in range(HORIZON)]
    return pd.DataFrame(
        [
            {
                "sku_id": sku,
                "forecast_date": day,
                "yhat": _yhat(sku, run, day),
                "yhat_lower": _yhat(sku, run, day) - 5,
                "yhat_upper": _yhat(sku, run, day) + 5,
                "interval_width": 0.8,
                "promo": int(day.weekday() == 4),
                "model": "sba",
            }
            for sku in SKUS
            for day in days
        ]
    )


def _bi_tables(run: dt.date) -> BiTables:
    history = [run - dt.timedelta(days=i) for i in range(1, 120)]
    demand = pd.DataFrame(
        [{"sku_id": s, "ds": pd.Timestamp(d), "y": _units(s, d)} for s in SKUS for d in history]
    )
    stockouts = pd.DataFrame({"sku_id": ["B-2"], "ds": [pd.Timestamp("2026-06-25")]})
    actuals = daily_actuals_frame(list(SKUS), demand, stockouts, run)
    return BiTables(actuals, sku_dim_frame(_sku_master(), _orders(run), "EUR"))


def _accuracy(run: dt.date) -> pd.DataFrame:
    """A-1 backtested on every run (WAPE rising with the run), B-2 not."""
    wape = 0.2 + 0.01 * (run - FIRST_RUN).days
    frame = pd.DataFrame(
        [
            _row(
                "forecast_accuracy",
                sku_id="A-1",
                actual_units=100.0 + (run - FIRST_RUN).days,
                wape=wape,
                baseline_wape=0.3,
                bias=0.05,
                beats_baseline=1,
            ),
            _row(
                "forecast_accuracy",
                sku_id="B-2",
                backtest_days=0,
                backtest_start=None,
                actual_units=None,
                wape=None,
                mase=None,
                bias=None,
                baseline_wape=None,
                baseline_mase=None,
                baseline_bias=None,
                beats_baseline=None,
            ),
        ]  # fmt: skip
    ).drop(columns=["run_date"])
    return frame.assign(beats_baseline=frame["beats_baseline"].astype("Int64"))


def _quality(run: dt.date) -> pd.DataFrame:
    """Five suites; order_lines fails one warning on every third run."""
    suites = ["sku_master", "order_lines", "promotions", "inventory_snapshots", "purchase_orders"]
    failed = int(run.toordinal() % 3 == 0)
    rows = [
        _row("data_quality_results", suite=suite, success=1 - (failed if i == 1 else 0),
             evaluated_expectations=10, failed_expectations=failed if i == 1 else 0,
             failed_critical=0, failed_warning=failed if i == 1 else 0, failures=None)
        for i, suite in enumerate(suites)
    ]  # fmt: skip
    return pd.DataFrame(rows).drop(columns=["run_date"])


def _simulation() -> pd.DataFrame:
    """A written simulation: two policies, all SKUs and one demand class each."""
    rows = []
    for policy, short in (("pipeline", 30.0), ("min_max", 80.0)):
        for demand_class, demand in (("all", 1000.0), ("smooth", 600.0)):
            rows.append(
                _row("inventory_simulation_summary", run_id="sim-1", start_date=FIRST_RUN,
                     end_date=LATEST, days=10, policy=policy, demand_class=demand_class,
                     demand_units=demand, short_units=short * demand / 1000,
                     fill_rate=1 - short / 1000, total_cost=1000.0 + short)
            )  # fmt: skip
    return pd.DataFrame(rows)


def _load_history(url: str) -> sa.Engine:
    """Ten daily runs (the latest loaded first, the others backfilled) and a simulation."""
    engine = make_engine(url)
    ensure_reporting_tables(engine, "reporting")
    # the latest run first: the backfill of the older ones must keep its SKU attributes
    for run in [LATEST, *RUNS[:-1]]:
        with engine.begin() as conn:
            prefix = schema_prefix(conn, "reporting")
            write_bi_tables(conn, prefix, run, _bi_tables(run))
            write_table(conn, f"{prefix}demand_forecast", run, _forecast(run))
            write_table(conn, f"{prefix}replenishment_orders", run, _orders(run))
            write_table(conn, f"{prefix}forecast_accuracy", run, _accuracy(run))
            write_table(conn, f"{prefix}data_quality_results", run, _quality(run))
            runs = pd.DataFrame([_row("pipeline_runs", status="success", run_id=None)])
            write_table(conn, f"{prefix}pipeline_runs", run, runs.drop(columns=["run_date"]))
    with engine.begin() as conn:
        prefix = schema_prefix(conn, "reporting")
        reporting.create_views(conn, prefix)  # creates the simulation tables too
        replace_rows(
            conn, f"{prefix}inventory_simulation_summary", {"run_id": "sim-1"}, _simulation()
        )
    return engine


def _query(engine: sa.Engine, sql: str) -> pd.DataFrame:
    with engine.connect() as conn:
        prefix = schema_prefix(conn, "reporting")
        return pd.read_sql_query(sa.text(sql.replace("{p}", prefix)), conn)


def _day(dates: pd.Series) -> pd.Series:
    return dates.astype(str).str.slice(0, 10)


def _known_days() -> list[dt.date]:
    """Days whose actuals the loads wrote: the 91 days before each run, 100 days in all."""
    first = FIRST_RUN - dt.timedelta(days=91)
    return [first + dt.timedelta(days=i) for i in range((LATEST - first).days)]


@pytest.fixture(params=["sqlite", "postgresql"])
def history(request, tmp_path) -> sa.Engine:
    if request.param == "sqlite":
        engine = _load_history(f"sqlite:///{tmp_path / 'w.db'}")
    else:
        engine = _load_history(request.getfixturevalue("pg_url"))
    yield engine
    engine.dispose()


def test_daily_actuals_hold_one_row_per_sku_and_day(history):
    frame = _query(history, "SELECT * FROM {p}v_daily_actuals")
    assert (
        len(frame)
        == len(SKUS) * len(_known_days())
        == len(frame.drop_duplicates(["sku_id", "demand_date"]))
    )
    day = frame[_day(frame["demand_date"]) == "2026-06-24"]
    assert day["actual_units"].sum() == 34.0 + _units("B-2", dt.date(2026, 6, 24))
    expected = sum(_units(s, d) for s in SKUS for d in _known_days())
    assert frame["actual_units"].sum() == pytest.approx(expected)
    assert set(frame.loc[frame["stockout_day"].astype(bool), "sku_id"]) == {"B-2"}
    assert set(frame["category"]) == {"fruit", "bakery"}


def test_sku_dimension_is_the_latest_runs(history):
    sku = _query(history, "SELECT * FROM {p}v_sku ORDER BY sku_id")
    assert list(sku["sku_id"]) == list(SKUS)
    # written by the latest run first; the older runs loaded after it left it alone
    assert set(_day(sku["as_of_run_date"])) == {LATEST.isoformat()}
    assert list(sku["lead_time_used_days"]) == [6.5, 7.5]
    assert list(sku["lead_time_days"]) == [5.0, 3.0]
    assert set(sku["currency"]) == {"EUR"} and list(sku["unit_cost"]) == [2.5, 1.25]


def test_forecast_views_cannot_double_count(history):
    fva = _query(history, "SELECT * FROM {p}v_forecast_vs_actual")
    assert len(fva) == len(RUNS) * len(SKUS) * HORIZON
    runs = pd.to_datetime(_day(fva["run_date"]))
    horizon = (pd.to_datetime(_day(fva["forecast_date"])) - runs).dt.days
    assert (fva["horizon_day"] == horizon).all() and set(fva["horizon_day"]) == set(range(HORIZON))
    latest = fva[fva["is_latest_run"].astype(bool)]
    assert set(_day(latest["run_date"])) == {LATEST.isoformat()}
    assert len(latest) == len(latest.drop_duplicates(["sku_id", "forecast_date"]))

    # the double count: a day sold 34 units; summing every run's rows shows it
    # 3 times (runs 06-22..06-24 forecast it), the lag-7 view shows it once
    day = fva[(_day(fva["forecast_date"]) == "2026-06-24") & (fva["sku_id"] == "A-1")]
    assert day["actual_units"].sum() == 34.0 * 3
    lag7 = _query(history, "SELECT * FROM {p}v_forecast_vs_actual_lag7")
    assert len(lag7) == len(lag7.drop_duplicates(["sku_id", "forecast_date"]))
    assert (
        (pd.to_datetime(_day(lag7["forecast_date"])) - pd.to_datetime(_day(lag7["run_date"])))
        .dt.days.eq(7)
        .all()
    )
    assert set(lag7["lag_days"]) == {7}
    # lag 7 covers the days 06-29 .. 07-08 (runs 06-22 .. 07-01); actuals known before 07-01
    known = lag7[lag7["actual_units"].notna()]
    assert sorted(set(_day(known["forecast_date"]))) == ["2026-06-29", "2026-06-30"]
    for _, row in known.iterrows():
        day = dt.date.fromisoformat(_day(pd.Series([row["forecast_date"]]))[0])
        assert row["actual_units"] == _units(row["sku_id"], day)
        assert row["yhat"] == _yhat(row["sku_id"], day - dt.timedelta(days=7), day)
        assert row["abs_error"] == pytest.approx(abs(row["yhat"] - row["actual_units"]))

    current = _query(history, "SELECT * FROM {p}v_latest_forecast")
    assert len(current) == len(SKUS) * HORIZON
    assert set(_day(current["run_date"])) == {LATEST.isoformat()}
    expected = sum(
        _yhat(s, LATEST, LATEST + dt.timedelta(days=h)) for s in SKUS for h in range(HORIZON)
    )
    assert current["yhat"].sum() == pytest.approx(expected)
    assert current["forecast_value"].sum() == pytest.approx(
        sum(
            _yhat(s, LATEST, LATEST + dt.timedelta(days=h)) * c
            for s, c in zip(SKUS, (2.5, 1.25), strict=True)
            for h in range(HORIZON)
        )
    )


def test_a_bi_tools_date_filter_keeps_its_first_day(history):
    """The SQL Superset sends for a date range on a DATE column, verbatim."""
    where = BI_FILTER.format(col="demand_date", start="2026-06-24", end="2026-06-26")
    frame = _query(
        history, f"SELECT demand_date, actual_units FROM {{p}}v_daily_actuals WHERE {where}"
    )
    assert sorted(set(_day(frame["demand_date"]))) == ["2026-06-24", "2026-06-25"]
    assert frame["actual_units"].sum() == sum(
        _units(s, dt.date(2026, 6, d)) for s in SKUS for d in (24, 25)
    )
    where = BI_FILTER.format(col="forecast_date", start="2026-07-01", end="2026-07-08")
    total = _query(history, f"SELECT SUM(yhat) AS yhat FROM {{p}}v_latest_forecast WHERE {where}")[
        "yhat"
    ].iloc[0]
    assert total == pytest.approx(
        sum(_yhat(s, LATEST, LATEST + dt.timedelta(days=h)) for s in SKUS for h in range(7))
    )
    where = BI_FILTER.format(col="run_date", start="2026-07-01", end="2026-07-02")
    orders = _query(history, f"SELECT order_value FROM {{p}}v_latest_orders WHERE {where}")
    assert orders["order_value"].sum() == 30.0


def _view_columns(engine: sa.Engine) -> dict[str, dict[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT table_name, column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'reporting'"
            )
        ).all()
    out: dict[str, dict[str, str]] = {}
    for table, column, data_type in rows:
        out.setdefault(table, {})[column] = data_type
    return out


def test_types_a_bi_tool_trusts(history):
    flags = {"active", "stockout_day", "order_placed", "promo", "within_interval"}
    flags |= {"is_latest_run", "success"}
    views = {n: r for n, r in reporting.dictionary().items() if r.kind == "view"}
    if history.dialect.name == "postgresql":
        types = _view_columns(history)
        for name, rel in views.items():
            for column in set(rel.columns) & flags:
                assert types[name][column] == "boolean", (name, column)
            for column in rel.columns:
                if column.endswith("_date"):
                    assert types[name][column] == "date", (name, column)
        return
    # SQLite: one storage class per column (a CAST ratio never comes back as an integer)
    for name, rel in views.items():
        for column in rel.columns:
            kinds = _query(history, f"SELECT DISTINCT typeof({column}) AS t FROM {{p}}{name}")["t"]
            assert len(set(kinds) - {"null"}) <= 1, (name, column, list(kinds))
    lag7 = _query(
        history,
        "SELECT typeof(abs_error) AS t FROM {p}v_forecast_vs_actual_lag7 WHERE actual_units IS NOT NULL",
    )
    assert set(lag7["t"]) == {"real"}


def test_every_money_column_has_its_currency(history):
    for name, rel in reporting.dictionary().items():
        money = rel.bi.get("currency_columns", [])
        if money:
            assert "currency" in rel.columns, name
            assert set(money) <= set(rel.columns), name
    for view in ("v_sku", "v_latest_orders", "v_latest_forecast"):
        assert set(_query(history, f"SELECT currency FROM {{p}}{view}")["currency"]) == {"EUR"}


def test_no_view_reads_a_source_table(history):
    for name, statement in reporting.view_statements("reporting.", history.dialect.name):
        for table in SOURCE_TABLES:
            assert not re.search(rf"\b{table}\b", statement), (name, table)
    if history.dialect.name == "postgresql":
        with history.connect() as conn:
            used = conn.execute(
                sa.text(
                    "SELECT view_name, table_schema, table_name FROM "
                    "information_schema.view_table_usage WHERE view_schema = 'reporting'"
                )
            ).all()
        assert used and {schema for _, schema, _ in used} == {"reporting"}, used


@pytest.mark.postgres
def test_the_bi_role_reads_every_table_and_view_and_nothing_else(pg_url):
    from replenishment.roles import BI_ROLE, PIPELINE_ROLE, apply_roles

    admin = make_engine(pg_url)
    with admin.begin() as conn:
        run_script(conn, "create_source_tables.sql")
    apply_roles(admin)
    admin.dispose()

    def as_role(role: str) -> str:
        return sa.make_url(pg_url).set(username=role).render_as_string(hide_password=False)

    _load_history(as_role(PIPELINE_ROLE)).dispose()
    bi = make_engine(as_role(BI_ROLE))
    try:
        with bi.connect() as conn:
            for name in reporting.dictionary():
                if name.startswith("inventory_simulation") or name == "forecast_backtest":
                    continue  # written by the simulator and the backtest, not by a load
                conn.exec_driver_sql(f"SELECT * FROM reporting.{name} LIMIT 1").all()
            assert conn.exec_driver_sql("SELECT COUNT(*) FROM reporting.v_sku").scalar() == 2
        for table in SOURCE_TABLES:
            with (
                pytest.raises(sa.exc.ProgrammingError, match="permission denied"),
                bi.connect() as conn,
            ):
                conn.exec_driver_sql(f"SELECT * FROM public.{table} LIMIT 1")
    finally:
        bi.dispose()


def test_every_view_has_rows(history):
    for name, rel in reporting.dictionary().items():
        if rel.kind == "view":
            assert len(_query(history, f"SELECT * FROM {{p}}{name}")) > 0, name
