"""Runs pipeline stages: `--once` one after the other, `--continuous` all streams side by side.

Holds no business rules: each stream stage is a `start_*` function of its layer package that
returns a started StreamingQuery; the `build` stage (Gold, dbt) is a batch run, done once after the
streams, or every `gold.rebuild_interval_seconds` while they run continuously. Ctrl-C / SIGTERM
stop the streams between micro-batches where possible; exactly-once sinks make any stop safe.
"""
from __future__ import annotations

import functools
import logging
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQuery

from bronze.events_raw import STREAM_NAME as INGEST_STREAM, landing_files_pending, start_ingest
from gold.dbt_build import DbtOutcome, build_gold
from pipelines.core import delta_io, logs, pii_key
from pipelines.core.config import Config
from pipelines.core.errors import PipelineError
from pipelines.core.migrations import open_warehouse
from pipelines.core.runs import new_run_id, tag_session_commits
from pipelines.core.spark_session import build_session
from pipelines.core.streams import batch_error
from pipelines.core.tables import BRONZE_EVENTS_RAW
from pipelines.run_facts import bronze_rows_to_refine, refine_facts
from pipelines.run_progress import RunProgress
from pipelines.run_summary import (IngestFacts, RefineFacts, build_facts, closing_line,
                                   reasons_line, summary_rows)
from silver.batch_ledger import LedgerEntry
from silver.refine import start_refine
from silver.refine_batch import STREAM_NAME as REFINE_STREAM

log = logging.getLogger(__name__)


class StreamStarter(Protocol):
    def __call__(self, spark: SparkSession, config: Config, run_id: str, *,
                 continuous: bool) -> StreamingQuery: ...


# Stage name -> its start function, in pipeline order.
STREAM_STAGES: dict[str, StreamStarter] = {
    "ingest": start_ingest,
    "refine": start_refine,
}
BATCH_STAGES: tuple[str, ...] = ("build",)
ALL_STAGES: tuple[str, ...] = (*STREAM_STAGES, *BATCH_STAGES)


def _build_gold(spark: SparkSession, config: Config, run_id: str) -> DbtOutcome:
    """One in-process `dbt build` of Gold; a failed build is a failed run."""
    outcome = build_gold(config, spark=spark, run_id=run_id)
    log.info("%s", outcome.summary())
    if not outcome.success:
        raise PipelineError("GOLD_BUILD_FAILED", {"detail": outcome.error or "; ".join(outcome.failures[:3])})
    return outcome


# A listener of committed micro-batches: (stream name, batch id, rows, rows per second).
BatchListener = Callable[[str, int, int, float], None]


@dataclass
class StreamStats:
    """Rows and batches per query, from Spark's progress reports (each batch counted once)."""

    rows: dict[str, int] = field(default_factory=dict)
    batches: dict[str, int] = field(default_factory=dict)
    listener: BatchListener | None = None
    _seen: set[tuple[str, int]] = field(default_factory=set)

    def collect(self, query: StreamingQuery) -> None:
        """Fold in the query's recent progress reports (Spark keeps the last ~100)."""
        for progress in query.recentProgress:
            key = (progress.name or str(progress.id), progress.batchId)
            if key in self._seen or not progress.numInputRows:
                continue
            self._seen.add(key)
            self.rows[key[0]] = self.rows.get(key[0], 0) + progress.numInputRows
            self.batches[key[0]] = self.batches.get(key[0], 0) + 1
            log.info("%s batch %s: %s rows (%.0f rows/s)", key[0], progress.batchId,
                     progress.numInputRows, progress.processedRowsPerSecond or 0.0)
            if self.listener is not None:
                self.listener(key[0], progress.batchId, progress.numInputRows,
                              progress.processedRowsPerSecond or 0.0)


