"""Airflow plugin: the "Replenishment" page of the Airflow UI, for planners.

A small FastAPI app, mounted by the api-server under ``/replenishment`` and shown in
the UI's navigation (``external_views``), where a planner picks a run date and a
SKU and sees

* the last 120 days of actual daily demand, the forecast with its
  ``yhat_lower``/``yhat_upper`` band, promotion days shaded and stock-out days marked;
* that SKU's order recommendation and why (its ``replenishment_orders`` row);
* the run's orders (``order_qty > 0``), with CSV downloads of ``replenishment_orders``.

Everything is read from the warehouse through the Airflow connection ``warehouse``
(the same URL the DAG uses) with SQLAlchemy, on SQLite or PostgreSQL. Actual demand,
stock-out days and promotions come from the project's own ``include/sql/extract_*.sql``,
so a warehouse mapped by editing that SQL is read the same way here. The page is
self-contained (inline CSS, JavaScript and SVG; no CDN, no network fetch but its own
JSON endpoints).

Under the api-server every endpoint but the static page requires an Airflow login
allowed to read the DAG ``replenishment_daily`` (the UI's session cookie or a bearer
token). The scheduler and the dag-processor load plugins too, so nothing heavy
(FastAPI, SQLAlchemy, pandas, the core package) is imported until the api-server
asks for the app.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import math
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from airflow.plugins_manager import AirflowPlugin

if TYPE_CHECKING:
    from fastapi import FastAPI
    from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

URL_PREFIX = "/replenishment"
DAG_ID = "replenishment_daily"
WAREHOUSE_CONN_ID = "warehouse"
#: Days of actual demand shown before the run date.
HISTORY_DAYS = 120


# --------------------------------------------------------------------------- warehouse


def warehouse_url(conn_id: str = WAREHOUSE_CONN_ID) -> str:
    """SQLAlchemy URL of the Airflow connection ``conn_id``, built as the DAG builds it."""
    from airflow.models.connection import Connection

    from replenishment.db import connection_url

    return connection_url(Connection.get_connection_from_secrets(conn_id))


class _Warehouse:
    """One engine per warehouse URL; the URL is looked up again on every request."""

    def __init__(self, url: str | Callable[[], str], schema: str | None) -> None:
        self._url = url
        self._schema = schema
        self._engines: dict[str, Engine] = {}
        self._lock = threading.Lock()

    @property
    def schema(self) -> str:
        if self._schema is None:
            from replenishment.config import Settings

            self._schema = Settings.load().reporting_schema
        return self._schema

    def engine(self) -> Engine:
        from replenishment.db import make_engine

        url = self._url() if callable(self._url) else self._url
        with self._lock:
            if url not in self._engines:
                self._engines[url] = make_engine(url)
            return self._engines[url]

    def dispose(self) -> None:
        with self._lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()


# --------------------------------------------------------------------------- queries


def _plain(value: Any) -> Any:
    """A JSON-ready value: ISO dates, floats for decimals, None for NaN."""
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _day(value: Any) -> str:
    """A date column as ``YYYY-MM-DD`` (SQLite gives text, PostgreSQL dates)."""
    return value.isoformat()[:10] if isinstance(value, dt.date) else str(value)[:10]


def _rows(conn: Any, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    import sqlalchemy as sa

    bound = {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in (params or {}).items()}
    result = conn.execute(sa.text(sql), bound).mappings()
    return [{k: _plain(v) for k, v in row.items()} for row in result]


def _extract_sql(name: str, alias: str = "q") -> str:
    """The project's extract query ``include/sql/<name>``, as a subquery named ``alias``."""
    from replenishment.db import sql_text, strip_comments

    return f"({strip_comments(sql_text(name))}) {alias}"


