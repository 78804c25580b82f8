"""The DAG folder imports cleanly, cheaply, and follows the project's rules."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"


@pytest.fixture(scope="module")
def dagbag():
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert {
        "replenishment_daily",
        "replenishment_backtest_weekly",
        "replenishment_simulation",
    } <= set(dagbag.dags)


def test_dag_shape_and_defaults(dagbag):
    dag = dagbag.dags["replenishment_daily"]
    assert dag.catchup is False
    assert dag.max_active_runs and dag.max_active_runs <= 4
    assert dag.start_date.tzinfo is not None
    assert dag.doc_md and "replenishment_daily" in dag.doc_md
    assert set(dag.params.keys()) >= {"horizon_days", "holiday_country"}
    assert dag.params["horizon_days"] == 28 and dag.params["holiday_country"] == "US"
    assert dag.params["dq_mode"] == "block"
    assert dag.params.get_param("dq_mode").schema["enum"] == ["block", "quarantine"]
    ids = set(dag.task_dict)
    assert {"extract", "validate", "plan_batches", "forecast", "replenish", "load"} <= ids
    for task in dag.tasks:
        assert task.owner == "supply-chain-data"
        assert task.retries >= 1 or os.environ.get("REPLENISHMENT_TASK_RETRIES") == "0"
    assert dag.task_dict["forecast"].max_active_tis_per_dag
    upstream = {t: set(dag.task_dict[t].upstream_task_ids) for t in ids}
    assert "validate" in upstream["extract"]
    assert "extract" in upstream["plan_batches"]
    assert "forecast" in upstream["replenish"]
    assert "replenish" in upstream["load"]
    assert len(dag.task_dict["load"].outlets) == 5


@pytest.mark.parametrize(
    "dag_id", ["replenishment_daily", "replenishment_backtest_weekly", "replenishment_simulation"]
)
def test_start_date_is_early_and_static(dagbag, dag_id):
    """Any date a warehouse holds can be run: a start_date after it gave a green run that ran
    no task. Static (never now()), and catchup off so the scheduler runs the latest only."""
    dag = dagbag.dags[dag_id]
    assert dag.start_date <= dt.datetime(2000, 1, 2, tzinfo=dt.UTC)
    assert dag.catchup is False


@pytest.mark.parametrize(
    "dag_id", ["replenishment_daily", "replenishment_backtest_weekly", "replenishment_simulation"]
)
def test_params_and_dag_read_well_in_the_ui(dagbag, dag_id):
    """The trigger form: every param has a title and a description; the DAG a description."""
    dag = dagbag.dags[dag_id]
    assert dag.description and len(dag.description) > 20
    for name in dag.params:
        param = dag.params.get_param(name)
        assert param.schema.get("title"), name
        assert len(param.description or "") > 20, name
    if "holiday_country" in dag.params:
        enum = dag.params.get_param("holiday_country").schema["enum"]
        assert {"US", "DE", "GB", "FR", "JP"} <= set(enum) and len(enum) > 100


def test_parse_is_cheap_and_imports_nothing_heavy():
    """Parsing must not import pandas, prophet, great_expectations or open connections."""
    code = (
        "import sys, time, json, importlib.util\n"
        "import airflow.sdk  # Airflow itself is paid once by the parser, not per file\n"
        # the parser has the DAGs folder on sys.path (its helpers, replenishment_airflow)
        f"sys.path.insert(0, {str(DAGS)!r})\n"
        f"spec = importlib.util.spec_from_file_location('d', {str(DAGS / 'replenishment_daily.py')!r})\n"
        "m = importlib.util.module_from_spec(spec)\n"
        "t = time.perf_counter(); spec.loader.exec_module(m); dt = time.perf_counter() - t\n"
        "heavy = [n for n in ('pandas', 'prophet', 'great_expectations', 'replenishment') if n in sys.modules]\n"
        "print(json.dumps({'seconds': dt, 'heavy': heavy}))\n"
    )
    env = {**os.environ, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["heavy"] == []
    assert result["seconds"] < 1.0
