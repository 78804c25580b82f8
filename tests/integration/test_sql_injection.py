"""SQL injection: hostile SKU ids travel through the pipeline as data, never as SQL.

Two end-to-end runs (SQLite and PostgreSQL) on a warehouse holding SKUs whose ids are
classic injection payloads, and a static check that the SQL of ``include/sql`` and of
the core package takes values as bind parameters only.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from replenishment.config import Settings
from replenishment.db import make_engine, schema_prefix, table_exists
from replenishment.pipeline import run_pipeline
from replenishment.warehouse import bulk_insert
from tests.support import RUN_DATE, check_contract, outputs

ROOT = Path(__file__).resolve().parents[2]
SOURCE_TABLES = (
    "sku_master",
    "order_lines",
    "promotions",
    "inventory_snapshots",
    "purchase_orders",
)

#: SKU ids that would break out of a string literal or an identifier if spliced into SQL
#: (or be taken for a bind marker, a template or a dollar quote); at most 64 characters.
HOSTILE_SKUS: tuple[str, ...] = (
    "x'; DROP TABLE order_lines; --",
    "Robert'); DROP TABLE sku_master;--",
    '"; DELETE FROM promotions; --',
    "50% %s :run_date \\ {{ reporting }} $$; DROP TABLE sku_master;$$",
)

_CLONE = {
    "sku_master": (
        "INSERT INTO sku_master (sku_id, description, category, unit_cost, pack_size, moq,"
        " lead_time_days, review_period_days, service_level, holding_cost_rate, order_cost, active)"
        " SELECT :sku, description, category, unit_cost, pack_size, moq, lead_time_days,"
        " review_period_days, service_level, holding_cost_rate, order_cost, active"
        " FROM sku_master WHERE sku_id = :src"
    ),
    "order_lines": (
        "INSERT INTO order_lines (order_id, line_no, sku_id, order_ts, quantity, unit_price, status)"
        " SELECT :tag || order_id, line_no, :sku, order_ts, quantity, unit_price, status"
        " FROM order_lines WHERE sku_id = :src"
    ),
    "promotions": (
        "INSERT INTO promotions (promo_id, sku_id, start_date, end_date, discount_pct)"
        " SELECT :tag || promo_id, :sku, start_date, end_date, discount_pct"
        " FROM promotions WHERE sku_id = :src"
    ),
    "inventory_snapshots": (
        "INSERT INTO inventory_snapshots (sku_id, snapshot_date, on_hand)"
        " SELECT :sku, snapshot_date, on_hand FROM inventory_snapshots WHERE sku_id = :src"
    ),
    "purchase_orders": (
        "INSERT INTO purchase_orders"
        " (po_id, sku_id, order_date, expected_date, received_date, quantity, status)"
        " SELECT :tag || po_id, :sku, order_date, expected_date, received_date, quantity, status"
        " FROM purchase_orders WHERE sku_id = :src"
    ),
}


def _add_hostile_skus(url: str) -> dict[str, int]:
    """Each hostile SKU is a copy of a real active SKU (its master row and full history),
    so it passes validation and gets a forecast and an order line. Returns row counts."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            sources = (
                conn.exec_driver_sql(
                    "SELECT m.sku_id FROM sku_master m JOIN order_lines o ON o.sku_id = m.sku_id"
                    " WHERE m.active = TRUE GROUP BY m.sku_id ORDER BY COUNT(*) DESC, m.sku_id"
                )
                .scalars()
                .all()
            )
            for n, (sku, src) in enumerate(zip(HOSTILE_SKUS, sources, strict=False)):
                params = {"sku": sku, "src": src, "tag": f"'; --{n}#"}
                for table in SOURCE_TABLES:
                    conn.execute(sa.text(_CLONE[table]), params)
        return _source_counts(engine)
    finally:
        engine.dispose()


def _source_counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        for table in SOURCE_TABLES:
            assert table_exists(conn, table), f"source table {table} is gone"
        return {
            t: conn.exec_driver_sql(f"SELECT COUNT(*) FROM {t}").scalar_one() for t in SOURCE_TABLES
        }


