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

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from replenishment.db import schema_prefix, sql_value
from replenishment.warehouse import ensure_tables, replace_rows, table_columns

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


def ensure_reporting_tables(engine: Engine, schema: str) -> None:
    """Create the reporting schema and output tables; add columns a newer version defines.

    Existing tables are never dropped: a column present in
    ``create_reporting_tables.sql`` but missing from the database is added with
    ``ALTER TABLE ... ADD COLUMN`` (nullable), so older reporting tables keep their rows
    (:func:`replenishment.warehouse.ensure_tables`).
    """
    with engine.begin() as conn:
        ensure_tables(conn, schema, TABLES_SCRIPT)


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
) -> dict[str, int]:
    """Replace ``run_date``'s rows of each named output table, all in one transaction.

    Returns rows written per table. Columns of each frame must be columns of the
    table (``run_date`` is set here). A callable is called when its table's turn
    comes (so a run summary can include the time spent writing the tables before it).
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
