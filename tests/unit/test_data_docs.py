"""Data Docs offline: the vendored assets, the folder key, the rewrite on a tiny site."""

from __future__ import annotations

import base64
import datetime as dt
import doctest
import hashlib
import json
from pathlib import Path

import pytest

from replenishment.data_docs import (
    ASSETS_DIR,
    VENDOR_DIR,
    OfflineDocsError,
    asset_references,
    make_offline,
    missing_assets,
    remote_assets,
    site_dir,
    vendored_assets,
    warehouse_key,
)

MANIFEST = json.loads((ASSETS_DIR / "manifest.json").read_text())
BOOTSTRAP_JS = "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js"
#: what GX 1.24 writes for Bootstrap's script, integrity included
BOOTSTRAP_SRI = "sha384-JjSmVgyd0p3pXB1rRibZUAYoIIy6OrQ6VrjIEaFf/nJGzIxFDsf4x0xIM+B07jRM"
FA_CSS = "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css"
LOGO = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/logo-long.png?d=20261202"


def _folder(pkg: dict) -> Path:
    return ASSETS_DIR / f"{pkg['npm'].split('/')[-1]}@{pkg['version']}"


# --------------------------------------------------------------------------- the assets


def test_every_vendored_file_is_the_npm_file_the_manifest_names() -> None:
    listed = {ASSETS_DIR / "manifest.json", ASSETS_DIR / "README.md"}
    for pkg in MANIFEST["packages"]:
        assert pkg["license"] and pkg["version"][0].isdigit(), pkg["npm"]
        assert set(pkg["sha256"]) == set(pkg["files"]), pkg["npm"]
        for name, digest in pkg["sha256"].items():
            path = _folder(pkg) / name
            assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, path
        for name in [*pkg["files"], *pkg.get("extra", [])]:
            listed.add(_folder(pkg) / name)
        # a licence file beside the files, or a note saying where the notice is
        licences = [n for n in [*pkg["files"], *pkg.get("extra", [])] if "LICENSE" in n]
        assert licences or "licence" in pkg.get("note", ""), pkg["npm"]
        assert set(pkg["replaces"].values()) <= set(pkg["files"]), pkg["npm"]
    # lean: nothing else is kept, and the whole set stays small
    present = {p for p in ASSETS_DIR.rglob("*") if p.is_file()}
    assert present == listed, sorted(str(p) for p in present ^ listed)
    assert sum(p.stat().st_size for p in present) < 3_000_000


def test_the_vendored_bootstrap_is_byte_for_byte_what_gx_asks_the_cdn_for() -> None:
    path = ASSETS_DIR / "bootstrap@4.3.1/dist/js/bootstrap.min.js"
    digest = base64.b64encode(hashlib.sha384(path.read_bytes()).digest()).decode()
    assert f"sha384-{digest}" == BOOTSTRAP_SRI


def test_font_awesome_css_finds_every_webfont_it_references() -> None:
    css = ASSETS_DIR / "fontawesome-free@6.6.0/css/all.min.css"
    site = css.parents[1]
    assert missing_assets(site) == []
    assert {p.name for p in (site / "webfonts").iterdir()} == {
        f"fa-{f}.{ext}"
        for f in ("brands-400", "regular-400", "solid-900", "v4compatibility")
        for ext in ("ttf", "woff2")
    }


# --------------------------------------------------------------------------- the folder


def test_warehouse_key_names_the_warehouse_without_credentials(tmp_path: Path) -> None:
    url = "postgresql+psycopg2://planner:s3cret@db.example:5432/shop"
    key = warehouse_key(url)
    assert "s3cret" not in key and "planner" not in key
    assert key.startswith("postgresql-shop-")
    assert key == warehouse_key("postgresql://reader@DB.example/shop")  # same warehouse
    assert key != warehouse_key("postgresql://planner@db.example:5432/shop_test")
    assert key != warehouse_key("postgresql://planner@other.example:5432/shop")
    # a SQLite file by its absolute path, however the URL spells it
    absolute = f"sqlite:///{tmp_path / 'wh.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)
        assert warehouse_key("sqlite:///wh.db") == warehouse_key(absolute)
    assert warehouse_key(absolute) != warehouse_key(f"sqlite:///{tmp_path / 'b' / 'wh.db'}")
    assert warehouse_key(absolute).startswith("sqlite-wh-")
    odd = warehouse_key("postgresql://u:p@h/we ird/../name")
    assert "/" not in odd and " " not in odd


def test_site_dir_is_keyed_by_warehouse_and_run_date(tmp_path: Path) -> None:
    url = "postgresql://u:p@h:5432/shop"
    path = site_dir(tmp_path, url, dt.date(2026, 7, 1))
    assert path == tmp_path / warehouse_key(url) / "2026-07-01"


