"""Great Expectations Data Docs that open offline, one folder per warehouse and run date.

GX 1.24 builds pages that load Bootstrap, jQuery, Font Awesome, Vega and its logo from
CDNs (unpkg, jsdelivr, cdnjs, bootstrapcdn, code.jquery.com, S3): on a site without
internet they show an empty, unstyled index. :func:`make_offline` rewrites every such
URL to a copy of the same file, vendored from npm in ``include/data_docs_assets`` (its
``manifest.json`` lists package, version, licence and the URLs each file replaces) and
copied beside the docs, so one run's folder is self-contained: it can be zipped, mailed
or served from any path. GX's own static files that no page uses (4.3 MB of animations
and fonts) are removed, so a run's folder (3.3 MB for a five-suite run) is smaller than
GX leaves it (4.4 MB).

:func:`site_dir` keys the folder by warehouse and run date,
``<data_docs_dir>/<warehouse key>/<run date>/``: a command-line run on another warehouse
never replaces the Airflow run's docs of the same date.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from html.parser import HTMLParser
from pathlib import Path

import sqlalchemy as sa

from replenishment.config import INCLUDE_DIR

log = logging.getLogger(__name__)

#: The vendored files and their manifest.
ASSETS_DIR = INCLUDE_DIR / "data_docs_assets"
#: Where a run's folder holds its copy of the assets.
VENDOR_DIR = "static/vendor"
#: GX's logo, shipped in the docs' own ``static/images``, stands in for the remote ones.
LOCAL_LOGO = "static/images/logo-long.png"
_GX_WEB_ASSETS = re.compile(
    r"https://great-expectations-web-assets\.s3[.\w-]*\.amazonaws\.com/[\w.-]+\.png(\?[^\"')\s]*)?"
)
_STATIC_REF = re.compile(r"""(?<=["'(])(?:\.\./)*static/""")
_TAG = re.compile(r"<(?:script|link)\b[^>]*>", re.IGNORECASE)
_INTEGRITY = re.compile(r"""\s+integrity=["']([^"']+)["']""")
_CROSSORIGIN = re.compile(r"""\s+crossorigin(?:=["'][^"']*["'])?""")
_CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]+)['"]?\s*\)|@import\s+['"]([^'"]+)['"]""")
_REMOTE = re.compile(r"^(https?:)?//", re.IGNORECASE)
#: (tag, attribute) pairs that make the browser fetch something when the page opens.
_FETCHED = {("script", "src"), ("img", "src"), ("source", "src"), ("iframe", "src")}
_FETCHED |= {("link", "href"), ("embed", "src"), ("video", "src"), ("audio", "src")}


class OfflineDocsError(RuntimeError):
    """Data Docs that would still load from the network, or a vendored file GX would refuse."""


# --------------------------------------------------------------------------- the folder


def warehouse_key(url: str | sa.engine.URL) -> str:
    """A short, stable folder name for the warehouse behind ``url``, without credentials.

    ``<dialect>-<database name>-<8 hex digits>``: the digits hash the dialect, host, port
    and database (a SQLite file by its absolute path), never the user or password, so the
    same warehouse gets the same key from the Airflow connection and the command line.

    >>> warehouse_key("postgresql+psycopg2://planner:secret@db.example:5432/shop")
    'postgresql-shop-117b8e2f'
    >>> warehouse_key("postgresql://other@db.example/shop")
    'postgresql-shop-117b8e2f'
    """
    parsed = sa.engine.make_url(url) if isinstance(url, str) else url
    backend = parsed.get_backend_name()
    database = parsed.database or ""
    if backend == "sqlite" and database not in ("", ":memory:"):
        database = str(Path(database).expanduser().resolve())
    port: int | str = parsed.port or (5432 if backend == "postgresql" else "")
    identity = f"{backend}|{(parsed.host or '').lower()}|{port}|{database}"
    digest = hashlib.sha256(identity.encode()).hexdigest()[:8]
    name = Path(database).stem if backend == "sqlite" else database
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._")[:40] or "db"
    return f"{backend}-{name}-{digest}"


def site_dir(data_docs_dir: str | Path, url: str | sa.engine.URL, run_date: dt.date) -> Path:
    """``<data_docs_dir>/<warehouse key>/<run date ISO>/``: one run's Data Docs."""
    return Path(data_docs_dir) / warehouse_key(url) / run_date.isoformat()


# --------------------------------------------------------------------------- references


class _References(HTMLParser):
    """Collects what a page makes the browser fetch: tag attributes and CSS ``url()``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value and (tag, name) in _FETCHED:
                self.found.append(value.strip())
            elif value and name == "style":
                self.found.extend(css_references(value))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.found.extend(css_references(data))


def css_references(css: str) -> list[str]:
    """The ``url(...)`` and ``@import`` targets of a stylesheet, ``data:`` URIs left out."""
    found = [a or b for a, b in _CSS_URL.findall(css)]
    return [u for u in found if not u.lower().startswith("data:")]


def asset_references(html: str) -> list[str]:
    """Every URL a page fetches when it opens (scripts, stylesheets, images, CSS ``url()``).

    Links a person clicks (``<a href>``) are not assets and are left out.
    """
    parser = _References()
    parser.feed(html)
    parser.close()
    return parser.found


def _local_target(page: Path, ref: str) -> Path | None:
    """The file a relative reference of ``page`` points to (None for remote or data URIs)."""
    if _REMOTE.match(ref) or ":" in ref.split("/")[0]:
        return None
    path = ref.split("#")[0].split("?")[0]
    return (page.parent / path).resolve() if path else None


def _site_references(site: Path) -> Iterator[tuple[Path, str]]:
    """(page or stylesheet, reference) for every asset the HTML and CSS files of ``site`` load."""
    for path in sorted(site.rglob("*")):
        if path.suffix not in (".html", ".css") or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        refs = asset_references(text) if path.suffix == ".html" else css_references(text)
        yield from ((path, ref) for ref in refs)


def remote_assets(site: Path) -> list[str]:
    """``<page>: <url>`` for each remote asset that a page or stylesheet of ``site`` loads."""
    return [
        f"{path.relative_to(site).as_posix()}: {ref}"
        for path, ref in _site_references(site)
        if _REMOTE.match(ref)
    ]


def missing_assets(site: Path) -> list[str]:
    """``<page>: <ref>`` for each relative asset reference whose file does not exist."""
    return [
        f"{path.relative_to(site).as_posix()}: {ref}"
        for path, ref in _site_references(site)
        if (target := _local_target(path, ref)) is not None and not target.is_file()
    ]


# --------------------------------------------------------------------------- rewriting


@dataclass(frozen=True)
class _Asset:
    url: str
    #: path under ``static/vendor`` (and under ASSETS_DIR)
    file: str


@cache
def vendored_assets() -> tuple[_Asset, ...]:
    """The CDN URLs of the manifest, each with the vendored file that replaces it."""
    manifest = json.loads((ASSETS_DIR / "manifest.json").read_text())
    assets = []
    for pkg in manifest["packages"]:
        folder = f"{pkg['npm'].split('/')[-1]}@{pkg['version']}"
        for url, file in pkg["replaces"].items():
            assets.append(_Asset(url, f"{folder}/{file}"))
    return tuple(assets)


def _sri(path: Path, algorithm: str) -> str:
    """The Subresource Integrity value of a file (``sha384-<base64>``)."""
    digest = hashlib.new(algorithm, path.read_bytes()).digest()
    return f"{algorithm}-{base64.b64encode(digest).decode()}"


def _drop_integrity(text: str, page: Path) -> str:
    """Remove ``integrity``/``crossorigin`` from tags now loading a vendored file.

    A browser refuses integrity-checked files from ``file://`` (no CORS there), so the
    check is made here instead: the vendored file must hash to what GX asked for.
    """

    def strip(match: re.Match[str]) -> str:
        tag = match.group(0)
        integrity = _INTEGRITY.search(tag)
        local = re.search(r"""(?:src|href)=["']([^"']*static/vendor/[^"']+)["']""", tag)
        if integrity and local:
            want = integrity.group(1)
            got = _sri(page.parent / local.group(1), want.split("-")[0])
            if got != want:
                raise OfflineDocsError(f"{local.group(1)}: {got}, GX asks for {want}")
        return _CROSSORIGIN.sub("", _INTEGRITY.sub("", tag)) if local else tag

    return _TAG.sub(strip, text)


