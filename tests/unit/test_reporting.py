"""The data dictionary, the BI views and the PostgreSQL column comments."""

from __future__ import annotations

import datetime as dt
import logging
import re

import pandas as pd
import pytest
import sqlalchemy as sa

from replenishment import reporting
from replenishment.cli import reporting_main
from replenishment.config import Settings
from replenishment.db import make_engine, run_script, schema_prefix
from replenishment.load import OUTPUT_TABLES
from replenishment.pipeline import run_pipeline
from tests.support import RUN_DATE

EARLIER = RUN_DATE - dt.timedelta(days=7)
NASTY = 'it\'s 100 % "quoted" $$ $c$ \\ back\\slash; -- not a comment; Σ|f − a|'


def _settings(url: str, tmp_path) -> Settings:
    return Settings.load(
        {
            "warehouse_url": url,
            "staging_dir": str(tmp_path / "staging"),
            "data_docs_dir": str(tmp_path / "docs"),
            "forecast_batches": 2,
        }
    )


# --------------------------------------------------------------------------- the dictionary


def test_every_table_of_the_ddl_is_documented_column_by_column():
    ddl = reporting.ddl_columns()
    documented = {n: r for n, r in reporting.dictionary().items() if r.kind == "table"}
    assert set(OUTPUT_TABLES) | {"forecast_backtest"} <= set(ddl)
    assert set(documented) == set(ddl)
    for table, columns in ddl.items():
        assert list(documented[table].columns) == columns, table
        assert documented[table].description
        assert all(documented[table].columns.values()), f"{table}: empty column description"


def test_every_view_of_the_script_is_documented():
    views = [name for name, _ in reporting.view_statements()]
    documented = [n for n, r in reporting.dictionary().items() if r.kind == "view"]
    assert views == documented
    assert {"v_latest_orders", "v_forecast_vs_actual", "v_accuracy_by_category"} <= set(views)
    assert {"v_data_quality_history", "v_inventory_kpis"} <= set(views)


def test_views_are_templated_with_the_reporting_prefix():
    for name, statement in reporting.view_statements("reporting."):
        assert name == "reporting." + name.split(".")[-1]
        assert "{{" not in statement


def test_markdown_lists_every_table_view_and_column():
    text = reporting.data_dictionary_markdown()
    for rel in reporting.dictionary().values():
        assert f"### `{rel.name}`" in text
        for column in rel.columns:
            assert re.search(rf"^\| {re.escape(column)} \| .+ \|$", text, re.M), (rel.name, column)
    # a pipe inside a description must not split the Markdown table cell
    assert "Σ\\|forecast − actual\\|" in text


