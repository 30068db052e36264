"""Standardization on tiny frames: time zones, epoch ms, channel aliases, email hashing, FX."""
from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from pipelines.core.config import config_from_dict
from silver.reference_data import Reference, load_channel_aliases, load_fx_rates
from silver.standardize import standardize

KEY = b"unit-test-key"
DEFAULTS = config_from_dict({}).refine  # the packaged reference data
REFERENCE = Reference(channel_aliases=load_channel_aliases(Path(DEFAULTS.channel_aliases)),
                      fx_rates_usd=load_fx_rates(Path(DEFAULTS.fx_rates)), pii_key=KEY)
INGESTED = datetime(2026, 10, 5, 0, 0, tzinfo=timezone.utc)


def _std(spark, *events: dict, watermark_us: int | None = None):
    from tests.support.silver_testkit import bronze_rows

    df = bronze_rows(spark, [json.dumps(e) for e in events], ingested_at=INGESTED)
    return standardize(df, REFERENCE, watermark_us).collect()


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
    expected = hmac.new(KEY, b"alice@example.com", hashlib.sha256).hexdigest()
    assert [r["email_hash"] for r in rows[:3]] == [expected] * 3
    assert rows[3]["email_hash"] != expected
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


def test_properties_are_kept_as_json_text(spark):
    (row,) = _std(spark, {"properties": {"page": "/a", "n": [1, 2]}})
    assert json.loads(row["properties"]) == {"page": "/a", "n": [1, 2]}
