"""Reporting writes: the one path by which the load, the backtest and the simulator write.

Each writer of reporting tables does the same four things, here once:

* **schema guard** (:func:`ensure_schema`): ``CREATE SCHEMA`` only when the schema is
  missing. ``CREATE SCHEMA IF NOT EXISTS`` needs CREATE on the database even when the
  schema exists, and the least-privilege pipeline role (``include/sql/create_roles.sql``)
  has no such right: it owns the reporting schema and nothing more;
* **DDL from the column list** (:func:`table_columns`, :func:`ensure_tables`): the
  ``CREATE TABLE`` statements of an ``include/sql`` script are run, and a column the
  script defines but an older table lacks is added (``ALTER TABLE ... ADD COLUMN``,
  nullable), so a table's rows survive a version that adds columns;
* **replace the rows of one key** (:func:`replace_rows`): delete-then-insert of a run's
  own partition (``run_date`` of a load or backtest, ``run_id`` of a simulation), inside
  the caller's transaction (:func:`reporting_transaction` opens one with the DDL done);
* **bulk insert** (:func:`bulk_insert`): ``COPY ... FROM STDIN`` on PostgreSQL, a
  parameterised ``executemany`` elsewhere.

May import :mod:`replenishment.config` and :mod:`replenishment.db` only.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from replenishment.db import (
    check_identifier,
    python_value,
    run_script,
    schema_prefix,
    split_statements,
    sql_text,
    sql_value,
)

log = logging.getLogger(__name__)

_CREATE_TABLE = re.compile(r"CREATE TABLE IF NOT EXISTS\s+(\w+)\s*\((.*)\)\s*$", re.S | re.I)
#: First words of a table-level constraint line inside CREATE TABLE (not a column).
_CONSTRAINTS = ("PRIMARY", "UNIQUE", "CONSTRAINT", "FOREIGN", "CHECK")
#: Rows per COPY or executemany call: a large frame is never one huge buffer.
CHUNK_ROWS = 50_000


def advisory_lock(conn: Connection, name: str) -> None:
    """Hold the lock ``replenishment.<name>`` until this transaction ends (PostgreSQL).

    Concurrent runs that take the same lock take turns. No-op elsewhere (SQLite
    serialises writers itself).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtext(:name))"),
            {"name": f"replenishment.{name}"},
        )


def ddl_lock(conn: Connection) -> None:
    """Serialise the reporting DDL of concurrent runs until this transaction ends.

    ``CREATE ... IF NOT EXISTS`` is not safe against a concurrent create (two first
    loads of a backfill; a load beside a simulation): on PostgreSQL every writer of
    reporting DDL takes this advisory lock first.
    """
    advisory_lock(conn, "reporting_ddl")


def ensure_schema(conn: Connection, schema: str) -> str:
    """Create ``schema`` when the database has schemas and lacks it; its table-name prefix.

    The prefix is ``"schema."``, or ``""`` on SQLite (see :func:`replenishment.db.schema_prefix`).
    """
    prefix = schema_prefix(conn, schema)
    # CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the schema
    # exists: a least-privilege pipeline role only checks for it
    if prefix and not sa.inspect(conn).has_schema(schema):
        conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    return prefix


def table_columns(scripts: Iterable[str]) -> dict[str, dict[str, str]]:
    """Columns and SQL types, in order, of every ``CREATE TABLE`` of the given SQL files.

    >>> table_columns(["create_backtest_table.sql"])["forecast_backtest"]["wape"]
    'DOUBLE PRECISION'
    """
    tables: dict[str, dict[str, str]] = {}
    for name in scripts:
        for statement in split_statements(sql_text(name)):
            match = _CREATE_TABLE.match(statement)
            if match:
                tables[match.group(1)] = _column_types(match.group(2))
    return tables


def _column_types(body: str) -> dict[str, str]:
    columns: dict[str, str] = {}
    for line in body.splitlines():
        parts = line.strip().rstrip(",").split()
        if len(parts) >= 2 and parts[0].upper() not in _CONSTRAINTS:
            two_words = parts[1].upper() == "DOUBLE" and len(parts) > 2
            columns[parts[0]] = f"{parts[1]} {parts[2]}" if two_words else parts[1]
    return columns