def _rewrite_page(page: Path, site: Path) -> None:
    """Point the page's CDN URLs at ``static/vendor``, its remote logos at the local one.

    Every reference to the docs' ``static/`` folder is made relative to the page's depth.
    """
    up = os.path.relpath(site, page.parent).replace(os.sep, "/")
    prefix = "" if up == "." else f"{up}/"
    text = page.read_text(encoding="utf-8")
    for asset in vendored_assets():
        local = f"{prefix}{VENDOR_DIR}/{asset.file}"
        for quote in ('"', "'"):
            text = text.replace(f"{quote}{asset.url}{quote}", f"{quote}{local}{quote}")
    text = _GX_WEB_ASSETS.sub(f"{prefix}{LOCAL_LOGO}", text)
    # GX 1.24 links static/ one level too shallow from validation pages (favicon)
    text = _STATIC_REF.sub(f"{prefix}static/", text)
    text = _drop_integrity(text, page)
    page.write_text(text, encoding="utf-8")


def _copy_vendor(site: Path) -> None:
    """Copy the vendored files (and the licence files beside them) into the run's folder."""
    target = site / VENDOR_DIR
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(ASSETS_DIR, target, ignore=shutil.ignore_patterns("*.md", "*.json"))


def _prune_unused_static(site: Path) -> int:
    """Delete GX's static files that no page or used stylesheet references; return the count."""
    used: set[Path] = set()
    for page in site.rglob("*.html"):
        for ref in asset_references(page.read_text(encoding="utf-8")):
            target = _local_target(page, ref)
            if target is not None:
                used.add(target)
    for css in [p for p in used if p.suffix == ".css" and p.is_file()]:
        used |= {t for r in css_references(css.read_text()) if (t := _local_target(css, r))}
    vendor = (site / VENDOR_DIR).resolve()
    removed = 0
    for path in sorted((site / "static").rglob("*")):
        resolved = path.resolve()
        if path.is_file() and vendor not in resolved.parents and resolved not in used:
            path.unlink()
            removed += 1
    for folder in sorted((site / "static").rglob("*"), reverse=True):  # deepest first
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    return removed


def make_offline(site: Path) -> None:
    """Make the Data Docs in ``site`` load nothing from the network.

    Copies the vendored assets to ``site/static/vendor``, rewrites each CDN URL of every
    page to a relative path into it, replaces GX's remote logos by its local one and
    removes GX's static files that no page uses. Raises :class:`OfflineDocsError` naming
    the page and URL of any remote asset left (a GX upgrade that links a new CDN file:
    vendor it in the manifest).
    """
    _copy_vendor(site)
    pages = sorted(site.rglob("*.html"))
    for page in pages:
        _rewrite_page(page, site)
    removed = _prune_unused_static(site)
    log.info(
        "Data Docs in %s: %d page(s) pointed at static/vendor, %d unused GX file(s) removed",
        site,
        len(pages),
        removed,
    )
    left = remote_assets(site)
    if left:
        shown = "; ".join(left[:5]) + (f" (and {len(left) - 5} more)" if len(left) > 5 else "")
        raise OfflineDocsError(
            f"Data Docs in {site} still load {len(left)} asset(s) from the network: {shown}; "
            f"add them to {ASSETS_DIR / 'manifest.json'}"
        )
