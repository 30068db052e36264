#!/usr/bin/env bash
# The Gold CI steps, runnable locally (`make gold-ci`) and used by .github/workflows/gold-dbt.yml.
#
#   embedded (default, pull requests): generated events -> medallion run --once -> source freshness
#       -> medallion build --resource-type all (dbt build in-process, unit tests included)
#       -> medallion docs, all under $GOLD_CI_ROOT
#   GOLD_CI_MODE=existing (scheduled runs): no generated data; plain dbt against the warehouse the
#       target points at ($DBT_TARGET local + $MEDALLION_WAREHOUSE, or thrift + DBT_SPARK_*)
#
# Artifacts (manifest.json, run_results.json, sources.json, docs site) end up in $GOLD_CI_ARTIFACTS.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV_BIN="${VENV_BIN:-$REPO/.venv/bin}"
MODE="${GOLD_CI_MODE:-embedded}"
ROOT="${GOLD_CI_ROOT:-$REPO/bench-out/gold-ci}"
ARTIFACTS="${GOLD_CI_ARTIFACTS:-$ROOT/artifacts}"
EVENTS="${GOLD_CI_EVENTS:-20000}"
DBT=("$VENV_BIN/dbt")
DBT_DIRS=(--project-dir "$REPO/dbt_project" --profiles-dir "$REPO/dbt_project")
export DBT_SEND_ANONYMOUS_USAGE_STATS=false
export DBT_TARGET_PATH="$ARTIFACTS/target" DBT_LOG_PATH="$ARTIFACTS/logs"
mkdir -p "$ARTIFACTS"

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
else
  "${DBT[@]}" source freshness "${DBT_DIRS[@]}" --output "$ARTIFACTS/target/sources.json"
  "${DBT[@]}" build "${DBT_DIRS[@]}"
  "${DBT[@]}" docs generate "${DBT_DIRS[@]}" --target-path "$ARTIFACTS/docs"
fi
echo "gold-ci: OK; artifacts in $ARTIFACTS (target/manifest.json, target/run_results.json, docs/index.html)"
