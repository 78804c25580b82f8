"""The demo warehouse generator on a tiny spec in temporary SQLite files."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from replenishment import db, demo

SPEC = demo.DemoSpec(n_skus=30, years=1.0, end_date=dt.date(2026, 6, 30), seed=7)
KEYS = {
    "sku_master": ["sku_id"],
    "order_lines": ["order_id", "line_no"],
    "promotions": ["promo_id"],
    "inventory_snapshots": ["sku_id", "snapshot_date"],
    "purchase_orders": ["po_id"],
    "demo_truth": ["sku_id"],
}
CONTRACT_COLUMNS = {
    "sku_master": {
        "sku_id",
        "description",
        "category",
        "unit_cost",
        "pack_size",
        "moq",
        "lead_time_days",
        "review_period_days",
        "service_level",
        "holding_cost_rate",
        "order_cost",
        "active",
    },
    "order_lines": {
        "order_id",
        "line_no",
        "sku_id",
        "order_ts",
        "quantity",
        "unit_price",
        "status",
    },
    "promotions": {"promo_id", "sku_id", "start_date", "end_date", "discount_pct"},
    "inventory_snapshots": {"sku_id", "snapshot_date", "on_hand"},
    "purchase_orders": {
        "po_id",
        "sku_id",
        "order_date",
        "expected_date",
        "received_date",
        "quantity",
        "status",
    },
    "demo_truth": {
        "sku_id",
        "pattern",
        "base_daily",
        "trend_per_year",
        "weekly_amplitude",
        "yearly_amplitude",
        "promo_uplift",
        "forced_stockouts",
        "first_sale_date",
    },
}
DATE_COLUMNS = {
    "promotions": ["start_date", "end_date"],
    "inventory_snapshots": ["snapshot_date"],
    "purchase_orders": ["order_date", "expected_date", "received_date"],
    "order_lines": ["order_ts"],
    "demo_truth": [
        "first_sale_date",
        "launch_date",
        "discontinued_date",
        "trend_ref_date",
        "run_date",
    ],
}


def _build(path: Path, spec: demo.DemoSpec) -> tuple[sa.Engine, pd.DataFrame]:
    engine = db.make_engine(f"sqlite:///{path}")
    truth = demo.generate(engine, spec)
    return engine, truth


def _tables(engine: sa.Engine) -> dict[str, pd.DataFrame]:
    with engine.connect() as conn:
        frames = {
            table: pd.read_sql_query(
                sa.text(f"SELECT * FROM {table} ORDER BY {', '.join(key)}"), conn
            )
            for table, key in KEYS.items()
        }
    for table, columns in DATE_COLUMNS.items():
        for col in columns:
            frames[table][col] = pd.to_datetime(frames[table][col]).astype("datetime64[us]")
    return frames


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> tuple[sa.Engine, pd.DataFrame]:
    return _build(tmp_path_factory.mktemp("demo") / "a.db", SPEC)


@pytest.fixture(scope="module")
def tables(warehouse: tuple[sa.Engine, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return _tables(warehouse[0])


@pytest.fixture(scope="module")
def daily_sales(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Demand per contract: non-cancelled quantity by SKU and UTC date, on every snapshot day."""
    lines = tables["order_lines"]
    sold = lines[lines["status"] != "cancelled"].assign(day=lambda f: f["order_ts"].dt.normalize())
    demand = sold.groupby(["sku_id", "day"], as_index=False)["quantity"].sum()
    grid = tables["inventory_snapshots"].rename(columns={"snapshot_date": "day"})
    return grid.merge(demand, on=["sku_id", "day"], how="left").fillna({"quantity": 0.0})


def test_tables_have_the_contract_columns(warehouse: tuple[sa.Engine, pd.DataFrame]) -> None:
    inspector = sa.inspect(warehouse[0])
    for table, expected in CONTRACT_COLUMNS.items():
        columns = {c["name"] for c in inspector.get_columns(table)}
        assert expected <= columns, (table, expected - columns)
    index_names = {i["name"] for i in inspector.get_indexes("order_lines")}
    assert "ix_order_lines_sku_ts" in index_names


