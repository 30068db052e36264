"""Standardization on tiny frames: time zones, epoch ms, channel aliases, email hashing, FX."""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from pipelines.core.config import config_from_dict
from pipelines.core.pii_key import PiiKey, hmac_expression, install, verify
from silver.reference_data import Reference, load_channel_aliases, load_fx_rates, load_property_keys
from silver.standardize import standardize

KEY = PiiKey("unit-test-key", "a test")
DEFAULTS = config_from_dict({}).refine  # the packaged reference data
REFERENCE = Reference(channel_aliases=load_channel_aliases(Path(DEFAULTS.channel_aliases)),
                      fx_rates_usd=load_fx_rates(Path(DEFAULTS.fx_rates)), pii_key=KEY,
                      property_keys=load_property_keys(Path(DEFAULTS.property_keys)))
INGESTED = datetime(2026, 10, 5, 0, 0, tzinfo=timezone.utc)


def _std(spark, *events: dict, watermark_us: int | None = None, reference: Reference = REFERENCE):
    from tests.support.silver_testkit import bronze_rows

    install(spark, reference.pii_key)
    df = bronze_rows(spark, [json.dumps(e) for e in events], ingested_at=INGESTED)
    return standardize(df, reference, watermark_us).collect()


def test_timestamps_with_any_offset_and_epoch_millis_become_the_same_utc_instant(spark):
    same_instant = ["2026-10-01T12:00:00Z", "2026-10-01T14:00:00+02:00", "2026-10-01T06:30:00-05:30",
                    "2026-10-01T21:00:00.000+0900", 1790856000000, "1790856000000"]
    rows = _std(spark, *[{"event_ts": ts} for ts in same_instant])
    assert {r["event_ts"] for r in rows} == {datetime(2026, 10, 1, 12, 0)}
    assert {str(r["event_date"]) for r in rows} == {"2026-10-01"}


def test_timestamps_without_offset_or_implausible_are_invalid(spark):
    rows = _std(spark, {"event_ts": "2026-10-01 12:00:00"}, {"event_ts": 1790856000},
                {"event_ts": "2026-10-31T24:61:00Z"})
    assert [r["event_ts"] for r in rows] == [None, None, None]
    assert all(r["event_ts_raw"] is not None for r in rows)


def test_an_event_more_than_the_clock_skew_ahead_of_its_ingestion_is_outside_it(spark):
    # ingested 2026-10-05T00:00Z, skew 24 h: 23 h ahead is fine, 25 h ahead is not
    rows = _std(spark, {"event_ts": "2026-10-05T23:00:00Z"}, {"event_ts": "2026-10-06T01:00:00Z"},
                {"event_ts": "2026-10-01T00:00:00Z"}, {"event_ts": "not a time"})
    assert [r["_within_clock_skew"] for r in rows] == [True, False, True, None]


def test_utc_date_differs_from_local_date_near_midnight(spark):
    (row,) = _std(spark, {"event_ts": "2026-10-01T23:30:00-05:00"})
    assert str(row["event_date"]) == "2026-10-02"


@pytest.mark.parametrize("aliases, canonical", [
    (["Google Ads", "google_ads", "adwords", "bing", " ADWORDS "], "paid_search"),
    (["fb", "FACEBOOK", "Meta", "instagram", "linkedin"], "paid_social"),
    (["display", "DV360", "banner"], "display"),
    (["e-mail", "Email", "newsletter"], "email"),
    (["affiliate", "partners"], "affiliate"),
    (["Organic", "seo"], "organic"),
    (["referral"], "referral"),
    (["direct"], "direct"),
    (["tiktok-influencer", "carrier pigeon"], "unknown"),
])
def test_channel_aliases_map_to_the_canonical_channel(spark, aliases, canonical):
    rows = _std(spark, *[{"channel": a} for a in aliases])
    assert [r["channel"] for r in rows] == [canonical] * len(aliases)
    assert [r["channel_raw"] for r in rows] == [a.strip() for a in aliases]


def test_no_channel_stays_null(spark):
    (row,) = _std(spark, {"event_id": "x"})
    assert row["channel"] is None


def test_same_email_in_any_case_gives_the_same_keyed_hash_and_never_the_address(spark):
    rows = _std(spark, {"email": "Alice@Example.com"}, {"email": "  ALICE@EXAMPLE.COM "},
                {"email": "alice@example.com"}, {"email": "bob@example.com"})
    expected = hmac.new(b"unit-test-key", b"alice@example.com", hashlib.sha256).hexdigest()
    assert [r["email_hash"] for r in rows[:3]] == [expected] * 3
    assert rows[3]["email_hash"] != expected
    assert {r["email_hash_key_id"] for r in rows} == {KEY.key_id}
    assert "email" not in rows[0].asDict() and "example" not in json.dumps([r.asDict() for r in rows][0], default=str).replace(rows[0]["raw"], "")


