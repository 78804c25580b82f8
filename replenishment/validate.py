"""Data quality gates: Great Expectations on the source tables, pandas checks on the outputs.

``validate_sources`` checks the five source tables of the contract *as known for
the run date D* (order lines with ``order_ts < D``, snapshots with
``snapshot_date < D``, purchase orders with ``order_date < D``, all promotions,
all SKUs). The checks run inside the database: one Great Expectations SQL data
source on the warehouse URL, one query asset (history tables) or table asset
(``sku_master``, ``promotions``) per table, so no table is pulled into pandas.

The suites are data, one JSON file per table in ``include/expectations``
(:mod:`replenishment.validate_suites`); the checks GX cannot express (volume
against history, duplicated loads, per-SKU outliers, master data against
receipts) are SQL files of ``include/sql`` that the suites call
(:mod:`replenishment.validate_sql`). Each expectation carries GX's own ``severity``:

- ``critical``: the run must stop (the DAG task fails with :class:`DataQualityError`);
- ``warning``: reported in ``data_quality_results`` and the Data Docs, the run goes on.

``demand_outliers`` lists the SKU-days the outlier rule flags, with the cap the
forecast may clip them to. ``validate_outputs`` checks the forecast and the order
recommendations with pandas before they are written
(:mod:`replenishment.validate_outputs`).

This module is the public interface: every name other code imports lives here.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from replenishment import data_docs
from replenishment.quarantine import failing_sku_ids
from replenishment.validate_outputs import OUTPUTS_SUITE, validate_outputs
from replenishment.validate_results import (
    CRITICAL,
    MAX_EXAMPLES,
    RESULT_COLUMNS,
    WARNING,
    DataQualityError,
    Failure,
    SuiteResult,
    ValidationReport,
    failure_message,
    fmt_row,
    rows_text,
)
from replenishment.validate_sql import run_check, run_date_params
from replenishment.validate_suites import (
    COLUMNS_EXPECTATION,
    EXPECTATIONS_DIR,
    SKU_SCOPE,
    SOURCE_SUITES,
    TABLE_SCOPE,
    UNEXPECTED_ROWS,
    SuiteSpec,
    columns_used,
    expectation_column,
    load_suite,
    mentions,
)

if TYPE_CHECKING:
    from great_expectations.data_context.data_context.abstract_data_context import (
        AbstractDataContext,
    )

__all__ = [
    "CRITICAL",
    "EXPECTATIONS_DIR",
    "MAX_EXAMPLES",
    "OUTLIER_COLUMNS",
    "OUTPUTS_SUITE",
    "RESULT_COLUMNS",
    "SOURCE_SUITES",
    "WARNING",
    "DataQualityError",
    "Failure",
    "SuiteResult",
    "SuiteSpec",
    "ValidationReport",
    "demand_outliers",
    "load_suite",
    "validate_outputs",
    "validate_sources",
]

log = logging.getLogger(__name__)

_DATA_DOCS_SITE = "replenishment"


# --------------------------------------------------------------------------- sources


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
        if exp["type"] == COLUMNS_EXPECTATION and missing:
            continue  # reported below, one failure per missing column
        sql = str(exp["kwargs"].get("unexpected_rows_query", ""))
        uses = {c for c in missing if c in columns_used(exp) or (sql and mentions(sql, c))}
        if uses:
            for c in uses:
                skipped[c] += 1
            continue
        if sql and any(mentions(sql, t) for t in missing_tables):
            log.info("%s: skipping %s, it reads a missing table", spec.name, exp["type"])
            continue
        run.append(exp)

    failures = [
        Failure(
            suite=spec.name,
            expectation=COLUMNS_EXPECTATION,
            column=c,
            severity=CRITICAL,
            unexpected_count=None,
            examples=(),
            message=f"{spec.table}: column {c} missing"
            + (f" ({skipped[c]} expectation(s) on it not evaluated)" if skipped[c] else ""),
        )
        for c in missing
    ]
    if spec.as_of_query and any(mentions(spec.as_of_query, c) for c in missing):
        return _Plan(spec, failures, [], 1)
    return _Plan(spec, failures, run, 1 if missing else 0)


def _failures_from_result(
    engine: Engine, spec: SuiteSpec, suite_result: Any, run_date: dt.date, quarantine: bool
) -> list[Failure]:
    """A Failure per failed expectation; with ``quarantine``, each critical row-level one
    carries every sku_id of its failing rows. An unexpected-rows expectation's examples are
    the first rows its one query returned (:mod:`replenishment.validate_rows`)."""
    from replenishment.validate_rows import suite_type

    failures: list[Failure] = []
    for result in suite_result.results:
        if result.success:
            continue
        config = result.expectation_config
        expectation_type = suite_type(config.type)
        severity = getattr(config.severity, "value", str(config.severity))
        column = expectation_column(config)
        details = result.result or {}
        error = _exception_text(result.exception_info)
        count: int | None = None
        examples: tuple[str, ...] = ()
        if error is not None:
            detail = f"could not be evaluated: {error}"
        elif expectation_type == UNEXPECTED_ROWS:
            count = int(details.get("observed_value") or 0)
            rows = (details.get("details") or {}).get("unexpected_rows") or []
            examples = tuple(fmt_row(dict(r)) for r in rows[:MAX_EXAMPLES])
            detail = rows_text(count)
        elif expectation_type.startswith("expect_table_row_count"):
            count = None
            observed = details.get("observed_value")
            detail = f"{observed} rows as of {run_date.isoformat()}"
        elif "unexpected_count" in details:
            count = int(details["unexpected_count"] or 0)
            index_rows = details.get("partial_unexpected_index_list") or []
            values = details.get("partial_unexpected_list") or []
            examples = tuple(fmt_row(r) for r in (index_rows or values)[:MAX_EXAMPLES])
            detail = rows_text(count)
        else:
            detail = f"observed {fmt_row(details.get('observed_value'))}"
        scope = str((config.meta or {}).get("scope", TABLE_SCOPE))
        sku_ids = None
        if quarantine and severity == CRITICAL and scope == SKU_SCOPE and error is None:
            sku_ids = failing_sku_ids(engine, spec, expectation_type, config.kwargs, count)
        failures.append(
            Failure(
                suite=spec.name,
                expectation=expectation_type,
                column=column,
                severity=severity,
                unexpected_count=count,
                examples=examples,
                message=failure_message(
                    spec.table, column, expectation_type, config.description, detail, examples
                ),
                scope=scope,
                rule=config.description,
                sku_ids=sku_ids,
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
    quarantine: bool = False,
) -> SuiteResult:
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    from replenishment.validate_rows import in_one_query

    spec = plan.spec
    failures = list(plan.failures)
    evaluated = plan.evaluated_outside_gx
    if plan.run:
        expectations = []
        for exp in plan.run:
            try:
                expectations.append(ExpectationConfiguration(**in_one_query(exp)).to_domain_obj())
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
        failures.extend(_failures_from_result(engine, spec, result, run_date, quarantine))
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


def _prepare_docs_dir(data_docs_dir: str, engine: Engine, run_date: dt.date) -> Path:
    """``<data_docs_dir>/<warehouse key>/<run date>/``, emptied of an earlier build of it."""
    path = data_docs.site_dir(data_docs_dir, engine.url, run_date)
    if (path / "index.html").exists():
        shutil.rmtree(path)  # a re-run replaces its own Data Docs, like its own rows
    path.mkdir(parents=True, exist_ok=True)
    return path


def _build_docs(context: AbstractDataContext, docs_dir: Path, run_date: dt.date) -> str | None:
    """Build the Data Docs site, made to open offline; the path of its index.html, if any."""
    docs_path: str | None = None
    try:
        context.build_data_docs(site_names=[_DATA_DOCS_SITE])
        index = docs_dir / "index.html"
        docs_path = str(index) if index.exists() else None
        data_docs.make_offline(docs_dir)
    except data_docs.OfflineDocsError as exc:  # still readable with internet access
        log.warning("%s", exc)
    except Exception as exc:  # docs are a convenience: never fail the run for them
        log.warning("Data Docs could not be built in %s: %s", docs_dir, exc)
    if docs_path:
        log.info("Data Docs for %s: %s", run_date.isoformat(), docs_path)
    return docs_path


def validate_sources(
    engine: Engine,
    run_date: dt.date,
    data_docs_dir: str | None = None,
    holiday_country: str = "US",
    suites: Sequence[str] = SOURCE_SUITES,
    quarantine: bool = False,
) -> ValidationReport:
    """Validate the five source tables as known for run date ``run_date`` (D).

    Runs the suites of ``include/expectations`` in the database behind ``engine``
    (SQLite or PostgreSQL; GX opens its own connection from the same URL). A
    missing table or column, or a value that cannot be evaluated, becomes a
    critical :class:`Failure`, never an exception. With ``data_docs_dir``, GX Data
    Docs (HTML, opening offline: :mod:`replenishment.data_docs`) are built into
    ``<data_docs_dir>/<warehouse key>/<D ISO>/`` and the path of their ``index.html``
    is returned in ``report.data_docs_path``.

    holiday_country (ISO code) names the public holidays the volume rules skip; suites
    (default all five, in order) picks the suites to run. With ``quarantine`` each critical
    row-level failure carries every sku_id of its failing rows (``Failure.sku_ids``, see
    :mod:`replenishment.quarantine`).

    The caller decides what to do: ``report.raise_for_critical()`` stops the run.
    """
    if isinstance(run_date, dt.datetime):
        run_date = run_date.date()
    if not isinstance(run_date, dt.date):
        raise TypeError(f"run_date must be a datetime.date, got {type(run_date).__name__}")
    _quiet_gx()
    specs = [load_suite(name, run_date, holiday_country) for name in suites]
    tables = _table_columns(engine, [s.table for s in specs])
    plans = [_plan_suite(s, tables) for s in specs]

    docs_dir = _prepare_docs_dir(data_docs_dir, engine, run_date) if data_docs_dir else None
    context = _make_context(docs_dir)
    results: list[SuiteResult] = []
    if any(p.run for p in plans):
        import great_expectations as gx

        datasource = _add_datasource(context, engine)
        run_id = gx.RunIdentifier(run_name=f"run_date={run_date.isoformat()}")
        for plan in plans:
            results.append(
                _run_suite(context, datasource, engine, plan, run_date, run_id, quarantine)
            )
    else:
        results = [
            SuiteResult(p.spec.name, False, p.evaluated_outside_gx, tuple(p.failures))
            for p in plans
        ]

    docs_path = _build_docs(context, docs_dir, run_date) if docs_dir is not None else None
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


# --------------------------------------------------------------------------- outliers

#: Columns of :func:`demand_outliers`.
OUTLIER_COLUMNS: tuple[str, ...] = ("sku_id", "date", "value", "cap", "median", "mad")
_OUTLIER_SQL = "select_demand_outliers.sql"


def _outlier_params(suite: str = "order_lines") -> dict[str, Any]:
    """The ``meta.params`` of the suite's outlier expectation (the gate and the list agree)."""
    raw = json.loads((EXPECTATIONS_DIR / f"{suite}.json").read_text())
    for exp in raw["expectations"]:
        meta = exp.get("meta") or {}
        if meta.get("sql_file") == _OUTLIER_SQL:
            return dict(meta.get("params") or {})
    raise ValueError(f"suite {suite} has no expectation on {_OUTLIER_SQL}")