def test_truth_frame_matches_table(
    warehouse: tuple[sa.Engine, pd.DataFrame], tables: dict[str, pd.DataFrame]
) -> None:
    truth = warehouse[1]
    assert len(truth) == SPEC.n_skus == len(tables["demo_truth"]) == len(tables["sku_master"])
    assert truth["sku_id"].tolist() == tables["demo_truth"]["sku_id"].tolist()
    assert truth["sku_id"].iloc[0] == "SKU-000001"


def test_same_seed_gives_identical_rows_and_another_seed_differs(
    tmp_path: Path, tables: dict[str, pd.DataFrame]
) -> None:
    again = _tables(_build(tmp_path / "b.db", SPEC)[0])
    for table, frame in tables.items():
        pd.testing.assert_frame_equal(frame, again[table], obj=table)
    other = _tables(_build(tmp_path / "c.db", dataclasses.replace(SPEC, seed=8))[0])
    for table in ("order_lines", "inventory_snapshots", "purchase_orders", "sku_master"):
        assert not tables[table].equals(other[table]), table


def test_every_pattern_present(tables: dict[str, pd.DataFrame]) -> None:
    truth = tables["demo_truth"]
    assert set(truth["pattern"]) == set(demo.PATTERNS)
    assert truth["forced_stockouts"].sum() >= 1
    assert (truth["promo_uplift"] > 0).any() and (truth["promo_uplift"] == 0).any()
    assert (~truth["active"].astype(bool)).sum() >= 1


def test_keys_unique(tables: dict[str, pd.DataFrame]) -> None:
    for table, key in KEYS.items():
        assert not tables[table].duplicated(key).any(), table


def test_master_data_in_range(tables: dict[str, pd.DataFrame]) -> None:
    sku = tables["sku_master"]
    assert sku["sku_id"].str.fullmatch(r"SKU-\d{6}").all()
    assert sku["unit_cost"].between(1, 200).all()
    assert (sku["pack_size"] >= 1).all()
    assert ((sku["moq"] == 0) | (sku["moq"] % sku["pack_size"] == 0)).all()
    assert sku["lead_time_days"].between(3, 21).all()
    assert sku["service_level"].between(0.5, 0.999).all()
    assert sku["holding_cost_rate"].between(0.15, 0.35).all()
    assert sku["order_cost"].between(20, 150).all()
    assert sku["category"].nunique() >= 5


def test_quantities_positive_integers(tables: dict[str, pd.DataFrame]) -> None:
    for table in ("order_lines", "purchase_orders"):
        quantity = tables[table]["quantity"]
        assert (quantity > 0).all(), table
        assert (quantity == quantity.round()).all(), table
    assert (tables["inventory_snapshots"]["on_hand"] >= 0).all()
    lines = tables["order_lines"]
    assert (lines["line_no"] >= 1).all()
    assert (lines.groupby("order_id")["line_no"].min() == 1).all()
    assert (lines["unit_price"] > 0).all()


def test_statuses_in_their_sets(tables: dict[str, pd.DataFrame]) -> None:
    lines = tables["order_lines"]["status"].value_counts(normalize=True)
    assert set(lines.index) == {"completed", "returned", "cancelled"}
    assert lines["completed"] > 0.9
    assert 0.01 < lines["cancelled"] < 0.06
    pos = tables["purchase_orders"]
    assert set(pos["status"]) == {"open", "received", "cancelled"}
    received = pos[pos["status"] == "received"]
    assert received["received_date"].notna().all()
    assert (received["received_date"] > received["order_date"]).all()
    assert pos.loc[pos["status"] != "received", "received_date"].isna().all()
    assert (pos["expected_date"] > pos["order_date"]).all()


