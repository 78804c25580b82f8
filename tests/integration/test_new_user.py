"""A new user's path, as the README gives it (issue 17): ``./dev ui``, *Trigger* with the
form's defaults, a green run, the Replenishment page showing it; then a blocked run made
by corrupting the warehouse shows as blocked with its failures.

``./dev ui`` runs for real (``airflow standalone`` on SQLite metadata, the embedded demo
warehouse with history up to yesterday), in a temporary home, on a free port, with a
smaller demo (``REPLENISHMENT_DEMO_SKUS``) so that the runs take seconds. Headless
Chromium clicks what a person clicks. Screenshots are kept in ``artifacts/``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REQUIRE_POSTGRES
from tests.support import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, playwright_sync_api

pytestmark = [pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DAG_ID = "replenishment_daily"
UI_TIMEOUT = 60_000  # ms for a page element: two shared cores
START_SECONDS = 600  # ./dev ui: setup, demo warehouse, migrations, the api-server
RUN_SECONDS = 600


@dataclass
class Ui:
    base: str
    home: Path
    data: Path

    def password(self) -> str:
        generated = self.home / "simple_auth_manager_passwords.json.generated"
        return str(json.loads(generated.read_text())["admin"])

    def runs(self) -> list[tuple[str, str, str]]:
        """(run_id, logical date, state) of the DAG's runs, from the metadata database."""
        with contextlib.closing(sqlite3.connect(self.home / "airflow.db")) as conn:
            return conn.execute(
                "SELECT run_id, logical_date, state FROM dag_run WHERE dag_id = ? ORDER BY id",
                (DAG_ID,),
            ).fetchall()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5):
            return True
    except OSError:
        return False


@pytest.fixture
def ui(tmp_path: Path) -> Iterator[Ui]:
    """``./dev ui`` in a home of its own; stopped (its whole process group) afterwards."""
    port = _free_port()
    home, data = tmp_path / "airflow", tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "REPLENISHMENT_"))}
    env |= {
        "AIRFLOW_HOME": str(home),
        "REPLENISHMENT_DATA_DIR": str(data),
        "REPLENISHMENT_DEMO_SKUS": "24",
        "REPLENISHMENT_TASK_RETRIES": "0",  # a blocked run fails at once
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
    }
    log_path = tmp_path / "dev-ui.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [str(ROOT / "dev"), "ui"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    running = Ui(f"http://127.0.0.1:{port}", home, data)
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            generated = home / "simple_auth_manager_passwords.json.generated"
            if _answers(running.base + "/api/v2/monitor/health") and generated.exists():
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"./dev ui did not come up:\n{log_path.read_text()[-5000:]}")
            time.sleep(3)
        yield running
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends: ./dev ui stops it all
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def expect(locator):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def _trigger_with_the_defaults(page) -> None:
    """The DAG's Trigger button, the form as it opens, its Trigger button."""
    page.get_by_role("button", name="Trigger Dag").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible(timeout=UI_TIMEOUT)
    with page.expect_response(
        lambda r: r.url.endswith(f"/api/v2/dags/{DAG_ID}/dagRuns") and r.request.method == "POST",
        timeout=UI_TIMEOUT,
    ) as created:
        dialog.get_by_role("button", name="Trigger", exact=True).click()
    assert created.value.ok, f"{created.value.status} {created.value.text()}"


def _wait_for(ui: Ui, runs: int, state: str) -> list[tuple[str, str, str]]:
    """The manual runs once the ``runs``-th has finished in ``state``. (Unpausing also
    lets the scheduler start the latest interval's run of the same date: it must not
    disturb the manual one, and must end green itself.)"""
    deadline = time.monotonic() + RUN_SECONDS
    while time.monotonic() < deadline:
        manual = [r for r in ui.runs() if r[0].startswith("manual__")]
        if len(manual) >= runs and manual[runs - 1][2] in ("success", "failed"):
            assert manual[runs - 1][2] == state, ui.runs()
            return manual
        time.sleep(3)
    raise AssertionError(f"run {runs} did not finish: {ui.runs()}")


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_a_new_user_triggers_the_demo_with_the_defaults_and_sees_it(ui):
    sync_api = playwright_sync_api(REQUIRE_POSTGRES)
    today = dt.datetime.now(dt.UTC).date()
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = None
        try:
            context = browser.new_context(
                viewport={"width": 1400, "height": 1000}, locale="en-US", timezone_id="UTC"
            )
            context.set_default_timeout(UI_TIMEOUT)
            page = context.new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{ui.base}/dags/{DAG_ID}")
            page.get_by_label("Username").fill("admin")
            page.get_by_label("Password").fill(ui.password())
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"**/dags/{DAG_ID}")

            # the form's defaults: today, unpause on trigger; the run is green
            _trigger_with_the_defaults(page)
            first = _wait_for(ui, 1, "success")
            assert first[0][1][:10] == today.isoformat(), first
            scheduled = [r for r in ui.runs() if r[0].startswith("scheduled__")]
            deadline = time.monotonic() + RUN_SECONDS
            while scheduled and scheduled[0][2] not in ("success", "failed"):
                assert time.monotonic() < deadline, scheduled
                time.sleep(3)
                scheduled = [r for r in ui.runs() if r[0].startswith("scheduled__")]
            assert all(r[2] == "success" for r in scheduled), scheduled
            page.reload()
            expect(page.get_by_text("Success").first).to_be_visible(timeout=UI_TIMEOUT)
            _shot(page, "new_user_dag_run.png")

            # the Replenishment page shows that run
            page.goto(f"{ui.base}/replenishment/")
            run_date = page.locator("#run-date")
            expect(run_date).to_be_visible(timeout=UI_TIMEOUT)
            expect(run_date).to_have_value(today.isoformat(), timeout=UI_TIMEOUT)
            expect(page.locator("#orders tbody tr").first).to_be_visible(timeout=UI_TIMEOUT)
            _shot(page, "new_user_page.png")

            # a corrupted warehouse: the next run is blocked and the page says why
            with contextlib.closing(sqlite3.connect(ui.data / "warehouse.db")) as conn:
                sku = conn.execute(
                    "SELECT MIN(sku_id) FROM sku_master WHERE active = 1"
                ).fetchone()[0]
                conn.execute("UPDATE sku_master SET unit_cost = -1 WHERE sku_id = ?", (sku,))
                conn.commit()
            page.goto(f"{ui.base}/dags/{DAG_ID}")
            _trigger_with_the_defaults(page)
            _wait_for(ui, 2, "failed")
            page.goto(f"{ui.base}/replenishment/")
            blocked = page.get_by_test_id("blocked")
            expect(blocked).to_be_visible(timeout=UI_TIMEOUT)
            expect(blocked).to_contain_text(f"{today.isoformat()}: blocked")
            expect(blocked).to_contain_text("unit_cost")
            _shot(page, "new_user_blocked.png")
        except BaseException:
            if page is not None:
                with contextlib.suppress(Exception):
                    _shot(page, "new_user-failed.png")
            raise
        finally:
            browser.close()
    assert not errors, errors
