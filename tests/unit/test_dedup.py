"""Dedup on tiny frames: which occurrence is kept, what counts as a duplicate, what conflicts."""
from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any

from pipelines.core.tables import SILVER_EVENTS
from silver.contract import PAYLOAD_COLUMNS
from silver.dedup import SUSPECT_COLUMNS, classify_duplicates, duplicate_suspects, first_occurrences, payload_hash

PAYLOAD_DDL = ", ".join(f"{c} {SILVER_EVENTS.column(c).type}" for c in PAYLOAD_COLUMNS)
# accepted rows as refine hands them to dedup (plus a column that is not part of the payload)
ACCEPTED_DDL = f"event_id STRING, _ingest_batch_id BIGINT, _source STRING, _bronze_id STRING, {PAYLOAD_DDL}, note STRING"
EXISTING_DDL = f"event_id STRING, _bronze_id STRING, {PAYLOAD_DDL}"

BASE_PAYLOAD: dict[str, Any] = {
    "event_type": "purchase", "event_ts": datetime(2026, 10, 1, 12, 0), "campaign_id": "cmp-1",
    "channel_raw": "Google Ads", "user_id": "u-1", "email_hash": "ab" * 32, "order_id": "o-1",
    "revenue": Decimal("10.5000"), "cost": Decimal("0.0000"), "currency": "EUR", "utm_source": "google",
    "utm_medium": "cpc", "utm_campaign": "autumn", "properties": '{"page":"/"}',
}
# another value of each payload column's type
OTHER_VALUE: dict[str, Any] = {
    "event_type": "click", "event_ts": datetime(2026, 10, 1, 12, 0, 1), "campaign_id": "cmp-2",
    "channel_raw": "bing", "user_id": "u-2", "email_hash": "cd" * 32, "order_id": "o-2",
    "revenue": Decimal("10.5001"), "cost": Decimal("1.0000"), "currency": "USD", "utm_source": "bing",
    "utm_medium": "email", "utm_campaign": "winter", "properties": '{"page":"/x"}',
}


def _payload(**changes: Any) -> tuple:
    values = {**BASE_PAYLOAD, **changes}
    return tuple(values[c] for c in PAYLOAD_COLUMNS)


def _accepted(spark, *rows: tuple):
    """rows: (event_id, ingest batch, source, bronze id[, payload changes[, note]])."""
    data = []
    for row in rows:
        event_id, batch, source, bronze_id, *rest = row
        changes = rest[0] if rest else {}
        note = rest[1] if len(rest) > 1 else None
        data.append((event_id, batch, source, bronze_id, *_payload(**changes), note))
    return spark.createDataFrame(data, ACCEPTED_DDL)


def _existing(spark, *rows: tuple):
    """silver.events as of before the batch: (event_id, bronze id[, payload changes])."""
    data = [(event_id, bronze_id, *_payload(**(rest[0] if rest else {})))
            for event_id, bronze_id, *rest in rows]
    return spark.createDataFrame(data, EXISTING_DDL)


def _dedup(accepted, existing, *, broadcast: bool = True) -> tuple[dict[str, Any], list[str]]:
    """(classified rows by Bronze id, the Bronze ids first_occurrences keeps); the suspects are
    computed once, as refine caches them."""
    suspects = duplicate_suspects(accepted, existing, broadcast=broadcast).localCheckpoint()
    classified = classify_duplicates(accepted, suspects, broadcast=broadcast).collect()
    kept = first_occurrences(accepted, suspects, broadcast=broadcast).collect()
    return {r["_bronze_id"]: r for r in classified}, sorted(r["_bronze_id"] for r in kept)


def _bid(batch: int, row: int) -> str:
    """A Bronze id as bronze.events_raw makes them: <stream>-<batch>-<row in hex>."""
    return f"s1-{batch:08d}-{row:012x}"


# One id occurring in several ingest batches, files and positions; the kept occurrence is the
# first by (ingest batch, file, bronze id), whatever the order the rows arrive in.
ORDERED = [
    ("e-1", 2, "file:/landing/a.jsonl", _bid(2, 0)),
    ("e-1", 1, "file:/landing/b.jsonl", _bid(1, 0x100)),
    ("e-1", 1, "file:/landing/b.jsonl", _bid(1, 0xff)),   # earliest batch, only file, first position
    ("e-2", 3, "file:/landing/b.jsonl", _bid(3, 0)),
    ("e-2", 3, "file:/landing/a.jsonl", _bid(3, 0x2a)),   # same batch: a.jsonl before b.jsonl
    ("e-3", 1, "file:/landing/c.jsonl", _bid(1, 7)),      # occurs once
]


