"""`audit.quality_results`: the GX validation result of every refine batch, per expectation."""
from __future__ import annotations

import json

from pyspark.sql import DataFrame, SparkSession

from pipelines.core.tables import AUDIT_QUALITY_RESULTS
from silver.gx_engine import GateResult


def to_result_rows(spark: SparkSession, gate: GateResult, *, txn_app_id: str, batch_id: int,
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
    return spark.createDataFrame(rows, AUDIT_QUALITY_RESULTS.struct_ddl())
