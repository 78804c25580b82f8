"""Results of the data-quality gate: failures, suite results, the report of a run date.

A :class:`Failure` is one failed check with a one-line message naming the table,
the column, the rule, the number of bad rows and up to :data:`MAX_EXAMPLES`
example rows. A :class:`ValidationReport` holds every suite result of one run
date; :meth:`ValidationReport.to_frame` gives the rows of ``data_quality_results``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

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
    #: ``sku`` (row-level: confined to the SKUs of its rows) or ``table`` (see
    #: :data:`replenishment.validate_suites.SKU_SCOPED`).
    scope: str = "table"
    #: The expectation's description (its rule in words), if it has one.
    rule: str | None = None
    #: Every sku_id of the failing rows of a row-level failure, when they were fetched
    #: (``dq_mode = quarantine``); None otherwise.
    sku_ids: tuple[str, ...] | None = None

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


# --------------------------------------------------------------------------- formatting


def fmt_value(value: Any) -> str:
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


def fmt_row(row: Mapping[str, Any] | Any) -> str:
    if isinstance(row, Mapping):
        return " ".join(f"{k}={fmt_value(v)}" for k, v in row.items())
    if isinstance(row, (list, tuple)):
        return "(" + ", ".join(fmt_value(v) for v in row) + ")"
    return fmt_value(row)


def rows_text(count: int | None) -> str:
    if count is None:
        return "failed"
    return f"{count} row" if count == 1 else f"{count} rows"


def failure_message(
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
