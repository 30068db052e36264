"""`audit.batch_ledger`: per refine micro-batch, the conservation counts.

rows_read (from Bronze) = rows_inserted + rows_quarantined + rows_duplicate, enforced three times:
computed before any write (a mismatch fails the batch, `CONSERVATION_VIOLATED`), and as a CHECK
constraint on the table.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Mapping

from pyspark.sql import DataFrame, SparkSession

from pipelines.core.errors import PipelineError
from pipelines.core.tables import AUDIT_BATCH_LEDGER
from silver.watermark import to_datetime


@dataclass(frozen=True)
class LedgerEntry:
    txn_app_id: str
    batch_id: int
    run_id: str
    gate_run_id: str
    suite: str
    suite_digest: str
    rows_read: int
    rows_inserted: int
    rows_quarantined: int
    rows_duplicate: int
    rows_duplicate_conflicting: int
    rows_late: int
    gx_seconds: float
    batch_seconds: float
    processed_at: datetime
    phase_seconds: Mapping[str, float] | None = None
    # event times in microseconds since the epoch (exact); the table holds them as TIMESTAMPs
    max_event_us: int | None = None
    watermark_us: int | None = None
    properties_keys_dropped: int | None = None

    def check_conservation(self) -> None:
        accounted = self.rows_inserted + self.rows_quarantined + self.rows_duplicate
        if self.rows_read != accounted:
            raise PipelineError("CONSERVATION_VIOLATED", {
                "batch_id": self.batch_id, "read": self.rows_read, "inserted": self.rows_inserted,
                "quarantined": self.rows_quarantined, "duplicates": self.rows_duplicate})


def to_ledger_rows(spark: SparkSession, entry: LedgerEntry) -> DataFrame:
    values: dict[str, Any] = asdict(entry)
    values["max_event_ts"] = to_datetime(values.pop("max_event_us"))
    values["watermark"] = to_datetime(values.pop("watermark_us"))
    return spark.createDataFrame([tuple(values[c] for c in AUDIT_BATCH_LEDGER.column_names)],
                                 AUDIT_BATCH_LEDGER.struct_ddl())
