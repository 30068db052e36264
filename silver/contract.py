"""What Silver parses the event contract with (the contract itself: `pipelines.core.contract`).

The parse schema reads every contract field as STRING: a JSON number, boolean or object in a
string-typed field comes back as its JSON text, so parsing never loses information and the typed
conversion (with its own reason codes) happens in `silver.standardize`.
"""
from __future__ import annotations

from pyspark.sql.types import StringType, StructField, StructType

from pipelines.core.contract import FIELDS, REQUIRED_FOR

CORRUPT_RECORD = "_corrupt_record"

# What `from_json` parses each raw line with (permissive; see module docstring).
RAW_SCHEMA = StructType(
    [StructField(name, StringType(), True) for name in FIELDS]
    + [StructField(CORRUPT_RECORD, StringType(), True)]
)

# Every quarantine reason code the default suite can produce.
REASON_CODES: tuple[str, ...] = (
    "malformed_json", "invalid_encoding", "invalid_event_type", "invalid_timestamp",
    "negative_amount", "invalid_amount", "unknown_currency", "oversized_record", "future_timestamp",
    *(f"missing_{name}" for name in REQUIRED_FOR),
)

# Columns whose values make up an event's payload: a redelivery with a different payload is a
# conflicting duplicate. (Lineage columns and derived columns are not part of it.)
PAYLOAD_COLUMNS: tuple[str, ...] = (
    "event_type", "event_ts", "campaign_id", "channel_raw", "user_id", "email_hash", "order_id",
    "revenue", "cost", "currency", "utm_source", "utm_medium", "utm_campaign", "properties",
)
