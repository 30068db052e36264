"""Run identity: every Delta commit the pipeline makes carries the run id in `userMetadata`,
so `DESCRIBE HISTORY` ties table versions to pipeline runs."""
from __future__ import annotations

import json
import secrets
from datetime import datetime, timezone
from typing import Any

from pyspark.sql import SparkSession

COMMIT_METADATA_CONF = "spark.databricks.delta.commitInfo.userMetadata"


def new_run_id() -> str:
    """Sortable, unique run id: `20261121T234501Z-3fa9c2`."""
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def commit_metadata(run_id: str, stage: str, **extra: Any) -> str:
    """The `userMetadata` JSON written with each commit."""
    return json.dumps({"run_id": run_id, "stage": stage, **extra}, sort_keys=True, default=str)


def tag_session_commits(spark: SparkSession, run_id: str, stage: str) -> None:
    """Default commit metadata for commits without an explicit `userMetadata` option (DDL...)."""
    spark.conf.set(COMMIT_METADATA_CONF, commit_metadata(run_id, stage))
