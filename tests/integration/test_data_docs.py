"""Data Docs of a blocked run open offline, in a browser that may not reach the network.

One failing validation on a small SQLite warehouse (a negative quantity in ``order_lines``)
builds the docs GX 1.24 writes, made offline by :func:`replenishment.data_docs.make_offline`.
The browser test opens ``index.html`` and the failing suite's page in headless Chromium
with every request outside ``file://`` aborted and recorded: none may be made, no file may
be missing, the pages are styled by Bootstrap and drawn by their scripts; the screenshots
are kept in ``artifacts/data_docs.png`` (index) and ``data_docs_order_lines.png``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from replenishment import db, warehouse
from replenishment.data_docs import (
    VENDOR_DIR,
    missing_assets,
    remote_assets,
    site_dir,
    warehouse_key,
)
from replenishment.validate import ValidationReport, validate_sources
from tests.conftest import REQUIRE_POSTGRES
from tests.support import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, playwright_sync_api
from tests.unit.test_validate import D, base_frames

pytestmark = pytest.mark.slow

#: Bootstrap 4's font stack (its reboot sets it on body); an unstyled page has the default serif
BOOTSTRAP_FONT = "-apple-system, BlinkMacSystemFont"


@dataclass(frozen=True)
class Docs:
    url: str
    docs_dir: Path
    report: ValidationReport

    @property
    def site(self) -> Path:
        return site_dir(self.docs_dir, self.url, D)


def _warehouse(path: Path, quantity: float) -> sa.Engine:
    frames = base_frames()
    frames["order_lines"].loc[0, "quantity"] = quantity
    engine = db.make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        db.run_script(conn, "create_source_tables.sql")
        for table, frame in frames.items():
            warehouse.bulk_insert(conn, table, frame)
    return engine


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> Docs:
    """Data Docs of a validation that blocks the run (built once for the module)."""
    tmp = tmp_path_factory.mktemp("data_docs")
    engine = _warehouse(tmp / "warehouse.db", quantity=-5.0)
    try:
        report = validate_sources(engine, D, data_docs_dir=str(tmp / "docs"))
    finally:
        engine.dispose()
    return Docs(str(engine.url), tmp / "docs", report)


def test_blocked_run_docs_load_nothing_from_the_network(docs: Docs) -> None:
    assert not docs.report.ok
    assert [f.suite for f in docs.report.critical_failures] == ["order_lines"]
    assert docs.report.data_docs_path == str(docs.site / "index.html")
    pages = sorted(docs.site.rglob("*.html"))
    assert len(pages) == 11  # index, 5 suites, 5 validation results
    assert remote_assets(docs.site) == []
    assert missing_assets(docs.site) == []
    text = "".join(p.read_text() for p in pages)
    for host in ("unpkg.com", "jsdelivr", "cdnjs", "bootstrapcdn", "code.jquery.com", "s3."):
        assert host not in text, host
    # self-contained and smaller than GX leaves it (4.4 MB of static files per run)
    assert (docs.site / VENDOR_DIR / "jquery@3.7.1/dist/jquery.min.js").is_file()
    size = sum(p.stat().st_size for p in docs.site.rglob("*") if p.is_file())
    assert size < 3_500_000, size


def test_docs_of_another_warehouse_on_the_same_date_keep_the_first(
    docs: Docs, tmp_path: Path
) -> None:
    other = _warehouse(tmp_path / "other.db", quantity=2.0)
    try:
        report = validate_sources(other, D, data_docs_dir=str(docs.docs_dir))
    finally:
        other.dispose()
    assert report.ok, report.message()
    assert report.data_docs_path == str(
        docs.docs_dir / warehouse_key(other.url) / D.isoformat() / "index.html"
    )
    assert report.data_docs_path != docs.report.data_docs_path
    assert Path(docs.report.data_docs_path or "").is_file()  # the blocked run's docs stay
    assert sorted(p.name for p in docs.docs_dir.iterdir()) == sorted(
        [warehouse_key(docs.url), warehouse_key(other.url)]
    )


def _open(page: object, path: Path) -> None:
    page.goto(path.as_uri(), wait_until="load")  # type: ignore[attr-defined]
    page.evaluate("document.fonts.ready")  # type: ignore[attr-defined]


def test_browser_shows_the_styled_failure_without_network(docs: Docs) -> None:
    sync_api = playwright_sync_api(REQUIRE_POSTGRES)
    external: list[str] = []
    failed: list[str] = []
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 900})

            def only_files(route: object) -> None:
                url = route.request.url  # type: ignore[attr-defined]
                if url.startswith("file:"):
                    route.continue_()  # type: ignore[attr-defined]
                else:
                    external.append(url)
                    route.abort()  # type: ignore[attr-defined]

            context.route("**/*", only_files)
            page = context.new_page()
            page.on("requestfailed", lambda r: failed.append(r.url))
            page.on("pageerror", lambda e: errors.append(str(e)))

            _open(page, docs.site / "index.html")
            font = page.evaluate("getComputedStyle(document.body).fontFamily")
            assert font.startswith(BOOTSTRAP_FONT), font  # Bootstrap's CSS applied
            table = page.locator("table.ge-index-page-validation-results-table")
            table.wait_for(state="visible", timeout=30_000)
            rows = table.locator("tbody tr")
            assert rows.count() == 5
            # bootstrap-table drew a toolbar per tab and filters (jQuery and plugins ran)
            assert page.locator(".bootstrap-table .fixed-table-toolbar").count() == 2
            assert table.locator("thead .filter-control select").first.is_visible()
            failed_row = rows.filter(has_text="order_lines")
            assert failed_row.locator("i.ge-failed-icon").count() == 1
            assert rows.locator("i.ge-success-icon").count() == 4
            assert page.evaluate("document.fonts.check('900 16px \"Font Awesome 6 Free\"')")
            logo = page.locator(".navbar-brand img").first
            assert page.evaluate(
                "(img) => img.complete && img.naturalWidth > 0", logo.element_handle()
            )
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "data_docs.png"), full_page=True)

            # the failing suite's page: its scripts (Vega too) ran, its tables are shown
            result = next(docs.site.glob("validations/order_lines/*/*/*.html"))
            _open(page, result)
            assert page.evaluate("typeof vegaEmbed === 'function' && typeof Popper === 'function'")
            assert page.locator("table.table").first.is_visible()
            assert "quantity" in page.locator("body").inner_text()
            page.screenshot(path=str(ARTIFACTS / "data_docs_order_lines.png"), full_page=True)
        finally:
            browser.close()
    assert external == [], external
    assert failed == [], failed
    assert errors == [], errors
