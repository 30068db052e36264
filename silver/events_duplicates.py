"""`silver.events_duplicates`: every redelivered event that was not inserted (audit trail).

A duplicate is an accepted row whose `event_id` was already in silver.events, or that lost to an
earlier occurrence in the same batch. The raw line stays in Bronze (`_bronze_id`); the winner is
named by its `_bronze_id`; `is_conflicting` says the payload differed from the winner's.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pyspark.sql import DataFrame, functions as F

from pipelines.core.catalog import table_path
from pipelines.core.config import Config
from pipelines.core import delta_io

SCHEMA, TABLE = "silver", "events_duplicates"

COLUMNS: tuple[delta_io.Column, ...] = (
    ("event_id", "STRING", True, "the duplicated event id"),
    ("is_conflicting", "BOOLEAN", True, "payload differs from the row kept in silver.events"),
    ("payload_hash", "STRING", True, "SHA-256 of this occurrence's standardized payload"),
    ("kept_payload_hash", "STRING", True, "SHA-256 of the kept row's payload"),
    ("kept_bronze_id", "STRING", True, "_bronze_id of the occurrence kept in silver.events"),
    ("_bronze_id", "STRING", True, "Bronze row of this (rejected) occurrence"),
    ("_ingested_at", "TIMESTAMP", True, "when Bronze ingested this occurrence"),
    ("_silver_batch_id", "BIGINT", True, "refine micro-batch"),
    ("_processed_at", "TIMESTAMP", True, "when the refine batch ran"),
    ("_gate_run_id", "STRING", True, "GX validation run of the batch"),
)


def path(config: Config) -> str:
    return table_path(config, SCHEMA, TABLE)


def create_table(spark: Any, config: Config) -> bool:
    return delta_io.create_table(
        spark, path(config), COLUMNS, comment="Redelivered events not inserted into silver.events",
        properties={"medallion.layer": "silver", "delta.appendOnly": "true"},
    )


def to_duplicate_rows(duplicates: DataFrame, *, batch_id: int, gate_run_id: str,
                      processed_at: datetime) -> DataFrame:
    return duplicates.select(
        "event_id", "is_conflicting", "payload_hash", "kept_payload_hash", "kept_bronze_id",
        "_bronze_id", "_ingested_at",
        F.lit(batch_id).cast("bigint").alias("_silver_batch_id"),
        F.lit(processed_at).cast("timestamp").alias("_processed_at"),
        F.lit(gate_run_id).alias("_gate_run_id"),
    )
