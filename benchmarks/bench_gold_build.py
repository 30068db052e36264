"""Benchmark: `medallion build` (dbt, Gold) on Silver built from 1,000,000 events.

Four figures (issue 4): full refresh vs incremental after 10% more events, each warm in-process
(dbtRunner in a process whose Spark session is already up) and as a cold CLI run (a new
`medallion build` process: Python + JVM start, catalog registration, dbt parse, build).
Goal: incremental <= 0.5x full refresh.

Silver comes from the sample generator: through the real pipeline (`medallion run --once`) when
its stages include Silver refinement, else written directly from the generator's clean events with
the plain-Python standardization of tests/integration/gold_testkit.py (via Arrow/Parquet, fast).
The extra 10% are new events in the last 3 days of the window, like a day of fresh traffic plus
late arrivals; the incremental build recomputes the dates (and customers) they touch.

Every build is `medallion build` as production runs it (models + data tests; dbt unit tests are
left to CI, the same way for the full and the incremental builds).

    python benchmarks/bench_gold_build.py [--events 1000000] [--root bench-out/gold] [--select ...]
        [--dbt-args "--exclude resource_type:test"] [--threads N] [--silver-cache DIR] [--skip-cli]

Not part of the test suite. Results are printed and written to <root>/results.json; each timed
build's run_results.json (per-node timings) is kept as <root>/run_results-<build>.json.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _silver_via_arrow(spark, config, events: list[dict], tmp: Path) -> int:
    """Append generator events to silver.events (DDL-created) through a Parquet file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tests.integration.gold_testkit import COLUMNS, create_silver_events, seed_fx_rates_usd, \
        silver_events_path, silver_rows_from_generated

    rows = silver_rows_from_generated(events, seed_fx_rates_usd())
    create_silver_events(spark, config)
    schema = spark.read.format("delta").load(silver_events_path(config)).schema
    arrow_types = {"StringType()": pa.string(), "TimestampType()": pa.timestamp("us", tz="UTC"),
                   "DateType()": pa.date32(), "BooleanType()": pa.bool_(), "LongType()": pa.int64(),
                   "DecimalType(18,4)": pa.decimal128(18, 4), "DecimalType(18,8)": pa.decimal128(18, 8)}
    fields = []
    for f in schema.fields:
        fields.append(pa.field(f.name, arrow_types[repr(f.dataType)]))
    columns = {}
    for name in COLUMNS:
        values = [r[name] for r in rows]
        if name in ("event_ts", "_ingested_at", "_processed_at"):
            values = [v.replace(tzinfo=dt.timezone.utc) for v in values]
        columns[name] = values
    table = pa.Table.from_pydict(columns, schema=pa.schema(fields))
    tmp.mkdir(parents=True, exist_ok=True)
    part = tmp / f"silver-{time.time_ns()}.parquet"
    pq.write_table(table, part)
    (spark.read.schema(schema).parquet(str(part))
     .write.format("delta").mode("append").save(silver_events_path(config)))
    part.unlink()
    return len(rows)


def _load_silver(spark, config, *, events: int, seed: int, days: int, start, tmp: Path,
                 mode: str = "auto") -> str:
    from pipelines import orchestration
    from pipelines.sample_events import clean_events, generate_lines, write_sample_events

    if mode == "pipeline" or (mode == "auto" and "refine" in getattr(orchestration, "STREAM_STAGES", {})):
        write_sample_events(config.landing, events=events, seed=seed, days=days, start=start, files=20)
        orchestration.run_stages(config, list(orchestration.ALL_STAGES), continuous=False, spark=spark)
        return "pipeline (landing -> bronze -> silver)"
    _silver_via_arrow(spark, config, clean_events(generate_lines(events, seed=seed, days=days, start=start)), tmp)
    return "generator events written to silver.events directly (plain-Python standardization)"


def _cache_matches(cache: Path | None, root: Path) -> bool:
    """A Silver cache is reusable only at the root it was made at (checkpoints hold absolute paths)."""
    marker = cache / "root" if cache is not None else None
    return marker is not None and marker.is_file() and marker.read_text() == str(root)


def _keep_run_results(root: Path, label: str) -> None:
    """Copy this build's run_results.json (per-node timings) to <root>/run_results-<label>.json."""
    source = root / "dbt-target" / "run_results.json"
    if source.is_file():
        shutil.copyfile(source, root / f"run_results-{label}.json")


def _timed_inprocess(spark, config, args: list[str], root: Path, label: str) -> tuple[float, str]:
    from gold.dbt_build import build_gold

    started = time.monotonic()
    outcome = build_gold(config, args, spark=spark)
    elapsed = time.monotonic() - started
    if not outcome.success:
        raise SystemExit(outcome.summary())
    _keep_run_results(root, label)
    return elapsed, outcome.summary().splitlines()[0]


