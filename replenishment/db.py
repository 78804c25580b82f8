"""Database access shared by every stage: engines, SQL files, bulk writes.

SQL lives in ``include/sql``; values are always bound as parameters. The only
thing templated into SQL text is an identifier prefix, ``{{ reporting }}``, which
becomes ``reporting.`` on databases with schemas and nothing on SQLite.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import re
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from replenishment.config import INCLUDE_DIR

log = logging.getLogger(__name__)

SQL_DIR = INCLUDE_DIR / "sql"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def make_engine(url: str) -> Engine:
    """An engine for ``url``; PostgreSQL sessions run in UTC so dates of timestamps are UTC dates."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    connect_args: dict[str, Any] = {}
    if url.startswith("postgresql"):
        connect_args["options"] = "-c timezone=UTC"
    if url.startswith("sqlite"):
        connect_args["timeout"] = 60
    return sa.create_engine(url, connect_args=connect_args, future=True)


def connection_url(conn: Any) -> str:
    """SQLAlchemy URL of an Airflow-style connection object (duck-typed: no Airflow import).

    ``extra.sqlalchemy_url`` wins when set; otherwise the URL is built from the
    connection's fields: sqlite (host, or schema, is the file path) or postgres
    (login, password, host, port, schema = database).
    """
    extra = conn.extra_dejson or {}
    if extra.get("sqlalchemy_url"):
        return str(extra["sqlalchemy_url"])
    kind = (conn.conn_type or "").lower()
    if kind == "sqlite":
        return f"sqlite:///{conn.host or conn.schema or ''}"
    if kind in ("postgres", "postgresql"):
        return sa.engine.URL.create(
            "postgresql+psycopg2",
            username=conn.login or None,
            password=conn.password or None,
            host=conn.host or None,
            port=conn.port or None,
            database=conn.schema or None,
        ).render_as_string(hide_password=False)
    raise ValueError(f"connection {conn.conn_id!r} has unsupported type {conn.conn_type!r}")


def has_schemas(engine_or_conn: Engine | Connection) -> bool:
    return engine_or_conn.dialect.name != "sqlite"


def schema_prefix(engine_or_conn: Engine | Connection, schema: str) -> str:
    """``schema.`` where the database has schemas, else the empty string."""
    if not has_schemas(engine_or_conn) or not schema:
        return ""
    if not _IDENTIFIER.match(schema):
        raise ValueError(f"reporting schema {schema!r} is not a plain SQL identifier")
    return f"{schema}."


@cache
def _read_sql_text(name: str) -> str:
    path = SQL_DIR / name
    if not path.exists():
        raise FileNotFoundError(f"SQL file {path} not found")
    return path.read_text()


def sql_text(name: str, reporting: str = "") -> str:
    """The SQL of ``include/sql/<name>`` with ``{{ reporting }}`` replaced by a schema prefix."""
    return _read_sql_text(name).replace("{{ reporting }}", reporting)


def split_statements(script: str) -> list[str]:
    """Statements of a script separated by ``;`` (comments stripped; no ``;`` inside literals)."""
    return [s.strip() for s in strip_comments(script).split(";") if s.strip()]


