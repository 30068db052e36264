"""Refine end to end on hand-made Bronze rows: every reason code, standardization, dedup, ledger."""
from __future__ import annotations

import json

import pytest

from pipelines.core import registry
from pipelines.core.tables import SILVER_EVENTS
from tests.conftest import make_config
from tests.support.silver_testkit import append_bronze, event, read, run_refine

pytestmark = pytest.mark.integration

# marker event_id -> (line, the reason code it must be quarantined with)
BAD_LINES: dict[str, tuple[bytes | str, str]] = {
    "bad-json": ('{"event_id": "bad-json", "event_type": "click", ', "malformed_json"),
    "bad-encoding": (event("bad-encoding", properties={"city": "MARK"}).replace("MARK", "M\udcfc")
                     .encode("utf-8", "surrogateescape"), "invalid_encoding"),
    "bad-no-id": (event("ignored", event_id=None, utm_source="bad-no-id"), "missing_event_id"),
    "bad-no-type": (event("bad-no-type", event_type=None), "missing_event_type"),
    "bad-no-ts": (event("bad-no-ts", event_ts=None), "missing_event_ts"),
    "bad-no-campaign": (event("bad-no-campaign", campaign_id=None), "missing_campaign_id"),
    "bad-no-channel": (event("bad-no-channel", channel="  "), "missing_channel"),
    "bad-no-user": (event("bad-no-user", user_id=None), "missing_user_id"),
    "bad-no-order": (event("bad-no-order", "purchase", order_id=None), "missing_order_id"),
    "bad-no-revenue": (event("bad-no-revenue", "purchase", revenue=None), "missing_revenue"),
    "bad-no-cost": (event("bad-no-cost", "ad_spend", cost=None), "missing_cost"),
    "bad-no-currency": (event("bad-no-currency", "ad_spend", currency=None), "missing_currency"),
    "bad-type": (event("bad-type", "page_view"), "invalid_event_type"),
    "bad-ts": (event("bad-ts", event_ts="31/10/2026 12:00"), "invalid_timestamp"),
    "bad-negative": (event("bad-negative", "purchase", revenue=-5), "negative_amount"),
    "bad-amount": (event("bad-amount", "ad_spend", cost="12,3a"), "invalid_amount"),
    "bad-currency": (event("bad-currency", "purchase", currency="BTC"), "unknown_currency"),
    "bad-future": (event("bad-future", "impression", event_ts="2099-06-01T00:00:00Z"), "future_timestamp"),
    "bad-oversized": (event("bad-oversized", properties={"blob": "x" * 70_000}), "oversized_record"),
}
GOOD = [
    event("ok-1"),
    event("ok-2", "purchase", revenue=20, currency="gbp", email="  Alice@Example.COM "),
    event("ok-3", "impression", channel="FACEBOOK", event_ts=1790000000000),
    event("ok-4", "ad_spend", channel="tiktok-influencer", cost="99.999"),
    event("ok-5", "session_start", email="alice@example.com", event_ts="2026-10-01T23:30:00-05:00"),
]
# Same batch: an exact copy of ok-1 and a conflicting copy of ok-2.
DUPES_BATCH_1 = [event("ok-1"), event("ok-2", "purchase", revenue=25, currency="gbp",
                                           email="  Alice@Example.COM ")]
# A later batch: ok-3 again (same payload), ok-4 with another cost, and a new event.
BATCH_2 = [event("ok-3", "impression", channel="FACEBOOK", event_ts=1790000000000),
           event("ok-4", "ad_spend", channel="tiktok-influencer", cost="1"),
           event("ok-6", "signup", user_id="u-9")]


@pytest.fixture(scope="module")
def refined(spark, tmp_path_factory):
    """Two Bronze batches refined in two runs: (config, silver, quarantine, duplicates, ledger)."""
    config = make_config(tmp_path_factory.mktemp("silver-refine"))
    append_bronze(spark, config, [line for line, _ in BAD_LINES.values()] + GOOD + DUPES_BATCH_1, batch=0)
    run_refine(spark, config, run_id="run-1")
    append_bronze(spark, config, BATCH_2, batch=1)
    run_refine(spark, config, run_id="run-2")
    return config