def _run_and_check(url: str, tmp_path: Path) -> None:
    before = _add_hostile_skus(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        stored = set(conn.exec_driver_sql("SELECT sku_id FROM sku_master").scalars())
    assert set(HOSTILE_SKUS) <= stored, "the fixture did not store the ids verbatim"

    settings = Settings.load(
        {
            "warehouse_url": url,
            "staging_dir": str(tmp_path / "staging"),
            "data_docs_dir": str(tmp_path / "docs"),
            "forecast_batches": 2,
            "forecast_workers": 1,
        }
    )
    run_pipeline(settings, RUN_DATE)
    try:
        assert _source_counts(engine) == before
    finally:
        engine.dispose()

    check_contract(url, RUN_DATE)
    out = outputs(url, RUN_DATE)
    forecast_skus = out["demand_forecast"].groupby("sku_id").size()
    for sku in HOSTILE_SKUS:
        assert forecast_skus.get(sku) == 28, f"{sku!r} has no complete forecast"
    for table in ("replenishment_orders", "forecast_accuracy"):
        assert set(HOSTILE_SKUS) <= set(out[table]["sku_id"]), f"{table} lost a hostile SKU"


@pytest.mark.slow
def test_hostile_sku_ids_are_data_on_sqlite(sqlite_warehouse, tmp_path):
    _run_and_check(sqlite_warehouse, tmp_path)


@pytest.mark.slow
@pytest.mark.postgres
def test_hostile_sku_ids_are_data_on_postgres(pg_warehouse, tmp_path):
    _run_and_check(pg_warehouse, tmp_path)


# --------------------------------------------------------------------------- static checks

#: What ``{{ name }}`` templates each SQL file may use: identifiers substituted after a check
#: (``{{ reporting }}`` by db.schema_prefix, the others by replenishment.roles).
SQL_TEMPLATES = {"create_roles.sql": {"reporting_schema", "source_schema"}}
DEFAULT_SQL_TEMPLATES = {"reporting"}

#: Expressions allowed inside SQL-building f-strings, per module, with why they are safe.
#: Anything else interpolated into SQL fails the test: bind it as a parameter instead.
SAFE_INTERPOLATIONS: dict[str, dict[str, str]] = {
    "scripts/bi_benchmark.py": {
        "prefix": "db.schema_prefix result",
        "table": "names from SOURCE_TABLES / OUTPUT_TABLES",
        "name": "index names read from pg_index, checked to be word characters",
        "options": "EXPLAIN option constants",
        "statement": "a query of select_bi_queries.sql or one the plugin sent, explained as is",
    },
    "demo/generate.py": {"table": "names from the SOURCE_TABLES / TRUTH_TABLE constants"},
    "load.py": {
        "prefix": "db.schema_prefix result",
        "table": "names from OUTPUT_TABLES, checked by read_output",
    },
    "reporting.py": {
        "name": "view names parsed from create_reporting_views.sql",
        "prefix": "db.schema_prefix result",
        "rel.name": "relation names checked as identifiers by reporting.dictionary()",
        "column": "column names checked as identifiers by reporting.dictionary()",
        "kind": "TABLE or VIEW constant",
        "VIEW_LOCK_TIMEOUT": "module constant",
        "quote_literal(conn, rel.description)": "reviewed text from reporting_columns.yaml, "
        "quoted by reporting.quote_literal (COMMENT ON takes no bind parameters)",
        "quote_literal(conn, text)": "as above",
    },
    "roles.py": {
        "role": "one of PIPELINE_ROLE / BI_ROLE, checked",
        "verifier": "SCRAM verifier, checked to be base64 characters only",
    },
    "simulate/write.py": {
        "schema": "identifier checked by db.schema_prefix",
        "prefix": "db.schema_prefix result",
        "table": "names of the simulator's output tables (constants)",
    },
    "warehouse.py": {
        "schema": "identifier checked by db.schema_prefix",
        "prefix": "db.schema_prefix result",
        "table": "table names parsed from include/sql (ensure_tables), or checked against "
        "db.IDENTIFIER part by part (bulk_insert)",
        "name": "column names parsed from the CREATE TABLE of include/sql",
        "sql_type": "column types parsed from the CREATE TABLE of include/sql",
        "where": "'column = :column' built from key columns checked against db.IDENTIFIER",
        "columns": "checked against db.IDENTIFIER in bulk_insert",
        "', '.join(columns)": "checked against db.IDENTIFIER in bulk_insert",
        "placeholders": "':name' bind markers built from checked column names",
    },
    "quarantine.py": {
        "table": "a suite's table name, checked by db.check_identifier",
        "_batch(spec)": "a suite's as_of_query (reviewed include/expectations files; only ISO "
        "dates from a datetime.date rendered in) or SELECT * of its checked table",
        "batch": "WITH clause of that batch query",
        "rows": "a suite's unexpected_rows_query with {batch} replaced by the CTE name",
        "on": "'b.key = u.key' of the suite's key columns, checked by db.check_identifier",
        "where": "the row condition of _condition: column names checked by "
        "db.check_identifier, values bound",
    },
    "report_changes.py": {"prefix": "db.schema_prefix result"},
    "validate.py": {
        "spec.table": "suite table name from include/expectations (reviewed files)",
        "batch": "as_of_query of a suite; only ISO dates from a datetime.date are rendered in",
        "query.replace('{batch}', 'asof_batch')": "unexpected_rows_query of a suite, as above",
        "MAX_EXAMPLES": "integer constant",
    },
}

_SQL_WORDS = re.compile(
    r"^\s*(SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|DROP|COPY|WITH|ANALYZE|TRUNCATE|GRANT"
    r"|REVOKE|SET|MERGE|VACUUM|COMMENT)\b|\b(FROM|WHERE|INTO|VALUES|JOIN|LIMIT)\b"
)


def _sql_files() -> list[Path]:
    files = sorted((ROOT / "include" / "sql").glob("*.sql"))
    assert files, "no SQL files found"
    return files


@pytest.mark.parametrize("path", _sql_files(), ids=lambda p: p.name)
def test_sql_files_take_values_as_bind_parameters(path: Path):
    text = "\n".join(line.split("--", 1)[0] for line in path.read_text().splitlines())
    allowed = SQL_TEMPLATES.get(path.name, DEFAULT_SQL_TEMPLATES)
    used = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", text))
    assert used <= allowed, f"{path.name}: templates {sorted(used - allowed)} are not identifiers"
    # PL/pgSQL format() patterns (%I, %L, %s) inside a format('...') call are server-side quoting.
    text = re.sub(r"format\(\s*'(?:[^']|'')*'", "format(''", text)
    bare = re.sub(r"\{\{\s*\w+\s*\}\}", "", text)
    for pattern, what in (
        (r"%\(?\w*\)?[sdf]\b", "Python %-formatting placeholder"),
        (r"(?<!\{)\{\w*\}(?!\})", "str.format placeholder"),
        (r"'\d{4}-\d{2}-\d{2}", "hard-coded date: bind it (:run_date) instead"),
    ):
        found = re.findall(pattern, bare)
        assert not found, f"{path.name}: {what}: {found[:3]}"


def _module_files() -> list[Path]:
    files = sorted((ROOT / "replenishment").rglob("*.py"))
    files += sorted((ROOT / "dags").rglob("*.py"))
    files.append(ROOT / "scripts" / "bi_benchmark.py")
    return files


def test_python_builds_sql_from_identifiers_only():
    """f-strings that build SQL interpolate only whitelisted identifier expressions, and no
    SQL text is built with %, str.format or + from non-constants."""
    problems: list[str] = []
    for path in _module_files():
        rel = path.relative_to(ROOT)
        # keyed by the path inside replenishment/ (e.g. simulate/write.py)
        safe = SAFE_INTERPOLATIONS.get(rel.as_posix().removeprefix("replenishment/"), {})
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.JoinedStr):
                literal = "".join(
                    v.value
                    for v in node.values
                    if isinstance(v, ast.Constant) and isinstance(v.value, str)
                )
                if not _SQL_WORDS.search(literal):
                    continue
                for part in node.values:
                    if isinstance(part, ast.FormattedValue):
                        expr = ast.unparse(part.value)
                        if expr not in safe:
                            problems.append(f"{rel}:{node.lineno}: {{{expr}}} in SQL f-string")
            elif isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mod, ast.Add)):
                sides = (node.left, node.right)
                sql_side = any(
                    isinstance(s, ast.Constant)
                    and isinstance(s.value, str)
                    and _SQL_WORDS.search(s.value)
                    for s in sides
                )
                constant = all(isinstance(s, ast.Constant) for s in sides)
                if sql_side and not constant:
                    problems.append(f"{rel}:{node.lineno}: SQL built with {type(node.op).__name__}")
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "format"
                and isinstance(node.func.value, ast.Constant)
                and isinstance(node.func.value.value, str)
                and _SQL_WORDS.search(node.func.value.value)
            ):
                problems.append(f"{rel}:{node.lineno}: SQL built with str.format")
    assert not problems, (
        "values must be bind parameters (sa.text(':name') / query_frame params); an identifier "
        "that is checked may be whitelisted in SAFE_INTERPOLATIONS with the reason:\n  "
        + "\n  ".join(problems)
    )