def test_the_first_occurrence_in_bronze_order_wins_and_every_other_is_a_duplicate(spark) -> None:
    accepted = _accepted(spark, *ORDERED).repartition(3)  # the winner's row is neither first nor alone
    rows, kept = _dedup(accepted, _existing(spark))

    winners = [_bid(1, 0xff), _bid(3, 0x2a), _bid(1, 7)]
    assert sorted(bid for bid, r in rows.items() if not r["is_duplicate"]) == sorted(winners)
    assert {bid: r["kept_bronze_id"] for bid, r in rows.items()} == {
        _bid(2, 0): _bid(1, 0xff), _bid(1, 0x100): _bid(1, 0xff), _bid(1, 0xff): _bid(1, 0xff),
        _bid(3, 0): _bid(3, 0x2a), _bid(3, 0x2a): _bid(3, 0x2a), _bid(1, 7): _bid(1, 7),
    }
    assert kept == sorted(winners)


def test_an_id_already_in_silver_makes_every_occurrence_in_the_batch_a_duplicate(spark) -> None:
    existing = _existing(spark, ("e-1", "old-1"), ("e-3", "old-3"), ("e-4", "old-4", {"user_id": "u-silver"}),
                         ("e-9", "old-9"))
    accepted = _accepted(spark, ("e-1", 1, "file:/a", _bid(1, 0)), ("e-1", 1, "file:/a", _bid(1, 1)),
                         ("e-2", 1, "file:/a", _bid(1, 2)),
                         ("e-3", 1, "file:/a", _bid(1, 3)),                                 # once, in Silver
                         ("e-4", 1, "file:/a", _bid(1, 4)), ("e-4", 1, "file:/a", _bid(1, 5)))
    rows, kept = _dedup(accepted, existing)

    summary = {b: (r["is_duplicate"], r["is_conflicting"], r["kept_bronze_id"]) for b, r in rows.items()}
    assert summary == {
        _bid(1, 0): (True, False, "old-1"), _bid(1, 1): (True, False, "old-1"), _bid(1, 2): (False, False, _bid(1, 2)),
        _bid(1, 3): (True, False, "old-3"),
        # equal to each other, not to the Silver row: both conflict with what Silver kept
        _bid(1, 4): (True, True, "old-4"), _bid(1, 5): (True, True, "old-4"),
    }
    assert rows[_bid(1, 4)]["kept_payload_hash"] == rows[_bid(1, 5)]["kept_payload_hash"] != rows[_bid(1, 4)]["payload_hash"]
    assert kept == [_bid(1, 2)]


def test_a_duplicate_whose_payload_differs_from_the_kept_one_is_conflicting(spark) -> None:
    existing = _existing(spark, ("e-5", "old", {"revenue": Decimal("99.0000")}))
    accepted = _accepted(
        spark,
        ("e-1", 1, "file:/a", _bid(1, 0)),
        ("e-1", 1, "file:/a", _bid(1, 1), {"currency": "USD"}),   # payload differs: conflicting
        ("e-1", 1, "file:/a", _bid(1, 2), {}, "only a note"),      # same payload: a plain redelivery
        ("e-5", 1, "file:/a", _bid(1, 3)),                         # differs from the Silver row
        ("e-6", 1, "file:/a", _bid(1, 4)),
    )
    rows, kept = _dedup(accepted, existing)

    conflicting = {b: (r["is_duplicate"], r["is_conflicting"]) for b, r in rows.items()}
    assert conflicting == {_bid(1, 0): (False, False), _bid(1, 1): (True, True), _bid(1, 2): (True, False),
                           _bid(1, 3): (True, True), _bid(1, 4): (False, False)}
    assert rows[_bid(1, 1)]["kept_payload_hash"] == rows[_bid(1, 2)]["payload_hash"]
    assert rows[_bid(1, 1)]["payload_hash"] != rows[_bid(1, 1)]["kept_payload_hash"]
    assert rows[_bid(1, 3)]["kept_bronze_id"] == "old"
    assert kept == [_bid(1, 0), _bid(1, 4)]


def test_new_events_keep_their_own_id_and_get_no_hashes_and_all_columns_are_kept(spark) -> None:
    accepted = _accepted(spark, ("e-1", 1, "file:/a", _bid(1, 0), {}, "n1"),
                         ("e-1", 1, "file:/a", _bid(1, 1), {}, "n2"))
    suspects = duplicate_suspects(accepted, _existing(spark)).localCheckpoint()
    classified = classify_duplicates(accepted, suspects)
    assert classified.columns == [*accepted.columns, "is_duplicate", "is_conflicting", "payload_hash",
                                  "kept_payload_hash", "kept_bronze_id"]
    new, duplicate = sorted(classified.collect(), key=lambda r: r["_bronze_id"])
    assert (new["is_duplicate"], new["payload_hash"], new["kept_payload_hash"], new["kept_bronze_id"]) == \
        (False, None, None, _bid(1, 0))
    assert (duplicate["note"], duplicate["payload_hash"] is not None) == ("n2", True)
    kept = first_occurrences(accepted, suspects)
    assert kept.columns == accepted.columns
    assert [r.asDict() for r in kept.collect()] == [accepted.collect()[0].asDict()]


