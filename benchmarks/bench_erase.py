"""Benchmark: `medallion erase` of one person on a lakehouse built from 1,000,000 events.

The lakehouse is built once through the real pipeline (`medallion generate` + `medallion run
--once`: Bronze, the Silver gate, the Gold dbt build) and copied for each erasure, so every run
starts from the same state. The person is the generated customer with the most lines that carry
an email (their purchases and sign-ups, in mixed-case spellings). Goal (issue 15): under 5 minutes
on a 2-core machine.

Baseline in the same run, a new process too: bare PySpark with Delta finding the person (session
start, one scan of bronze.events_raw for lines holding the email, one of silver.events for the user
id): the least any erasure costs before it writes anything. Printed: wall time of the erase command,
its phases (its own `seconds:` line), bytes of data files it wrote, old file versions it deleted,
and the ratio to the baseline.

    python benchmarks/bench_erase.py [--events 1000000] [--root bench-out/erase] [--reuse] [--repeat 1]

Not part of the test suite. Results are printed and written to <root>/results.json.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

MEDALLION = str(Path(sys.executable).with_name("medallion"))
PHASES = re.compile(r"seconds: (.*)$", re.M)
BASELINE = r"""
import sys, time
start = time.perf_counter()
from pyspark.sql import SparkSession, functions as F
from delta import configure_spark_with_delta_pip
builder = (SparkSession.builder.master("local[*]").config("spark.driver.memory", "6g")
           .config("spark.sql.shuffle.partitions", "4")
           .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
           .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog"))
spark = configure_spark_with_delta_pip(builder).getOrCreate()
spark.sparkContext.setLogLevel("ERROR")
session = time.perf_counter() - start
warehouse, email, user = sys.argv[1], sys.argv[2], sys.argv[3]
lines = spark.read.format("delta").load(warehouse + "/bronze/events_raw").where(F.instr(F.lower("raw"), email) > 0).count()
events = spark.read.format("delta").load(warehouse + "/silver/events").where(F.col("user_id") == user).count()
print(f"BASELINE session={session:.2f} total={time.perf_counter() - start:.2f} lines={lines} events={events}")
"""


def _run(args: list[str], **kw) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, **kw)
    return time.perf_counter() - start, proc


def _config(root: Path) -> Path:
    config = root / "medallion.yaml"
    config.write_text(f"mode: dev\npaths: {{root: {root / 'lakehouse'}}}\n"
                      "spark: {master: 'local[*]', driver_memory: 6g, shuffle_partitions: 4}\n")
    return config


def _build(root: Path, events: int) -> dict:
    config = _config(root)
    out = {}
    for label, args in (("generate", ["generate", "--events", str(events), "--seed", "17", "--days", "30",
                                      "--bad-rate", "0.02", "--files", "10"]),
                        ("run --once", ["run", "--once"])):
        seconds, proc = _run([MEDALLION, "-q", "--config", str(config), *args], env=_env(root))
        if proc.returncode != 0:
            sys.exit(f"{label} failed:\n{proc.stdout}\n{proc.stderr}")
        out[label] = round(seconds, 1)
        print(f"build: {label} {seconds:.1f}s", flush=True)
    return out


def _env(root: Path) -> dict:
    return {**os.environ, "DBT_TARGET_PATH": str(root / "dbt-target"), "DBT_LOG_PATH": str(root / "dbt-logs")}


def _person(landing: Path) -> tuple[str, str, int]:
    """(user id, one of their email spellings, lines with an email) of the busiest customer."""
    lines: collections.Counter = collections.Counter()
    spelling: dict[str, str] = {}
    for path in sorted(landing.glob("*")):
        with path.open("r", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if '"email"' not in line:
                    continue
                try:
                    doc = json.loads(line)
                except ValueError:
                    continue
                if isinstance(doc, dict) and isinstance(doc.get("email"), str) and isinstance(doc.get("user_id"), str):
                    lines[doc["user_id"]] += 1
                    if doc["email"] != doc["email"].strip().lower() or doc["user_id"] not in spelling:
                        spelling[doc["user_id"]] = doc["email"]
    user, count = lines.most_common(1)[0]
    return user, spelling[user], count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--root", default="bench-out/erase")
    parser.add_argument("--reuse", action="store_true", help="reuse a lakehouse built by an earlier run")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    root = Path(args.root).resolve()
    base = root / "base"
    results: dict = {"events": args.events}
    if not (args.reuse and (base / "lakehouse" / "warehouse").is_dir()):
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir(parents=True)
        results["build_seconds"] = _build(base, args.events)
    user, email, count = _person(base / "lakehouse" / "landing")
    print(f"person: {count} lines with an email", flush=True)
    runs = []
    for i in range(args.repeat):
        work = root / "work"
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(base / "lakehouse", work / "lakehouse", symlinks=True)
        for extra in ("dbt-target",):
            if (base / extra).is_dir():
                shutil.copytree(base / extra, work / extra)
        config = _config(work)
        bare, proc = _run([sys.executable, "-c", BASELINE, str(work / "lakehouse" / "warehouse"),
                           email.strip().lower(), user])
        baseline = re.search(r"BASELINE session=(\S+) total=(\S+) lines=(\d+) events=(\d+)", proc.stdout)
        if baseline is None:
            sys.exit(f"baseline failed:\n{proc.stdout}\n{proc.stderr}")
        seconds, proc = _run([MEDALLION, "--config", str(config), "erase", "--email", email,
                              "--request-id", f"BENCH-{i + 1}"], env=_env(work))
        if proc.returncode != 0:
            sys.exit(f"erase failed:\n{proc.stdout}\n{proc.stderr}")
        state = json.loads((work / "lakehouse" / "warehouse" / "_medallion" / "erasures" / f"BENCH-{i + 1}.json").read_text())
        phases = PHASES.search(proc.stdout)
        run = {"erase_seconds": round(seconds, 1), "phases": phases.group(1) if phases else "",
               "rows": state["rows"], "bytes_rewritten": state["bytes_rewritten"],
               "files_deleted": state["files_deleted"], "landing_files": state["landing_removed"] + state["landing_redacted"],
               "baseline_seconds": float(baseline.group(2)), "baseline_session_seconds": float(baseline.group(1)),
               "baseline_lines": int(baseline.group(3)), "baseline_events": int(baseline.group(4))}
        run["ratio"] = round(run["erase_seconds"] / run["baseline_seconds"], 2)
        runs.append(run)
        print(f"run {i + 1}: erase {run['erase_seconds']}s ({run['phases']}); rewrote {run['bytes_rewritten']} bytes, "
              f"deleted {run['files_deleted']} old file versions, {run['landing_files']} landing files; "
              f"rows {run['rows']}; bare-Spark baseline {run['baseline_seconds']}s "
              f"(session {run['baseline_session_seconds']}s) -> ratio {run['ratio']}x; goal: under 300 s", flush=True)
    results["runs"] = runs
    (root / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
