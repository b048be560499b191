#!/usr/bin/env bash
# A production-like Airflow 3.3 deployment on one machine, loopback only, for docs/production.md:
# PostgreSQL and Redis (Debian packages), CeleryExecutor with two workers, two schedulers, two
# triggerers, a dag-processor and an api-server; the bundled emulator plays the factory.
# Not part of `make test`.
#
#   testbed/production/deploy.sh install     # apt packages + a separate virtualenv (.venv-prod)
#   testbed/production/deploy.sh up          # start everything (PostgreSQL, Redis, emulator, Airflow)
#   testbed/production/deploy.sh start NAME  # start one component again, e.g. triggerer-2
#   testbed/production/deploy.sh kill NAME   # kill -9 one component's process group
#   testbed/production/deploy.sh status      # which components run
#   testbed/production/deploy.sh down        # stop everything this script started
#
# Components: api-server dag-processor scheduler-1 scheduler-2 triggerer-1 triggerer-2
#             worker-1 worker-2. Logs and pid files live in $PROD_HOME (default: .prod/).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$REPO/testbed/production"
PROD_HOME=${PROD_HOME:-$REPO/.prod}
VENV=${PROD_VENV:-$REPO/.venv-prod}
PG_PORT=${PROD_PG_PORT:-55432}
REDIS_PORT=${PROD_REDIS_PORT:-56379}
API_PORT=${PROD_API_PORT:-58080}
EMU_PORT=${PROD_EMULATOR_PORT:-58090}
WORKER_CONCURRENCY=${PROD_WORKER_CONCURRENCY:-4}
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
AIRFLOW="$VENV/bin/airflow"
COMPONENTS="api-server dag-processor scheduler-1 scheduler-2 triggerer-1 triggerer-2 worker-1 worker-2"

export AIRFLOW_HOME="$PROD_HOME/airflow"
export AIRFLOW__CORE__DAGS_FOLDER="$HERE/dags"
export AIRFLOW__CORE__EXECUTOR=CeleryExecutor
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="postgresql+psycopg2://airflow@127.0.0.1:$PG_PORT/airflow"
export AIRFLOW__CELERY__BROKER_URL="redis://127.0.0.1:$REDIS_PORT/0"
export AIRFLOW__CELERY__RESULT_BACKEND="db+postgresql+psycopg2://airflow@127.0.0.1:$PG_PORT/airflow"
export AIRFLOW__CELERY__WORKER_CONCURRENCY="$WORKER_CONCURRENCY"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__PARALLELISM=64
export AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG=200
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=False
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS=True
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$API_PORT/execution/"
export AIRFLOW__API__BASE_URL="http://127.0.0.1:$API_PORT"
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT="$API_PORT"
export AIRFLOW__API__WORKERS=1
export AIRFLOW__API__SECRET_KEY=production-testbed-only
export AIRFLOW__API_AUTH__JWT_SECRET=production-testbed-only-jwt-secret-0123456789
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=10
export AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL=300
# Airflow's defaults for every heartbeat and threshold the page measures (left unset on
# purpose, so the figures are the defaults'): [triggerer] job_heartbeat_sec=5,
# [triggerer] triggerer_health_check_threshold=30, [scheduler] task_instance_heartbeat_timeout=300,
# [scheduler] scheduler_health_check_threshold=30. Override them with AIRFLOW__... in the
# environment of `up` to measure other values.
export AIRFLOW_CONN_ADF_DEFAULT
AIRFLOW_CONN_ADF_DEFAULT=$(cd "$REPO" && "$VENV/bin/python" - "$HERE/scenario.json" "http://127.0.0.1:$EMU_PORT" <<'EOF'
import json, sys
from airflow_adf_trigger.emulator.scenario import Scenario
print(json.dumps(Scenario.load(sys.argv[1]).airflow_connection(sys.argv[2])))
EOF
)
export PYTHONUNBUFFERED=1

mkdir -p "$PROD_HOME/logs" "$PROD_HOME/pids" "$AIRFLOW_HOME"

command_of() {
  case "$1" in
    api-server) echo "$AIRFLOW api-server --host 127.0.0.1 --port $API_PORT" ;;
    dag-processor) echo "$AIRFLOW dag-processor" ;;
    scheduler-*) echo "$AIRFLOW scheduler --skip-serve-logs" ;;
    triggerer-*) echo "$AIRFLOW triggerer --skip-serve-logs" ;;
    worker-*) echo "$AIRFLOW celery worker --skip-serve-logs --celery-hostname $1@%h --concurrency $WORKER_CONCURRENCY" ;;
    emulator) echo "$VENV/bin/python -m airflow_adf_trigger.emulator --host 127.0.0.1 --port $EMU_PORT --scenario $HERE/scenario.json" ;;
    *) echo "unknown component: $1" >&2; return 1 ;;
  esac
}

