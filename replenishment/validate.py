"""Data quality gates: Great Expectations on the source tables, pandas checks on the outputs.

``validate_sources`` checks the five source tables of the contract *as known for
the run date D* (order lines with ``order_ts < D``, snapshots with
``snapshot_date < D``, purchase orders with ``order_date < D``, all promotions,
all SKUs). The checks run inside the database: one Great Expectations SQL data
source on the warehouse URL, one query asset (history tables) or table asset
(``sku_master``, ``promotions``) per table, so no table is pulled into pandas.

The suites are data, one JSON file per table in ``include/expectations``. Each
expectation carries GX's own ``severity``:

- ``critical``: the run must stop (the DAG task fails with :class:`DataQualityError`);
- ``warning``: reported in ``data_quality_results`` and the Data Docs, the run goes on.

A suite's ``meta.as_of_query`` selects the batch; ``{{ run_date }}`` (D) and
``{{ day_before }}`` (D - 1) in it and in ``unexpected_rows_query`` texts are
replaced by ISO date literals. A GX query asset cannot take bind parameters, so
the literal is rendered here, always from a ``datetime.date`` (never from a
user-supplied string), which makes it safe to inline.

``validate_outputs`` checks the forecast and the order recommendations with
pandas before they are written.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from replenishment.config import INCLUDE_DIR

if TYPE_CHECKING:
    from great_expectations.data_context import AbstractDataContext

log = logging.getLogger(__name__)

EXPECTATIONS_DIR = INCLUDE_DIR / "expectations"
#: Source suites in the order they are validated (the SKU master first: others refer to it).
SOURCE_SUITES: tuple[str, ...] = (
    "sku_master",
    "order_lines",
    "promotions",
    "inventory_snapshots",
    "purchase_orders",
)
OUTPUTS_SUITE = "outputs"
CRITICAL = "critical"
WARNING = "warning"
#: Example rows named in a failure message.
MAX_EXAMPLES = 5
#: Columns of the ``data_quality_results`` reporting table, in order.
RESULT_COLUMNS: tuple[str, ...] = (
    "run_date",
    "suite",
    "success",
    "evaluated_expectations",
    "failed_expectations",
    "failed_critical",
    "failed_warning",
    "failures",
    "data_docs_path",
)

_COLUMNS_EXPECTATION = "expect_table_columns_to_match_set"
_UNEXPECTED_ROWS = "unexpected_rows_expectation"
_TEMPLATE = re.compile(r"\{\{\s*(run_date|day_before)\s*\}\}")
_DATA_DOCS_SITE = "replenishment"


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Failure:
    """One failed check.

    ``message`` is a single line naming the table, the column, the expectation,
    the rule, the number of bad rows and up to five example rows (by key).
    """

    suite: str
    expectation: str
    column: str | None
    severity: str  # "critical" | "warning"
    unexpected_count: int | None
    examples: tuple[str, ...]
    message: str

    @property
    def line(self) -> str:
        """``message`` prefixed with the severity, as written to ``data_quality_results``."""
        return f"[{self.severity}] {self.message}"


@dataclass(frozen=True)
class SuiteResult:
    """The outcome of one suite: ``success`` is True only when no expectation failed,
    warnings included (Great Expectations' meaning); see ``failed_critical``."""

    suite: str
    success: bool
    evaluated: int
    failures: tuple[Failure, ...] = ()

    @property
    def failed_critical(self) -> list[Failure]:
        return [f for f in self.failures if f.severity == CRITICAL]

    @property
    def failed_warning(self) -> list[Failure]:
        return [f for f in self.failures if f.severity != CRITICAL]


@dataclass(frozen=True)
class ValidationReport:
    """All suite results of one run date, and where their Data Docs are."""

    run_date: dt.date
    results: tuple[SuiteResult, ...]
    data_docs_path: str | None = None

    @property
    def critical_failures(self) -> list[Failure]:
        return [f for r in self.results for f in r.failed_critical]

    @property
    def warnings(self) -> list[Failure]:
        return [f for r in self.results for f in r.failed_warning]

    @property
    def ok(self) -> bool:
        """True when no critical expectation failed (warnings allowed)."""
        return not self.critical_failures

    def suite(self, name: str) -> SuiteResult:
        """The result of suite ``name`` (KeyError if it was not run)."""
        for result in self.results:
            if result.suite == name:
                return result
        raise KeyError(name)

    def with_result(self, result: SuiteResult) -> ValidationReport:
        """A copy with ``result`` added, replacing a result of the same suite."""
        kept = tuple(r for r in self.results if r.suite != result.suite)
        return replace(self, results=(*kept, result))

    def to_frame(self) -> pd.DataFrame:
        """One row per suite, in the columns of ``data_quality_results``."""
        rows = [
            {
                "run_date": self.run_date,
                "suite": r.suite,
                "success": int(r.success),
                "evaluated_expectations": r.evaluated,
                "failed_expectations": len(r.failures),
                "failed_critical": len(r.failed_critical),
                "failed_warning": len(r.failed_warning),
                "failures": "\n".join(f.line for f in r.failures) or None,
                "data_docs_path": self.data_docs_path,
            }
            for r in self.results
        ]
        return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))

    def message(self) -> str:
        """A multi-line summary for the task log and the exception of a failed run."""
        critical, warnings = self.critical_failures, self.warnings
        evaluated = sum(r.evaluated for r in self.results)
        lines = [
            f"Data quality for run date {self.run_date.isoformat()}: "
            f"{len(critical)} critical failure(s), {len(warnings)} warning(s) "
            f"in {len(self.results)} suite(s), {evaluated} expectations evaluated"
        ]
        if critical:
            lines.append("Critical (the run stops):")
            lines.extend(f"  - {f.message}" for f in critical)
        if warnings:
            lines.append("Warnings:")
            lines.extend(f"  - {f.message}" for f in warnings)
        if self.data_docs_path:
            lines.append(f"Data Docs: {self.data_docs_path}")
        return "\n".join(lines)

    def raise_for_critical(self) -> None:
        """Raise :class:`DataQualityError` when any critical expectation failed."""
        if not self.ok:
            raise DataQualityError(self)