# --------------------------------------------------------------------------- the rewrite


def _page(depth: int, extra: str = "") -> str:
    up = "../" * depth
    return f"""<!DOCTYPE html><html><head>
<link rel="stylesheet" href="{FA_CSS}">
<link rel="shortcut icon" href="{up[3:]}static/images/favicon.ico" type="image/x-icon"/>
<style>.navbar-brand a {{ background: url('{LOGO}') 0 0 no-repeat; }}</style>
<script src="{BOOTSTRAP_JS}" integrity="{BOOTSTRAP_SRI}" crossorigin="anonymous"></script>
</head><body><a href="https://greatexpectations.io">GX</a><img src="{LOGO}"/>{extra}
</body></html>"""


def _site(tmp_path: Path, extra: str = "", sri: str = BOOTSTRAP_SRI) -> Path:
    site = tmp_path / "site"
    (site / "static/images").mkdir(parents=True)
    for name in ("favicon.ico", "logo-long.png", "glossary_scroller.gif"):
        (site / "static/images" / name).write_bytes(b"x")
    (site / "index.html").write_text(_page(0, extra).replace(BOOTSTRAP_SRI, sri))
    deep = site / "validations/order_lines/run_date=2026-07-01/20260701T000000Z"
    deep.mkdir(parents=True)
    (deep / "warehouse-order_lines.html").write_text(_page(4, extra))
    return site


def test_make_offline_points_every_asset_at_the_copy_beside_the_docs(tmp_path: Path) -> None:
    site = _site(tmp_path)
    assert len(remote_assets(site)) == 8  # 4 per page; the <a href> is a link, not an asset
    # GX links the favicon of a validation page one level too shallow
    assert missing_assets(site) == [
        "validations/order_lines/run_date=2026-07-01/20260701T000000Z/"
        "warehouse-order_lines.html: ../../../static/images/favicon.ico"
    ]

    make_offline(site)

    assert remote_assets(site) == [] and missing_assets(site) == []
    deep = next(site.rglob("warehouse-order_lines.html")).read_text()
    assert 'src="../../../../static/vendor/bootstrap@4.3.1/dist/js/bootstrap.min.js"' in deep
    assert "integrity" not in deep and "crossorigin" not in deep  # file:// has no CORS
    assert "url('../../../../static/images/logo-long.png')" in deep
    assert 'href="https://greatexpectations.io"' in deep  # links a person clicks stay
    index = (site / "index.html").read_text()
    assert 'href="static/vendor/fontawesome-free@6.6.0/css/all.min.css"' in index
    # the copy is self-contained (webfonts too) and GX's unused files are gone
    assert (site / VENDOR_DIR / "fontawesome-free@6.6.0/webfonts/fa-solid-900.woff2").is_file()
    assert not (site / "static/images/glossary_scroller.gif").exists()
    assert (site / "static/images/favicon.ico").exists()
    make_offline(site)  # twice is the same as once
    assert (site / "index.html").read_text() == index


def test_a_cdn_url_nobody_vendored_fails_loudly(tmp_path: Path) -> None:
    new = '<script src="https://cdn.jsdelivr.net/npm/d3@7"></script>'
    site = _site(tmp_path, extra=new)
    with pytest.raises(OfflineDocsError, match=r"2 asset\(s\).*index.html: https://cdn"):
        make_offline(site)


def test_a_vendored_file_that_is_not_what_gx_asked_for_fails_loudly(tmp_path: Path) -> None:
    site = _site(tmp_path, sri="sha384-" + base64.b64encode(b"0" * 48).decode())
    with pytest.raises(OfflineDocsError, match="bootstrap.min.js: sha384-JjSm.*GX asks for"):
        make_offline(site)


def test_asset_references_are_what_a_page_fetches_when_it_opens() -> None:
    html = """<link rel=stylesheet href="a.css"><script src='b.js'></script>
    <img src="c.png"><a href="d.html">d</a><div style="background:url(e.png)"></div>
    <style>@import "f.css"; .x { background: url("data:image/png;base64,AA") }</style>"""
    assert asset_references(html) == ["a.css", "b.js", "c.png", "e.png", "f.css"]


def test_the_manifest_replaces_each_url_once() -> None:
    urls = [a.url for a in vendored_assets()]
    assert len(urls) == len(set(urls)) == 16
    assert all(u.startswith("https://") for u in urls)


def test_module_doctests_pass() -> None:
    from replenishment import data_docs

    result = doctest.testmod(data_docs)
    assert result.attempted > 0 and result.failed == 0
