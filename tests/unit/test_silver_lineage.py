"""`to_table_rows` on tiny frames: exactly the table's columns in registry order, batch lineage stamped."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from pyspark.errors import AnalysisException
from pyspark.sql import functions as F

from pipelines.core.registry import ColumnSpec, TableSpec, Writer
from pipelines.core.tables import SILVER_EVENTS, SILVER_EVENTS_DUPLICATES, SILVER_EVENTS_QUARANTINE
from silver.lineage import BatchLineage, to_table_rows

PROCESSED = datetime(2026, 10, 5, 1, 2, 3, tzinfo=timezone.utc)
LINEAGE = BatchLineage(batch_id=12, gate_run_id="gate-run-12", processed_at=PROCESSED)
STAMPED = ("_silver_batch_id", "_processed_at", "_gate_run_id")

SMALL = TableSpec(schema="silver", name="small", writer=Writer.SILVER, comment="", columns=(
    ColumnSpec("b", "STRING"), ColumnSpec("_silver_batch_id", "BIGINT", lineage=True),
    ColumnSpec("a", "INT"), ColumnSpec("_gate_run_id", "STRING", lineage=True),
    ColumnSpec("_bronze_id", "STRING", lineage=True), ColumnSpec("_processed_at", "TIMESTAMP", lineage=True),
))


def test_rows_get_exactly_the_tables_columns_in_registry_order(spark) -> None:
    rows = spark.createDataFrame([(1, "x", "extra", "bronze-1"), (2, "y", "extra", "bronze-2")],
                                 "a INT, b STRING, not_in_table STRING, _bronze_id STRING")
    out = to_table_rows(rows, SMALL, LINEAGE)
    assert tuple(out.columns) == SMALL.column_names
    assert [(r["a"], r["b"], r["_bronze_id"]) for r in out.collect()] == [(1, "x", "bronze-1"), (2, "y", "bronze-2")]


def test_the_batch_lineage_is_stamped_on_every_row_over_any_value_the_rows_carry(spark) -> None:
    rows = spark.createDataFrame(
        [(1, "x", "bronze-1", 999, "stale-run", datetime(2000, 1, 1)), (2, "y", "bronze-2", None, None, None)],
        "a INT, b STRING, _bronze_id STRING, _silver_batch_id BIGINT, _gate_run_id STRING, _processed_at TIMESTAMP")
    out = to_table_rows(rows, SMALL, LINEAGE).select("*", F.unix_micros("_processed_at").alias("processed_us"))
    stamped = {(r["_silver_batch_id"], r["_gate_run_id"], r["processed_us"]) for r in out.collect()}
    assert stamped == {(12, "gate-run-12", int(PROCESSED.timestamp()) * 1_000_000)}
    assert [r["_bronze_id"] for r in out.collect()] == ["bronze-1", "bronze-2"]  # not stamped: from the rows


def test_a_column_the_rows_lack_is_an_error_not_a_null(spark) -> None:
    rows = spark.createDataFrame([(1, "bronze-1")], "a INT, _bronze_id STRING")  # no `b`
    with pytest.raises(AnalysisException):
        to_table_rows(rows, SMALL, LINEAGE).collect()


@pytest.mark.parametrize("spec", [SILVER_EVENTS, SILVER_EVENTS_QUARANTINE, SILVER_EVENTS_DUPLICATES],
                         ids=lambda s: s.qualified_name)
def test_silver_rows_have_the_registry_schema_with_the_lineage_types(spark, spec: TableSpec) -> None:
    assert set(STAMPED) <= set(spec.lineage_columns)
    unstamped = ", ".join(f"{c.name} {c.type}" for c in reversed(spec.columns) if c.name not in STAMPED)
    out = to_table_rows(spark.createDataFrame([], unstamped), spec, LINEAGE)
    declared = spark.createDataFrame([], spec.struct_ddl()).schema
    assert [(f.name, f.dataType) for f in out.schema] == [(f.name, f.dataType) for f in declared]
