"""The refine micro-batch (the foreachBatch function of the Silver stream) as named steps.

Each step returns a small frozen result the next one reads: standardize and mark the rows failing
a quarantine predicate (one Spark pass, cached without the raw line) -> explain the flagged rows'
reasons -> validate with GX (`fail` stops here, before any write; quarantine decisions must equal
GX's unexpected rows) -> deduplicate against silver.events -> count (conservation checked) -> the
table writes, side by side (silver.events from the cache, silver.events_quarantine as the Bronze
rows joined to their reasons, silver.events_duplicates, audit.quality_results) -> audit.batch_ledger
last, with the seconds each step took.

Exactly-once: every write is a plain Delta append whose `userMetadata` names the stream
(`medallion-silver-<query id>`, the id Spark keeps in this stream's checkpoint) and the batch id.
Only the first batch after a (re)start can be a replay (see pipelines.core.replay); for it, the
tables that already hold the batch's rows (`_silver_batch_id`; `txn_app_id` + `batch_id` in the
audit tables) are skipped, and a batch already in audit.batch_ledger (written last) is skipped
whole. The one input that changes once the batch wrote silver.events is silver.events itself
(dedup reads it), so dedup leaves out the batch's own rows (see `RefineBatch.silver_before_batch`).
"""
from __future__ import annotations

import logging
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Callable, Mapping, Sequence

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession, functions as F

from pipelines.core import checkpoints, delta_io, ownership
from pipelines.core.config import Config
from pipelines.core.errors import PipelineError
from pipelines.core.replay import ReplayCheck
from pipelines.core.runs import commit_metadata
from pipelines.core.tables import (AUDIT_BATCH_LEDGER, AUDIT_QUALITY_RESULTS, SILVER_EVENTS,
                                   SILVER_EVENTS_DUPLICATES, SILVER_EVENTS_QUARANTINE, SILVER_TABLES)
from silver import batch_ledger, quality_results
from silver.agreement import check_agreement
from silver.dedup import classify_duplicates, duplicate_suspects, first_occurrences
from silver.gx_engine import ROW_ID, GateResult, QualityGate
from silver.lineage import BatchLineage, to_table_rows
from silver.masking import masked_raw_line
from silver.predicates import FAILED_COL, FLAGGED_COL, REASONS_COL, flag_rows, mark_flagged
from silver.reference_data import Reference
from silver.standardize import PROPERTIES_DROPPED, standardize
from silver.watermark import accepted_so_far, later, to_datetime, watermark_micros

log = logging.getLogger(__name__)

STREAM_NAME = "silver_events"
# Called after each table write with (table, batch_id); lets tests inject a crash between writes.
WriteHook = Callable[[str, int], None]
# Called with each batch's ledger entry once the whole batch is committed (progress display).
CommitHook = Callable[["batch_ledger.LedgerEntry"], None]
# Up to this many rows, small per-batch tables (duplicate suspects, rejected ids) are broadcast
# to the batch's rows instead of shuffling them.
BROADCAST_MAX_ROWS = 200_000
# Up to this many rows read, a batch writes one file per table: a continuous stream's small
# batches would otherwise add a file per core to every table each batch, and dedup reads every
# file of silver.events.
ONE_FILE_MAX_ROWS = 50_000
# Bronze's copy of the line: only the quarantine needs it, and reads it from the batch itself.
RAW_COLUMNS = ("raw", "raw_bytes")


