"""The production topology for real: CeleryExecutor, two Celery workers, Redis, PostgreSQL.

``scripts/airflow_local.sh`` starts api-server, dag-processor, scheduler and two
Celery workers on the local Redis broker and a PostgreSQL metadata database. The
Celery topology stages through a real S3 server (SeaweedFS, credentials from an Airflow
connection), as workers on machines that share no disk would; the LocalExecutor one
stages on local disk. Each run's output rows are compared with those of the same date
run by the LocalExecutor topology: a plain run, a run whose forecast task loses its
worker to SIGKILL, and a run whose scheduler is restarted while the forecast runs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
from collections.abc import Callable, Iterator

import pytest
import redis

from replenishment.db import make_engine
from replenishment.demo import DemoSpec, generate
from replenishment.staging import runs
from tests.airflow_stack import AirflowStack, airflow_stack, cmdline, session_pids
from tests.conftest import new_pg_database, require_pg
from tests.s3_server import S3Server
from tests.support import RUN_DATE, SMALL_DEMO, assert_same_outputs, check_contract, outputs

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

DAY = dt.timedelta(days=1)
PLAIN, KILLED_WORKER, RESTARTED_SCHEDULER = RUN_DATE, RUN_DATE - DAY, RUN_DATE - 2 * DAY
#: a Redis database of the tests' own, emptied first (another one for a second test session)
BROKER_URL = os.environ.get("REPLENISHMENT_TEST_BROKER_URL", "redis://127.0.0.1:6379/11")
DEMO = {**SMALL_DEMO, "n_skus": 64}  # 32 SKUs per forecast task: seconds of work to interrupt
SETTINGS = {
    # two forecast tasks, each forecasting with two worker processes of its own:
    # parallelism inside a task that runs in a (daemonic) Celery prefork pool process
    "REPLENISHMENT_FORECAST_BATCHES": "2",
    "REPLENISHMENT_FORECAST_WORKERS": "2",
    # a task whose worker died is retried, soon: production keeps 2 retries, 2 min apart
    "REPLENISHMENT_TASK_RETRIES": "2",
    "REPLENISHMENT_TASK_RETRY_DELAY_SECONDS": "5",
    # a task without heartbeat is failed (and retried) after 20 s instead of 5 min
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
}


@pytest.fixture(scope="module")
def warehouses(pg_available: bool) -> Iterator[Callable[[], str]]:
    """A factory of PostgreSQL demo warehouses (the same data each time), dropped at the end."""
    require_pg(pg_available)
    with contextlib.ExitStack() as stack:

        def make() -> str:
            url = stack.enter_context(new_pg_database())
            engine = make_engine(url)
            generate(engine, DemoSpec(**DEMO))
            engine.dispose()
            return url

        yield make


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    # one Data Docs folder for both topologies: data_quality_results stores its path
    docs = tmp_path_factory.mktemp("data_docs")
    return {**SETTINGS, "REPLENISHMENT_DATA_DOCS_DIR": str(docs)}


@pytest.fixture(scope="module")
def reference(warehouses, settings, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The three dates run by the LocalExecutor topology."""
    url = warehouses()
    work = tmp_path_factory.mktemp("local")
    with (
        airflow_stack(url, work, "local", settings=settings) as stack,
        stack.reporting_failures(),
    ):
        stack.airflow("dags", "unpause", "replenishment_daily")
        run_ids = [stack.trigger(day) for day in (PLAIN, KILLED_WORKER, RESTARTED_SCHEDULER)]
        for run_id in run_ids:  # two at a time (max_active_runs=2)
            assert stack.wait_for_run(run_id) == "success", run_id
    return {day: outputs(url, day) for day in (PLAIN, KILLED_WORKER, RESTARTED_SCHEDULER)}


@pytest.fixture(scope="module")
def celery(
    warehouses, settings, s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple]:
    broker = redis.Redis.from_url(BROKER_URL)
    broker.flushdb()  # fails loudly when Redis is not there
    url = warehouses()
    work = tmp_path_factory.mktemp("celery")
    staged = {
        "REPLENISHMENT_STAGING_DIR": s3_server.url("celery"),
        "REPLENISHMENT_STAGING_CONN_ID": "staging_s3",
        "AIRFLOW_CONN_STAGING_S3": json.dumps(s3_server.connection()),
    }
    with airflow_stack(
        url, work, "celery", executor="CeleryExecutor", broker_url=BROKER_URL,
        settings={**settings, **staged},
    ) as stack:  # fmt: skip
        assert {"worker-1", "worker-2"} <= set(stack.components()), stack.components()
        stack.airflow("dags", "unpause", "replenishment_daily")
        yield stack, url
    broker.flushdb()
    broker.close()
    # every successful run's load deleted its staged objects
    assert runs(s3_server.url("celery"), fs=s3_server.fs()) == {}


