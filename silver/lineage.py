"""Rows of a Silver table from a refine batch: the table's columns in registry order, with the
batch's lineage (`_silver_batch_id`, `_processed_at`, `_gate_run_id`) filled in."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pyspark.sql import Column, DataFrame, functions as F

from pipelines.core.registry import TableSpec


@dataclass(frozen=True)
class BatchLineage:
    """What ties a row written by a refine batch to that batch and its gate run."""

    batch_id: int
    gate_run_id: str
    processed_at: datetime

    def columns(self) -> dict[str, Column]:
        return {
            "_silver_batch_id": F.lit(self.batch_id).cast("bigint"),
            "_processed_at": F.lit(self.processed_at).cast("timestamp"),
            "_gate_run_id": F.lit(self.gate_run_id),
        }


def to_table_rows(rows: DataFrame, spec: TableSpec, lineage: BatchLineage) -> DataFrame:
    """Pure: exactly `spec`'s columns, in order; the batch lineage columns from `lineage`, every
    other column from `rows` (which must carry it under the same name)."""
    stamped = lineage.columns()
    return rows.select(*[stamped[name].alias(name) if name in stamped else F.col(name)
                         for name in spec.column_names])
