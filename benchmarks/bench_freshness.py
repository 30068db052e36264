"""Benchmark: landing -> visible in silver.events (and Gold) under sustained load, from outside.

The product runs as production runs it, in its own process: `medallion run --continuous` (ingest
and refine streams side by side, Gold rebuilt every gold.rebuild_interval_seconds) with
`spark.master: local[2]`. This process only lands files and reads Delta logs, so the figures are
what a consumer of the tables sees:

- a writer thread lands files of --per-file events (50) at --rate events/s on a fixed schedule
  (write to a dot-prefixed temp file, then rename into the landing folder); the time right after
  the rename is each event's landing time. The lines come from the sample generator
  (`generate_lines(..., days=1)`, --bad-rate bad lines), generated before the timed phase so the
  writer costs next to no CPU while it runs;
- a reader thread tails the Delta logs every --poll-seconds: each new commit of silver.events is
  read from its `_delta_log/<version>.json` (the files it adds), and only the `event_id` column of
  those Parquet files is read (pyarrow); the poll time is the event's visibility time. The same
  tail of bronze.events_raw (column `_source` only) times each landed file's arrival in Bronze,
  which splits landing -> Silver into landing -> Bronze and Bronze -> Silver. With --gold it also
  tails audit.gold_builds: an event is visible in Gold when the first successful build
  (invocation row) whose `silver_version` is at least the Silver version holding the event is
  seen. At the end, with the product stopped, delta-rs (`deltalake`) lists silver.events as a
  cross-check of the tail, and audit.batch_ledger gives the median seconds per refine phase.

One run per rate, each in a fresh root (<out>/<rate>, <out>/<rate>-gold with --gold) holding
its medallion.yaml (`mode: dev`, local[2], 4g driver, log level ERROR, plus any --set), the
product's output (run.log) and results.json. A warm-up file is landed first and waited for
(product start, JIT), then the timed phase lasts --seconds, then a drain of up to --drain-seconds
for the last events. Events Silver must quarantine, and redelivered lines, never appear in
silver.events: they are counted apart (from the generator's own classification), not timed.

Verdict per rate: "sustained" when every event was visible by the end of the drain, the
latency-vs-landing-time regression slope is under 1 s per minute and the p95 of the last third
of the run is at most twice that of the first third plus 1 s; else "falling behind". --rates
runs several rates in turn and names the highest one sustained. Without --gold no Gold build runs
during the measurement (gold.rebuild_interval_seconds is set beyond the run's length).

--bare runs the baseline instead of medallion, measured the same way: a bare Spark stream from the
landing folder straight to a Delta table at silver.events' location (see bare_worker), the
freshness a hand-rolled job gets on the same machine; the product's figures are read against it.

    python benchmarks/bench_freshness.py [--rate 1000] [--seconds 600] [--per-file 50]
        [--rates 1000,1500,2000] [--gold [--gold-interval 30]] [--poll-seconds 0.1]
        [--drain-seconds 60] [--bad-rate 0.02] [--set refine.trigger_interval_seconds=0.5]
        [--out bench-out/freshness]

Goal (issue: freshness): landing -> silver.events p95 <= 5 s at 1,000 events/s for 10 minutes
on a 2-core machine. Not part of the test suite. Results are printed and written to
<root>/results.json (and <out>/summary.json for --rates).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import timezone
from pathlib import Path
from typing import Any, Callable
from urllib.parse import unquote, urlparse

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
MEDALLION = str(Path(sys.executable).with_name("medallion"))
GOAL_P95_SECONDS = 5.0
WARMUP_TIMEOUT = 300.0
STOP_TIMEOUT = 90.0
GEN_CHUNK_EVENTS = 50_000  # generator calls of this size (memory), each with its own seed
# Variables that would override the config file's paths / master in the product (pipelines.core.config)
_ENV_OVERRIDES = ("MEDALLION_CONFIG", "MEDALLION_ROOT", "MEDALLION_LANDING", "MEDALLION_WAREHOUSE",
                  "MEDALLION_CHECKPOINTS", "MEDALLION_SPARK_MASTER", "DBT_TARGET")


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------

def _set_dotted(data: dict, assignment: str) -> None:
    """`a.b.c=value` into data['a']['b']['c'], the value parsed as YAML (0.5, true, [x], ...);
    `spark.conf.<spark key>=value` keeps the Spark key whole."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key.strip():
        raise SystemExit(f"--set expects key=value, got {assignment!r}")
    parts = key.strip().split(".")
    if parts[:2] == ["spark", "conf"] and len(parts) > 3:  # Spark conf keys hold dots themselves
        parts = ["spark", "conf", ".".join(parts[2:])]
    *parents, leaf = parts
    node = data
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise SystemExit(f"--set {key}: {part} is not a section")
        node = child
    node[leaf] = yaml.safe_load(raw)


