"""`silver.events_quarantine`: every rejected Bronze row, with its raw line and all reason codes."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pyspark.sql import DataFrame, functions as F

from pipelines.core.catalog import table_path
from pipelines.core.config import Config
from pipelines.core import delta_io
from silver.quality_gate import REASONS_COL

SCHEMA, TABLE = "silver", "events_quarantine"

COLUMNS: tuple[delta_io.Column, ...] = (
    ("raw", "STRING", True, "the Bronze line as received (repaired text when not valid UTF-8)"),
    ("raw_bytes", "BINARY", False, "original bytes when the line is not valid UTF-8"),
    ("reasons", "ARRAY<STRING>", True, "every reason code the gate found"),
    ("event_id", "STRING", False, "event_id when the line could be parsed"),
    ("_bronze_id", "STRING", True, "Bronze row"),
    ("_source", "STRING", True, "file the line came from"),
    ("_ingested_at", "TIMESTAMP", True, "when Bronze ingested the row"),
    ("_silver_batch_id", "BIGINT", True, "refine micro-batch that rejected the row"),
    ("_processed_at", "TIMESTAMP", True, "when the refine batch ran"),
    ("_gate_run_id", "STRING", True, "GX validation run that rejected the row"),
)
CHECKS = {"has_reason": "size(reasons) > 0"}


def path(config: Config) -> str:
    return table_path(config, SCHEMA, TABLE)


def create_table(spark: Any, config: Config) -> bool:
    return delta_io.create_table(
        spark, path(config), COLUMNS, comment="Rejected Bronze rows with raw line and reason codes",
        checks=CHECKS, properties={"medallion.layer": "silver", "delta.appendOnly": "true"},
    )


def to_quarantine_rows(rejected: DataFrame, *, batch_id: int, gate_run_id: str,
                       processed_at: datetime) -> DataFrame:
    return rejected.select(
        "raw", "raw_bytes", F.col(REASONS_COL).alias("reasons"), "event_id", "_bronze_id", "_source",
        "_ingested_at",
        F.lit(batch_id).cast("bigint").alias("_silver_batch_id"),
        F.lit(processed_at).cast("timestamp").alias("_processed_at"),
        F.lit(gate_run_id).alias("_gate_run_id"),
    )
