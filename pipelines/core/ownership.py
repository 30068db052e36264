"""One streaming writer per table: each stream claims the tables it writes before its first write.

Two streams with different checkpoints writing the same table would each land every row (their
stream ids differ, so neither can tell the other's copy is one), so the second is refused
with `STREAM_OWNER_CONFLICT`. The claim is a small owner record per table,
`<warehouse>/_medallion/stream_owners/<schema>.<table>.json` (stream name, checkpoint, query
id), created with the file system's create-if-absent, so of two streams starting at once exactly
one wins.

A record never blocks its own stream: a restart of the same checkpoint (same query id, e.g. after a
`kill -9`) finds its own record. A record whose checkpoint is gone or now belongs to another query
(the operator deleted or replaced the owner's checkpoint) can never be used by its owner again, so
it is taken over, with a warning. Batch writers (dbt builds, `medallion erase`, `medallion
maintain`, an operator's statement) do not claim: they are not streams, and tag their commits'
`userMetadata` instead.
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from pyspark.sql import SparkSession

from pipelines.core import checkpoints, storage
from pipelines.core.config import Config, join_path
from pipelines.core.errors import PipelineError
from pipelines.core.registry import TableSpec

log = logging.getLogger(__name__)

OWNERS_DIR = "_medallion/stream_owners"


@dataclass(frozen=True)
class Owner:
    stream: str
    checkpoint: str
    query_id: str
    claimed_at: str = ""


def record_path(config: Config, spec: TableSpec) -> str:
    return join_path(config.warehouse, OWNERS_DIR, f"{spec.qualified_name}.json")


def read_owner(spark: SparkSession, config: Config, spec: TableSpec) -> Owner | None:
    text = storage.read_text(spark, record_path(config, spec))
    if not text:
        return None
    try:
        return Owner(**json.loads(text))
    except (ValueError, TypeError):
        log.warning("unreadable stream owner record %s; treating it as stale", record_path(config, spec))
        return Owner(stream="?", checkpoint="", query_id="")


def _still_owns(spark: SparkSession, owner: Owner) -> bool:
    """Whether the owner's checkpoint still exists and still belongs to the owner's query."""
    if not owner.checkpoint or not checkpoints.exists(spark, owner.checkpoint):
        return False
    try:
        return checkpoints.query_id(spark, owner.checkpoint) == owner.query_id
    except PipelineError:
        return False


def claim(spark: SparkSession, config: Config, specs: tuple[TableSpec, ...], me: Owner) -> None:
    """Claim every table in `specs` for stream `me`, or raise `STREAM_OWNER_CONFLICT`."""
    for spec in specs:
        _claim_one(spark, config, spec, me)


def _claim_one(spark: SparkSession, config: Config, spec: TableSpec, me: Owner) -> None:
    path = record_path(config, spec)
    record = json.dumps(asdict(me) | {"claimed_at": datetime.now(timezone.utc).isoformat()})
    for _ in range(5):  # each round either returns or removes a stale record someone left
        if storage.create_exclusive(spark, path, record):
            log.info("stream %s claimed %s", me.stream, spec.qualified_name)
            return
        owner = read_owner(spark, config, spec)
        if owner is None:  # removed between our create and our read: try again
            continue
        if owner.query_id == me.query_id:
            return  # our own record (a restart of the same checkpoint)
        if _still_owns(spark, owner):
            raise PipelineError("STREAM_OWNER_CONFLICT", {
                "table": spec.qualified_name, "owner": owner.stream, "owner_checkpoint": owner.checkpoint,
                "checkpoint": me.checkpoint})
        log.warning("taking over %s from stream %s: its checkpoint %s is gone or was replaced",
                    spec.qualified_name, owner.stream, owner.checkpoint)
        storage.delete(spark, path)
    raise PipelineError("STREAM_OWNER_CONFLICT", {
        "table": spec.qualified_name, "owner": "another stream (the claim kept changing)",
        "owner_checkpoint": "?", "checkpoint": me.checkpoint})
