"""`audit.quality_results`: the GX validation result of every refine batch, per expectation."""
from __future__ import annotations

import json
from typing import Any

from pyspark.sql import DataFrame

from pipelines.core.catalog import table_path
from pipelines.core.config import Config
from pipelines.core import delta_io
from silver.quality_gate import GateResult

SCHEMA, TABLE = "audit", "quality_results"

COLUMNS: tuple[delta_io.Column, ...] = (
    ("suite", "STRING", True, "expectation suite name"),
    ("suite_digest", "STRING", True, "hash of the suite file"),
    ("txn_app_id", "STRING", True, "refine query identity"),
    ("batch_id", "BIGINT", True, "micro-batch id"),
    ("run_id", "STRING", True, "pipeline run"),
    ("gate_run_id", "STRING", True, "GX validation run (GX run_name)"),
    ("validated_at", "TIMESTAMP", True, "GX run time"),
    ("suite_success", "BOOLEAN", True, "GX success of the whole suite on the batch"),
    ("expectation_index", "INT", True, "position in the suite file"),
    ("expectation_type", "STRING", True, "GX expectation type"),
    ("column_name", "STRING", False, "column the expectation checks"),
    ("row_condition", "STRING", False, "Spark SQL row condition (`when`)"),
    ("action", "STRING", True, "quarantine | fail | warn"),
    ("reason", "STRING", False, "reason code (quarantine expectations)"),
    ("success", "BOOLEAN", True, "GX success of the expectation"),
    ("element_count", "BIGINT", False, "rows GX evaluated"),
    ("unexpected_count", "BIGINT", False, "rows GX reported unexpected"),
    ("unexpected_percent", "DOUBLE", False, "unexpected rows, percent"),
    ("observed_value", "STRING", False, "observed value (aggregate expectations), JSON"),
    ("gx_seconds", "DOUBLE", True, "duration of the GX validation"),
)


def path(config: Config) -> str:
    return table_path(config, SCHEMA, TABLE)


def create_table(spark: Any, config: Config) -> bool:
    return delta_io.create_table(
        spark, path(config), COLUMNS, comment="Great Expectations results per refine batch and expectation",
        checks={"action_known": "action IN ('quarantine', 'fail', 'warn')"},
        properties={"medallion.layer": "audit", "delta.appendOnly": "true"},
    )


def to_result_rows(spark: Any, gate: GateResult, *, txn_app_id: str, batch_id: int,
                   run_id: str) -> DataFrame:
    rows = []
    for o in gate.outcomes:
        spec = o.spec
        rows.append((
            gate.suite.name, gate.suite.digest, txn_app_id, batch_id, run_id, gate.gate_run_id,
            gate.validated_at, gate.success, spec.index, spec.type,
            spec.kwargs.get("column"), spec.when, spec.action, spec.reason, o.success,
            o.element_count, o.unexpected_count,
            float(o.unexpected_percent) if o.unexpected_percent is not None else None,
            json.dumps(o.observed_value, default=str) if o.observed_value is not None else None,
            float(gate.seconds),
        ))
    schema = ", ".join(f"{name} {sql_type}" for name, sql_type, _, _ in COLUMNS)
    return spark.createDataFrame(rows, schema)
