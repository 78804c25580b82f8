"""A self-contained HTML report of one run, written by the load stage.

Totals, the biggest orders with their reasons, forecast accuracy, data-quality
status, and for the SKUs with the largest orders a chart of the last 90 days of
demand with the forecast and its interval. No scripts, no network: inline SVG.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

CHARTS = 8
#: Orders listed in the run report (the biggest by value); the heading says when cut.
TOP_ORDERS = 20
#: Days of actual demand before the run date shown in each chart of the run report.
CHART_HISTORY_DAYS = 90


def _esc(value: Any) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return ""
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() else f"{value:,.2f}"
    return html.escape(str(value))


#: Column -> header as a person reads it (a column missing here keeps its name).
LABELS = {
    "sku_id": "SKU",
    "order_qty": "Order qty",
    "order_packs": "Packs",
    "order_value": "Value",
    "inventory_position": "Inventory position",
    "reorder_point": "Reorder point",
    "order_up_to": "Order-up-to",
    "expected_receipt_date": "Expected receipt",
    "reason": "Reason",
    "measure": "Measure",
    "value": "Value",
    "demand_class": "Demand class",
    "skus": "SKUs",
    "wape": "WAPE",
    "baseline_wape": "Seasonal-naive WAPE",
    "suite": "Suite",
    "success": "Passed",
    "evaluated_expectations": "Expectations",
    "failed_critical": "Critical failures",
    "failed_warning": "Warnings",
    "failures": "Failures",
}


def _cell(value: Any) -> str:
    """A table cell; numbers are right-aligned (class ``num``)."""
    number = isinstance(value, int | float | np.number) and not isinstance(value, bool)
    return f'<td class="num">{_esc(value)}</td>' if number else f"<td>{_esc(value)}</td>"


def _table(frame: pd.DataFrame, columns: list[str]) -> str:
    head = "".join(f"<th>{html.escape(LABELS.get(c, c))}</th>" for c in columns)
    rows = "".join(
        "<tr>" + "".join(_cell(v) for v in rec) + "</tr>"
        for rec in frame[columns].itertuples(index=False, name=None)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _orders_heading(placed: int, shown: int) -> str:
    """'Biggest orders: top 20 of 23 orders' when the table is cut, else all of them."""
    if placed > shown:
        return f"Biggest orders: top {shown} of {placed} orders, by value"
    return f"Orders: all {placed}, by value"


def _data_docs_link(quality: pd.DataFrame) -> str:
    """A link to the Data Docs of the run's validation (its path in data_quality_results)."""
    if "data_docs_path" not in quality or not quality["data_docs_path"].notna().any():
        return ""
    uri = html.escape(Path(str(quality["data_docs_path"].dropna().iloc[0])).as_uri())
    return f'<p><a href="{uri}">Data Docs of this validation</a> (every expectation and its result)</p>'


def _chart(sku_id: str, history: pd.DataFrame, forecast: pd.DataFrame) -> str:
    """Inline SVG: actual daily demand (line), forecast (line) and its interval (band)."""
    w, h, pad = 640, 180, 30
    hist = history.sort_values("ds")
    fc = forecast.sort_values("forecast_date")
    days = list(pd.to_datetime(hist["ds"])) + list(pd.to_datetime(fc["forecast_date"]))
    if not days:
        return ""
    start, end = min(days), max(days)
    span = max((end - start).days, 1)
    top = max(float(hist["y"].max()) if len(hist) else 0.0, float(fc["yhat_upper"].max()), 1.0)

    def x(d: Any) -> float:
        return float(pad + (pd.Timestamp(d) - start).days / span * (w - 2 * pad))

    def y(v: float) -> float:
        return h - pad - float(v) / top * (h - 2 * pad)

    band = " ".join(
        f"{x(d):.1f},{y(u):.1f}" for d, u in zip(fc["forecast_date"], fc["yhat_upper"], strict=True)
    )
    band += " " + " ".join(
        f"{x(d):.1f},{y(lo):.1f}"
        for d, lo in zip(fc["forecast_date"][::-1], fc["yhat_lower"][::-1], strict=True)
    )
    actual = " ".join(f"{x(d):.1f},{y(v):.1f}" for d, v in zip(hist["ds"], hist["y"], strict=True))
    yhat = " ".join(
        f"{x(d):.1f},{y(v):.1f}" for d, v in zip(fc["forecast_date"], fc["yhat"], strict=True)
    )
    return (
        f"<figure><figcaption>{html.escape(sku_id)}</figcaption>"
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" '
        f'aria-label="demand and forecast of {html.escape(sku_id)}">'
        f'<polygon points="{band}" fill="#9ecae1" opacity="0.5"/>'
        f'<polyline points="{actual}" fill="none" stroke="#444" stroke-width="1"/>'
        f'<polyline points="{yhat}" fill="none" stroke="#08519c" stroke-width="2"/>'
        f'<text x="{pad}" y="14" font-size="11">max {top:,.0f} units/day</text>'
        "</svg></figure>"
    )


