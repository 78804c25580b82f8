"""Suites of the data-quality gate: the JSON files of ``include/expectations``, rendered for D.

Each file is one suite on one table. ``meta.as_of_query`` selects the batch;
``{{ run_date }}`` (D) and ``{{ day_before }}`` (D - 1) in it and in
``unexpected_rows_query`` texts are replaced by ISO date literals. An
``unexpected_rows_expectation`` whose ``meta.sql_file`` names a file of
``include/sql`` gets its query from that file (see :mod:`replenishment.validate_sql`),
with the expectation's ``meta.params`` as bind values.

Each expectation carries GX's own ``severity``: ``critical`` stops the run,
``warning`` is reported and the run goes on. Each is also row-level (``sku``: its failing
rows each carry a sku_id, so a failure is confined to those SKUs and ``dq_mode =
quarantine`` excludes them instead of blocking) or table-level (``table``: the whole load
is suspect, the run blocks in both modes): :data:`SKU_SCOPED` says which, in one place.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from replenishment.config import INCLUDE_DIR
from replenishment.validate_results import CRITICAL, WARNING
from replenishment.validate_sql import run_date_params, suite_query

EXPECTATIONS_DIR = INCLUDE_DIR / "expectations"
#: Source suites in the order they are validated (the SKU master first: others refer to it).
SOURCE_SUITES: tuple[str, ...] = (
    "sku_master",
    "order_lines",
    "promotions",
    "inventory_snapshots",
    "purchase_orders",
)
COLUMNS_EXPECTATION = "expect_table_columns_to_match_set"
UNEXPECTED_ROWS = "unexpected_rows_expectation"
#: Scope of an expectation whose failing rows each carry a sku_id (see :data:`SKU_SCOPED`).
SKU_SCOPE = "sku"
#: Scope of every other expectation: it blocks the run in both data-quality modes.
TABLE_SCOPE = "table"


def _present_numeric_in_range(columns: dict[str, str]) -> set[str]:
    """The three SKU-master rules of each column: present, numeric, in its range."""
    return {r for c, rng in columns.items() for r in (f"{c} is present", f"{c} is numeric", rng)}


#: The row-level expectations, by suite and description: a failure of one of them is
#: confined to the SKUs of its failing rows (a value missing, not numeric, not a date or
#: out of range; a sku_id not in sku_master), and ``dq_mode = quarantine`` excludes those
#: SKUs from the run. Every other expectation is table-level and blocks the run in both
#: modes: the table's schema and row count, a key repeated or missing where it does not
#: hold the sku_id (the load itself is suspect), a missing sku_id (no SKU to confine it
#: to), freshness, volume against history, a stopped feed and a repeated load (the SQL
#: checks of ``include/sql``), and warnings.
SKU_SCOPED: dict[str, frozenset[str]] = {
    "sku_master": frozenset(
        _present_numeric_in_range(
            {
                "pack_size": "pack_size >= 1 (orders are multiples of it)",
                "moq": "moq >= 0 (units)",
                "lead_time_days": "lead_time_days > 0 (planned supplier lead time)",
                "review_period_days": "review_period_days >= 1",
                "service_level": "service_level strictly between 0 and 1"
                " (probability of no stock-out per cycle)",
                "unit_cost": "unit_cost >= 0",
                "holding_cost_rate": "holding_cost_rate >= 0 (per year, fraction of unit_cost)",
                "order_cost": "order_cost >= 0 (per purchase order)",
            }
        )
        | {"active is present", "an active SKU has unit_cost > 0"}
    ),
    "order_lines": frozenset(
        {
            "sku_id exists in sku_master",
            "order_ts is present",
            "order_ts is a parseable timestamp",
            "quantity is present",
            "quantity is numeric",
            "0 < quantity < 100000",
            "unit_price is numeric",
            "unit_price >= 0 (may be null)",
            "status is present",
            "status in (completed, returned, cancelled)",
        }
    ),
    "promotions": frozenset(
        {
            "sku_id exists in sku_master",
            "start_date is present",
            "start_date is a parseable date",
            "end_date is present",
            "end_date is a parseable date",
            "end_date >= start_date (end_date is inclusive)",
            "discount_pct is numeric",
            "0 <= discount_pct <= 100 (percent, may be null)",
        }
    ),
    "inventory_snapshots": frozenset(
        {
            "snapshot_date is present",
            "snapshot_date is a parseable date",
            "sku_id exists in sku_master",
            "on_hand is present",
            "on_hand is numeric",
            "on_hand >= 0 (units; backorders are not stock)",
        }
    ),
    "purchase_orders": frozenset(
        {
            "sku_id exists in sku_master",
            "order_date is present",
            "order_date is a parseable date",
            "expected_date is a parseable date (may be null)",
            "received_date is a parseable date (may be null)",
            "received_date >= order_date",
            "quantity is present",
            "quantity is numeric",
            "0 < quantity < 10000000",
            "status is present",
            "status in (open, received, cancelled)",
        }
    ),
}


def expectation_scope(suite: str, expectation: Mapping[str, Any]) -> str:
    """``sku`` for a row-level expectation of :data:`SKU_SCOPED`, else ``table``."""
    described = str(expectation.get("description") or "")
    return SKU_SCOPE if described in SKU_SCOPED.get(suite, frozenset()) else TABLE_SCOPE


def _with_scope(suite: str, expectation: dict[str, Any]) -> dict[str, Any]:
    """The expectation with its scope in ``meta.scope`` (GX keeps meta on its results)."""
    meta = {**(expectation.get("meta") or {}), "scope": expectation_scope(suite, expectation)}
    return {**expectation, "meta": meta}


_TEMPLATE = re.compile(r"\{\{\s*(run_date|day_before)\s*\}\}")


@dataclass(frozen=True)
class SuiteSpec:
    """A suite file of ``include/expectations`` with its run date templates rendered."""

    name: str
    table: str
    key_columns: tuple[str, ...]
    required_columns: tuple[str, ...]
    as_of_query: str | None
    notes: str | None
    expectations: tuple[dict[str, Any], ...] = field(repr=False)


def _read_suite_file(name: str) -> str:
    path = EXPECTATIONS_DIR / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"expectation suite {path} not found")
    return path.read_text()


def _render(value: Any, run_date: dt.date) -> Any:
    """Replace the run date templates in every string of ``value``.

    Only ISO dates formatted here from a ``datetime.date`` are ever inlined.
    """
    if isinstance(value, str):
        dates = {"run_date": run_date, "day_before": run_date - dt.timedelta(days=1)}
        return _TEMPLATE.sub(lambda m: dates[m.group(1)].isoformat(), value)
    if isinstance(value, list):
        return [_render(v, run_date) for v in value]
    if isinstance(value, dict):
        return {k: _render(v, run_date) for k, v in value.items()}
    return value


def _from_sql_file(
    expectation: dict[str, Any], table: str, run_date: dt.date, holiday_country: str
) -> dict[str, Any]:
    """An expectation whose ``meta.sql_file`` names an SQL check, with its query filled in."""
    meta = expectation.get("meta") or {}
    if "sql_file" not in meta:
        return expectation
    if expectation["type"] != UNEXPECTED_ROWS:
        raise ValueError(f"{table}: sql_file is for {UNEXPECTED_ROWS}, not {expectation['type']}")
    params = run_date_params(run_date, holiday_country, meta.get("params"))
    query = suite_query(str(meta["sql_file"]), table, params)
    kwargs = {**expectation.get("kwargs", {}), "unexpected_rows_query": query}
    return {**expectation, "kwargs": kwargs}


def load_suite(name: str, run_date: dt.date, holiday_country: str = "US") -> SuiteSpec:
    """The suite ``include/expectations/<name>.json`` for run date ``run_date``.

    holiday_country: ISO code whose public holidays the volume rules skip.
    """
    raw = json.loads(_read_suite_file(name))
    meta = raw.get("meta") or {}
    table = str(meta.get("table", raw["name"]))
    expectations = tuple(
        _with_scope(
            raw["name"], _from_sql_file(_render(e, run_date), table, run_date, holiday_country)
        )
        for e in raw["expectations"]
    )
    required: tuple[str, ...] = ()
    for exp in expectations:
        if exp["type"] == COLUMNS_EXPECTATION:
            required = tuple(exp["kwargs"]["column_set"])
        severity = exp.get("severity", CRITICAL)
        if severity not in (CRITICAL, WARNING):
            raise ValueError(f"suite {name}: severity {severity!r} is not critical or warning")
    as_of = meta.get("as_of_query")
    return SuiteSpec(
        name=raw["name"],
        table=table,
        key_columns=tuple(meta.get("key_columns", ())),
        required_columns=required,
        as_of_query=_render(as_of, run_date) if as_of else None,
        notes=raw.get("notes"),
        expectations=expectations,
    )


def columns_used(expectation: Mapping[str, Any]) -> set[str]:
    kwargs = expectation["kwargs"]
    used = {kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs}
    used.update(kwargs.get("column_list", ()))
    if "column" in (expectation.get("meta") or {}):
        used.add(expectation["meta"]["column"])
    return used


def mentions(sql: str, name: str) -> bool:
    return re.search(rf"\b{re.escape(name)}\b", sql, flags=re.IGNORECASE) is not None


def expectation_column(config: Any) -> str | None:
    kwargs = config.kwargs
    if kwargs.get("column"):
        return str(kwargs["column"])
    if (config.meta or {}).get("column"):
        return str(config.meta["column"])
    if kwargs.get("column_A"):
        return f"{kwargs['column_A']},{kwargs['column_B']}"
    if kwargs.get("column_list"):
        return ",".join(kwargs["column_list"])
    return None
