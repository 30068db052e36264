"""What a stream's checkpoint says about the stream, read beside Spark."""
from __future__ import annotations

import json
from typing import Iterable

from pyspark.sql import SparkSession

from pipelines.core import storage
from pipelines.core.catalog import delta_table_exists
from pipelines.core.config import Config, join_path
from pipelines.core.registry import TableSpec
from pipelines.core.errors import PipelineError


def query_id(spark: SparkSession, checkpoint: str) -> str:
    """The streaming query id Spark stored in the checkpoint: stable across restarts of the same
    checkpoint, new with a new one (so the stream ids derived from it, in commit metadata, Bronze
    ids and the audit tables' `txn_app_id`, never collide)."""
    text = storage.read_text(spark, join_path(checkpoint, "metadata"))
    if not text:
        raise PipelineError("CHECKPOINT_MISMATCH", {"detail": f"no query metadata in checkpoint {checkpoint}"})
    return str(json.loads(text.splitlines()[0])["id"])


def exists(spark: SparkSession, checkpoint: str) -> bool:
    """Whether a stream has ever started on this checkpoint."""
    return storage.exists(spark, join_path(checkpoint, "metadata"))


def refuse_fresh_checkpoint(spark: SparkSession, config: Config, checkpoint: str,
                            specs: Iterable[TableSpec], *, stage: str) -> None:
    """Refuse to start a stream on a new (or deleted) checkpoint when a table it writes has rows.

    A fresh checkpoint re-reads the stream's whole source, so every row already landed would be
    processed, and its sinks appended to, a second time. `CHECKPOINT_MISMATCH` says what to do.
    """
    if exists(spark, checkpoint):
        return
    with_rows = [spec.qualified_name for spec in specs
                 if delta_table_exists(spark, spec.location(config))
                 and spark.read.format("delta").load(spec.location(config)).limit(1).count()]
    if with_rows:
        raise PipelineError("CHECKPOINT_MISMATCH", {"detail": (
            f"the {stage} stream's checkpoint {checkpoint} is new or missing, but "
            f"{', '.join(with_rows)} already hold rows; starting over would process its whole source "
            "again and append every row a second time. Restore the checkpoint (or point "
            "paths.checkpoints back at it), or move those tables aside to rebuild them from scratch."
        )})
