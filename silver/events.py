"""`silver.events`: one typed, clean, deduplicated row per real event, with lineage columns."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pyspark.sql import DataFrame, functions as F

from pipelines.core.catalog import table_path
from pipelines.core.config import Config
from pipelines.core import delta_io
from silver.contract import (CANONICAL_CHANNELS, CONTRACT_VERSION, EVENT_TYPES, SILVER_EVENTS_COLUMNS,
                             SILVER_EVENTS_COLUMN_NAMES, UNKNOWN_CHANNEL)

SCHEMA, TABLE = "silver", "events"


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


CHECKS = {
    "event_type_known": f"event_type IN ({_in(EVENT_TYPES)})",
    "channel_canonical": f"channel IS NULL OR channel IN ({_in(CANONICAL_CHANNELS + (UNKNOWN_CHANNEL,))})",
    "event_date_matches_ts": "event_date = to_date(event_ts)",
    "revenue_not_negative": "revenue IS NULL OR revenue >= 0",
    "cost_not_negative": "cost IS NULL OR cost >= 0",
    "currency_iso": "currency IS NULL OR (length(currency) = 3 AND currency = upper(currency))",
}


STATS_COLUMNS = ("event_id,event_type,event_ts,campaign_id,channel,user_id,order_id,"
                 "_bronze_id,_silver_batch_id,_processed_at")


def path(config: Config) -> str:
    return table_path(config, SCHEMA, TABLE)


def create_table(spark: Any, config: Config) -> bool:
    return delta_io.create_table(
        spark, path(config), SILVER_EVENTS_COLUMNS,
        comment="Marketing events: typed, standardized, quality-gated, one row per event_id",
        partitioned_by=("event_date",), checks=CHECKS,
        properties={"medallion.layer": "silver", "medallion.contract": CONTRACT_VERSION,
                    # file statistics for the columns queries filter and join on (not for
                    # free text such as `properties`, which only cost write time)
                    "delta.dataSkippingStatsColumns": STATS_COLUMNS},
    )


def to_silver_rows(accepted: DataFrame, *, batch_id: int, gate_run_id: str,
                   processed_at: datetime) -> DataFrame:
    """Pure: accepted candidate rows -> exactly the silver.events columns, in order."""
    return accepted.select(
        *[c for c in SILVER_EVENTS_COLUMN_NAMES if c not in ("_silver_batch_id", "_processed_at", "_gate_run_id")],
        F.lit(batch_id).cast("bigint").alias("_silver_batch_id"),
        F.lit(processed_at).cast("timestamp").alias("_processed_at"),
        F.lit(gate_run_id).alias("_gate_run_id"),
    ).select(*SILVER_EVENTS_COLUMN_NAMES)
