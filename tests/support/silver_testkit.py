"""Silver test kit: Bronze rows and event lines by hand, one-shot refine runs, table reads."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Iterable

from pipelines.core import delta_io, registry
from pipelines.core.config import Config
from pipelines.core.tables import BRONZE_EVENTS_RAW


def bronze_rows(spark: Any, lines: Iterable[bytes | str], *, batch: int = 0,
                ingested_at: datetime | None = None, source: str = "file:/landing/test.jsonl"):
    """Rows exactly as bronze.events_raw holds them (invalid UTF-8 keeps its bytes)."""
    ingested_at = ingested_at or datetime.now(timezone.utc)
    rows = []
    for i, line in enumerate(lines):
        data = line.encode("utf-8") if isinstance(line, str) else line
        try:
            raw, raw_bytes = data.decode("utf-8"), None
        except UnicodeDecodeError:
            raw, raw_bytes = data.decode("utf-8", errors="replace"), bytearray(data)
        rows.append((raw, raw_bytes, f"test-{batch:08d}-{i:012x}", source, ingested_at, ingested_at,
                     batch, "test-run", ingested_at.date()))
    return spark.createDataFrame(rows, BRONZE_EVENTS_RAW.struct_ddl())


def append_bronze(spark: Any, config: Config, lines: Iterable[bytes | str], **kwargs: Any) -> None:
    delta_io.create_table(spark, config, BRONZE_EVENTS_RAW)
    bronze_rows(spark, lines, **kwargs).write.format("delta").mode("append").save(
        BRONZE_EVENTS_RAW.location(config))


def run_refine(spark: Any, config: Config, *, run_id: str = "test-run", **kwargs: Any) -> None:
    """One `refine --once`. A batch that failed with a `PipelineError` re-raises it, code and
    parameters intact (as `medallion refine` reports it); any other failure re-raises Spark's
    StreamingQueryException."""
    from pipelines.core.streams import batch_error
    from silver.refine import start_refine

    query = start_refine(spark, config, run_id, continuous=False, **kwargs)
    try:
        query.awaitTermination()
    except Exception as exc:  # StreamingQueryException
        cause = batch_error(query)
        if cause is not None:
            raise cause from exc
        raise
    finally:
        batch_error(query)  # forget the query's batch function
        query.stop()


def read(spark: Any, config: Config, schema: str, table: str):
    return delta_io.read_table(spark, config, registry.table(f"{schema}.{table}"))


def count(spark: Any, config: Config, schema: str, table: str) -> int:
    try:
        return read(spark, config, schema, table).count()
    except Exception:  # table not created
        return 0


def event(event_id: str, event_type: str = "click", /, **fields: Any) -> str:
    """A valid event line (click by default) with `fields` overriding/adding keys (None deletes)."""
    base: dict[str, Any] = {
        "event_id": event_id, "event_type": event_type, "event_ts": "2026-10-01T12:00:00Z",
        "campaign_id": "cmp-1", "channel": "Google Ads", "user_id": "u-1",
    }
    if event_type == "purchase":
        base.update(order_id=f"o-{event_id}", revenue="10.50", currency="EUR")
        base.pop("campaign_id")
        base.pop("channel")
    if event_type == "ad_spend":
        base.update(cost=100, currency="USD")
        base.pop("user_id")
    for key, value in fields.items():
        if value is None:
            base.pop(key, None)
        else:
            base[key] = value
    return json.dumps(base)
