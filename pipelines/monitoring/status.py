"""`medallion status`: gathers the facts (wiring: Spark reads of the audit tables, the landing
folder, dbt's artifacts) that `pipelines.monitoring.health` judges and prints.

Everything is read, nothing written: the layer tables by location (a missing table is a layer not
built yet), the ingest checkpoint's record of taken files, and Delta's commit history of
bronze.events_raw for how long the oldest rows not yet refined have waited.
"""
from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TextIO

from pyspark.sql import DataFrame, SparkSession, functions as F

from bronze.events_raw import landing_files_waiting
from pipelines.core.catalog import delta_table_exists
from pipelines.core.config import DBT_PROJECT_DIR, Config
from pipelines.core.migrations import check_warehouse
from pipelines.core.registry import TableSpec
from pipelines.core.spark_session import build_session
from pipelines.core.tables import (AUDIT_BATCH_LEDGER, AUDIT_GOLD_BUILDS, AUDIT_QUALITY_RESULTS,
                                   BRONZE_EVENTS_RAW, SILVER_EVENTS)
from pipelines.monitoring.health import (BronzeFacts, Facts, FailedExpectation, GateFacts, GoldFacts,
                                         LandingFacts, SilverFacts, Window, evaluate, render_json,
                                         render_text)

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
WINDOW_HOURS = (1, 24)
# Delta operations that add rows to bronze.events_raw (the stream's appends, a batch append).
_APPENDS = ("STREAMING UPDATE", "WRITE")


def _at(micros: int | None) -> datetime | None:
    """Epoch microseconds (read with unix_micros: no time-zone conversion) -> aware UTC."""
    return None if micros is None else EPOCH + timedelta(microseconds=int(micros))


def _read(spark: SparkSession, config: Config, spec: TableSpec) -> DataFrame | None:
    location = spec.location(config)
    return spark.read.format("delta").load(location) if delta_table_exists(spark, location) else None


def landing_facts(spark: SparkSession, config: Config) -> LandingFacts:
    waiting = landing_files_waiting(spark, config)
    if waiting is None:
        return LandingFacts(files_waiting=None, oldest_waiting=None)
    oldest = min((mtime for _, mtime in waiting), default=None)
    return LandingFacts(files_waiting=len(waiting), oldest_waiting=_at(oldest * 1000) if oldest is not None else None)


def _not_refined_since(spark: SparkSession, config: Config, refined_rows: int) -> datetime | None:
    """Commit time of the first Bronze append whose rows are not all refined: appends in version
    order, counted until they pass the rows the refine stream has read (its ledger)."""
    from delta.tables import DeltaTable

    history = (DeltaTable.forPath(spark, BRONZE_EVENTS_RAW.location(config)).history()
               .filter(F.col("operation").isin(*_APPENDS))
               .select("version", F.unix_micros("timestamp").alias("at"),
                       F.col("operationMetrics").getItem("numOutputRows").cast("long").alias("rows"))
               .orderBy("version").collect())
    total = 0
    for commit in history:
        total += commit["rows"] or 0
        if total > refined_rows:
            return _at(commit["at"])
    return None


def bronze_facts(spark: SparkSession, config: Config, refined_rows: int) -> BronzeFacts | None:
    bronze = _read(spark, config, BRONZE_EVENTS_RAW)
    if bronze is None:
        return None
    row = bronze.agg(F.count(F.lit(1)).alias("rows"), F.max(F.unix_micros("_ingested_at")).alias("last")).first()
    waiting = max(0, int(row["rows"]) - refined_rows)
    return BronzeFacts(rows=int(row["rows"]), last_batch_at=_at(row["last"]), rows_not_refined=waiting,
                       not_refined_since=_not_refined_since(spark, config, refined_rows) if waiting else None)


def _windows(ledger: DataFrame, now: datetime) -> tuple[Window, ...]:
    now_us = int((now - EPOCH) / timedelta(microseconds=1))
    aggs = []
    for hours in WINDOW_HOURS:
        recent = F.unix_micros("processed_at") >= F.lit(now_us - hours * 3_600_000_000)
        aggs += [F.sum(F.when(recent, 1).otherwise(0)).alias(f"b{hours}"),
                 F.sum(F.when(recent, F.col("rows_read")).otherwise(0)).alias(f"r{hours}"),
                 F.sum(F.when(recent, F.col("rows_quarantined")).otherwise(0)).alias(f"q{hours}")]
    row = ledger.agg(*aggs).first()
    return tuple(Window(hours, int(row[f"b{hours}"] or 0), int(row[f"r{hours}"] or 0), int(row[f"q{hours}"] or 0))
                 for hours in WINDOW_HOURS)


