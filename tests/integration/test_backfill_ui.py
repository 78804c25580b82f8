"""A backfill made the way a data engineer makes one in the Airflow UI.

Headless Chromium logs into the api-server of a real topology (scripts/airflow_local.sh,
LocalExecutor, PostgreSQL metadata and warehouse), opens ``replenishment_daily`` and
creates a backfill of three dates with *Trigger → Backfill*. The scheduler runs them;
the DAG's Runs tab shows them, a screenshot is kept in ``artifacts/``, and the
reporting tables hold those three run dates and no other.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from replenishment.load import OUTPUT_TABLES
from tests.airflow_stack import DAG_ID, AirflowStack
from tests.airflow_stack import airflow_stack as start_stack
from tests.conftest import REQUIRE_POSTGRES
from tests.support import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    RUN_DATE,
    check_contract,
    outputs,
    playwright_sync_api,
    raw_output,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

DATES = [RUN_DATE - dt.timedelta(days=n) for n in (2, 1, 0)]  # 2026-06-29 .. 2026-07-01
USER = "engineer"  # a SimpleAuthManager user of role admin, who creates the backfill
UI_TIMEOUT = 60_000  # ms for a page element: the machine is shared and has two cores
RUNS_TIMEOUT = 600  # s for the three runs


@pytest.fixture
def sync_api():
    return playwright_sync_api(REQUIRE_POSTGRES)


@pytest.fixture
def stack(sync_api, pg_warehouse: str, tmp_path: Path) -> Iterator[AirflowStack]:
    """The LocalExecutor topology (its api-server up), its user's password written."""
    settings = {"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin"}
    with start_stack(pg_warehouse, tmp_path, settings=settings) as running:
        with running.reporting_failures():
            # the script's start waited for the api-server; its users' passwords follow
            running.wait(
                lambda: _passwords(running).exists(), 180, "the api-server to write the passwords"
            )
        yield running


def _passwords(stack: AirflowStack) -> Path:
    # SimpleAuthManager writes a password per user of [core] simple_auth_manager_users
    return stack.home / "simple_auth_manager_passwords.json.generated"


def expect(locator):
    """Playwright's ``expect``, imported once the ``sync_api`` fixture has found Playwright."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def _shown(day: dt.date) -> str:
    """How the backfill form shows a date picked at midnight: 'Jun 29, 2026 00:00'."""
    return f"{day:%b %d, %Y} 00:00"


def _pick(page, form, label: str, day: dt.date) -> None:
    """Type ``day`` at 00:00 into the From or To date-time picker of the backfill form."""
    field = form.get_by_role("group").filter(has=page.get_by_text(label, exact=True))
    field.get_by_test_id("datetime-input").click()
    date_box = page.get_by_role("textbox", name=label, exact=True)
    picker = page.get_by_role("dialog").filter(has=date_box)
    # the picker works in the UI's time zone (the browser's by default): UTC here
    expect(picker).to_contain_text("UTC", timeout=UI_TIMEOUT)
    date_box.fill(f"{day:%Y/%m/%d}")  # the picker's placeholder: YYYY/MM/DD
    picker.get_by_role("textbox", name="HH:mm").fill("00:00")
    page.keyboard.press("Escape")  # closes the picker, not the form
    expect(picker).to_be_hidden(timeout=UI_TIMEOUT)
    expect(field).to_contain_text(_shown(day), timeout=UI_TIMEOUT)


def _create_backfill_in_the_browser(page, base: str, password: str) -> dict:
    """Log in, open the DAG, create the backfill of DATES; the API's answer to the form."""
    page.goto(f"{base}/dags/{DAG_ID}")
    page.get_by_label("Username").fill(USER)  # the login page, with next= the DAG page
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**/dags/{DAG_ID}")
    expect(page.get_by_role("heading", name=DAG_ID, exact=True)).to_be_visible(timeout=UI_TIMEOUT)

    page.get_by_role("button", name="Trigger Dag").click()
    page.get_by_role("dialog").get_by_text("Backfill", exact=True).click()
    form = page.get_by_role("dialog").filter(
        has=page.get_by_role("heading", name=f"Run Backfill - {DAG_ID}")
    )
    expect(form).to_be_visible(timeout=UI_TIMEOUT)
    _pick(page, form, "From", DATES[0])
    _pick(page, form, "To", DATES[-1])
    # the form's dry run: the three logical dates, no more
    expect(form.get_by_text(f"{len(DATES)} runs will be triggered.")).to_be_visible(
        timeout=UI_TIMEOUT
    )
    expect(form.get_by_role("radio", name="Missing Runs")).to_be_checked()
    form.locator("input[name=max_active_runs]").fill("2")
    # the DAG is paused, as after a deployment: the form unpauses it
    expect(form.get_by_role("checkbox", name=f"Unpause {DAG_ID} on trigger")).to_be_checked()

    with page.expect_response(
        lambda r: r.url.endswith("/api/v2/backfills") and r.request.method == "POST",
    ) as created:
        form.get_by_role("button", name="Run Backfill").click()
    assert created.value.ok, f"{created.value.status} {created.value.text()}"
    expect(form).to_be_hidden(timeout=UI_TIMEOUT)
    return created.value.json()


