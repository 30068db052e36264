"""What a stream's checkpoint says about the stream, read beside Spark."""
from __future__ import annotations

import json

from pyspark.sql import SparkSession

from pipelines.core import storage
from pipelines.core.config import join_path
from pipelines.core.errors import PipelineError


def query_id(spark: SparkSession, checkpoint: str) -> str:
    """The streaming query id Spark stored in the checkpoint: stable across restarts of the same
    checkpoint, new with a new one (so Delta `txnAppId`s derived from it never collide)."""
    text = storage.read_text(spark, join_path(checkpoint, "metadata"))
    if not text:
        raise PipelineError("CHECKPOINT_MISMATCH", {"detail": f"no query metadata in checkpoint {checkpoint}"})
    return str(json.loads(text.splitlines()[0])["id"])


def exists(spark: SparkSession, checkpoint: str) -> bool:
    """Whether a stream has ever started on this checkpoint."""
    return storage.exists(spark, join_path(checkpoint, "metadata"))
