"""Benchmark: `medallion trace` of one row of each traceable table, from the command line, cold.

A lakehouse is built from 1,000,000 generated events through the real pipeline (`medallion
generate` + `medallion run --once`: Bronze, the Silver gate, the Gold dbt build), then each table
is traced once in a new process (`medallion -v trace <table> <key>`, as an auditor runs it), on the
row with the largest fan-in where the table has a count (the busiest campaign-day, the customer
with most orders, ...). Goal (issue 13): under 10 s for a daily campaign row.

Baselines in the same run, each a new process too: a bare delta-rs read of the same Gold row (the
least any answer costs: Python start, `deltalake` import, one table snapshot), and, unless
--skip-spark, `medallion sql` selecting that row (the old way: a JVM per question). Per trace:
wall time, and the trace's own phases (the `-v` log line: build ledger, Gold row, Silver events,
provenance; the rest is process start, imports and printing).

    python benchmarks/bench_trace.py [--events 1000000] [--root bench-out/trace] [--reuse] [--skip-spark]

Not part of the test suite. Results are printed and written to <root>/results.json.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MEDALLION = str(Path(sys.executable).with_name("medallion"))
# table -> (key columns, the column whose largest value picks the row; None: the first key)
ROWS = {
    "gold.fct_campaign_performance_daily": (("campaign_id", "date_day"), "impressions"),
    "gold.fct_campaign_performance": (("campaign_id",), "impressions"),
    "gold.fct_channel_cac_monthly": (("channel", "month_start"), "new_customers"),
    "gold.fct_channel_cac": (("channel",), "new_customers"),
    "gold.fct_customer_ltv": (("user_id",), "orders"),
    "gold.dim_campaigns": (("campaign_id",), None),
    "gold.dim_channels": (("channel",), None),
    "gold_intermediate.int_purchases__attributed": (("purchase_id",), None),
}
PHASES = re.compile(r"seconds per phase: (.*)$", re.M)


def _run(args: list[str], **kw) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, **kw)
    return time.perf_counter() - start, proc


def _build(root: Path, events: int) -> dict:
    config = root / "medallion.yaml"
    config.write_text(f"mode: dev\npaths: {{root: {root / 'lakehouse'}}}\n"
                      "spark: {master: 'local[*]', driver_memory: 6g, shuffle_partitions: 4}\n")
    out = {}
    for label, args in (("generate", ["generate", "--events", str(events), "--seed", "13", "--days", "30",
                                      "--bad-rate", "0.02", "--files", "10"]),
                        ("run --once (ingest + refine + build)", ["run", "--once"])):
        seconds, proc = _run([MEDALLION, "-q", "--config", str(config), *args])
        if proc.returncode != 0:
            raise SystemExit(f"{label} failed: {proc.stderr[-2000:]}")
        out[label] = round(seconds, 1)
        print(f"{label}: {seconds:.1f}s", flush=True)
    return out


def _pick_rows(warehouse: Path) -> dict[str, dict]:
    from deltalake import DeltaTable

    picked = {}
    for table, (key, by) in ROWS.items():
        schema, name = table.split(".")
        rows = DeltaTable(str(warehouse / schema / name)).to_pyarrow_table(
            columns=list(key) + ([by] if by else [])).to_pylist()
        rows = [r for r in rows if all(r[k] is not None for k in key)]
        row = max(rows, key=lambda r: (r[by], repr(r))) if by else min(rows, key=repr)
        picked[table] = {k: str(row[k]) for k in key}
        if by:
            picked[table]["_fan_in"] = f"{by}={row[by]}"
    return picked


BARE = """
import sys
import pyarrow as pa, pyarrow.dataset as ds
from deltalake import DeltaTable
path, *pairs = sys.argv[1:]
dataset = DeltaTable(path).to_pyarrow_dataset()
where = None
for pair in pairs:
    name, value = pair.split("=", 1)
    term = ds.field(name) == pa.scalar(value).cast(dataset.schema.field(name).type)
    where = term if where is None else where & term
rows = dataset.to_table(filter=where).to_pylist()
assert len(rows) == 1, rows
import os; os._exit(0)  # skip interpreter shutdown: delta-rs objects can abort it (delta-io/delta-rs#2184)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--root", default=str(REPO / "bench-out" / "trace"))
    parser.add_argument("--reuse", action="store_true", help="keep an already built lakehouse under --root")
    parser.add_argument("--skip-spark", action="store_true", help="no `medallion sql` baseline")
    args = parser.parse_args()
    root = Path(args.root).resolve()
    results: dict = {"events": args.events}
    if not (args.reuse and (root / "lakehouse" / "warehouse" / "gold").is_dir()):
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        results["build_seconds"] = _build(root, args.events)
    config = root / "medallion.yaml"
    warehouse = root / "lakehouse" / "warehouse"
    rows = _pick_rows(warehouse)
    results["traces"] = {}
    print(f"\n{'table':46} {'row':60} {'trace':>7} {'bare':>6} {'ratio':>6}  phases (s)")
    for table, key in rows.items():
        fan_in = key.pop("_fan_in", "")
        pairs = [f"{k}={v}" for k, v in key.items()]
        seconds, proc = _run([MEDALLION, "-v", "--config", str(config), "trace", table, *pairs])
        if proc.returncode != 0:
            raise SystemExit(f"trace {table} {pairs} failed ({proc.returncode}): {proc.stderr[-2000:]}")
        phases = dict(p.split("=") for p in PHASES.search(proc.stderr).group(1).split()) if PHASES.search(proc.stderr) else {}
        phases = {k: float(v) for k, v in phases.items()}
        schema, name = table.split(".")
        bare, bare_proc = _run([sys.executable, "-c", BARE, str(warehouse / schema / name), *pairs])
        if bare_proc.returncode != 0:
            raise SystemExit(f"bare read failed: {bare_proc.stderr[-1000:]}")
        entry = {"key": key, "fan_in": fan_in, "trace_seconds": round(seconds, 2), "bare_seconds": round(bare, 2),
                 "ratio": round(seconds / bare, 2), "phases": phases,
                 "start_imports_render": round(seconds - sum(phases.values()), 2),
                 "output_lines": len(proc.stdout.splitlines())}
        results["traces"][table] = entry
        print(f"{table:46} {' '.join(pairs)[:60]:60} {seconds:6.2f}s {bare:5.2f}s {seconds / bare:5.1f}x  "
              f"{' '.join(f'{k}={v:.2f}' for k, v in phases.items())} other={entry['start_imports_render']:.2f}"
              + (f"  ({fan_in})" if fan_in else ""), flush=True)
    if not args.skip_spark:
        key = rows["gold.fct_campaign_performance_daily"]
        query = ("select * from gold.fct_campaign_performance_daily where " +
                 " and ".join(f"{k} = '{v}'" for k, v in key.items()))
        seconds, proc = _run([MEDALLION, "-q", "--config", str(config), "sql", query])
        results["medallion_sql_daily_row_seconds"] = round(seconds, 1)
        print(f"\nreference: `medallion sql` of the daily row alone (starts Spark): {seconds:.1f}s "
              f"(rc {proc.returncode})")
    daily = results["traces"]["gold.fct_campaign_performance_daily"]["trace_seconds"]
    print(f"\ngoal: daily campaign row under 10 s: {daily:.2f}s -> {'met' if daily < 10 else 'NOT met'}")
    (root / "results.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
