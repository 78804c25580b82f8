"""The Airflow plugin's Replenishment page: its app on a SQLite warehouse, then in a real
api-server driven by a headless Chromium."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from replenishment.config import Settings
from replenishment.db import make_engine
from replenishment.load import read_output
from replenishment.order_file import display_reason
from replenishment.pipeline import run_pipeline
from tests.conftest import REQUIRE_POSTGRES
from tests.support import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    PLUGIN_FILE,
    RUN_DATE,
    load_plugin,
    playwright_sync_api,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`"),
]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
EARLIER = RUN_DATE - dt.timedelta(days=7)


plugin = load_plugin()


@pytest.fixture(scope="module")
def warehouse(small_demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite warehouse with two loaded runs, a week apart."""
    tmp = tmp_path_factory.mktemp("plugin")
    target = tmp / "warehouse.db"
    shutil.copy(small_demo_db, target)
    url = f"sqlite:///{target}"
    settings = Settings.load(
        {
            "warehouse_url": url,
            "staging_dir": str(tmp / "staging"),
            "data_docs_dir": str(tmp / "docs"),
            "forecast_batches": 2,
        }
    )
    run_pipeline(settings, EARLIER)
    run_pipeline(settings, RUN_DATE)
    return url


@pytest.fixture(scope="module")
def client(warehouse: str):
    from fastapi.testclient import TestClient

    app = plugin.create_app(warehouse, reporting_schema="reporting")
    with TestClient(app) as c:
        yield c
    app.state.warehouse.dispose()


def _table(url: str, table: str, run_date: dt.date) -> pd.DataFrame:
    engine = make_engine(url)
    try:
        return read_output(engine, "reporting", table, run_date)
    finally:
        engine.dispose()


def _placed_sku(url: str) -> str:
    """A SKU with an order on RUN_DATE and, if any, a promotion and stock-outs in view."""
    orders = _table(url, "replenishment_orders", RUN_DATE)
    placed = orders.loc[orders["order_qty"] > 0, "sku_id"].tolist()
    engine = make_engine(url)
    with engine.connect() as conn:
        promoted = set(pd.read_sql_query("SELECT DISTINCT sku_id FROM promotions", conn)["sku_id"])
        stocked_out = set(
            pd.read_sql_query(
                "SELECT DISTINCT sku_id FROM inventory_snapshots WHERE on_hand <= 0 "
                "AND snapshot_date >= '2026-03-03'",
                conn,
            )["sku_id"]
        )
    engine.dispose()
    best = [s for s in placed if s in promoted and s in stocked_out]
    return (best or placed)[0]


# --------------------------------------------------------------------------- the app


