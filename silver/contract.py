"""Event contract v1: the landing input fields, who requires them, and the Silver output schema.

The parse schema reads every contract field as STRING: a JSON number, boolean or object in a
string-typed field comes back as its JSON text, so parsing never loses information and the typed
conversion (with its own reason codes) happens in `silver.standardize`.
"""
from __future__ import annotations

from pyspark.sql.types import StringType, StructField, StructType

CONTRACT_VERSION = "events-v1"

EVENT_TYPES: tuple[str, ...] = ("impression", "click", "session_start", "signup", "purchase", "ad_spend")

CANONICAL_CHANNELS: tuple[str, ...] = (
    "paid_search", "paid_social", "display", "email", "affiliate", "organic", "referral", "direct",
)
UNKNOWN_CHANNEL = "unknown"

# Contract fields, in contract order.
FIELDS: tuple[str, ...] = (
    "event_id", "event_type", "event_ts", "campaign_id", "channel", "user_id", "email", "order_id",
    "revenue", "cost", "currency", "utm_source", "utm_medium", "utm_campaign", "properties",
)

_ALL = EVENT_TYPES
# field -> event types for which it is required (`missing_<field>` otherwise).
REQUIRED_FOR: dict[str, tuple[str, ...]] = {
    "event_id": _ALL,
    "event_type": _ALL,
    "event_ts": _ALL,
    "campaign_id": ("impression", "click", "ad_spend"),
    "channel": ("impression", "click", "ad_spend"),
    "user_id": ("click", "session_start", "signup", "purchase"),
    "order_id": ("purchase",),
    "revenue": ("purchase",),
    "cost": ("ad_spend",),
    "currency": ("purchase", "ad_spend"),
}

CORRUPT_RECORD = "_corrupt_record"

# What `from_json` parses each raw line with (permissive; see module docstring).
RAW_SCHEMA = StructType(
    [StructField(name, StringType(), True) for name in FIELDS]
    + [StructField(CORRUPT_RECORD, StringType(), True)]
)

# Every quarantine reason code the default suite can produce.
REASON_CODES: tuple[str, ...] = (
    "malformed_json", "invalid_encoding", "invalid_event_type", "invalid_timestamp",
    "negative_amount", "invalid_amount", "unknown_currency", "oversized_record",
    *(f"missing_{name}" for name in REQUIRED_FOR),
)

AMOUNT_TYPE = "DECIMAL(18,4)"
FX_TYPE = "DECIMAL(18,8)"

# silver.events, exactly (name, SQL type, NOT NULL?, comment). dbt models are written against it.
SILVER_EVENTS_COLUMNS: tuple[tuple[str, str, bool, str], ...] = (
    ("event_id", "STRING", True, "unique id of the logical event"),
    ("event_type", "STRING", True, "impression|click|session_start|signup|purchase|ad_spend"),
    ("event_ts", "TIMESTAMP", True, "event time, UTC"),
    ("event_date", "DATE", True, "UTC date of event_ts; partition column"),
    ("campaign_id", "STRING", False, "campaign"),
    ("channel", "STRING", False, "canonical channel or 'unknown'; NULL when the event had none"),
    ("channel_raw", "STRING", False, "channel as received"),
    ("user_id", "STRING", False, "pseudonymous visitor/customer id"),
    ("email_hash", "STRING", False, "HMAC-SHA256 (hex) of the trimmed, lower-cased email"),
    ("order_id", "STRING", False, "order id (purchases)"),
    ("revenue", AMOUNT_TYPE, False, "purchase amount, original currency"),
    ("cost", AMOUNT_TYPE, False, "ad_spend amount, original currency"),
    ("currency", "STRING", False, "ISO-4217 code, upper-case"),
    ("fx_rate_usd", FX_TYPE, False, "USD per one unit of currency (configured FX table)"),
    ("revenue_usd", AMOUNT_TYPE, False, "revenue in USD"),
    ("cost_usd", AMOUNT_TYPE, False, "cost in USD"),
    ("utm_source", "STRING", False, "utm_source"),
    ("utm_medium", "STRING", False, "utm_medium"),
    ("utm_campaign", "STRING", False, "utm_campaign"),
    ("properties", "STRING", False, "free-form properties as a JSON string"),
    ("is_late", "BOOLEAN", True, "arrived more than the configured lateness after event_ts"),
    ("_bronze_id", "STRING", True, "Bronze row this event came from"),
    ("_ingested_at", "TIMESTAMP", True, "when Bronze ingested the row"),
    ("_silver_batch_id", "BIGINT", True, "refine micro-batch that admitted the row"),
    ("_processed_at", "TIMESTAMP", True, "when the refine batch ran"),
    ("_gate_run_id", "STRING", True, "GX validation run that admitted the row"),
)
SILVER_EVENTS_COLUMN_NAMES: tuple[str, ...] = tuple(c[0] for c in SILVER_EVENTS_COLUMNS)

# Columns whose values make up an event's payload: a redelivery with a different payload is a
# conflicting duplicate. (Lineage columns and derived columns are not part of it.)
PAYLOAD_COLUMNS: tuple[str, ...] = (
    "event_type", "event_ts", "campaign_id", "channel_raw", "user_id", "email_hash", "order_id",
    "revenue", "cost", "currency", "utm_source", "utm_medium", "utm_campaign", "properties",
)