def test_amounts_from_numbers_or_numeric_strings_are_converted_to_usd(spark):
    rows = _std(spark,
                {"revenue": 10.5, "currency": "eur"},
                {"revenue": "100", "currency": "JPY"},
                {"cost": "1e3", "currency": "USD"},
                {"cost": "12,3a", "currency": "USD"},
                {"revenue": 5, "currency": "BTC"})
    assert (rows[0]["currency"], rows[0]["revenue"], rows[0]["fx_rate_usd"], rows[0]["revenue_usd"]) == (
        "EUR", Decimal("10.5000"), Decimal("1.08000000"), Decimal("11.3400"))
    assert rows[1]["revenue_usd"] == Decimal("0.6700")
    assert (rows[2]["cost"], rows[2]["cost_usd"]) == (Decimal("1000.0000"), Decimal("1000.0000"))
    assert rows[3]["cost"] is None and rows[3]["cost_raw"] == "12,3a"
    assert rows[4]["fx_rate_usd"] is None and rows[4]["revenue_usd"] is None


def test_late_means_older_than_the_watermark_not_older_than_the_ingestion_time(spark):
    """Three days before ingestion is not late by itself (a backfill); older than the watermark
    is, also by a microsecond; a row without a valid time is not (it has its own reason)."""
    watermark = datetime(2026, 10, 3, 12, 0, tzinfo=timezone.utc)
    us = int((watermark - datetime(1970, 1, 1, tzinfo=timezone.utc)).total_seconds()) * 1_000_000
    events = ({"event_ts": "2026-10-01T00:00:00Z"}, {"event_ts": "2026-10-03T11:59:59.999999Z"},
              {"event_ts": "2026-10-03T12:00:00Z"}, {"event_ts": "2026-10-04T00:00:00Z"}, {"event_ts": "soon"})
    assert [r["is_late"] for r in _std(spark, *events)] == [False] * 5
    assert [r["is_late"] for r in _std(spark, *events, watermark_us=us)] == [True, True, False, False, False]


def test_only_allow_listed_properties_are_kept_with_their_json_types_and_the_others_counted(spark):
    rows = _std(spark,
                {"properties": {"device": "mobile", "ip": "203.0.113.9", "items": 3, "user_agent": "Mozilla/5.0",
                                "coupon": None, "creative_id": {"a": [1, 2]}}},
                {"properties": {"ip": "203.0.113.9"}},
                {"properties": "a plain string"},
                {"event_id": "no-properties"})
    assert json.loads(rows[0]["properties"]) == {"device": "mobile", "items": 3, "coupon": None,
                                                 "creative_id": {"a": [1, 2]}}
    assert [r["properties"] for r in rows[1:]] == [None, None, None]
    assert [r["_properties_dropped"] for r in rows] == [2, 1, 1, 0]


def test_the_hash_key_never_appears_in_the_plan_and_a_second_key_gets_its_own_id(spark):
    from pyspark.sql import functions as F

    from tests.support.silver_testkit import bronze_rows

    other = dataclasses.replace(REFERENCE, pii_key=PiiKey("another-secret-key", "a test"))
    (row,) = _std(spark, {"email": "alice@example.com"}, reference=other)
    assert row["email_hash"] == other.pii_key.hash("alice@example.com") and row["email_hash_key_id"] == other.pii_key.key_id
    assert other.pii_key.key_id != KEY.key_id
    frame = standardize(bronze_rows(spark, [json.dumps({"email": "a@b.c"})], ingested_at=INGESTED), other)
    plans = frame._jdf.queryExecution().toString() + frame.select(F.col("email_hash"))._jdf.queryExecution().toString()
    assert other.pii_key.key_id in plans and "another-secret-key" not in plans
    assert "another-secret-key".encode().hex() not in plans.lower()


def test_a_key_spark_cannot_read_hashes_nothing_and_fails_the_check_before_any_row(spark):
    from pyspark.sql import functions as F

    from pipelines.core.errors import PipelineError

    key = PiiKey("a-key-only-python-knows", "a test")
    frame = spark.range(1).selectExpr("'a@b.c' as e")
    with pytest.raises(PipelineError) as err:  # e.g. a cluster executor without the -D option
        verify(spark, key)
    assert err.value.code == "PII_KEY_NOT_INSTALLED"
    install(spark, key)
    assert frame.select(hmac_expression(F.col("e"), key).alias("h")).first()["h"] == key.hash("a@b.c")
