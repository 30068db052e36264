"""The tables the pipeline's own Python writes: Bronze, Silver, quarantine, duplicates, audit.

Declared once here (see `pipelines.core.registry` for what a spec holds); the layer packages
build their rows against these specs and never restate a column list. Gold specs come from the
dbt project (`registry.gold_tables`).
"""
from __future__ import annotations

from pipelines.core.canonical import all_channels, event_types
from pipelines.core.contract import CONTRACT_VERSION
from pipelines.core.registry import ColumnSpec as C
from pipelines.core.registry import PersonalData, TableSpec, Writer

DIRECT, PSEUDONYMOUS = PersonalData.DIRECT, PersonalData.PSEUDONYMOUS
AMOUNT_TYPE = "DECIMAL(18,4)"
FX_TYPE = "DECIMAL(18,8)"


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


BRONZE_EVENTS_RAW = TableSpec(
    schema="bronze", name="events_raw", writer=Writer.BRONZE,
    comment="Raw marketing events exactly as received (append-only)",
    columns=(
        C("raw", "STRING", False,
          "the line as received; for a line that is not valid UTF-8, its repaired text (see raw_bytes)",
          personal_data=DIRECT),
        C("raw_bytes", "BINARY", True, "original bytes of the line, set only when it is not valid UTF-8",
          personal_data=DIRECT),
        C("_bronze_id", "STRING", False, "unique, stable id of this Bronze row: <stream>-<batch>-<row>",
          lineage=True),
        C("_source", "STRING", False, "file the line came from", lineage=True),
        C("_source_modified_at", "TIMESTAMP", True, "modification time of that file", lineage=True),
        C("_ingested_at", "TIMESTAMP", False, "when the micro-batch that landed the row ran (UTC)",
          lineage=True),
        C("_ingest_batch_id", "BIGINT", False, "streaming micro-batch id", lineage=True),
        C("_ingest_run_id", "STRING", False, "pipeline run that ingested the row", lineage=True),
        C("_ingest_date", "DATE", False, "UTC date of _ingested_at; partition column", lineage=True),
    ),
    partitioned_by=("_ingest_date",),
    properties={"delta.appendOnly": "true", "medallion.contract": CONTRACT_VERSION},
    # Lookups by id, file, time or batch skip files; min/max of whole raw lines never prune a scan
    # and cost write time.
    stats_columns=("_bronze_id", "_source", "_ingested_at", "_ingest_batch_id", "_ingest_run_id"),
)

SILVER_EVENTS = TableSpec(
    schema="silver", name="events", writer=Writer.SILVER,
    comment="Marketing events: typed, standardized, quality-gated, one row per event_id",
    columns=(
        C("event_id", "STRING", False, "unique id of the logical event"),
        C("event_type", "STRING", False, "impression|click|session_start|signup|purchase|ad_spend"),
        C("event_ts", "TIMESTAMP", False, "event time, UTC"),
        C("event_date", "DATE", False, "UTC date of event_ts; partition column"),
        C("campaign_id", "STRING", True, "campaign"),
        C("channel", "STRING", True, "canonical channel or 'unknown'; NULL when the event had none"),
        C("channel_raw", "STRING", True, "channel as received"),
        C("user_id", "STRING", True, "pseudonymous visitor/customer id", personal_data=PSEUDONYMOUS),
        C("email_hash", "STRING", True, "HMAC-SHA256 (hex) of the trimmed, lower-cased email",
          personal_data=PSEUDONYMOUS),
        C("order_id", "STRING", True, "order id (purchases)"),
        C("revenue", AMOUNT_TYPE, True, "purchase amount, original currency"),
        C("cost", AMOUNT_TYPE, True, "ad_spend amount, original currency"),
        C("currency", "STRING", True, "ISO-4217 code, upper-case"),
        C("fx_rate_usd", FX_TYPE, True, "USD per one unit of currency (configured FX table)"),
        C("revenue_usd", AMOUNT_TYPE, True, "revenue in USD"),
        C("cost_usd", AMOUNT_TYPE, True, "cost in USD"),
        C("utm_source", "STRING", True, "utm_source"),
        C("utm_medium", "STRING", True, "utm_medium"),
        C("utm_campaign", "STRING", True, "utm_campaign"),
        # Free-form: producers put IPs and user agents here (DESIGN.md), so it counts as direct.
        C("properties", "STRING", True, "free-form properties as a JSON string", personal_data=DIRECT),
        C("is_late", "BOOLEAN", False, "arrived more than the configured lateness after event_ts"),
        C("_bronze_id", "STRING", False, "Bronze row this event came from", lineage=True),
        C("_ingested_at", "TIMESTAMP", False, "when Bronze ingested the row", lineage=True),
        C("_silver_batch_id", "BIGINT", False, "refine micro-batch that admitted the row", lineage=True),
        C("_processed_at", "TIMESTAMP", False, "when the refine batch ran", lineage=True),
        C("_gate_run_id", "STRING", False, "GX validation run that admitted the row", lineage=True),
    ),
    partitioned_by=("event_date",),
    checks={
        "event_type_known": f"event_type IN ({_in(event_types())})",
        "channel_canonical": f"channel IS NULL OR channel IN ({_in(all_channels())})",
        "event_date_matches_ts": "event_date = to_date(event_ts)",
        "revenue_not_negative": "revenue IS NULL OR revenue >= 0",
        "cost_not_negative": "cost IS NULL OR cost >= 0",
        "currency_iso": "currency IS NULL OR (length(currency) = 3 AND currency = upper(currency))",
    },
    properties={"medallion.contract": CONTRACT_VERSION},
    # Statistics for the columns queries filter and join on (not free text such as `properties`,
    # which only costs write time).
    stats_columns=("event_id", "event_type", "event_ts", "campaign_id", "channel", "user_id", "order_id",
                   "_bronze_id", "_silver_batch_id", "_processed_at"),
)

