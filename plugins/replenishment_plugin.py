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

import contextlib
import datetime as dt
import functools
import logging
import math
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.plugins_manager import AirflowPlugin

if TYPE_CHECKING:
    import pandas as pd
    from fastapi import APIRouter, FastAPI
    from fastapi.responses import Response
    from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)

URL_PREFIX = "/replenishment"
DAG_ID = "replenishment_daily"
WAREHOUSE_CONN_ID = "warehouse"
#: Days of actual demand shown before the run date.
HISTORY_DAYS = 120
#: The page's template (``templates/page.html``) and the files it inlines (``static/``).
UI_DIR = Path(__file__).resolve().parent / "replenishment_ui"
STATIC_DIR = UI_DIR / "static"


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

    @contextlib.contextmanager
    def connect(self) -> Iterator[tuple[Connection, str]]:
        """A connection and the reporting tables' prefix (``schema.`` or empty)."""
        from replenishment.db import schema_prefix

        engine = self.engine()
        with engine.connect() as conn:
            yield conn, schema_prefix(engine, self.schema)

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


def blocked_runs(conn: Any, prefix: str, limit: int = 30) -> list[dict[str, Any]]:
    """Run dates whose latest run the data-quality gate blocked, newest first.

    Each: run_date, the failing suites' failure lines and the Data Docs path
    (``data_quality_results``), the reason and the run report (``pipeline_runs``).
    """
    from sqlalchemy import inspect as sa_inspect

    from replenishment.db import table_exists

    schema = prefix.rstrip(".") or None
    if not table_exists(conn, "pipeline_runs", schema=schema):
        return []
    if "reason" not in {c["name"] for c in sa_inspect(conn).get_columns("pipeline_runs", schema)}:
        return []  # reporting tables from before blocked runs were recorded
    runs = _rows(
        conn,
        f"SELECT run_date, reason, report_path FROM {prefix}pipeline_runs "
        f"WHERE status = 'blocked' ORDER BY run_date DESC LIMIT {int(limit)}",
    )
    out = []
    for run in runs:
        suites = _rows(
            conn,
            f"SELECT suite, failures, data_docs_path FROM {prefix}data_quality_results "
            "WHERE run_date = :run_date AND failed_critical > 0 ORDER BY suite",
            {"run_date": run["run_date"]},
        )
        out.append(
            {
                "run_date": _day(run["run_date"]),
                "failures": [
                    line
                    for suite in suites
                    for line in str(suite["failures"] or "").splitlines()
                    if line.startswith("[critical]")
                ],
                "data_docs_path": next(
                    (x["data_docs_path"] for x in suites if x["data_docs_path"]), None
                ),
                "report_path": run["report_path"],
            }
        )
    return out


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


class NotFound(LookupError):
    """A run date or SKU the warehouse holds no run for: answered with HTTP 404 and this text."""


def require_run(conn: Any, prefix: str, run_date: dt.date) -> None:
    """Raise :class:`NotFound` (naming the latest run dates) unless ``run_date`` was loaded."""
    from replenishment.db import table_exists

    if table_exists(conn, "replenishment_orders", schema=prefix.rstrip(".") or None) and _rows(
        conn,
        f"SELECT 1 AS hit FROM {prefix}replenishment_orders WHERE run_date = :run_date LIMIT 1",
        {"run_date": run_date},
    ):
        return
    stored = run_dates(conn, prefix)
    known = f"latest run dates: {', '.join(stored[:5])}" if stored else "no run loaded yet"
    raise NotFound(f"no run stored for {run_date.isoformat()} ({known})")


def _for_display(order: dict[str, Any]) -> dict[str, Any]:
    """An order row as the page shows it: dates as text, and what :mod:`replenishment.order_file`
    derives (the reason without noise, whether the lead-time spread is known, exceptions)."""
    from replenishment.order_file import display_reason, lead_time_std_known, order_exceptions

    for col in ("run_date", "expected_receipt_date"):
        order[col] = _day(order[col])
    order["display_reason"] = display_reason(order.get("reason"), order.get("pack_size"))
    order["lead_time_std_known"] = lead_time_std_known(order)
    order["exceptions"] = order_exceptions(order)
    return order


def _window_rows(conn: Any, sku_id: str, window: dict[str, Any]) -> dict[str, Any]:
    """Actual daily demand, stock-out days and promotions of ``sku_id`` in ``window``
    (``history_start`` .. ``horizon_end``), read through the project's extract SQL."""
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
    return {"demand": demand, "stockouts": stockouts, "promotions": promotions}