def ddl_lock(conn: Connection) -> None:
    """Serialise the reporting DDL of concurrent runs until this transaction ends.

    ``CREATE ... IF NOT EXISTS`` is not safe against a concurrent create (two first
    loads of a backfill; a load beside a simulation): on PostgreSQL every writer of
    reporting DDL takes this advisory lock first. No-op elsewhere (SQLite serialises
    writers itself).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtext('replenishment.reporting_ddl'))")
        )


def run_script(conn: Connection, name: str, reporting: str = "") -> None:
    """Execute every statement of an SQL script file in order."""
    for statement in split_statements(sql_text(name, reporting)):
        conn.exec_driver_sql(statement)


def strip_comments(sql: str) -> str:
    """SQL without ``--`` comments (so a ``:name`` in a comment is not taken for a parameter)."""
    return "\n".join(line.split("--", 1)[0] for line in sql.splitlines()).strip()


def query_frame(
    conn: Connection | Engine,
    name: str,
    params: Mapping[str, Any] | None = None,
    reporting: str = "",
    parse_dates: Iterable[str] = (),
) -> pd.DataFrame:
    """Run the query of ``include/sql/<name>`` with bound ``params`` into a DataFrame.

    Dates are bound as ISO strings, which SQLite compares correctly with its
    text dates and PostgreSQL casts to the column's type.
    """
    bound = {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in (params or {}).items()}
    stmt = sa.text(strip_comments(sql_text(name, reporting)))
    if isinstance(conn, Engine):
        with conn.connect() as c:
            frame = _read_streamed(c, stmt, bound)
    else:
        frame = _read_streamed(conn, stmt, bound)
    for col in parse_dates:
        if col in frame.columns:
            frame[col] = pd.to_datetime(
                frame[col].astype("string").str.slice(0, 10), errors="coerce"
            )
    return frame


#: Rows fetched at a time: a large result never sits in memory as Python tuples at once.
FETCH_ROWS = 250_000


def _read_streamed(conn: Connection, stmt: Any, params: Mapping[str, Any]) -> pd.DataFrame:
    """The query's rows as one DataFrame, fetched through a server-side cursor in chunks."""
    streamed = conn.execution_options(stream_results=True, max_row_buffer=FETCH_ROWS)
    chunks = list(pd.read_sql_query(stmt, streamed, params=params, chunksize=FETCH_ROWS))
    if not chunks:
        return pd.read_sql_query(stmt, conn, params=params)
    return chunks[0] if len(chunks) == 1 else pd.concat(chunks, ignore_index=True)


def _python_value(value: Any, sqlite: bool) -> Any:
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, float) and value != value:  # NaN
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # numpy scalar -> python
    if sqlite and isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if sqlite and isinstance(value, dt.date):
        return value.isoformat()
    return value


def sql_value(conn: Connection, value: Any) -> Any:
    """``value`` as bound on this connection (dates as ISO text on SQLite, as bulk_insert writes them)."""
    return _python_value(value, conn.dialect.name == "sqlite")


def bulk_insert(conn: Connection, table: str, frame: pd.DataFrame, chunk_rows: int = 50_000) -> int:
    """Append ``frame`` to ``table`` (schema-qualified name allowed) and return the row count.

    PostgreSQL gets ``COPY ... FROM STDIN`` (the fast path for millions of rows);
    other databases a parameterised ``executemany``. Column names come from the
    frame and must be plain identifiers.
    """
    if frame.empty:
        return 0
    columns = list(frame.columns)
    for name in [*columns, *table.split(".")]:
        if not _IDENTIFIER.match(name):
            raise ValueError(f"{name!r} is not a plain SQL identifier")
    if conn.dialect.name == "postgresql":
        return _copy_postgres(conn, table, frame, chunk_rows)
    sqlite = conn.dialect.name == "sqlite"
    placeholders = ", ".join(f":{c}" for c in columns)
    stmt = sa.text(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})")
    total = 0
    for start in range(0, len(frame), chunk_rows):
        part = frame.iloc[start : start + chunk_rows]
        rows = [
            {c: _python_value(v, sqlite) for c, v in zip(columns, rec, strict=True)}
            for rec in part.itertuples(index=False, name=None)
        ]
        conn.execute(stmt, rows)
        total += len(rows)
    return total


def _copy_postgres(conn: Connection, table: str, frame: pd.DataFrame, chunk_rows: int) -> int:
    raw = conn.connection.dbapi_connection
    assert raw is not None
    columns = ", ".join(frame.columns)
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


def table_exists(conn: Connection | Engine, table: str, schema: str | None = None) -> bool:
    return sa.inspect(conn).has_table(table, schema=schema)