class DataQualityError(Exception):
    """A critical data quality failure; ``report`` holds the whole :class:`ValidationReport`."""

    def __init__(self, report: ValidationReport) -> None:
        super().__init__(report.message())
        self.report = report


# --------------------------------------------------------------------------- suites


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


def load_suite(name: str, run_date: dt.date) -> SuiteSpec:
    """The suite ``include/expectations/<name>.json`` for run date ``run_date``."""
    raw = json.loads(_read_suite_file(name))
    meta = raw.get("meta") or {}
    expectations = tuple(_render(e, run_date) for e in raw["expectations"])
    required: tuple[str, ...] = ()
    for exp in expectations:
        if exp["type"] == _COLUMNS_EXPECTATION:
            required = tuple(exp["kwargs"]["column_set"])
        severity = exp.get("severity", CRITICAL)
        if severity not in (CRITICAL, WARNING):
            raise ValueError(f"suite {name}: severity {severity!r} is not critical or warning")
    as_of = meta.get("as_of_query")
    return SuiteSpec(
        name=raw["name"],
        table=meta.get("table", raw["name"]),
        key_columns=tuple(meta.get("key_columns", ())),
        required_columns=required,
        as_of_query=_render(as_of, run_date) if as_of else None,
        notes=raw.get("notes"),
        expectations=expectations,
    )


def _columns_used(expectation: Mapping[str, Any]) -> set[str]:
    kwargs = expectation["kwargs"]
    used = {kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs}
    used.update(kwargs.get("column_list", ()))
    if "column" in (expectation.get("meta") or {}):
        used.add(expectation["meta"]["column"])
    return used


def _mentions(sql: str, name: str) -> bool:
    return re.search(rf"\b{re.escape(name)}\b", sql, flags=re.IGNORECASE) is not None


def _expectation_column(config: Any) -> str | None:
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


# --------------------------------------------------------------------------- formatting