def test_promotions_valid_and_planned_ahead(tables: dict[str, pd.DataFrame]) -> None:
    promos = tables["promotions"].sort_values(["sku_id", "start_date"])
    assert (promos["end_date"] >= promos["start_date"]).all()
    assert promos["discount_pct"].between(10, 40).all()
    end = pd.Timestamp(SPEC.end_date)
    assert (promos["start_date"] > end).any()
    assert promos["end_date"].max() <= end + pd.Timedelta(days=SPEC.planned_promo_days)
    previous_end = promos.groupby("sku_id")["end_date"].shift()
    assert not (promos["start_date"] <= previous_end).any(), "overlapping promotions"
    promoted = set(tables["demo_truth"].query("promo_uplift > 0")["sku_id"])
    assert set(promos["sku_id"]) <= promoted


def test_stockout_days_exist(tables: dict[str, pd.DataFrame]) -> None:
    snapshots = tables["inventory_snapshots"]
    assert (snapshots["on_hand"] == 0).any()
    forced = tables["demo_truth"].query("forced_stockouts == 1")["sku_id"]
    assert (snapshots[snapshots["sku_id"].isin(forced)]["on_hand"] == 0).any()


def test_open_purchase_orders_at_end_date(tables: dict[str, pd.DataFrame]) -> None:
    pos = tables["purchase_orders"]
    open_pos = pos[pos["status"] == "open"]
    assert open_pos["sku_id"].nunique() >= 5
    assert (open_pos["order_date"] <= pd.Timestamp(SPEC.end_date)).all()
    assert (pos["received_date"].dropna() <= pd.Timestamp(SPEC.end_date)).all()


def test_history_window(tables: dict[str, pd.DataFrame]) -> None:
    ts = tables["order_lines"]["order_ts"]
    assert ts.dt.normalize().max() <= pd.Timestamp(SPEC.end_date)
    assert ts.min() >= pd.Timestamp(SPEC.start_date)
    snapshots = tables["inventory_snapshots"]
    assert snapshots["snapshot_date"].max() == pd.Timestamp(SPEC.end_date)
    span = snapshots.groupby("sku_id")["snapshot_date"].agg(["min", "max", "count"])
    assert ((span["max"] - span["min"]).dt.days + 1 == span["count"]).all(), "gaps in snapshots"


def test_new_skus_have_short_history(
    tables: dict[str, pd.DataFrame], daily_sales: pd.DataFrame
) -> None:
    truth = tables["demo_truth"].set_index("sku_id")
    new = truth.index[truth["pattern"] == "new"]
    first_day = tables["inventory_snapshots"].groupby("sku_id")["snapshot_date"].min()
    history = (pd.Timestamp(SPEC.end_date) - first_day[new]).dt.days + 1
    assert history.between(21, 56).all()
    old = truth.index[truth["pattern"] != "new"]
    assert (first_day[old] == pd.Timestamp(SPEC.start_date)).all()
    first_sale = daily_sales[daily_sales["quantity"] > 0].groupby("sku_id")["day"].min()
    assert (first_sale[new] == truth.loc[new, "first_sale_date"]).all()


def test_inactive_skus_stop_selling(
    tables: dict[str, pd.DataFrame], daily_sales: pd.DataFrame
) -> None:
    truth = tables["demo_truth"].set_index("sku_id")
    inactive = truth[~truth["active"].astype(bool)]
    assert (
        inactive["discontinued_date"] <= pd.Timestamp(SPEC.end_date) - pd.Timedelta(days=59)
    ).all()
    for sku, row in inactive.iterrows():
        after = daily_sales[
            (daily_sales["sku_id"] == sku) & (daily_sales["day"] >= row["discontinued_date"])
        ]
        assert after["quantity"].sum() == 0, sku


def test_promoted_days_sell_more(
    tables: dict[str, pd.DataFrame], daily_sales: pd.DataFrame
) -> None:
    truth = tables["demo_truth"].set_index("sku_id")
    promos = tables["promotions"]
    days = pd.concat(
        pd.DataFrame({"sku_id": p.sku_id, "day": pd.date_range(p.start_date, p.end_date)})
        for p in promos.itertuples()
    ).assign(promo=True)
    sales = daily_sales[daily_sales["sku_id"].isin(promos["sku_id"])].merge(
        days, on=["sku_id", "day"], how="left"
    )
    sales["promo"] = sales["promo"].fillna(False).astype(bool)
    sales["relative"] = sales["quantity"] / sales["sku_id"].map(truth["base_daily"])
    means = sales.groupby("promo")["relative"].mean()
    assert means[True] > 1.2 * means[False]


