#!/usr/bin/env bash
# The Gold CI steps, runnable locally (`make gold-ci`, `make gold-ci-serve`) and used by
# .github/workflows/gold-dbt.yml.
#
#   embedded (default, pull requests): generated events -> medallion run --once -> source freshness
#       -> medallion build --resource-type all (dbt build in-process, unit tests included)
#       -> medallion docs, all under $GOLD_CI_ROOT
#   GOLD_CI_MODE=serve (scheduled runs): `medallion serve` started here against the warehouse
#       ($MEDALLION_WAREHOUSE/$MEDALLION_ROOT; unset: the lakehouse the embedded mode built under
#       $GOLD_CI_ROOT), with a pipeline account whose password is generated for this run; then
#       source freshness, dbt build and dbt docs generate with the `thrift` target through it.
#       The server is always stopped on exit (SIGTERM, then SIGKILL after
#       $GOLD_CI_SERVE_STOP_SECONDS), whatever dbt did.
#   GOLD_CI_MODE=existing: no generated data, no server; plain dbt against the warehouse the
#       target points at ($DBT_TARGET local + $MEDALLION_WAREHOUSE, or thrift + DBT_SPARK_* for
#       a server run elsewhere)
#
# Artifacts (manifest.json, run_results.json, sources.json, docs site, logs) end up in
# $GOLD_CI_ARTIFACTS.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV_BIN="${VENV_BIN:-$REPO/.venv/bin}"
MODE="${GOLD_CI_MODE:-embedded}"
ROOT="${GOLD_CI_ROOT:-$REPO/bench-out/gold-ci}"
# serve: its own folder by default, so the embedded run's artifacts stay next to it
DEFAULT_ARTIFACTS="$ROOT/artifacts"
[[ "$MODE" != serve ]] || DEFAULT_ARTIFACTS="$ROOT/artifacts-serve"
ARTIFACTS="${GOLD_CI_ARTIFACTS:-$DEFAULT_ARTIFACTS}"
EVENTS="${GOLD_CI_EVENTS:-20000}"
DBT=("$VENV_BIN/dbt")
DBT_DIRS=(--project-dir "$REPO/dbt_project" --profiles-dir "$REPO/dbt_project")
export DBT_SEND_ANONYMOUS_USAGE_STATS=false
export DBT_TARGET_PATH="$ARTIFACTS/target" DBT_LOG_PATH="$ARTIFACTS/logs"
mkdir -p "$ARTIFACTS/logs"

SERVER_PID="" SERVER_RC="" STEP_PID=""
# Run a step in the background and wait for it: bash handles a signal to this script only once
# its foreground command is over; `wait` returns at once, and stop_server ends the step too.
step() {
  "$@" &
  STEP_PID=$!
  local rc=0
  wait "$STEP_PID" || rc=$?
  STEP_PID=""
  return "$rc"
}
# Stop the step still running (interrupted), then the server this script started: SIGTERM (it
# stops cleanly: Thrift service, access log, Spark), SIGKILL of it and its JVM if it hangs.
stop_server() {
  local status=$?
  if [[ -n "$STEP_PID" ]] && kill -0 "$STEP_PID" 2>/dev/null; then
    kill -TERM "$STEP_PID" 2>/dev/null || true
    wait "$STEP_PID" 2>/dev/null || true
  fi
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "gold-ci: stopping medallion serve (pid $SERVER_PID)"
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    local waited=0
    while kill -0 "$SERVER_PID" 2>/dev/null && (( waited < ${GOLD_CI_SERVE_STOP_SECONDS:-60} )); do
      sleep 1; waited=$((waited + 1))
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "gold-ci: medallion serve did not stop in ${waited}s: killing it" >&2
      pkill -KILL -P "$SERVER_PID" 2>/dev/null || true  # its JVM
      kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_RC=0
    wait "$SERVER_PID" 2>/dev/null || SERVER_RC=$?
  fi
  SERVER_PID=""
  return "$status"
}

if [[ "$MODE" == "embedded" ]]; then
  rm -rf "$ROOT/lakehouse"
  export MEDALLION_ROOT="$ROOT/lakehouse" MEDALLION_WAREHOUSE="$ROOT/lakehouse/warehouse"
  export MEDALLION_SPARK_MASTER="${MEDALLION_SPARK_MASTER:-local[2]}"
  # generated events: the demo's config (mode: dev) may hash their emails with the development key
  export MEDALLION_CONFIG="${MEDALLION_CONFIG:-$REPO/medallion.demo.yaml}"
  "$VENV_BIN/medallion" generate --events "$EVENTS" --seed 7 --bad-rate 0.02 --files 4
  "$VENV_BIN/medallion" run --once
  "${DBT[@]}" source freshness "${DBT_DIRS[@]}" --output "$ARTIFACTS/target/sources.json"
  # --resource-type all: the unit tests too (a production `medallion build` leaves them out)
  "$VENV_BIN/medallion" build --resource-type all
  "$VENV_BIN/medallion" docs
  cp -r "$MEDALLION_ROOT/docs/dbt" "$ARTIFACTS/docs"