def _charts(
    run_date: dt.date, skus: list[str], history: pd.DataFrame, forecast: pd.DataFrame
) -> str:
    """One SVG chart per SKU: the last CHART_HISTORY_DAYS days of demand and the forecast."""
    since = pd.Timestamp(run_date) - pd.Timedelta(days=CHART_HISTORY_DAYS)
    return "".join(
        _chart(
            s,
            history[(history["sku_id"] == s) & (pd.to_datetime(history["ds"]) >= since)],
            forecast[forecast["sku_id"] == s],
        )
        for s in skus
    )


def _accuracy_by_class(accuracy: pd.DataFrame) -> pd.DataFrame:
    """Backtested SKUs, WAPE and seasonal-naive WAPE (weighted by actual units) per class."""
    scored = accuracy.dropna(subset=["wape"])
    if not len(scored):
        return pd.DataFrame(columns=["demand_class", "skus", "wape", "baseline_wape"])
    return (
        scored.groupby("demand_class")
        .apply(
            lambda g: pd.Series(
                {
                    "skus": len(g),
                    "wape": (g["wape"] * g["actual_units"]).sum()
                    / max(g["actual_units"].sum(), 1e-9),
                    "baseline_wape": (g["baseline_wape"] * g["actual_units"]).sum()
                    / max(g["actual_units"].sum(), 1e-9),
                }
            ),
            include_groups=False,
        )
        .reset_index()
    )


def _totals(summary: dict[str, Any]) -> pd.DataFrame:
    """The run's headline numbers as (measure, value) rows."""
    return pd.DataFrame(
        [
            ("SKUs forecast", summary.get("skus_total")),
            (
                "by Prophet / SBA / fallback",
                f"{summary.get('skus_prophet')} / {summary.get('skus_intermittent')} / {summary.get('skus_fallback')}",
            ),
            ("SKUs whose model failed (fell back)", summary.get("skus_failed")),
            ("SKUs quarantined by data quality (no order)", summary.get("skus_quarantined") or 0),
            ("orders recommended", summary.get("orders_placed")),
            ("order value at unit cost", summary.get("order_value")),
            (
                "backtest WAPE / seasonal-naive",
                f"{_esc(summary.get('wape'))} / {_esc(summary.get('baseline_wape'))}",
            ),
        ],
        columns=["measure", "value"],
    )


