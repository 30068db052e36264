"""Wiring of the Silver refine stream: bronze.events_raw (Delta source) -> foreachBatch.

Per micro-batch: standardize and mark the rows failing a quarantine predicate (one Spark pass)
-> cache the standardized rows (without the raw line) -> GX gate (`fail` stops here, before any
write; quarantine decisions checked against GX's unexpected rows) -> duplicate suspects against silver.events -> conservation
check -> writes, side by side:

  silver.events (from the cache), silver.events_quarantine (Bronze rows joined to
  their reasons), silver.events_duplicates, audit.quality_results
then audit.batch_ledger last.

Exactly-once: every write is a Delta append with `txnAppId` = `medallion-silver-<query id>` (the id
Spark keeps in this stream's checkpoint, so a new checkpoint is a new app id and never silently
skipped) and `txnVersion` = batch id; a replayed batch's already-committed writes are skipped by
Delta. The one input that changes once the batch wrote silver.events is silver.events itself (dedup
reads it), so dedup leaves out the batch's own rows (see `RefineBatch.silver_before_batch`).
A fresh checkpoint against Silver tables with rows is refused (it would re-read all of Bronze), and
the stream claims its tables before its first write (one streaming writer per table).
"""
from __future__ import annotations

import dataclasses
import logging
import time
from collections import deque
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession, functions as F
from pyspark.sql.streaming import StreamingQuery

from pipelines.core import checkpoints, delta_io, ownership
from pipelines.core.catalog import delta_table_exists
from pipelines.core.config import Config, is_uri
from pipelines.core.errors import PipelineError
from pipelines.core.runs import commit_metadata
from pipelines.core.streams import start_foreach_batch
from pipelines.core.tables import (AUDIT_BATCH_LEDGER, AUDIT_QUALITY_RESULTS, BRONZE_EVENTS_RAW, SILVER_EVENTS,
                                   SILVER_EVENTS_DUPLICATES, SILVER_EVENTS_QUARANTINE, SILVER_TABLES)
from silver import batch_ledger, quality_results
from silver.dedup import classify_duplicates, duplicate_suspects, first_occurrences
from silver.lineage import BatchLineage, to_table_rows
from silver.quality_gate import (FAILED_COL, FLAGGED_COL, REASONS_COL, QualityGate, ROW_ID, Suite,
                                 GateResult, check_agreement, find_suite, flag_rows, mark_flagged,
                                 new_gate_run_id)
from silver.reference_data import Reference, load_reference
from silver.standardize import standardize

log = logging.getLogger(__name__)

STREAM_NAME = "silver_events"
# Called after each table write with (table, batch_id); lets tests inject a crash between writes.
WriteHook = Callable[[str, int], None]
# Up to this many rows, small per-batch tables (duplicate suspects, rejected ids) are broadcast
# to the batch's rows instead of shuffling them.
BROADCAST_MAX_ROWS = 200_000
# Bronze's copy of the line: only the quarantine needs it, and reads it from the batch itself.
RAW_COLUMNS = ("raw", "raw_bytes")