def _rows(spark, config, schema, table):
    return [r.asDict() for r in read(spark, config, schema, table).collect()]


@pytest.mark.parametrize("marker", sorted(BAD_LINES))
def test_bad_line_is_quarantined_with_its_reason_and_its_line_masked(spark, refined, marker):
    """The quarantine keeps the line with its personal data masked (the rule of
    pipelines.core.personal_data.mask_raw_line); Bronze keeps it as received, bytes included."""
    from pipelines.core.personal_data import mask_raw_line

    line, reason = BAD_LINES[marker]
    rows = [r for r in _rows(spark, refined, "silver", "events_quarantine") if marker in r["raw"]]
    assert len(rows) == 1, rows
    row = rows[0]
    assert reason in row["reasons"]
    assert row["raw_bytes"] is None
    bronze = {r["_bronze_id"]: r for r in _rows(spark, refined, "bronze", "events_raw")}[row["_bronze_id"]]
    if isinstance(line, bytes):
        assert bytes(bronze["raw_bytes"]) == line
    else:
        assert bronze["raw"] == line
    expected = mask_raw_line(bronze["raw"])
    try:
        assert json.loads(row["raw"]) == json.loads(expected)
    except ValueError:
        assert row["raw"] == expected
    assert row["_bronze_id"] and row["_gate_run_id"] and row["_silver_batch_id"] == 0


def test_every_reason_code_of_the_contract_is_exercised():
    from silver.contract import REASON_CODES

    assert {reason for _, reason in BAD_LINES.values()} == set(REASON_CODES)


def test_silver_events_has_exactly_the_agreed_schema(spark, refined):
    df = read(spark, refined, "silver", "events")
    got = [(f.name, f.dataType.simpleString(), not f.nullable) for f in df.schema.fields]
    want = [(c.name, c.type.lower(), not c.nullable) for c in SILVER_EVENTS.columns]
    assert got == want


def test_good_events_are_inserted_once_with_lineage(spark, refined):
    rows = {r["event_id"]: r for r in _rows(spark, refined, "silver", "events")}
    assert sorted(rows) == ["ok-1", "ok-2", "ok-3", "ok-4", "ok-5", "ok-6"]
    assert rows["ok-6"]["_silver_batch_id"] == 1
    assert all(r["_bronze_id"].startswith("test-") and r["_gate_run_id"] for r in rows.values())
    # first occurrence wins: ok-2 keeps revenue 20, ok-4 keeps cost 99.999 -> 99.9990
    assert str(rows["ok-2"]["revenue"]) == "20.0000"
    assert str(rows["ok-4"]["cost"]) == "99.9990"
    assert rows["ok-4"]["channel"] == "unknown" and rows["ok-4"]["channel_raw"] == "tiktok-influencer"
    assert rows["ok-3"]["channel"] == "paid_social"


def test_duplicates_within_and_across_batches_are_counted_and_conflicts_flagged(spark, refined):
    dups = sorted((r["event_id"], r["is_conflicting"], r["_silver_batch_id"])
                  for r in _rows(spark, refined, "silver", "events_duplicates"))
    assert dups == [("ok-1", False, 0), ("ok-2", True, 0), ("ok-3", False, 1), ("ok-4", True, 1)]
    ledger = {r["batch_id"]: r for r in _rows(spark, refined, "audit", "batch_ledger")}
    assert (ledger[0]["rows_duplicate"], ledger[0]["rows_duplicate_conflicting"]) == (2, 1)
    assert (ledger[1]["rows_duplicate"], ledger[1]["rows_duplicate_conflicting"]) == (2, 1)