def run_dates(conn: Any, prefix: str) -> list[str]:
    """Run dates with recommendations, newest first (none before the first load)."""
    from replenishment.db import table_exists

    if not table_exists(conn, "replenishment_orders", schema=prefix.rstrip(".") or None):
        return []
    # one primary-key probe per run date (each the latest before the previous one), where
    # SELECT DISTINCT would read a row per SKU and run: 3.5 M on a year of 10,000 SKUs
    rows = _rows(
        conn,
        f"""
        WITH RECURSIVE d (run_date) AS (
            SELECT MAX(run_date) FROM {prefix}replenishment_orders
            UNION ALL
            SELECT (SELECT MAX(o.run_date) FROM {prefix}replenishment_orders o
                    WHERE o.run_date < d.run_date)
            FROM d
            WHERE d.run_date IS NOT NULL
        )
        SELECT run_date FROM d WHERE run_date IS NOT NULL ORDER BY run_date DESC
        """,
    )
    return [_day(r["run_date"]) for r in rows]


def run_summary(conn: Any, prefix: str, run_date: dt.date) -> dict[str, Any] | None:
    rows = _rows(
        conn,
        f"SELECT * FROM {prefix}pipeline_runs WHERE run_date = :run_date",
        {"run_date": run_date},
    )
    return rows[0] if rows else None


def order_rows(
    conn: Any, prefix: str, run_date: dt.date, placed_only: bool = False
) -> list[dict[str, Any]]:
    """``replenishment_orders`` of the run date with the SKU's description and category."""
    where = " AND o.order_qty > 0" if placed_only else ""
    return _rows(
        conn,
        f"""
        SELECT o.*, m.description, m.category
        FROM {prefix}replenishment_orders o
        LEFT JOIN {_extract_sql("extract_sku_master.sql", "m")} ON m.sku_id = o.sku_id
        WHERE o.run_date = :run_date{where}
        ORDER BY o.sku_id
        """,
        {"run_date": run_date},
    )


def sku_series(
    conn: Any, prefix: str, run_date: dt.date, sku_id: str, history_days: int = HISTORY_DAYS
) -> dict[str, Any] | None:
    """What the page charts for one SKU and run date; None when the run has no such SKU."""
    params: dict[str, Any] = {"run_date": run_date, "sku_id": sku_id}
    orders = _rows(
        conn,
        f"SELECT * FROM {prefix}replenishment_orders WHERE run_date = :run_date AND sku_id = :sku_id",
        params,
    )
    if not orders:
        return None
    forecast = _rows(
        conn,
        f"""
        SELECT forecast_date, yhat, yhat_lower, yhat_upper, promo, model
        FROM {prefix}demand_forecast
        WHERE run_date = :run_date AND sku_id = :sku_id
        ORDER BY forecast_date
        """,
        params,
    )
    for row in forecast:
        row["forecast_date"] = _day(row["forecast_date"])
    start = run_date - dt.timedelta(days=history_days)
    horizon_end = dt.date.fromisoformat(forecast[-1]["forecast_date"]) if forecast else run_date
    window = {**params, "history_start": start, "horizon_end": horizon_end}
    demand = {
        _day(r["ds"]): float(r["y"] or 0)
        for r in _rows(
            conn,
            f"SELECT ds, y FROM {_extract_sql('extract_daily_demand.sql')} WHERE q.sku_id = :sku_id",
            window,
        )
    }
    stockouts = {
        _day(r["ds"])
        for r in _rows(
            conn,
            f"SELECT ds FROM {_extract_sql('extract_stockout_days.sql')} WHERE q.sku_id = :sku_id",
            window,
        )
    }
    promotions = _rows(
        conn,
        f"""
        SELECT promo_id, start_date, end_date, discount_pct
        FROM {_extract_sql("extract_promotions.sql")}
        WHERE q.sku_id = :sku_id
        ORDER BY start_date
        """,
        window,
    )
    for row in promotions:
        row["start_date"], row["end_date"] = _day(row["start_date"]), _day(row["end_date"])
    sku = _rows(
        conn,
        f"SELECT * FROM {_extract_sql('extract_sku_master.sql')} WHERE q.sku_id = :sku_id",
        params,
    )
    observed = sorted(set(demand) | stockouts)
    first = max(start, dt.date.fromisoformat(observed[0])) if observed else start
    actual = []
    day = first
    while day < run_date:
        key = day.isoformat()
        actual.append({"date": key, "units": demand.get(key, 0.0), "stockout": key in stockouts})
        day += dt.timedelta(days=1)
    order = orders[0]
    for col in ("run_date", "expected_receipt_date"):
        order[col] = _day(order[col])
    return {
        "run_date": run_date.isoformat(),
        "sku_id": sku_id,
        "sku": sku[0] if sku else None,
        "history_start": start.isoformat(),
        "actual": actual,
        "forecast": forecast,
        "promotions": promotions,
        "order": order,
    }


