"""Starting a foreachBatch stream the way every stage does: named, checkpointed, and triggered
either once over everything available or continuously on a processing-time interval.

A product error raised inside a micro-batch (`PipelineError`, e.g. `QUALITY_GATE_FAILED`) reaches
the driver wrapped in a `StreamingQueryException` whose text is a Java stack around a Python
traceback; the code and parameters are lost on the way. The batch function is therefore wrapped
so the original error is kept on the Python side (`batch_error(query)`), and whoever awaits the
query re-raises that instead of Spark's wrapper.
"""
from __future__ import annotations

import threading
from typing import Callable

from pyspark.sql import DataFrame
from pyspark.sql.streaming import StreamingQuery

from pipelines.core.errors import PipelineError

BatchFunction = Callable[[DataFrame, int], None]


class _ErrorKeepingBatch:
    """Calls the stage's batch function; remembers the last PipelineError it raised."""

    def __init__(self, batch_fn: BatchFunction) -> None:
        self.batch_fn = batch_fn
        self.error: PipelineError | None = None

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        try:
            self.batch_fn(batch, batch_id)
        except PipelineError as exc:
            self.error = exc
            raise


_LOCK = threading.Lock()
# StreamingQuery.runId (unique per start) -> its batch function wrapper.
_BATCHES: dict[str, _ErrorKeepingBatch] = {}


def start_foreach_batch(source: DataFrame, name: str, batch_fn: BatchFunction, *, checkpoint: str,
                        continuous: bool, trigger_interval_seconds: float) -> StreamingQuery:
    """`--once`: everything available now (availableNow, in the source's bounded batches), then
    stop; `--continuous`: a micro-batch every `trigger_interval_seconds`."""
    keeping = _ErrorKeepingBatch(batch_fn)
    writer = (source.writeStream.queryName(name).foreachBatch(keeping)
              .option("checkpointLocation", checkpoint))
    if continuous:
        interval_ms = max(1, int(trigger_interval_seconds * 1000))
        writer = writer.trigger(processingTime=f"{interval_ms} milliseconds")
    else:
        writer = writer.trigger(availableNow=True)
    query = writer.start()
    with _LOCK:
        _BATCHES[str(query.runId)] = keeping
    return query


def batch_error(query: StreamingQuery) -> PipelineError | None:
    """The product error that failed `query`'s batch, if one did (and forget the query)."""
    with _LOCK:
        keeping = _BATCHES.pop(str(query.runId), None)
    return keeping.error if keeping is not None else None
