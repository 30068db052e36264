"""What bounds the Bronze file source's record of the files it has taken: measured.

(a) The record at scale. Lands `--files` one-line files whose modification times are spread over
    the last `--days` days (as that many days of arrivals would leave them) and streams them
    through Bronze's own source (`read_landing`: same options, same landing pass) into a sink that
    reads nothing, so only the source's work is timed; then lands `--backfill` files dated 60
    days back (`cp -p`, `rsync -a`, a backfill), runs a landing pass, restarts the stream, and
    restarts it once more with nothing new. Prints after each step:
      - the driver's seen-files map (Spark's FileStreamSource.seenFiles): entries, estimated bytes;
      - the checkpoint's source log (`sources/0`): bytes, files, entries.
(b) Bronze end to end, small: `--bronze-files` files, then backfilled ones, through `start_ingest`
    into bronze.events_raw; every landed line must be there exactly once.
Times each phase; scales the figures to 100k files (the log grows by one line per file taken). Sets
`spark.sql.sources.parallelPartitionDiscovery.threshold` high to finish in about two minutes (see
PARALLEL_LISTING). Prints figures; asserts only that every landed file was taken, and in (b) that
Bronze holds every line exactly once.

    .venv/bin/python benchmarks/bench_landing_record.py [--files 20000] [--days 30] [--backfill 1000]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from bronze.events_raw import STREAM_NAME, read_landing, start_ingest
from bronze.landing import SOURCE_LOG, LandingWatch
from pipelines.core.config import config_from_dict, join_path
from pipelines.core.spark_session import build_session
from pipelines.core.tables import BRONZE_EVENTS_RAW

DAY = 86_400.0
# Planning a micro-batch of N small files lists them again; past this many paths Spark does it in a
# Spark job (~10 s per 1,000 files on 2 cores). Listed in the driver instead, the run takes a third
# of the time; the record it leaves is the same.
PARALLEL_LISTING = "spark.sql.sources.parallelPartitionDiscovery.threshold"


def land(landing: Path, names: list[str], mtimes: list[float]) -> None:
    landing.mkdir(parents=True, exist_ok=True)
    for name, mtime in zip(names, mtimes):
        path = landing / name
        path.write_bytes(f'{{"file":"{name}"}}\n'.encode())
        os.utime(path, (mtime, mtime))


def spread(n: int, days: float, now: float) -> list[float]:
    return [now - days * DAY + i * (days * DAY / n) for i in range(n)]


def source_log_files(checkpoint: str, *, live_only: bool = True) -> list[Path]:
    """The checkpoint's file-source log files. Live: the latest compaction and the batches after it,
    what a restart reads and what stays (Spark deletes the batch files a compaction supersedes
    10 minutes later)."""
    folder = Path(join_path(checkpoint, SOURCE_LOG))
    files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
    if not live_only:
        return files
    base = max((int(p.name.split(".")[0]) for p in files if p.name.endswith(".compact")), default=-1)
    return [p for p in files if (p.name.endswith(".compact") and int(p.name.split(".")[0]) == base)
            or (p.name.isdigit() and int(p.name) > base)]


def source_log(checkpoint: str) -> tuple[int, int, int, int]:
    """(live bytes, live entries, bytes on disk, files on disk) of the checkpoint's source log."""
    live, every = source_log_files(checkpoint), source_log_files(checkpoint, live_only=False)
    entries = sum(len(p.read_text().splitlines()) - 1 for p in live)
    return (sum(p.stat().st_size for p in live), entries, sum(p.stat().st_size for p in every), len(every))


