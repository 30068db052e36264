"""Masking personal data in raw lines: the quarantine's Spark expression and the trace's Python
function apply the one rule (the registry's classes) with the same result."""
from __future__ import annotations

import json

import pytest

from pipelines.core.personal_data import mask_raw_line

LINES = [
    # a contract line: email (direct) and properties (direct) masked, user_id (pseudonymous) kept
    json.dumps({"event_id": "e-1", "event_type": "signup", "event_ts": "2026-10-01T10:00:00Z",
                "user_id": "u-1", "email": "Jane.Doe@Example.org", "properties": {"ip": "203.0.113.7"}}),
    # a field outside the contract: masked whatever it holds; a JSON null stays null
    json.dumps({"event_id": "e-2", "event_type": "purchase", "phone": "+44 20 7946 0000", "email": None,
                "revenue": "12.50", "currency": "eur"}),
    # an email where no email belongs (a producer's mistake) is still masked by its shape
    json.dumps({"event_id": "e-3", "event_type": "click", "campaign_id": "mail me: bob@example.com"}),
    # not JSON: only the email-shaped strings go
    '{"event_id": "e-4", "email": "carol@example.net", broken',
    "carol@example.net;dave@example.co.uk;not an email",
    # an email that is not email-shaped (what `invalid_email` would quarantine) is masked as a field
    json.dumps({"event_id": "e-5", "event_type": "signup", "email": "not-an-address"}),
]


@pytest.mark.parametrize("line", LINES)
def test_the_quarantine_mask_in_spark_equals_the_python_mask(spark, line):
    from pyspark.sql import functions as F

    from silver.masking import masked_raw_line

    got = spark.createDataFrame([(line,)], "raw string").select(masked_raw_line(F.col("raw")).alias("m")).first()["m"]
    expected = mask_raw_line(line)
    try:
        assert json.loads(got) == json.loads(expected)
    except ValueError:
        assert got == expected
    for secret in ("Jane.Doe", "203.0.113.7", "+44 20", "bob@example.com", "carol@", "dave@", "not-an-address"):
        assert secret not in got
