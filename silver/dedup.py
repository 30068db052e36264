"""Pure transforms: classify accepted rows as new events or duplicates (on `event_id`).

The first accepted occurrence wins: an event already in silver.events, else the earliest
occurrence in the batch (Bronze order: ingest batch, then file name, then position in the file,
which `_bronze_id` follows within a file). Every other occurrence is a duplicate,
`is_conflicting` when its standardized payload differs from the kept one's.

Duplicates are rare, so the work is split in two: `duplicate_suspects` finds, from the key and
order columns (the payload hashed for the repeated rows only), the few event ids that repeat
within the batch or already exist in Silver, with their kept occurrence; `classify_duplicates`
joins the batch's rows to that small table. No window over the whole batch, no shuffle of wide
rows (a window partitioned by event_id was several times slower; README, Performance).
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame, functions as F

from silver.contract import PAYLOAD_COLUMNS

ORDER_COLUMNS = ("_ingest_batch_id", "_source", "_bronze_id")
SUSPECT_COLUMNS = ("event_id", "_first_bronze_id", "_first_hash", "_existing_bronze_id", "_existing_hash")


def payload_hash() -> Column:
    """SHA-256 of the standardized payload (same expression on candidates and on silver.events)."""
    return F.sha2(F.to_json(F.struct(*[F.col(c) for c in PAYLOAD_COLUMNS])), 256)


def duplicate_suspects(accepted: DataFrame, existing: DataFrame, *, broadcast: bool = True) -> DataFrame:
    """Event ids of `accepted` that occur more than once in it or exist in `existing`.

    `accepted` needs `event_id`, ORDER_COLUMNS and the payload columns; `existing` is
    silver.events as of before the batch. One row per suspect id: the batch's first occurrence
    (`_first_*`, NULL when the id occurs once) and the Silver row (`_existing_*`, NULL when new). `broadcast`: the repeated ids are expected to be
    few (redeliveries), so they are broadcast to the batch rather than shuffling it.
    """
    # Ids seen more than once: a hash aggregate over one string column. Only their rows (few)
    # go through the ordered "first occurrence" aggregate, which needs a sort.
    repeated_ids = (accepted.groupBy("event_id").count().filter(F.col("count") > 1)
                    .select("event_id"))
    # The payload hash only for those rows: it is the dearest column of dedup (to_json + SHA-256).
    first = F.min(F.struct(*ORDER_COLUMNS, payload_hash().alias("payload_hash"))).alias("_first")
    repeated = (
        accepted.join(F.broadcast(repeated_ids) if broadcast else repeated_ids, "event_id", "left_semi")
        .groupBy("event_id").agg(first)
        .select("event_id", F.col("_first._bronze_id").alias("_first_bronze_id"),
                F.col("_first.payload_hash").alias("_first_hash"))
    )
    known = existing.join(accepted.select("event_id").distinct(), "event_id", "left_semi").select(
        "event_id", F.col("_bronze_id").alias("_existing_bronze_id"), payload_hash().alias("_existing_hash"))
    return repeated.join(known, "event_id", "full").select(*SUSPECT_COLUMNS)


def _join_suspects(rows: DataFrame, suspects: DataFrame, broadcast: bool) -> DataFrame:
    return rows.join(F.broadcast(suspects) if broadcast else suspects, "event_id", "left")


def _is_duplicate() -> Column:
    in_silver = F.col("_existing_bronze_id").isNotNull()
    repeated_later = F.col("_first_bronze_id").isNotNull() & (F.col("_bronze_id") != F.col("_first_bronze_id"))
    return in_silver | repeated_later


def classify_duplicates(rows: DataFrame, suspects: DataFrame, *, broadcast: bool = True) -> DataFrame:
    """Add `is_duplicate`, `is_conflicting`, `payload_hash`, `kept_payload_hash`, `kept_bronze_id`.

    `rows` (accepted rows with `event_id`, `_bronze_id` and the payload columns) keep their
    columns; the hashes are computed for duplicates only (NULL on new events);
    `suspects` comes from `duplicate_suspects` over the same accepted rows. `broadcast` when the
    suspects are few (the usual case), so `rows` are never shuffled.
    """
    is_duplicate = _is_duplicate()
    own_hash = F.when(is_duplicate, payload_hash())
    kept_hash = F.when(is_duplicate, F.coalesce(F.col("_existing_hash"), F.col("_first_hash")))
    return _join_suspects(rows, suspects, broadcast).select(
        *rows.columns,
        is_duplicate.alias("is_duplicate"),
        (is_duplicate & (own_hash != kept_hash)).alias("is_conflicting"),
        own_hash.alias("payload_hash"),
        kept_hash.alias("kept_payload_hash"),
        F.coalesce(F.col("_existing_bronze_id"), F.col("_first_bronze_id"), F.col("_bronze_id"))
        .alias("kept_bronze_id"),
    )


def first_occurrences(rows: DataFrame, suspects: DataFrame, *, broadcast: bool = True) -> DataFrame:
    """`rows` (accepted, with `event_id`, `_bronze_id`) without their duplicates: the new events."""
    return _join_suspects(rows, suspects, broadcast).filter(~_is_duplicate()).select(*rows.columns)
