"""A self-contained HTML report of one run, written by the load stage.

Totals, what changed since the previous stored run (orders added, removed and changed,
the biggest forecast changes), the biggest orders with their reasons, forecast accuracy,
data-quality status with a link to the Data Docs, and for the SKUs with the largest
orders a chart of the last 90 days of demand (stock-out days marked) with the forecast
and its interval (:mod:`replenishment.report_chart`). Numbers are written as the
Replenishment page writes them (:mod:`replenishment.order_file`). No scripts, no
network: inline SVG.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import numbers
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from replenishment.order_file import display_reason, format_number, format_reason, format_units
from replenishment.report_changes import RELATIVE_MIN_UNITS, PreviousRun, RunChanges, run_changes
from replenishment.report_chart import COLOURS, chart, daily_actuals

log = logging.getLogger(__name__)

CHARTS = 8
#: Orders listed in the run report (the biggest by value); the heading says when cut.
TOP_ORDERS = 20
#: Days of actual demand before the run date shown in each chart of the run report.
CHART_HISTORY_DAYS = 90
#: Rows of each "what changed" list (the largest changes first); the heading says when cut.
TOP_CHANGES = 5


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _percent(value: Any) -> str:
    """A fraction as the page writes a percentage: 0.234 -> '23.4 %'."""
    text = format_number(value * 100 if _is_number(value) else None, 1)
    return text if text == "–" else f"{text} %"


def _signed(fmt: Callable[[Any], str]) -> Callable[[Any], str]:
    """``fmt`` with a + before a positive number (a change)."""
    return lambda v: ("+" if _is_number(v) and v > 0 else "") + fmt(v)


def _whole(v: Any) -> str:
    return format_number(v, 0)


def _money(v: Any) -> str:
    return format_number(v, 2)


#: Column -> (header as a person reads it, how its cells are written, right-aligned);
#: "{currency}" in a header is the run's currency. A column missing here keeps its name.
COLUMNS: dict[str, tuple[str, Callable[[Any], str], bool]] = {
    "sku_id": ("SKU", str, False),
    "order_qty": ("Order qty", format_units, True),
    "order_packs": ("Packs", _whole, True),
    "order_value": ("Order value ({currency})", _money, True),
    "inventory_position": ("Inventory position", format_units, True),
    "reorder_point": ("Reorder point", format_units, True),
    "order_up_to": ("Order-up-to", format_units, True),
    "expected_receipt_date": ("Expected receipt", lambda v: str(v)[:10], False),
    "reason": ("Reason", format_reason, False),
    "measure": ("Measure", str, False),
    "value": ("Value", str, True),
    "demand_class": ("Demand class", str, False),
    "skus": ("SKUs", _whole, True),
    "wape": ("WAPE", _percent, True),
    "baseline_wape": ("Seasonal-naive WAPE", _percent, True),
    "model": ("Model", str, False),
    "selection": ("Chosen by", str, False),
    "fva": ("Value added", _percent, True),
    "suite": ("Suite", str, False),
    "success": ("Passed", lambda v: "yes" if bool(v) else "no", False),
    "evaluated_expectations": ("Expectations", _whole, True),
    "failed_critical": ("Critical failures", _whole, True),
    "failed_warning": ("Warnings", _whole, True),
    "failures": ("Failures", lambda v: "" if v is None or v != v else str(v), False),
    "previous_qty": ("Order qty before", format_units, True),
    "qty_change": ("Change", _signed(format_units), True),
    "previous_units": ("Forecast before (units)", format_units, True),
    "units": ("Forecast now (units)", format_units, True),
    "units_change": ("Change (units)", _signed(format_units), True),
    "change_pct": ("Change", _signed(_percent), True),
}


_NUM = ' class="num"'


def _table(frame: pd.DataFrame, columns: list[str], currency: str = "USD") -> str:
    """An HTML table of ``columns``: headers and cells as :data:`COLUMNS` writes them
    (escaped), numbers right-aligned (class ``num``)."""
    spec = [COLUMNS.get(c, (c, lambda v: "" if v is None else str(v), False)) for c in columns]
    head = "".join(
        f"<th{_NUM if num else ''}>{html.escape(label.format(currency=currency))}</th>"
        for label, _, num in spec
    )
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td{_NUM if num else ''}>{html.escape(fmt(v))}</td>"
            for (_, fmt, num), v in zip(spec, rec, strict=True)
        )
        + "</tr>"
        for rec in frame[columns].itertuples(index=False, name=None)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _count(n: int, noun: str) -> str:
    """'1 order', '3 orders'."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _cut(noun: str, total: int, shown: int) -> str:
    """'top 5 of 12 <noun>s' when the list is cut, else 'all 3 <noun>s' ('the one <noun>')."""
    if total > shown:
        return f"top {shown} of {_count(total, noun)}"
    return f"the one {noun}" if total == 1 else f"all {_count(total, noun)}"


