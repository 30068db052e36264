"""Benchmark: Silver refine vs a bare parse-and-append job, and continuous landing->Silver latency.

    python benchmarks/bench_silver_refine.py --events 1000000 --bad-rate 0.02

(a) bare: a streaming availableNow job over the same bronze.events_raw rows that parses `raw`
    with the same schema (silver.contract.RAW_SCHEMA) and appends to a plain Delta table;
(b) refine: `medallion refine --once` (silver.refine.start_refine, availableNow);
both in one process and session, so the ratio is meaningful on a noisy machine; `--repeat` runs
both again on fresh Silver tables (the first run of each pays the JVM's JIT warm-up: at 1M events
bare took ~22 s cold and ~8 s warm here). Then (c) latency:
ingest and refine running continuously while files of 50 events land at ~--rate events/s for
--latency-seconds; latency = commit time of the silver.events version holding an event - the time
its file was renamed into landing. Not part of the test suite.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

from pipelines.core.config import config_from_dict  # noqa: E402


def _config(root: Path, args: argparse.Namespace):
    return config_from_dict({
        "mode": "dev",  # generated events: the development PII key is fine
        "paths": {"root": str(root)},
        "spark": {"master": "local[2]", "shuffle_partitions": 2, "driver_memory": args.driver_memory,
                  "log_level": "ERROR"},
        "refine": {"trigger_interval_seconds": 1.0, "docs_interval_seconds": 30.0},
    }, base_dir=root, source=str(root / "medallion.yaml"))


def _await(query) -> None:
    query.awaitTermination()
    if query.exception():
        raise RuntimeError(str(query.exception()))


def bare_job(spark, config) -> float:
    from pyspark.sql import functions as F

    from pipelines.core.config import join_path
    from silver.contract import CORRUPT_RECORD, RAW_SCHEMA

    target = join_path(config.warehouse, "bench", "bare_parsed")
    started = time.monotonic()
    parsed = (
        spark.readStream.format("delta").option("maxFilesPerTrigger", config.refine.max_files_per_trigger)
        .load(join_path(config.warehouse, "bronze", "events_raw"))
        .select(F.from_json("raw", RAW_SCHEMA, {"columnNameOfCorruptRecord": CORRUPT_RECORD}).alias("p"),
                "_bronze_id", "_ingested_at")
        .select("p.*", "_bronze_id", "_ingested_at")
    )
    query = (parsed.writeStream.format("delta").outputMode("append")
             .option("checkpointLocation", config.checkpoint("bench_bare")).trigger(availableNow=True)
             .start(target))
    _await(query)
    return time.monotonic() - started


def _drop_silver(spark, config) -> None:
    """Remove what refine and the bare job wrote (tables and checkpoints), keeping Bronze."""
    from pipelines.core.config import join_path

    for location in {str(Path(join_path(config.warehouse, "silver", "events")).parent),
                     str(Path(join_path(config.warehouse, "audit", "batch_ledger")).parent),
                     join_path(config.warehouse, "bench", "bare_parsed"),
                     config.checkpoint("silver_events"), config.checkpoint("bench_bare")}:
        shutil.rmtree(location, ignore_errors=True)


def throughput(args: argparse.Namespace) -> None:
    from bronze.events_raw import start_ingest
    from pipelines.core.config import join_path
    from pipelines.sample_events import write_sample_events
    from pipelines.core.spark_session import build_session
    from silver.refine import start_refine

    root = Path(args.out) / "throughput"
    shutil.rmtree(root, ignore_errors=True)
    config = _config(root, args)
    t = time.monotonic()
    write_sample_events(config.landing, events=args.events, seed=3, days=30, bad_rate=args.bad_rate,
                        files=max(1, args.events // 10_000))
    print(f"generated {args.events:,} events in {time.monotonic() - t:.1f}s")
    spark = build_session(config)
    t = time.monotonic()
    _await(start_ingest(spark, config, "bench-ingest", continuous=False))
    bronze_rows = spark.read.format("delta").load(join_path(config.warehouse, "bronze", "events_raw")).count()
    print(f"bronze: {bronze_rows:,} rows in {time.monotonic() - t:.1f}s")

    runs = []
    for attempt in range(1, args.repeat + 1):
        if attempt > 1:  # fresh Silver tables and checkpoints, same Bronze, same (warm) JVM
            _drop_silver(spark, config)
        bare_s = bare_job(spark, config)
        t = time.monotonic()
        query = start_refine(spark, config, "bench-refine", continuous=False)
        _await(query)
        refine_s = time.monotonic() - t
        runs.append((bare_s, refine_s))
        ledger = (spark.read.format("delta").load(join_path(config.warehouse, "audit", "batch_ledger"))
                  .orderBy("batch_id").collect())
        bare_rate, refine_rate = bronze_rows / bare_s, bronze_rows / refine_s
        print(f"run {attempt}/{args.repeat}" + (" (cold JVM)" if attempt == 1 else " (warm JVM)"))
        print(f"(a) bare parse+append : {bare_s:7.1f}s  {bare_rate:10,.0f} events/s")
        print(f"(b) refine --once     : {refine_s:7.1f}s  {refine_rate:10,.0f} events/s")
        print(f"    ratio refine/bare : {refine_rate / bare_rate:.2f}x (goal >= 0.5x)")
        for r in ledger:
            print(f"    batch {r['batch_id']}: {r['rows_read']:,} rows, batch {r['batch_seconds']:.1f}s "
                  f"({_phases(r['phase_seconds'])}), inserted {r['rows_inserted']:,}, "
                  f"quarantined {r['rows_quarantined']:,}, duplicates {r['rows_duplicate']:,}")
    if len(runs) > 1:
        bare_best, refine_best = min(r[0] for r in runs), min(r[1] for r in runs)
        print(f"best of {len(runs)}: bare {bare_best:.1f}s, refine {refine_best:.1f}s, "
              f"ratio {bare_best / refine_best:.2f}x (goal >= 0.5x)")
    spark.stop()


def _phases(seconds: dict[str, float] | None) -> str:
    """A batch's `audit.batch_ledger.phase_seconds`, in the order the steps ran."""
    return ", ".join(f"{k} {v:.2f}s" for k, v in (seconds or {}).items())