def _fmt(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:g}"
    if isinstance(value, (dt.datetime, pd.Timestamp)):
        return value.isoformat(sep=" ") if value.time() != dt.time() else value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _fmt_row(row: Mapping[str, Any] | Any) -> str:
    if isinstance(row, Mapping):
        return " ".join(f"{k}={_fmt(v)}" for k, v in row.items())
    if isinstance(row, (list, tuple)):
        return "(" + ", ".join(_fmt(v) for v in row) + ")"
    return _fmt(row)


def _rows_text(count: int | None) -> str:
    if count is None:
        return "failed"
    return f"{count} row" if count == 1 else f"{count} rows"


def _failure_message(
    table: str,
    column: str | None,
    expectation: str,
    description: str | None,
    detail: str,
    examples: Sequence[str] = (),
) -> str:
    if column is None:
        where = table
    elif "," in column:
        where = f"{table}({column})"
    else:
        where = f"{table}.{column}"
    rule = f' "{description}"' if description else ""
    text = f"{where} {expectation}{rule}: {detail}"
    if examples:
        text += " (" + ", ".join(examples) + ")"
    return text


def _exception_text(exception_info: Any) -> str | None:
    """The first line of the first exception GX caught for an expectation, if any."""
    infos: Iterable[Any]
    if not exception_info:
        return None
    if isinstance(exception_info, Mapping) and "raised_exception" in exception_info:
        infos = [exception_info]
    elif isinstance(exception_info, Mapping):
        infos = exception_info.values()
    else:
        infos = [exception_info]
    for info in infos:
        raised = info.get("raised_exception") if isinstance(info, Mapping) else None
        if raised:
            message = str(info.get("exception_message") or "unknown error")
            return message.strip().splitlines()[0][:300]
    return None


# --------------------------------------------------------------------------- sources


def _quiet_gx() -> None:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    gx_logger = logging.getLogger("great_expectations")
    if gx_logger.level == logging.NOTSET:
        gx_logger.setLevel(logging.WARNING)


def _make_context(docs_dir: Path | None) -> AbstractDataContext:
    """An in-memory GX context: no files but the Data Docs site, no analytics, no progress bars."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    sites: dict[str, Any] = {}
    if docs_dir is not None:
        sites[_DATA_DOCS_SITE] = {
            "class_name": "SiteBuilder",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(docs_dir),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        data_docs_sites=sites,
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def _add_datasource(context: AbstractDataContext, engine: Engine) -> Any:
    url = engine.url.render_as_string(hide_password=False)
    dialect = engine.dialect.name
    if dialect == "sqlite":
        if engine.url.database in (None, "", ":memory:"):
            raise ValueError(
                "validate_sources needs a file or server database, not in-memory SQLite"
            )
        return context.data_sources.add_sqlite(name="warehouse", connection_string=url)
    if dialect == "postgresql":
        return context.data_sources.add_postgres(name="warehouse", connection_string=url)
    return context.data_sources.add_sql(name="warehouse", connection_string=url)


@dataclass
class _Plan:
    """What can run of a suite, after looking at the table's columns."""

    spec: SuiteSpec
    failures: list[Failure]
    run: list[dict[str, Any]]
    evaluated_outside_gx: int


def _plan_suite(spec: SuiteSpec, tables: Mapping[str, set[str] | None]) -> _Plan:
    """Failures for a missing table or columns, and the expectations that can still run."""
    columns = tables.get(spec.table)
    if columns is None:
        failure = Failure(
            suite=spec.name,
            expectation="expect_table_to_exist",
            column=None,
            severity=CRITICAL,
            unexpected_count=None,
            examples=(),
            message=f"{spec.table}: table not found",
        )
        return _Plan(spec, [failure], [], 1)

    missing = [c for c in spec.required_columns if c.lower() not in columns]
    missing_tables = [t for t, cols in tables.items() if cols is None and t != spec.table]
    run: list[dict[str, Any]] = []
    skipped: dict[str, int] = {c: 0 for c in missing}
    for exp in spec.expectations:
        if exp["type"] == _COLUMNS_EXPECTATION and missing:
            continue  # reported below, one failure per missing column
        sql = str(exp["kwargs"].get("unexpected_rows_query", ""))
        uses = {c for c in missing if c in _columns_used(exp) or (sql and _mentions(sql, c))}
        if uses:
            for c in uses:
                skipped[c] += 1
            continue
        if sql and any(_mentions(sql, t) for t in missing_tables):
            log.info("%s: skipping %s, it reads a missing table", spec.name, exp["type"])
            continue
        run.append(exp)

    failures = [
        Failure(
            suite=spec.name,
            expectation=_COLUMNS_EXPECTATION,
            column=c,
            severity=CRITICAL,
            unexpected_count=None,
            examples=(),
            message=f"{spec.table}: column {c} missing"
            + (f" ({skipped[c]} expectation(s) on it not evaluated)" if skipped[c] else ""),
        )
        for c in missing
    ]
    if spec.as_of_query and any(_mentions(spec.as_of_query, c) for c in missing):
        return _Plan(spec, failures, [], 1)
    return _Plan(spec, failures, run, 1 if missing else 0)


