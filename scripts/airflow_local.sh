#!/usr/bin/env bash
# A local Airflow 3 topology without Docker, the way production runs it:
# api-server + dag-processor + scheduler (+ triggerer on request) on a PostgreSQL
# metadata database, with the LocalExecutor or with the CeleryExecutor and N Celery
# workers on the local Redis broker. Everything binds 127.0.0.1 only.
#
#   scripts/airflow_local.sh start [NAME...]    migrate the metadata db, start every component
#                                               (or only the ones named, e.g. worker-1)
#   scripts/airflow_local.sh stop [NAME...]     stop every component (or the ones named)
#   scripts/airflow_local.sh restart NAME...    stop, then start, the components named
#   scripts/airflow_local.sh kill NAME...       SIGKILL a component and everything it started,
#                                               as if its machine died (for failure drills)
#   scripts/airflow_local.sh status             which components are running, where the logs are
#   scripts/airflow_local.sh env                print the environment (eval "$(scripts/airflow_local.sh env)")
#                                               for `airflow backfill create ...`, `airflow dags trigger ...`
#
# Components: api-server, dag-processor, scheduler, triggerer, worker-1 .. worker-N.
#
# Settings (environment variables, all optional). `start` saves them in
# <AIRFLOW_LOCAL_HOME>/run/topology.env, so later commands act on the same topology:
#   AIRFLOW_LOCAL_HOME      AIRFLOW_HOME of this topology       (default: <repo>/.airflow-local)
#   AIRFLOW_LOCAL_EXECUTOR  LocalExecutor or CeleryExecutor     (default: LocalExecutor)
#   AIRFLOW_LOCAL_WORKERS   Celery workers to start              (default: 2)
#   AIRFLOW_LOCAL_WORKER_CONCURRENCY  task slots per Celery worker (default: 2)
#   AIRFLOW_LOCAL_BROKER_URL Celery broker                       (default: redis://127.0.0.1:6379/0)
#   AIRFLOW_LOCAL_DB_URL    metadata database; created if missing; also the Celery result backend
#                           (default: postgresql+psycopg2://postgres@127.0.0.1:5432/airflow_local)
#   AIRFLOW_LOCAL_PORT      api-server port on 127.0.0.1          (default: 8080)
#   AIRFLOW_LOCAL_TRIGGERER 1 to start a triggerer too (only deferrable tasks need one)
#   AIRFLOW_CONN_WAREHOUSE  the warehouse connection, as for ./dev (default: the demo SQLite file;
#                           with Celery use a PostgreSQL warehouse, see the README)
#   Any other AIRFLOW__SECTION__KEY variable is passed to every component.
#
# Example (Celery, two workers):
#   AIRFLOW_LOCAL_EXECUTOR=CeleryExecutor scripts/airflow_local.sh start
#   eval "$(scripts/airflow_local.sh env)"
#   airflow dags unpause replenishment_daily
#   airflow backfill create --dag-id replenishment_daily --from-date 2026-06-25 --to-date 2026-07-01 --max-active-runs 2
#   airflow dags list-runs replenishment_daily
#   scripts/airflow_local.sh kill worker-1      # its tasks are retried on worker-2
#   scripts/airflow_local.sh restart scheduler  # running tasks carry on, the new scheduler adopts them
#   scripts/airflow_local.sh stop
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${REPLENISHMENT_VENV:-$ROOT/.venv}"
HOME_DIR="${AIRFLOW_LOCAL_HOME:-$ROOT/.airflow-local}"
RUN_DIR="$HOME_DIR/run"
SAVED="$RUN_DIR/topology.env"

# settings given in the environment win over the saved ones, which win over the defaults
if [[ -f "$SAVED" ]]; then
  while IFS='=' read -r key value; do
    [[ -n "$key" && -z "${!key:-}" ]] && export "$key=$value"
  done <"$SAVED"
fi
EXECUTOR="${AIRFLOW_LOCAL_EXECUTOR:-LocalExecutor}"
WORKERS="${AIRFLOW_LOCAL_WORKERS:-2}"
CONCURRENCY="${AIRFLOW_LOCAL_WORKER_CONCURRENCY:-2}"
BROKER_URL="${AIRFLOW_LOCAL_BROKER_URL:-redis://127.0.0.1:6379/0}"
DB_URL="${AIRFLOW_LOCAL_DB_URL:-postgresql+psycopg2://postgres@127.0.0.1:5432/airflow_local}"
PORT="${AIRFLOW_LOCAL_PORT:-8080}"
TRIGGERER="${AIRFLOW_LOCAL_TRIGGERER:-0}"

case "$EXECUTOR" in
  LocalExecutor|CeleryExecutor) ;;
  *) echo "AIRFLOW_LOCAL_EXECUTOR must be LocalExecutor or CeleryExecutor, not $EXECUTOR" >&2; exit 2 ;;
