"""The refine stream's watermark (silver.watermark): arithmetic, and where it is read from."""
from __future__ import annotations

from datetime import datetime, timezone

from silver.watermark import accepted_so_far, later, to_datetime, watermark_micros

HOUR_US = 3600 * 1_000_000
T0 = datetime(2026, 10, 1, tzinfo=timezone.utc)
T0_US = int(T0.timestamp()) * 1_000_000


def test_the_watermark_trails_the_highest_accepted_event_time_by_the_allowed_lateness() -> None:
    assert watermark_micros(None, 1.0) is None  # nothing accepted yet: nothing is late
    assert watermark_micros(T0_US, 1.0) == T0_US - HOUR_US
    assert watermark_micros(T0_US, 0.5) == T0_US - HOUR_US // 2
    assert later(None, None) is None and later(None, 3) == 3 and later(5, None) == 5 and later(5, 7) == 7
    assert to_datetime(T0_US + 1) == datetime(2026, 10, 1, 0, 0, 0, 1, tzinfo=timezone.utc)


def _ledger(spark, rows):
    ddl = "txn_app_id STRING, batch_id BIGINT, rows_inserted BIGINT, max_event_ts TIMESTAMP"
    return spark.createDataFrame(rows, ddl)


def _silver(spark, *times):
    return spark.createDataFrame([(t,) for t in times], "event_ts TIMESTAMP")


def test_a_restarted_or_replayed_batch_reads_what_was_accepted_before_it_only(spark) -> None:
    day = lambda n: datetime(2026, 10, n, tzinfo=timezone.utc)  # noqa: E731
    ledger = _ledger(spark, [("app", 0, 5, day(2)), ("app", 1, 5, day(4)), ("app", 2, 5, day(9))])
    silver = _silver(spark, day(1))
    us = lambda d: int(d.timestamp()) * 1_000_000  # noqa: E731
    # batch 2 replayed after its ledger row was written: its own row does not count
    assert accepted_so_far(ledger, silver, app_id="app", batch_id=2) == us(day(4))
    assert accepted_so_far(ledger, silver, app_id="app", batch_id=3) == us(day(9))
    assert accepted_so_far(ledger, silver, app_id="app", batch_id=0) is None
    # rows of another stream identity (an earlier checkpoint) count whatever their batch ids
    assert accepted_so_far(ledger, silver, app_id="other", batch_id=0) == us(day(9))


def test_a_ledger_from_before_the_column_falls_back_to_silver_once(spark) -> None:
    day = lambda n: datetime(2026, 10, n, tzinfo=timezone.utc)  # noqa: E731
    old = _ledger(spark, [("app", 0, 3, None)])
    assert accepted_so_far(old, _silver(spark, day(1), day(6)), app_id="app", batch_id=1) == \
        int(day(6).timestamp()) * 1_000_000
    nothing_inserted = _ledger(spark, [("app", 0, 0, None)])
    assert accepted_so_far(nothing_inserted, _silver(spark, day(6)), app_id="app", batch_id=1) is None