def _config_data(root: Path, args: argparse.Namespace) -> dict:
    data: dict[str, Any] = {
        "mode": "dev",  # generated events: the development PII key is fine
        "paths": {"root": str(root)},
        "spark": {"master": "local[2]", "driver_memory": "4g", "log_level": "ERROR"},
        # `run --continuous` always builds Gold on this interval: without --gold, past the run's end
        "gold": {"rebuild_interval_seconds": float(args.gold_interval) if args.gold else 7 * 86400.0},
    }
    for assignment in args.set or ():
        _set_dotted(data, assignment)
    return data


def _fresh_root(root: Path) -> None:
    """Remove an earlier run of this benchmark (never a folder that does not look like one)."""
    if root.exists():
        known = {"medallion.yaml", "run.log", "results.json", "landing", "warehouse", "checkpoints",
                 "docs", "logs", "archive"}
        strangers = [p.name for p in root.iterdir() if p.name not in known]
        if strangers:
            raise SystemExit(f"{root} exists and holds {strangers[:5]}: not a bench_freshness root, "
                             "pick another --out")
        shutil.rmtree(root)
    root.mkdir(parents=True)


# --------------------------------------------------------------------------------------------
# Events: generated up front, landed on a schedule
# --------------------------------------------------------------------------------------------

@dataclass
class Corpus:
    """The timed phase's files, ready to land: bytes and the event ids each holds."""

    files: list[tuple[bytes, tuple[str, ...]]]
    expected: set[str]  # ids a correct pipeline keeps in silver.events (generator's clean_events)
    lines: int = 0
    unparseable: int = 0
    seconds: float = 0.0


def _event_id(line: bytes) -> str | None:
    try:
        value = json.loads(line)
    except Exception:  # noqa: BLE001 - malformed JSON, invalid UTF-8: no id
        return None
    event_id = value.get("event_id") if isinstance(value, dict) else None
    return event_id if isinstance(event_id, str) and event_id else None


