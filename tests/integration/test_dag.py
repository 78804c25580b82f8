"""The DAG run end to end by Airflow (`airflow dags test`), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from pathlib import Path

import pytest

from replenishment.config import Settings
from replenishment.pipeline import run_pipeline
from replenishment.staging import runs
from tests.s3_server import S3Server
from tests.support import RUN_DATE, assert_same_outputs, check_contract, outputs

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.sys.executable).parent


def _env(home: Path, conn: dict, tmp: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWS_"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW_CONN_WAREHOUSE": json.dumps(conn),
            "REPLENISHMENT_STAGING_DIR": str(tmp / "staging"),
            "REPLENISHMENT_DATA_DOCS_DIR": str(tmp / "docs"),
            "REPLENISHMENT_FORECAST_WORKERS": "2",
            "REPLENISHMENT_TASK_RETRIES": "0",
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            **(extra or {}),
        }
    )
    return env


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("airflow_home")
    env = _env(home, {"conn_type": "sqlite", "host": "/nonexistent"}, home)
    subprocess.run(
        [str(BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True
    )
    return home


def run_dag(
    home: Path,
    conn: dict,
    tmp: Path,
    conf: dict | None = None,
    run_date: dt.date = RUN_DATE,
    extra_env: dict[str, str] | None = None,
) -> tuple[str, str]:
    """Run the DAG for ``run_date`` with `airflow dags test`; (final state, log)."""
    env = _env(home, conn, tmp, extra_env)
    cmd = [str(BIN / "airflow"), "dags", "test", "replenishment_daily", run_date.isoformat()]
    if conf:
        cmd += ["-c", json.dumps(conf)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    log = proc.stdout + proc.stderr
    runs = subprocess.run(
        [str(BIN / "airflow"), "dags", "list-runs", "replenishment_daily", "-o", "json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    listing = next(line for line in reversed(runs.splitlines()) if line.startswith("["))
    states = [
        r["state"]
        for r in json.loads(listing)
        if (r["logical_date"] or "").startswith(run_date.isoformat())
    ]
    assert states, f"no DAG run recorded:\n{log[-4000:]}"
    return states[0], log


def test_dag_on_sqlite_matches_command_line(airflow_home, sqlite_warehouse, tmp_path):
    path = sqlite_warehouse.removeprefix("sqlite:///")
    state, log = run_dag(airflow_home, {"conn_type": "sqlite", "host": path}, tmp_path)
    assert state == "success", log[-6000:]
    dag_out = check_contract(sqlite_warehouse, RUN_DATE)
    # the command line, same code, same date: same rows
    settings = Settings.load(
        {
            "warehouse_url": sqlite_warehouse,
            "staging_dir": str(tmp_path / "cli"),
            "data_docs_dir": str(tmp_path / "docs"),
        }
    )
    run_pipeline(settings, RUN_DATE)
    assert_same_outputs(dag_out, outputs(sqlite_warehouse, RUN_DATE))


def test_dag_with_s3_staging_matches_local_staging(
    airflow_home, sqlite_warehouse, s3_server: S3Server, tmp_path
):
    """The tasks hand their data through SeaweedFS, with the credentials of an Airflow
    connection (no AWS_* variable is set): the rows of the command line's local staging."""
    root = s3_server.url("dag")
    extra = {
        "REPLENISHMENT_STAGING_DIR": root,
        "REPLENISHMENT_STAGING_CONN_ID": "staging_s3",
        "AIRFLOW_CONN_STAGING_S3": json.dumps(s3_server.connection()),
    }
    path = sqlite_warehouse.removeprefix("sqlite:///")
    conn = {"conn_type": "sqlite", "host": path}
    state, log = run_dag(airflow_home, conn, tmp_path, extra_env=extra)
    assert state == "success", log[-6000:]
    assert f"staging in {root}, credentials from connection 'staging_s3'" in log
    assert s3_server.secret not in log
    dag_out = check_contract(sqlite_warehouse, RUN_DATE)
    assert runs(root, fs=s3_server.fs()) == {}, "the load did not delete the run's objects"
    local = {"warehouse_url": sqlite_warehouse, "staging_dir": str(tmp_path / "cli")}
    run_pipeline(Settings.load({**local, "data_docs_dir": str(tmp_path / "docs")}), RUN_DATE)
    assert_same_outputs(dag_out, outputs(sqlite_warehouse, RUN_DATE))


@pytest.mark.postgres
def test_dag_on_postgres(airflow_home, pg_warehouse, tmp_path):
    from sqlalchemy.engine import make_url

    url = make_url(pg_warehouse)
    conn = {
        "conn_type": "postgres",
        "host": url.host,
        "port": url.port,
        "login": url.username,
        "schema": url.database,
    }
    state, log = run_dag(airflow_home, conn, tmp_path, conf={"horizon_days": 14})
    assert state == "success", log[-6000:]
    check_contract(pg_warehouse, RUN_DATE, horizon_days=14)


def test_dag_runs_a_date_two_years_ago(airflow_home, tmp_path):
    """A warehouse whose history ended two years ago: the DAG run for that date loads its rows.

    With a start_date after the date, `airflow dags test` "succeeded" with no task run."""
    from replenishment.db import make_engine
    from replenishment.demo import DemoSpec, generate

    today = dt.datetime.now(dt.UTC).date()
    old = today.replace(year=today.year - 2) if (today.month, today.day) != (2, 29) else today
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    generate(engine, DemoSpec(n_skus=8, years=1.2, end_date=old - dt.timedelta(days=1), seed=3))
    engine.dispose()
    conn = {"conn_type": "sqlite", "host": str(tmp_path / "old.db")}
    state, log = run_dag(airflow_home, conn, tmp_path, run_date=old)
    assert state == "success", log[-6000:]
    out = check_contract(url, old)
    assert len(out["replenishment_orders"]) > 0
    assert str(out["pipeline_runs"]["status"].iloc[0]) == "success"
