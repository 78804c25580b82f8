"""Reporting layer for BI tools: views, column comments and the data dictionary.

``include/sql/reporting_columns.yaml`` is the single source of what every output
table and view means. From it come

* PostgreSQL comments (``COMMENT ON TABLE / VIEW / COLUMN``), so a BI tool or
  ``\\d+`` shows the meaning next to the column: :func:`comment_columns`;
* the README's data dictionary, the section between the markers
  ``<!-- data-dictionary:start -->`` and ``<!-- data-dictionary:end -->``:
  :func:`data_dictionary_markdown`, written by
  ``replenishment reporting --write-readme`` and checked by ``--check``
  (:mod:`replenishment.cli`).

The views of ``include/sql/create_reporting_views.sql`` are created by
:func:`create_views`. Tables are created and written by :mod:`replenishment.warehouse`
(this module never imports :mod:`replenishment.load`, which calls it).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from replenishment.config import PROJECT_ROOT
from replenishment.db import IDENTIFIER, SQL_DIR, schema_prefix, split_statements, sql_text
from replenishment.warehouse import ensure_tables, table_columns

log = logging.getLogger(__name__)

DICTIONARY_FILE = SQL_DIR / "reporting_columns.yaml"
VIEWS_FILE = "create_reporting_views.sql"
#: DDL files whose tables the dictionary documents.
SIMULATION_TABLES = "create_simulation_tables.sql"
#: The tables the load writes for BI tools only (daily actuals, the SKU dimension).
BI_TABLES = "create_bi_tables.sql"
DDL_FILES = (
    "create_reporting_tables.sql",
    BI_TABLES,
    "create_backtest_table.sql",
    SIMULATION_TABLES,
)
README = PROJECT_ROOT / "README.md"
START_MARKER = "<!-- data-dictionary:start -->"
END_MARKER = "<!-- data-dictionary:end -->"

_CREATE_VIEW = re.compile(r"^CREATE\s+OR\s+REPLACE\s+VIEW\s+([\w.]+)\s+AS\s", re.I)
#: How long replacing a view may wait for BI queries holding it before it is skipped.
VIEW_LOCK_TIMEOUT = "5s"

#: The views script's macros (see its header), per database: pattern -> replacement.
_MACROS: dict[str, tuple[tuple[re.Pattern[str], str], ...]] = {
    "postgresql": (
        (re.compile(r"BI_DATE\(([\w.]+)\)"), r"\1"),
        (re.compile(r"DAYS_BETWEEN\(([\w.]+),\s*([\w.]+)\)"), r"(\1 - \2)"),
    ),
    "sqlite": (
        (re.compile(r"BI_DATE\(([\w.]+)\)"), r"strftime('%Y-%m-%d 00:00:00.000000', \1)"),
        (
            re.compile(r"DAYS_BETWEEN\(([\w.]+),\s*([\w.]+)\)"),
            r"(julianday(\1) - julianday(\2))",
        ),
    ),
}


@dataclass(frozen=True)
class Relation:
    """A documented table or view: its key, description and columns in order."""

    name: str
    kind: str  # "table" or "view"
    #: "Grain: <what one row is>. <meaning>": the comment BI tools show as the description.
    description: str
    key: tuple[str, ...]
    columns: dict[str, str]
    #: What BI tools are told beyond the comments (views only): ``time_column``,
    #: ``currency_columns`` and ``metrics`` (name -> [SQL, label, d3 format, meaning]).
    bi: dict[str, Any] = field(default_factory=dict)


@cache
def dictionary() -> dict[str, Relation]:
    """Every documented table and view, tables first, in the order of the YAML file."""
    import yaml

    raw = yaml.safe_load(DICTIONARY_FILE.read_text(encoding="utf-8"))
    out: dict[str, Relation] = {}
    for group, kind in (("tables", "table"), ("views", "view")):
        for name, spec in (raw.get(group) or {}).items():
            columns = {str(k): " ".join(str(v).split()) for k, v in spec["columns"].items()}
            for ident in (name, *columns):
                if not IDENTIFIER.match(ident):
                    raise ValueError(f"{DICTIONARY_FILE.name}: {ident!r} is not a plain identifier")
            grain = " ".join(str(spec.get("grain") or "").split()).rstrip(".")
            if not grain:
                raise ValueError(f"{DICTIONARY_FILE.name}: {name} states no grain")
            key = tuple(spec.get("key") or ())
            unknown = [k for k in key if k not in columns]
            if unknown:
                raise ValueError(f"{DICTIONARY_FILE.name}: key of {name} names unknown {unknown}")
            out[name] = Relation(
                name=name,
                kind=kind,
                description=f"Grain: {grain}. " + " ".join(str(spec["description"]).split()),
                key=key,
                columns=columns,
                bi=dict(spec.get("bi") or {}),
            )
    return out


def ddl_columns(files: Iterable[str] = DDL_FILES) -> dict[str, list[str]]:
    """Column names, in order, of every ``CREATE TABLE`` of the given SQL files."""
    return {table: list(columns) for table, columns in table_columns(files).items()}


def render_macros(sql: str, dialect: str) -> str:
    """``sql`` with the views script's macros written for ``dialect``.

    >>> render_macros("BI_DATE(f.run_date), DAYS_BETWEEN(f.forecast_date, f.run_date)", "pg")
    'f.run_date, (f.forecast_date - f.run_date)'
    >>> render_macros("DAYS_BETWEEN(f.forecast_date, f.run_date)", "sqlite")
    '(julianday(f.forecast_date) - julianday(f.run_date))'
    """
    for pattern, replacement in _MACROS["sqlite" if dialect == "sqlite" else "postgresql"]:
        sql = pattern.sub(replacement, sql)
    return sql


def view_statements(
    reporting_prefix: str = "", dialect: str = "postgresql"
) -> list[tuple[str, str]]:
    """``(view name, CREATE OR REPLACE VIEW statement)`` of each view of the views script,
    its macros written for ``dialect`` (``"postgresql"`` or ``"sqlite"``)."""
    out = []
    script = render_macros(sql_text(VIEWS_FILE, reporting_prefix), dialect)
    for statement in split_statements(script):
        match = _CREATE_VIEW.match(statement)
        if not match:
            raise ValueError(f"{VIEWS_FILE}: not a CREATE OR REPLACE VIEW: {statement[:60]!r}")
        out.append((match.group(1), statement))
    return out


# --------------------------------------------------------------------------- views


def create_views(conn: Connection, reporting_prefix: str) -> list[str]:
    """Create or replace the BI views; the names created.

    ``reporting_prefix`` is the schema prefix of the output tables (``"reporting."``,
    or ``""`` on SQLite, as :func:`replenishment.db.schema_prefix` gives). Run inside
    the caller's transaction, after the output tables exist. The simulation tables
    the inventory view reads are created (empty) when missing.

    On PostgreSQL a view whose columns changed is dropped and recreated, and a view
    that BI queries keep locked for longer than :data:`VIEW_LOCK_TIMEOUT` keeps its
    previous definition (logged), so a long dashboard query never blocks a load.
    On SQLite each view is dropped and created again.
    """
    created = []
    # under the DDL lock: two loads at once (a backfill) create tables and views in turn
    ensure_tables(conn, reporting_prefix.rstrip("."), SIMULATION_TABLES)
    ensure_tables(conn, reporting_prefix.rstrip("."), BI_TABLES)
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{VIEW_LOCK_TIMEOUT}'")
        try:
            for name, statement in view_statements(reporting_prefix):
                if _replace_view_postgres(conn, name, statement):
                    created.append(name)
        finally:
            conn.exec_driver_sql("SET LOCAL lock_timeout = DEFAULT")
    else:
        for name, statement in view_statements(reporting_prefix, conn.dialect.name):
            conn.exec_driver_sql(f"DROP VIEW IF EXISTS {name}")
            conn.exec_driver_sql(_CREATE_VIEW.sub(f"CREATE VIEW {name} AS ", statement, count=1))
            created.append(name)
    log.info("reporting views: %s", ", ".join(created))
    return created


def _replace_view_postgres(conn: Connection, name: str, statement: str) -> bool:
    try:
        with conn.begin_nested():
            conn.exec_driver_sql(statement)
        return True
    except sa.exc.DBAPIError as exc:
        code = getattr(exc.orig, "pgcode", None) or getattr(exc.orig, "sqlstate", None)
        if code == "55P03":  # lock_not_available: a BI query holds the view
            log.warning("view %s is in use; kept its previous definition", name)
            return False
        if code != "42P16":  # invalid_table_definition: the view's columns changed
            raise
    log.warning("view %s changed its columns; dropping and recreating it", name)
    with conn.begin_nested():
        # dependent views (later in the script) are dropped too and recreated after it
        conn.exec_driver_sql(f"DROP VIEW IF EXISTS {name} CASCADE")
        conn.exec_driver_sql(statement)
    return True


# --------------------------------------------------------------------------- comments


def quote_literal(conn: Connection, text: str) -> str:
    """``text`` as an SQL string literal, quoted by the PostgreSQL driver itself.

    ``COMMENT ON`` takes no bind parameters, so its text must be a literal. psycopg 3
    and psycopg2 quote with the server's rules (standard_conforming_strings,
    encoding); any other driver gets dollar quoting with a tag absent from the text.
    """
    if "\x00" in text:
        raise ValueError("comment text contains a NUL character")
    raw: Any = conn.connection.dbapi_connection
    module = type(raw).__module__.split(".")[0]
    if module == "psycopg":
        from psycopg import sql

        return sql.Literal(text).as_string(raw)
    if module == "psycopg2":
        from psycopg2.extensions import QuotedString, encodings

        quoted = QuotedString(text)
        quoted.prepare(raw)
        return str(quoted.getquoted().decode(encodings.get(raw.encoding, "utf-8")))
    tag = "$c$"
    n = 0
    while tag in text:
        n += 1
        tag = f"$c{n}$"
    return f"{tag}{text}{tag}"


def execute_verbatim(conn: Connection, statement: str) -> None:
    """Execute ``statement`` on the connection's driver as is, in its transaction.

    SQLAlchemy hands the driver a (possibly empty) parameter set, and the psycopg
    drivers then read every ``%`` as a placeholder; a statement whose literals may hold
    ``%`` (a comment text) is therefore given to a driver cursor without parameters.
    """
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(statement)
    finally:
        cursor.close()


def comment_columns(conn: Connection, schema: str) -> int:
    """Set the PostgreSQL comments of every documented table, view and column; count set.

    Only comments that differ from the dictionary are written (``COMMENT ON`` takes a
    lock), and tables or views not in the database yet are skipped. No-op (0) on
    databases without comments (SQLite).
    """
    if conn.dialect.name != "postgresql":
        return 0
    prefix = schema_prefix(conn, schema)
    nsp = prefix.rstrip(".") or "public"
    rows = conn.execute(
        sa.text(
            """
            SELECT c.relname, c.relkind, a.attname,
                   obj_description(c.oid, 'pg_class') AS table_comment,
                   col_description(c.oid, a.attnum) AS column_comment
            FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_attribute a
                   ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
            WHERE n.nspname = :nsp AND c.relkind IN ('r', 'v', 'p', 'm')
            """
        ),
        {"nsp": nsp},
    ).all()
    existing: dict[str, dict[str, Any]] = {}
    for relname, relkind, attname, table_comment, column_comment in rows:
        entry = existing.setdefault(
            relname, {"kind": relkind, "comment": table_comment, "columns": {}}
        )
        if attname is not None:
            entry["columns"][attname] = column_comment
    written = 0
    for rel in dictionary().values():
        have = existing.get(rel.name)
        if have is None:
            log.debug("comments: %s%s does not exist, skipped", prefix, rel.name)
            continue
        kind = {"v": "VIEW", "m": "MATERIALIZED VIEW"}.get(have["kind"], "TABLE")
        if have["comment"] != rel.description:
            execute_verbatim(
                conn,
                f"COMMENT ON {kind} {prefix}{rel.name} IS {quote_literal(conn, rel.description)}",
            )
            written += 1
        for column, text in rel.columns.items():
            if column not in have["columns"]:
                log.warning("comments: %s%s has no column %s", prefix, rel.name, column)
                continue
            if have["columns"][column] != text:
                execute_verbatim(
                    conn,
                    f"COMMENT ON COLUMN {prefix}{rel.name}.{column} IS {quote_literal(conn, text)}",
                )
                written += 1
    log.info("comments: %d set on schema %s", written, nsp)
    return written


# --------------------------------------------------------------------------- README


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _bi_lines(rel: Relation) -> list[str]:
    """What any BI tool should be told of a view: main time column, money, saved metrics."""
    if not rel.bi:
        return []
    facts = [f"main time column `{rel.bi['time_column']}`"]
    if rel.bi.get("currency_columns"):
        money = ", ".join(f"`{c}`" for c in rel.bi["currency_columns"])
        facts.append(f"money columns {money} (currency code in `currency`)")
    lines = [f"For BI tools: {'; '.join(facts)}.", ""]
    metrics = rel.bi.get("metrics") or {}
    if metrics:
        lines += ["| saved metric | SQL | format | meaning |", "|---|---|---|---|"]
        for name, (sql, label, d3format, meaning) in metrics.items():
            shown = d3format or "currency"
            lines.append(f"| {name} ({label}) | `{_cell(sql)}` | {shown} | {_cell(meaning)} |")
        lines.append("")
    return lines


def data_dictionary_markdown() -> str:
    """The data dictionary as Markdown: one section per table, then per view."""
    lines = [
        f"<!-- generated from include/sql/{DICTIONARY_FILE.name} by "
        "`replenishment reporting --write-readme`; edit the YAML, not this -->",
        "",
    ]
    for rel in dictionary().values():
        title = f"### `{rel.name}`"
        if rel.kind == "view":
            title += " (view)"
        if rel.key:
            title += f" — key ({', '.join(rel.key)})"
        lines += [title, "", rel.description, "", *_bi_lines(rel)]
        lines += ["| column | meaning |", "|---|---|"]
        lines += [f"| {name} | {_cell(text)} |" for name, text in rel.columns.items()]
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def readme_with_dictionary(readme: str) -> str:
    """``readme`` with the text between the data-dictionary markers regenerated."""
    start, end = readme.find(START_MARKER), readme.find(END_MARKER)
    if start < 0 or end < 0 or end < start:
        raise ValueError(f"README has no {START_MARKER} … {END_MARKER} section")
    head = readme[: start + len(START_MARKER)]
    return f"{head}\n{data_dictionary_markdown()}{readme[end:]}"
