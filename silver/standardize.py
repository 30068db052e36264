"""Pure transform: Bronze rows -> typed, standardized candidate rows for the quality gate.

`standardize(bronze, reference, watermark_us)` parses each raw line against the event contract and returns one
row per Bronze row (never drops one), with
- the Silver payload columns, standardized (see DESIGN.md "Event contract v1"): event_type
  lower-case; event_ts to UTC from ISO-8601-with-offset or epoch milliseconds; channel aliases
  mapped to the canonical set (`unknown` when unmapped); email -> keyed HMAC-SHA256 `email_hash`
  (the address itself is never carried forward; the key is read in the JVM, never a literal of
  the plan, see pipelines.core.pii_key) with the key's id; `properties` reduced to the keys on the
  contract's allow-list (`_properties_dropped` counts the others); amounts to DECIMAL(18,4) and to USD;
- the evidence columns the expectation suite checks (`_utf8_valid`, `_json_ok`, `_record_bytes`,
  `event_ts_raw`, `revenue_raw`, `cost_raw`, `_within_clock_skew`: the event time is at most
  `refine.max_clock_skew_hours` ahead of the ingestion time), so every reason code is a plain
  column condition;
- `is_late`: the event time is older than the stream's watermark as of the batch's start
  (`watermark_us`, microseconds since the epoch; None: nothing is late), see silver.watermark;
- the Bronze lineage columns.
Everything is a Spark expression (no Python UDFs), evaluated in one pass.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame, functions as F

from pipelines.core.canonical import unknown_channel
from pipelines.core.tables import AMOUNT_TYPE, FX_TYPE
from silver.contract import CORRUPT_RECORD, RAW_SCHEMA
from pipelines.core.pii_key import hmac_expression
from silver.reference_data import Reference

# ISO-8601 date-time that states its offset (`Z`, `+02:00`, `+0200`, `+02`); no offset = invalid.
ISO_WITH_OFFSET = (r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?"
                   r"([Zz]|[+-]\d{2}(:?\d{2})?)$")
EPOCH_MILLIS = r"^-?\d{1,16}$"
PROPERTIES_TYPE = "MAP<STRING, VARIANT>"
NUMERIC = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
# Plausible event times; anything outside is `invalid_timestamp` (e.g. epoch seconds sent as ms).
MIN_EVENT_TS = "2000-01-01 00:00:00"
MAX_EVENT_TS = "2100-01-01 00:00:00"

# Contract fields carried as trimmed text (blank -> NULL), and the column each becomes.
TRIMMED_FIELDS = {
    "event_id": "event_id", "event_ts": "event_ts_raw", "campaign_id": "campaign_id",
    "channel": "channel_raw", "user_id": "user_id", "order_id": "order_id", "revenue": "revenue_raw",
    "cost": "cost_raw", "utm_source": "utm_source", "utm_medium": "utm_medium",
    "utm_campaign": "utm_campaign", "properties": "properties",
}
BRONZE_LINEAGE = ("raw", "raw_bytes", "_bronze_id", "_source", "_ingested_at", "_ingest_batch_id")
EVIDENCE_COLUMNS = ("_utf8_valid", "_json_ok", "_record_bytes", "event_ts_raw", "revenue_raw", "cost_raw",
                    "_within_clock_skew")
# keys dropped from the row's properties (not on the allow-list); summed into the batch ledger
PROPERTIES_DROPPED = "_properties_dropped"


def clean_text(col: Column) -> Column:
    """Trimmed string; empty or blank -> NULL (a blank required field counts as missing)."""
    return F.nullif(F.trim(col), F.lit(""))


def parse_event_ts(raw: Column) -> Column:
    """ISO-8601 with offset, or epoch milliseconds -> TIMESTAMP (UTC); NULL when invalid."""
    return (
        F.when(raw.rlike(EPOCH_MILLIS), F.timestamp_millis(raw.try_cast("bigint")))
        .when(raw.rlike(ISO_WITH_OFFSET), raw.try_cast("timestamp"))
    )


def within_plausible_range(ts: Column) -> Column:
    return F.when(
        (ts >= F.lit(MIN_EVENT_TS).cast("timestamp")) & (ts < F.lit(MAX_EVENT_TS).cast("timestamp")), ts
    )


def parse_amount(raw: Column) -> Column:
    """Number or numeric string -> DECIMAL(18,4); NULL when not numeric or out of range."""
    return F.when(raw.rlike(NUMERIC), raw.try_cast(AMOUNT_TYPE))


def allowed_properties(properties: Column, keys: frozenset[str]) -> tuple[Column, Column]:
    """(the properties JSON with only the allow-listed keys, NULL when none is left; how many keys
    were dropped). Values keep their JSON types (parsed as VARIANT). A `properties` that is not a
    JSON object is dropped whole and counts as one."""
    parsed = F.from_json(properties, PROPERTIES_TYPE)
    allowed = F.array(*[F.lit(k) for k in sorted(keys)]) if keys else F.array().cast("array<string>")
    kept = F.map_filter(parsed, lambda k, _v: F.array_contains(allowed, k))
    dropped = (F.when(properties.isNull(), F.lit(0))
               .when(parsed.isNull(), F.lit(1))
               .otherwise(F.size(parsed) - F.size(kept)))
    return F.when(F.size(kept) > 0, F.to_json(kept)), dropped


def normalize_email(email: Column) -> Column:
    return F.lower(clean_text(email))


def _literal_map(mapping: dict, value_type: str | None = None) -> Column:
    items = []
    for key, value in sorted(mapping.items()):
        items.append(F.lit(key))
        items.append(F.lit(str(value)).cast(value_type) if value_type else F.lit(value))
    return F.create_map(*items)


def canonical_channel(channel_raw: Column, aliases: dict[str, str]) -> Column:
    key = F.regexp_replace(F.lower(F.trim(channel_raw)), r"\s+", " ")
    mapped = F.try_element_at(_literal_map(dict(aliases)), key)
    return F.when(channel_raw.isNotNull(), F.coalesce(mapped, F.lit(unknown_channel())))


def standardize(bronze: DataFrame, reference: Reference, watermark_us: int | None = None) -> DataFrame:
    """Bronze rows -> candidate rows (see module docstring). One output row per input row."""
    parsed = F.from_json(
        "raw", RAW_SCHEMA, {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT_RECORD}
    )
    step1 = bronze.select(*BRONZE_LINEAGE, parsed.alias("_p"))
    p = lambda name: F.col(f"_p.{name}")  # noqa: E731
    step2 = step1.select(
        *BRONZE_LINEAGE,
        F.col("raw_bytes").isNull().alias("_utf8_valid"),
        (F.col("_p").isNotNull() & p(CORRUPT_RECORD).isNull()).alias("_json_ok"),
        F.coalesce(F.octet_length("raw_bytes"), F.octet_length("raw")).alias("_record_bytes"),
        F.lower(clean_text(p("event_type"))).alias("event_type"),
        normalize_email(p("email")).alias("_email_norm"),
        F.upper(clean_text(p("currency"))).alias("currency"),
        *[clean_text(p(field)).alias(name) for field, name in TRIMMED_FIELDS.items()],
    )
    event_ts = within_plausible_range(parse_event_ts(F.col("event_ts_raw")))
    fx_rate = F.try_element_at(_literal_map(dict(reference.fx_rates_usd), FX_TYPE), F.col("currency"))
    skew_micros = int(reference.max_clock_skew_hours * 3600 * 1_000_000)
    step3 = step2.select(
        "*",
        event_ts.alias("event_ts"),
        canonical_channel(F.col("channel_raw"), reference.channel_aliases).alias("channel"),
        hmac_expression(F.col("_email_norm"), reference.pii_key).alias("email_hash"),
        F.when(F.col("_email_norm").isNotNull(), F.lit(reference.pii_key.key_id)).alias("email_hash_key_id"),
        *[c.alias(n) for c, n in zip(allowed_properties(F.col("properties"), reference.property_keys),
                                     ("_properties_kept", PROPERTIES_DROPPED))],
        parse_amount(F.col("revenue_raw")).alias("revenue"),
        parse_amount(F.col("cost_raw")).alias("cost"),
        fx_rate.alias("fx_rate_usd"),
        # NULL when there is no valid event time (that has its own reason code).
        (F.unix_micros(event_ts) - F.unix_micros("_ingested_at") <= F.lit(skew_micros))
        .alias("_within_clock_skew"),
    ).drop("_email_norm")
    usd = lambda c: (F.col(c) * F.col("fx_rate_usd")).try_cast(AMOUNT_TYPE)  # noqa: E731
    return step3.select(
        *BRONZE_LINEAGE, *EVIDENCE_COLUMNS,
        "event_id", "event_type", "event_ts",
        F.to_date("event_ts").alias("event_date"),
        "campaign_id", "channel", "channel_raw", "user_id", "email_hash", "order_id",
        "revenue", "cost", "currency", "fx_rate_usd",
        usd("revenue").alias("revenue_usd"),
        usd("cost").alias("cost_usd"),
        "utm_source", "utm_medium", "utm_campaign", F.col("_properties_kept").alias("properties"),
        "email_hash_key_id", PROPERTIES_DROPPED,
        (F.lit(False) if watermark_us is None else
         F.coalesce(F.unix_micros("event_ts") < F.lit(watermark_us), F.lit(False))).alias("is_late"),
    )