def demand_outliers(engine: Engine, run_date: dt.date, holiday_country: str = "US") -> pd.DataFrame:
    """SKU-days of the history the forecast learns from whose demand is an outlier.

    One row per SKU-day (``OUTLIER_COLUMNS``): sku_id, date (``datetime.date``), value
    (units of lines not cancelled that day), cap (the SKU's robust ceiling, units/day:
    median + k x 1.4826 x MAD of its selling days, at least ``min_multiple`` x median),
    median and mad of those days. The rule and its parameters are those of the
    ``order_lines`` suite's warning (``select_demand_outliers.sql``), over the whole
    measured window (``history_days`` before D) instead of the recent days the gate
    names. The forecast may clip ``value`` to ``cap`` or drop the day.
    """
    params = _outlier_params()
    params["recent_days"] = int(params.get("history_days", 182))
    values = run_date_params(run_date, holiday_country, params)
    frame = run_check(engine, _OUTLIER_SQL, values)
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in OUTLIER_COLUMNS})
    frame = frame.rename(columns={"day": "date"})[list(OUTLIER_COLUMNS)]
    frame["sku_id"] = frame["sku_id"].astype(str)
    frame["date"] = pd.to_datetime(frame["date"].astype(str)).dt.date
    for c in ("value", "cap", "median", "mad"):
        frame[c] = pd.to_numeric(frame[c]).astype("float64")
    log.info("demand outliers before %s: %d SKU-day(s)", run_date.isoformat(), len(frame))
    return frame.sort_values(["sku_id", "date"]).reset_index(drop=True)