start() {
  local name=$1 cmd
  cmd=$(command_of "$name")
  if is_running "$name"; then echo "$name already runs"; return 0; fi
  # set -m: its own process group (pgid = pid), so kill/stop reach its children (task
  # supervisors, the triggerer's runner).
  (set -m; cd "$REPO" && $cmd >>"$PROD_HOME/logs/$name.log" 2>&1 < /dev/null & echo $! >"$PROD_HOME/pids/$name.pid")
  echo "started $name (pid $(cat "$PROD_HOME/pids/$name.pid"))"
}

is_running() {
  local pidfile="$PROD_HOME/pids/$1.pid"
  [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

stop() {  # SIGTERM to the group, SIGKILL after 20 s
  local name=$1 pid
  is_running "$name" || { rm -f "$PROD_HOME/pids/$name.pid"; return 0; }
  pid=$(cat "$PROD_HOME/pids/$name.pid")
  kill -TERM -- "-$pid" 2>/dev/null || true
  for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$PROD_HOME/pids/$name.pid"
  echo "stopped $name"
}

kill9() {
  local name=$1 pid
  pid=$(cat "$PROD_HOME/pids/$name.pid")
  kill -KILL -- "-$pid"
  rm -f "$PROD_HOME/pids/$name.pid"
  echo "killed -9 $name (group $pid) at $(date -u +%H:%M:%S.%N | cut -c1-12)"
}

pg_up() {
  local data="$PROD_HOME/pgdata"
  if [[ ! -f $data/PG_VERSION ]]; then
    install -d -o postgres -g postgres "$data"
    su postgres -c "$PG_BIN/initdb -D '$data' -U postgres --auth=trust" >"$PROD_HOME/logs/initdb.log"
  fi
  su postgres -c "$PG_BIN/pg_ctl -D '$data' status" >/dev/null 2>&1 ||
  su postgres -c "$PG_BIN/pg_ctl -D '$data' -l '$PROD_HOME/pgdata/postgresql.log' -w \
    -o '-p $PG_PORT -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=300' start"
  "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc \
    "SELECT 1 FROM pg_roles WHERE rolname='airflow'" | grep -q 1 ||
    "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -c "CREATE ROLE airflow LOGIN" \
      -c "CREATE DATABASE airflow OWNER airflow"
}

pg_down() {
  [[ -f $PROD_HOME/pgdata/postmaster.pid ]] || return 0
  su postgres -c "$PG_BIN/pg_ctl -D '$PROD_HOME/pgdata' -m fast -w stop"
}

redis_up() {
  [[ -f $PROD_HOME/pids/redis.pid ]] && kill -0 "$(cat "$PROD_HOME/pids/redis.pid")" 2>/dev/null && return 0
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes --save '' \
    --pidfile "$PROD_HOME/pids/redis.pid" --logfile "$PROD_HOME/logs/redis.log"
}

redis_down() {
  [[ -f $PROD_HOME/pids/redis.pid ]] || return 0
  kill "$(cat "$PROD_HOME/pids/redis.pid")" 2>/dev/null || true
  rm -f "$PROD_HOME/pids/redis.pid"
}

case "${1:-}" in
  install)
    apt-get install -y postgresql redis-server
    test -x "$VENV/bin/python" || python3.11 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet uv==0.13.8  # as the Makefile
    UV_COMPILE_BYTECODE=1 "$VENV/bin/uv" pip install --python "$VENV/bin/python" \
      -c "$REPO/requirements/constraints.txt" -e "$REPO/distributions/core" -e "$REPO" \
      apache-airflow-providers-celery psycopg2-binary asyncpg "celery[redis]"
    ;;
  up)
    pg_up
    redis_up
    start emulator
    "$AIRFLOW" db migrate >"$PROD_HOME/logs/db-migrate.log" 2>&1
    for name in $COMPONENTS; do start "$name"; done
    ;;
  start) start "$2" ;;
  stop) stop "$2" ;;
  kill) kill9 "$2" ;;
  status)
    for name in emulator $COMPONENTS; do
      if is_running "$name"; then echo "$name: running"; else echo "$name: stopped"; fi
    done
    ;;
  down)
    for name in $COMPONENTS emulator; do stop "$name"; done
    redis_down
    pg_down
    ;;
  env)  # print the environment, for running `airflow ...` by hand: eval "$(deploy.sh env)"
    export -p | grep -E ' (AIRFLOW|PYTHONUNBUFFERED)' ;;
  psql) shift; "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U airflow airflow "$@" ;;
  *) sed -n '2,15p' "$0"; exit 2 ;;
esac