def _example_rows(engine: Engine, spec: SuiteSpec, query: str) -> tuple[str, ...]:
    """Up to MAX_EXAMPLES rows of an unexpected-rows query, run on the same as-of batch."""
    batch = spec.as_of_query or f"SELECT * FROM {spec.table}"
    sql = (
        f"WITH asof_batch AS ({batch}) "
        f"SELECT * FROM ({query.replace('{batch}', 'asof_batch')}) AS unexpected "
        f"LIMIT {MAX_EXAMPLES}"
    )
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(sql)).mappings().all()
    except sa.exc.SQLAlchemyError as exc:
        log.debug("%s: could not fetch example rows: %s", spec.name, exc)
        return ()
    return tuple(_fmt_row(dict(r)) for r in rows)


def _failures_from_result(
    engine: Engine, spec: SuiteSpec, suite_result: Any, run_date: dt.date
) -> list[Failure]:
    failures: list[Failure] = []
    for result in suite_result.results:
        if result.success:
            continue
        config = result.expectation_config
        severity = getattr(config.severity, "value", str(config.severity))
        column = _expectation_column(config)
        details = result.result or {}
        error = _exception_text(result.exception_info)
        count: int | None = None
        examples: tuple[str, ...] = ()
        if error is not None:
            detail = f"could not be evaluated: {error}"
        elif config.type == _UNEXPECTED_ROWS:
            count = int(details.get("observed_value") or 0)
            examples = _example_rows(engine, spec, config.kwargs["unexpected_rows_query"])
            detail = _rows_text(count)
        elif config.type.startswith("expect_table_row_count"):
            count = None
            observed = details.get("observed_value")
            detail = f"{observed} rows as of {run_date.isoformat()}"
        elif "unexpected_count" in details:
            count = int(details["unexpected_count"] or 0)
            index_rows = details.get("partial_unexpected_index_list") or []
            values = details.get("partial_unexpected_list") or []
            examples = tuple(_fmt_row(r) for r in (index_rows or values)[:MAX_EXAMPLES])
            detail = _rows_text(count)
        else:
            detail = f"observed {_fmt_row(details.get('observed_value'))}"
        failures.append(
            Failure(
                suite=spec.name,
                expectation=config.type,
                column=column,
                severity=severity,
                unexpected_count=count,
                examples=examples,
                message=_failure_message(
                    spec.table, column, config.type, config.description, detail, examples
                ),
            )
        )
    return failures