esac

COMPONENTS=(api-server dag-processor scheduler)
[[ "$TRIGGERER" == "1" ]] && COMPONENTS+=(triggerer)
if [[ "$EXECUTOR" == "CeleryExecutor" ]]; then
  for i in $(seq 1 "$WORKERS"); do COMPONENTS+=("worker-$i"); done
fi

save_settings() {
  mkdir -p "$RUN_DIR"
  (umask 077; cat >"$SAVED" <<SETTINGS
AIRFLOW_LOCAL_EXECUTOR=$EXECUTOR
AIRFLOW_LOCAL_WORKERS=$WORKERS
AIRFLOW_LOCAL_WORKER_CONCURRENCY=$CONCURRENCY
AIRFLOW_LOCAL_BROKER_URL=$BROKER_URL
AIRFLOW_LOCAL_DB_URL=$DB_URL
AIRFLOW_LOCAL_PORT=$PORT
AIRFLOW_LOCAL_TRIGGERER=$TRIGGERER
SETTINGS
  )
}

local_env() {
  export AIRFLOW_HOME="$HOME_DIR"
  export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="$DB_URL"
  export AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_SIZE=2
  export AIRFLOW__DATABASE__SQL_ALCHEMY_MAX_OVERFLOW=5
  export AIRFLOW__CORE__EXECUTOR="$EXECUTOR"
  export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-4}"
  export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
  export AIRFLOW__CORE__PLUGINS_FOLDER="$ROOT/plugins"
  export AIRFLOW__CORE__LOAD_EXAMPLES=False
  export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$PORT/execution/"
  export AIRFLOW__API__HOST=127.0.0.1
  export AIRFLOW__API__PORT="$PORT"
  export AIRFLOW__API__BASE_URL="http://127.0.0.1:$PORT"
  if [[ "$EXECUTOR" == "CeleryExecutor" ]]; then
    export AIRFLOW__CELERY__BROKER_URL="$BROKER_URL"
    # results go to the metadata database, as in docker-compose.yml
    export AIRFLOW__CELERY__RESULT_BACKEND="db+${DB_URL}"
    export AIRFLOW__CELERY__WORKER_CONCURRENCY="$CONCURRENCY"
  fi
  export REPLENISHMENT_DATA_DIR="${REPLENISHMENT_DATA_DIR:-$ROOT/.data}"
  # (the default is built first: a JSON default inside ${VAR:-...} would end at its first "}")
  local demo_conn="{\"conn_type\": \"sqlite\", \"host\": \"$REPLENISHMENT_DATA_DIR/warehouse.db\"}"
  export AIRFLOW_CONN_WAREHOUSE="${AIRFLOW_CONN_WAREHOUSE:-$demo_conn}"
  export GX_ANALYTICS_ENABLED=False
  export PATH="$VENV/bin:$PATH"
  # Every component must share the key that signs the task tokens; keep it in a
  # private file of this AIRFLOW_HOME rather than in airflow.cfg.
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

known_component() {
  [[ " ${COMPONENTS[*]} " == *" $1 "* ]] ||
    { echo "unknown component $1 (this topology has: ${COMPONENTS[*]})" >&2; exit 2; }
}

component_command() {
  case "$1" in
    api-server) echo "airflow api-server --host 127.0.0.1 --port $PORT --workers 1" ;;
    dag-processor) echo "airflow dag-processor" ;;
    scheduler) echo "airflow scheduler --skip-serve-logs" ;;
    triggerer) echo "airflow triggerer --skip-serve-logs" ;;
    worker-*)
      # one host, several workers: each needs its own Celery node name and pid file
      echo "airflow celery worker --celery-hostname $1@%h --concurrency $CONCURRENCY" \
           "--pid $RUN_DIR/$1.celery.pid --skip-serve-logs" ;;
  esac
}

start_component() {
  local name="$1"
  if is_running "$name"; then
    echo "$name already running (pid $(pid_of "$name"))"; return 0
  fi
  # setsid: the component and all its children (executor workers, task processes)
  # share one session whose id is the recorded pid, so stop and kill reach them all.
  # shellcheck disable=SC2046
  setsid $(component_command "$name") >>"$RUN_DIR/$name.log" 2>&1 < /dev/null &
  echo $! >"$RUN_DIR/$name.pid"
  echo "started $name (pid $!, log $RUN_DIR/$name.log)"
}