# --------------------------------------------------------------------------- the app


def create_app(
    warehouse: str | Callable[[], str] | None = None,
    reporting_schema: str | None = None,
    require_auth: bool = False,
) -> FastAPI:
    """The Replenishment app.

    warehouse: SQLAlchemy URL, or a function returning it (default: the Airflow
    connection ``warehouse``, looked up on every request). reporting_schema: schema of
    the output tables (default: ``Settings.load().reporting_schema``). require_auth:
    require an Airflow user allowed to read the DAG (set when mounted by the api-server).
    """
    from fastapi import Depends, FastAPI, HTTPException
    from fastapi.responses import HTMLResponse, JSONResponse, Response

    from replenishment.db import schema_prefix

    source = _Warehouse(warehouse or warehouse_url, reporting_schema)
    dependencies = [Depends(_authorize_dependency())] if require_auth else []
    app = FastAPI(
        title="Replenishment",
        description="Demand forecasts and purchase-order recommendations of replenishment_daily.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.warehouse = source

    def connect() -> Any:
        engine = source.engine()
        return engine.connect(), schema_prefix(engine, source.schema)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(PAGE_HTML, headers={"Cache-Control": "no-cache"})

    @app.get("/icon.svg", include_in_schema=False)
    def icon() -> Response:
        return Response(ICON_SVG, media_type="image/svg+xml")

    @app.get("/api/run-dates", dependencies=dependencies)
    def api_run_dates() -> dict[str, Any]:
        conn, prefix = connect()
        with conn:
            return {"run_dates": run_dates(conn, prefix)}

    @app.get("/api/run", dependencies=dependencies)
    def api_run(run_date: dt.date) -> dict[str, Any]:
        conn, prefix = connect()
        with conn:
            summary = run_summary(conn, prefix, run_date)
        if summary is None:
            raise HTTPException(404, f"no run stored for {run_date}")
        summary["run_date"] = _day(summary["run_date"])
        return summary

    @app.get("/api/skus", dependencies=dependencies)
    def api_skus(run_date: dt.date) -> dict[str, Any]:
        conn, prefix = connect()
        with conn:
            rows = order_rows(conn, prefix, run_date)
        keep = ("sku_id", "description", "category", "model", "order_qty", "order_value")
        return {
            "run_date": run_date.isoformat(),
            "skus": [{k: r[k] for k in keep} for r in rows],
        }

    @app.get("/api/orders", dependencies=dependencies)
    def api_orders(run_date: dt.date, placed_only: bool = True) -> dict[str, Any]:
        conn, prefix = connect()
        with conn:
            rows = order_rows(conn, prefix, run_date, placed_only=placed_only)
        for row in rows:
            row["run_date"] = _day(row["run_date"])
            row["expected_receipt_date"] = _day(row["expected_receipt_date"])
        return {"run_date": run_date.isoformat(), "orders": rows}

    @app.get("/api/series", dependencies=dependencies)
    def api_series(run_date: dt.date, sku_id: str) -> dict[str, Any]:
        conn, prefix = connect()
        with conn:
            series = sku_series(conn, prefix, run_date, sku_id)
        if series is None:
            raise HTTPException(404, f"no recommendation for {sku_id} on {run_date}")
        return series

    @app.get("/orders.csv", dependencies=dependencies)
    def orders_csv(run_date: dt.date, placed_only: bool = False) -> Response:
        from replenishment.load import read_output

        frame = read_output(source.engine(), source.schema, "replenishment_orders", run_date)
        if placed_only:
            frame = frame[frame["order_qty"] > 0]
        name = f"replenishment_orders_{run_date.isoformat()}{'_placed' if placed_only else ''}.csv"
        return Response(
            frame.to_csv(index=False),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @app.exception_handler(Exception)
    def unexpected(_request: Any, exc: Exception) -> JSONResponse:
        log.exception("replenishment plugin: %s", exc)
        first_line = (str(exc).strip().splitlines() or [""])[0][:300]
        return JSONResponse({"detail": f"{type(exc).__name__}: {first_line}"}, status_code=500)

    return app


def _authorize_dependency() -> Callable[..., Any]:
    """A FastAPI dependency: an Airflow user (cookie or bearer token) who may read the DAG."""
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi import Depends, HTTPException

    def authorize(user: Any = Depends(get_user)) -> None:  # noqa: B008 - FastAPI's idiom
        from airflow.api_fastapi.app import get_auth_manager
        from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails

        allowed = get_auth_manager().is_authorized_dag(
            method="GET", user=user, details=DagDetails(id=DAG_ID)
        )
        if not allowed:
            raise HTTPException(403, f"not allowed to read the DAG {DAG_ID}")

    return authorize


@functools.cache
def airflow_app() -> FastAPI:
    """The app the api-server mounts: warehouse from the Airflow connection, login required."""
    return create_app(require_auth=True)


class ReplenishmentPlugin(AirflowPlugin):
    """Registers the app under ``/replenishment`` and its page in the UI's navigation."""

    name = "replenishment"
    external_views = [
        {
            "name": "Replenishment",
            # relative to the UI's base URL: works behind a proxy path too
            "href": "replenishment/",
            "url_route": "replenishment",
            "destination": "nav",
            "nav_top_level": True,
            "icon": "replenishment/icon.svg",
        }
    ]

    @property  # built on first use: only the api-server asks for it
    def fastapi_apps(self) -> list[dict[str, Any]]:
        return [{"app": airflow_app(), "url_prefix": URL_PREFIX, "name": "Replenishment"}]


# --------------------------------------------------------------------------- the page

ICON_SVG = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none"
stroke="#3b82f6" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">
<path d="M3 3v18h18"/><path d="M7 15l4-4 3 3 5-6"/><rect x="15" y="15" width="5" height="5"/></svg>
"""

PAGE_HTML = r"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Replenishment</title>
<style>
  :root { --fg:#1f2937; --muted:#6b7280; --line:#e5e7eb; --card:#fff; --bg:#f9fafb;
          --actual:#2563eb; --fc:#ea580c; --band:rgba(234,88,12,.18); --promo:rgba(16,185,129,.16);
          --stock:#dc2626; }
  * { box-sizing: border-box; }
  body { margin:0; padding:16px 20px; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
         color:var(--fg); background:var(--bg); }
  h1 { font-size:20px; margin:0 0 4px; }
  h2 { font-size:15px; margin:0 0 8px; }
  .muted { color:var(--muted); }
  .bar { display:flex; flex-wrap:wrap; gap:12px; align-items:end; margin:12px 0; }
  label { display:flex; flex-direction:column; font-size:12px; color:var(--muted); gap:2px; }
  select { font:inherit; padding:4px 6px; min-width:180px; }
  .card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:12px 14px; margin:12px 0; }
  .grid { display:grid; grid-template-columns: minmax(0,3fr) minmax(260px,1fr); gap:12px; align-items:start; }
  @media (max-width: 900px) { .grid { grid-template-columns: 1fr; } }
  .grid .card { margin:0; }
  svg text { font-size:11px; fill:var(--muted); }
  .legend { display:flex; flex-wrap:wrap; gap:14px; font-size:12px; color:var(--muted); margin-bottom:4px; }
  .sw { display:inline-block; width:14px; height:10px; margin-right:4px; vertical-align:middle; }
  dl { display:grid; grid-template-columns:auto auto; gap:2px 12px; margin:8px 0 0; }
  dt { color:var(--muted); } dd { margin:0; text-align:right; font-variant-numeric:tabular-nums; }
  .big { font-size:22px; font-weight:600; }
  .reason { margin-top:8px; padding:6px 8px; background:#f3f4f6; border-radius:6px; }
  table { border-collapse:collapse; width:100%; font-variant-numeric:tabular-nums; }
  th, td { padding:4px 8px; border-bottom:1px solid var(--line); text-align:left; white-space:nowrap; }
  td.num, th.num { text-align:right; }
  td.reason-cell { white-space:normal; min-width:220px; }
  tbody tr { cursor:pointer; } tbody tr:hover { background:#eff6ff; } tr.sel { background:#dbeafe; }
  tfoot td { font-weight:600; }
  .error { color:#b91c1c; background:#fef2f2; border-color:#fecaca; }
  a { color:#2563eb; }
  .links { display:flex; gap:16px; margin:4px 0 8px; }
</style>
</head>
<body>
<h1>Replenishment</h1>
<div class="muted">Demand forecasts and purchase-order recommendations of <code>replenishment_daily</code>.</div>
<div class="bar">
  <label>Run date <select id="run-date" data-testid="run-date"></select></label>
  <label>SKU <select id="sku" data-testid="sku"></select></label>
  <span id="run-summary" class="muted" data-testid="run-summary"></span>
</div>
<div id="error" class="card error" hidden></div>
<div class="grid">
  <div class="card">
    <h2 id="chart-title">Demand</h2>
    <div class="legend">
      <span><span class="sw" style="background:var(--actual);height:3px"></span>actual daily demand</span>
      <span><span class="sw" style="background:var(--fc);height:3px"></span>forecast</span>
      <span><span class="sw" style="background:var(--band)"></span>forecast interval</span>
      <span><span class="sw" style="background:var(--promo)"></span>promotion</span>
      <span><span class="sw" style="background:var(--stock);height:4px"></span>stock-out day (censored)</span>
    </div>
    <svg id="chart" data-testid="chart" viewBox="0 0 900 320" width="100%" role="img"
         aria-label="actual and forecast daily demand"></svg>
  </div>
  <div class="card" id="order" data-testid="order">
    <h2>Recommendation</h2>
    <div id="order-body" class="muted">Pick a SKU.</div>
  </div>
</div>
<div class="card">
  <h2 id="orders-title">Orders of the run</h2>
  <div class="links">
    <a id="csv-placed" data-testid="csv-placed" href="#" download>Download CSV (orders to place)</a>
    <a id="csv-all" data-testid="csv-all" href="#" download>Download CSV (all SKUs)</a>
  </div>
  <div style="overflow-x:auto">
  <table id="orders" data-testid="orders">
    <thead><tr>
      <th>SKU</th><th>description</th><th>category</th><th class="num">order qty</th>
      <th class="num">packs</th><th class="num">value</th><th>expected receipt</th><th>reason</th>
    </tr></thead>
    <tbody></tbody><tfoot></tfoot>
  </table>
  </div>
</div>
<script>
"use strict";
const SVGNS = "http://www.w3.org/2000/svg";
const here = new URL(location.href);
const base = new URL(here.pathname.endsWith("/") ? here.pathname : here.pathname + "/", here.origin);
const state = { runDate: here.searchParams.get("run_date"), sku: here.searchParams.get("sku_id") };
const $ = (id) => document.getElementById(id);
const num = (v, d = 0) => v === null || v === undefined ? "–" :
  Number(v).toLocaleString(undefined, { minimumFractionDigits: d, maximumFractionDigits: d });

function url(path, params) {
  const u = new URL(path, base);
  for (const [k, v] of Object.entries(params || {})) u.searchParams.set(k, v);
  return u;
}

async function getJSON(path, params) {
  const r = await fetch(url(path, params), { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!r.ok) {
    let detail = r.statusText;
    try { detail = (await r.json()).detail || detail; } catch (e) { /* not JSON */ }
    if (r.status === 401 || r.status === 403) detail += " (log in to Airflow with access to replenishment_daily)";
    throw new Error(`${r.status}: ${detail}`);
  }
  return r.json();
}

function showError(err) {
  const box = $("error");
  box.hidden = !err;
  box.textContent = err ? String(err.message || err) : "";
}

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function svg(tag, attrs, parent) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

const dayMs = 86400000;
const toDay = (s) => Math.round(Date.parse(s + "T00:00:00Z") / dayMs);
const fromDay = (n) => new Date(n * dayMs).toISOString().slice(0, 10);

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function drawChart(s) {
  const chart = $("chart");
  chart.replaceChildren();
  const W = 900, H = 320, L = 48, R = 12, T = 12, B = 28;
  const days = [...s.actual.map((a) => a.date), ...s.forecast.map((f) => f.forecast_date)];
  if (!days.length) return;
  const d0 = toDay(days[0]), d1 = toDay(days[days.length - 1]);
  const step = (W - L - R) / Math.max(1, d1 - d0 + 1);
  const x = (d) => L + (toDay(d) - d0 + 0.5) * step;
  const top = niceMax(Math.max(1, ...s.actual.map((a) => a.units), ...s.forecast.map((f) => f.yhat_upper)) * 1.05);
  const y = (v) => T + (H - T - B) * (1 - v / top);

  for (let i = 0; i <= 4; i++) {
    const v = (top * i) / 4;
    svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#e5e7eb" }, chart);
    svg("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" }, chart).textContent = num(v, v < 10 && top < 10 ? 1 : 0);
  }
  for (const p of s.promotions) {
    const a = Math.max(toDay(p.start_date), d0), b = Math.min(toDay(p.end_date), d1);
    if (b < a) continue;
    const r = svg("rect", { class: "promo", x: L + (a - d0) * step, y: T, width: (b - a + 1) * step,
      height: H - T - B, fill: "var(--promo)" }, chart);
    svg("title", {}, r).textContent = `promotion ${p.promo_id}: ${p.start_date} – ${p.end_date}` +
      (p.discount_pct === null ? "" : `, ${num(p.discount_pct)} % off`);
  }
  for (let d = d0; d <= d1; d++) {
    const day = fromDay(d);
    if (day.endsWith("-01")) {
      svg("line", { x1: x(day), x2: x(day), y1: H - B, y2: H - B + 4, stroke: "#9ca3af" }, chart);
      svg("text", { x: x(day), y: H - 8, "text-anchor": "middle" }, chart).textContent = day.slice(0, 7);
    }
  }
  if (s.forecast.length) {
    const up = s.forecast.map((f) => `${x(f.forecast_date)},${y(f.yhat_upper)}`);
    const lo = s.forecast.slice().reverse().map((f) => `${x(f.forecast_date)},${y(f.yhat_lower)}`);
    svg("polygon", { class: "band", points: [...up, ...lo].join(" "), fill: "var(--band)" }, chart);
  }
  const xr = x(s.run_date) - step / 2;
  svg("line", { class: "run-date", x1: xr, x2: xr, y1: T, y2: H - B, stroke: "#6b7280", "stroke-dasharray": "4 3" }, chart);
  svg("text", { x: xr + 4, y: T + 10 }, chart).textContent = `run date ${s.run_date}`;
  if (s.actual.length) svg("polyline", { class: "actual", fill: "none", stroke: "var(--actual)", "stroke-width": 1.6,
    points: s.actual.map((a) => `${x(a.date)},${y(a.units)}`).join(" ") }, chart);
  if (s.forecast.length) svg("polyline", { class: "forecast", fill: "none", stroke: "var(--fc)", "stroke-width": 2,
    points: s.forecast.map((f) => `${x(f.forecast_date)},${y(f.yhat)}`).join(" ") }, chart);
  for (const a of s.actual.filter((a) => a.stockout)) {
    svg("rect", { class: "stockout", x: x(a.date) - step / 2, y: H - B - 4, width: Math.max(step, 2), height: 4, fill: "var(--stock)" }, chart);
  }
  svg("line", { x1: L, x2: W - R, y1: H - B, y2: H - B, stroke: "#9ca3af" }, chart);
  const tips = svg("g", { class: "tips" }, chart);
  const promoDays = new Set();
  for (const p of s.promotions) for (let d = toDay(p.start_date); d <= toDay(p.end_date); d++) promoDays.add(fromDay(d));
  const tip = (day, text) => {
    const r = svg("rect", { x: x(day) - step / 2, y: T, width: step, height: H - T - B, fill: "transparent" }, tips);
    svg("title", {}, r).textContent = day + (promoDays.has(day) ? " (promotion)" : "") + "\n" + text;
  };
  for (const a of s.actual) tip(a.date, `actual ${num(a.units)}${a.stockout ? " (stock-out: censored)" : ""}`);
  for (const f of s.forecast) tip(f.forecast_date, `forecast ${num(f.yhat, 1)} [${num(f.yhat_lower, 1)} – ${num(f.yhat_upper, 1)}] (${f.model})`);
}

function drawOrder(s) {
  const o = s.order, sku = s.sku || {};
  const body = $("order-body");
  body.className = "";
  body.replaceChildren();
  body.appendChild(el("div", { class: "muted" }, [o.sku_id, sku.description, sku.category].filter(Boolean).join(" · ")));
  const qty = Number(o.order_qty);
  body.appendChild(el("div", { class: "big", "data-testid": "order-qty" },
    qty > 0 ? `Order ${num(qty)} units` : "No order today"));
  if (qty > 0) body.appendChild(el("div", {}, `${num(o.order_packs)} × ${num(o.pack_size)} per pack · value ${num(o.order_value, 2)} · receipt ${o.expected_receipt_date}`));
  body.appendChild(el("div", { class: "reason", "data-testid": "reason" }, o.reason));
  const dl = el("dl");
  const rows = [
    ["on hand", num(o.on_hand)], ["on order", num(o.on_order)], ["inventory position", num(o.inventory_position)],
    ["reorder point", num(o.reorder_point, 1)], ["order-up-to", num(o.order_up_to, 1)], ["safety stock", num(o.safety_stock, 1)],
    ["mean daily demand", num(o.avg_daily_demand, 2)], ["forecast error σ/day", num(o.sigma_daily, 2)],
    ["lead time (days)", `${num(o.lead_time_days)} ± ${num(o.lead_time_std_days, 1)}`], ["review period (days)", num(o.review_period_days)],
    ["service level", num(o.service_level * 100, 1) + " %"], ["policy", o.policy], ["model", o.model],
    ["EOQ", num(o.eoq)], ["MOQ", num(o.moq)],
  ];
  for (const [k, v] of rows) { dl.appendChild(el("dt", {}, k)); dl.appendChild(el("dd", {}, v)); }
  body.appendChild(dl);
}

function drawOrders(rows) {
  const tbody = $("orders").tBodies[0];
  tbody.replaceChildren();
  rows.sort((a, b) => b.order_value - a.order_value);
  let value = 0;
  for (const r of rows) {
    value += Number(r.order_value);
    const tr = el("tr", { "data-sku": r.sku_id });
    if (r.sku_id === state.sku) tr.className = "sel";
    for (const [v, cls] of [[r.sku_id], [r.description || ""], [r.category || ""], [num(r.order_qty), "num"],
      [num(r.order_packs), "num"], [num(r.order_value, 2), "num"], [r.expected_receipt_date], [r.reason, "reason-cell"]]) {
      tr.appendChild(el("td", cls ? { class: cls } : {}, v));
    }
    tr.addEventListener("click", () => { $("sku").value = r.sku_id; selectSku(r.sku_id); });
    tbody.appendChild(tr);
  }
  const foot = $("orders").tFoot;
  foot.replaceChildren();
  const tr = el("tr");
  tr.appendChild(el("td", { colspan: 5 }, rows.length ? `${rows.length} orders` : "no orders on this run date"));
  tr.appendChild(el("td", { class: "num" }, num(value, 2)));
  tr.appendChild(el("td", { colspan: 2 }));
  foot.appendChild(tr);
}

function remember() {
  const u = new URL(location.href);
  u.searchParams.set("run_date", state.runDate);
  if (state.sku) u.searchParams.set("sku_id", state.sku);
  history.replaceState(null, "", u);
}

async function selectSku(sku) {
  state.sku = sku;
  remember();
  for (const tr of $("orders").tBodies[0].rows) tr.className = tr.dataset.sku === sku ? "sel" : "";
  try {
    const s = await getJSON("api/series", { run_date: state.runDate, sku_id: sku });
    if (s.sku_id !== state.sku || s.run_date !== state.runDate) return;  // a newer pick won
    $("chart-title").textContent = `Demand of ${sku}` + (s.sku && s.sku.description ? ` — ${s.sku.description}` : "");
    drawChart(s);
    drawOrder(s);
    showError(null);
    document.body.dataset.loaded = `${s.run_date}/${s.sku_id}`;
  } catch (err) { showError(err); }
}

async function selectRun(runDate) {
  state.runDate = runDate;
  $("csv-placed").href = url("orders.csv", { run_date: runDate, placed_only: "true" });
  $("csv-all").href = url("orders.csv", { run_date: runDate });
  $("orders-title").textContent = `Orders of the run ${runDate}`;
  try {
    const [skus, orders, run] = await Promise.all([
      getJSON("api/skus", { run_date: runDate }),
      getJSON("api/orders", { run_date: runDate, placed_only: "true" }),
      getJSON("api/run", { run_date: runDate }).catch(() => null),
    ]);
    const sel = $("sku");
    sel.replaceChildren();
    for (const s of skus.skus) {
      const label = `${s.sku_id}${s.description ? " · " + s.description : ""}${Number(s.order_qty) > 0 ? " — order " + num(s.order_qty) : ""}`;
      sel.appendChild(el("option", { value: s.sku_id }, label));
    }
    $("run-summary").textContent = run ?
      `${num(run.skus_total)} SKUs forecast · ${num(run.orders_placed)} orders worth ${num(run.order_value, 2)} · ${run.status}` : "";
    drawOrders(orders.orders);
    const ids = skus.skus.map((s) => s.sku_id);
    const pick = ids.includes(state.sku) ? state.sku : (orders.orders[0] || {}).sku_id || ids[0];
    if (pick) { sel.value = pick; await selectSku(pick); }
  } catch (err) { showError(err); }
}

async function init() {
  try {
    const { run_dates } = await getJSON("api/run-dates");
    const sel = $("run-date");
    for (const d of run_dates) sel.appendChild(el("option", { value: d }, d));
    if (!run_dates.length) { showError("No run has been loaded yet: run the DAG replenishment_daily first."); return; }
    const pick = run_dates.includes(state.runDate) ? state.runDate : run_dates[0];
    sel.value = pick;
    sel.addEventListener("change", () => selectRun(sel.value));
    $("sku").addEventListener("change", (e) => selectSku(e.target.value));
    await selectRun(pick);
  } catch (err) { showError(err); }
}
init();
</script>
</body>
</html>
"""