def generate_corpus(files: int, per_file: int, *, seed: int, bad_rate: float) -> Corpus:
    from pipelines.sample_events import clean_events, generate_lines

    started = time.perf_counter()
    corpus = Corpus(files=[], expected=set())
    total = files * per_file
    chunk = max(per_file, GEN_CHUNK_EVENTS // per_file * per_file)  # files never straddle chunks
    for index, offset in enumerate(range(0, total, chunk)):
        lines = generate_lines(min(chunk, total - offset), seed=seed + index, days=1, bad_rate=bad_rate)
        corpus.expected.update(e["event_id"] for e in clean_events(lines))
        for start in range(0, len(lines), per_file):
            part = lines[start:start + per_file]
            ids = tuple(e for e in (_event_id(gl.line) for gl in part) if e is not None)
            corpus.unparseable += len(part) - len(ids)
            corpus.files.append((b"\n".join(gl.line for gl in part) + b"\n", ids))
        corpus.lines += len(lines)
    corpus.seconds = time.perf_counter() - started
    return corpus


def land(landing: Path, name: str, data: bytes) -> float:
    """Write a dot-prefixed temp file (the ingest stream ignores those), rename it into place;
    the wall time right after the rename."""
    tmp = landing / f".{name}.tmp"
    tmp.write_bytes(data)
    os.rename(tmp, landing / name)
    return time.time()


def file_name(seq: int) -> str:
    return f"f{seq:06d}.jsonl"


@dataclass
class Writer:
    landing: Path
    corpus: Corpus
    interval: float
    stop: threading.Event
    landed: dict[str, float] = field(default_factory=dict)  # event id -> first landing time
    file_of: dict[str, int] = field(default_factory=dict)  # event id -> seq of the file that landed it
    file_landed: dict[int, float] = field(default_factory=dict)
    duplicate_lines: int = 0
    started: float = 0.0
    finished: float = 0.0
    max_lag: float = 0.0
    late_files: int = 0  # landed more than one interval behind schedule
    cpu_seconds: float = 0.0
    error: BaseException | None = None

    def run(self, t0: float) -> None:
        cpu = time.thread_time()
        self.started = t0
        try:
            for seq, (data, ids) in enumerate(self.corpus.files):
                due = t0 + seq * self.interval  # fixed schedule: never drifts with write times
                wait = due - time.time()
                if wait > 0 and self.stop.wait(wait):
                    break
                if self.stop.is_set():
                    break
                now = land(self.landing, file_name(seq), data)
                self.file_landed[seq] = now
                lag = now - due
                self.max_lag = max(self.max_lag, lag)
                self.late_files += lag > self.interval
                for event_id in ids:
                    if event_id in self.landed:
                        self.duplicate_lines += 1
                    else:
                        self.landed[event_id] = now
                        self.file_of[event_id] = seq
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            self.error = exc
        finally:
            self.finished = time.time()
            self.cpu_seconds = time.thread_time() - cpu

    @property
    def lines_written(self) -> int:
        return sum(self.corpus.files[s][0].count(b"\n") for s in self.file_landed)


# --------------------------------------------------------------------------------------------
# Reading: tail of Delta logs
# --------------------------------------------------------------------------------------------

def _local_path(uri: str) -> Path:
    return Path(unquote(urlparse(uri).path)) if "://" in uri or uri.startswith("file:") else Path(uri)


class LogTail:
    """Follows one Delta table's `_delta_log/<20-digit version>.json` commits in order and hands the
    requested columns of the data files each commit adds (dataChange only: compactions re-add rows
    already seen) to `on_rows(version, seen_at, table)`; `seen_at` is the wall time the commit file
    was first found."""

    def __init__(self, location: str, columns: list[str], on_rows: Callable[[int, float, Any], None]) -> None:
        self.root = _local_path(location)
        self.log = self.root / "_delta_log"
        self.columns = columns
        self.on_rows = on_rows
        self.next_version = 0
        self.commits: list[tuple[int, float, int]] = []  # (version, seen_at, rows)

    def poll(self) -> int:
        import pyarrow.parquet as pq

        found = 0
        while True:
            try:
                text = (self.log / f"{self.next_version:020d}.json").read_text(encoding="utf-8")
            except FileNotFoundError:
                return found
            seen_at = time.time()
            try:
                actions = [json.loads(line) for line in text.splitlines() if line.strip()]
            except json.JSONDecodeError:  # not complete yet (a non-atomic store): next poll
                return found
            rows = 0
            for action in actions:
                add = action.get("add")
                if not add or not add.get("dataChange", True):
                    continue
                path = add["path"]
                target = _local_path(path) if "://" in path else self.root / unquote(path)
                table = pq.ParquetFile(target).read(columns=self.columns)
                rows += table.num_rows
                self.on_rows(self.next_version, seen_at, table)
            self.commits.append((self.next_version, seen_at, rows))
            self.next_version += 1
            found += 1


@dataclass
class Reader:
    config: Any
    poll_seconds: float
    gold: bool
    stop: threading.Event = field(default_factory=threading.Event)
    silver_seen: dict[str, tuple[float, int]] = field(default_factory=dict)  # id -> (seen_at, version)
    bronze_seen: dict[str, float] = field(default_factory=dict)  # landed file name -> seen_at
    builds: list[dict] = field(default_factory=list)  # successful Gold invocations, in seen order
    failed_builds: int = 0
    polls: int = 0
    poll_wall: float = 0.0
    max_poll_wall: float = 0.0
    cpu_seconds: float = 0.0
    error: BaseException | None = None

    def __post_init__(self) -> None:
        import pyarrow.parquet  # noqa: F401 - imported once here, not during a timed poll

        from pipelines.core.tables import AUDIT_GOLD_BUILDS, BRONZE_EVENTS_RAW, SILVER_EVENTS

        self.silver = LogTail(SILVER_EVENTS.location(self.config), ["event_id"], self._silver_rows)
        self.bronze = LogTail(BRONZE_EVENTS_RAW.location(self.config), ["_source"], self._bronze_rows)
        self.tails = [self.silver, self.bronze]
        if self.gold:
            self.gold_tail = LogTail(AUDIT_GOLD_BUILDS.location(self.config),
                                     ["resource_type", "status", "silver_version", "invocation_id",
                                      "started_at", "finished_at"], self._gold_rows)
            self.tails.append(self.gold_tail)

    def _silver_rows(self, version: int, seen_at: float, table: Any) -> None:
        seen = self.silver_seen
        for event_id in table.column("event_id").to_pylist():
            if event_id not in seen:
                seen[event_id] = (seen_at, version)

    def _bronze_rows(self, version: int, seen_at: float, table: Any) -> None:
        for source in table.column("_source").unique().to_pylist():
            if source:
                self.bronze_seen.setdefault(source.rstrip("/").rsplit("/", 1)[-1], seen_at)

    def _gold_rows(self, version: int, seen_at: float, table: Any) -> None:
        for row in table.to_pylist():
            if row["resource_type"] != "invocation":
                continue
            if row["status"] != "success" or row["silver_version"] is None:
                self.failed_builds += 1
                continue
            took = None
            if row["started_at"] is not None and row["finished_at"] is not None:
                took = (row["finished_at"] - row["started_at"]).total_seconds()
            self.builds.append({"seen_at": seen_at, "silver_version": int(row["silver_version"]),
                                "invocation_id": row["invocation_id"], "build_seconds": took})

    def poll_once(self) -> None:
        started = time.perf_counter()
        for tail in self.tails:
            tail.poll()
        took = time.perf_counter() - started
        self.polls += 1
        self.poll_wall += took
        self.max_poll_wall = max(self.max_poll_wall, took)

    def run(self) -> None:
        cpu = time.thread_time()
        try:
            while not self.stop.is_set():
                self.poll_once()
                self.stop.wait(self.poll_seconds)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            self.error = exc
        finally:
            self.cpu_seconds = time.thread_time() - cpu


# --------------------------------------------------------------------------------------------
# The product process
# --------------------------------------------------------------------------------------------

def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no run.log)"


def start_product(config_file: Path, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in _ENV_OVERRIDES}
    env["GX_ANALYTICS_ENABLED"] = "false"
    with log.open("wb") as out:  # the child keeps its own handle
        return subprocess.Popen([MEDALLION, "--config", str(config_file), "-q", "run", "--continuous"],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                cwd=config_file.parent, start_new_session=True)


