"""The gate's unexpected-rows expectations, each query run once instead of up to three times.

Great Expectations 1.24's ``UnexpectedRowsExpectation`` runs its query twice per
validation: once for its first 200 rows (metric ``unexpected_rows_query.table``) and once
more as ``SELECT COUNT(*) FROM (query)`` (``unexpected_rows_query.row_count``). It returns
the rows only under ``result_format`` COMPLETE, which a suite cannot ask for one
expectation alone (the run's format wins, and under COMPLETE every column map expectation
would return all its failing values), so the gate fetched a failure's examples with a
third run. At 10,000 SKUs the SQL checks of ``include/sql`` read millions of order lines
(the per-SKU outlier rule takes seconds per run), so the repeats were most of the gate's
added cost.

:class:`UnexpectedRowsInOneQuery` is the same expectation (the same query and
``{batch}``, success when the query returns no row, GX's result layout) whose one metric
runs the query once, as a materialized common table expression that yields its first
:data:`MAX_ROWS` rows and their total count together. Its result carries the first
``partial_unexpected_count`` rows in ``details.unexpected_rows`` (where GX's COMPLETE
format puts them) under every format but BOOLEAN_ONLY. The suite files keep GX's type,
``unexpected_rows_expectation``; :func:`in_one_query` swaps this class in when a suite is
run, and :func:`suite_type` maps its results back to the suite's type.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import sqlalchemy as sa
from great_expectations.constants import MAX_RESULT_RECORDS
from great_expectations.core.metric_domain_types import MetricDomainTypes
from great_expectations.core.result_format import ResultFormat
from great_expectations.execution_engine.execution_engine import ExecutionEngine
from great_expectations.execution_engine.sqlalchemy_execution_engine import (
    SqlAlchemyExecutionEngine,
)
from great_expectations.expectations.core.unexpected_rows_expectation import (
    UnexpectedRowsExpectation,
)
from great_expectations.expectations.expectation_configuration import parse_result_format
from great_expectations.expectations.metrics.metric_provider import metric_value
from great_expectations.expectations.metrics.query_metric_provider import QueryMetricProvider

from replenishment.validate_suites import UNEXPECTED_ROWS

#: Rows of a query kept by the metric (GX's own cap on the rows a result holds).
MAX_ROWS: int = MAX_RESULT_RECORDS
#: The metric: ``{"rows": first MAX_ROWS rows as dicts, "count": every row}``.
ROWS_AND_COUNT = "unexpected_rows_query.rows_and_count"
#: Column of the total count added to each returned row (and removed from it).
_COUNT_COLUMN = "unexpected_rows_total"
#: The query (GX's, ``{batch}`` substituted) materialized once, read for its first rows and
#: its count. MATERIALIZED keeps PostgreSQL from planning the query for the first rows under
#: the LIMIT (nested loops over window functions took the 10,000-SKU outlier check from 9 s
#: to 248 s); SQLite (3.35+) accepts it too.
_ONE_QUERY = (
    "WITH unexpected AS {materialized}({query}) "
    "SELECT u.*, (SELECT COUNT(*) FROM unexpected) AS unexpected_rows_total "  # _COUNT_COLUMN
    "FROM unexpected AS u LIMIT {limit}"
)
_MATERIALIZING = frozenset({"postgresql", "sqlite"})


def one_query_sql(query: str, dialect: str, limit: int = MAX_ROWS) -> str:
    """``query`` (complete SQL, ``{batch}`` already substituted) wrapped so that one run gives
    its first ``limit`` rows, each with the count of all its rows in ``unexpected_rows_total``.

    >>> one_query_sql("SELECT 1 AS x", "sqlite", 5)
    'WITH unexpected AS MATERIALIZED (SELECT 1 AS x) SELECT u.*, (SELECT COUNT(*) FROM unexpected) AS unexpected_rows_total FROM unexpected AS u LIMIT 5'
    """
    materialized = "MATERIALIZED " if dialect in _MATERIALIZING else ""
    return _ONE_QUERY.format(materialized=materialized, query=query, limit=int(limit))


def split_count(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """The rows without their count column, and the count (0 for no row).

    >>> split_count([{"a": 1, "unexpected_rows_total": 7}])
    ([{'a': 1}], 7)
    """
    count = int(rows[0][_COUNT_COLUMN]) if rows else 0
    return [{k: v for k, v in r.items() if k != _COUNT_COLUMN} for r in rows], count


class UnexpectedRowsQueryRowsAndCount(QueryMetricProvider):
    """First :data:`MAX_ROWS` rows of an unexpected-rows query and their count, in one run."""

    metric_name = ROWS_AND_COUNT
    value_keys = ("unexpected_rows_query",)
    query_param_name: ClassVar[str] = "unexpected_rows_query"

    @metric_value(engine=SqlAlchemyExecutionEngine)
    def _sqlalchemy(
        cls,
        execution_engine: SqlAlchemyExecutionEngine,
        metric_domain_kwargs: dict[str, Any],
        metric_value_kwargs: dict[str, Any],
        metrics: dict[str, Any],
        runtime_configuration: dict[str, Any],
    ) -> dict[str, Any]:
        selectable, _, _ = execution_engine.get_compute_domain(
            metric_domain_kwargs, domain_type=MetricDomainTypes.TABLE
        )
        query = cls._get_substituted_batch_subquery_from_query_and_batch_selectable(
            query=cls._get_query_from_metric_value_kwargs(metric_value_kwargs),
            batch_selectable=selectable,
            execution_engine=execution_engine,
        )
        sql = one_query_sql(query, str(execution_engine.dialect_name))
        result = execution_engine.execute_query(sa.text(sql))
        rows, count = split_count([dict(r._mapping) for r in result.fetchall()])
        return {"rows": rows, "count": count}


class UnexpectedRowsInOneQuery(UnexpectedRowsExpectation):
    """GX's ``UnexpectedRowsExpectation``, its query run once (see the module docstring)."""

    metric_dependencies: ClassVar[tuple[str, ...]] = (ROWS_AND_COUNT,)

    def _validate(
        self,
        metrics: dict[str, Any],
        runtime_configuration: dict[str, Any] | None = None,
        execution_engine: ExecutionEngine[Any] | None = None,
    ) -> dict[str, Any]:
        found = metrics[ROWS_AND_COUNT]
        count = int(found["count"])
        result_format = parse_result_format(self._get_result_format(runtime_configuration))
        if result_format["result_format"] == ResultFormat.BOOLEAN_ONLY:
            return {"success": count == 0}
        rows = list(found["rows"])
        if result_format["result_format"] != ResultFormat.COMPLETE:
            rows = rows[: int(result_format["partial_unexpected_count"])]
        return {
            "success": count == 0,
            "result": {"observed_value": count, "details": {"unexpected_rows": rows}},
        }


#: The type GX gives :class:`UnexpectedRowsInOneQuery` (from its class name).
IN_ONE_QUERY: str = UnexpectedRowsInOneQuery.expectation_type


def in_one_query(expectation: Mapping[str, Any]) -> dict[str, Any]:
    """A suite expectation as it is run: an unexpected-rows one as :class:`UnexpectedRowsInOneQuery`."""
    if expectation["type"] != UNEXPECTED_ROWS:
        return dict(expectation)
    return {**expectation, "type": IN_ONE_QUERY}


def suite_type(expectation_type: str) -> str:
    """The type a result's expectation has in its suite file (undoes :func:`in_one_query`)."""
    return UNEXPECTED_ROWS if expectation_type == IN_ONE_QUERY else expectation_type
