"""Quarantine: the SKUs a row-level data-quality failure is confined to, left out of the run.

With ``dq_mode = quarantine`` a critical failure of a row-level expectation
(:data:`replenishment.validate_suites.SKU_SCOPED`: a value missing, not numeric, not a
date or out of range, a sku_id not in sku_master) does not block the run: every SKU of
its failing rows (all of them, fetched with a query of the failing rows, not only the
five examples) is excluded from the extract, gets no forecast and no order, and is
listed in ``replenishment_orders`` with ``order_qty = 0``, ``model = 'quarantined'`` and
the reason ``quarantined: <table>.<column> <rule>``. The rest of the SKUs are planned as
if the quarantined ones did not exist. Any table-level critical failure, or a row-level
one whose SKUs cannot be fetched, still blocks the run.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from replenishment.db import check_identifier
from replenishment.validate_results import CRITICAL, Failure, ValidationReport
from replenishment.validate_suites import SKU_SCOPE, UNEXPECTED_ROWS, SuiteSpec

log = logging.getLogger(__name__)

#: Columns of the staged quarantine list (``quarantine.parquet``).
QUARANTINE_COLUMNS: tuple[str, ...] = ("sku_id", "reason", "listed")
#: ``model`` (and ``policy``) of a quarantined SKU's row in replenishment_orders.
QUARANTINED = "quarantined"
_REASON_CHARS = 200


def _distinct_sku_ids(
    engine: Engine,
    sql: str,
    params: Mapping[str, Any] | None = None,
    expected_rows: int | None = None,
) -> tuple[str, ...] | None:
    """The sku_ids of ``sql``'s rows (``sku_id, n`` grouped by sku_id); None when a row has
    no sku_id or the rows do not add up to ``expected_rows`` (GX's count of them)."""
    statement = sa.text(sql)
    for name, value in (params or {}).items():
        if isinstance(value, (list, tuple)):
            statement = statement.bindparams(sa.bindparam(name, expanding=True))
    try:
        with engine.connect() as conn:
            rows = conn.execute(statement, dict(params or {})).all()
    except sa.exc.SQLAlchemyError as exc:
        log.warning("could not fetch the SKUs of failing rows: %s", exc)
        return None
    if any(sku is None for sku, _ in rows):
        return None  # a failing row without a sku_id: nothing to confine it to
    if expected_rows is not None and sum(int(n) for _, n in rows) != expected_rows:
        log.warning(
            "failing rows: %s counted, GX counted %d", sum(n for _, n in rows), expected_rows
        )
        return None
    return tuple(sorted({str(sku) for sku, _ in rows}))


def _batch(spec: SuiteSpec) -> str:
    table = check_identifier(spec.table, "suite table")
    return spec.as_of_query or f"SELECT * FROM {table}"


def _unexpected_rows_sku_ids(engine: Engine, spec: SuiteSpec, query: str) -> tuple[str, ...] | None:
    """SKU ids of every row an unexpected-rows query returns, on the suite's as-of batch:
    its own sku_id column, else the batch's rows joined back on the key columns."""
    batch = f"WITH asof_batch AS ({_batch(spec)})"
    rows = f"({query.replace('{batch}', 'asof_batch')}) AS u"
    try:
        with engine.connect() as conn:
            names = conn.execute(sa.text(f"{batch} SELECT * FROM {rows} LIMIT 0")).keys()
            columns = {str(c).lower() for c in names}
    except sa.exc.SQLAlchemyError as exc:
        log.warning("%s: could not read the failing rows: %s", spec.name, exc)
        return None
    if "sku_id" in columns:
        select = f"SELECT u.sku_id, COUNT(*) AS n FROM {rows} GROUP BY u.sku_id"
        return _distinct_sku_ids(engine, f"{batch} {select}")
    if not spec.key_columns or not set(spec.key_columns) <= columns:
        return None
    keys = [check_identifier(k, "key column") for k in spec.key_columns]
    on = " AND ".join(f"b.{k} = u.{k}" for k in keys)
    join = f"SELECT b.sku_id, COUNT(*) AS n FROM asof_batch AS b JOIN {rows} ON {on}"
    join += " GROUP BY b.sku_id"
    return _distinct_sku_ids(engine, f"{batch} {join}")


def _condition(expectation_type: str, kwargs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The WHERE condition (and bind values) of the rows a column map expectation fails,
    as GX's own SQL states it: NULLs fail only ``not_be_null``; the pair rule skips a
    row with either value missing (the suites' ``ignore_row_if``). Column names are
    checked as plain identifiers; values are bind parameters."""
    kwargs = {
        k: check_identifier(v, k) if k in ("column", "column_A", "column_B") else v
        for k, v in kwargs.items()
    }
    if expectation_type == "expect_column_values_to_not_be_null":
        return f"{kwargs['column']} IS NULL", {}
    if expectation_type == "expect_column_values_to_be_in_set":
        c = kwargs["column"]
        return f"{c} IS NOT NULL AND {c} NOT IN :value_set", {
            "value_set": list(kwargs["value_set"])
        }
    if expectation_type == "expect_column_values_to_be_between":
        c, params, inside = kwargs["column"], {}, []
        for bound, strict, op in (
            ("min_value", "strict_min", ">"),
            ("max_value", "strict_max", "<"),
        ):
            if kwargs.get(bound) is not None:
                inside.append(f"{c} {op}{'' if kwargs.get(strict) else '='} :{bound}")
                params[bound] = kwargs[bound]
        return f"{c} IS NOT NULL AND NOT ({' AND '.join(inside) or '1 = 1'})", params
    if expectation_type == "expect_column_pair_values_a_to_be_greater_than_b":
        a, b = kwargs["column_A"], kwargs["column_B"]
        op = ">=" if kwargs.get("or_equal") else ">"
        return f"{a} IS NOT NULL AND {b} IS NOT NULL AND NOT ({a} {op} {b})", {}
    raise KeyError(expectation_type)


def failing_sku_ids(
    engine: Engine,
    spec: SuiteSpec,
    expectation_type: str,
    kwargs: Mapping[str, Any],
    unexpected_count: int | None = None,
) -> tuple[str, ...] | None:
    """Every sku_id of a failed row-level expectation's rows (None: they cannot be told).

    An ``unexpected_rows_expectation`` is asked with its own query; a column map
    expectation with the suite's as-of query filtered by the expectation's condition
    (GX 1.x's ``unexpected_index_query`` would say the same, but on a query asset it
    renders ``FROM SELECT ... WHERE 1 = 1 WHERE ...``, which no database accepts), whose
    rows must add up to GX's ``unexpected_count``. A failing row without a sku_id gives None.
    """
    if expectation_type == UNEXPECTED_ROWS:
        return _unexpected_rows_sku_ids(engine, spec, str(kwargs["unexpected_rows_query"]))
    try:
        where, params = _condition(expectation_type, kwargs)
    except KeyError:
        log.warning("%s: no row condition for %s", spec.name, expectation_type)
        return None
    sql = f"SELECT b.sku_id, COUNT(*) AS n FROM ({_batch(spec)}) AS b WHERE {where}"
    return _distinct_sku_ids(engine, sql + " GROUP BY b.sku_id", params, unexpected_count)


def reason_text(failure: Failure) -> str:
    """``quarantined: <table>.<column> <rule>``, as replenishment_orders.reason says it."""
    where = failure.suite + (f".{failure.column}" if failure.column else "")
    return f"quarantined: {where} {failure.rule or failure.expectation}"


def blocking_failures(report: ValidationReport) -> list[Failure]:
    """The critical failures that no quarantine can confine: table-level ones, and
    row-level ones whose SKUs could not be fetched."""
    return [
        f
        for f in report.critical_failures
        if f.scope != SKU_SCOPE or f.sku_ids is None or not f.sku_ids
    ]


def quarantine_frame(report: ValidationReport, master: pd.DataFrame) -> pd.DataFrame:
    """The quarantine list of a report with no blocking failure: one row per SKU.

    master: sku_id and active of every row of sku_master. ``listed`` is true for a SKU
    of the master that is not known to be inactive (it gets a replenishment_orders row);
    a sku_id not in the master (an unknown key) is quarantined (its rows are left out)
    but not listed. ``reason`` joins the reasons of each failure that names the SKU.
    """
    reasons: dict[str, list[str]] = {}
    for failure in report.critical_failures:
        if failure.severity == CRITICAL and failure.sku_ids:
            for sku in failure.sku_ids:
                text = reason_text(failure)
                if text not in reasons.setdefault(sku, []):
                    reasons[sku].append(text)
    known = master.assign(sku_id=master["sku_id"].astype(str))
    inactive = set(known.loc[known["active"].map(_is_false), "sku_id"])
    rows = [
        {
            "sku_id": sku,
            "reason": _clip("; ".join(texts)),
            "listed": sku in set(known["sku_id"]) and sku not in inactive,
        }
        for sku, texts in sorted(reasons.items())
    ]
    return pd.DataFrame(rows, columns=list(QUARANTINE_COLUMNS)).astype({"listed": bool})


def _is_false(value: object) -> bool:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return False  # unknown: the SKU may be active, list it
    if isinstance(value, str):
        return value.strip().lower() in ("0", "false", "f", "no", "n")
    return not bool(value)


def _clip(text: str) -> str:
    return text if len(text) <= _REASON_CHARS else text[: _REASON_CHARS - 1] + "…"


def quarantined_orders(
    quarantine: pd.DataFrame | None, columns: Sequence[str], run_date: dt.date
) -> pd.DataFrame:
    """replenishment_orders rows (``columns``) of the listed quarantined SKUs: no order.

    order_qty, order_packs, order_value and every quantity behind them are 0 (nothing was
    planned; no receipt entered a lead time), pack_size 1 and moq 0 (the master values were
    not read), the expected
    receipt date D, model and policy ``quarantined``, the lead time used and its source
    NULL, and ``reason`` says which table, column and rule quarantined the SKU.
    """
    if quarantine is None:
        quarantine = pd.DataFrame({c: pd.Series(dtype="object") for c in QUARANTINE_COLUMNS})
    listed = quarantine[quarantine["listed"].astype(bool)]
    out = pd.DataFrame({"sku_id": listed["sku_id"].astype(str).to_numpy()})
    texts = {"policy": QUARANTINED, "model": QUARANTINED}
    nulls = {"lead_time_used_days", "lead_time_source"}
    nulls |= {"error_inflation", "demand_distribution"}
    for column in columns:
        if column in ("sku_id", "run_date"):
            continue
        if column in texts:
            out[column] = texts[column]
        elif column == "reason":
            out[column] = listed["reason"].to_numpy()
        elif column == "expected_receipt_date":
            out[column] = run_date
        elif column in nulls:
            out[column] = None
        else:
            out[column] = 1 if column == "pack_size" else 0
    return out[[c for c in columns if c in out.columns]]


def quarantined_sku_ids(quarantine: pd.DataFrame | None) -> list[str]:
    """Every quarantined sku_id (listed or not) of a staged quarantine list."""
    if quarantine is None or quarantine.empty:
        return []
    return sorted(quarantine["sku_id"].astype(str))


def master_keys(engine: Engine) -> pd.DataFrame:
    """sku_id and active of every row of sku_master (to tell which quarantined SKUs exist)."""
    with engine.connect() as conn:
        return pd.read_sql_query(sa.text("SELECT sku_id, active FROM sku_master"), conn)


def summary_reason(orders: pd.DataFrame, limit: int = 20) -> str | None:
    """``pipeline_runs.reason`` of a run that quarantined SKUs (None when it did not)."""
    held = orders[orders["model"] == QUARANTINED]
    if held.empty:
        return None
    shown = [f"{r.sku_id} ({r.reason})" for r in held.head(limit).itertuples()]
    more = f" and {len(held) - limit} more" if len(held) > limit else ""
    return f"{len(held)} SKU(s) quarantined by data quality: " + "; ".join(shown) + more


def confine(engine: Engine, report: ValidationReport) -> pd.DataFrame | None:
    """The quarantine list of a report whose critical failures are all row-level with
    their SKUs known; None when nothing failed or any failure must block the run."""
    if report.ok or blocking_failures(report):
        return None
    held = quarantine_frame(report, master_keys(engine))
    log.warning(
        "data quality for %s: %d SKU(s) quarantined (%d with an order row): %s",
        report.run_date.isoformat(),
        len(held),
        int(held["listed"].sum()),
        ", ".join(held["sku_id"].head(20)),
    )
    return held