def start_bare(config_file: Path, log: Path) -> subprocess.Popen:
    """The baseline in place of the product: `bare_worker` in its own process, same output."""
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--bare-worker", str(config_file)],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=config_file.parent, start_new_session=True)


def bare_worker(config_file: str) -> None:
    """A bare Spark job a team might hand-roll: the landing folder as a text stream, `event_id`
    parsed with from_json, appended to a plain Delta table at silver.events' location on the same
    1 s trigger and local[2]; no Bronze, gate, dedup, audit or lineage. Stops on SIGTERM."""
    import signal

    from delta import configure_spark_with_delta_pip
    from pyspark.sql import SparkSession, functions as F

    from pipelines.core.config import load_config
    from pipelines.core.tables import SILVER_EVENTS

    config = load_config(config_file, env={})
    builder = (SparkSession.builder.master("local[2]").appName("bench-bare")
               .config("spark.driver.memory", "4g").config("spark.ui.enabled", "false")
               .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
               .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
               .config("spark.sql.shuffle.partitions", "2"))
    spark = configure_spark_with_delta_pip(builder).getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    lines = (spark.readStream.format("text").option("pathGlobFilter", "*.jsonl")
             .option("maxFilesPerTrigger", config.ingest.max_files_per_trigger).load(config.landing))
    parsed = lines.select(F.get_json_object("value", "$.event_id").alias("event_id"), F.col("value").alias("raw"))
    query = (parsed.where(F.col("event_id").isNotNull()).writeStream.format("delta")
             .option("checkpointLocation", str(Path(config.paths.root) / "checkpoints" / "bare"))
             .trigger(processingTime="1 second").start(SILVER_EVENTS.location(config)))
    signal.signal(signal.SIGTERM, lambda *_: query.stop())
    query.awaitTermination()
    spark.stop()