def _timed_cli(config_file: Path, args: list[str], env: dict, root: Path, label: str) -> float:
    started = time.monotonic()
    proc = subprocess.run([str(Path(sys.executable).with_name("medallion")), "--config", str(config_file),
                           "build", *args], cwd=REPO, env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(proc.stdout[-4000:] + proc.stderr[-4000:])
    _keep_run_results(root, label)
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--root", default=str(REPO / "bench-out" / "gold"))
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--select", nargs="*", default=[], help="extra dbt selection (default: everything)")
    parser.add_argument("--dbt-args", default="", help='more dbt args for every timed build, e.g. '
                                                       '"--exclude resource_type:test"')
    parser.add_argument("--silver", choices=("auto", "pipeline", "direct"), default="auto",
                        help="how Silver is built: the real pipeline (auto when available) or written directly")
    parser.add_argument("--threads", type=int, default=0, help="gold.threads (dbt threads); 0 = the config default")
    parser.add_argument("--skip-cli", action="store_true", help="only the warm in-process figures")
    parser.add_argument("--silver-cache", default="",
                        help="folder keeping the initial lakehouse (Silver loaded, nothing built) between "
                             "runs of the same --events/--root: restored instead of reloaded (untimed step)")
    opts = parser.parse_args()

    import yaml

    from pipelines.core.config import load_config
    from pipelines.sample_events import DEFAULT_END_DATE
    from pipelines.core.spark_session import build_session

    root = Path(opts.root).resolve()
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    config_file = root / "medallion.yaml"
    config_file.write_text(yaml.safe_dump({
        "mode": "dev",  # generated events: the development PII key is fine
        "paths": {"root": str(root / "lakehouse")},
        "spark": {"master": opts.master, "driver_memory": "6g", "shuffle_partitions": 4, "log_level": "ERROR"},
        "gold": {**({"threads": opts.threads} if opts.threads else {})},
    }))
    env = {**os.environ, "DBT_TARGET_PATH": str(root / "dbt-target"), "DBT_LOG_PATH": str(root / "dbt-logs"),
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    os.environ.update({k: env[k] for k in ("DBT_TARGET_PATH", "DBT_LOG_PATH", "DBT_SEND_ANONYMOUS_USAGE_STATS")})
    config = load_config(str(config_file))
    spark = build_session(config)
    extra = [*(["--select", *opts.select] if opts.select else []), *shlex.split(opts.dbt_args)]
    tenth = max(1, opts.events // 10)
    recent = DEFAULT_END_DATE - dt.timedelta(days=2)
    results: dict = {"events": opts.events, "master": opts.master, "extra_dbt_args": extra}

    t = time.monotonic()
    cache = Path(opts.silver_cache).resolve() / f"{opts.events}-{opts.silver}" if opts.silver_cache else None
    if _cache_matches(cache, root):
        shutil.copytree(cache / "lakehouse", root / "lakehouse")
        results["silver_source"] = f"restored from {cache}"
    else:
        results["silver_source"] = _load_silver(spark, config, events=opts.events, seed=1, days=30, start=None,
                                               tmp=root / "tmp", mode=opts.silver)
        if cache is not None:
            shutil.rmtree(cache, ignore_errors=True)
            shutil.copytree(root / "lakehouse", cache / "lakehouse")
            (cache / "root").write_text(str(root))
    results["silver_load_s"] = round(time.monotonic() - t, 1)
    print(f"silver: {opts.events:,} events in {results['silver_load_s']}s ({results['silver_source']})")

    # Warm-up: first build creates every table (and warms the JIT); not reported.
    results["first_build_s"] = round(_timed_inprocess(spark, config, extra, root, "first")[0], 1)
    print(f"first build (untimed warm-up): {results['first_build_s']}s")

    s, line = _timed_inprocess(spark, config, ["--full-refresh", *extra], root, "warm-full")
    results["warm_full_refresh_s"] = round(s, 1)
    print(f"warm in-process full refresh: {s:.1f}s  [{line}]")
    _load_silver(spark, config, events=tenth, seed=2, days=3, start=recent, tmp=root / "tmp", mode=opts.silver)
    s, line = _timed_inprocess(spark, config, extra, root, "warm-incremental")
    results["warm_incremental_s"] = round(s, 1)
    print(f"warm in-process incremental (+{tenth:,} events): {s:.1f}s  [{line}]")

    if opts.skip_cli:
        results["warm_ratio"] = round(results["warm_incremental_s"] / results["warm_full_refresh_s"], 2)
        print(f"incremental / full refresh (warm): {results['warm_ratio']} (goal <= 0.5)")
        (root / "results.json").write_text(json.dumps(results, indent=2))
        return 0
    s = _timed_cli(config_file, ["--full-refresh", *extra], env, root, "cold-full")
    results["cold_cli_full_refresh_s"] = round(s, 1)
    print(f"cold CLI `medallion build --full-refresh`: {s:.1f}s")
    _load_silver(spark, config, events=tenth, seed=3, days=3, start=recent, tmp=root / "tmp", mode=opts.silver)
    s = _timed_cli(config_file, extra, env, root, "cold-incremental")
    results["cold_cli_incremental_s"] = round(s, 1)
    print(f"cold CLI `medallion build` incremental (+{tenth:,} events): {s:.1f}s")

    results["warm_ratio"] = round(results["warm_incremental_s"] / results["warm_full_refresh_s"], 2)
    results["cold_ratio"] = round(results["cold_cli_incremental_s"] / results["cold_cli_full_refresh_s"], 2)
    print(f"incremental / full refresh: warm {results['warm_ratio']}, cold {results['cold_ratio']} (goal <= 0.5)")
    (root / "results.json").write_text(json.dumps(results, indent=2))
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