def test_page_is_self_contained(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert 'id="chart"' in html and 'id="orders"' in html and "orders.csv" in html
    assert "<script src" not in html and "<link" not in html and "@import" not in html
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", html))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls
    assert client.get("/icon.svg").headers["content-type"].startswith("image/svg+xml")
    # the page is its template with the static files inlined, not a Python string
    for name in ("page.css", *plugin.SCRIPTS):
        assert (plugin.STATIC_DIR / name).read_text(encoding="utf-8").strip() in html, name
    assert 'data-currency="USD"' in html and 'id="sku-search"' in html


def test_run_dates_and_run_summary(client, warehouse):
    assert client.get("/api/run-dates").json() == {
        "run_dates": [RUN_DATE.isoformat(), EARLIER.isoformat()]
    }
    run = client.get("/api/run", params={"run_date": RUN_DATE.isoformat()}).json()
    stored = _table(warehouse, "pipeline_runs", RUN_DATE).iloc[0]
    for col in ("skus_total", "orders_placed", "status"):
        assert run[col] == stored[col]
    assert run["order_value"] == pytest.approx(stored["order_value"])
    assert client.get("/api/run", params={"run_date": "2020-01-01"}).status_code == 404


def test_skus_and_orders_match_the_reporting_table(client, warehouse):
    orders = _table(warehouse, "replenishment_orders", RUN_DATE)
    skus = client.get("/api/skus", params={"run_date": RUN_DATE.isoformat()}).json()["skus"]
    assert [s["sku_id"] for s in skus] == orders["sku_id"].tolist()
    assert [s["order_qty"] for s in skus] == pytest.approx(orders["order_qty"].tolist())
    assert all(s["description"] and s["category"] for s in skus)

    placed = orders[orders["order_qty"] > 0]
    body = client.get("/api/orders", params={"run_date": RUN_DATE.isoformat()}).json()
    got = pd.DataFrame(body["orders"])
    assert got["sku_id"].tolist() == placed["sku_id"].tolist()
    for col in ("order_qty", "order_packs", "order_value", "reorder_point", "safety_stock"):
        assert got[col].tolist() == pytest.approx(placed[col].tolist()), col
    assert got["reason"].tolist() == placed["reason"].tolist()
    assert got["expected_receipt_date"].tolist() == placed["expected_receipt_date"].tolist()
    every = client.get(
        "/api/orders", params={"run_date": RUN_DATE.isoformat(), "placed_only": "false"}
    ).json()["orders"]
    assert len(every) == len(orders)


def test_series_of_a_sku(client, warehouse):
    sku = _placed_sku(warehouse)
    s = client.get("/api/series", params={"run_date": RUN_DATE.isoformat(), "sku_id": sku}).json()
    assert s["sku_id"] == sku and s["run_date"] == RUN_DATE.isoformat()

    forecast = _table(warehouse, "demand_forecast", RUN_DATE)
    forecast = forecast[forecast["sku_id"] == sku]
    got = pd.DataFrame(s["forecast"])
    assert got["forecast_date"].tolist() == forecast["forecast_date"].astype(str).tolist()
    for col in ("yhat", "yhat_lower", "yhat_upper", "promo"):
        assert got[col].tolist() == pytest.approx(forecast[col].tolist()), col

    order = _table(warehouse, "replenishment_orders", RUN_DATE).set_index("sku_id").loc[sku]
    assert s["order"]["order_qty"] == pytest.approx(order["order_qty"])
    assert s["order"]["reason"] == order["reason"]
    assert s["sku"]["sku_id"] == sku and s["sku"]["description"]

    engine = make_engine(warehouse)
    with engine.connect() as conn:
        lines = pd.read_sql_query(
            "SELECT order_ts, quantity, status FROM order_lines WHERE sku_id = :sku",
            conn,
            params={"sku": sku},
        )
        snaps = pd.read_sql_query(
            "SELECT snapshot_date, on_hand FROM inventory_snapshots WHERE sku_id = :sku",
            conn,
            params={"sku": sku},
        )
        promos = pd.read_sql_query(
            "SELECT promo_id FROM promotions WHERE sku_id = :sku AND end_date >= :start "
            "AND start_date <= :end ORDER BY start_date",
            conn,
            params={
                "sku": sku,
                "start": s["history_start"],
                "end": s["forecast"][-1]["forecast_date"],
            },
        )
    engine.dispose()
    lines = lines[lines["status"] != "cancelled"]
    daily = lines.groupby(lines["order_ts"].astype(str).str.slice(0, 10))["quantity"].sum()
    actual = pd.DataFrame(s["actual"])
    assert actual["date"].iloc[-1] == (RUN_DATE - dt.timedelta(days=1)).isoformat()
    assert len(actual) <= plugin.HISTORY_DAYS
    assert actual["units"].tolist() == pytest.approx([daily.get(d, 0.0) for d in actual["date"]])
    out = set(snaps.loc[snaps["on_hand"] <= 0, "snapshot_date"].astype(str))
    assert actual["stockout"].tolist() == [d in out for d in actual["date"]]
    assert [p["promo_id"] for p in s["promotions"]] == promos["promo_id"].tolist()

    missing = client.get("/api/series", params={"run_date": RUN_DATE.isoformat(), "sku_id": "nope"})
    assert missing.status_code == 404
    assert (
        client.get("/api/series", params={"run_date": "01/07/2026", "sku_id": sku}).status_code
        == 422
    )


@pytest.mark.parametrize("placed_only", [False, True])
def test_csv_equals_the_reporting_table(client, warehouse, placed_only):
    params = {"run_date": RUN_DATE.isoformat()}
    if placed_only:
        params["placed_only"] = "true"
    r = client.get("/orders_raw.csv", params=params)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert f"replenishment_orders_{RUN_DATE.isoformat()}" in r.headers["content-disposition"]
    got = pd.read_csv(io.StringIO(r.text))
    want = _table(warehouse, "replenishment_orders", RUN_DATE)
    if placed_only:
        want = want[want["order_qty"] > 0].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)


