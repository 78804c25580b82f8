#!/usr/bin/env bash
# A local Airflow 3 topology for trying backfills the way production runs them:
# scheduler (LocalExecutor) + dag-processor + api-server (+ triggerer on request),
# with a PostgreSQL metadata database. Everything binds 127.0.0.1 only.
#
#   scripts/airflow_local.sh start    migrate the metadata db, start the components
#   scripts/airflow_local.sh stop     stop every component this script started
#   scripts/airflow_local.sh status   which components are running, where the logs are
#   scripts/airflow_local.sh env      print the environment (eval "$(scripts/airflow_local.sh env)")
#                                     for `airflow backfill create ...`, `airflow dags list-runs ...`
#
# Settings (environment variables, all optional):
#   AIRFLOW_LOCAL_HOME      AIRFLOW_HOME of this topology       (default: <repo>/.airflow-local)
#   AIRFLOW_LOCAL_DB_URL    metadata database; created if missing
#                           (default: postgresql+psycopg2://postgres@127.0.0.1:5432/airflow_local)
#   AIRFLOW_LOCAL_PORT      api-server port on 127.0.0.1          (default: 8080)
#   AIRFLOW_LOCAL_TRIGGERER 1 to start a triggerer too (only deferrable tasks need one)
#   AIRFLOW_CONN_WAREHOUSE  the warehouse connection, as for ./dev (default: the demo SQLite file)
#
# Example:
#   scripts/airflow_local.sh start
#   eval "$(scripts/airflow_local.sh env)"
#   airflow dags unpause replenishment_daily
#   airflow backfill create --dag-id replenishment_daily --from-date 2026-06-25 --to-date 2026-07-01 --max-active-runs 2
#   airflow dags list-runs replenishment_daily
#   scripts/airflow_local.sh stop
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${REPLENISHMENT_VENV:-$ROOT/.venv}"
HOME_DIR="${AIRFLOW_LOCAL_HOME:-$ROOT/.airflow-local}"
DB_URL="${AIRFLOW_LOCAL_DB_URL:-postgresql+psycopg2://postgres@127.0.0.1:5432/airflow_local}"
PORT="${AIRFLOW_LOCAL_PORT:-8080}"
RUN_DIR="$HOME_DIR/run"
COMPONENTS=(scheduler dag-processor api-server)
[[ "${AIRFLOW_LOCAL_TRIGGERER:-0}" == "1" ]] && COMPONENTS+=(triggerer)

local_env() {
  export AIRFLOW_HOME="$HOME_DIR"
  export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="$DB_URL"
  export AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_SIZE=2
  export AIRFLOW__DATABASE__SQL_ALCHEMY_MAX_OVERFLOW=5
  export AIRFLOW__CORE__EXECUTOR=LocalExecutor
  export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-4}"
  export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
  export AIRFLOW__CORE__PLUGINS_FOLDER="$ROOT/plugins"
  export AIRFLOW__CORE__LOAD_EXAMPLES=False
  export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$PORT/execution/"
  export AIRFLOW__API__HOST=127.0.0.1
  export AIRFLOW__API__PORT="$PORT"
  export AIRFLOW__API__BASE_URL="http://127.0.0.1:$PORT"
  export REPLENISHMENT_DATA_DIR="${REPLENISHMENT_DATA_DIR:-$ROOT/.data}"
  # (the default is built first: a JSON default inside ${VAR:-...} would end at its first "}")
  local demo_conn="{\"conn_type\": \"sqlite\", \"host\": \"$REPLENISHMENT_DATA_DIR/warehouse.db\"}"
  export AIRFLOW_CONN_WAREHOUSE="${AIRFLOW_CONN_WAREHOUSE:-$demo_conn}"
  export GX_ANALYTICS_ENABLED=False
  export PATH="$VENV/bin:$PATH"
  # Scheduler and api-server must share the key that signs the task tokens; keep
  # it in a private file of this AIRFLOW_HOME rather than in airflow.cfg.
  mkdir -p "$RUN_DIR"
  if [[ ! -s "$RUN_DIR/jwt_secret" ]]; then
    (umask 077; "$VENV/bin/python" -c 'import secrets; print(secrets.token_hex(32))' >"$RUN_DIR/jwt_secret")
  fi
  AIRFLOW__API_AUTH__JWT_SECRET="$(cat "$RUN_DIR/jwt_secret")"
  export AIRFLOW__API_AUTH__JWT_SECRET
}

