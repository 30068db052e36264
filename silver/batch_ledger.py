"""`audit.batch_ledger`: per refine micro-batch, the conservation counts.

rows_read (from Bronze) = rows_inserted + rows_quarantined + rows_duplicate, enforced three times:
computed before any write (a mismatch fails the batch, `CONSERVATION_VIOLATED`), and as a CHECK
constraint on the table.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from pyspark.sql import DataFrame

from pipelines.core.catalog import table_path
from pipelines.core.config import Config
from pipelines.core.errors import PipelineError
from pipelines.core import delta_io

SCHEMA, TABLE = "audit", "batch_ledger"

COLUMNS: tuple[delta_io.Column, ...] = (
    ("txn_app_id", "STRING", True, "refine query identity (from its checkpoint)"),
    ("batch_id", "BIGINT", True, "micro-batch id (= Delta txnVersion)"),
    ("run_id", "STRING", True, "pipeline run"),
    ("gate_run_id", "STRING", True, "GX validation run"),
    ("suite", "STRING", True, "expectation suite name"),
    ("suite_digest", "STRING", True, "hash of the suite file that gated the batch"),
    ("rows_read", "BIGINT", True, "Bronze rows in the batch"),
    ("rows_inserted", "BIGINT", True, "rows appended to silver.events"),
    ("rows_quarantined", "BIGINT", True, "rows appended to silver.events_quarantine"),
    ("rows_duplicate", "BIGINT", True, "accepted rows not inserted because the event_id was known"),
    ("rows_duplicate_conflicting", "BIGINT", True, "duplicates whose payload differed"),
    ("rows_late", "BIGINT", True, "inserted rows flagged is_late"),
    ("gx_seconds", "DOUBLE", True, "time spent in the GX validation"),
    ("batch_seconds", "DOUBLE", True, "time from batch start until the ledger write"),
    ("processed_at", "TIMESTAMP", True, "when the batch ran"),
)
CHECKS = {
    "conservation": "rows_read = rows_inserted + rows_quarantined + rows_duplicate",
    "conflicting_within_duplicates": "rows_duplicate_conflicting <= rows_duplicate",
}


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

    def check_conservation(self) -> None:
        accounted = self.rows_inserted + self.rows_quarantined + self.rows_duplicate
        if self.rows_read != accounted:
            raise PipelineError("CONSERVATION_VIOLATED", {
                "batch_id": self.batch_id, "read": self.rows_read, "inserted": self.rows_inserted,
                "quarantined": self.rows_quarantined, "duplicates": self.rows_duplicate})


def path(config: Config) -> str:
    return table_path(config, SCHEMA, TABLE)


def create_table(spark: Any, config: Config) -> bool:
    return delta_io.create_table(
        spark, path(config), COLUMNS, comment="Refine conservation ledger, one row per micro-batch",
        checks=CHECKS, properties={"medallion.layer": "audit", "delta.appendOnly": "true"},
    )


def to_ledger_rows(spark: Any, entry: LedgerEntry) -> DataFrame:
    schema = ", ".join(f"{name} {sql_type}" for name, sql_type, _, _ in COLUMNS)
    return spark.createDataFrame([tuple(asdict(entry)[c[0]] for c in COLUMNS)], schema)