elif [[ "$MODE" == "serve" ]]; then
  if [[ -z "${MEDALLION_WAREHOUSE:-}" ]]; then  # the lakehouse `make gold-ci` built
    export MEDALLION_ROOT="${MEDALLION_ROOT:-$ROOT/lakehouse}" MEDALLION_WAREHOUSE="$ROOT/lakehouse/warehouse"
    export MEDALLION_CONFIG="${MEDALLION_CONFIG:-$REPO/medallion.demo.yaml}"
    [[ -d "$MEDALLION_WAREHOUSE/silver" ]] || {
      echo "gold-ci: no lakehouse at $MEDALLION_WAREHOUSE: run the embedded mode first (make gold-ci)," \
           "or set MEDALLION_WAREHOUSE" >&2; exit 2; }
  fi
  HOST=127.0.0.1
  PORT="${GOLD_CI_SERVE_PORT:-$("$VENV_BIN/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
  USER_NAME=gold_ci
  # generated for this run, never exported: only the server's and dbt's environments get it (as
  # command prefixes, not arguments, which `ps` would show)
  PASSWORD="$("$VENV_BIN/python" -c 'import secrets; print(secrets.token_urlsafe(24))')"
  [[ -z "${GITHUB_ACTIONS:-}" ]] || echo "::add-mask::$PASSWORD"
  SERVE_LOG="$ARTIFACTS/logs/medallion-serve.log"
  trap stop_server EXIT
  trap 'exit 143' TERM
  trap 'exit 130' INT
  MEDALLION_SERVE_USERS="$USER_NAME:pipeline" MEDALLION_SERVE_PASSWORD_GOLD_CI="$PASSWORD" \
    "$VENV_BIN/medallion" serve --host "$HOST" --port "$PORT" > "$SERVE_LOG" 2>&1 &
  SERVER_PID=$!
  started=$SECONDS
  until grep -q "^medallion serve: listening on" "$SERVE_LOG"; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "gold-ci: medallion serve exited before listening; its output ($SERVE_LOG):" >&2
      tail -n 30 "$SERVE_LOG" >&2; exit 1
    fi
    if (( SECONDS - started > ${GOLD_CI_SERVE_START_SECONDS:-300} )); then
      echo "gold-ci: medallion serve not listening on $HOST:$PORT after $((SECONDS - started))s; its output ($SERVE_LOG):" >&2
      tail -n 30 "$SERVE_LOG" >&2; exit 1
    fi
    sleep 1
  done
  echo "gold-ci: $(grep -m1 "^medallion serve: listening on" "$SERVE_LOG") after $((SECONDS - started))s"
  export DBT_TARGET=thrift DBT_SPARK_HOST="$HOST" DBT_SPARK_PORT="$PORT" DBT_SPARK_USER="$USER_NAME"
  # the server computes on this machine's cores: one dbt statement at a time
  export DBT_THREADS="${DBT_THREADS:-1}"
  DBT_SPARK_PASSWORD="$PASSWORD" step "${DBT[@]}" source freshness "${DBT_DIRS[@]}" --output "$ARTIFACTS/target/sources.json"
  DBT_SPARK_PASSWORD="$PASSWORD" step "${DBT[@]}" build "${DBT_DIRS[@]}"
  # through the server's catalog, dbt's relation cache saw the existing Gold tables: no incremental
  # mart was rebuilt as a new table
  "$VENV_BIN/python" - "$ARTIFACTS/target/run_results.json" <<'EOF'
import json, re, sys
results = json.load(open(sys.argv[1], encoding="utf-8"))["results"]
plans = {r["unique_id"]: json.loads(m.group(1)) for r in results if r["unique_id"].startswith("model.")
         if (m := re.search(r"/\* medallion_incremental_plan (.*?) \*/", r.get("compiled_code") or "", re.S))}
rebuilt = [uid for uid, plan in plans.items() if plan.get("reason") == "new table"]
if not plans or rebuilt:
    sys.exit(f"gold-ci: incremental marts rebuilt as new tables through the server: {rebuilt or 'none planned'}")
print("gold-ci: incremental marts: " + ", ".join(f"{uid.split('.')[-1]} {p['mode']}" for uid, p in sorted(plans.items())))
EOF
  DBT_SPARK_PASSWORD="$PASSWORD" step "${DBT[@]}" docs generate "${DBT_DIRS[@]}" --target-path "$ARTIFACTS/docs"
  stop_server
  grep "^medallion serve: stopped" "$SERVE_LOG" && [[ "$SERVER_RC" == 0 ]] || {
    echo "gold-ci: medallion serve did not stop cleanly (exit status $SERVER_RC; $SERVE_LOG)" >&2; exit 1; }
else
  "${DBT[@]}" source freshness "${DBT_DIRS[@]}" --output "$ARTIFACTS/target/sources.json"
  "${DBT[@]}" build "${DBT_DIRS[@]}"
  "${DBT[@]}" docs generate "${DBT_DIRS[@]}" --target-path "$ARTIFACTS/docs"
fi
echo "gold-ci: OK ($MODE); artifacts in $ARTIFACTS (target/manifest.json, target/run_results.json, target/sources.json, docs/index.html, logs/)"