def _orders_heading(placed: int, shown: int) -> str:
    """'Biggest orders: top 20 of 23 orders' when the table is cut, else all of them."""
    if placed > shown:
        return f"Biggest orders: {_cut('order', placed, shown)}, by value"
    return f"Orders: all {placed}, by value"


def _data_docs_link(quality: pd.DataFrame) -> str:
    """A link to the Data Docs of the run's validation (its path in data_quality_results)."""
    if "data_docs_path" not in quality or not quality["data_docs_path"].notna().any():
        return ""
    uri = html.escape(Path(str(quality["data_docs_path"].dropna().iloc[0])).as_uri())
    return f'<p><a href="{uri}">Data Docs of this validation</a> (every expectation and its result)</p>'


def _charts(
    run_date: dt.date,
    skus: list[str],
    history: pd.DataFrame,
    stockouts: pd.DataFrame,
    forecast: pd.DataFrame,
) -> str:
    """One SVG chart per SKU: the last CHART_HISTORY_DAYS days of demand and the forecast."""
    day = pd.Timestamp(run_date)
    since, end = day - pd.Timedelta(days=CHART_HISTORY_DAYS), day - pd.Timedelta(days=1)
    out = []
    for s in skus:
        actual = daily_actuals(
            history[history["sku_id"] == s], stockouts[stockouts["sku_id"] == s], since, end
        )
        n = int(actual["stockout"].sum())
        note = f" · {n} stock-out day{'s' if n != 1 else ''}" if n else ""
        out.append(chart(s, day, actual, forecast[forecast["sku_id"] == s], note))
    return "".join(out)