def ensure_tables(conn: Connection, schema: str, script: str) -> str:
    """The schema and the tables of ``include/sql/<script>``, with every column it defines.

    Takes :func:`ddl_lock` first, runs the script (``CREATE TABLE/INDEX IF NOT
    EXISTS``), then adds the columns a table of the script lacks, nullable; existing
    tables and rows are never dropped. Returns the table-name prefix.
    """
    ddl_lock(conn)
    prefix = ensure_schema(conn, schema)
    run_script(conn, script, reporting=prefix)
    inspector = sa.inspect(conn)
    for table, columns in table_columns([script]).items():
        have = {c["name"] for c in inspector.get_columns(table, schema=prefix.rstrip(".") or None)}
        for name, sql_type in columns.items():
            if name not in have:
                log.warning("adding column %s%s.%s (%s)", prefix, table, name, sql_type)
                conn.exec_driver_sql(f"ALTER TABLE {prefix}{table} ADD COLUMN {name} {sql_type}")
    return prefix


@contextmanager
def reporting_transaction(
    engine: Engine, schema: str, script: str
) -> Iterator[tuple[Connection, str]]:
    """One transaction with the tables of ``script`` ensured: ``(connection, prefix)``.

    Everything written inside commits together, or nothing does (an exception rolls
    the DDL and the rows back).
    """
    with engine.begin() as conn:
        yield conn, ensure_tables(conn, schema, script)


def replace_rows(conn: Connection, table: str, key: Mapping[str, Any], frame: pd.DataFrame) -> int:
    """Replace the rows of ``table`` whose ``key`` columns equal ``key``'s values by ``frame``.

    table: name, schema-qualified where the database has schemas. key: column -> value
    of the run's partition (``{"run_date": D}``); those columns are set on every row of
    ``frame``. Runs in the caller's transaction, so a failure keeps the previous rows.
    Returns the rows inserted.
    """
    if not key:
        raise ValueError(f"{table}: replace_rows needs a key, or it would delete every row")
    where = " AND ".join(f"{check_identifier(c, 'key column')} = :{c}" for c in key)
    params = {c: sql_value(conn, v) for c, v in key.items()}
    conn.execute(sa.text(f"DELETE FROM {table} WHERE {where}"), params)
    return bulk_insert(conn, table, frame.assign(**dict(key)))


def bulk_insert(
    conn: Connection, table: str, frame: pd.DataFrame, chunk_rows: int = CHUNK_ROWS
) -> int:
    """Append ``frame`` to ``table`` (schema-qualified name allowed) and return the row count.

    PostgreSQL gets ``COPY ... FROM STDIN`` (the fast path for millions of rows);
    other databases a parameterised ``executemany``. Column names come from the
    frame and must be plain identifiers.
    """
    if frame.empty:
        return 0
    columns = [str(c) for c in frame.columns]
    for name in [*columns, *table.split(".")]:
        check_identifier(name)
    if conn.dialect.name == "postgresql":
        return _copy_postgres(conn, table, frame, chunk_rows)
    sqlite = conn.dialect.name == "sqlite"
    placeholders = ", ".join(f":{c}" for c in columns)
    stmt = sa.text(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})")
    total = 0
    for start in range(0, len(frame), chunk_rows):
        part = frame.iloc[start : start + chunk_rows]
        rows = [
            {c: python_value(v, sqlite) for c, v in zip(columns, rec, strict=True)}
            for rec in part.itertuples(index=False, name=None)
        ]
        conn.execute(stmt, rows)
        total += len(rows)
    return total


def _copy_postgres(conn: Connection, table: str, frame: pd.DataFrame, chunk_rows: int) -> int:
    raw: Any = conn.connection.dbapi_connection
    columns = ", ".join(str(c) for c in frame.columns)
    sql = f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv, NULL '\\N')"
    cursor = raw.cursor()
    try:
        for start in range(0, len(frame), chunk_rows):
            buf = io.StringIO()
            frame.iloc[start : start + chunk_rows].to_csv(
                buf, index=False, header=False, na_rep="\\N", quoting=csv.QUOTE_MINIMAL
            )
            buf.seek(0)
            cursor.copy_expert(sql, buf)
    finally:
        cursor.close()
    return len(frame)
