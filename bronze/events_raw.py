"""`bronze.events_raw`: every landed line exactly as received, plus ingestion lineage.

Append-only Delta (`delta.appendOnly=true`, created by DDL so NOT NULL holds), partitioned by
ingest date. The stream reads the landing folder as text split on `\\n` only, so a line's bytes
(including a trailing `\\r`) are kept; lines that are not valid UTF-8 keep their original bytes in
`raw_bytes`, because a string column cannot hold them faithfully. Exactly-once: each micro-batch is
one Delta append; a batch Spark re-runs after a crash (the first one after a restart, see
pipelines.core.replay) is skipped when its rows (this stream's id and batch id in `_bronze_id` /
`_ingest_batch_id`) are already in the table.
"""
from __future__ import annotations

import logging
from pyspark.sql import Column, DataFrame, SparkSession, functions as F
from pyspark.sql.streaming import StreamingQuery

from bronze.landing import LandingWatch
from pipelines.core import checkpoints, delta_io, ownership, storage
from pipelines.core.config import Config
from pipelines.core.replay import ReplayCheck
from pipelines.core.runs import commit_metadata
from pipelines.core.streams import micro_batch_conf, start_foreach_batch
from pipelines.core.tables import BRONZE_EVENTS_RAW

log = logging.getLogger(__name__)

STREAM_NAME = "bronze_events_raw"
TABLE = BRONZE_EVENTS_RAW


def to_bronze_rows(lines: DataFrame, *, stream_id: str, batch_id: int, run_id: str) -> DataFrame:
    """Pure transform: text-source rows (`value`, `file_path`, `file_modification_time`) -> Bronze rows.

    `_bronze_id` combines the stream (checkpoint) id, the batch id and Spark's
    monotonically_increasing_id, which is unique within a batch and deterministic when the batch is
    replayed over the same files, so the ids are unique across the table and stable.
    """
    ingested_at = F.current_timestamp()
    return lines.select(
        F.make_valid_utf8("value").alias("raw"),  # the same string when it already is valid
        F.when(~F.is_valid_utf8("value"), F.col("value").cast("binary")).alias("raw_bytes"),
        _bronze_id(stream_id, batch_id).alias("_bronze_id"),
        F.col("file_path").alias("_source"),
        F.col("file_modification_time").alias("_source_modified_at"),
        ingested_at.alias("_ingested_at"),
        F.lit(batch_id).cast("bigint").alias("_ingest_batch_id"),
        F.lit(run_id).alias("_ingest_run_id"),
        F.to_date(ingested_at).alias("_ingest_date"),
    ).select(*TABLE.column_names)


def _bronze_id(stream_id: str, batch_id: int) -> Column:
    return F.concat_ws(
        "-", F.lit(stream_id), F.lit(f"{batch_id:08d}"),
        F.lpad(F.hex(F.monotonically_increasing_id()), 12, "0"),
    )


def read_landing(spark: SparkSession, config: Config) -> DataFrame:
    """The landing folder as a stream of lines, in bounded micro-batches.

    No landed file is skipped because of its age (bronze/landing.py): a pass over the folder runs
    now, before the source first lists it, and every `ingest.rescue_interval_seconds` while this
    checkpoint's stream runs; the source's record of taken files keeps its `maxFileAge` window
    (in the driver by Spark's purge; in the checkpoint by `prune_source_log`, before the start).
    """
    ingest = config.ingest
    storage.mkdirs(spark, config.landing)
    watch = LandingWatch(spark, config, config.checkpoint(STREAM_NAME), STREAM_NAME)
    if ingest.prune_source_log:
        watch.prune_source_log()
    report = watch.run_pass()
    log.info("landing pass: %d files listed, %d rescued, source log %d entries (%d bytes), %.1fs",
             report.listed, len(report.rescued), report.log_entries, report.log_bytes, report.seconds)
    watch.watch_in_background()
    reader = (
        spark.readStream.format("text")
        .option("lineSep", "\n")
        .option("pathGlobFilter", ingest.file_pattern)
        .option("maxFilesPerTrigger", ingest.max_files_per_trigger)
        .option("maxFileAge", f"{int(ingest.max_file_age_hours * 3600)}s")
    )
    if ingest.max_bytes_per_trigger:
        reader = reader.option("maxBytesPerTrigger", ingest.max_bytes_per_trigger)
    if ingest.clean_source != "off":
        reader = reader.option("cleanSource", ingest.clean_source)
        if ingest.clean_source == "archive":
            reader = reader.option("sourceArchiveDir", ingest.archive_dir)
    return reader.load(config.landing).select(
        "value", "_metadata.file_path", "_metadata.file_modification_time"
    )