def _legend() -> str:
    c = COLOURS
    items = [
        (f"background:{c['actual']}", "actual daily demand"),
        (f"background:{c['fc']}", "forecast"),
        (f"background:{c['band']}", "forecast interval (dashed: upper bound, where clipped at 0)"),
        (f"background:{c['stock']};opacity:.5", "stock-out days (no line: sales censored)"),
    ]
    return (
        '<p class="legend">'
        + "".join(f'<span><i class="sw" style="{style}"></i>{text}</span>' for style, text in items)
        + "</p>"
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


def _models_chosen(accuracy: pd.DataFrame) -> pd.DataFrame:
    """SKUs per forecast model and how it was chosen, with the median holdout WAPE and the
    median forecast value added over seasonal naive (FVA = 1 - wape / baseline_wape)."""
    columns = ["model", "selection", "skus", "wape", "fva"]
    if not len(accuracy) or "selection" not in accuracy:
        return pd.DataFrame(columns=columns)
    g = accuracy.groupby(["model", "selection"], dropna=False)
    out = g.agg(skus=("sku_id", "size"), wape=("wape", "median"), fva=("fva", "median"))
    return out.reset_index().sort_values("skus", ascending=False)[columns]


def _totals(summary: dict[str, Any], currency: str) -> pd.DataFrame:
    """The run's headline numbers as (measure, value) rows, written as text."""
    g = summary.get
    models = " / ".join(
        _whole(g(k) or 0)
        for k in ("skus_prophet", "skus_intermittent", "skus_challenger", "skus_fallback")
    )
    return pd.DataFrame(
        [
            ("SKUs forecast", _whole(g("skus_total"))),
            ("using Prophet / an intermittent method / won on the backtest / fallback", models),
            ("SKUs whose model failed (fell back)", _whole(g("skus_failed"))),
            ("SKUs quarantined by data quality (no order)", _whole(g("skus_quarantined") or 0)),
            ("Orders recommended", _whole(g("orders_placed"))),
            (f"Order value at unit cost ({currency})", _money(g("order_value"))),
            (
                "Backtest WAPE / seasonal-naive",
                f"{_percent(g('wape'))} / {_percent(g('baseline_wape'))}",
            ),
        ],
        columns=["measure", "value"],
    )


#: The lists of the "what changed" section: title, field of RunChanges, columns.
CHANGE_LISTS = [
    ("Orders added (ordered now, not then)", "added", ["sku_id", "order_qty", "order_value"]),
    ("Orders removed (ordered then, not now)", "removed", ["sku_id", "previous_qty"]),
    (
        "Order quantity changed most",
        "qty_changed",
        ["sku_id", "previous_qty", "order_qty", "qty_change"],
    ),
    (
        "Biggest forecast changes, in units",
        "forecast",
        ["sku_id", "previous_units", "units", "units_change", "change_pct"],
    ),
    (
        f"Biggest forecast changes, relative (SKUs forecast at least "
        f"{format_units(RELATIVE_MIN_UNITS)} units before)",
        "relative",
        ["sku_id", "previous_units", "units", "units_change", "change_pct"],
    ),
]


def _changes_html(c: RunChanges, currency: str) -> str:
    """The "what changed since the previous run" section."""
    if c.previous.error:
        return (
            '<p class="warn">The previous run could not be read, so nothing is compared '
            f"(the load went on): {html.escape(c.previous.error)}</p>"
        )
    if c.previous.run_date is None:
        return "<p>First run: nothing to compare (no run stored before this run date).</p>"
    span = f" ({c.forecast_days[0]} .. {c.forecast_days[-1]})" if c.forecast_days else ""
    parts = [
        f"<p>Compared with the run of {c.previous.run_date.isoformat()}: "
        f"{_count(len(c.added), 'order')} added, {len(c.removed)} removed, "
        f"{len(c.qty_changed)} with another quantity; forecasts compared over the "
        f"{_count(len(c.forecast_days), 'day')} both runs forecast{span}.</p>"
    ]
    for title, name, columns in CHANGE_LISTS:
        frame = getattr(c, name)
        if len(frame):
            shown = min(len(frame), TOP_CHANGES)
            parts.append(f"<h3>{title}: {_cut('SKU', len(frame), shown)}</h3>")
            parts.append(_table(frame.head(TOP_CHANGES), columns, currency))
    return "".join(parts)


ORDER_COLUMNS = [
    "sku_id",
    "order_qty",
    "order_packs",
    "order_value",
    "inventory_position",
    "reorder_point",
    "order_up_to",
    "expected_receipt_date",
    "reason",
]
QUALITY_COLUMNS = [
    "suite",
    "success",
    "evaluated_expectations",
    "failed_critical",
    "failed_warning",
    "failures",
]
STYLE = f"""
body {{ font: 14px/1.45 system-ui, sans-serif; margin: 2rem; color: #1f2937; }}
table {{ border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem;
         font-variant-numeric: tabular-nums; }}
th, td {{ border-bottom: 1px solid {COLOURS["line"]}; padding: 0.25rem 0.5rem; text-align: left; }}
th {{ background: #f3f4f6; }}
td.num, th.num {{ text-align: right; white-space: nowrap; }}
h3 {{ font-size: 1rem; margin: 1rem 0 0.25rem; }}
.warn {{ color: #b45309; }}
.legend span {{ margin-right: 1rem; color: {COLOURS["muted"]}; font-size: 0.85rem; }}
.sw {{ display: inline-block; width: 14px; height: 10px; margin-right: 4px; vertical-align: middle; }}
figure {{ display: inline-block; margin: 0.5rem; }}
svg text {{ font-size: 11px; fill: {COLOURS["muted"]}; }}
"""


def write_report(
    directory: Path,
    run_date: dt.date,
    summary: dict[str, Any],
    forecast: pd.DataFrame,
    orders: pd.DataFrame,
    accuracy: pd.DataFrame,
    quality: pd.DataFrame,
    history: pd.DataFrame,
    *,
    stockouts: pd.DataFrame | None = None,
    previous: PreviousRun | None = None,
    currency: str = "USD",
) -> Path:
    """Write ``<directory>/<run_date>.html`` and return its path.

    history: sku_id, ds, y (daily demand) for at least the SKUs charted; stockouts:
    sku_id, ds of stock-out days (none if not given); previous: the run compared with
    (:func:`read_previous_run`; None: first run); currency: ISO 4217 code of order values.
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{run_date.isoformat()}.html"
    placed = orders[orders["order_qty"] > 0].sort_values("order_value", ascending=False)
    pack = placed["pack_size"] if "pack_size" in placed else pd.Series(None, index=placed.index)
    placed = placed.assign(
        reason=[display_reason(r, p) for r, p in zip(placed["reason"], pack, strict=True)]
    )
    stockouts = pd.DataFrame(columns=["sku_id", "ds"]) if stockouts is None else stockouts
    charts = _charts(run_date, placed.head(CHARTS)["sku_id"].tolist(), history, stockouts, forecast)
    changes = _changes_html(run_changes(orders, forecast, previous or PreviousRun()), currency)
    quality_cols = [c for c in QUALITY_COLUMNS if c in quality.columns]
    day = run_date.isoformat()
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Replenishment run {day}</title>
<style>{STYLE}</style></head><body>
<h1>Replenishment run {day}</h1>
<h2>Totals</h2>{_table(_totals(summary, currency), ["measure", "value"], currency)}
<h2>What changed since the previous run</h2>{changes}
<h2>{_orders_heading(len(placed), min(len(placed), TOP_ORDERS))}</h2>{_table(placed.head(TOP_ORDERS), ORDER_COLUMNS, currency)}
<h2>Demand and forecast of the largest orders</h2>
<p>The last {CHART_HISTORY_DAYS} days of actual demand before the run date, and the forecast.</p>
{_legend()}{charts}
<h2>Forecast accuracy (holdout backtest of the SKUs backtested in this run)</h2>{_table(_accuracy_by_class(accuracy), ["demand_class", "skus", "wape", "baseline_wape"], currency)}
<h2>Forecast models (chosen per SKU on the holdout; median WAPE and value added over seasonal naive)</h2>{_table(_models_chosen(accuracy), ["model", "selection", "skus", "wape", "fva"], currency)}
<h2>Data quality</h2>{_data_docs_link(quality)}{_table(quality, quality_cols, currency)}
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
