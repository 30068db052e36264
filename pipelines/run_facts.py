"""What a run did, read back from the tables the stages wrote, for its progress and summary.

Read-only: the refine ledger (`audit.batch_ledger`, one row per micro-batch, tagged with the run
id) and the quarantine rows of those batches give Silver's side; Bronze's row count against the
ledger gives what is left to refine. The figures come from the tables rather than from counters
in the streams, so the summary says what was committed.
"""
from __future__ import annotations

from pyspark.errors import AnalysisException
from pyspark.sql import SparkSession, functions as F

from pipelines.core import delta_io, storage
from pipelines.core.config import Config
from pipelines.core.tables import AUDIT_BATCH_LEDGER, BRONZE_EVENTS_RAW, SILVER_EVENTS_QUARANTINE
from pipelines.run_summary import RefineFacts


def _exists(spark: SparkSession, config: Config, location: str) -> bool:
    return storage.exists(spark, f"{location.rstrip('/')}/_delta_log")


def bronze_rows_to_refine(spark: SparkSession, config: Config) -> int | None:
    """Bronze rows not yet read by refine: Bronze's rows minus the ledger's rows read (each Bronze
    row is read by exactly one committed refine batch). None when it cannot be told."""
    try:
        bronze = BRONZE_EVENTS_RAW.location(config)
        if not _exists(spark, config, bronze):
            return 0
        total = delta_io.read_table(spark, config, BRONZE_EVENTS_RAW).count()
        if not _exists(spark, config, AUDIT_BATCH_LEDGER.location(config)):
            return total
        read = delta_io.read_table(spark, config, AUDIT_BATCH_LEDGER).agg(F.sum("rows_read")).first()[0]
        return max(0, total - int(read or 0))
    except AnalysisException:
        return None


def refine_facts(spark: SparkSession, config: Config, run_id: str) -> RefineFacts:
    """This run's refine batches: the ledger's sums, and quarantined rows per reason code."""
    empty = RefineFacts(0, 0, 0, 0, 0)
    if not _exists(spark, config, AUDIT_BATCH_LEDGER.location(config)):
        return empty
    ledger = delta_io.read_table(spark, config, AUDIT_BATCH_LEDGER).where(F.col("run_id") == run_id)
    sums = ledger.agg(
        F.sum("rows_read").alias("read"), F.sum("rows_inserted").alias("inserted"),
        F.sum("rows_quarantined").alias("quarantined"), F.sum("rows_duplicate").alias("duplicate"),
        F.count(F.lit(1)).alias("batches"), F.collect_set("batch_id").alias("batch_ids"),
    ).first()
    if not sums or not sums["batches"]:
        return empty
    reasons: dict[str, int] = {}
    if sums["quarantined"] and _exists(spark, config, SILVER_EVENTS_QUARANTINE.location(config)):
        rows = (delta_io.read_table(spark, config, SILVER_EVENTS_QUARANTINE)
                .where(F.col("_silver_batch_id").isin(list(sums["batch_ids"])))
                .select(F.explode("reasons").alias("reason")).groupBy("reason").count().collect())
        reasons = {r["reason"]: int(r["count"]) for r in rows}
    return RefineFacts(rows_read=int(sums["read"] or 0), rows_inserted=int(sums["inserted"] or 0),
                       rows_quarantined=int(sums["quarantined"] or 0),
                       rows_duplicate=int(sums["duplicate"] or 0), batches=int(sums["batches"]),
                       quarantined_by_reason=reasons)