def latency(args: argparse.Namespace) -> None:
    from bronze.events_raw import start_ingest
    from pipelines.core.config import join_path
    from pipelines.sample_events import generate_lines
    from pipelines.core.spark_session import build_session
    from silver.refine import start_refine

    root = Path(args.out) / "latency"
    shutil.rmtree(root, ignore_errors=True)
    config = _config(root, args)
    spark = build_session(config)
    landing = Path(config.landing)
    landing.mkdir(parents=True, exist_ok=True)
    queries = [start_ingest(spark, config, "bench-latency", continuous=True),
               start_refine(spark, config, "bench-latency", continuous=True)]
    time.sleep(5)  # let both streams start
    landed: dict[str, float] = {}
    per_file = 50
    interval = per_file / args.rate

    def producer() -> None:
        deadline = time.time() + args.latency_seconds
        i = 0
        while time.time() < deadline:
            lines = generate_lines(per_file, seed=10_000 + i, days=1)
            tmp = landing / f".f{i:06d}.tmp"
            tmp.write_bytes(b"\n".join(gl.line for gl in lines) + b"\n")
            os.rename(tmp, landing / f"f{i:06d}.jsonl")
            now = time.time()
            for gl in lines:
                landed.setdefault(json.loads(gl.line)["event_id"], now)
            i += 1
            time.sleep(max(0.0, interval - (time.time() - now)))

    thread = threading.Thread(target=producer)
    thread.start()
    thread.join()
    time.sleep(15)  # drain
    for q in queries:
        q.stop()
    ledger = spark.read.format("delta").load(join_path(config.warehouse, "audit", "batch_ledger")).collect()
    history = [r["phase_seconds"] for r in ledger if r["phase_seconds"]]
    if history:
        medians = {k: statistics.median(h.get(k, 0.0) for h in history) for k in history[0]}
        print(f"    refine batches: {len(history)}, median seconds per phase (audit.batch_ledger): "
              + _phases(medians) + f"; median batch {statistics.median(r['batch_seconds'] for r in ledger):.2f}s")
    silver = join_path(config.warehouse, "silver", "events")
    commits = {}
    for r in spark.sql(f"DESCRIBE HISTORY delta.`{silver}`").collect():
        meta = json.loads(r["userMetadata"] or "{}")
        if "batch_id" in meta:
            commits[meta["batch_id"]] = r["timestamp"].timestamp()
    lat = []
    for r in spark.read.format("delta").load(silver).select("event_id", "_silver_batch_id").collect():
        if r["event_id"] in landed and r["_silver_batch_id"] in commits:
            lat.append(commits[r["_silver_batch_id"]] - landed[r["event_id"]])
    lat.sort()
    if not lat:
        print("(c) latency: no events reached silver.events")
        return
    q = statistics.quantiles(lat, n=100)
    print(f"(c) latency landing->silver.events over {len(lat):,} events (~{args.rate} events/s for "
          f"{args.latency_seconds}s): p50 {q[49]:.2f}s  p95 {q[94]:.2f}s  max {lat[-1]:.2f}s "
          f"(goal p95 <= 5s); landed {len(landed):,}")
    spark.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--bad-rate", type=float, default=0.02)
    parser.add_argument("--rate", type=int, default=1000, help="landing rate for the latency run")
    parser.add_argument("--latency-seconds", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=3,
                        help="bare + refine runs in the same session (the first pays JIT warm-up)")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--driver-memory", default="6g")
    parser.add_argument("--out", default="bench-out/silver-refine")
    args = parser.parse_args()
    if not args.skip_throughput:
        throughput(args)
    if not args.skip_latency:
        latency(args)


if __name__ == "__main__":
    main()