def _run_suite(
    context: AbstractDataContext,
    datasource: Any,
    engine: Engine,
    plan: _Plan,
    run_date: dt.date,
    run_id: Any,
) -> SuiteResult:
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    spec = plan.spec
    failures = list(plan.failures)
    evaluated = plan.evaluated_outside_gx
    if plan.run:
        expectations = []
        for exp in plan.run:
            try:
                expectations.append(ExpectationConfiguration(**exp).to_domain_obj())
            except Exception as exc:  # a malformed suite file is a bug, say where
                raise ValueError(f"suite {spec.name}: invalid expectation {exp}: {exc}") from exc
        index_columns = [c for c in spec.key_columns if c not in {f.column for f in failures}]
        try:
            if spec.as_of_query:
                asset = datasource.add_query_asset(name=spec.name, query=spec.as_of_query)
            else:
                asset = datasource.add_table_asset(name=spec.name, table_name=spec.table)
            batch = asset.add_batch_definition_whole_table(f"as_of_{run_date.isoformat()}")
            suite = context.suites.add(
                gx.ExpectationSuite(
                    name=spec.name,
                    expectations=expectations,
                    notes=spec.notes,
                    meta={"table": spec.table, "run_date": run_date.isoformat()},
                )
            )
            definition = context.validation_definitions.add(
                gx.ValidationDefinition(name=spec.name, data=batch, suite=suite)
            )
            result = definition.run(
                result_format={
                    "result_format": "SUMMARY",
                    "partial_unexpected_count": MAX_EXAMPLES,
                    "unexpected_index_column_names": index_columns,
                },
                run_id=run_id,
            )
        except Exception as exc:  # the batch itself could not be read
            log.warning("%s: validation could not run: %s", spec.name, exc)
            log.debug("%s: validation traceback", spec.name, exc_info=True)
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            failures.append(
                Failure(
                    suite=spec.name,
                    expectation="validation",
                    column=None,
                    severity=CRITICAL,
                    unexpected_count=None,
                    examples=(),
                    message=f"{spec.table}: validation could not run: {first_line}",
                )
            )
            return SuiteResult(spec.name, False, evaluated + 1, tuple(failures))
        evaluated += len(result.results)
        failures.extend(_failures_from_result(engine, spec, result, run_date))
    return SuiteResult(spec.name, not failures, evaluated, tuple(failures))


def _table_columns(engine: Engine, tables: Iterable[str]) -> dict[str, set[str] | None]:
    """Lower-cased column names of each table, None for a table that does not exist."""
    inspector = sa.inspect(engine)
    found: dict[str, set[str] | None] = {}
    for table in tables:
        if inspector.has_table(table):
            found[table] = {str(c["name"]).lower() for c in inspector.get_columns(table)}
        else:
            found[table] = None
    return found


def _prepare_docs_dir(data_docs_dir: str, run_date: dt.date) -> Path:
    """``<data_docs_dir>/<run date>/``, emptied of an earlier build of the same run date."""
    path = Path(data_docs_dir) / run_date.isoformat()
    if (path / "index.html").exists():
        shutil.rmtree(path)  # a re-run replaces its own Data Docs, like its own rows
    path.mkdir(parents=True, exist_ok=True)
    return path


def validate_sources(
    engine: Engine,
    run_date: dt.date,
    data_docs_dir: str | None = None,
) -> ValidationReport:
    """Validate the five source tables as known for run date ``run_date`` (D).

    Runs the suites of ``include/expectations`` in the database behind ``engine``
    (SQLite or PostgreSQL; GX opens its own connection from the same URL). A
    missing table or column, or a value that cannot be evaluated, becomes a
    critical :class:`Failure`, never an exception. With ``data_docs_dir``, GX Data
    Docs (HTML) are built into ``<data_docs_dir>/<D ISO>/`` and the path of their
    ``index.html`` is returned in ``report.data_docs_path``.

    The caller decides what to do: ``report.raise_for_critical()`` stops the run.
    """
    if isinstance(run_date, dt.datetime):
        run_date = run_date.date()
    if not isinstance(run_date, dt.date):
        raise TypeError(f"run_date must be a datetime.date, got {type(run_date).__name__}")
    _quiet_gx()
    specs = [load_suite(name, run_date) for name in SOURCE_SUITES]
    tables = _table_columns(engine, [s.table for s in specs])
    plans = [_plan_suite(s, tables) for s in specs]

    docs_dir = _prepare_docs_dir(data_docs_dir, run_date) if data_docs_dir else None
    context = _make_context(docs_dir)
    results: list[SuiteResult] = []
    if any(p.run for p in plans):
        import great_expectations as gx

        datasource = _add_datasource(context, engine)
        run_id = gx.RunIdentifier(run_name=f"run_date={run_date.isoformat()}")
        for plan in plans:
            results.append(_run_suite(context, datasource, engine, plan, run_date, run_id))
    else:
        results = [
            SuiteResult(p.spec.name, False, p.evaluated_outside_gx, tuple(p.failures))
            for p in plans
        ]

    docs_path: str | None = None
    if docs_dir is not None:
        try:
            context.build_data_docs(site_names=[_DATA_DOCS_SITE])
            index = docs_dir / "index.html"
            docs_path = str(index) if index.exists() else None
        except Exception as exc:  # docs are a convenience: never fail the run for them
            log.warning("Data Docs could not be built in %s: %s", docs_dir, exc)
        if docs_path:
            log.info("Data Docs for %s: %s", run_date.isoformat(), docs_path)

    report = ValidationReport(run_date=run_date, results=tuple(results), data_docs_path=docs_path)
    for r in report.results:
        log.info(
            "suite %s: %d expectations, %d critical and %d warning failure(s)",
            r.suite,
            r.evaluated,
            len(r.failed_critical),
            len(r.failed_warning),
        )
    if report.critical_failures or report.warnings:
        log.warning(
            "data quality for %s: %d critical failure(s), %d warning(s)",
            run_date.isoformat(),
            len(report.critical_failures),
            len(report.warnings),
        )
    return report


