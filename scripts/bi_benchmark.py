"""A year of daily runs in the reporting tables, and the queries BI tools send to them.

What ``scripts/benchmark.py bi`` and ``tests/integration/test_bi_performance.py`` share:

* :func:`generate` fills a PostgreSQL database with :class:`BiSpec`'s year of runs
  (by default 365 run dates x 10,000 SKUs x a 28-day horizon: 99 M forecast rows)
  and the source tables the views read, at a matching size. The tables, indexes and
  views are the project's own (``create_source_tables.sql``,
  :func:`replenishment.load.ensure_reporting_tables`,
  :func:`replenishment.reporting.create_views`); the rows are made by the server with
  ``INSERT ... SELECT`` over ``generate_series`` (``include/sql/generate_bi_benchmark.sql``).
* :func:`view_queries` (``include/sql/select_bi_queries.sql``) are the views read the
  way a BI tool filters them; :func:`plugin_queries` are the statements the Airflow
  plugin's page sends, captured from its own functions.
* :func:`explain` and :func:`scans` read a statement's plan; :func:`time_statement`
  times it with every row fetched.

PostgreSQL only: the BI benchmark is about the production target.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from replenishment.db import run_script, schema_prefix, sql_text, strip_comments
from replenishment.demo import SOURCE_TABLES
from replenishment.load import OUTPUT_TABLES, ensure_reporting_tables
from replenishment.reporting import create_views

log = logging.getLogger(__name__)

GENERATE_FILE = "generate_bi_benchmark.sql"
QUERIES_FILE = "select_bi_queries.sql"
#: Steps of GENERATE_FILE run once, then for every chunk of run dates.
SOURCE_STEPS = ("seed", "skus", "sku_master", "order_lines", "inventory_snapshots", "promotions")
#: The tables the loads write for BI tools (create_bi_tables.sql), filled once from the sources.
BI_STEPS = ("sku_dim", "daily_actuals")
RUN_STEPS = (
    "replenishment_orders",
    "forecast_accuracy",
    "demand_forecast",
    "data_quality_results",
    "pipeline_runs",
)
#: Session settings while generating: sorts and index builds in memory, no commit waits.
_GENERATE_SETTINGS = {
    "work_mem": "256MB",
    "maintenance_work_mem": "1GB",
    "synchronous_commit": "off",
}
_STEP = re.compile(r"^--\s*(step|query):\s*(\w+)\s*$")


@dataclass(frozen=True)
class BiSpec:
    """Size of the synthetic reporting history.

    skus: SKUs in sku_master (one in 33 inactive, as in the demo: 9,697 of 10,000 active).
    run_days: daily run dates, ending with last_run_date.
    horizon_days: the runs' horizon (pipeline_runs.horizon_days, planned promotions).
    forecast_days: forecast rows stored per SKU and run; horizon_days in a real run
    (the test stores fewer to stay within its time budget).
    history_days: days of order lines and inventory snapshots before the first run date.
    chunk_days: run dates written per transaction.
    """

    skus: int = 10_000
    run_days: int = 365
    last_run_date: dt.date = dt.date(2026, 6, 30)
    horizon_days: int = 28
    forecast_days: int = 28
    history_days: int = 730
    seed: float = 0.42
    chunk_days: int = 5

    def __post_init__(self) -> None:
        if not 1 <= self.forecast_days <= self.horizon_days:
            raise ValueError("forecast_days must be between 1 and horizon_days")
        if self.skus < 1 or self.run_days < 1 or self.history_days < 0 or self.chunk_days < 1:
            raise ValueError("skus, run_days and chunk_days must be >= 1, history_days >= 0")

    @property
    def first_run_date(self) -> dt.date:
        return self.last_run_date - dt.timedelta(days=self.run_days - 1)

    @property
    def history_start(self) -> dt.date:
        return self.first_run_date - dt.timedelta(days=self.history_days)

    def params(self) -> dict[str, Any]:
        """Bind parameters of ``generate_bi_benchmark.sql`` (the chunk's are added per chunk)."""
        return {
            "seed": self.seed,
            "skus": self.skus,
            "history_start": self.history_start,
            # order lines and snapshots up to the day before the latest run date
            "history_end": self.last_run_date,
            "first_run": self.first_run_date,
            "horizon_days": self.horizon_days,
            "forecast_days": self.forecast_days,
        }


@dataclass(frozen=True)
class Query:
    """A statement as the driver receives it (pyformat ``%(name)s`` binds) and its values."""

    name: str
    statement: str
    params: dict[str, Any]


@dataclass(frozen=True)
class Scan:
    """A scan of a table in a plan: ``Seq Scan``, ``Index Scan``, ``Bitmap Heap Scan``, …"""

    node: str
    relation: str
    index: str | None
    rows: float  # actual rows x loops when analysed, else the estimate


# --------------------------------------------------------------------------- SQL files


def named_statements(name: str, reporting: str = "") -> dict[str, str]:
    """The statements of ``include/sql/<name>``, each headed by ``-- step: x`` or ``-- query: x``."""
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in sql_text(name, reporting).splitlines():
        match = _STEP.match(line.strip())
        if match:
            current = out.setdefault(match.group(2), [])
        elif current is not None:
            current.append(line)
    statements = {k: strip_comments("\n".join(v)).rstrip().rstrip(";") for k, v in out.items()}
    empty = [k for k, v in statements.items() if not v]
    if empty:
        raise ValueError(f"{name}: no statement under {empty}")
    return statements


# --------------------------------------------------------------------------- generate


def generate(engine: Engine, spec: BiSpec = BiSpec(), schema: str = "reporting") -> dict[str, Any]:
    """(Re)create the source and reporting tables and fill them with ``spec``'s runs.

    Drops the five source tables and the five output tables first (a benchmark
    database, not a warehouse). The reporting tables' secondary indexes are dropped
    while rows are written and created again afterwards by
    :func:`~replenishment.load.ensure_reporting_tables`, the way an existing database
    gets new indexes on its next load; the source indexes are created after their rows,
    as the demo warehouse does. Ends with ``VACUUM ANALYZE`` of every table (what
    autovacuum does to tables that grow daily). Returns seconds per step and row counts.
    """
    if engine.dialect.name != "postgresql":
        raise ValueError("the BI benchmark data is generated by PostgreSQL")
    started = time.perf_counter()
    timings: dict[str, float] = {}
    with _generation_settings(engine):
        with engine.begin() as conn:
            prefix = schema_prefix(conn, schema)
            for table in (*OUTPUT_TABLES, *BI_STEPS):
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {prefix}{table} CASCADE")
            for table in SOURCE_TABLES:
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table} CASCADE")
            run_script(conn, "create_source_tables.sql")
        ensure_reporting_tables(engine, schema)
        dropped = drop_secondary_indexes(engine, schema)
        _fill(engine, spec, named_statements(GENERATE_FILE, prefix), timings)
        t0 = time.perf_counter()
        ensure_reporting_tables(engine, schema)
        timings["reporting indexes"] = time.perf_counter() - t0
        log.info(
            "bi data: indexes %s created again in %.1fs", dropped, timings["reporting indexes"]
        )
        with engine.begin() as conn:
            create_views(conn, prefix)
        t0 = time.perf_counter()
        vacuum_analyze(engine, schema)
        timings["vacuum analyze"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - started
    return {"seconds": timings, "rows": row_counts(engine, schema), "bytes": table_bytes(engine)}


def _fill(engine: Engine, spec: BiSpec, steps: dict[str, str], timings: dict[str, float]) -> None:
    """Run the steps of GENERATE_FILE in one session (its temp table lives there)."""
    params = spec.params()
    with engine.connect() as conn:
        for step in SOURCE_STEPS:
            timings[step] = _run_step(conn, steps[step], params)
            log.info("bi data: %s in %.1fs", step, timings[step])
        t0 = time.perf_counter()
        run_script(conn, "create_source_indexes.sql")
        conn.commit()
        timings["source indexes"] = time.perf_counter() - t0
        for step in BI_STEPS:
            timings[step] = _run_step(conn, steps[step], params)
            log.info("bi data: %s in %.1fs", step, timings[step])
        for day_from in range(0, spec.run_days, spec.chunk_days):
            chunk = {**params, "day_from": day_from,
                     "day_to": min(spec.run_days, day_from + spec.chunk_days)}  # fmt: skip
            for step in RUN_STEPS:
                timings[step] = timings.get(step, 0.0) + _run_step(conn, steps[step], chunk)
            log.info(
                "bi data: run dates %d..%d of %d", day_from + 1, chunk["day_to"], spec.run_days
            )
        conn.exec_driver_sql("DROP TABLE bi_sku")
        conn.commit()


@contextmanager
def _generation_settings(engine: Engine) -> Iterator[None]:
    """The generation's session settings on every connection ``engine`` hands out meanwhile.

    The pool is emptied afterwards, so no later query or load runs with them.
    """

    def on_checkout(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        cursor = dbapi_conn.cursor()
        for name, value in _GENERATE_SETTINGS.items():
            cursor.execute("SELECT set_config(%s, %s, false)", (name, value))
        cursor.close()

    sa.event.listen(engine, "checkout", on_checkout)
    try:
        yield
    finally:
        sa.event.remove(engine, "checkout", on_checkout)
        engine.dispose()


def _run_step(conn: Connection, statement: str, params: dict[str, Any]) -> float:
    t0 = time.perf_counter()
    conn.execute(sa.text(statement), params)
    conn.commit()
    return time.perf_counter() - t0


def secondary_indexes(engine: Engine, schema: str = "reporting") -> dict[str, str]:
    """Index name -> table of the output tables' indexes that are not primary keys."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                """
                SELECT i.relname AS index_name, t.relname AS table_name
                FROM pg_index x
                JOIN pg_class i ON i.oid = x.indexrelid
                JOIN pg_class t ON t.oid = x.indrelid
                JOIN pg_namespace n ON n.oid = t.relnamespace
                WHERE n.nspname = :schema AND NOT x.indisprimary AND t.relname IN :tables
                ORDER BY t.relname, i.relname
                """
            ).bindparams(sa.bindparam("tables", expanding=True)),
            {"schema": schema, "tables": list(OUTPUT_TABLES)},
        ).all()
    return {index: table for index, table in rows}


def drop_secondary_indexes(
    engine: Engine, schema: str = "reporting", names: tuple[str, ...] | None = None
) -> list[str]:
    """Drop the output tables' non-primary-key indexes (all, or those ``names``); the names dropped."""
    have = secondary_indexes(engine, schema)
    dropped = [n for n in have if names is None or n in names]
    with engine.begin() as conn:
        prefix = schema_prefix(conn, schema)
        for name in dropped:
            if not re.fullmatch(r"\w+", name):
                raise ValueError(f"unexpected index name {name!r}")
            conn.exec_driver_sql(f"DROP INDEX {prefix}{name}")
    return dropped


def vacuum_analyze(engine: Engine, schema: str = "reporting") -> None:
    """``VACUUM ANALYZE`` every source and output table (outside a transaction, as VACUUM must be)."""
    with engine.connect() as conn:
        prefix = schema_prefix(conn, schema)
        auto = conn.execution_options(isolation_level="AUTOCOMMIT")
        for table in SOURCE_TABLES:
            auto.exec_driver_sql(f"VACUUM ANALYZE {table}")
        for table in (*OUTPUT_TABLES, *BI_STEPS):
            auto.exec_driver_sql(f"VACUUM ANALYZE {prefix}{table}")


def row_counts(engine: Engine, schema: str = "reporting") -> dict[str, int]:
    """Rows of every source and output table (exact counts)."""
    with engine.connect() as conn:
        prefix = schema_prefix(conn, schema)
        out = {}
        for table in SOURCE_TABLES:
            out[table] = int(conn.exec_driver_sql(f"SELECT COUNT(*) FROM {table}").scalar_one())
        for table in OUTPUT_TABLES:
            out[table] = int(
                conn.exec_driver_sql(f"SELECT COUNT(*) FROM {prefix}{table}").scalar_one()
            )
    return out


def table_bytes(engine: Engine) -> int:
    """Bytes the current database takes on disk."""
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar_one())


# --------------------------------------------------------------------------- queries


@contextmanager
def captured(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """``(statement, parameters)`` of every statement ``engine`` sends meanwhile, as sent."""
    seen: list[tuple[str, Any]] = []

    def before(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)


def query_values(spec: BiSpec, sku_id: str = "SKU-000042") -> dict[str, Any]:
    """What the queries filter on: one Prophet SKU, one category, the last 90 days, a scored run."""
    return {
        "sku_id": sku_id,
        "category": "Snacks",
        "since": spec.last_run_date - dt.timedelta(days=89),
        "run_date": spec.last_run_date,
        # the latest run whose whole horizon is known (before the latest run date)
        "scored_run_date": max(
            spec.first_run_date, spec.last_run_date - dt.timedelta(days=spec.horizon_days)
        ),
    }


def view_queries(engine: Engine, values: dict[str, Any], schema: str = "reporting") -> list[Query]:
    """The queries of ``select_bi_queries.sql`` with ``values`` bound, as the driver gets them."""
    with engine.connect() as conn:
        prefix = schema_prefix(conn, schema)
        out = []
        for name, statement in named_statements(QUERIES_FILE, prefix).items():
            compiled = sa.text(statement).compile(dialect=conn.dialect)
            params = {k: values[k] for k in compiled.params}
            out.append(Query(name, str(compiled), params))
    return out


def plugin_queries(
    engine: Engine, plugin: Any, run_date: dt.date, sku_id: str, schema: str = "reporting"
) -> list[Query]:
    """The statements the plugin's page sends for a run date and a SKU, captured from its functions.

    ``plugin`` is the loaded ``plugins/replenishment_plugin.py`` module. The page calls
    ``run_dates`` on opening, ``run_summary`` and ``order_rows`` (all SKUs, and the orders
    to place) for the run date picked, ``sku_series`` for the SKU picked.
    """
    calls = {
        "plugin_run_dates": lambda c, p: plugin.run_dates(c, p),
        "plugin_run_summary": lambda c, p: plugin.run_summary(c, p, run_date),
        "plugin_skus_of_run": lambda c, p: plugin.order_rows(c, p, run_date),
        "plugin_orders_of_run": lambda c, p: plugin.order_rows(c, p, run_date, placed_only=True),
        "plugin_series_of_sku": lambda c, p: plugin.sku_series(c, p, run_date, sku_id),
    }
    out: list[Query] = []
    for name, call in calls.items():
        with engine.connect() as conn, captured(engine) as seen:
            call(conn, schema_prefix(conn, schema))
        # the plugin asks the catalogue whether a table exists first: not a query of ours
        sent = [(s, p) for s, p in seen if "pg_catalog" not in s and "information_schema" not in s]
        for i, (statement, params) in enumerate(sent):
            suffix = f"_{i + 1}" if len(sent) > 1 else ""
            out.append(Query(name + suffix, statement, dict(params or {})))
    return out


def explain(conn: Connection, query: Query, analyze: bool = True) -> dict[str, Any]:
    """The statement's plan as PostgreSQL's JSON (``EXPLAIN (ANALYZE, BUFFERS)`` when ``analyze``)."""
    options = "ANALYZE, BUFFERS, FORMAT JSON" if analyze else "FORMAT JSON"
    statement = query.statement
    raw = conn.exec_driver_sql(f"EXPLAIN ({options}) {statement}", query.params).scalar_one()
    plan: dict[str, Any] = raw[0] if isinstance(raw, list) else raw
    return plan


def scans(plan: dict[str, Any]) -> list[Scan]:
    """Every scan of a table in a plan (``explain``'s result or a node of it), depth first.

    A ``Bitmap Heap Scan`` carries the index of the ``Bitmap Index Scan`` under it.
    ``rows`` is actual rows x loops when the plan was analysed, else the estimate.
    """
    out: list[Scan] = []

    def walk(node: dict[str, Any]) -> None:
        if "Relation Name" in node:
            index = node.get("Index Name")
            if node["Node Type"] == "Bitmap Heap Scan":
                index = next(iter(_bitmap_indexes(node)), None)
            rows = node.get("Actual Rows", node.get("Plan Rows", 0)) * node.get("Actual Loops", 1)
            out.append(Scan(node["Node Type"], node["Relation Name"], index, rows))
        for child in node.get("Plans", []):
            walk(child)

    walk(plan.get("Plan", plan))
    return out


def _bitmap_indexes(node: dict[str, Any]) -> list[str]:
    found = [node["Index Name"]] if node["Node Type"] == "Bitmap Index Scan" else []
    for child in node.get("Plans", []):
        found += _bitmap_indexes(child)
    return found


def buffers_mib(plan: dict[str, Any]) -> float:
    """MiB of table and index pages an analysed plan touched (shared hit + read)."""
    top = plan.get("Plan", plan)
    blocks = top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0)
    return float(blocks * 8 / 1024)


def time_statement(conn: Connection, query: Query, repeat: int = 3) -> tuple[float, int]:
    """Median seconds to run the statement and fetch every row, over ``repeat`` runs; rows."""
    seconds, rows = [], 0
    statement = query.statement  # SQL of select_bi_queries.sql or as the plugin sent it
    for _ in range(repeat):
        t0 = time.perf_counter()
        rows = len(conn.exec_driver_sql(statement, query.params).all())
        seconds.append(time.perf_counter() - t0)
    return statistics.median(seconds), rows
