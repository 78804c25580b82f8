"""Database access shared by every stage: engines, SQL files, queries, identifiers.

SQL lives in ``include/sql``; values are always bound as parameters. The only
thing templated into SQL text is an identifier prefix, ``{{ reporting }}``, which
becomes ``reporting.`` on databases with schemas and nothing on SQLite.
"""

from __future__ import annotations

import datetime as dt
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
#: A plain SQL identifier: lower case, as PostgreSQL folds every unquoted name to lower
#: case (a mixed-case name would be looked up in the catalogs under a name the server
#: never stores). Schema, table and column names are checked against it before they
#: enter SQL text.
IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def check_identifier(name: str, what: str = "name") -> str:
    """``name`` unchanged when it is a plain SQL identifier (:data:`IDENTIFIER`), else ValueError."""
    if not IDENTIFIER.match(name):
        raise ValueError(f"{what} {name!r} is not a plain SQL identifier")
    return name


#: Seconds a PostgreSQL connection attempt may take before it fails.
CONNECT_TIMEOUT_SECONDS = 15
#: Driver messages of a warehouse that cannot be reached or went away mid-run.
_UNREACHABLE = (
    "connection to server",
    "could not connect",
    "could not translate host name",
    "server closed the connection",
    "terminating connection",
    "connection refused",
    "timeout expired",
    "the database system is starting up",
    "the database system is shutting down",
    "unable to open database file",
)


def unreachable(error: BaseException, url: str) -> str | None:
    r"""One line for a warehouse that cannot be reached (or went away mid-run), naming its
    host, port and database; None when ``error`` (or an error it was raised from) is
    something else.

    >>> err = sa.exc.OperationalError("SELECT 1", {}, Exception(
    ...     'connection to server at "db.example", port 5432 failed: Connection refused\n'
    ...     "\tIs the server running on that host and accepting TCP/IP connections?"))
    >>> unreachable(err, "postgresql://etl:secret@db.example:5432/wh")
    'cannot reach the warehouse at db.example:5432 (database wh): connection to server at "db.example", port 5432 failed: Connection refused'
    >>> unreachable(ValueError("x"), "sqlite:///w.db") is None
    True
    """
    seen: BaseException | None = error
    while seen is not None and not isinstance(
        seen, sa.exc.OperationalError | sa.exc.InterfaceError
    ):  # pandas wraps a failed read in its own DatabaseError
        seen = seen.__cause__ or seen.__context__
    if seen is None:
        return None
    text = str(seen.orig if seen.orig is not None else seen).strip()
    if not any(marker in text.lower() for marker in _UNREACHABLE):
        return None
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        where = f"{parsed.database}"
    else:
        where = f"{parsed.host or 'localhost'}:{parsed.port or 5432} (database {parsed.database})"
    return f"cannot reach the warehouse at {where}: {text.splitlines()[0]}"


def make_engine(url: str) -> Engine:
    """An engine for ``url``; PostgreSQL sessions run in UTC so dates of timestamps are UTC dates."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    connect_args: dict[str, Any] = {}
    if url.startswith("postgresql"):
        connect_args["options"] = "-c timezone=UTC"
        # a host that does not answer fails in seconds, not after the OS's TCP timeout
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
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
    return f"{check_identifier(schema, 'reporting schema')}."


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


def python_value(value: Any, sqlite: bool) -> Any:
    """``value`` as a DB-API driver takes it: None for missing, Python scalars, ISO text
    for dates and times on SQLite (``sqlite``), which has no date type."""
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
    """``value`` as bound on this connection (dates as ISO text on SQLite, as
    :func:`replenishment.warehouse.bulk_insert` writes them)."""
    return python_value(value, conn.dialect.name == "sqlite")


def table_exists(conn: Connection | Engine, table: str, schema: str | None = None) -> bool:
    return sa.inspect(conn).has_table(table, schema=schema)