def run_stages(config: Config, stages: list[str], *, continuous: bool, spark: SparkSession | None = None,
               stop_event: threading.Event | None = None) -> int:
    """Run `stages` with one Spark session; returns the process exit status."""
    unknown = [s for s in stages if s not in ALL_STAGES]
    if unknown:
        raise PipelineError("UNKNOWN_STAGE", {"stage": ", ".join(unknown), "known": ", ".join(ALL_STAGES)})
    streams = [s for s in stages if s in STREAM_STAGES]
    build = "build" in stages
    if "refine" in streams:  # the key is required before anything is read (PII_KEY_MISSING)
        pii_key.resolve(config, announce=False)
    spark = spark or build_session(config)
    open_warehouse(spark, config)
    if "refine" in streams and "ingest" not in streams:
        # refine reads Bronze: an empty one (DDL only) when nothing was ingested yet.
        delta_io.create_table(spark, config, BRONZE_EVENTS_RAW)
    run_id = new_run_id()
    tag_session_commits(spark, run_id, "+".join(stages))
    log.info("run %s: stages %s (%s)", run_id, ", ".join(stages), "continuous" if continuous else "once")
    setup = logs.active()
    display = RunProgress(continuous=continuous, quiet=setup is not None and setup.verbosity < 0)
    ingest_files = _IngestFiles(spark, config) if "ingest" in streams else None
    stream_stage = {INGEST_STREAM: "ingest", REFINE_STREAM: "refine"}
    refined = _RowsRead()
    starters = {**STREAM_STAGES, "refine": functools.partial(start_refine, on_committed=refined.add)}

    def on_batch(stream: str, batch_id: int, rows: int, rate: float) -> None:
        stage = stream_stage.get(stream, stream)
        if stage == "refine":  # what the ledger says was read, not Spark's per-read input count
            rows = max(0, refined.total - display.rows(stage))
            done = None
        else:
            done = ingest_files.done() if ingest_files is not None else None
        display.batch(stage, batch_id, rows, rate, done=done)

    stats = StreamStats(listener=on_batch)
    started = time.monotonic()
    outcome: DbtOutcome | None = None
    with display:
        if continuous:
            _run_continuous(spark, config, [starters[s] for s in streams], run_id,
                            stop_event or _signal_stop_event(), stats,
                            rebuild_every=config.gold.rebuild_interval_seconds if build else None,
                            display=display)
        else:
            for stage in streams:
                if stage == "ingest" and ingest_files is not None:
                    display.start_stage(stage, total=ingest_files.pending_at_start, unit="files")
                else:
                    display.start_stage(stage, total=bronze_rows_to_refine(spark, config), unit="rows")
                query = starters[stage](spark, config, run_id, continuous=False)
                _await(query, stats)
                display.finish_stage(stage)
            if build:
                display.start_stage("build", total=None, unit="")
                outcome = _build_gold(spark, config, run_id)
                display.finish_stage("build")
    elapsed = time.monotonic() - started
    ingest = IngestFacts(rows=stats.rows.get(INGEST_STREAM, 0), batches=stats.batches.get(INGEST_STREAM, 0),
                         files=ingest_files.done() if ingest_files is not None else None) \
        if "ingest" in streams else None
    refine = _refine_facts(spark, config, run_id) if "refine" in streams else None
    gold = build_facts(outcome.counts, success=outcome.success, seconds=outcome.seconds) \
        if outcome is not None else None
    display.summary(summary_rows(ingest, refine, gold), reasons_line(refine),
                    closing_line(run_id, elapsed, ingest, refine, gold))
    return 0


class _RowsRead:
    """Bronze rows the refine batches of this run have read, as each batch's ledger entry is
    committed (kept in process: re-reading the ledger per batch is a Spark job that grows with it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total = 0

    def add(self, entry: LedgerEntry) -> None:
        with self._lock:
            self.total += entry.rows_read


class _IngestFiles:
    """Landed files taken by this run's ingest: pending at its start minus pending now."""

    def __init__(self, spark: SparkSession, config: Config) -> None:
        self.spark, self.config = spark, config
        self.pending_at_start = landing_files_pending(spark, config)

    def done(self) -> int | None:
        if self.pending_at_start is None:
            return None
        now = landing_files_pending(self.spark, self.config)
        return None if now is None else max(0, self.pending_at_start - now)


def _refine_facts(spark: SparkSession, config: Config, run_id: str) -> RefineFacts | None:
    """This run's refine figures; a summary that cannot be read never fails a finished run."""
    try:
        return refine_facts(spark, config, run_id)
    except Exception:  # noqa: BLE001
        log.warning("could not read this run's refine figures for the summary", exc_info=True)
        return None


def _await(query: StreamingQuery, stats: StreamStats) -> None:
    """Wait for the query to end, collecting progress; a failure becomes one clear error."""
    done = False
    while not done:
        try:
            done = bool(query.awaitTermination(0.5))
        except Exception as exc:  # StreamingQueryException
            cause = batch_error(query)  # the product's own error, with its code, when it was one
            if cause is not None:
                raise cause from exc
            raise PipelineError("STREAM_FAILED", {"stage": query.name, "detail": _first_line(exc)}) from exc
        finally:
            stats.collect(query)
    batch_error(query)  # ended normally: forget its batch function


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _signal_stop_event() -> threading.Event:
    """An event set by SIGINT/SIGTERM (only installable from the main thread)."""
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        def handler(signum: int, _frame: Any) -> None:
            log.info("received %s: stopping streams after their current micro-batch",
                     signal.Signals(signum).name)
            stop.set()
        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)
    return stop


def _run_continuous(spark: SparkSession, config: Config, starters: list[StreamStarter], run_id: str,
                    stop: threading.Event, stats: StreamStats, *, rebuild_every: float | None,
                    display: RunProgress | None = None) -> None:
    queries = [start(spark, config, run_id, continuous=True) for start in starters]
    next_build = time.monotonic() + (rebuild_every or 0.0)
    try:
        while not stop.is_set():
            if rebuild_every is not None and time.monotonic() >= next_build:
                try:  # streams keep running on their own threads meanwhile
                    outcome = _build_gold(spark, config, run_id)
                    if display is not None:
                        display.message(outcome.summary().splitlines()[0])
                except PipelineError as exc:  # keep ingesting; the next interval retries
                    log.error("%s (streams keep running; retrying in %.0fs)", exc, rebuild_every)
                next_build = time.monotonic() + rebuild_every
            for query in queries:
                if not query.isActive:
                    _await(query, stats)  # raises if it failed
                    raise PipelineError("STREAM_FAILED", {"stage": query.name, "detail": "stopped unexpectedly"})
                stats.collect(query)
            stop.wait(0.5)
    finally:
        _stop_gracefully(queries)
        for query in queries:
            stats.collect(query)


def _stop_gracefully(queries: list[StreamingQuery], timeout_s: float = 60.0) -> None:
    """Let a running micro-batch finish before stopping (a hard stop is safe, just wasteful)."""
    deadline = time.monotonic() + timeout_s
    for query in queries:
        while query.isActive and query.status.get("isTriggerActive") and time.monotonic() < deadline:
            time.sleep(0.1)
        if query.isActive:
            query.stop()
        batch_error(query)