def test_suspects_are_only_the_repeated_ids_and_the_ids_already_in_silver(spark) -> None:
    existing = _existing(spark, ("e-2", "old-2"), ("e-9", "old-9"))
    accepted = _accepted(spark, ("e-1", 2, "file:/a", _bid(2, 0)), ("e-1", 1, "file:/z", _bid(1, 5)),
                         ("e-2", 1, "file:/a", _bid(1, 0)), ("e-3", 1, "file:/a", _bid(1, 1)))
    suspects = duplicate_suspects(accepted, existing)
    assert tuple(suspects.columns) == SUSPECT_COLUMNS
    by_id = {r["event_id"]: r for r in suspects.collect()}
    assert sorted(by_id) == ["e-1", "e-2"]  # e-3 is new and single; e-9 is not in the batch
    assert (by_id["e-1"]["_first_bronze_id"], by_id["e-1"]["_existing_bronze_id"]) == (_bid(1, 5), None)
    assert by_id["e-1"]["_first_hash"] is not None and by_id["e-1"]["_existing_hash"] is None
    assert (by_id["e-2"]["_first_bronze_id"], by_id["e-2"]["_existing_bronze_id"]) == (None, "old-2")
    assert by_id["e-2"]["_first_hash"] is None and by_id["e-2"]["_existing_hash"] is not None


def test_broadcast_or_not_gives_the_same_answer(spark) -> None:
    existing = _existing(spark, ("e-1", "old", {"cost": Decimal("2.0000")}), ("e-3", "old-3"))
    accepted = _accepted(spark, *ORDERED, ("e-3", 5, "file:/a", _bid(5, 0)),
                         ("e-2", 4, "file:/a", _bid(4, 0), {"order_id": "o-9"}))

    def answer(broadcast: bool) -> tuple:
        suspects = duplicate_suspects(accepted, existing, broadcast=broadcast).localCheckpoint()
        classified = classify_duplicates(accepted, suspects, broadcast=broadcast)
        kept = first_occurrences(accepted, suspects, broadcast=broadcast)
        return (sorted(suspects.collect(), key=lambda r: r["event_id"]),
                sorted(classified.collect(), key=lambda r: r["_bronze_id"]),
                sorted(kept.collect(), key=lambda r: r["_bronze_id"]))

    with_broadcast = answer(True)
    threshold = spark.conf.get("spark.sql.autoBroadcastJoinThreshold")
    spark.conf.set("spark.sql.autoBroadcastJoinThreshold", "-1")  # or Spark broadcasts tiny frames anyway
    try:
        without = answer(False)
    finally:
        spark.conf.set("spark.sql.autoBroadcastJoinThreshold", threshold)
    assert with_broadcast == without
    classified = with_broadcast[1]
    assert any(r["is_duplicate"] for r in classified) and any(r["is_conflicting"] for r in classified)


def _hashes(spark, *payloads: dict[str, Any]) -> list[str]:
    rows = [("e", 1, "file:/a", _bid(1, i), changes) for i, changes in enumerate(payloads)]
    return [r["h"] for r in _accepted(spark, *rows).select(payload_hash().alias("h")).collect()]


def test_payload_hash_is_a_sha256_equal_for_equal_payloads_whatever_else_differs(spark) -> None:
    data = [("e-1", 1, "file:/a", _bid(1, 0), *_payload(), "x"), ("e-2", 7, "file:/b", _bid(7, 9), *_payload(), "y")]
    frame = spark.createDataFrame(data, ACCEPTED_DDL)
    first, second = [r["h"] for r in frame.select(payload_hash().alias("h")).collect()]
    assert first == second
    assert re.fullmatch(r"[0-9a-f]{64}", first)


def test_payload_hash_changes_when_any_payload_column_changes(spark) -> None:
    variants = [{}] + [{column: value} for column in PAYLOAD_COLUMNS for value in (OTHER_VALUE[column], None)]
    hashes = _hashes(spark, *variants)
    repeated = [variants[i] for i, h in enumerate(hashes) if hashes.count(h) > 1]
    assert repeated == [], "these payloads hash like another one"


def test_payload_hash_does_not_confuse_values_moved_between_columns(spark) -> None:
    one, two, three = _hashes(spark, {"utm_source": "ab", "utm_medium": "c"}, {"utm_source": "a", "utm_medium": "bc"},
                              {"utm_source": None, "utm_medium": "abc"})
    assert len({one, two, three}) == 3


def test_payload_hash_is_the_same_expression_on_silver_rows(spark) -> None:
    accepted = _accepted(spark, ("e-1", 1, "file:/a", _bid(1, 0)))
    existing = _existing(spark, ("e-1", "old"))
    (from_batch,) = accepted.select(payload_hash().alias("h")).collect()
    (from_silver,) = existing.select(payload_hash().alias("h")).collect()
    assert from_batch["h"] == from_silver["h"]