_SILVER_BATCH_LINEAGE = (
    C("_silver_batch_id", "BIGINT", False, "refine micro-batch", lineage=True),
    C("_processed_at", "TIMESTAMP", False, "when the refine batch ran", lineage=True),
)

SILVER_EVENTS_QUARANTINE = TableSpec(
    schema="silver", name="events_quarantine", writer=Writer.SILVER,
    comment="Rejected Bronze rows with raw line and reason codes",
    columns=(
        C("raw", "STRING", False, "the Bronze line as received (repaired text when not valid UTF-8)",
          personal_data=DIRECT),
        C("raw_bytes", "BINARY", True, "original bytes when the line is not valid UTF-8", personal_data=DIRECT),
        C("reasons", "ARRAY<STRING>", False, "every reason code the gate found"),
        C("event_id", "STRING", True, "event_id when the line could be parsed"),
        C("_bronze_id", "STRING", False, "Bronze row", lineage=True),
        C("_source", "STRING", False, "file the line came from", lineage=True),
        C("_ingested_at", "TIMESTAMP", False, "when Bronze ingested the row", lineage=True),
        C("_silver_batch_id", "BIGINT", False, "refine micro-batch that rejected the row", lineage=True),
        _SILVER_BATCH_LINEAGE[1],
        C("_gate_run_id", "STRING", False, "GX validation run that rejected the row", lineage=True),
    ),
    checks={"has_reason": "size(reasons) > 0"},
    properties={"delta.appendOnly": "true"},
)

SILVER_EVENTS_DUPLICATES = TableSpec(
    schema="silver", name="events_duplicates", writer=Writer.SILVER,
    comment="Redelivered events not inserted into silver.events",
    columns=(
        C("event_id", "STRING", False, "the duplicated event id"),
        C("is_conflicting", "BOOLEAN", False, "payload differs from the row kept in silver.events"),
        # Hashes of payloads that include user ids: linkable across tables, so pseudonymous.
        C("payload_hash", "STRING", False, "SHA-256 of this occurrence's standardized payload",
          personal_data=PSEUDONYMOUS),
        C("kept_payload_hash", "STRING", False, "SHA-256 of the kept row's payload",
          personal_data=PSEUDONYMOUS),
        C("kept_bronze_id", "STRING", False, "_bronze_id of the occurrence kept in silver.events",
          lineage=True),
        C("_bronze_id", "STRING", False, "Bronze row of this (rejected) occurrence", lineage=True),
        C("_ingested_at", "TIMESTAMP", False, "when Bronze ingested this occurrence", lineage=True),
        *_SILVER_BATCH_LINEAGE,
        C("_gate_run_id", "STRING", False, "GX validation run of the batch", lineage=True),
    ),
    properties={"delta.appendOnly": "true"},
)