def _actual_days(
    demand: dict[str, float], stockouts: set[str], start: dt.date, run_date: dt.date
) -> list[dict[str, Any]]:
    """One entry per day from the first observed day (at most ``start``) to the day before
    ``run_date``: units demanded (0 on a day without sales) and whether it was a stock-out."""
    observed = sorted(set(demand) | stockouts)
    day = max(start, dt.date.fromisoformat(observed[0])) if observed else start
    actual = []
    while day < run_date:
        key = day.isoformat()
        actual.append({"date": key, "units": demand.get(key, 0.0), "stockout": key in stockouts})
        day += dt.timedelta(days=1)
    return actual


def sku_series(
    conn: Any, prefix: str, run_date: dt.date, sku_id: str, history_days: int = HISTORY_DAYS
) -> dict[str, Any]:
    """What the page charts for one SKU and run date; :class:`NotFound` when the run date
    or the SKU has no recommendation."""
    require_run(conn, prefix, run_date)
    params: dict[str, Any] = {"run_date": run_date, "sku_id": sku_id}
    orders = _rows(
        conn,
        f"SELECT * FROM {prefix}replenishment_orders WHERE run_date = :run_date AND sku_id = :sku_id",
        params,
    )
    if not orders:
        raise NotFound(f"no recommendation for SKU {sku_id!r} in the run of {run_date.isoformat()}")
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
    accuracy = _rows(
        conn,
        f"""
        SELECT model, selection, incumbent, wape, incumbent_wape, baseline_wape, fva,
               candidate_wapes
        FROM {prefix}forecast_accuracy
        WHERE run_date = :run_date AND sku_id = :sku_id
        """,
        params,
    )
    start = run_date - dt.timedelta(days=history_days)
    horizon_end = dt.date.fromisoformat(forecast[-1]["forecast_date"]) if forecast else run_date
    seen = _window_rows(
        conn, sku_id, {**params, "history_start": start, "horizon_end": horizon_end}
    )
    sku = _rows(
        conn,
        f"SELECT * FROM {_extract_sql('extract_sku_master.sql')} WHERE q.sku_id = :sku_id",
        params,
    )
    return {
        "run_date": run_date.isoformat(),
        "sku_id": sku_id,
        "sku": sku[0] if sku else None,
        "history_start": start.isoformat(),
        "actual": _actual_days(seen["demand"], seen["stockouts"], start, run_date),
        "forecast": forecast,
        "promotions": seen["promotions"],
        "order": _for_display(orders[0]),
        "accuracy": accuracy[0] if accuracy else None,
    }


# --------------------------------------------------------------------------- the page


@functools.cache
def _templates() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(UI_DIR / "templates"), autoescape=True, auto_reload=True
    )


#: The page's scripts, in the order they run (``format.js`` defines ``Fmt`` for ``page.js``).
SCRIPTS = ("format.js", "page.js")


def page_html(currency: str = "USD") -> str:
    """The page: ``templates/page.html`` with ``static/page.css`` and the :data:`SCRIPTS`
    inlined, so it is one response that fetches nothing but the app's own JSON and CSV
    (the static files are read on every request: an edit shows without a restart).
    currency: ISO 4217 code the page writes order values in."""
    from markupsafe import Markup

    def static(name: str) -> Markup:
        return Markup((STATIC_DIR / name).read_text(encoding="utf-8"))

    page = _templates().get_template("page.html")
    return str(
        page.render(css=static("page.css"), scripts=[static(n) for n in SCRIPTS], currency=currency)
    )


# --------------------------------------------------------------------------- the app


def create_app(
    warehouse: str | Callable[[], str] | None = None,
    reporting_schema: str | None = None,
    require_auth: bool = False,
    currency: str | None = None,
) -> FastAPI:
    """The Replenishment app.

    warehouse: SQLAlchemy URL, or a function returning it (default: the Airflow
    connection ``warehouse``, looked up on every request). reporting_schema: schema of
    the output tables (default: ``Settings.load().reporting_schema``). require_auth:
    require an Airflow user allowed to read the DAG (set when mounted by the api-server).
    currency: ISO 4217 code of order values (default: ``Settings.load().currency``).
    """
    from fastapi import Depends, FastAPI
    from fastapi.responses import JSONResponse, PlainTextResponse

    from replenishment.config import Settings

    currency = currency or Settings.load().currency

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
    app.include_router(_page_router(currency))
    app.include_router(_api_router(source), dependencies=dependencies)
    app.include_router(_csv_router(source, currency), dependencies=dependencies)

    @app.exception_handler(NotFound)
    def not_found(request: Any, exc: NotFound) -> Response:
        if request.url.path.endswith(".csv"):  # a link a buyer clicked: text, not JSON
            return PlainTextResponse(str(exc), status_code=404)
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(Exception)
    def unexpected(_request: Any, exc: Exception) -> JSONResponse:
        log.exception("replenishment plugin: %s", exc)
        first_line = (str(exc).strip().splitlines() or [""])[0][:300]
        return JSONResponse({"detail": f"{type(exc).__name__}: {first_line}"}, status_code=500)

    return app