def _show_runs(page, run_ids: list[str]) -> None:
    """Reload the DAG page, open its Runs tab and see every run a successful backfill run."""
    page.reload()
    page.get_by_role("link", name="Runs", exact=True).click()
    heading = page.get_by_role("heading", name=f"{len(run_ids)} Dag Runs", exact=True)
    expect(heading).to_be_visible(timeout=UI_TIMEOUT)
    for run_id in run_ids:
        row = page.get_by_role("row").filter(has=page.get_by_role("link", name=run_id, exact=True))
        for text in ("Success", "Backfill", USER):
            expect(row).to_contain_text(text, timeout=UI_TIMEOUT)


def test_backfill_created_in_the_ui_runs_the_three_dates(sync_api, stack, pg_warehouse):
    base = f"http://127.0.0.1:{stack.port}"
    password = json.loads(_passwords(stack).read_text())[USER]
    expected = [d.isoformat() for d in DATES]
    errors: list[str] = []
    with stack.reporting_failures(), sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # the UI shows and picks dates in the browser's time zone unless told otherwise
            context = browser.new_context(
                viewport={"width": 1400, "height": 1000}, locale="en-US", timezone_id="UTC"
            )
            context.set_default_timeout(UI_TIMEOUT)  # clicks, typing, page loads
            page = context.new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            backfill = _create_backfill_in_the_browser(page, base, password)

            states = stack.wait_for_backfill(backfill["id"], len(DATES), RUNS_TIMEOUT)
            assert states == {d: "success" for d in expected}, states
            with stack.meta.connect() as conn:
                stored = conn.execute(
                    sa.text("SELECT * FROM backfill WHERE id = :i"), {"i": backfill["id"]}
                ).one()
                runs = conn.execute(
                    sa.text(
                        "SELECT run_id, logical_date, state, run_type, triggering_user_name "
                        "FROM dag_run WHERE dag_id = :d ORDER BY logical_date"
                    ),
                    {"d": DAG_ID},
                ).fetchall()
                paused = conn.execute(
                    sa.text("SELECT is_paused FROM dag WHERE dag_id = :d"), {"d": DAG_ID}
                ).scalar()

            _show_runs(page, [r.run_id for r in runs])
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "backfill_ui.png"), full_page=True)
        except BaseException:
            with contextlib.suppress(Exception):  # what the browser showed when it failed
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "backfill_ui-failed.png"), full_page=True)
            raise
        finally:
            browser.close()

        # the backfill the form made: the dates picked, at midnight UTC, as the CLI's
        # --from-date/--to-date would have; by the browser's user; the DAG unpaused
        midnight = dt.time(tzinfo=dt.UTC)
        assert stored.from_date == dt.datetime.combine(DATES[0], midnight), stored
        assert stored.to_date == dt.datetime.combine(DATES[-1], midnight), stored
        assert stored.reprocess_behavior == "none" and stored.max_active_runs == 2, stored
        assert stored.triggering_user_name == USER, stored
        assert paused is False
        # exactly the three dates ran, as backfill runs
        assert [r.logical_date.date().isoformat() for r in runs] == expected, runs
        assert {(r.state, r.run_type, r.triggering_user_name) for r in runs} == {
            ("success", "backfill", USER)
        }, runs
        assert sorted(r["logical_date"][:10] for r in stack.list_runs()) == expected

    # the reporting tables hold those three run dates, each loaded by its own backfill run
    run_dates = {
        table: sorted({str(v)[:10] for v in frame["run_date"]})
        for table, frame in outputs(pg_warehouse, None).items()
    }
    assert run_dates == dict.fromkeys(OUTPUT_TABLES, expected), run_dates
    loaded = raw_output(pg_warehouse, "pipeline_runs")
    loaded_by = sorted(
        (str(row.run_date)[:10], row.run_id, row.run_type) for row in loaded.itertuples()
    )
    assert loaded_by == [(day, r.run_id, "backfill") for day, r in zip(expected, runs, strict=True)]
    for day in DATES:
        check_contract(pg_warehouse, day)
    assert not errors, f"the UI threw: {errors}"