ensure_database() {
  "$VENV/bin/python" - "$DB_URL" <<'PY'
import sys
import sqlalchemy as sa

url = sa.engine.make_url(sys.argv[1])
if url.get_backend_name() == "postgresql":
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.exec_driver_sql(
            "SELECT 1 FROM pg_database WHERE datname = %(name)s", {"name": url.database}
        ).scalar()
        if not exists:
            conn.exec_driver_sql(f'CREATE DATABASE "{url.database}"')
            print(f"created database {url.database}")
    admin.dispose()
PY
}

session_pids() { ps -o pid= -s "$1" 2>/dev/null | tr -s ' \n' ' ' | sed 's/^ //; s/ $//' || true; }

pid_of() { cat "$RUN_DIR/$1.pid" 2>/dev/null || true; }

is_running() {
  local pid
  pid="$(pid_of "$1")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

start_component() {
  local name="$1"; shift
  if is_running "$name"; then
    echo "$name already running (pid $(pid_of "$name"))"; return 0
  fi
  # setsid: the component and all its children (executor workers, task processes)
  # share one process group whose id is the recorded pid, so stop can end them all.
  setsid "$@" >"$RUN_DIR/$name.log" 2>&1 < /dev/null &
  echo $! >"$RUN_DIR/$name.pid"
  echo "started $name (pid $!, log $RUN_DIR/$name.log)"
}

stop_component() {
  local name="$1" pid
  pid="$(pid_of "$name")"
  if [[ -z "$pid" ]] || ! kill -0 "$pid" 2>/dev/null; then
    rm -f "$RUN_DIR/$name.pid"; return 0
  fi
  # setsid made the component the leader of its own session (sid = pid). Task
  # processes move to process groups of their own but stay in that session, so
  # the session, not the process group, names everything this component started.
  kill -TERM -- "-$pid" 2>/dev/null || true
  for _ in $(seq 1 30); do
    [[ -z "$(session_pids "$pid")" ]] && break
    sleep 1
  done
  local left
  left="$(session_pids "$pid")"
  # shellcheck disable=SC2086
  [[ -n "$left" ]] && kill -KILL $left 2>/dev/null || true
  rm -f "$RUN_DIR/$name.pid"
  echo "stopped $name (pid $pid)"
}

wait_for_api() {
  for _ in $(seq 1 90); do
    if "$VENV/bin/python" -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=2)" \
        "http://127.0.0.1:$PORT/api/v2/monitor/health" >/dev/null 2>&1; then
      echo "api-server is up: http://127.0.0.1:$PORT"; return 0
    fi
    is_running api-server || { tail -n 40 "$RUN_DIR/api-server.log"; return 1; }
    sleep 1
  done
  echo "api-server did not answer on 127.0.0.1:$PORT; see $RUN_DIR/api-server.log" >&2
  return 1
}

cmd="${1:-help}"
case "$cmd" in
  start)
    local_env
    ensure_database
    echo "==> airflow db migrate ($AIRFLOW__DATABASE__SQL_ALCHEMY_CONN)"
    airflow db migrate >"$RUN_DIR/db-migrate.log" 2>&1 || { tail -n 40 "$RUN_DIR/db-migrate.log"; exit 1; }
    start_component api-server airflow api-server --host 127.0.0.1 --port "$PORT" --workers 1
    wait_for_api || { "$0" stop; exit 1; }
    start_component dag-processor airflow dag-processor
    start_component scheduler airflow scheduler --skip-serve-logs
    if [[ " ${COMPONENTS[*]} " == *" triggerer "* ]]; then
      start_component triggerer airflow triggerer --skip-serve-logs
    fi
    ;;
  stop)
    # scheduler first, so that it launches no new task while the others stop
    for name in scheduler triggerer dag-processor api-server; do stop_component "$name"; done
    ;;
  status)
    for name in scheduler dag-processor api-server triggerer; do
      if is_running "$name"; then
        echo "$name: running (pid $(pid_of "$name"), log $RUN_DIR/$name.log)"
      elif [[ -f "$RUN_DIR/$name.log" ]]; then
        echo "$name: stopped (last log $RUN_DIR/$name.log)"
      fi
    done
    ;;
  env)
    local_env
    env | grep -E '^(AIRFLOW|REPLENISHMENT_|GX_)' | grep -v '^AIRFLOW__API_AUTH__JWT_SECRET=' \
      | sed "s/^/export /; s/=\(.*\)$/='\1'/"
    echo "export AIRFLOW__API_AUTH__JWT_SECRET=\"\$(cat '$RUN_DIR/jwt_secret')\""
    echo "export PATH='$VENV/bin':\"\$PATH\""
    ;;
  *)
    sed -n '2,25p' "$0"; exit 2 ;;
esac
