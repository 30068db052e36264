"""Starting a foreachBatch stream the way every stage does: named, checkpointed, and triggered
either once over everything available or continuously on a processing-time interval."""
from __future__ import annotations

from typing import Callable

from pyspark.sql import DataFrame
from pyspark.sql.streaming import StreamingQuery

BatchFunction = Callable[[DataFrame, int], None]


def start_foreach_batch(source: DataFrame, name: str, batch_fn: BatchFunction, *, checkpoint: str,
                        continuous: bool, trigger_interval_seconds: float) -> StreamingQuery:
    """`--once`: everything available now (availableNow, in the source's bounded batches), then
    stop; `--continuous`: a micro-batch every `trigger_interval_seconds`."""
    writer = (source.writeStream.queryName(name).foreachBatch(batch_fn)
              .option("checkpointLocation", checkpoint))
    if continuous:
        interval_ms = max(1, int(trigger_interval_seconds * 1000))
        writer = writer.trigger(processingTime=f"{interval_ms} milliseconds")
    else:
        writer = writer.trigger(availableNow=True)
    return writer.start()