class PhaseTimer:
    """Seconds per phase of a batch: the batch log line and `audit.batch_ledger.phase_seconds`
    (where the time goes, per batch)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.monotonic()

    def mark(self, phase: str) -> None:
        now = time.monotonic()
        self.seconds[phase] = round(now - self._last, 3)
        self._last = now

    def __str__(self) -> str:
        return ", ".join(f"{k} {v:.2f}s" for k, v in self.seconds.items())


def new_gate_run_id(run_id: str, batch_id: int) -> str:
    """Unique per attempt: a replayed batch is validated again under a new gate run."""
    return f"{run_id}-b{batch_id}-{uuid.uuid4().hex[:6]}"


def _cached(cache: ExitStack, frame: DataFrame) -> DataFrame:
    frame = frame.persist(StorageLevel.MEMORY_AND_DISK)
    cache.callback(frame.unpersist)
    return frame


@dataclass(frozen=True)
class BatchContext:
    """What identifies one attempt of one micro-batch in every table it writes."""

    batch_id: int
    app_id: str
    gate_run_id: str
    processed_at: datetime

    @property
    def lineage(self) -> BatchLineage:
        return BatchLineage(batch_id=self.batch_id, gate_run_id=self.gate_run_id, processed_at=self.processed_at)


@dataclass(frozen=True)
class Checked:
    """Step 1: the batch standardized and marked `_flagged` (cached, without the raw line)."""

    rows: DataFrame
    rows_read: int


@dataclass(frozen=True)
class Rejections:
    """Step 2: the flagged rows with their reasons (cached), and per row id the indexes of the
    quarantine expectations it failed (what the agreement check compares with GX)."""

    rows: DataFrame  # ROW_ID, FAILED_COL, REASONS_COL, event_id
    failed: Mapping[str, Sequence[int]]


@dataclass(frozen=True)
class Deduplicated:
    """Step 4: the accepted rows, classified against silver.events as of before the batch."""

    accepted: DataFrame
    suspects: DataFrame  # cached, few rows (see silver.dedup)
    classified: DataFrame
    broadcast_suspects: bool


@dataclass(frozen=True)
class DedupCounts:
    accepted: int
    duplicates: int
    conflicting: int
    late: int
    max_event_us: int | None  # highest event time among the new events (microseconds)
    properties_dropped: int  # property keys off the allow-list, over the new events


def count_duplicates(dedup: Deduplicated) -> DedupCounts:
    """One aggregate over the classified rows: accepted, duplicates (of which conflicting), and
    late among the new events, and their highest event time."""
    totals = dedup.classified.agg(
        F.count(F.lit(1)).alias("accepted"),
        F.sum(F.col("is_duplicate").cast("int")).alias("dup"),
        F.sum(F.col("is_conflicting").cast("int")).alias("conflicting"),
        F.sum((~F.col("is_duplicate") & F.col("is_late")).cast("int")).alias("late"),
        F.max(F.when(~F.col("is_duplicate"), F.unix_micros("event_ts"))).alias("max_event_us"),
        F.sum(F.when(~F.col("is_duplicate"), F.col(PROPERTIES_DROPPED))).alias("properties_dropped"),
    ).first()
    return DedupCounts(accepted=int(totals["accepted"]), duplicates=int(totals["dup"] or 0),
                       conflicting=int(totals["conflicting"] or 0), late=int(totals["late"] or 0),
                       max_event_us=totals["max_event_us"],
                       properties_dropped=int(totals["properties_dropped"] or 0))


class RefineBatch:
    """The foreachBatch function (one instance per started stream): named steps, in order."""

    def __init__(self, config: Config, run_id: str, *, reference: Reference, gate: QualityGate,
                 on_table_written: WriteHook | None = None, on_committed: CommitHook | None = None) -> None:
        self.config = config
        self.on_committed = on_committed
        self.run_id = run_id
        self.reference = reference
        self.gate = gate
        self.on_table_written = on_table_written
        self.checkpoint = config.checkpoint(STREAM_NAME)
        self.paths = {spec.qualified_name: spec.location(config) for spec in SILVER_TABLES}
        self._app_id: str | None = None
        self._claimed = False
        self._replay = ReplayCheck()
        self._docs_built_at: float | None = None
        # (batch id, highest event time accepted before it), known after each committed batch
        self._accepted_before: tuple[int, int | None] | None = None

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

    def accepted_before(self, spark: SparkSession, batch_id: int) -> int | None:
        """Highest event time accepted before this batch (see silver.watermark): remembered from
        the previous batch of this stream, else (first batch, restart, replay) from the ledger."""
        if self._accepted_before is not None and self._accepted_before[0] == batch_id:
            return self._accepted_before[1]
        ledger = spark.read.format("delta").load(self.paths[AUDIT_BATCH_LEDGER.qualified_name])
        return accepted_so_far(ledger, self.silver_before_batch(spark, batch_id),
                               app_id=self.txn_app_id(spark), batch_id=batch_id)

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        started = time.monotonic()
        timer = PhaseTimer()
        spark = batch.sparkSession
        self._claim(spark)
        ctx = BatchContext(batch_id=batch_id, app_id=self.txn_app_id(spark),
                           gate_run_id=new_gate_run_id(self.run_id, batch_id),
                           processed_at=datetime.now(timezone.utc))
        done = self.already_written(spark, ctx) if self._replay.needed(batch_id) else frozenset()
        if AUDIT_BATCH_LEDGER.qualified_name in done:
            log.info("refine batch %s was committed before the restart; nothing to do", batch_id)
            self._accepted_before = None  # read from the ledger by the next batch
            self._replay.committed(batch_id)
            return
        if done:
            log.info("refine batch %s: %s already committed before the restart; writing the rest",
                     batch_id, ", ".join(sorted(done)))
        before = self.accepted_before(spark, batch_id)
        watermark = watermark_micros(before, self.reference.lateness_hours)
        with ExitStack() as cache:  # every DataFrame a step persists is unpersisted on the way out
            checked = self.standardize_and_mark(batch, cache, watermark)
            timer.mark("standardize")
            if checked.rows_read == 0:
                self._accepted_before = (batch_id + 1, before)
                self._replay.committed(batch_id)
                return
            rejections = self.explain_rejections(checked, cache)
            timer.mark("reasons")
            gate = self.validate(checked, rejections, ctx)
            timer.mark("gx")
            dedup = self.deduplicate(spark, checked, batch_id, cache)
            timer.mark("dedup")
            entry = self.ledger_entry(checked, rejections, count_duplicates(dedup), gate, ctx,
                                      accepted_before=before, watermark=watermark)
            timer.mark("counts")
            writes = self.table_writes(spark, batch, rejections, dedup, entry, gate, ctx)
            self._write_all({table: rows for table, rows in writes.items() if table not in done}, ctx)
            timer.mark("writes")
            # The ledger last: its row says every other table of the batch is committed.
            entry = replace(entry, batch_seconds=round(time.monotonic() - started, 3),
                            phase_seconds=dict(timer.seconds))
            self._write(AUDIT_BATCH_LEDGER.qualified_name, batch_ledger.to_ledger_rows(spark, entry), ctx)
            timer.mark("ledger")
        self._accepted_before = (batch_id + 1, entry.max_event_us)
        self._replay.committed(batch_id)
        if self.on_committed is not None:
            self.on_committed(entry)
        self._maybe_build_docs(gate)
        log.info("refine batch %s: read %s, inserted %s, quarantined %s, duplicates %s (%s conflicting); "
                 "batch %.1fs (%s)", batch_id, entry.rows_read, entry.rows_inserted, entry.rows_quarantined,
                 entry.rows_duplicate, entry.rows_duplicate_conflicting, entry.batch_seconds, timer)

    def already_written(self, spark: SparkSession, ctx: BatchContext) -> frozenset[str]:
        """The tables holding rows of this batch from an earlier attempt (see pipelines.core.replay).

        Silver tables by `_silver_batch_id >= batch_id` (the reasoning of `silver_before_batch`:
        this stream owns them and numbers its batches upwards); the audit tables, shared by
        name, by this stream's `txn_app_id` and the batch id. Every column read has file
        statistics, so only matching files are opened."""
        by_batch = F.col("_silver_batch_id") >= F.lit(ctx.batch_id)
        by_app = (F.col("txn_app_id") == F.lit(ctx.app_id)) & (F.col("batch_id") == F.lit(ctx.batch_id))
        conditions = {SILVER_EVENTS.qualified_name: by_batch, SILVER_EVENTS_QUARANTINE.qualified_name: by_batch,
                      SILVER_EVENTS_DUPLICATES.qualified_name: by_batch,
                      AUDIT_QUALITY_RESULTS.qualified_name: by_app, AUDIT_BATCH_LEDGER.qualified_name: by_app}
        return frozenset(
            table for table, condition in conditions.items()
            if spark.read.format("delta").load(self.paths[table]).where(condition).limit(1).count())

    def _claim(self, spark: SparkSession) -> None:
        """Before this stream's first write (see pipelines.core.ownership)."""
        if not self._claimed:
            ownership.claim(spark, self.config, SILVER_TABLES, ownership.Owner(
                STREAM_NAME, self.checkpoint, checkpoints.query_id(spark, self.checkpoint)))
            self._claimed = True

    def standardize_and_mark(self, batch: DataFrame, cache: ExitStack, watermark_us: int | None) -> Checked:
        """Every row standardized and marked in one pass, cached once without the raw line: the
        gate, dedup, the counts and the silver.events write all read this cache."""
        rows = mark_flagged(standardize(batch, self.reference, watermark_us), self.gate.suite).drop(*RAW_COLUMNS)
        rows = _cached(cache, rows)
        return Checked(rows=rows, rows_read=rows.count())

    def explain_rejections(self, checked: Checked, cache: ExitStack) -> Rejections:
        """Reason codes for the flagged rows only (see predicates.mark_flagged), kept for the
        quarantine write so the batch is scanned for them once."""
        rows = _cached(cache, flag_rows(checked.rows.filter(F.col(FLAGGED_COL)), self.gate.suite)
                       .select(ROW_ID, FAILED_COL, REASONS_COL, "event_id"))
        return Rejections(rows=rows, failed={r[ROW_ID]: r[FAILED_COL] for r in rows.select(ROW_ID, FAILED_COL).collect()})

    def validate(self, checked: Checked, rejections: Rejections, ctx: BatchContext) -> GateResult:
        """GX over the batch; `fail` expectations stop it here, before any write, and quarantine
        decisions must be exactly GX's unexpected rows."""
        gate = self.gate.validate(checked.rows, gate_run_id=ctx.gate_run_id, rows=checked.rows_read,
                                  flagged_rows=len(rejections.failed))
        if gate.failed_fail_expectations:
            raise PipelineError("QUALITY_GATE_FAILED", {
                "batch_id": ctx.batch_id, "suite": gate.suite.name,
                "detail": "; ".join(f"{o.spec.label} ({o.unexpected_count} unexpected)"
                                    for o in gate.failed_fail_expectations)})
        check_agreement(gate, rejections.failed)
        return gate

    def deduplicate(self, spark: SparkSession, checked: Checked, batch_id: int, cache: ExitStack) -> Deduplicated:
        accepted = checked.rows.filter(~F.col(FLAGGED_COL))
        suspects = _cached(cache, duplicate_suspects(accepted, self.silver_before_batch(spark, batch_id)))
        broadcast = suspects.count() <= BROADCAST_MAX_ROWS
        return Deduplicated(accepted=accepted, suspects=suspects, broadcast_suspects=broadcast,
                            classified=classify_duplicates(accepted, suspects, broadcast=broadcast))

    def ledger_entry(self, checked: Checked, rejections: Rejections, counts: DedupCounts, gate: GateResult,
                     ctx: BatchContext, *, accepted_before: int | None,
                     watermark: int | None) -> batch_ledger.LedgerEntry:
        """The batch's counts and watermark, conservation checked before anything is written."""
        entry = batch_ledger.LedgerEntry(
            txn_app_id=ctx.app_id, batch_id=ctx.batch_id, run_id=self.run_id, gate_run_id=ctx.gate_run_id,
            suite=gate.suite.name, suite_digest=gate.suite.digest, rows_read=checked.rows_read,
            rows_inserted=counts.accepted - counts.duplicates, rows_quarantined=len(rejections.failed),
            rows_duplicate=counts.duplicates, rows_duplicate_conflicting=counts.conflicting,
            rows_late=counts.late, gx_seconds=round(gate.seconds, 3), batch_seconds=0.0,
            processed_at=ctx.processed_at, max_event_us=later(accepted_before, counts.max_event_us),
            watermark_us=watermark, properties_keys_dropped=counts.properties_dropped)
        entry.check_conservation()
        return entry

    def table_writes(self, spark: SparkSession, batch: DataFrame, rejections: Rejections, dedup: Deduplicated,
                     entry: batch_ledger.LedgerEntry, gate: GateResult, ctx: BatchContext) -> dict[str, DataFrame]:
        """Table -> the rows this batch appends to it (tables with nothing to add are left out;
        audit.quality_results always gets the batch's results)."""
        writes: dict[str, DataFrame] = {}
        if entry.rows_inserted:
            writes[SILVER_EVENTS.qualified_name] = to_table_rows(first_occurrences(
                dedup.accepted, dedup.suspects, broadcast=dedup.broadcast_suspects), SILVER_EVENTS, ctx.lineage)
        if entry.rows_quarantined:  # the Bronze rows joined to their reasons, the raw line masked
            reasons = rejections.rows.select(ROW_ID, REASONS_COL, "event_id")
            if entry.rows_quarantined <= BROADCAST_MAX_ROWS:
                reasons = F.broadcast(reasons)
            quarantined = batch.join(reasons, ROW_ID).withColumns({
                "raw": masked_raw_line(F.col("raw")),
                "raw_bytes": F.lit(None).cast("binary"),  # the original bytes stay in Bronze only
            })
            writes[SILVER_EVENTS_QUARANTINE.qualified_name] = to_table_rows(
                quarantined, SILVER_EVENTS_QUARANTINE, ctx.lineage)
        if entry.rows_duplicate:
            writes[SILVER_EVENTS_DUPLICATES.qualified_name] = to_table_rows(
                dedup.classified.filter(F.col("is_duplicate")), SILVER_EVENTS_DUPLICATES, ctx.lineage)
        writes[AUDIT_QUALITY_RESULTS.qualified_name] = quality_results.to_result_rows(
            spark, gate, txn_app_id=ctx.app_id, batch_id=ctx.batch_id, run_id=self.run_id)
        if entry.rows_read <= ONE_FILE_MAX_ROWS:
            writes = {table: rows.coalesce(1) for table, rows in writes.items()}
        return writes

    def _write_all(self, writes: dict[str, DataFrame], ctx: BatchContext) -> None:
        """The batch's table writes side by side (independent tables, each idempotent on its own).

        A batch's Delta commits are mostly fixed cost (log, snapshot, small files); in parallel,
        the batch waits for the slowest instead of the sum. Every write is awaited before the
        first failure is raised, so none is left running behind a failed batch.
        """
        from pyspark import InheritableThread

        errors: list[BaseException] = []

        def write(table: str, rows: DataFrame) -> None:
            try:
                self._write(table, rows, ctx)
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

    def _write(self, table: str, rows: DataFrame, ctx: BatchContext) -> None:
        metadata = commit_metadata(self.run_id, "silver", batch_id=ctx.batch_id, table=table,
                                   txn_app_id=ctx.app_id)
        delta_io.append(rows, self.paths[table], metadata=metadata)
        if self.on_table_written is not None:
            self.on_table_written(table, ctx.batch_id)

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