def test_buyer_csv_is_the_orders_to_place_by_value(client, warehouse):
    r = client.get("/orders.csv", params={"run_date": RUN_DATE.isoformat()})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert f"orders_to_place_{RUN_DATE.isoformat()}.csv" in r.headers["content-disposition"]
    got = pd.read_csv(io.StringIO(r.text), dtype=str, keep_default_na=False)
    assert list(got.columns[:4]) == [
        "SKU",
        "Description",
        "Category",
        "Supplier lead time (days)",
    ]
    assert {"Order qty (units)", "Packs", "Value (USD)", "Expected receipt", "Reason"} <= set(
        got.columns
    )
    orders = _table(warehouse, "replenishment_orders", RUN_DATE)
    placed = orders[orders["order_qty"] > 0].sort_values(
        ["order_value", "sku_id"], ascending=[False, True]
    )
    assert got["SKU"].tolist() == placed["sku_id"].tolist()
    assert got["Value (USD)"].tolist() == [f"{v:.2f}" for v in placed["order_value"]]
    assert got["Order qty (units)"].tolist() == [f"{q:.0f}" for q in placed["order_qty"]]
    assert all(got["Description"]) and all(got["Reason"])


@pytest.mark.parametrize(
    "path",
    ["/orders.csv", "/orders_raw.csv", "/api/skus", "/api/orders", "/api/run"],
)
def test_a_date_without_a_run_is_a_404_with_its_reason(client, path):
    r = client.get(path, params={"run_date": "2020-01-01"})
    assert r.status_code == 404
    text = r.text if path.endswith(".csv") else r.json()["detail"]
    assert "no run stored for 2020-01-01" in text, text
    if path.endswith(".csv"):
        assert r.headers["content-type"].startswith("text/plain")
        assert RUN_DATE.isoformat() in text  # names the dates that hold a run


def test_an_unknown_sku_is_a_404_with_its_reason(client):
    r = client.get("/api/series", params={"run_date": RUN_DATE.isoformat(), "sku_id": "nope"})
    assert r.status_code == 404
    assert r.json()["detail"] == f"no recommendation for SKU 'nope' in the run of {RUN_DATE}"
    r = client.get("/api/series", params={"run_date": "2020-01-01", "sku_id": "nope"})
    assert r.status_code == 404 and "no run stored for 2020-01-01" in r.json()["detail"]


def test_orders_carry_what_the_page_shows(client, warehouse):
    body = client.get("/api/orders", params={"run_date": RUN_DATE.isoformat()}).json()
    orders = _table(warehouse, "replenishment_orders", RUN_DATE).set_index("sku_id")
    for row in body["orders"]:
        stored = orders.loc[row["sku_id"]]
        unknown = "lead-time std unknown" in stored["reason"]
        assert row["lead_time_std_known"] is not unknown
        assert ("lead-time spread unknown" in row["exceptions"]) is unknown
        if int(stored["pack_size"]) == 1:
            assert "pack rounding" not in row["display_reason"]
        else:
            assert row["display_reason"] == stored["reason"]


def test_currency_setting_reaches_the_page(warehouse):
    from fastapi.testclient import TestClient

    app = plugin.create_app(warehouse, reporting_schema="reporting", currency="EUR")
    with TestClient(app) as c:
        assert 'data-currency="EUR"' in c.get("/").text
        csv = c.get("/orders.csv", params={"run_date": RUN_DATE.isoformat()}).text
        assert "Value (EUR)" in csv.splitlines()[0]
    app.state.warehouse.dispose()