# --------------------------------------------------------------------------- outputs


class _Checks:
    """Collects the pandas output checks into a SuiteResult."""

    def __init__(self, suite: str) -> None:
        self.suite = suite
        self.evaluated = 0
        self.failures: list[Failure] = []

    def check(
        self,
        table: str,
        column: str | None,
        name: str,
        rule: str,
        bad: pd.DataFrame,
        example_columns: Sequence[str],
        severity: str = CRITICAL,
    ) -> None:
        self.evaluated += 1
        if bad.empty:
            return
        cols = [c for c in example_columns if c in bad.columns]
        examples = tuple(
            _fmt_row(dict(zip(cols, rec, strict=True)))
            for rec in bad[cols].head(MAX_EXAMPLES).itertuples(index=False, name=None)
        )
        message = _failure_message(table, column, name, rule, _rows_text(len(bad)), examples)
        self.failures.append(
            Failure(self.suite, name, column, severity, len(bad), examples, message)
        )

    def missing(self, table: str, frame: pd.DataFrame, columns: Sequence[str]) -> bool:
        """Report missing columns; True when all are present."""
        self.evaluated += 1
        absent = [c for c in columns if c not in frame.columns]
        for c in absent:
            self.failures.append(
                Failure(
                    self.suite,
                    "expect_table_columns_to_match_set",
                    c,
                    CRITICAL,
                    None,
                    (),
                    f"{table}: column {c} missing",
                )
            )
        return not absent

    def result(self) -> SuiteResult:
        return SuiteResult(self.suite, not self.failures, self.evaluated, tuple(self.failures))