class PhaseTimer:
    """Seconds per phase of a batch, for the batch log line (where the time goes, per batch)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.monotonic()

    def mark(self, phase: str) -> None:
        now = time.monotonic()
        self.seconds[phase] = round(now - self._last, 3)
        self._last = now

    def __str__(self) -> str:
        return ", ".join(f"{k} {v:.2f}s" for k, v in self.seconds.items())


def create_tables(spark: SparkSession, config: Config) -> None:
    for spec in SILVER_TABLES:
        delta_io.create_table(spark, config, spec)


def load_gate_suite(config: Config) -> Suite:
    return find_suite(Path(config.refine.expectations_dir), SILVER_EVENTS.qualified_name)


def docs_dir(config: Config) -> str | None:
    """Where GX Data Docs go (`refine.docs_dir`); None when off or not a local folder."""
    if not config.refine.data_docs:
        return None
    if is_uri(config.refine.docs_dir):
        log.warning("GX Data Docs need a local folder; set refine.docs_dir (it is %s)", config.refine.docs_dir)
        return None
    return config.refine.docs_dir


def read_bronze(spark: SparkSession, config: Config) -> DataFrame:
    """bronze.events_raw as a stream, in bounded micro-batches (the table must exist)."""
    location = BRONZE_EVENTS_RAW.location(config)
    if not delta_table_exists(spark, location):
        raise PipelineError("TABLE_NOT_FOUND", {"path": location})
    reader = spark.readStream.format("delta").option(
        "maxFilesPerTrigger", config.refine.max_files_per_trigger)
    if config.refine.max_bytes_per_trigger:
        reader = reader.option("maxBytesPerTrigger", f"{config.refine.max_bytes_per_trigger}b")
    return reader.load(location)


class RefineBatch:
    """The foreachBatch function (one instance per started stream)."""

    def __init__(self, config: Config, run_id: str, *, reference: Reference, gate: QualityGate,
                 on_table_written: WriteHook | None = None) -> None:
        self.config = config
        self.run_id = run_id
        self.reference = reference
        self.gate = gate
        self.on_table_written = on_table_written
        self.checkpoint = config.checkpoint(STREAM_NAME)
        self.paths = {spec.qualified_name: spec.location(config) for spec in SILVER_TABLES}
        self._app_id: str | None = None
        self._claimed = False
        self._docs_built_at: float | None = None
        self.phase_history: deque[dict[str, float]] = deque(maxlen=500)  # for benchmarks

    @property
    def last_phases(self) -> dict[str, float]:
        """Seconds per phase of the last committed batch."""
        return self.phase_history[-1] if self.phase_history else {}

    def txn_app_id(self, spark: SparkSession) -> str:
        """`medallion-silver-<query id>`: the id Spark stores in this stream's checkpoint."""
        if self._app_id is None:
            self._app_id = f"medallion-silver-{checkpoints.query_id(spark, self.checkpoint)}"
        return self._app_id

    def silver_before_batch(self, spark: SparkSession, batch_id: int) -> DataFrame:
        """silver.events without this batch's own rows, which a replay must not count as duplicates.

        The one stream that writes silver.events (claimed, see pipelines.core.ownership; a fresh
        checkpoint against rows is refused) numbers its batches upwards, so a row with
        `_silver_batch_id >= batch_id` can only come from an earlier attempt of this very batch that
        committed its silver.events write and crashed before Spark's checkpoint recorded the batch.
        A filter on the batch's own rows, not a guess from the table's last commit: other commits in
        between (OPTIMIZE, maintenance, an operator's statement, erasure) change nothing here.
        """
        return (spark.read.format("delta").load(self.paths[SILVER_EVENTS.qualified_name])
                .filter(F.col("_silver_batch_id") < F.lit(batch_id)))

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        started = time.monotonic()
        phases = PhaseTimer()
        spark = batch.sparkSession
        app_id = self.txn_app_id(spark)
        if not self._claimed:  # before this stream's first write (see pipelines.core.ownership)
            ownership.claim(spark, self.config, SILVER_TABLES, ownership.Owner(
                STREAM_NAME, self.checkpoint, checkpoints.query_id(spark, self.checkpoint)))
            self._claimed = True
        gate_run_id = new_gate_run_id(self.run_id, batch_id)
        processed_at = datetime.now(timezone.utc)
        # Every standardized row is cached once (without the raw line): the gate, dedup, the
        # counts and the silver.events write all read this cache, so each row is parsed once.
        checked = mark_flagged(standardize(batch, self.reference), self.gate.suite).drop(
            *RAW_COLUMNS).persist(StorageLevel.MEMORY_AND_DISK)
        suspects: DataFrame | None = None
        rejected: DataFrame | None = None
        try:
            rows_read = checked.count()
            phases.mark("standardize+cache")
            if rows_read == 0:
                return
            # Reason codes only for the flagged rows (see mark_flagged); kept for the quarantine
            # write, so the batch is scanned for them once.
            rejected = flag_rows(checked.filter(F.col(FLAGGED_COL)), self.gate.suite).select(
                ROW_ID, FAILED_COL, REASONS_COL, "event_id").persist(StorageLevel.MEMORY_AND_DISK)
            flagged = {r[ROW_ID]: r[FAILED_COL] for r in rejected.select(ROW_ID, FAILED_COL).collect()}
            phases.mark("flagged ids")
            gate = self.gate.validate(checked, gate_run_id=gate_run_id, rows=rows_read,
                                      flagged_rows=len(flagged))
            phases.mark("gx")
            if gate.failed_fail_expectations:
                raise PipelineError("QUALITY_GATE_FAILED", {
                    "batch_id": batch_id, "suite": gate.suite.name,
                    "detail": "; ".join(f"{o.spec.label} ({o.unexpected_count} unexpected)"
                                        for o in gate.failed_fail_expectations)})
            check_agreement(gate, flagged)

            accepted = checked.filter(~F.col(FLAGGED_COL))
            existing = self.silver_before_batch(spark, batch_id)
            suspects = duplicate_suspects(accepted, existing).persist(StorageLevel.MEMORY_AND_DISK)
            few = suspects.count() <= BROADCAST_MAX_ROWS
            phases.mark("dup suspects")
            classified = classify_duplicates(accepted, suspects, broadcast=few)
            totals = classified.agg(
                F.count(F.lit(1)).alias("accepted"),
                F.sum(F.col("is_duplicate").cast("int")).alias("dup"),
                F.sum(F.col("is_conflicting").cast("int")).alias("conflicting"),
                F.sum((~F.col("is_duplicate") & F.col("is_late")).cast("int")).alias("late"),
            ).first()
            phases.mark("dup counts")
            duplicates = int(totals["dup"] or 0)
            entry = batch_ledger.LedgerEntry(
                txn_app_id=app_id, batch_id=batch_id, run_id=self.run_id, gate_run_id=gate_run_id,
                suite=gate.suite.name, suite_digest=gate.suite.digest, rows_read=rows_read,
                rows_inserted=int(totals["accepted"]) - duplicates, rows_quarantined=len(flagged),
                rows_duplicate=duplicates, rows_duplicate_conflicting=int(totals["conflicting"] or 0),
                rows_late=int(totals["late"] or 0), gx_seconds=round(gate.seconds, 3),
                batch_seconds=0.0, processed_at=processed_at,
            )
            entry.check_conservation()

            lineage = BatchLineage(batch_id=batch_id, gate_run_id=gate_run_id, processed_at=processed_at)
            writes: dict[str, DataFrame] = {}
            reasons = rejected.select(ROW_ID, REASONS_COL, "event_id")
            if len(flagged) <= BROADCAST_MAX_ROWS:
                reasons = F.broadcast(reasons)
            if entry.rows_inserted:
                writes[SILVER_EVENTS.qualified_name] = to_table_rows(
                    first_occurrences(accepted, suspects, broadcast=few), SILVER_EVENTS, lineage)
            if entry.rows_quarantined:
                writes[SILVER_EVENTS_QUARANTINE.qualified_name] = to_table_rows(
                    batch.join(reasons, ROW_ID), SILVER_EVENTS_QUARANTINE, lineage)
            if entry.rows_duplicate:
                writes[SILVER_EVENTS_DUPLICATES.qualified_name] = to_table_rows(
                    classified.filter(F.col("is_duplicate")), SILVER_EVENTS_DUPLICATES, lineage)
            writes[AUDIT_QUALITY_RESULTS.qualified_name] = quality_results.to_result_rows(
                spark, gate, txn_app_id=app_id, batch_id=batch_id, run_id=self.run_id)
            self._write_all(writes, app_id, batch_id)
            phases.mark("writes")
            # The ledger last: its row says every other table of the batch is committed.
            entry = dataclasses.replace(entry, batch_seconds=round(time.monotonic() - started, 3))
            self._write(AUDIT_BATCH_LEDGER.qualified_name, batch_ledger.to_ledger_rows(spark, entry),
                        app_id, batch_id)
            phases.mark("ledger")
            self._maybe_build_docs(gate)
            phases.mark("docs")
            self.phase_history.append(phases.seconds)
            log.info("refine batch %s: read %s, inserted %s, quarantined %s, duplicates %s (%s "
                     "conflicting); batch %.1fs (%s)", batch_id, rows_read, entry.rows_inserted,
                     entry.rows_quarantined, entry.rows_duplicate, entry.rows_duplicate_conflicting,
                     entry.batch_seconds, phases)
        finally:
            for cached in (suspects, rejected, checked):
                if cached is not None:
                    cached.unpersist()

    def _write_all(self, writes: dict[str, DataFrame], app_id: str, batch_id: int) -> None:
        """The batch's table writes side by side (independent tables, each idempotent on its own).

        A batch's Delta commits are mostly fixed cost (log, snapshot, small files); in parallel,
        the batch waits for the slowest instead of the sum. Every write is awaited before the
        first failure is raised, so none is left running behind a failed batch.
        """
        from pyspark import InheritableThread

        errors: list[BaseException] = []

        def write(table: str, rows: DataFrame) -> None:
            try:
                self._write(table, rows, app_id, batch_id)
            except BaseException as exc:  # re-raised below, in the batch's thread
                errors.append(exc)

        threads = [InheritableThread(target=write, args=item, name=f"refine-write-{item[0]}")
                   for item in writes.items()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]

    def _write(self, table: str, rows: DataFrame, app_id: str, batch_id: int) -> None:
        metadata = commit_metadata(self.run_id, "silver", batch_id=batch_id, table=table,
                                   txn_app_id=app_id)
        delta_io.append_once(rows, self.paths[table], app_id=app_id, batch_id=batch_id, metadata=metadata)
        if self.on_table_written is not None:
            self.on_table_written(table, batch_id)

    def _maybe_build_docs(self, gate: GateResult) -> None:
        now = time.monotonic()
        interval = self.config.refine.docs_interval_seconds
        if self._docs_built_at is not None and now - self._docs_built_at < interval:
            return
        self._docs_built_at = now
        try:
            index = self.gate.build_docs(gate)
            if index:
                log.info("GX Data Docs: %s", index)
        except Exception:  # docs are a report; never fail a committed batch over them
            log.warning("could not build GX Data Docs", exc_info=True)


def start_refine(spark: SparkSession, config: Config, run_id: str, *, continuous: bool,
                 on_table_written: WriteHook | None = None) -> StreamingQuery:
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
    batch_fn = RefineBatch(config, run_id, reference=load_reference(config), gate=gate,
                           on_table_written=on_table_written)
    log.info("silver refine: suite %s (%s) from %s (%s)", suite.name, suite.digest, suite.path,
             "continuous" if continuous else "once")
    query = start_foreach_batch(
        source, STREAM_NAME, batch_fn, checkpoint=config.checkpoint(STREAM_NAME), continuous=continuous,
        trigger_interval_seconds=config.refine.trigger_interval_seconds)
    query.refine_batch = batch_fn  # type: ignore[attr-defined]  # for benchmarks/diagnostics
    return query
