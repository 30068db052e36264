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
from typing import Callable, Mapping

from pyspark.sql import DataFrame
from pyspark.sql.streaming import StreamingQuery

from pipelines.core.config import Config
from pipelines.core.errors import PipelineError

BatchFunction = Callable[[DataFrame, int], None]

# Expressions evaluated without generated code (`spark.continuous_codegen: false`): a continuous
# micro-batch's plan carries per-batch constants (batch id, times, watermark) that Spark inlines
# into generated code, so every small batch compiled new classes and kept the JIT busy.
INTERPRETED: dict[str, str] = {
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
}


def micro_batch_conf(config: Config, *, continuous: bool) -> dict[str, str]:
    """Session settings of a stream's own session (Spark clones one per query)."""
    return dict(INTERPRETED) if continuous and not config.spark.continuous_codegen else {}


class _ErrorKeepingBatch:
    """Calls the stage's batch function; remembers the last PipelineError it raised. Applies the
    stream's session settings first (`batch.sparkSession` is the query's own clone)."""

    def __init__(self, batch_fn: BatchFunction, session_conf: Mapping[str, str]) -> None:
        self.batch_fn = batch_fn
        self.session_conf = dict(session_conf)
        self.error: PipelineError | None = None

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        for key, value in self.session_conf.items():
            batch.sparkSession.conf.set(key, value)
        self.session_conf = {}
        try:
            self.batch_fn(batch, batch_id)
        except PipelineError as exc:
            self.error = exc
            raise


_LOCK = threading.Lock()
# StreamingQuery.runId (unique per start) -> its batch function wrapper.
_BATCHES: dict[str, _ErrorKeepingBatch] = {}


def start_foreach_batch(source: DataFrame, name: str, batch_fn: BatchFunction, *, checkpoint: str,
                        continuous: bool, trigger_interval_seconds: float,
                        session_conf: Mapping[str, str] | None = None) -> StreamingQuery:
    """`--once`: everything available now (availableNow, in the source's bounded batches), then
    stop; `--continuous`: a micro-batch every `trigger_interval_seconds`. `session_conf`: set on
    the query's own session before its first batch (see micro_batch_conf)."""
    keeping = _ErrorKeepingBatch(batch_fn, session_conf or {})
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
