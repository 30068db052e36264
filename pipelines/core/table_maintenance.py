"""Delta maintenance of one registry table: its retention properties, OPTIMIZE, VACUUM, checkpoint.

Safe next to the running streams (README "Retention and maintenance"):
- OPTIMIZE commits with `dataChange=false`: the refine stream (a Delta source on Bronze), Gold's
  change-data-feed reads and `medallion trace` skip such commits, and the streams' appends are blind
  appends, which never conflict with it. Tables dbt merges into (Gold) are not optimized here: a
  merge running at the same time would lose to it.
- VACUUM removes only files that left the table more than `deleted_file_days` ago (at least a day),
  so a stream or reader still planning on a file keeps it. `VACUUM LITE` (the files the log lists
  as removed) by default: a full VACUUM lists every directory of the table, tens of seconds even
  for a small one on a local master; it is the fallback when the log no longer reaches back.
- A checkpoint afterwards lets Delta drop the log entries older than `log_days` (it cleans expired
  log files when it writes one), and drops statistics of columns no longer configured.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from pyspark.sql import SparkSession

from pipelines.core import delta_io
from pipelines.core.catalog import delta_table_exists
from pipelines.core.config import Config, DeltaRetention
from pipelines.core.registry import TableSpec, Writer

log = logging.getLogger(__name__)
LOG_RETENTION = "delta.logRetentionDuration"
DELETED_FILE_RETENTION = "delta.deletedFileRetentionDuration"
# Delta refuses VACUUM below a week unless this check is off (our floor is one day, config.py).
RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"


@dataclass(frozen=True)
class TableMaintenance:
    table: str
    optimized_files: int  # files OPTIMIZE compacted (removed and rewritten)
    vacuumed_files: int
    seconds: float


def interval(days: float) -> str:
    """A Delta retention duration: whole hours, e.g. `interval 168 hours`."""
    return f"interval {max(1, round(days * 24))} hours"


def retention_properties(retention: DeltaRetention) -> dict[str, str]:
    return {LOG_RETENTION: interval(retention.log_days),
            DELETED_FILE_RETENTION: interval(retention.deleted_file_days)}


def maintain_table(spark: SparkSession, config: Config, spec: TableSpec) -> TableMaintenance | None:
    """Apply the layer's retention to one table; None when the table does not exist (yet)."""
    location = spec.location(config)
    if spec.kind != "table" or not delta_table_exists(spark, location):
        return None
    started = time.monotonic()
    retention = config.retention.for_layer(spec.schema)
    current = {r["key"]: r["value"] for r in spark.sql(f"SHOW TBLPROPERTIES delta.`{location}`").collect()}
    wanted = retention_properties(retention)
    if any(current.get(k) != v for k, v in wanted.items()):
        delta_io.set_properties(spark, location, wanted)
    optimized = 0
    if spec.writer != Writer.DBT:
        metrics = spark.sql(f"OPTIMIZE delta.`{location}`").first()["metrics"]
        optimized = int(metrics["numFilesRemoved"] or 0)
    vacuumed = _vacuum(spark, location, retention.deleted_file_days)
    delta_io.checkpoint(spark, location)
    seconds = time.monotonic() - started
    log.info("maintain %s: optimize compacted %d files, vacuum removed %d files (older than %g days), "
             "log kept %g days (%.1fs)", spec.qualified_name, optimized, vacuumed,
             retention.deleted_file_days, retention.log_days, seconds)
    return TableMaintenance(spec.qualified_name, optimized, vacuumed, round(seconds, 3))


def _vacuum(spark: SparkSession, location: str, days: float) -> int:
    hours = max(24, round(days * 24))
    previous = spark.conf.get(RETENTION_CHECK, "true")
    spark.conf.set(RETENTION_CHECK, "false")
    try:
        try:  # LITE: the files the log says were removed (seconds); FULL also lists the directories
            spark.sql(f"VACUUM delta.`{location}` LITE RETAIN {hours} HOURS").collect()
        except Exception as exc:  # noqa: BLE001 - e.g. the log no longer reaches back that far
            log.info("VACUUM LITE of %s not possible (%s): full VACUUM", location, str(exc).splitlines()[0][:200])
            spark.sql(f"VACUUM delta.`{location}` RETAIN {hours} HOURS").collect()
    finally:
        spark.conf.set(RETENTION_CHECK, previous)
    last = spark.sql(f"DESCRIBE HISTORY delta.`{location}` LIMIT 1").first()
    if last is None or last["operation"] != "VACUUM END":
        return 0
    return int((last["operationMetrics"] or {}).get("numDeletedFiles", 0))