def stop_product(proc: subprocess.Popen) -> int | None:
    """SIGTERM to medallion alone (it stops its streams between batches, then its JVM), then kill
    its process group (it started one: start_new_session) on timeout or when a JVM lingers."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            print(f"  medallion did not stop within {STOP_TIMEOUT:.0f}s of SIGTERM: killing it", flush=True)
            _kill_group(proc.pid)
            proc.wait()
    deadline = time.monotonic() + 10
    while _group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    if _group_alive(proc.pid):
        _kill_group(proc.pid)
    return proc.returncode


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _check_alive(proc: subprocess.Popen, log: Path) -> None:
    if proc.poll() is not None:
        raise RuntimeError(f"medallion run --continuous exited (rc {proc.returncode}); "
                           f"last lines of {log}:\n{_tail(log)}")


def tree_cpu_seconds(pid: int) -> float | None:
    """User+system CPU seconds of a process and all its live descendants (the JVM), plus what
    their reaped children used, from /proc (no psutil needed)."""
    try:
        import psutil  # type: ignore[import-not-found]
    except ImportError:
        psutil = None
    if psutil is not None:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
            total = 0.0
            for p in procs:
                try:
                    t = p.cpu_times()
                    total += t.user + t.system + t.children_user + t.children_system
                except psutil.Error:
                    pass
            return total
        except psutil.Error:
            return None
    ticks = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        fields = text[text.rfind(")") + 2:].split()  # after "pid (comm) "
        # fields[1] = ppid; [11..14] = utime, stime, cutime, cstime
        stats[int(entry.name)] = (int(fields[1]), sum(int(f) for f in fields[11:15]) / ticks)
    if pid not in stats:
        return None
    children: dict[int, list[int]] = {}
    for p, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(p)
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += stats[p][1]
        todo.extend(children.get(p, ()))
    return total


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------

def _pcts(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    values = sorted(values)
    out: dict[str, Any] = {"n": len(values), "min": values[0], "max": values[-1],
                           "mean": statistics.fmean(values)}
    if len(values) >= 2:
        q = statistics.quantiles(values, n=100, method="inclusive")
        out.update(p50=q[49], p95=q[94], p99=q[98])
    else:
        out.update(p50=values[0], p95=values[0], p99=values[0])
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in out.items()}


def _fmt(p: dict[str, Any]) -> str:
    if not p.get("n"):
        return "no events"
    return (f"p50 {p['p50']:.2f}s  p95 {p['p95']:.2f}s  p99 {p['p99']:.2f}s  max {p['max']:.2f}s  "
            f"(n {p['n']:,})")


def _map_items(value: Any) -> list[tuple[str, float]]:
    """A Delta MAP as Arrow gives it (a list of (key, value) pairs, or a dict)."""
    if value is None:
        return []
    if isinstance(value, dict):
        return list(value.items())
    return [(k, v) for k, v in value]


def read_delta(location: str, columns: list[str]) -> Any:
    """The current snapshot of a Delta table through delta-rs (its files), read with pyarrow.

    Not `DeltaTable.to_pyarrow_table()`/`to_pandas()`: with deltalake 1.6.6 and pyarrow 26 those
    often abort the interpreter at exit ("terminate called without an active exception", delta-rs
    issue 2184); reading the files delta-rs lists does not. Fine for these append-only tables
    (no deletion vectors) and columns that are not partition columns."""
    import pyarrow.dataset as ds
    from deltalake import DeltaTable

    return ds.dataset(DeltaTable(location).file_uris(), format="parquet").to_table(columns=columns)


def _epoch(ts: Any) -> float:
    return (ts if ts.tzinfo is not None else ts.replace(tzinfo=timezone.utc)).timestamp()


_PHASE_ORDER = {k: i for i, k in enumerate(("standardize", "reasons", "gx", "dedup", "counts", "writes"))}


def ledger_figures(config: Any, since: float) -> dict[str, Any]:
    """audit.batch_ledger rows processed from `since` on (the timed phase and the drain)."""
    from pipelines.core.tables import AUDIT_BATCH_LEDGER

    table = read_delta(AUDIT_BATCH_LEDGER.location(config),
                       ["batch_id", "processed_at", "rows_read", "batch_seconds", "phase_seconds"])
    rows = [r for r in table.to_pylist() if _epoch(r["processed_at"]) >= since]
    if not rows:
        return {"batches": 0}
    phases: dict[str, list[float]] = {}
    for r in sorted(rows, key=lambda r: r["batch_id"]):
        for key, seconds in _map_items(r["phase_seconds"]):
            phases.setdefault(key, []).append(float(seconds))
    read = sum(int(r["rows_read"]) for r in rows)
    busy = sum(float(r["batch_seconds"]) for r in rows)
    return {
        "batches": len(rows),
        "median_batch_seconds": round(statistics.median(float(r["batch_seconds"]) for r in rows), 3),
        "median_rows_read": statistics.median(int(r["rows_read"]) for r in rows),
        "median_phase_seconds": {k: round(statistics.median(phases[k]), 3)
                                 for k in sorted(phases, key=lambda k: (_PHASE_ORDER.get(k, 99), k))},
        "rows_read": read,
        "refine_rows_per_busy_second": round(read / busy, 1) if busy else None,
    }


def silver_cross_check(config: Any, ids: set[str], tail_seen: dict[str, tuple[float, int]]) -> dict[str, int]:
    """silver.events as delta-rs lists it vs what the log tail saw (the harness's own check)."""
    from pipelines.core.tables import SILVER_EVENTS

    table = read_delta(SILVER_EVENTS.location(config), ["event_id"])
    in_table = set(table.column("event_id").to_pylist()) & ids
    return {"in_silver_by_delta_rs": len(in_table),
            "in_silver_not_seen_by_tail": len(in_table - tail_seen.keys()),
            "seen_by_tail_not_in_silver": len({i for i in ids if i in tail_seen} - in_table)}


def latency_figures(writer: Writer, reader: Reader, corpus: Corpus, t0: float, t_end: float,
                    gold: bool) -> dict[str, Any]:
    expected = [i for i in writer.landed if i in corpus.expected]
    others = [i for i in writer.landed if i not in corpus.expected]
    seen = reader.silver_seen
    pairs = sorted((writer.landed[i], seen[i][0] - writer.landed[i]) for i in expected if i in seen)
    lat = [d for _, d in pairs]
    span = max(t_end - t0, 1e-9)
    first = [d for t, d in pairs if t < t0 + span / 3]
    last = [d for t, d in pairs if t >= t0 + 2 * span / 3]
    slope = None
    if len(pairs) >= 2:
        slope = statistics.linear_regression([(t - t0) / 60 for t, _ in pairs], lat).slope
    out: dict[str, Any] = {
        "landed_lines": writer.lines_written,
        "landed_event_ids": len(writer.landed),
        "expected_in_silver": len(expected),
        "not_in_silver_quarantined_or_duplicate": {
            "quarantined_ids": len(others),
            "duplicate_lines": writer.duplicate_lines,
            "unparseable_lines": writer.lines_written - len(writer.landed) - writer.duplicate_lines,
            "quarantined_ids_seen_in_silver": sum(1 for i in others if i in seen),
        },
        "visible_in_silver": len(lat),
        "not_visible_after_drain": len(expected) - len(lat),
        "landing_to_silver": _pcts(lat),
        "landing_to_silver_first_third": _pcts(first),
        "landing_to_silver_last_third": _pcts(last),
        "slope_seconds_per_minute": round(slope, 4) if slope is not None else None,
    }
    # phases from outside: landing -> Bronze per file, Bronze -> Silver per event
    to_bronze = [reader.bronze_seen[file_name(s)] - t for s, t in writer.file_landed.items()
                 if file_name(s) in reader.bronze_seen]
    bronze_to_silver = [seen[i][0] - reader.bronze_seen[file_name(writer.file_of[i])] for i in expected
                        if i in seen and file_name(writer.file_of[i]) in reader.bronze_seen]
    out["phase_medians_from_outside"] = {
        "landing_to_bronze_per_file": round(statistics.median(to_bronze), 3) if to_bronze else None,
        "bronze_to_silver_per_event": round(statistics.median(bronze_to_silver), 3) if bronze_to_silver else None,
        "files_seen_in_bronze": len(to_bronze),
    }
    silver_versions = sorted({seen[i][1] for i in expected if i in seen})
    out["silver_commits_with_new_events"] = len(silver_versions)
    if gold:
        builds = reader.builds
        covered: dict[int, float] = {}
        for v in silver_versions:
            for b in builds:  # in the order they were seen
                if b["silver_version"] >= v:
                    covered[v] = b["seen_at"]
                    break
        gold_lat = [covered[seen[i][1]] - writer.landed[i] for i in expected
                    if i in seen and seen[i][1] in covered]
        took = [b["build_seconds"] for b in builds if b["build_seconds"] is not None and b["seen_at"] >= t0]
        out["landing_to_gold"] = _pcts(gold_lat)
        out["not_visible_in_gold"] = len(expected) - len(gold_lat)
        out["gold_builds_seen"] = len([b for b in builds if b["seen_at"] >= t0])
        out["gold_builds_failed"] = reader.failed_builds
        out["median_gold_build_seconds"] = round(statistics.median(took), 1) if took else None
    return out


def verdict(fig: dict[str, Any]) -> str:
    first, last = fig["landing_to_silver_first_third"], fig["landing_to_silver_last_third"]
    ok = (fig["expected_in_silver"] > 0 and fig["not_visible_after_drain"] == 0
          and fig["slope_seconds_per_minute"] is not None and fig["slope_seconds_per_minute"] < 1.0
          and first.get("n") and last.get("n") and last["p95"] <= 2 * first["p95"] + 1.0)
    return "sustained" if ok else "falling behind"


# --------------------------------------------------------------------------------------------
# One rate
# --------------------------------------------------------------------------------------------

def _wait(until: Callable[[], bool], timeout: float, proc: subprocess.Popen, log: Path, reader: Reader,
          step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if reader.error is not None:
            raise RuntimeError(f"reader failed: {reader.error!r}") from reader.error
        if until():
            return True
        _check_alive(proc, log)
        time.sleep(step)
    return until()


def run_rate(rate: float, args: argparse.Namespace) -> dict[str, Any]:
    from pipelines.core.config import load_config
    from pipelines.sample_events import generate_lines

    root = (Path(args.out) / (f"{rate:g}" + ("-gold" if args.gold else "") + ("-bare" if args.bare else ""))).resolve()
    _fresh_root(root)
    config_file = root / "medallion.yaml"
    data = _config_data(root, args)
    config_file.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    config = load_config(str(config_file), env={})
    landing = Path(config.landing)
    landing.mkdir(parents=True, exist_ok=True)
    log = root / "run.log"
    print(f"== {rate:g} events/s for {args.seconds}s ({args.per_file} per file), root {root}", flush=True)

    n_files = max(1, round(args.seconds * rate / args.per_file))
    corpus = generate_corpus(n_files, args.per_file, seed=args.seed, bad_rate=args.bad_rate)
    print(f"  generated {corpus.lines:,} lines in {n_files:,} files in {corpus.seconds:.1f}s "
          f"({corpus.seconds / max(corpus.lines, 1) * 1e6:.1f} us/line)", flush=True)
    warm = generate_lines(args.per_file, seed=args.seed + 1_000_000, days=1)
    warm_ids = [i for i in (_event_id(gl.line) for gl in warm) if i]

    results: dict[str, Any] = {"rate": rate, "seconds": args.seconds, "per_file": args.per_file,
                               "bad_rate": args.bad_rate, "gold": args.gold, "root": str(root),
                               "config": data, "generation_seconds": round(corpus.seconds, 2)}
    reader = Reader(config, args.poll_seconds, args.gold)
    writer = Writer(landing, corpus, args.per_file / rate, threading.Event())
    reader_thread = threading.Thread(target=reader.run, name="reader", daemon=True)
    writer_thread: threading.Thread | None = None
    proc = None
    started = time.monotonic()
    try:
        proc = start_bare(config_file, log) if args.bare else start_product(config_file, log)
        reader_thread.start()
        # warm-up: product start (JVM, catalog, streams) and the first batches
        land(landing, "warmup-000.jsonl", b"\n".join(gl.line for gl in warm) + b"\n")
        if not _wait(lambda: all(i in reader.silver_seen for i in warm_ids), WARMUP_TIMEOUT, proc, log, reader):
            raise RuntimeError(f"the warm-up events were not in silver.events within {WARMUP_TIMEOUT:.0f}s; "
                               f"last lines of {log}:\n{_tail(log)}")
        results["warmup_seconds"] = round(time.monotonic() - started, 1)
        print(f"  warm-up visible in silver.events after {results['warmup_seconds']}s; settling "
              f"{args.settle_seconds:g}s", flush=True)
        time.sleep(args.settle_seconds)
        _check_alive(proc, log)

        # timed phase
        t0 = time.time() + 0.2
        cpu0 = tree_cpu_seconds(proc.pid)
        own0 = os.times()
        writer_thread = threading.Thread(target=writer.run, args=(t0,), name="writer", daemon=True)
        writer_thread.start()
        next_report = time.monotonic() + 60
        while writer_thread.is_alive():
            writer_thread.join(0.5)
            if writer.error is not None or reader.error is not None:
                raise RuntimeError(f"writer/reader failed: {writer.error or reader.error!r}")
            _check_alive(proc, log)
            if time.monotonic() >= next_report:
                next_report += 60
                behind = sum(1 for i in list(writer.landed) if i in corpus.expected and i not in reader.silver_seen)
                print(f"  t+{time.time() - t0:4.0f}s landed {len(writer.landed):,} ids, "
                      f"{behind:,} not yet in silver.events", flush=True)
        if writer.error is not None:
            raise RuntimeError(f"writer failed: {writer.error!r}") from writer.error
        t_end = writer.finished
        cpu1 = tree_cpu_seconds(proc.pid)
        own1 = os.times()

        # drain
        expected = [i for i in writer.landed if i in corpus.expected]
        drain_start = time.monotonic()
        _wait(lambda: all(i in reader.silver_seen for i in expected), args.drain_seconds, proc, log, reader, 0.5)
        results["drain_seconds_used"] = round(time.monotonic() - drain_start, 1)
        if args.gold:
            def gold_covers() -> bool:
                versions = [reader.silver_seen[i][1] for i in expected if i in reader.silver_seen]
                top = max(versions, default=-1)
                return any(b["silver_version"] >= top for b in reader.builds)
            gold_start = time.monotonic()
            _wait(gold_covers, args.gold_drain_seconds, proc, log, reader, 0.5)
            results["gold_drain_seconds_used"] = round(time.monotonic() - gold_start, 1)
        reader.stop.set()
        reader_thread.join(30)
        reader.poll_once()  # a last look after the waits
    finally:
        writer.stop.set()
        reader.stop.set()
        if writer_thread is not None:
            writer_thread.join(10)
        if proc is not None:
            rc = stop_product(proc)
            results["product_exit_code"] = rc
            print(f"  medallion stopped (rc {rc})", flush=True)

    fig = latency_figures(writer, reader, corpus, t0, t_end, args.gold)
    results.update(fig)
    results["verdict"] = verdict(fig)
    try:
        results["refine_ledger"] = ledger_figures(config, t0)
    except Exception as exc:  # noqa: BLE001 - the latency figures stand without it
        results["refine_ledger"] = {"error": repr(exc)}
    try:
        results["cross_check"] = silver_cross_check(config, set(writer.landed), reader.silver_seen)
    except Exception as exc:  # noqa: BLE001
        results["cross_check"] = {"error": repr(exc)}
    wall = max(t_end - t0, 1e-9)
    results["writer"] = {
        "events_per_second_achieved": round(writer.lines_written / wall, 1),
        "files": len(writer.file_landed),
        "max_schedule_lag_seconds": round(writer.max_lag, 4),
        "files_over_one_interval_late": writer.late_files,
        "cpu_seconds": round(writer.cpu_seconds, 2),
    }
    results["reader"] = {
        "polls": reader.polls,
        "mean_poll_ms": round(reader.poll_wall / max(reader.polls, 1) * 1000, 2),
        "max_poll_ms": round(reader.max_poll_wall * 1000, 1),
        "cpu_seconds": round(reader.cpu_seconds, 2),
        "silver_commits": len(reader.silver.commits),
        "bronze_commits": len(reader.bronze.commits),
    }
    results["cpu"] = {
        "timed_phase_seconds": round(wall, 1),
        "product_cpu_seconds": round(cpu1 - cpu0, 1) if cpu0 is not None and cpu1 is not None else None,
        "product_cores_used": round((cpu1 - cpu0) / wall, 2) if cpu0 is not None and cpu1 is not None else None,
        "harness_cpu_seconds": round((own1.user + own1.system) - (own0.user + own0.system), 1),
    }
    (root / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    _print_rate(results)
    return results


def _print_rate(r: dict[str, Any]) -> None:
    nis = r["not_in_silver_quarantined_or_duplicate"]
    w, rd, cpu, led = r["writer"], r["reader"], r["cpu"], r.get("refine_ledger", {})
    print(f"  landed: {r['landed_lines']:,} lines, {r['landed_event_ids']:,} event ids; expected in silver.events "
          f"{r['expected_in_silver']:,}; visible {r['visible_in_silver']:,}; not visible after drain "
          f"{r['not_visible_after_drain']:,}")
    print(f"  not in silver (quarantined/duplicate): {nis['quarantined_ids']:,} quarantined ids, "
          f"{nis['duplicate_lines']:,} duplicate lines, {nis['unparseable_lines']:,} lines without an id")
    print(f"  landing -> silver.events: {_fmt(r['landing_to_silver'])}")
    print(f"    first third: {_fmt(r['landing_to_silver_first_third'])}")
    print(f"    last third : {_fmt(r['landing_to_silver_last_third'])}")
    slope = r["slope_seconds_per_minute"]
    print(f"    slope {slope if slope is None else f'{slope:+.3f}'} s/min; verdict: {r['verdict']}; goal p95 <= "
          f"{GOAL_P95_SECONDS:g}s: "
          f"{'met' if r['landing_to_silver'].get('p95', 1e9) <= GOAL_P95_SECONDS else 'not met'}")
    ph = r["phase_medians_from_outside"]
    print(f"  medians from outside: landing -> bronze {ph['landing_to_bronze_per_file']}s (per file), "
          f"bronze -> silver {ph['bronze_to_silver_per_event']}s (per event); "
          f"{r['silver_commits_with_new_events']} silver commits")
    if led.get("batches"):
        phases = ", ".join(f"{k} {v:.2f}s" for k, v in led["median_phase_seconds"].items())
        print(f"  refine ledger: {led['batches']} batches, median {led['median_rows_read']:,} rows, "
              f"median batch {led['median_batch_seconds']:.2f}s ({phases}); "
              f"{led['refine_rows_per_busy_second']} rows per busy second")
    else:
        print(f"  refine ledger: {led}")
    if r["gold"]:
        print(f"  landing -> Gold: {_fmt(r['landing_to_gold'])}; not in Gold {r['not_visible_in_gold']:,}; "
              f"{r['gold_builds_seen']} builds (median {r['median_gold_build_seconds']}s), "
              f"{r['gold_builds_failed']} failed")
    print(f"  writer: {w['events_per_second_achieved']:,} lines/s achieved, max lag {w['max_schedule_lag_seconds']}s, "
          f"{w['files_over_one_interval_late']} files > 1 interval late, {w['cpu_seconds']}s CPU")
    print(f"  reader: {rd['polls']:,} polls, mean {rd['mean_poll_ms']} ms, max {rd['max_poll_ms']} ms, "
          f"{rd['cpu_seconds']}s CPU; harness process {cpu['harness_cpu_seconds']}s CPU")
    print(f"  product CPU over the timed phase: {cpu['product_cpu_seconds']}s of {cpu['timed_phase_seconds']}s "
          f"({cpu['product_cores_used']} cores)")
    print(f"  cross-check (delta-rs): {r['cross_check']}")
    print(f"  results: {Path(r['root']) / 'results.json'}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="events per second landed")
    parser.add_argument("--rates", help="comma-separated rates run in turn (fresh root each), e.g. 1000,1500,2000")
    parser.add_argument("--seconds", type=float, default=600.0, help="length of the timed phase")
    parser.add_argument("--per-file", type=int, default=50, help="events per landed file")
    parser.add_argument("--poll-seconds", type=float, default=0.1, help="Delta log poll interval")
    parser.add_argument("--drain-seconds", type=float, default=60.0,
                        help="after the writer stops, wait this long at most for the last events")
    parser.add_argument("--settle-seconds", type=float, default=10.0, help="pause after the warm-up")
    parser.add_argument("--gold", action="store_true", help="Gold builds during the run; landing -> Gold")
    parser.add_argument("--bare", action="store_true",
                        help="the baseline: a bare Spark landing -> Delta stream instead of medallion (see bare_worker)")
    parser.add_argument("--bare-worker", metavar="CONFIG", help=argparse.SUPPRESS)
    parser.add_argument("--gold-interval", type=float, default=30.0, help="gold.rebuild_interval_seconds")
    parser.add_argument("--gold-drain-seconds", type=float, default=180.0,
                        help="with --gold, then wait this long at most for a build covering the last events")
    parser.add_argument("--bad-rate", type=float, default=0.02, help="share of bad lines from the generator")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="config override, e.g. refine.trigger_interval_seconds=0.5 (repeatable)")
    parser.add_argument("--out", default="bench-out/freshness")
    args = parser.parse_args()
    if args.bare_worker:
        bare_worker(args.bare_worker)
        return
    if not Path(MEDALLION).exists():
        sys.exit(f"{MEDALLION} not found: run from the project's virtualenv (make install)")
    rates = [float(r) for r in args.rates.split(",")] if args.rates else [args.rate]
    summary = []
    for rate in rates:
        try:
            summary.append(run_rate(rate, args))
        except RuntimeError as exc:
            print(f"  rate {rate:g}: failed: {exc}", flush=True)
            summary.append({"rate": rate, "verdict": "failed", "error": str(exc)})
    if len(rates) > 1:
        print("\n  rate/s   landed    p50     p95     p99   last-third p95   slope s/min   verdict")
        for r in summary:
            if r["verdict"] == "failed":
                print(f"  {r['rate']:6g}   failed: {r['error'].splitlines()[0]}")
                continue
            s, last = r["landing_to_silver"], r["landing_to_silver_last_third"]
            print(f"  {r['rate']:6g} {r['landed_event_ids']:8,} {s.get('p50', float('nan')):6.2f}s "
                  f"{s.get('p95', float('nan')):6.2f}s {s.get('p99', float('nan')):6.2f}s "
                  f"{last.get('p95', float('nan')):12.2f}s {r['slope_seconds_per_minute'] or 0:+12.3f}   "
                  f"{r['verdict']}")
    sustained = [r["rate"] for r in summary if r["verdict"] == "sustained"]
    best = max(sustained) if sustained else None
    print(f"  highest rate sustained: {f'{best:g} events/s' if best else 'none of those tried'}")
    if len(rates) > 1:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "summary.json").write_text(json.dumps({"highest_sustained": best, "runs": summary}, indent=2,
                                                     default=str) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
