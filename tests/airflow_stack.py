"""A real Airflow topology for tests, started by the documented ``scripts/airflow_local.sh``.

api-server + dag-processor + scheduler on a PostgreSQL metadata database, with the
LocalExecutor or the CeleryExecutor and Celery workers on the local Redis. The
tests drive it the way a data engineer would: the script starts, stops, restarts
and kills components; the ``airflow`` CLI (with the script's ``env``) triggers runs
and backfills; the metadata database is only read, to wait and to diagnose.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SCRIPT = ROOT / "scripts" / "airflow_local.sh"
DAG_ID = "replenishment_daily"
TERMINAL = ("success", "failed")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def session_pids(sid: int) -> list[int]:
    """Processes of session ``sid`` (Linux /proc): a component and everything it started."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) == sid:  # after "pid (comm)": state ppid pgrp session
            pids.append(int(entry.name))
    return pids


def cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def task_log_summary(path: Path, tail: int = 15) -> str:
    """The errors of a task log (JSON lines), then its last lines, each cut short."""
    lines = path.read_text(errors="replace").splitlines()
    errors = []
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("level") in ("error", "critical"):
            details = [
                f"{d.get('exc_type')}: {d.get('exc_value')}"
                for d in event.get("error_detail") or []
            ]
            errors.append(f"{event.get('event')} {' | '.join(details)}"[:3000])
    return "\n".join([f"({path})", *errors, "...", *(line[:400] for line in lines[-tail:])])


