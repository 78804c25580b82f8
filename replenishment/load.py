"""Load: replace the run date's rows of every output table in one transaction.

A run writes only rows keyed by its own run_date. All tables of a run are
written inside a single transaction, so a failure halfway (or a killed task)
leaves every table exactly as it was: either all of the run's new rows are
visible or none are.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
from collections.abc import Callable, Mapping

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from replenishment.db import (
    bulk_insert,
    ddl_lock,
    run_script,
    schema_prefix,
    split_statements,
    sql_text,
    sql_value,
)

log = logging.getLogger(__name__)

OUTPUT_TABLES = (
    "demand_forecast",
    "replenishment_orders",
    "forecast_accuracy",
    "data_quality_results",
    "pipeline_runs",
)

#: Test hook: name of a table after which the load raises (to prove atomicity).
FAIL_AFTER_ENV = "REPLENISHMENT_FAIL_LOAD_AFTER"


class InjectedLoadFailure(RuntimeError):
    """Raised by the fault-injection hook, never in normal operation."""


def ensure_reporting_tables(engine: Engine, schema: str) -> None:
    """Create the reporting schema and output tables; add columns a newer version defines.

    Existing tables are never dropped: a column present in
    ``create_reporting_tables.sql`` but missing from the database is added with
    ``ALTER TABLE ... ADD COLUMN`` (nullable), so older reporting tables keep their rows.
    """
    with engine.begin() as conn:
        ddl_lock(conn)
        prefix = schema_prefix(conn, schema)
        # CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the
        # schema exists: a least-privilege pipeline role only checks for it
        if prefix and not sa.inspect(conn).has_schema(schema):
            conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        run_script(conn, "create_reporting_tables.sql", reporting=prefix)
        inspector = sa.inspect(conn)
        for table, columns in reporting_columns().items():
            have = {
                c["name"] for c in inspector.get_columns(table, schema=prefix.rstrip(".") or None)
            }
            for name, sql_type in columns.items():
                if name not in have:
                    log.warning("adding column %s.%s (%s)", table, name, sql_type)
                    conn.exec_driver_sql(
                        f"ALTER TABLE {prefix}{table} ADD COLUMN {name} {sql_type}"
                    )


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
    tables: dict[str, dict[str, str]] = {}
    for statement in split_statements(sql_text("create_reporting_tables.sql")):
        match = re.match(r"CREATE TABLE IF NOT EXISTS\s+(\w+)\s*\((.*)\)\s*$", statement, re.S)
        if not match:
            continue
        columns: dict[str, str] = {}
        for line in match.group(2).splitlines():
            parts = line.strip().rstrip(",").split()
            if len(parts) >= 2 and parts[0].upper() not in ("PRIMARY", "UNIQUE", "CONSTRAINT"):
                sql_type = parts[1] + (f" {parts[2]}" if parts[1].upper() == "DOUBLE" else "")
                columns[parts[0]] = sql_type
        tables[match.group(1)] = columns
    return tables


def _replace(
    conn: Connection, prefix: str, table: str, run_date: dt.date, frame: pd.DataFrame
) -> int:
    conn.execute(
        sa.text(f"DELETE FROM {prefix}{table} WHERE run_date = :run_date"),
        {"run_date": sql_value(conn, run_date)},
    )
    frame = frame.copy()
    frame["run_date"] = run_date
    columns = ["run_date", *[c for c in frame.columns if c != "run_date"]]
    return bulk_insert(conn, f"{prefix}{table}", frame[columns])


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
    fail_after = os.environ.get(FAIL_AFTER_ENV)
    written: dict[str, int] = {}
    with engine.begin() as conn:
        prefix = schema_prefix(conn, schema)
        for table, frame in tables.items():
            rows = frame() if callable(frame) else frame
            written[table] = _replace(conn, prefix, table, run_date, rows)
            if fail_after == table:
                raise InjectedLoadFailure(f"injected failure after writing {table}")
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