def test_truth_totals_match_the_data(
    tables: dict[str, pd.DataFrame], daily_sales: pd.DataFrame
) -> None:
    truth = tables["demo_truth"].set_index("sku_id")
    sold = daily_sales.groupby("sku_id")["quantity"].sum()
    pd.testing.assert_series_equal(
        sold.reindex(truth.index), truth["total_sales"], check_names=False
    )
    assert (truth["total_demand"] >= truth["total_sales"]).all()
    assert (truth["expected_demand_next_28d"] >= 0).all()


def test_replace_false_refuses_existing_tables(warehouse: tuple[sa.Engine, pd.DataFrame]) -> None:
    with pytest.raises(RuntimeError, match="already exist"):
        demo.generate(warehouse[0], SPEC, replace=False)


def test_spec_validation() -> None:
    with pytest.raises(ValueError, match="n_skus"):
        demo.DemoSpec(n_skus=0)
    with pytest.raises(ValueError, match="years"):
        demo.DemoSpec(years=0.05)


def test_main_writes_and_summarises(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    args = ["--url", url, "--skus", "12", "--years", "0.5", "--end-date", "2025-12-31"]
    assert demo.main([*args, "--seed", "3"]) == 0
    assert "order_lines=" in capsys.readouterr().out
    with db.make_engine(url).connect() as conn:
        last = conn.exec_driver_sql("SELECT MAX(snapshot_date) FROM inventory_snapshots").scalar()
        skus = conn.exec_driver_sql("SELECT COUNT(*) FROM sku_master").scalar()
    assert str(last)[:10] == "2025-12-31"
    assert skus == 12
    assert demo.main([*args, "--skus", "5", "--if-empty"]) == 0
    assert "not written" in capsys.readouterr().out
    with db.make_engine(url).connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM sku_master").scalar() == 12


@pytest.mark.postgres
def test_postgres_gets_the_same_rows_as_sqlite(
    pg_url: str, tables: dict[str, pd.DataFrame]
) -> None:
    engine = db.make_engine(pg_url)
    try:
        demo.generate(engine, SPEC)
        on_pg = _tables(engine)
    finally:
        engine.dispose()
    for table, frame in tables.items():
        expected = frame.copy()
        got = on_pg[table]
        for col in expected.columns:
            if expected[col].dtype == bool or got[col].dtype == bool:
                expected[col], got[col] = expected[col].astype(bool), got[col].astype(bool)
        pd.testing.assert_frame_equal(
            expected, got, obj=table, check_dtype=False, check_index_type=False
        )


def test_default_history_ends_yesterday() -> None:
    """The demo's default run date is today, so the UI's Trigger defaults lead to a green run."""
    today = dt.datetime.now(dt.UTC).date()
    spec = demo.DemoSpec()
    assert spec.end_date == today - dt.timedelta(days=1)
    assert spec.run_date == today
    # still deterministic given the end date
    assert demo.DemoSpec(end_date=dt.date(2026, 6, 30)).start_date == dt.date(2023, 7, 1)


def test_main_says_which_dates_hold_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'dates.db'}"
    args = ["--url", url, "--skus", "4", "--years", "0.5", "--end-date", "2025-12-31"]
    assert demo.main(args) == 0
    out = capsys.readouterr().out
    assert "order history 2025-07-02 .. 2025-12-31" in out, out
    assert "run dates 2025-07-03 .. 2026-01-01" in out, out
    assert demo.main([*args, "--if-empty"]) == 0
    out = capsys.readouterr().out
    assert "not written" in out and "order history 2025-07-02 .. 2025-12-31" in out, out