def _page_router(currency: str) -> APIRouter:
    """The page and its icon: no data, so no login."""
    from fastapi import APIRouter
    from fastapi.responses import FileResponse, HTMLResponse

    router = APIRouter(include_in_schema=False)

    @router.get("/", response_class=HTMLResponse)
    def page() -> HTMLResponse:
        return HTMLResponse(page_html(currency), headers={"Cache-Control": "no-cache"})

    @router.get("/icon.svg")
    def icon() -> FileResponse:
        return FileResponse(STATIC_DIR / "icon.svg", media_type="image/svg+xml")

    return router


def _api_router(source: _Warehouse) -> APIRouter:
    """The JSON the page reads; an unknown run date or SKU is a 404 with its reason."""
    from fastapi import APIRouter

    router = APIRouter(prefix="/api")

    @router.get("/run-dates")
    def api_run_dates() -> dict[str, Any]:
        with source.connect() as (conn, prefix):
            return {"run_dates": run_dates(conn, prefix)}

    @router.get("/blocked-runs")
    def api_blocked_runs() -> dict[str, Any]:
        with source.connect() as (conn, prefix):
            return {"blocked_runs": blocked_runs(conn, prefix)}

    @router.get("/run")
    def api_run(run_date: dt.date) -> dict[str, Any]:
        with source.connect() as (conn, prefix):
            summary = run_summary(conn, prefix, run_date)
        if summary is None:
            raise NotFound(f"no run stored for {run_date.isoformat()} in pipeline_runs")
        summary["run_date"] = _day(summary["run_date"])
        return summary

    @router.get("/skus")
    def api_skus(run_date: dt.date) -> dict[str, Any]:
        with source.connect() as (conn, prefix):
            require_run(conn, prefix, run_date)
            rows = order_rows(conn, prefix, run_date)
        keep = ("sku_id", "description", "category", "model", "order_qty", "order_value")
        return {
            "run_date": run_date.isoformat(),
            "skus": [{k: r[k] for k in keep} for r in rows],
        }

    @router.get("/orders")
    def api_orders(run_date: dt.date, placed_only: bool = True) -> dict[str, Any]:
        with source.connect() as (conn, prefix):
            require_run(conn, prefix, run_date)
            rows = order_rows(conn, prefix, run_date, placed_only=placed_only)
        return {"run_date": run_date.isoformat(), "orders": [_for_display(r) for r in rows]}

    @router.get("/series")
    def api_series(run_date: dt.date, sku_id: str) -> dict[str, Any]:
        with source.connect() as (conn, prefix):
            return sku_series(conn, prefix, run_date, sku_id)

    return router


def _csv(frame: pd.DataFrame, name: str) -> Response:
    from fastapi.responses import Response

    return Response(
        frame.to_csv(index=False),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _csv_router(source: _Warehouse, currency: str) -> APIRouter:
    """CSV downloads: the buyer's order file and the raw ``replenishment_orders`` rows."""
    from fastapi import APIRouter

    router = APIRouter()

    @router.get("/orders.csv")
    def orders_csv(run_date: dt.date) -> Response:
        from replenishment.order_file import buyer_orders

        with source.connect() as (conn, prefix):
            require_run(conn, prefix, run_date)
            rows = order_rows(conn, prefix, run_date, placed_only=True)
        return _csv(buyer_orders(rows, currency), f"orders_to_place_{run_date.isoformat()}.csv")

    @router.get("/orders_raw.csv")
    def orders_raw_csv(run_date: dt.date, placed_only: bool = False) -> Response:
        from replenishment.load import read_output

        with source.connect() as (conn, prefix):
            require_run(conn, prefix, run_date)
        frame = read_output(source.engine(), source.schema, "replenishment_orders", run_date)
        if placed_only:
            frame = frame[frame["order_qty"] > 0]
        name = f"replenishment_orders_{run_date.isoformat()}{'_placed' if placed_only else ''}.csv"
        return _csv(frame, name)

    return router


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

    _fastapi_apps: list[Any] | None = None

    @property  # built on first use: only the api-server asks for it
    def fastapi_apps(self) -> list[Any]:
        if self._fastapi_apps is None:
            self._fastapi_apps = [
                {"app": airflow_app(), "url_prefix": URL_PREFIX, "name": "Replenishment"}
            ]
        return self._fastapi_apps

    @fastapi_apps.setter  # writable, as the attribute of AirflowPlugin it overrides
    def fastapi_apps(self, apps: list[Any]) -> None:
        self._fastapi_apps = apps