def seen_files(spark, query) -> tuple[int, int]:
    """(entries, estimated bytes) of the query's FileStreamSource.seenFiles map, in the driver."""
    seen = query._jsq.streamingQuery().sources().apply(0).seenFiles()
    return int(seen.size()), int(spark.sparkContext._jvm.org.apache.spark.util.SizeEstimator.estimate(seen))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--days", type=float, default=30.0, help="spread of the files' modification times")
    parser.add_argument("--backfill", type=int, default=1_000, help="files landed afterwards, dated 60 days back")
    parser.add_argument("--window-hours", type=float, default=168.0, help="ingest.max_file_age_hours")
    parser.add_argument("--clean-source", default="archive", choices=["off", "archive", "delete"],
                        help="ingest.clean_source (off: nothing leaves landing, so nothing is pruned)")
    parser.add_argument("--bronze-files", type=int, default=300, help="(b): files through Bronze, then 10%% backfilled")
    parser.add_argument("--workdir", default=None, help="default: a temporary folder, removed after")
    args = parser.parse_args()

    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-landing-"))

    def config(name: str):
        return config_from_dict({
            "mode": "dev",  # generated events: the development PII key is fine
            "paths": {"root": str(work / name)},
            "spark": {"master": "local[2]", "driver_memory": "3g", "log_level": "ERROR", "shuffle_partitions": 2,
                      "conf": {PARALLEL_LISTING: "1000000"}},
            "ingest": {"max_file_age_hours": args.window_hours, "clean_source": args.clean_source},
        }, base_dir=work)

    def phase(name: str, fn):
        started = time.perf_counter()
        out = fn()
        print(f"  {name:<48s} {time.perf_counter() - started:7.1f}s")
        return out

    now = time.time()
    record = config("record")
    landing, checkpoint = Path(record.landing), record.checkpoint(STREAM_NAME)
    n, b = args.files, args.backfill
    mtimes = spread(n, args.days, now)
    in_window = sum(1 for m in mtimes if m >= mtimes[-1] - args.window_hours * 3600)
    print(f"(a) {n:,} files over {args.days:g} days ({in_window:,} in the last {args.window_hours:g}h), then "
          f"{b:,} dated 60 days back; {record.ingest.max_files_per_trigger:,} files per trigger")
    phase(f"land {n:,} files", lambda: land(landing, [f"f{i:07d}.jsonl" for i in range(n)], mtimes))
    spark = phase("Spark session", lambda: build_session(record))

    def take_files():  # Bronze's source, a sink that reads nothing: only the source's work
        query = (read_landing(spark, record).writeStream.queryName(STREAM_NAME)
                 .foreachBatch(lambda batch, batch_id: None).option("checkpointLocation", checkpoint)
                 .trigger(availableNow=True).start())
        query.awaitTermination()
        return query

    def show(query, when: str) -> None:
        entries, size = seen_files(spark, query)
        live, log_entries, on_disk, log_files = source_log(checkpoint)
        print(f"    {when}: seen-files map {entries:,} entries ~{size / 1e6:.1f} MB; source log "
              f"{log_entries:,} entries, {live / 1e6:.2f} MB ({on_disk / 1e6:.2f} MB in {log_files} files "
              f"on disk now)")

    show(phase(f"stream {n:,} files (source only)", take_files), "after the run")
    live, unpruned, _, _ = source_log(checkpoint)  # one entry per file ever taken, as Spark keeps it
    phase(f"land {b:,} files dated 60 days back",
          lambda: land(landing, [f"backfill-{i:05d}.jsonl" for i in range(b)], [now - 60 * DAY] * b))
    report = phase("landing pass (list, read log, rescue)",
                   LandingWatch(spark, record, checkpoint, STREAM_NAME).run_pass)
    print(f"    listed {report.listed:,}, read {report.log_entries:,} log entries "
          f"({report.log_bytes / 1e6:.2f} MB), rescued {len(report.rescued):,}")
    show(phase(f"restart, take the {b:,} backfilled files", take_files), "after the restart")
    query = phase("restart, nothing new", take_files)
    show(query, "after another restart")
    entries, size = seen_files(spark, query)
    # Taken: archived by Spark (it archives only files it has taken), or still in landing and in
    # the log (pruning keeps every file still in landing).
    archived = sum(1 for p in Path(record.ingest.archive_dir).rglob("*.jsonl"))
    logged = {json.loads(line)["path"].rsplit("/", 1)[-1] for p in source_log_files(checkpoint)
              for line in p.read_text().splitlines()[1:]}
    taken = archived + sum(1 for p in landing.iterdir() if p.is_file() and p.name in logged)
    assert taken == n + b, f"the source took {taken} of {n + b} files"
    _, log_entries, _, _ = source_log(checkpoint)
    print(f"    every landed file taken: {taken:,} of {n + b:,} ({archived:,} archived); the source log now has "
          f"{log_entries:,} entries, the map {entries:,}")
    print(f"  per 100k files: source log {live / unpruned * 1e5 / 1e6:.1f} MB unpruned "
          f"({live / unpruned:.0f} bytes a file ever taken); seen-files map "
          f"{size / max(entries, 1) * 1e5 / 1e6:.1f} MB ({size / max(entries, 1):.0f} bytes a file in the window)")

    bronze = config("bronze")
    k = args.bronze_files
    backfilled = max(1, k // 10)
    print(f"(b) Bronze: {k:,} files, then {backfilled:,} dated 60 days back")
    blanding = Path(bronze.landing)
    phase(f"land {k:,} files", lambda: land(blanding, [f"b{i:05d}.jsonl" for i in range(k)], spread(k, 10, now)))

    def ingest():
        start_ingest(spark, bronze, "bench-landing", continuous=False).awaitTermination()

    phase(f"ingest {k:,} files into Bronze", ingest)
    land(blanding, [f"old-{i:05d}.jsonl" for i in range(backfilled)], [now - 60 * DAY] * backfilled)
    phase(f"ingest {backfilled:,} backfilled files into Bronze", ingest)
    rows = spark.read.format("delta").load(BRONZE_EVENTS_RAW.location(bronze))
    count, distinct = rows.count(), rows.select("raw").distinct().count()
    print(f"    bronze.events_raw: {count:,} rows, {distinct:,} distinct, {k + backfilled:,} lines landed")
    spark.stop()
    assert count == distinct == k + backfilled, (count, distinct, k + backfilled)
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