def test_blocked_runs_are_listed_with_their_failures_and_data_docs(tmp_path):
    """A run the data-quality gate stopped is listed (the page never showed it)."""
    from fastapi.testclient import TestClient

    from replenishment.load import ensure_reporting_tables, load_outputs
    from replenishment.run_status import status_row

    url = f"sqlite:///{tmp_path / 'blocked.db'}"
    day = dt.date(2026, 7, 2)
    failure = "[critical] order_lines: 3 rows with quantity < 0 (order_id SO-1 line 2)"
    quality = pd.DataFrame(
        [
            {"suite": "order_lines", "success": 0, "evaluated_expectations": 9,
             "failed_expectations": 1, "failed_critical": 1, "failed_warning": 0,
             "failures": failure, "data_docs_path": "/docs/2026-07-02/index.html"},
            {"suite": "sku_master", "success": 1, "evaluated_expectations": 9,
             "failed_expectations": 0, "failed_critical": 0, "failed_warning": 0,
             "failures": None, "data_docs_path": "/docs/2026-07-02/index.html"},
        ]
    )  # fmt: skip
    row = status_row(
        Settings.load({"warehouse_url": url}), day, "blocked", failure,
        started_at=dt.datetime(2026, 7, 2, 6),
    )  # fmt: skip
    engine = make_engine(url)
    ensure_reporting_tables(engine, "reporting")
    load_outputs(engine, "reporting", day, {"data_quality_results": quality, "pipeline_runs": row})
    engine.dispose()
    app = plugin.create_app(url, reporting_schema="reporting")
    with TestClient(app) as c:
        blocked = c.get("/api/blocked-runs").json()["blocked_runs"]
        page = c.get("/").text
    app.state.warehouse.dispose()
    assert [b["run_date"] for b in blocked] == ["2026-07-02"]
    assert blocked[0]["failures"] == [failure]
    assert blocked[0]["data_docs_path"] == "/docs/2026-07-02/index.html"
    assert 'data-testid="blocked"' in page and "api/blocked-runs" in page


def test_empty_warehouse_has_no_run_dates(tmp_path):
    from fastapi.testclient import TestClient

    app = plugin.create_app(f"sqlite:///{tmp_path / 'empty.db'}", reporting_schema="reporting")
    with TestClient(app) as c:
        assert c.get("/api/run-dates").json() == {"run_dates": []}
        assert c.get("/api/blocked-runs").json() == {"blocked_runs": []}
    app.state.warehouse.dispose()


def test_login_required_when_mounted_by_airflow(warehouse):
    from fastapi.testclient import TestClient

    app = plugin.create_app(warehouse, reporting_schema="reporting", require_auth=True)
    with TestClient(app) as c:
        assert c.get("/").status_code == 200  # the static page holds no data
        for path in ("/api/run-dates", f"/orders.csv?run_date={RUN_DATE.isoformat()}"):
            assert c.get(path).status_code == 401, path


def test_plugin_registers_app_and_nav_entry():
    p = plugin.ReplenishmentPlugin()
    (view,) = p.external_views
    assert view["name"] == "Replenishment" and view["destination"] == "nav"
    assert view["url_route"] == "replenishment" and view["href"] == "replenishment/"
    (app,) = p.fastapi_apps
    assert app["url_prefix"] == plugin.URL_PREFIX == "/replenishment"
    assert type(app["app"]).__name__ == "FastAPI" and app["name"]


