"""Bronze ingest throughput: `medallion ingest --once` against a bare Spark stream, same run.

Generates N events (default 1,000,000) in ~10k-event files, then measures, with one Spark session:
  (a) bare: Structured Streaming text source -> plain Delta append (no metadata, no guarantees
      beyond Spark's own), availableNow;
  (b) medallion: the Bronze ingest stage (lineage columns, UTF-8 handling, idempotent commits,
      run-tagged commits, partitioning).
Each is run `--repeat` times alternately on fresh tables (first a small warm-up of both); the best
time of each is reported with the ratio (b)/(a) of events/s. Goal: ratio >= 0.9.

    .venv/bin/python benchmarks/bench_bronze_ingest.py [--events 1000000] [--repeat 2]
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from pipelines.core.config import config_from_dict
from pipelines.orchestration import run_stages
from pipelines.sample_events import write_sample_events
from pipelines.core.spark_session import build_session


def bare_ingest(spark, landing: str, table: str, checkpoint: str) -> None:
    query = (spark.readStream.format("text").option("maxFilesPerTrigger", 1000).load(landing)
             .writeStream.format("delta").option("checkpointLocation", checkpoint)
             .trigger(availableNow=True).start(table))
    query.awaitTermination()


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--events-per-file", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--workdir", default=None, help="default: a temporary folder, removed after")
    args = parser.parse_args()

    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-bronze-"))
    landing = work / "landing"
    files = max(1, args.events // args.events_per_file)
    t0 = time.perf_counter()
    write_sample_events(str(landing), events=args.events, seed=42, bad_rate=0.0, files=files)
    lines = sum(1 for f in landing.glob("*.jsonl") for _ in f.open("rb"))
    size_mb = sum(f.stat().st_size for f in landing.glob("*.jsonl")) / 1e6
    print(f"generated {lines} events in {files} files ({size_mb:.0f} MB) in {time.perf_counter() - t0:.1f}s")

    def config(name: str):
        return config_from_dict({"paths": {"root": str(work / name), "landing": str(landing)},
                                 "spark": {"driver_memory": "4g", "log_level": "ERROR"}},
                                base_dir=work)

    spark = build_session(config("session"))
    warm = work / "warm-landing"
    write_sample_events(str(warm), events=20_000, seed=1, files=2)
    bare_ingest(spark, str(warm), str(work / "warm-bare"), str(work / "warm-bare-ck"))
    run_stages(config_from_dict({"paths": {"root": str(work / "warm"), "landing": str(warm)}}, base_dir=work),
               ["ingest"], continuous=False, spark=spark)

    bare_times, ours_times = [], []
    for i in range(args.repeat):
        bare_times.append(timed(lambda: bare_ingest(spark, str(landing), str(work / f"bare{i}"),
                                                    str(work / f"bare{i}-ck"))))
        cfg = config(f"ours{i}")
        ours_times.append(timed(lambda: run_stages(cfg, ["ingest"], continuous=False, spark=spark)))
        n_bare = spark.read.format("delta").load(str(work / f"bare{i}")).count()
        n_ours = spark.read.format("delta").load(f"{cfg.warehouse}/bronze/events_raw").count()
        assert n_bare == n_ours == lines, (n_bare, n_ours, lines)

    bare, ours = min(bare_times), min(ours_times)
    print(f"bare Spark text->Delta stream : {lines / bare:>10,.0f} events/s  (best of {bare_times})")
    print(f"medallion ingest --once       : {lines / ours:>10,.0f} events/s  (best of {ours_times})")
    print(f"ratio medallion/bare          : {bare / ours:.2f}  (goal >= 0.9)")
    spark.stop()
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
