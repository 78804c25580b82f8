"""Load: replace the run date's rows of every output table in one transaction.

A run writes only rows keyed by its own run_date. All tables of a run are
written inside a single transaction, so a failure halfway (or a killed task)
leaves every table exactly as it was: either all of the run's new rows are
visible or none are.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from replenishment.db import schema_prefix, sql_value
from replenishment.staging import Staging
from replenishment.warehouse import (
    advisory_lock,
    bulk_insert,
    ensure_tables,
    replace_rows,
    table_columns,
)

log = logging.getLogger(__name__)

OUTPUT_TABLES = (
    "demand_forecast",
    "replenishment_orders",
    "forecast_accuracy",
    "data_quality_results",
    "pipeline_runs",
)
#: The DDL of the output tables.
TABLES_SCRIPT = "create_reporting_tables.sql"
#: The DDL of the tables written for BI tools only (daily actuals, SKU dimension).
BI_TABLES_SCRIPT = "create_bi_tables.sql"
#: Days before the run date whose daily actuals every load rewrites: D - 91 .. D - 1,
#: which covers the 28-day horizon of every run of the last two months.
ACTUALS_DAYS = 91


def ensure_reporting_tables(engine: Engine, schema: str) -> None:
    """Create the reporting schema and output tables; add columns a newer version defines.

    Existing tables are never dropped: a column present in
    ``create_reporting_tables.sql`` but missing from the database is added with
    ``ALTER TABLE ... ADD COLUMN`` (nullable), so older reporting tables keep their rows
    (:func:`replenishment.warehouse.ensure_tables`).
    """
    with engine.begin() as conn:
        ensure_tables(conn, schema, TABLES_SCRIPT)
        ensure_tables(conn, schema, BI_TABLES_SCRIPT)


def publish_views(engine: Engine, schema: str) -> list[str]:
    """Create or replace the BI views and set the PostgreSQL comments; the views created.

    Its own transaction, before a run's rows are written: views and comments are
    metadata, and a view a BI query keeps locked keeps its previous definition (see
    :func:`replenishment.reporting.create_views`) rather than hold up the load.
    Needs the source tables the views read (a validated warehouse has them).
    """
    from replenishment.reporting import comment_columns, create_views

    with engine.begin() as conn:
        created = create_views(conn, schema_prefix(conn, schema))
        comment_columns(conn, schema)
    return created


def reporting_columns() -> dict[str, dict[str, str]]:
    """Columns and SQL types of each output table, as ``create_reporting_tables.sql`` defines them."""
    return table_columns([TABLES_SCRIPT])


def write_table(conn: Connection, table: str, run_date: dt.date, frame: pd.DataFrame) -> int:
    """Replace ``run_date``'s rows of one output table (``table`` schema-qualified); rows written.

    The one write of :func:`load_outputs`, per table, inside its transaction.
    """
    return replace_rows(conn, table, {"run_date": run_date}, frame)


def load_outputs(
    engine: Engine,
    schema: str,
    run_date: dt.date,
    tables: Mapping[str, pd.DataFrame | Callable[[], pd.DataFrame]],
    bi_tables: BiTables | None = None,
) -> dict[str, int]:
    """Replace ``run_date``'s rows of each named output table, all in one transaction.

    Returns rows written per table. Columns of each frame must be columns of the
    table (``run_date`` is set here). A callable is called when its table's turn
    comes (so a run summary can include the time spent writing the tables before it).
    ``bi_tables`` (the run's daily actuals and SKU dimension) are written last, in
    the same transaction (:func:`write_bi_tables`).
    """
    unknown = set(tables) - set(OUTPUT_TABLES)
    if unknown:
        raise ValueError(f"not output tables: {sorted(unknown)}")
    written: dict[str, int] = {}
    with engine.begin() as conn:
        prefix = schema_prefix(conn, schema)
        for table, frame in tables.items():
            rows = frame() if callable(frame) else frame
            written[table] = write_table(conn, f"{prefix}{table}", run_date, rows)
        # last, in the order ensure_reporting_tables creates them: a load and another run's
        # DDL (CREATE INDEX IF NOT EXISTS locks the table) then take their locks in one
        # order and wait for each other instead of deadlocking
        if bi_tables is not None:
            written.update(write_bi_tables(conn, prefix, run_date, bi_tables))
    log.info("loaded run %s: %s", run_date, written)
    return written


def read_output(
    engine: Engine, schema: str, table: str, run_date: dt.date | None = None
) -> pd.DataFrame:
    """Rows of an output table (for one run date if given), ordered by its key."""
    if table not in OUTPUT_TABLES:
        raise ValueError(f"not an output table: {table}")
    with engine.connect() as conn:
        prefix = schema_prefix(conn, schema)
        sql = f"SELECT * FROM {prefix}{table}"
        params: dict[str, object] = {}
        if run_date is not None:
            sql += " WHERE run_date = :run_date"
            params["run_date"] = sql_value(conn, run_date)
        frame = pd.read_sql_query(sa.text(sql), conn, params=params)
    keys = [c for c in ("run_date", "sku_id", "forecast_date", "suite") if c in frame.columns]
    return frame.sort_values(keys).reset_index(drop=True)


# --------------------------------------------------------------------------- BI tables


@dataclass(frozen=True)
class BiTables:
    """What a load writes for BI tools besides its run's rows (``create_bi_tables.sql``).

    actuals: ``daily_actuals`` rows (demand_date, sku_id, actual_units, stockout_day) of
    the days D - :data:`ACTUALS_DAYS` .. D - 1; sku_dim: ``sku_dim`` rows, one per SKU.
    """

    actuals: pd.DataFrame
    sku_dim: pd.DataFrame

    @classmethod
    def from_staging(
        cls, staging: Staging, run_date: dt.date, orders: pd.DataFrame, currency: str
    ) -> BiTables:
        """The BI tables of a run from its staged extract (as of ``run_date``) and its orders."""
        since = run_date - dt.timedelta(days=ACTUALS_DAYS)
        sku = staging.read("sku")
        actuals = daily_actuals_frame(
            sku["sku_id"].astype(str).tolist(),
            staging.read("demand", since=since),
            staging.read("stockouts", since=since),
            run_date,
        )
        return cls(actuals=actuals, sku_dim=sku_dim_frame(sku, orders, currency))


def daily_actuals_frame(
    sku_ids: list[str],
    demand: pd.DataFrame,
    stockouts: pd.DataFrame,
    run_date: dt.date,
    days: int = ACTUALS_DAYS,
) -> pd.DataFrame:
    """One row per SKU and day of D - ``days`` .. D - 1: actual units (0 without sales)
    and whether the day ended out of stock (1/0).

    demand: the run's daily demand (sku_id, ds, y; days with sales only); stockouts:
    sku_id, ds of the days that ended with on_hand = 0.

    >>> d = pd.DataFrame({"sku_id": ["A"], "ds": [pd.Timestamp("2026-06-30")], "y": [3.0]})
    >>> s = pd.DataFrame({"sku_id": ["A"], "ds": [pd.Timestamp("2026-06-29")]})
    >>> daily_actuals_frame(["A"], d, s, dt.date(2026, 7, 1), days=2).to_dict("list")
    ... # doctest: +NORMALIZE_WHITESPACE
    {'demand_date': [datetime.date(2026, 6, 29), datetime.date(2026, 6, 30)],
     'sku_id': ['A', 'A'], 'actual_units': [0.0, 3.0], 'stockout_day': [1, 0]}
    """
    start = run_date - dt.timedelta(days=days)
    grid = pd.MultiIndex.from_product(
        [pd.date_range(start, run_date - dt.timedelta(days=1), freq="D"), sorted(set(sku_ids))],
        names=["ds", "sku_id"],
    )
    units = demand.assign(ds=pd.to_datetime(demand["ds"])).groupby(["ds", "sku_id"])["y"].sum()
    out = pd.DataFrame(index=grid)
    out["actual_units"] = units.reindex(grid).fillna(0.0).astype("float64")
    out_of_stock = pd.MultiIndex.from_frame(
        stockouts.assign(ds=pd.to_datetime(stockouts["ds"]))[["ds", "sku_id"]]
    )
    out["stockout_day"] = grid.isin(out_of_stock).astype("int64")
    out = out.reset_index().rename(columns={"ds": "demand_date"})
    out["demand_date"] = out["demand_date"].dt.date
    return out[["demand_date", "sku_id", "actual_units", "stockout_day"]]


def sku_dim_frame(sku: pd.DataFrame, orders: pd.DataFrame, currency: str) -> pd.DataFrame:
    """``sku_dim`` rows: the run's SKU master with the lead time its orders used."""
    columns = list(table_columns([BI_TABLES_SCRIPT])["sku_dim"])
    lead = orders[["sku_id", "lead_time_used_days", "lead_time_source"]]
    out = sku.drop(columns=["lead_time_used_days", "lead_time_source"], errors="ignore")
    out = out.assign(sku_id=out["sku_id"].astype(str)).merge(lead, on="sku_id", how="left")
    out["active"] = out["active"].astype(bool).astype("int64")
    out["currency"] = currency
    return out[[c for c in columns if c != "as_of_run_date"]]


def write_bi_tables(
    conn: Connection, prefix: str, run_date: dt.date, tables: BiTables
) -> dict[str, int]:
    """Write a run's BI tables in the caller's transaction; rows written per table.

    ``daily_actuals``: the run's days (D - :data:`ACTUALS_DAYS` .. D - 1) replaced.
    ``sku_dim``: replaced whole unless a later run date already wrote it (a backfill of
    an older date keeps the newer attributes): 0 rows then. On PostgreSQL concurrent
    loads take turns here (a transaction-scoped advisory lock).
    """
    # two loads of a backfill write overlapping days: one at a time, or the second's
    # DELETE misses the first's new rows and its INSERT violates the primary key
    advisory_lock(conn, "bi_tables")
    first = tables.actuals["demand_date"].min() if len(tables.actuals) else run_date
    conn.execute(
        sa.text(
            f"DELETE FROM {prefix}daily_actuals WHERE demand_date >= :first AND demand_date < :run_date"
        ),
        {"first": sql_value(conn, first), "run_date": sql_value(conn, run_date)},
    )
    written = {
        "daily_actuals": bulk_insert(
            conn, f"{prefix}daily_actuals", tables.actuals.assign(as_of_run_date=run_date)
        )
    }
    latest = conn.execute(sa.text(f"SELECT MAX(as_of_run_date) FROM {prefix}sku_dim")).scalar()
    if latest is not None and str(latest)[:10] > run_date.isoformat():
        log.info("sku_dim: kept the attributes of run %s (newer than %s)", latest, run_date)
        written["sku_dim"] = 0
        return written
    conn.execute(sa.text(f"DELETE FROM {prefix}sku_dim"))
    written["sku_dim"] = bulk_insert(
        conn, f"{prefix}sku_dim", tables.sku_dim.assign(as_of_run_date=run_date)
    )
    return written