def landing_files_pending(spark: SparkSession, config: Config) -> int | None:
    """Landed files the ingest stream has not taken yet (see LandingWatch.pending)."""
    return LandingWatch(spark, config, config.checkpoint(STREAM_NAME), STREAM_NAME).pending()


def landing_files_waiting(spark: SparkSession, config: Config) -> list[tuple[str, int]] | None:
    """(path, mtime ms) of the landed files the ingest stream has not taken yet (see
    LandingWatch.waiting)."""
    return LandingWatch(spark, config, config.checkpoint(STREAM_NAME), STREAM_NAME).waiting()


class BronzeBatchWriter:
    """foreachBatch sink: one idempotent Delta append per micro-batch."""

    def __init__(self, config: Config, run_id: str) -> None:
        self.config = config
        self.run_id = run_id
        self.location = TABLE.location(config)
        self.checkpoint = config.checkpoint(STREAM_NAME)
        self._stream_id: str | None = None
        self._claimed = False
        self._replay = ReplayCheck()

    def stream_id(self, spark: SparkSession) -> str:
        """The streaming query id Spark stored in the checkpoint (stable across restarts)."""
        if self._stream_id is None:
            self._stream_id = checkpoints.query_id(spark, self.checkpoint)
        return self._stream_id

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        spark = batch.sparkSession
        stream_id = self.stream_id(spark)
        if not self._claimed:  # before this stream's first write (see pipelines.core.ownership)
            ownership.claim(spark, self.config, (TABLE,), ownership.Owner(STREAM_NAME, self.checkpoint, stream_id))
            self._claimed = True
        if self._replay.needed(batch_id) and self.already_written(spark, stream_id[:8], batch_id):
            log.info("bronze batch %s was committed before the restart; not appended again", batch_id)
        else:
            rows = to_bronze_rows(batch, stream_id=stream_id[:8], batch_id=batch_id, run_id=self.run_id)
            delta_io.append(rows, self.location, metadata=commit_metadata(
                self.run_id, "bronze", batch_id=batch_id, txn_app_id=f"medallion-bronze-{stream_id}"))
        self._replay.committed(batch_id)

    def already_written(self, spark: SparkSession, stream_id: str, batch_id: int) -> bool:
        """Whether Bronze holds rows of this stream's batch (`_ingest_batch_id` and the stream's
        `_bronze_id` prefix; both have file statistics, so only matching files are read)."""
        rows = (spark.read.format("delta").load(self.location)
                .where((F.col("_ingest_batch_id") == F.lit(batch_id))
                       & F.col("_bronze_id").startswith(f"{stream_id}-")))
        return bool(rows.limit(1).count())


def start_ingest(spark: SparkSession, config: Config, run_id: str, *, continuous: bool) -> StreamingQuery:
    """Start the landing -> Bronze stream; the caller awaits or stops the returned query."""
    if not delta_io.create_table(spark, config, TABLE):  # a table created just now has no rows to protect
        checkpoints.refuse_fresh_checkpoint(spark, config, config.checkpoint(STREAM_NAME), (TABLE,),
                                            stage="ingest")
    log.info("bronze ingest: %s -> %s (%s)", config.landing, TABLE.location(config),
             "continuous" if continuous else "once")
    return start_foreach_batch(
        read_landing(spark, config), STREAM_NAME, BronzeBatchWriter(config, run_id),
        checkpoint=config.checkpoint(STREAM_NAME), continuous=continuous,
        trigger_interval_seconds=config.ingest.trigger_interval_seconds,
        session_conf=micro_batch_conf(config, continuous=continuous))