AUDIT_QUALITY_RESULTS = TableSpec(
    schema="audit", name="quality_results", writer=Writer.SILVER,
    comment="Great Expectations results per refine batch and expectation",
    columns=(
        C("suite", "STRING", False, "expectation suite name"),
        C("suite_digest", "STRING", False, "hash of the suite file"),
        C("txn_app_id", "STRING", False, "refine query identity", lineage=True),
        C("batch_id", "BIGINT", False, "micro-batch id", lineage=True),
        C("run_id", "STRING", False, "pipeline run", lineage=True),
        C("gate_run_id", "STRING", False, "GX validation run (GX run_name)", lineage=True),
        C("validated_at", "TIMESTAMP", False, "GX run time"),
        C("suite_success", "BOOLEAN", False, "GX success of the whole suite on the batch"),
        C("expectation_index", "INT", False, "position in the suite file"),
        C("expectation_type", "STRING", False, "GX expectation type"),
        C("column_name", "STRING", True, "column the expectation checks"),
        C("row_condition", "STRING", True, "Spark SQL row condition (`when`)"),
        C("action", "STRING", False, "quarantine | fail | warn"),
        C("reason", "STRING", True, "reason code (quarantine expectations)"),
        C("success", "BOOLEAN", False, "GX success of the expectation"),
        C("element_count", "BIGINT", True, "rows GX evaluated"),
        C("unexpected_count", "BIGINT", True, "rows GX reported unexpected"),
        C("unexpected_percent", "DOUBLE", True, "unexpected rows, percent"),
        C("observed_value", "STRING", True, "observed value (aggregate expectations), JSON"),
        C("gx_seconds", "DOUBLE", False, "duration of the GX validation"),
    ),
    checks={"action_known": "action IN ('quarantine', 'fail', 'warn')"},
    properties={"delta.appendOnly": "true"},
)

AUDIT_BATCH_LEDGER = TableSpec(
    schema="audit", name="batch_ledger", writer=Writer.SILVER,
    comment="Refine conservation ledger, one row per micro-batch",
    columns=(
        C("txn_app_id", "STRING", False, "refine query identity (from its checkpoint)", lineage=True),
        C("batch_id", "BIGINT", False, "micro-batch id (= Delta txnVersion)", lineage=True),
        C("run_id", "STRING", False, "pipeline run", lineage=True),
        C("gate_run_id", "STRING", False, "GX validation run", lineage=True),
        C("suite", "STRING", False, "expectation suite name"),
        C("suite_digest", "STRING", False, "hash of the suite file that gated the batch"),
        C("rows_read", "BIGINT", False, "Bronze rows in the batch"),
        C("rows_inserted", "BIGINT", False, "rows appended to silver.events"),
        C("rows_quarantined", "BIGINT", False, "rows appended to silver.events_quarantine"),
        C("rows_duplicate", "BIGINT", False, "accepted rows not inserted because the event_id was known"),
        C("rows_duplicate_conflicting", "BIGINT", False, "duplicates whose payload differed"),
        C("rows_late", "BIGINT", False, "inserted rows flagged is_late"),
        C("gx_seconds", "DOUBLE", False, "time spent in the GX validation"),
        C("batch_seconds", "DOUBLE", False, "time from batch start until the ledger write"),
        C("processed_at", "TIMESTAMP", False, "when the batch ran"),
    ),
    checks={
        "conservation": "rows_read = rows_inserted + rows_quarantined + rows_duplicate",
        "conflicting_within_duplicates": "rows_duplicate_conflicting <= rows_duplicate",
    },
    properties={"delta.appendOnly": "true"},
)

SILVER_TABLES: tuple[TableSpec, ...] = (
    SILVER_EVENTS, SILVER_EVENTS_QUARANTINE, SILVER_EVENTS_DUPLICATES, AUDIT_QUALITY_RESULTS,
    AUDIT_BATCH_LEDGER,
)
PIPELINE_TABLES: tuple[TableSpec, ...] = (BRONZE_EVENTS_RAW, *SILVER_TABLES)