def write_report(
    directory: Path,
    run_date: dt.date,
    summary: dict[str, Any],
    forecast: pd.DataFrame,
    orders: pd.DataFrame,
    accuracy: pd.DataFrame,
    quality: pd.DataFrame,
    history: pd.DataFrame,
) -> Path:
    """Write ``<directory>/<run_date>.html`` and return its path.

    history: sku_id, ds, y (daily demand) for at least the SKUs charted.
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{run_date.isoformat()}.html"
    placed = orders[orders["order_qty"] > 0].sort_values("order_value", ascending=False)
    charts = _charts(run_date, placed.head(CHARTS)["sku_id"].tolist(), history, forecast)
    by_class = _accuracy_by_class(accuracy)
    totals = _totals(summary)
    quality_cols = [
        "suite",
        "success",
        "evaluated_expectations",
        "failed_critical",
        "failed_warning",
        "failures",
    ]
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Replenishment run {run_date.isoformat()}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }}
th, td {{ border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; }}
th {{ background: #f3f3f3; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
td:last-child {{ min-width: 22rem; }}
figure {{ display: inline-block; margin: 0.5rem; }}
</style></head><body>
<h1>Replenishment run {run_date.isoformat()}</h1>
<h2>Totals</h2>{_table(totals, ["measure", "value"])}
<h2>{_orders_heading(len(placed), min(len(placed), TOP_ORDERS))}</h2>{_table(placed.head(TOP_ORDERS), ["sku_id", "order_qty", "order_packs", "order_value", "inventory_position", "reorder_point", "order_up_to", "expected_receipt_date", "reason"])}
<h2>Demand and forecast of the largest orders</h2>
<p>Grey: actual daily demand over the last {CHART_HISTORY_DAYS} days; blue: forecast and its interval.</p>
{charts}
<h2>Forecast accuracy (holdout backtest of the SKUs backtested in this run)</h2>{_table(by_class, ["demand_class", "skus", "wape", "baseline_wape"])}
<h2>Data quality</h2>{_data_docs_link(quality)}{_table(quality, [c for c in quality_cols if c in quality.columns])}
</body></html>
"""
    path.write_text(body, encoding="utf-8")
    log.info("run report: %s", path)
    return path


def write_blocked_report(
    directory: Path,
    run_date: dt.date,
    reason: str,
    quality: pd.DataFrame,
    data_docs_path: str | None,
) -> Path:
    """Write ``<directory>/<run_date>.html`` for a run the data-quality gate stopped.

    What failed (each suite's failures with their example rows), the Data Docs link,
    and what to do. reason: the gate's message; quality: the run's
    ``data_quality_results`` rows (suite, failed_critical, failed_warning, failures).
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{run_date.isoformat()}.html"
    failing = quality[quality["failed_critical"].astype(int) > 0] if len(quality) else quality
    items = "".join(
        f"<li><b>{html.escape(str(r.suite))}</b>: {int(r.failed_critical)} critical failure(s)"
        "<ul>"
        + "".join(
            f"<li>{html.escape(line)}</li>" for line in str(r.failures or "").splitlines() if line
        )
        + "</ul></li>"
        for r in failing.itertuples(index=False)
    )
    docs = (
        f'<p><a href="{html.escape(Path(data_docs_path).as_uri())}">Data Docs of this validation</a>'
        " (every expectation, with the unexpected values)</p>"
        if data_docs_path
        else ""
    )
    day = run_date.isoformat()
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Replenishment run {day}: blocked</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
.blocked {{ color: #a50f15; }}
li {{ margin: 0.2rem 0; }}
pre {{ background: #f6f6f6; padding: 0.5rem; white-space: pre-wrap; }}
</style></head><body>
<h1>Replenishment run {day}: <span class="blocked">blocked by data quality</span></h1>
<p>A critical expectation failed, so nothing was forecast and no order was recommended for
{day}. The reporting tables keep what an earlier run of {day} loaded, if any; only
<code>pipeline_runs</code> and <code>data_quality_results</code> of {day} record this run.</p>
<h2>What failed</h2><ul>{items}</ul>
{docs}
<h2>What to do</h2>
<ol>
<li>Fix or remove the rows named above in the source tables (they name the table, the
column, the rule and example rows by key).</li>
<li>Run {day} again: in Airflow, <i>Clear</i> the run's <code>validate</code> task (or
<code>airflow dags test replenishment_daily {day}</code>); from a terminal,
<code>replenishment run --date {day} --url …</code>.</li>
</ol>
<h2>The gate's message</h2><pre>{html.escape(reason)}</pre>
</body></html>
"""
    path.write_text(body, encoding="utf-8")
    log.info("run report of the blocked run %s: %s", day, path)
    return path