def test_plugin_import_is_light():
    code = (
        "import sys, importlib.util\n"
        "import airflow.plugins_manager\n"
        f"spec = importlib.util.spec_from_file_location('p', {str(PLUGIN_FILE)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "print([n for n in ('fastapi', 'pandas', 'replenishment') if n in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_warehouse_url_from_the_airflow_connection(monkeypatch, tmp_path):
    path = str(tmp_path / "w.db")
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": path}))
    assert plugin.warehouse_url() == f"sqlite:///{path}"
    url = "postgresql+psycopg2://u:p@h:5433/db"
    monkeypatch.setenv(
        "AIRFLOW_CONN_WAREHOUSE",
        json.dumps({"conn_type": "postgres", "extra": {"sqlalchemy_url": url}}),
    )
    assert plugin.warehouse_url() == url


# --------------------------------------------------------------------------- a real api-server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"api-server exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"api-server not up after {timeout}s:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="module")
def api_server(warehouse: str, tmp_path_factory: pytest.TempPathFactory):
    """``airflow api-server`` on 127.0.0.1:<free port>, SQLite metadata, everyone admin."""
    home = tmp_path_factory.mktemp("airflow_home")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__API_AUTH__JWT_SECRET": os.urandom(16).hex(),
            "AIRFLOW_CONN_WAREHOUSE": json.dumps(
                {"conn_type": "sqlite", "host": warehouse.removeprefix("sqlite:///")}
            ),
            "GX_ANALYTICS_ENABLED": "False",
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    subprocess.run(
        [str(BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True
    )
    log = home / "api-server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(BIN / "airflow"), "api-server", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped as a whole below
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{base}/api/v2/monitor/health", proc, log)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_api_server_serves_the_plugin(api_server):
    with urllib.request.urlopen(f"{api_server}/replenishment/") as r:
        assert r.status == 200 and 'id="chart"' in r.read().decode()
    with urllib.request.urlopen(f"{api_server}/replenishment/api/run-dates") as r:
        assert json.load(r)["run_dates"][0] == RUN_DATE.isoformat()
    with urllib.request.urlopen(f"{api_server}/api/v2/plugins") as r:
        plugins = {p["name"]: p for p in json.load(r)["plugins"]}
    mine = plugins["replenishment"]
    assert mine["fastapi_apps"][0]["url_prefix"] == "/replenishment"
    assert mine["external_views"][0]["url_route"] == "replenishment"


def _band_runs(forecast: list[dict]) -> list[str]:
    """Kinds of the runs of consecutive forecast days: "band" (lower end > 0) or "clipped"."""
    kinds = ["band" if f["yhat_lower"] > 0 else "clipped" for f in forecast]
    return [k for i, k in enumerate(kinds) if i == 0 or kinds[i - 1] != k]


def _as_page_writes(text: str) -> str:
    """``text`` with its numbers as the page writes them in an en-US browser (1,046.2)."""
    return re.sub(
        r"(?<![\w.\-])\d+(?:\.\d+)?(?![\w.]|-\d)",
        lambda m: f"{float(m.group()):,.{len(m.group().partition('.')[2])}f}",
        text,
    )


def _check_orders_table(frame, placed: pd.DataFrame, sku: str) -> None:
    """The orders table's search box, category filter and sort order (``placed``: the
    orders to place as ``/api/orders`` gives them, with their SKU's category)."""
    rows = frame.locator("#orders tbody tr")
    by_value = placed.sort_values(["order_value", "sku_id"], ascending=[False, True])
    assert [rows.nth(i).get_attribute("data-sku") for i in range(rows.count())] == by_value[
        "sku_id"
    ].tolist()
    frame.locator("#sku-search").fill(sku)
    assert [rows.nth(i).get_attribute("data-sku") for i in range(rows.count())] == [sku]
    frame.locator("#sku-search").fill("")
    category = placed["category"].iloc[0]
    frame.locator("#category").select_option(category)
    assert rows.count() == int((placed["category"] == category).sum())
    frame.locator("#category").select_option("")
    frame.locator("#sort").select_option("sku")
    assert rows.first.get_attribute("data-sku") == min(placed["sku_id"])
    frame.locator("#sort").select_option("exceptions")
    flagged = [rows.nth(i).locator("td.exceptions").inner_text() != "" for i in range(rows.count())]
    assert flagged == sorted(flagged, reverse=True)  # exceptions first
    frame.locator("#sort").select_option("value")


def test_browser_picks_a_sku_and_downloads_the_csv(api_server, warehouse, tmp_path):
    sync_api = playwright_sync_api(REQUIRE_POSTGRES)
    sku = _placed_sku(warehouse)
    external: list[str] = []
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                viewport={"width": 1400, "height": 1000}, accept_downloads=True, locale="en-US"
            )
            page = context.new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on(  # network requests (not blob:/data:) to anywhere but the api-server
                "request",
                lambda r: (
                    external.append(r.url)
                    if r.url.startswith(("http:", "https:", "ws:", "wss:"))
                    and not r.url.startswith(api_server)
                    else None
                ),
            )
            # the page inside the Airflow UI: a nav entry and an iframe on our app
            page.goto(f"{api_server}/plugin/replenishment", wait_until="networkidle")
            page.get_by_role("link", name="Replenishment").first.wait_for(timeout=30_000)
            frame = page.frame_locator("iframe[title=Replenishment]")
            frame.locator("#chart polyline.actual").wait_for(timeout=30_000)
            frame.locator("#orders tbody tr").first.wait_for()

            # the planner picks a SKU
            frame.locator("#sku").select_option(sku)
            body = frame.locator(f"body[data-loaded='{RUN_DATE.isoformat()}/{sku}']")
            body.wait_for(state="attached", timeout=30_000)
            chart = frame.locator("#chart")
            assert chart.locator("polyline.actual").count() == 1
            assert chart.locator("polyline.forecast").count() == 1
            series = json.load(
                urllib.request.urlopen(
                    f"{api_server}/replenishment/api/series?run_date={RUN_DATE}&sku_id={sku}"
                )
            )
            runs = _band_runs(series["forecast"])  # an interval clipped at 0 is not filled
            assert chart.locator("polygon.band").count() == runs.count("band") >= 1
            assert chart.locator("polyline.band-clipped").count() == runs.count("clipped")
            points = chart.locator("polyline.actual").get_attribute("points") or ""
            assert len(points.split()) == len(series["actual"])
            assert chart.locator("rect.promo").count() == sum(
                1 for pr in series["promotions"] if pr["end_date"] >= series["actual"][0]["date"]
            )
            assert chart.locator("rect.stockout").count() == sum(
                a["stockout"] for a in series["actual"]
            )
            orders = _table(warehouse, "replenishment_orders", RUN_DATE)
            placed = orders[orders["order_qty"] > 0]
            assert frame.locator("#orders tbody tr").count() == len(placed)
            assert frame.locator("#orders tbody tr.sel").get_attribute("data-sku") == sku
            qty = orders.set_index("sku_id").loc[sku, "order_qty"]
            assert (
                f"Order {qty:,.0f} units" in frame.locator("[data-testid=order-qty]").inner_text()
            )
            stored = orders.set_index("sku_id").loc[sku]
            assert frame.locator("[data-testid=reason]").inner_text() == _as_page_writes(
                display_reason(stored["reason"], stored["pack_size"])
            )
            assert (
                f"${stored['order_value']:,.2f}"
                in frame.locator("[data-testid=order-detail]").inner_text()
            )
            assert chart.locator("text.axis-title").text_content() == "units per day"
            shown = json.load(
                urllib.request.urlopen(f"{api_server}/replenishment/api/orders?run_date={RUN_DATE}")
            )["orders"]
            _check_orders_table(frame, pd.DataFrame(shown), sku)

            with page.expect_download() as info:
                frame.locator("#csv-all").click()
            download = info.value
            saved = tmp_path / download.suggested_filename
            download.save_as(saved)
            pd.testing.assert_frame_equal(pd.read_csv(saved), orders, check_dtype=False)
            with page.expect_download() as info:
                frame.locator("#csv-placed").click()
            buyer = pd.read_csv(info.value.path())
            assert buyer.columns[0] == "SKU" and len(buyer) == len(placed)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "plugin.png"), full_page=True)

            # an unknown run date or SKU in the URL is said, not replaced by another one
            page.goto(f"{api_server}/replenishment/?run_date=2020-01-01")
            page.locator("#error").wait_for(state="visible", timeout=30_000)
            assert "no run stored for 2020-01-01" in page.locator("#error").inner_text()
            assert page.locator("#orders tbody tr").count() == 0
            page.goto(f"{api_server}/replenishment/?run_date={RUN_DATE}&sku_id=nope")
            page.locator("#error").wait_for(state="visible", timeout=30_000)
            assert "no recommendation for SKU 'nope'" in page.locator("#error").inner_text()
            assert page.locator("#chart polyline.actual").count() == 0
            assert page.locator("#orders tbody tr").count() == len(placed)

            page.screenshot(path=str(ARTIFACTS / "plugin_unknown_sku.png"), full_page=True)
        finally:
            browser.close()
    assert not errors, errors
    assert not external, f"the page fetched outside the server: {external}"