def test_readme_section_is_rewritten_between_the_markers(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(
        f"# title\n\nintro\n{reporting.START_MARKER}\nstale\n{reporting.END_MARKER}\n\n## next\n"
    )
    assert reporting_main(["--check", "--readme", str(readme)]) == 1
    assert reporting_main(["--write-readme", "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("# title\n\nintro\n")
    assert text.endswith(f"{reporting.END_MARKER}\n\n## next\n")
    assert "stale" not in text and reporting.data_dictionary_markdown() in text
    assert reporting_main(["--check", "--readme", str(readme)]) == 0
    assert reporting.readme_with_dictionary(text) == text  # idempotent
    readme.write_text("# no markers\n")
    assert reporting_main(["--check", "--readme", str(readme)]) == 1
    assert "data-dictionary" in capsys.readouterr().err


def test_project_readme_data_dictionary_is_current():
    """The README's section is generated: replenishment reporting --write-readme."""
    assert reporting_main(["--check"]) == 0


def test_comments_are_a_no_op_on_sqlite(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    with engine.begin() as conn:
        assert reporting.comment_columns(conn, "reporting") == 0
    engine.dispose()


# --------------------------------------------------------------------------- views on SQLite


def _actual_daily_demand(conn: sa.Connection) -> pd.DataFrame:
    lines = pd.read_sql_query("SELECT sku_id, order_ts, quantity, status FROM order_lines", conn)
    lines = lines[lines["status"] != "cancelled"]
    lines["ds"] = lines["order_ts"].astype(str).str.slice(0, 10)
    return lines.groupby(["sku_id", "ds"], as_index=False)["quantity"].sum()


def _day(dates: pd.Series) -> pd.Series:
    """The calendar day of view dates, which SQLite gives as 'YYYY-MM-DD 00:00:00.000000'."""
    return dates.astype(str).str.slice(0, 10)


@pytest.mark.slow
def test_views_on_sqlite_after_two_runs(sqlite_warehouse, tmp_path):
    settings = _settings(sqlite_warehouse, tmp_path)
    run_pipeline(settings, EARLIER)
    run_pipeline(settings, RUN_DATE)
    engine = make_engine(sqlite_warehouse)
    with engine.begin() as conn:
        prefix = schema_prefix(conn, "reporting")
        assert reporting.create_views(conn, prefix) == [n for n, _ in reporting.view_statements()]
    with engine.begin() as conn:  # a second time replaces them
        reporting.create_views(conn, prefix)
    dictionary = reporting.dictionary()
    with engine.connect() as conn:
        views = {}
        for name, rel in dictionary.items():
            if rel.kind == "view":
                views[name] = pd.read_sql_query(f"SELECT * FROM {name}", conn)
                assert list(views[name].columns) == list(rel.columns), name
        orders = pd.read_sql_query("SELECT * FROM replenishment_orders", conn)
        runs = pd.read_sql_query("SELECT * FROM pipeline_runs ORDER BY run_date", conn)
        quality = pd.read_sql_query("SELECT * FROM data_quality_results", conn)
        sku = pd.read_sql_query("SELECT sku_id, description, category FROM sku_master", conn)
        actual = _actual_daily_demand(conn)

    latest = views["v_latest_orders"]
    assert set(_day(latest["run_date"])) == {RUN_DATE.isoformat()}
    mine = orders[orders["run_date"] == RUN_DATE.isoformat()]
    assert sorted(latest["sku_id"]) == sorted(mine["sku_id"])
    assert latest["order_qty"].sum() == pytest.approx(mine["order_qty"].sum())
    named = latest.merge(sku, on="sku_id", suffixes=("", "_master"))
    assert (named["description"] == named["description_master"]).all()
    assert (named["category"] == named["category_master"]).all()

    fva = views["v_forecast_vs_actual"]
    known = fva[fva["actual_units"].notna()]
    assert len(known) > 0
    assert set(_day(known["run_date"])) == {EARLIER.isoformat()}
    assert (known["forecast_date"] < RUN_DATE.isoformat()).all()
    assert fva.loc[fva["forecast_date"] >= RUN_DATE.isoformat(), "actual_units"].isna().all()
    check = known.assign(day=_day(known["forecast_date"])).merge(
        actual, left_on=["sku_id", "day"], right_on=["sku_id", "ds"], how="left"
    )
    assert check["actual_units"].to_numpy() == pytest.approx(check["quantity"].fillna(0).to_numpy())
    assert check["abs_error"].to_numpy() == pytest.approx(
        (check["yhat"] - check["actual_units"]).abs().to_numpy()
    )
    assert set(known["within_interval"]) <= {0, 1} and set(known["stockout_day"]) <= {0, 1}

    realised = views["v_forecast_realised"].set_index("sku_id")
    assert set(realised.index) <= set(known["sku_id"])
    scored = known[known["stockout_day"] == 0]
    for sku_id, g in scored.groupby("sku_id"):
        row = realised.loc[sku_id]
        assert row["days_scored"] == len(g)
        assert row["abs_error"] == pytest.approx(g["abs_error"].sum())
        if g["actual_units"].sum() > 0:
            assert row["wape"] == pytest.approx(g["abs_error"].sum() / g["actual_units"].sum())

    acc = views["v_accuracy_by_category"]
    assert set(acc["category"]) <= set(sku["category"].fillna("(none)"))
    for _, run in runs.iterrows():
        part = acc[_day(acc["run_date"]) == run["run_date"]]
        assert part["skus"].sum() == run["skus_total"]
        scored = part.dropna(subset=["wape"])
        pooled = (scored["wape"] * scored["actual_units"]).sum() / scored["actual_units"].sum()
        assert pooled == pytest.approx(run["wape"])
    assert acc["share_beating_baseline"].dropna().between(0, 1).all()

    dq = views["v_data_quality_history"]
    assert len(dq) == len(quality)
    assert set(dq["run_status"]) == {"success"}
    assert (dq["suites_in_run"] == dq.groupby("run_date")["suite"].transform("size")).all()
    assert (dq["pass_rate"] == 1.0).all()

    assert views["v_inventory_kpis"].empty  # the simulation tables exist, empty
    row = {
        "run_id": "r", "start_date": "2026-01-01", "end_date": "2026-06-29", "days": 180,
        "demand_class": "all", "pipeline_policy": "periodic", "demand_mode": "lost_sales",
        "refit_every_days": 7, "skus": 23, "skus_with_cycles": 23, "target_service_level": 0.93,
        "cycle_service_level": 0.9, "service_level_gap": -0.03, "stockout_days": 5,
        "short_days": 7, "demand_units": 1000.0, "short_units": 30.0, "avg_on_hand": 250.0,
        "avg_inventory_value": 5000.0, "inventory_turns": 6.0, "orders": 12,
        "units_ordered": 1200.0, "ordering_cost": 300.0,
    }  # fmt: skip
    rows = [
        {
            **row,
            "policy": "pipeline",
            "fill_rate": 0.97,
            "holding_cost": 700.0,
            "total_cost": 1000.0,
        },
        {
            **row,
            "policy": "min_max",
            "fill_rate": 0.95,
            "holding_cost": 1200.0,
            "total_cost": 1500.0,
        },
    ]
    columns = list(rows[0])
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"INSERT INTO inventory_simulation_summary ({', '.join(columns)}) "
                f"VALUES ({', '.join(':' + c for c in columns)})"
            ),
            rows,
        )
    with engine.connect() as conn:
        kpis = pd.read_sql_query("SELECT * FROM v_inventory_kpis ORDER BY policy", conn)
    engine.dispose()
    assert list(kpis["policy"]) == ["min_max", "pipeline"]
    assert list(kpis["total_cost_vs_pipeline"]) == pytest.approx([1.5, 1.0])
    assert list(kpis["fill_rate_vs_pipeline"]) == pytest.approx([-0.02, 0.0])
    assert list(kpis["days_of_supply"]) == pytest.approx([250.0 / (1000.0 / 180)] * 2)


# --------------------------------------------------------------------------- PostgreSQL


def test_views_can_be_left_to_the_warehouse_team(sqlite_warehouse, tmp_path, capsys):
    def views() -> set[str]:
        engine = make_engine(sqlite_warehouse)
        with engine.connect() as conn:
            names = set(sa.inspect(conn).get_view_names())
        engine.dispose()
        return names

    settings = Settings.load(
        {**_settings(sqlite_warehouse, tmp_path).as_dict(), "publish_views": False}
    )
    run_pipeline(settings, RUN_DATE)
    assert views() == set()  # the load made none
    assert reporting_main(["--create-views", "--url", sqlite_warehouse]) == 0
    assert views() == {name for name, _ in reporting.view_statements()}
    assert "v_latest_orders" in capsys.readouterr().out


def _comments(conn: sa.Connection, schema: str) -> dict[tuple[str, str | None], str | None]:
    rows = conn.execute(
        sa.text(
            """
            SELECT c.relname, NULL AS attname, obj_description(c.oid, 'pg_class')
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = :schema
            UNION ALL
            SELECT c.relname, a.attname, col_description(c.oid, a.attnum)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
            WHERE n.nspname = :schema
            """
        ),
        {"schema": schema},
    ).all()
    return {(r[0], r[1]): r[2] for r in rows}


@pytest.mark.postgres
@pytest.mark.slow
def test_views_and_comments_on_postgres(pg_warehouse, tmp_path, caplog, monkeypatch):
    run_pipeline(_settings(pg_warehouse, tmp_path), RUN_DATE)  # the load publishes the views
    engine = make_engine(pg_warehouse)
    dictionary = reporting.dictionary()
    with engine.begin() as conn:
        run_script(conn, "create_backtest_table.sql", reporting="reporting.")
        # an older view with other columns (and no comments) is dropped and recreated
        conn.exec_driver_sql("DROP VIEW reporting.v_latest_orders")
        conn.exec_driver_sql("CREATE VIEW reporting.v_latest_orders AS SELECT 1 AS x")
        created = reporting.create_views(conn, "reporting.")
        assert created == [f"reporting.{n}" for n, _ in reporting.view_statements()]
        first = reporting.comment_columns(conn, "reporting")
    # the load had set every other comment, and the backtest table's came with it now
    renewed = [dictionary["v_latest_orders"], dictionary["forecast_backtest"]]
    assert first == sum(1 + len(r.columns) for r in renewed)
    with engine.begin() as conn:
        reporting.create_views(conn, "reporting.")  # CREATE OR REPLACE, unchanged
        assert reporting.comment_columns(conn, "reporting") == 0  # nothing to rewrite

    with engine.connect() as conn:
        comments = _comments(conn, "reporting")
        for name, rel in dictionary.items():
            assert comments[(name, None)] == rel.description, name
            for column, text in rel.columns.items():
                assert comments[(name, column)] == text, (name, column)
        text = conn.execute(
            sa.text(
                "SELECT col_description('reporting.replenishment_orders'::regclass, "
                "(SELECT attnum FROM pg_attribute WHERE attrelid = "
                "'reporting.replenishment_orders'::regclass AND attname = 'order_qty'))"
            )
        ).scalar()
        assert text == dictionary["replenishment_orders"].columns["order_qty"]
        for name, rel in dictionary.items():
            if rel.kind == "view":
                frame = pd.read_sql_query(f"SELECT * FROM reporting.{name}", conn)
                assert list(frame.columns) == list(rel.columns), name
        latest = pd.read_sql_query("SELECT * FROM reporting.v_latest_orders", conn)
        orders = pd.read_sql_query("SELECT * FROM reporting.replenishment_orders", conn)
        acc = pd.read_sql_query("SELECT * FROM reporting.v_accuracy_by_category", conn)
        run = pd.read_sql_query("SELECT * FROM reporting.pipeline_runs", conn).iloc[0]
    assert sorted(latest["sku_id"]) == sorted(orders["sku_id"])
    scored = acc.dropna(subset=["wape"])
    pooled = (scored["wape"] * scored["actual_units"]).sum() / scored["actual_units"].sum()
    assert pooled == pytest.approx(run["wape"])

    # a BI query holding a view makes the replacement skip it instead of blocking the load
    monkeypatch.setattr(reporting, "VIEW_LOCK_TIMEOUT", "200ms")
    holder = engine.connect()
    try:
        holder.exec_driver_sql(
            "LOCK TABLE reporting.v_forecast_vs_actual IN ACCESS SHARE MODE"
        )  # an open transaction reading the view
        with (
            caplog.at_level(logging.WARNING, logger="replenishment.reporting"),
            engine.begin() as conn,
        ):
            created = reporting.create_views(conn, "reporting.")
        assert "reporting.v_forecast_vs_actual" not in created
        assert "reporting.v_latest_orders" in created
        assert "in use" in caplog.text
    finally:
        holder.rollback()
        holder.close()
    engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("driver", ["psycopg2", "psycopg"])
def test_comment_literals_are_quoted_by_the_driver(pg_url, driver):
    url = sa.engine.make_url(pg_url).set(drivername=f"postgresql+{driver}")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        literal = reporting.quote_literal(conn, NASTY)
        cursor = conn.connection.dbapi_connection.cursor()
        cursor.execute(f"SELECT {literal}")
        assert cursor.fetchone()[0] == NASTY
        conn.exec_driver_sql("CREATE TABLE t (c integer)")
        reporting.execute_verbatim(conn, f"COMMENT ON COLUMN t.c IS {literal}")
        assert conn.exec_driver_sql("SELECT col_description('t'::regclass, 1)").scalar() == NASTY
    engine.dispose()


def test_dollar_quoting_fallback_never_closes_early():
    class Fake:
        class connection:  # mimics Connection.connection.dbapi_connection
            dbapi_connection = object()

    literal = reporting.quote_literal(Fake(), "a $c$ b $c1$ c")  # type: ignore[arg-type]
    tag = literal[: literal.index("$", 1) + 1]
    assert literal == f"{tag}a $c$ b $c1$ c{tag}" and tag not in "a $c$ b $c1$ c"
