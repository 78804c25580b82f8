"""The "outputs" gate: pandas checks on the forecast and the orders before they are written.

Every check is critical: a run whose outputs break the contract writes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from replenishment.validate_results import (
    CRITICAL,
    MAX_EXAMPLES,
    Failure,
    SuiteResult,
    failure_message,
    fmt_row,
    rows_text,
)

log = logging.getLogger(__name__)

OUTPUTS_SUITE = "outputs"


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
            fmt_row(dict(zip(cols, rec, strict=True)))
            for rec in bad[cols].head(MAX_EXAMPLES).itertuples(index=False, name=None)
        )
        message = failure_message(table, column, name, rule, rows_text(len(bad)), examples)
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


def _check_forecast(
    checks: _Checks, forecast: pd.DataFrame, active: pd.Index, run_date: dt.date, horizon_days: int
) -> None:
    """The demand_forecast checks (see :func:`validate_outputs`)."""
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


def _check_orders(checks: _Checks, orders: pd.DataFrame, active: pd.Index) -> None:
    """The replenishment_orders checks (see :func:`validate_outputs`)."""
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


def validate_outputs(
    forecast: pd.DataFrame,
    orders: pd.DataFrame,
    active_sku_ids: Sequence[str],
    run_date: dt.date,
    horizon_days: int,
    quarantined: Sequence[str] = (),
) -> SuiteResult:
    """Check the forecast and the order recommendations before they are written (suite "outputs").

    forecast: one row per (sku_id, forecast_date) with yhat, yhat_lower, yhat_upper
    (units/day). orders: one row per SKU with order_qty, pack_size, moq (units).
    All checks are critical: yhat finite and >= 0; yhat_lower <= yhat <= yhat_upper;
    every active SKU forecast for exactly the days D .. D+horizon_days-1; one order
    row per active SKU; order_qty finite, >= 0, a multiple of pack_size and either 0
    or >= moq. ``quarantined``: active SKUs the data-quality gate left out (``dq_mode =
    quarantine``): they have an order row with order_qty = 0 and no forecast.
    """
    if isinstance(run_date, dt.datetime):
        run_date = run_date.date()
    checks = _Checks(OUTPUTS_SUITE)
    active = pd.Index(pd.unique(pd.Series(list(active_sku_ids), dtype="object").astype(str)))

    held = pd.Index(pd.unique(pd.Series(list(quarantined), dtype="object").astype(str)))
    _check_forecast(checks, forecast, active.difference(held, sort=False), run_date, horizon_days)
    _check_orders(checks, orders, active)
    if len(held):
        rows = orders[orders["sku_id"].astype(str).isin(held)]
        checks.check(
            "replenishment_orders",
            "order_qty",
            "quarantined_sku_not_ordered",
            "a quarantined SKU has order_qty = 0",
            rows[_numeric(rows["order_qty"]).fillna(1.0) != 0],
            ["sku_id", "order_qty"],
        )

    result = checks.result()
    log.info(
        "outputs: %d checks, %d critical and %d warning failure(s)",
        result.evaluated,
        len(result.failed_critical),
        len(result.failed_warning),
    )
    return result