def _worker_of(stack: AirflowStack, log_path: str) -> str:
    """The Celery worker that executed the task attempt whose log is ``log_path``."""
    found = [
        name
        for name in ("worker-1", "worker-2")
        if f"log_path='{log_path}'" in stack.log(name).read_text(errors="replace")
    ]
    assert len(found) == 1, f"{log_path} executed by {found}"
    return found[0]


def _log_path(run_id: str, map_index: int, attempt: int) -> str:
    return (
        f"dag_id=replenishment_daily/run_id={run_id}/task_id=forecast/"
        f"map_index={map_index}/attempt={attempt}.log"
    )


def _forecasting_worker(stack: AirflowStack, run_id: str) -> tuple[str, int] | None:
    """(worker, map index) of a forecast task whose worker processes are computing now."""
    for ti in stack.task_instances(run_id, "forecast"):
        if ti["state"] != "running":
            continue
        for name in ("worker-1", "worker-2"):
            pid = stack.pid(name)
            procs = [cmdline(p) for p in session_pids(pid)] if pid else []
            supervised = any(f"airflow supervisor: {ti['id']}" in c for c in procs)
            computing = any("-m replenishment.forecast" in c for c in procs)
            if supervised and computing:
                return name, ti["map_index"]
    return None


def _check_same_as_reference(url: str, day: dt.date, reference: dict) -> None:
    check_contract(url, day)  # complete and without duplicates
    assert_same_outputs(reference[day], outputs(url, day))


def test_a_run_on_two_celery_workers_gives_the_rows_of_a_local_executor_run(celery, reference):
    stack, url = celery
    with stack.reporting_failures():
        run_id = stack.trigger(PLAIN)
        assert stack.wait_for_run(run_id) == "success"
        _check_same_as_reference(url, PLAIN, reference)

        # every task went through Celery; the forecast tasks forecast with 2 processes each
        tis = stack.task_instances(run_id)
        assert len(tis) == 7 and {t["state"] for t in tis} == {"success"}, tis
        for map_index in (0, 1):
            _worker_of(stack, _log_path(run_id, map_index, 1))
            log = stack.task_log(run_id, "forecast", map_index).read_text()
            assert re.search(r"forecast 3\d SKUs in [\d.]+ s with 2 process\(es\)", log), log[
                -3000:
            ]


def test_a_worker_killed_during_forecast_its_task_is_retried_on_the_other(celery, reference):
    stack, url = celery
    with stack.reporting_failures():
        run_id = stack.trigger(KILLED_WORKER)
        found: list[tuple[str, int]] = []

        def forecasting() -> bool:
            hit = _forecasting_worker(stack, run_id)
            found.extend([hit] if hit else [])
            return hit is not None

        stack.wait(forecasting, 300, "a forecast task computing on a worker", every=0.2)
        victim, map_index = found[0]
        stack.script("kill", victim)  # SIGKILL the worker, its pool and the task's processes
        survivor = "worker-2" if victim == "worker-1" else "worker-1"

        assert stack.wait_for_run(run_id) == "success"
        ti = next(
            t for t in stack.task_instances(run_id, "forecast") if t["map_index"] == map_index
        )
        assert ti["state"] == "success" and ti["try_number"] == 2, ti
        assert _worker_of(stack, _log_path(run_id, map_index, 1)) == victim
        assert _worker_of(stack, _log_path(run_id, map_index, 2)) == survivor
        _check_same_as_reference(url, KILLED_WORKER, reference)

        stack.script("start", victim)  # back to two workers


def test_a_scheduler_restarted_mid_run_the_run_completes(celery, reference):
    stack, url = celery
    with stack.reporting_failures():
        run_id = stack.trigger(RESTARTED_SCHEDULER)
        stack.wait(
            lambda: _forecasting_worker(stack, run_id) is not None,
            300,
            "a forecast task computing on a worker",
            every=0.2,
        )
        old = stack.pid("scheduler")
        stack.script("restart", "scheduler")
        assert stack.pid("scheduler") != old

        assert stack.wait_for_run(run_id) == "success"
        tis = stack.task_instances(run_id)
        assert {t["state"] for t in tis} == {"success"}, tis
        # the new scheduler adopted the running tasks: none was failed and retried
        assert {t["try_number"] for t in tis} == {1}, tis
        _check_same_as_reference(url, RESTARTED_SCHEDULER, reference)