def _numeric(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce").astype("float64")


def validate_outputs(
    forecast: pd.DataFrame,
    orders: pd.DataFrame,
    active_sku_ids: Sequence[str],
    run_date: dt.date,
    horizon_days: int,
) -> SuiteResult:
    """Check the forecast and the order recommendations before they are written (suite "outputs").

    forecast: one row per (sku_id, forecast_date) with yhat, yhat_lower, yhat_upper
    (units/day). orders: one row per SKU with order_qty, pack_size, moq (units).
    All checks are critical: yhat finite and >= 0; yhat_lower <= yhat <= yhat_upper;
    every active SKU forecast for exactly the days D .. D+horizon_days-1; one order
    row per active SKU; order_qty finite, >= 0, a multiple of pack_size and either 0
    or >= moq.
    """
    if isinstance(run_date, dt.datetime):
        run_date = run_date.date()
    checks = _Checks(OUTPUTS_SUITE)
    active = pd.Index(pd.unique(pd.Series(list(active_sku_ids), dtype="object").astype(str)))

    fc_cols = ["sku_id", "forecast_date", "yhat", "yhat_lower", "yhat_upper"]
    if checks.missing("demand_forecast", forecast, fc_cols):
        fc = forecast[fc_cols].copy()
        fc["sku_id"] = fc["sku_id"].astype(str)
        for c in ("yhat", "yhat_lower", "yhat_upper"):
            fc[c] = _numeric(fc[c])
        keys = ["sku_id", "forecast_date"]
        yhat = fc["yhat"].to_numpy()
        checks.check(
            "demand_forecast",
            "yhat",
            "yhat_finite_non_negative",
            "yhat finite and >= 0",
            fc[~(np.isfinite(yhat) & (yhat >= 0))],
            [*keys, "yhat"],
        )
        lo, hi = fc["yhat_lower"].to_numpy(), fc["yhat_upper"].to_numpy()
        inside = (lo <= yhat) & (yhat <= hi)
        checks.check(
            "demand_forecast",
            "yhat",
            "interval_contains_yhat",
            "yhat_lower <= yhat <= yhat_upper",
            fc[~inside],
            [*keys, "yhat_lower", "yhat", "yhat_upper"],
        )
        dates = pd.to_datetime(fc["forecast_date"], errors="coerce").dt.normalize()
        expected = pd.date_range(pd.Timestamp(run_date), periods=horizon_days, freq="D")
        fc["_date"] = dates
        in_horizon = dates.isin(expected)
        checks.check(
            "demand_forecast",
            "forecast_date",
            "forecast_date_in_horizon",
            f"forecast_date in {expected[0].date()} .. {expected[-1].date()}",
            fc[~in_horizon],
            keys,
        )
        per_sku = (
            fc[in_horizon]
            .groupby("sku_id")
            .agg(rows=("_date", "size"), days=("_date", "nunique"))
            .reindex(active, fill_value=0)
        )
        per_sku.index.name = "sku_id"
        bad_days = per_sku[(per_sku["rows"] != horizon_days) | (per_sku["days"] != horizon_days)]
        checks.check(
            "demand_forecast",
            "sku_id",
            "forecast_days_per_active_sku",
            f"every active SKU has exactly {horizon_days} forecast days",
            bad_days.reset_index(),
            ["sku_id", "rows", "days"],
        )

    od_cols = ["sku_id", "order_qty", "pack_size", "moq"]
    if checks.missing("replenishment_orders", orders, od_cols):
        od = orders[od_cols].copy()
        od["sku_id"] = od["sku_id"].astype(str)
        for c in ("order_qty", "pack_size", "moq"):
            od[c] = _numeric(od[c])
        counts = od.groupby("sku_id").size().reindex(active, fill_value=0)
        counts.index.name = "sku_id"
        bad_counts = counts[counts != 1].rename("rows").reset_index()
        checks.check(
            "replenishment_orders",
            "sku_id",
            "one_order_row_per_active_sku",
            "exactly one order row per active SKU",
            bad_counts,
            ["sku_id", "rows"],
        )
        qty = od["order_qty"].to_numpy()
        pack = od["pack_size"].to_numpy()
        moq = od["moq"].to_numpy()
        show = ["sku_id", "order_qty", "pack_size", "moq"]
        checks.check(
            "replenishment_orders",
            "order_qty",
            "order_qty_finite_non_negative",
            "order_qty finite and >= 0",
            od[~(np.isfinite(qty) & (qty >= 0))],
            show,
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            packs = qty / pack
            multiple = np.isfinite(packs) & (pack >= 1) & (np.abs(packs - np.round(packs)) < 1e-6)
        checks.check(
            "replenishment_orders",
            "order_qty",
            "order_qty_multiple_of_pack_size",
            "order_qty a multiple of pack_size (pack_size >= 1)",
            od[~multiple],
            show,
        )
        moq_ok = (qty == 0) | (qty >= np.nan_to_num(moq, nan=np.inf) - 1e-9)
        checks.check(
            "replenishment_orders",
            "order_qty",
            "order_qty_zero_or_at_least_moq",
            "order_qty is 0 or >= moq",
            od[~moq_ok],
            show,
        )

    result = checks.result()
    log.info(
        "outputs: %d checks, %d critical and %d warning failure(s)",
        result.evaluated,
        len(result.failed_critical),
        len(result.failed_warning),
    )
    return result