def test_sql_call_sites_pass_sql_not_values():
    """Every sa.text() / exec_driver_sql() argument is a literal, an f-string (checked above),
    a name or an SQL-file read: never a value that came from data."""
    allowed_calls = {"strip_comments", "sql_text", "_CREATE_VIEW.sub"}
    problems: list[str] = []
    for path in _module_files():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name not in ("text", "exec_driver_sql"):
                continue
            arg = node.args[0]
            ok = isinstance(arg, (ast.Constant, ast.JoinedStr, ast.Name)) or (
                isinstance(arg, ast.Call) and ast.unparse(arg.func) in allowed_calls
            )
            if not ok:
                problems.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(arg)}")
    assert not problems, "unexpected SQL arguments:\n  " + "\n  ".join(problems)


def test_identifier_guards_reject_injection(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    pg = sa.create_engine("postgresql+psycopg2://nobody@127.0.0.1:1/none")  # never connects
    assert schema_prefix(pg, "reporting") == "reporting."
    for bad in ("reporting; DROP TABLE sku_master", "rep orting", 'r"x', "r.x"):
        with pytest.raises(ValueError, match="identifier"):
            schema_prefix(pg, bad)
    frame = pd.DataFrame({"a": [1]})
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (a INTEGER)")
        with pytest.raises(ValueError, match="identifier"):
            bulk_insert(conn, "t; DROP TABLE t", frame)
        with pytest.raises(ValueError, match="identifier"):
            bulk_insert(conn, "t", frame.rename(columns={"a": "a) VALUES (1); --"}))
        assert bulk_insert(conn, "t", frame) == 1
    engine.dispose()
