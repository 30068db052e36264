"""Pure transform: classify accepted rows as new events or duplicates (on `event_id`).

The first accepted occurrence wins: an event already in silver.events, else the earliest
occurrence in the batch (Bronze order: ingest batch, then file name, then position in the file,
which `_bronze_id` follows within a file). Every
other occurrence is a duplicate, `is_conflicting` when its standardized payload differs from the
kept one's.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window, functions as F

from silver.contract import PAYLOAD_COLUMNS


def payload_hash() -> Column:
    """SHA-256 of the standardized payload (same expression on candidates and on silver.events)."""
    return F.sha2(F.to_json(F.struct(*[F.col(c) for c in PAYLOAD_COLUMNS])), 256)


def classify_duplicates(accepted: DataFrame, existing: DataFrame) -> DataFrame:
    """Add `is_duplicate`, `is_conflicting`, `payload_hash`, `kept_payload_hash`, `kept_bronze_id`.

    `existing` is silver.events (as of before this batch); only its rows whose event_id occurs in
    `accepted` are read into the join.
    """
    order = Window.partitionBy("event_id").orderBy("_ingest_batch_id", "_source", "_bronze_id")
    ranked = (
        accepted.withColumn("payload_hash", payload_hash())
        .withColumn("_occurrence", F.row_number().over(order))
        .withColumn("_first_hash", F.first("payload_hash").over(order))
        .withColumn("_first_bronze_id", F.first("_bronze_id").over(order))
    )
    keys = accepted.select("event_id").distinct()
    known = existing.join(keys, "event_id", "left_semi").select(
        "event_id", payload_hash().alias("_existing_hash"), F.col("_bronze_id").alias("_existing_bronze_id"))
    joined = ranked.join(known, "event_id", "left")
    in_silver = F.col("_existing_bronze_id").isNotNull()
    is_duplicate = in_silver | (F.col("_occurrence") > 1)
    kept_hash = F.coalesce(F.col("_existing_hash"), F.col("_first_hash"))
    return joined.select(
        *accepted.columns,
        "payload_hash",
        is_duplicate.alias("is_duplicate"),
        (is_duplicate & (F.col("payload_hash") != kept_hash)).alias("is_conflicting"),
        kept_hash.alias("kept_payload_hash"),
        F.coalesce(F.col("_existing_bronze_id"), F.col("_first_bronze_id")).alias("kept_bronze_id"),
    )