def _last_gate(spark: SparkSession, config: Config) -> GateFacts | None:
    results = _read(spark, config, AUDIT_QUALITY_RESULTS)
    if results is None:
        return None
    last = results.agg(F.max_by("gate_run_id", "validated_at").alias("run")).first()["run"]
    if last is None:
        return None
    rows = (results.filter(F.col("gate_run_id") == last)
            .select("batch_id", "suite", F.unix_micros("validated_at").alias("at"), "expectation_index",
                    "expectation_type", "column_name", "row_condition", "action", "reason", "success",
                    "unexpected_count").orderBy("expectation_index").collect())
    failed = tuple(FailedExpectation(
        expectation=r["column_name"] or r["expectation_type"], action=r["action"], reason=r["reason"],
        unexpected_count=r["unexpected_count"])
        for r in rows if not r["success"])
    return GateFacts(batch_id=int(rows[0]["batch_id"]), suite=rows[0]["suite"], validated_at=_at(rows[0]["at"]),
                     expectations=len(rows), failed=failed)


def silver_facts(spark: SparkSession, config: Config, ledger: DataFrame | None, now: datetime) -> SilverFacts | None:
    silver = _read(spark, config, SILVER_EVENTS)
    if silver is None:
        return None
    last = (ledger.agg(F.max_by("batch_id", "processed_at").alias("batch"),
                       F.max(F.unix_micros("processed_at")).alias("at")).first()
            if ledger is not None else None)
    return SilverFacts(rows=silver.count(),
                       last_batch_id=None if last is None or last["batch"] is None else int(last["batch"]),
                       last_batch_at=None if last is None else _at(last["at"]),
                       windows=_windows(ledger, now) if ledger is not None else (),
                       last_gate=_last_gate(spark, config))


def _dbt_tests(invocation_id: str) -> dict[str, int] | None:
    """Test results by status from dbt's run_results.json, when it is this invocation's (the
    artifacts are per project, not per warehouse)."""
    path = Path(os.environ.get("DBT_TARGET_PATH") or DBT_PROJECT_DIR / "target") / "run_results.json"
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if doc.get("metadata", {}).get("invocation_id") != invocation_id:
        return None
    counts: dict[str, int] = {}
    for result in doc.get("results", []):
        if str(result.get("unique_id", "")).startswith(("test.", "unit_test.")):
            counts[result.get("status", "?")] = counts.get(result.get("status", "?"), 0) + 1
    return counts


def gold_facts(spark: SparkSession, config: Config) -> GoldFacts | None:
    builds = _read(spark, config, AUDIT_GOLD_BUILDS)
    if builds is None:
        return None
    invocations = builds.filter(F.col("resource_type") == "invocation")
    last = invocations.agg(F.max_by("invocation_id", "started_at").alias("id"),
                           F.max_by("status", "started_at").alias("status"),
                           F.max(F.unix_micros("started_at")).alias("at")).first()
    if last["id"] is None:
        return GoldFacts(last_build_at=None, last_build_status=None, last_success_at=None)
    success = invocations.filter(F.col("status") == "success").agg(
        F.max(F.unix_micros(F.coalesce("finished_at", "started_at"))).alias("at")).first()["at"]
    models = {r["status"]: int(r["n"]) for r in builds.filter(
        (F.col("invocation_id") == last["id"]) & (F.col("resource_type") != "invocation"))
        .groupBy("status").agg(F.count(F.lit(1)).alias("n")).collect()}
    return GoldFacts(last_build_at=_at(last["at"]), last_build_status=last["status"],
                     last_success_at=_at(success), models=models, tests=_dbt_tests(last["id"]))


def gather(spark: SparkSession, config: Config, now: datetime | None = None) -> Facts:
    check_warehouse(spark, config)  # a newer layout could be misread
    now = now or datetime.now(timezone.utc)
    ledger = _read(spark, config, AUDIT_BATCH_LEDGER)
    refined = int(ledger.agg(F.sum("rows_read")).first()[0] or 0) if ledger is not None else 0
    return Facts(warehouse=config.warehouse, checked_at=now, landing=landing_facts(spark, config),
                 bronze=bronze_facts(spark, config, refined), silver=silver_facts(spark, config, ledger, now),
                 gold=gold_facts(spark, config))


def print_status(config: Config, *, fmt: str = "text", out: TextIO | None = None,
                 spark: SparkSession | None = None) -> int:
    """Print the status; 0 when healthy, 1 when a check is breached."""
    facts = gather(spark or build_session(config), config)
    checks = evaluate(facts, config.status)
    (out or sys.stdout).write(render_json(facts, checks) if fmt == "json" else render_text(facts, checks))
    return 1 if any(c.breached for c in checks) else 0
