"""Wiring of the Silver refine stream: bronze.events_raw (Delta source) -> foreachBatch
(`silver.refine_batch.RefineBatch`, where each micro-batch's steps and exactly-once writes are).

A fresh checkpoint against Silver tables with rows is refused (it would re-read all of Bronze), and
the stream claims its tables before its first write (one streaming writer per table).
"""
from __future__ import annotations

import logging
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery

from pipelines.core import checkpoints, delta_io, pii_key
from pipelines.core.catalog import delta_table_exists
from pipelines.core.config import Config, is_uri
from pipelines.core.errors import PipelineError
from pipelines.core.streams import micro_batch_conf, start_foreach_batch
from pipelines.core.tables import BRONZE_EVENTS_RAW, SILVER_EVENTS, SILVER_TABLES
from silver.gx_engine import QualityGate, check_suite
from silver.reference_data import load_reference
from silver.refine_batch import STREAM_NAME, CommitHook, RefineBatch, WriteHook
from silver.suite import Suite, find_suite

log = logging.getLogger(__name__)


def create_tables(spark: SparkSession, config: Config) -> None:
    for spec in SILVER_TABLES:
        delta_io.create_table(spark, config, spec)


def load_gate_suite(config: Config) -> Suite:
    """The silver.events suite, checked by GX too (a broken suite fails before the stream starts)."""
    return check_suite(find_suite(Path(config.refine.expectations_dir), SILVER_EVENTS.qualified_name))


def docs_dir(config: Config) -> str | None:
    """Where GX Data Docs go (`refine.docs_dir`); None when off or not a local folder."""
    if not config.refine.data_docs:
        return None
    if is_uri(config.refine.docs_dir):
        log.warning("GX Data Docs need a local folder; set refine.docs_dir (it is %s)", config.refine.docs_dir)
        return None
    return config.refine.docs_dir


def read_bronze(spark: SparkSession, config: Config) -> DataFrame:
    """bronze.events_raw as a stream, in bounded micro-batches (the table must exist).

    `skipChangeCommits`: Bronze is append-only, except for the audited rewrites of an erasure
    (which redact lines already refined; their Silver rows are redacted by the same command) and
    for maintenance (OPTIMIZE commits carry no data change and are skipped anyway). Without it
    the stream would stop at the first rewrite."""
    location = BRONZE_EVENTS_RAW.location(config)
    if not delta_table_exists(spark, location):
        raise PipelineError("TABLE_NOT_FOUND", {"path": location})
    reader = (spark.readStream.format("delta").option("skipChangeCommits", "true")
              .option("maxFilesPerTrigger", config.refine.max_files_per_trigger))
    if config.refine.max_bytes_per_trigger:
        reader = reader.option("maxBytesPerTrigger", f"{config.refine.max_bytes_per_trigger}b")
    return reader.load(location)


def start_refine(spark: SparkSession, config: Config, run_id: str, *, continuous: bool,
                 on_table_written: WriteHook | None = None,
                 on_committed: CommitHook | None = None) -> StreamingQuery:
    """Start the Bronze -> Silver stream; the caller awaits or stops the returned query.

    `--once` processes everything in Bronze (availableNow) in batches of at most
    `refine.max_files_per_trigger` files; `--continuous` uses a processing-time trigger.
    """
    source = read_bronze(spark, config)
    create_tables(spark, config)
    checkpoints.refuse_fresh_checkpoint(spark, config, config.checkpoint(STREAM_NAME), SILVER_TABLES,
                                        stage="refine")
    suite = load_gate_suite(config)
    gate = QualityGate(suite, docs_dir=docs_dir(config), pandas_max_rows=config.refine.gx_pandas_max_rows)
    reference = load_reference(config)
    pii_key.install(spark, reference.pii_key)
    batch_fn = RefineBatch(config, run_id, reference=reference, gate=gate, on_table_written=on_table_written,
                           on_committed=on_committed)
    log.info("silver refine: suite %s (%s) from %s (%s); emails hashed with key %s from %s", suite.name,
             suite.digest, suite.path, "continuous" if continuous else "once", reference.pii_key.key_id,
             reference.pii_key.source)
    return start_foreach_batch(
        source, STREAM_NAME, batch_fn, checkpoint=config.checkpoint(STREAM_NAME), continuous=continuous,
        trigger_interval_seconds=config.refine.trigger_interval_seconds,
        session_conf=micro_batch_conf(config, continuous=continuous))
