"""Apache Superset, connected as the BI role, shows the right totals on its first dashboard.

Superset is installed from ``requirements-bi.txt`` into a virtualenv of its own, cached
under ``$REPLENISHMENT_BI_HOME`` (default ``~/.cache/replenishment-bi``) and reinstalled
when the requirements change; so is its migrated metadata database with an ``admin``
user. The test loads a known history into a PostgreSQL warehouse as the pipeline role
(tests/integration/test_bi_views.py), writes the bundle for the BI role
(:mod:`replenishment.bi_bundle`), imports it with ``superset import-dashboards``, starts
Superset on 127.0.0.1 (a free port) and asks ``GET /api/v1/chart/<id>/data/`` for every
chart of the dashboard: each answer must equal the same figures computed in SQL from
the tables, so nothing is counted twice.

Then the dashboard is opened as a person would, in headless Chromium: every chart must
draw (no error box), and the screenshot is kept in ``artifacts/superset_dashboard.png``.

The first run on a machine installs Superset (minutes); later runs reuse it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from replenishment.bi_bundle import dashboard_spec, write_bundle
from replenishment.db import make_engine, run_script
from replenishment.roles import BI_ROLE, PIPELINE_ROLE, apply_roles
from tests.conftest import REQUIRE_POSTGRES
from tests.integration.test_bi_views import _load_history
from tests.support import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, playwright_sync_api

pytestmark = [pytest.mark.bi, pytest.mark.postgres, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "requirements-bi.txt"
BI_HOME = Path(os.environ.get("REPLENISHMENT_BI_HOME", Path.home() / ".cache" / "replenishment-bi"))
INSTALL_SECONDS = 3600
START_SECONDS = 300
ADMIN = {"username": "admin", "password": "admin"}


def _run(args: list[str], env: dict[str, str], timeout: float, cwd: Path) -> None:
    done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(args[:3])} failed ({done.returncode}):\n{done.stderr[-4000:]}")


def _superset_venv() -> Path:
    """The cached virtualenv with requirements-bi.txt installed (installed when missing)."""
    sha = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    venv = BI_HOME / "venv"
    marker = venv / ".requirements.sha"
    if marker.exists() and marker.read_text() == sha:
        return venv
    BI_HOME.mkdir(parents=True, exist_ok=True)
    if not (venv / "bin" / "python").exists():
        _run([sys.executable, "-m", "venv", str(venv)], dict(os.environ), 600, BI_HOME)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)]
    _run(pip, dict(os.environ), INSTALL_SECONDS, BI_HOME)
    marker.write_text(sha)
    return venv


def _config(path: Path, metadata: Path) -> Path:
    path.write_text(
        "SECRET_KEY = 'replenishment-bi-test-only-0123456789abcdef'\n"
        f"SQLALCHEMY_DATABASE_URI = 'sqlite:///{metadata}'\n"
        "WTF_CSRF_ENABLED = False\n"
    )
    return path


def _metadata_template(venv: Path) -> Path:
    """A migrated Superset metadata database with the admin user, made once per install."""
    sha = (venv / ".requirements.sha").read_text()[:12]
    template = BI_HOME / f"superset-metadata-{sha}.db"
    if template.exists():
        return template
    work = BI_HOME / "metadata-build"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = {**os.environ, "SUPERSET_CONFIG_PATH": str(_config(work / "c.py", work / "s.db"))}
    superset = str(venv / "bin" / "superset")
    _run([superset, "db", "upgrade"], env, START_SECONDS * 2, work)
    admin = ["--firstname", "BI", "--lastname", "Test", "--email", "bi@example.com"]
    _run([superset, "fab", "create-admin", "--username", ADMIN["username"], *admin,
          "--password", ADMIN["password"]], env, START_SECONDS, work)  # fmt: skip
    _run([superset, "init"], env, START_SECONDS * 2, work)
    shutil.move(work / "s.db", template)
    return template


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Api:
    """Superset's REST API as the admin user."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.token = ""
        self.token = self.call("POST", "/api/v1/security/login", {**ADMIN, "provider": "db"})[
            "access_token"
        ]

    def call(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{method} {path}: {exc.code} {exc.read()[:2000]!r}") from exc


@pytest.fixture
def superset(pg_url: str, tmp_path: Path) -> Iterator[tuple[Api, str]]:
    """Superset with the bundle imported, connected to a loaded warehouse as the BI role."""
    venv = _superset_venv()
    template = _metadata_template(venv)
    admin = make_engine(pg_url)
    with admin.begin() as conn:
        run_script(conn, "create_source_tables.sql")
    apply_roles(admin)
    admin.dispose()
    url = sa.make_url(pg_url)
    _load_history(url.set(username=PIPELINE_ROLE).render_as_string(hide_password=False)).dispose()
    bi_url = url.set(drivername="postgresql+psycopg2", username=BI_ROLE, password=None)
    bundle = write_bundle(tmp_path / "bundle.zip", bi_url.render_as_string(hide_password=False))

    metadata = tmp_path / "superset.db"
    shutil.copy(template, metadata)
    env = {**os.environ, "SUPERSET_CONFIG_PATH": str(_config(tmp_path / "c.py", metadata))}
    superset_bin = str(venv / "bin" / "superset")
    _run([superset_bin, "import-dashboards", "-p", str(bundle), "-u", ADMIN["username"]],
         env, START_SECONDS, tmp_path)  # fmt: skip
    port = _free_port()
    log = (tmp_path / "superset.log").open("w")
    server = subprocess.Popen(
        [superset_bin, "run", "-h", "127.0.0.1", "-p", str(port), "--with-threads"],
        env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                with urllib.request.urlopen(base + "/health", timeout=5) as response:
                    if response.read() == b"OK":
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"Superset did not start:\n{(tmp_path / 'superset.log').read_text()[-4000:]}"
                )
            time.sleep(2)
        yield Api(base), pg_url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
        log.close()


def _chart_data(api: Api) -> dict[str, pd.DataFrame]:
    """Every chart of the dashboard by its title: the rows its saved query returns."""
    charts = api.call("GET", "/api/v1/chart/?q=(page_size:100)")["result"]
    out = {}
    for chart in charts:
        result = api.call("GET", f"/api/v1/chart/{chart['id']}/data/")["result"][0]
        out[chart["slice_name"]] = pd.DataFrame(result["data"])
    return out


def _sql(url: str, sql: str) -> pd.DataFrame:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return pd.read_sql_query(sa.text(sql), conn)
    finally:
        engine.dispose()


def _by(frame: pd.DataFrame, keys: list[str], value: str) -> dict[tuple[Any, ...], float]:
    return {
        tuple(str(r[k])[:10] if k.endswith("date") else r[k] for k in keys): round(
            float(r[value]), 9
        )
        for _, r in frame.iterrows()
    }


def _epoch_days(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """Superset returns temporal columns as epoch milliseconds."""
    return frame.assign(**{column: pd.to_datetime(frame[column], unit="ms").dt.date.astype(str)})


def test_every_chart_shows_the_totals_sql_computes_from_the_tables(superset):
    api, url = superset
    titles = {c["title"]: name for name, c in dashboard_spec()["charts"].items()}
    data = _chart_data(api)
    assert set(data) == set(titles), sorted(data)
    chart = {titles[t]: frame for t, frame in data.items()}
    for name, frame in chart.items():
        assert len(frame) > 0, f"chart {name} shows no rows"
    latest = "(SELECT MAX(run_date) FROM reporting.replenishment_orders)"

    expected = _sql(url, f"""
        SELECT s.category, SUM(o.order_value) AS order_value
        FROM reporting.replenishment_orders o JOIN reporting.sku_dim s USING (sku_id)
        WHERE o.run_date = {latest} GROUP BY s.category""")  # fmt: skip
    assert _by(chart["order_value_by_category"], ["category"], "order_value") == _by(
        expected, ["category"], "order_value"
    )

    expected = _sql(url, f"""
        SELECT sku_id, order_qty, order_value FROM reporting.replenishment_orders
        WHERE run_date = {latest} AND order_qty > 0""")  # fmt: skip
    assert _by(chart["orders_to_place"], ["sku_id"], "order_value") == _by(
        expected, ["sku_id"], "order_value"
    )
    assert set(chart["orders_to_place"]["reason"]) == {"x"}

    # lag 7: each day's actuals once (all SKUs), against the forecasts of the run 7 days before
    expected = _sql(url, """
        SELECT a.demand_date AS forecast_date, SUM(a.actual_units) AS actual_units,
               SUM(f.yhat) AS forecast_units
        FROM reporting.daily_actuals a
        JOIN reporting.demand_forecast f
          ON f.sku_id = a.sku_id AND f.forecast_date = a.demand_date
         AND f.run_date = a.demand_date - 7
        GROUP BY a.demand_date""")  # fmt: skip
    lag7 = _epoch_days(chart["forecast_vs_actual_lag7"], "forecast_date")
    for value in ("actual_units", "forecast_units"):
        assert _by(lag7, ["forecast_date"], value) == _by(expected, ["forecast_date"], value)
    sold = _sql(url, "SELECT SUM(actual_units) AS u FROM reporting.daily_actuals "
                     "WHERE demand_date IN ('2026-06-29', '2026-06-30')")["u"].iloc[0]  # fmt: skip
    assert lag7["actual_units"].sum() == pytest.approx(sold)

    expected = _sql(url, """
        SELECT a.run_date, s.category,
               SUM(a.wape * a.actual_units) / SUM(a.actual_units) AS pooled_wape
        FROM reporting.forecast_accuracy a JOIN reporting.sku_dim s USING (sku_id)
        WHERE a.wape IS NOT NULL AND a.baseline_wape IS NOT NULL
        GROUP BY a.run_date, s.category""")  # fmt: skip
    accuracy = _epoch_days(chart["accuracy_by_category"], "run_date").dropna(subset=["pooled_wape"])
    assert _by(accuracy, ["run_date", "category"], "pooled_wape") == _by(
        expected, ["run_date", "category"], "pooled_wape"
    )

    expected = _sql(url, """
        SELECT run_date, SUM(failed_expectations) AS failed_expectations
        FROM reporting.data_quality_results GROUP BY run_date""")  # fmt: skip
    quality = _epoch_days(chart["data_quality_history"], "run_date")
    assert _by(quality, ["run_date"], "failed_expectations") == _by(
        expected, ["run_date"], "failed_expectations"
    )

    expected = _sql(url, """
        SELECT policy, 1.0 - SUM(short_units) / SUM(demand_units) AS fill_rate,
               SUM(total_cost) AS total_cost
        FROM reporting.inventory_simulation_summary WHERE demand_class = 'all'
        GROUP BY policy""")  # fmt: skip
    for value in ("fill_rate", "total_cost"):
        assert _by(chart["inventory_kpis"], ["policy"], value) == _by(expected, ["policy"], value)
    assert set(chart["inventory_kpis"]["currency"]) == {"EUR"}

    # the datasets carry the dictionary: grain in the description, the main time column
    datasets = api.call("GET", "/api/v1/dataset/?q=(page_size:100)")["result"]
    lag = next(d for d in datasets if d["table_name"] == "v_forecast_vs_actual_lag7")
    detail = api.call("GET", f"/api/v1/dataset/{lag['id']}")["result"]
    assert detail["description"].startswith("Grain: one row per SKU and forecast day")
    assert detail["main_dttm_col"] == "forecast_date"
    metrics = {m["metric_name"]: m for m in detail["metrics"]}
    assert metrics["pooled_wape"]["d3format"] == ".1%"

    _dashboard_in_a_browser(api.base, len(titles))


def _dashboard_in_a_browser(base: str, charts: int) -> None:
    """Log in, open the dashboard, wait until every chart has drawn; screenshot to artifacts/."""
    sync_api = playwright_sync_api(REQUIRE_POSTGRES)
    shot = ARTIFACTS / "superset_dashboard.png"
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1800}, locale="en-US")
            page.goto(f"{base}/login/", timeout=120_000)
            page.locator("input[name=username], #username").first.fill(ADMIN["username"])
            page.locator("input[name=password], #password").first.fill(ADMIN["password"])
            page.locator("button[type=submit], input[type=submit]").first.click()
            page.wait_for_url(lambda url: "/login" not in url, timeout=120_000)
            page.goto(f"{base}/superset/dashboard/replenishment/", timeout=120_000)
            drawn = page.locator(
                ".chart-container svg, .chart-container canvas, .chart-container table"
            )
            holders = page.locator("[data-test=dashboard-component-chart-holder]")
            deadline = time.monotonic() + 180
            while holders.count() < charts or drawn.count() < charts:
                if time.monotonic() > deadline:
                    break
                page.wait_for_timeout(1000)
            page.wait_for_timeout(2000)  # animations settle before the picture
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(shot), full_page=True)
            errors = page.locator("[data-test=error-tooltip], .alert-danger, [role=alert]")
            assert holders.count() == charts, (
                f"{holders.count()} of {charts} charts placed ({shot})"
            )
            assert drawn.count() >= charts, f"{drawn.count()} of {charts} charts drawn ({shot})"
            assert errors.count() == 0, [errors.nth(i).inner_text() for i in range(errors.count())]
        finally:
            browser.close()