stop_component() {
  local name="$1" signal="${2:-TERM}" pid
  pid="$(pid_of "$name")"
  if [[ -z "$pid" ]] || ! kill -0 "$pid" 2>/dev/null; then
    rm -f "$RUN_DIR/$name.pid"; return 0
  fi
  # setsid made the component the leader of its own session (sid = pid). Task
  # processes move to process groups of their own but stay in that session, so
  # the session, not the process group, names everything this component started.
  if [[ "$signal" == "KILL" ]]; then
    # shellcheck disable=SC2046
    kill -KILL $(session_pids "$pid") 2>/dev/null || true
  else
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do
      [[ -z "$(session_pids "$pid")" ]] && break
      sleep 1
    done
    local left
    left="$(session_pids "$pid")"
    # shellcheck disable=SC2086
    [[ -n "$left" ]] && kill -KILL $left 2>/dev/null || true
  fi
  for _ in $(seq 1 20); do
    [[ -z "$(session_pids "$pid")" ]] && break
    sleep 0.5
  done
  rm -f "$RUN_DIR/$name.pid" "$RUN_DIR/$name.celery.pid"
  if [[ "$signal" == "KILL" ]]; then echo "killed $name (pid $pid)"; else echo "stopped $name (pid $pid)"; fi
}

wait_for_api() {
  for _ in $(seq 1 120); do
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

wait_for_worker() {
  local name="$1" since="$2"
  for _ in $(seq 1 120); do
    # Celery prints "<node name> ready." once it consumes from the broker
    if tail -c +"$since" "$RUN_DIR/$name.log" 2>/dev/null | grep -q "$name@.* ready\."; then
      echo "$name is ready"; return 0
    fi
    is_running "$name" || { tail -n 40 "$RUN_DIR/$name.log"; return 1; }
    sleep 1
  done
  echo "$name did not become ready; see $RUN_DIR/$name.log" >&2
  return 1
}

start_named() {
  local name since
  for name in "$@"; do
    known_component "$name"
    since=$(( $(stat -c %s "$RUN_DIR/$name.log" 2>/dev/null || echo 0) + 1 ))
    start_component "$name"
    case "$name" in
      api-server) wait_for_api ;;
      worker-*) wait_for_worker "$name" "$since" ;;
    esac
  done
}

stop_order() {
  # the scheduler first, so that it launches no new task while the others stop; the
  # api-server last, so that tasks still finishing can report their state
  local name
  echo scheduler
  for name in "${COMPONENTS[@]}"; do
    [[ "$name" != scheduler && "$name" != api-server ]] && echo "$name"
  done
  echo api-server
}

cmd="${1:-help}"
shift || true
case "$cmd" in
  start)
    # the virtualenv (and the demo warehouse, the default connection) on a fresh machine
    if [[ -z "${REPLENISHMENT_VENV:-}" ]]; then "$ROOT/dev" setup; fi
    local_env
    if [[ $# -gt 0 ]]; then start_named "$@"; exit 0; fi
    save_settings
    ensure_database
    echo "==> airflow db migrate ($EXECUTOR, metadata in $DB_URL)"
    airflow db migrate >"$RUN_DIR/db-migrate.log" 2>&1 || { tail -n 40 "$RUN_DIR/db-migrate.log"; exit 1; }
    start_named api-server || { "$0" stop; exit 1; }
    others=()
    for name in "${COMPONENTS[@]}"; do [[ "$name" != api-server ]] && others+=("$name"); done
    start_named "${others[@]}" || { "$0" stop; exit 1; }
    ;;
  stop)
    if [[ $# -gt 0 ]]; then
      for name in "$@"; do known_component "$name"; stop_component "$name"; done
    else
      for name in $(stop_order); do stop_component "$name"; done
    fi
    ;;
  restart)
    [[ $# -gt 0 ]] || { echo "restart: name the components (e.g. scheduler)" >&2; exit 2; }
    local_env
    for name in "$@"; do known_component "$name"; stop_component "$name"; done
    start_named "$@"
    ;;
  kill)
    [[ $# -gt 0 ]] || { echo "kill: name the components (e.g. worker-1)" >&2; exit 2; }
    for name in "$@"; do known_component "$name"; stop_component "$name" KILL; done
    ;;
  status)
    echo "executor: $EXECUTOR"
    for name in "${COMPONENTS[@]}"; do
      if is_running "$name"; then
        echo "$name: running (pid $(pid_of "$name"), log $RUN_DIR/$name.log)"
      elif [[ -f "$RUN_DIR/$name.log" ]]; then
        echo "$name: stopped (last log $RUN_DIR/$name.log)"
      else
        echo "$name: not started"
      fi
    done
    ;;
  env)
    local_env
    env | grep -E '^(AIRFLOW|REPLENISHMENT_|GX_)' | grep -v '^AIRFLOW__API_AUTH__JWT_SECRET=' \
      | grep -v '^AIRFLOW_LOCAL_' | sed "s/^/export /; s/=\(.*\)$/='\1'/"
    echo "export AIRFLOW__API_AUTH__JWT_SECRET=\"\$(cat '$RUN_DIR/jwt_secret')\""
    echo "export PATH='$VENV/bin':\"\$PATH\""
    ;;
  *)
    sed -n '2,42p' "$0"; exit 2 ;;
esac
