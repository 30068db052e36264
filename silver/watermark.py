"""The refine stream's event-time watermark: what `is_late` means (DESIGN.md).

An event is late when its `event_ts` is older than the stream's watermark when it arrives: the
highest `event_ts` accepted into silver.events so far minus the allowed lateness
(`refine.lateness_hours`). As in Spark, the watermark moves between micro-batches: every row of a
batch is compared with the watermark as of the batch's start, so a 30-day backfill delivered in
order has no late events however it is split into batches, and an event days older than what the
stream already accepted is late.

The highest event time so far is kept in `audit.batch_ledger.max_event_ts` (cumulative, written
with each batch), so a restarted stream, or a replayed batch, computes the same watermark again:
the batch's own ledger row, if an earlier attempt wrote it, is left out.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from pyspark.sql import DataFrame, functions as F

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def to_datetime(micros: int | None) -> datetime | None:
    """Microseconds since the epoch -> an aware UTC datetime (exact, no float rounding)."""
    return None if micros is None else EPOCH + timedelta(microseconds=micros)


def watermark_micros(max_event_micros: int | None, lateness_hours: float) -> int | None:
    """The watermark for the next batch; None before anything was accepted (nothing is late)."""
    if max_event_micros is None:
        return None
    return max_event_micros - int(round(lateness_hours * 3600 * 1_000_000))


def later(a: int | None, b: int | None) -> int | None:
    """The later of two optional event times."""
    return b if a is None else a if b is None else max(a, b)


def accepted_so_far(ledger: DataFrame, silver_before_batch: DataFrame, *, app_id: str, batch_id: int) -> int | None:
    """Highest event time (micros) accepted into silver.events before batch `batch_id` of stream
    `app_id`.

    From the ledger's cumulative `max_event_ts` over every row but this batch's (and later) own;
    a ledger whose rows predate the column (layout < 5) but that inserted rows falls back to
    silver.events itself, once: the next ledger row carries the cumulative value.
    """
    earlier = ledger.filter(~((F.col("txn_app_id") == F.lit(app_id)) & (F.col("batch_id") >= F.lit(batch_id))))
    row = earlier.agg(F.max(F.unix_micros("max_event_ts")).alias("max_us"),
                      F.sum("rows_inserted").alias("inserted")).first()
    if row["max_us"] is not None or not row["inserted"]:
        return row["max_us"]
    return silver_before_batch.agg(F.max(F.unix_micros("event_ts")).alias("max_us")).first()["max_us"]