def _checked(cmd: list[str], env: dict[str, str], timeout: float) -> str:
    """Run ``cmd``; its stdout, or an assertion error with the end of its output."""
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (
        f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    return proc.stdout


def warehouse_connection(url: str) -> str:
    """AIRFLOW_CONN_WAREHOUSE (JSON) for a PostgreSQL warehouse URL."""
    wh = sa.engine.make_url(url)
    conn = {
        "conn_type": "postgres",
        "host": wh.host,
        "port": wh.port,
        "login": wh.username,
        "schema": wh.database,
    }
    return json.dumps(conn)


class AirflowStack:
    """One topology of ``scripts/airflow_local.sh`` in its own AIRFLOW_HOME and metadata db.

    ``settings`` are extra environment variables for every component and CLI call
    (``AIRFLOW__...`` options, ``REPLENISHMENT_...`` settings).
    """

    def __init__(
        self,
        home: Path,
        meta_url: str,
        warehouse_url: str,
        work: Path,
        executor: str = "LocalExecutor",
        broker_url: str | None = None,
        settings: dict[str, str] | None = None,
    ) -> None:
        self.home = home
        self.run_dir = home / "run"
        self.port = free_port()
        self.executor = executor
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AIRFLOW", "REPLENISHMENT_", "PYTEST"))
        }
        base.update(
            {
                "AIRFLOW_LOCAL_HOME": str(home),
                "AIRFLOW_LOCAL_DB_URL": meta_url,
                "AIRFLOW_LOCAL_PORT": str(self.port),
                "AIRFLOW_LOCAL_EXECUTOR": executor,
                "REPLENISHMENT_VENV": str(BIN.parent),
                "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
                # no cron runs: the DAG is unpaused only so that triggered and backfill
                # runs get scheduled, and "now" is far past the demo's history
                "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
                "AIRFLOW_CONN_WAREHOUSE": warehouse_connection(warehouse_url),
                "REPLENISHMENT_STAGING_DIR": str(work / "staging"),
                "REPLENISHMENT_DATA_DOCS_DIR": str(work / "docs"),
                "REPLENISHMENT_REPORT_DIR": str(work / "reports"),
                "REPLENISHMENT_TASK_RETRIES": "0",
                "REPLENISHMENT_FORECAST_BATCHES": "1",
                "REPLENISHMENT_FORECAST_WORKERS": "1",
                "GX_ANALYTICS_ENABLED": "False",
            }
        )
        if broker_url:
            base["AIRFLOW_LOCAL_BROKER_URL"] = broker_url
        base.update(settings or {})
        self.script_env = base
        self.meta = sa.create_engine(meta_url, poolclass=sa.pool.NullPool)
        self._env: dict[str, str] | None = None

    # -- the script

    def script(self, *args: str, timeout: float = 600) -> str:
        return _checked(["bash", str(SCRIPT), *args], self.script_env, timeout)

    @property
    def env(self) -> dict[str, str]:
        """The environment ``eval "$(airflow_local.sh env)"`` gives, for CLI calls."""
        if self._env is None:
            out = subprocess.run(
                ["bash", "-c", f'eval "$(bash {SCRIPT} env)" && env -0'],
                env=self.script_env,
                capture_output=True,
                check=True,
            ).stdout.decode()
            self._env = dict(item.split("=", 1) for item in out.split("\0") if "=" in item)
        return self._env

    def start(self) -> None:
        self.script("start")
        self.wait(self._dag_serialized, 180, f"the dag-processor to serialize {DAG_ID}")

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.script("stop", timeout=300)
        self.meta.dispose()

    def pid(self, component: str) -> int | None:
        path = self.run_dir / f"{component}.pid"
        return int(path.read_text()) if path.exists() else None

    def log(self, component: str) -> Path:
        return self.run_dir / f"{component}.log"

    def components(self) -> list[str]:
        return sorted(p.stem for p in self.run_dir.glob("*.log") if p.stem != "db-migrate")

    # -- the CLI

    def airflow(self, *args: str, timeout: float = 300) -> str:
        return _checked([str(BIN / "airflow"), *args], self.env, timeout)

    def trigger(self, day: dt.date) -> str:
        """`airflow dags trigger` for run date ``day``; the new run's id."""
        run_id = f"manual__{day.isoformat()}_{uuid.uuid4().hex[:6]}"
        self.airflow(
            "dags",
            "trigger",
            DAG_ID,
            "--run-id",
            run_id,
            "--logical-date",
            f"{day.isoformat()}T00:00:00+00:00",
        )
        return run_id

    def run_state(self, run_id: str) -> str | None:
        with self.meta.connect() as conn:
            return conn.execute(
                sa.text("SELECT state FROM dag_run WHERE dag_id = :d AND run_id = :r"),
                {"d": DAG_ID, "r": run_id},
            ).scalar()

    def wait_for_run(self, run_id: str, timeout: float = 600) -> str:
        self.wait(lambda: self.run_state(run_id) in TERMINAL, timeout, f"run {run_id}", 2.0)
        return str(self.run_state(run_id))

    def task_instances(self, run_id: str, task_id: str | None = None) -> list[dict]:
        sql = (
            "SELECT id, task_id, map_index, state, try_number FROM task_instance "
            "WHERE dag_id = :d AND run_id = :r" + (" AND task_id = :t" if task_id else "")
        )
        with self.meta.connect() as conn:
            rows = conn.execute(sa.text(sql), {"d": DAG_ID, "r": run_id, "t": task_id})
            return [dict(r._mapping) for r in rows]

    def backfill(
        self, first: dt.date, last: dt.date, *extra: str, timeout: float = 900
    ) -> dict[str, str]:
        """`airflow backfill create` for first..last; wait until its runs end; their states."""
        # one active backfill per DAG: the scheduler marks the previous one complete
        # (every 30 s) once none of its runs is queued or running
        self.wait(self.no_active_backfill, 120, "the previous backfill to complete")
        before = self.latest_backfill_id()
        self.airflow(
            "backfill",
            "create",
            "--dag-id",
            DAG_ID,
            "--from-date",
            first.isoformat(),
            "--to-date",
            last.isoformat(),
            "--max-active-runs",
            "2",
            *extra,
        )
        backfill_id = self.latest_backfill_id()
        assert backfill_id > before, "airflow backfill create made no backfill"
        return self.wait_for_backfill(backfill_id, (last - first).days + 1, timeout)

    def latest_backfill_id(self) -> int:
        with self.meta.connect() as conn:
            return int(conn.execute(sa.text("SELECT max(id) FROM backfill")).scalar() or 0)

    def wait_for_backfill(self, backfill_id: int, n_days: int, timeout: float) -> dict[str, str]:
        """The states of the runs of ``backfill_id``, once all ``n_days`` have ended."""
        query = sa.text("SELECT logical_date, state FROM dag_run WHERE backfill_id = :i")

        def states() -> dict[str, str]:
            with self.meta.connect() as conn:
                rows = conn.execute(query, {"i": backfill_id}).fetchall()
            return {r.logical_date.date().isoformat(): r.state for r in rows}

        def finished() -> bool:
            now = states()
            return len(now) == n_days and all(s in TERMINAL for s in now.values())

        self.wait(finished, timeout, f"the {n_days} runs of backfill {backfill_id}", every=5.0)
        return states()

    def no_active_backfill(self) -> bool:
        with self.meta.connect() as conn:
            return not conn.execute(
                sa.text("SELECT count(*) FROM backfill WHERE completed_at IS NULL")
            ).scalar()

    def list_runs(self) -> list[dict]:
        out = self.airflow("dags", "list-runs", DAG_ID, "-o", "json")
        listing = next(line for line in reversed(out.splitlines()) if line.startswith("["))
        return json.loads(listing)

    # -- state

    def _dag_serialized(self) -> bool:
        with self.meta.connect() as conn:
            try:
                return bool(
                    conn.execute(
                        sa.text("SELECT count(*) FROM serialized_dag WHERE dag_id = :d"),
                        {"d": DAG_ID},
                    ).scalar()
                )
            except sa.exc.ProgrammingError:
                return False

    def wait(
        self, ready: Callable[[], bool], timeout: float, what: str, every: float = 2.0
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            dead = self.dead_components()
            assert not dead, f"components exited while waiting for {what}: {dead}"
            time.sleep(every)
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")

    def dead_components(self) -> list[str]:
        """Components the script started and did not stop or kill, whose process is gone."""
        dead = []
        for path in self.run_dir.glob("*.pid"):
            if path.name.endswith(".celery.pid"):
                continue  # Celery's own pid file of a worker; the script's is <name>.pid
            try:
                os.kill(int(path.read_text()), 0)
            except (ProcessLookupError, ValueError):
                dead.append(path.stem)
        return sorted(dead)

    def task_log(self, run_id: str, task_id: str, map_index: int = -1, attempt: int = 1) -> Path:
        folder = self.home / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}" / f"task_id={task_id}"
        if map_index >= 0:
            folder = folder / f"map_index={map_index}"
        return folder / f"attempt={attempt}.log"

    # -- diagnostics

    def report(self) -> str:
        parts = [self.script("status")]
        for name in self.components():
            lines = self.log(name).read_text(errors="replace").splitlines()
            parts.append(
                f"===== {name} (last 60 lines of {self.log(name)})\n" + "\n".join(lines[-60:])
            )
        try:
            with self.meta.connect() as conn:
                bad = conn.execute(
                    sa.text(
                        "SELECT run_id, task_id, map_index, state, try_number FROM task_instance "
                        "WHERE dag_id = :d AND state NOT IN ('success', 'skipped') "
                        "ORDER BY run_id, task_id"
                    ),
                    {"d": DAG_ID},
                ).fetchall()
        except Exception as exc:  # the report must not hide the failure it reports
            bad = []
            parts.append(f"(task instances unavailable: {exc})")
        for run_id, task_id, map_index, state, try_number in bad[:10]:
            parts.append(f"===== task {run_id} {task_id}[{map_index}]: {state} (try {try_number})")
            log = self.task_log(run_id, task_id, map_index, max(1, try_number))
            if log.exists():
                parts.append(task_log_summary(log))
        return "\n".join(parts)

    @contextlib.contextmanager
    def reporting_failures(self) -> Iterator[None]:
        try:
            yield
        except BaseException:
            with contextlib.suppress(Exception):
                print(self.report())  # pytest shows it with the failure
            raise


@contextlib.contextmanager
def airflow_stack(
    warehouse_url: str, work: Path, name: str = "stack", **kwargs
) -> Iterator[AirflowStack]:
    """A started AirflowStack on a metadata database of its own, dropped afterwards."""
    from tests.conftest import new_pg_database

    with new_pg_database("replenishment_airflow") as meta_url:
        stack = AirflowStack(work / name, meta_url, warehouse_url, work, **kwargs)
        try:
            with stack.reporting_failures():
                stack.start()
            yield stack
        finally:
            stack.stop()