def test_late_means_older_than_the_watermark_of_what_the_stream_already_accepted(spark, refined):
    """Batch 0 is the first: no watermark, so ok-3 (ten days older than ok-5) is not late.
    Batch 1 (another run: the watermark comes from the ledger) compares with batch 0's highest
    accepted event time (ok-5, 2026-10-02T04:30Z; the quarantined 2099 event does not count)
    minus the default hour: ok-6 (2026-10-01T12:00Z) is late, and still inserted."""
    from pyspark.sql import functions as F

    def utc(column: str):  # the session's time zone is UTC (pipelines.core.spark_session)
        return F.date_format(column, "yyyy-MM-dd'T'HH:mm:ss")

    late = {r["event_id"]: r["is_late"] for r in _rows(spark, refined, "silver", "events")}
    assert late == {"ok-1": False, "ok-2": False, "ok-3": False, "ok-4": False, "ok-5": False, "ok-6": True}
    ledger = {r["batch_id"]: r for r in read(spark, refined, "audit", "batch_ledger").select(
        "batch_id", "rows_late", utc("max_event_ts").alias("max_event_ts"),
        utc("watermark").alias("watermark")).collect()}
    assert (ledger[0]["rows_late"], ledger[0]["watermark"], ledger[0]["max_event_ts"]) == (
        0, None, "2026-10-02T04:30:00")
    assert (ledger[1]["rows_late"], ledger[1]["watermark"], ledger[1]["max_event_ts"]) == (
        1, "2026-10-02T03:30:00", "2026-10-02T04:30:00")


def test_ledger_conserves_every_bronze_row(spark, refined):
    ledger = {r["batch_id"]: r for r in _rows(spark, refined, "audit", "batch_ledger")}
    assert ledger[0]["rows_read"] == len(BAD_LINES) + len(GOOD) + len(DUPES_BATCH_1)
    assert (ledger[0]["rows_inserted"], ledger[0]["rows_quarantined"]) == (len(GOOD), len(BAD_LINES))
    assert (ledger[1]["rows_read"], ledger[1]["rows_inserted"]) == (3, 1)
    for r in ledger.values():
        assert r["rows_read"] == r["rows_inserted"] + r["rows_quarantined"] + r["rows_duplicate"]


def test_quarantine_counts_agree_with_what_gx_reported(spark, refined):
    results = [r for r in _rows(spark, refined, "audit", "quality_results")
               if r["batch_id"] == 0 and r["action"] == "quarantine"]
    per_reason: dict[str, int] = {}
    for r in results:
        per_reason[r["reason"]] = per_reason.get(r["reason"], 0) + (r["unexpected_count"] or 0)
    quarantined: dict[str, int] = {}
    for r in _rows(spark, refined, "silver", "events_quarantine"):
        if r["_silver_batch_id"] == 0:
            for reason in r["reasons"]:
                quarantined[reason] = quarantined.get(reason, 0) + 1
    assert {k: v for k, v in per_reason.items() if v} == quarantined


def test_no_plain_email_anywhere_in_silver_events_or_duplicates(spark, refined):
    for table in ("events", "events_duplicates"):
        text = json.dumps(_rows(spark, refined, "silver", table), default=str).lower()
        assert "example.com" not in text and "alice" not in text


def test_every_commit_carries_the_run_id_in_user_metadata(spark, refined):

    for schema, table in [("silver", "events"), ("silver", "events_quarantine"),
                          ("audit", "batch_ledger"), ("audit", "quality_results")]:
        history = spark.sql(f"DESCRIBE HISTORY delta.`{registry.table(f'{schema}.{table}').location(refined)}`")
        appends = [json.loads(r["userMetadata"]) for r in history.collect() if r["operation"] == "WRITE"]
        assert appends and all(m["run_id"] in ("run-1", "run-2") and m["stage"] == "silver" for m in appends)


def test_gx_data_docs_are_built(refined):
    from pathlib import Path

    assert (Path(refined.paths.root) / "docs" / "gx" / "index.html").is_file()
