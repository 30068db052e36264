"""Benchmark: typical analyst queries on the Gold marts of a lakehouse of 1,000,000 events, from
concurrent clients, through `medallion serve` and through a bare Spark Thrift Server.

Both servers serve the same Gold tables, one after the other (never both at once: they would
share the cores). The bare server is the pyspark distribution's own HiveThriftServer2
(spark-submit, no authentication, no guard, no access log) with the Gold marts registered by
location; it gets medallion's Spark settings (master, driver memory, shuffle partitions, UTC,
Delta's snapshot partitions, the FAIR scheduler, the UI off, the same log4j file), so the ratio
measures what medallion adds: password authentication, the plan-level guard and the access log.

Each client (PyHive, its own connection) runs the same list of queries (filters, group-bys,
top-N, fact-dimension joins, window functions, count distinct), starting at a different query.
One pass per client warms the servers up (Delta snapshots, page cache, code generation) and is
not measured; then --rounds passes are. A latency is the wall time of execute + fetchall.
Printed: server start time, p50/p95/p99/max per server, the ratios of the p95s and p50s, the p50
of each query on both, and the goal check (issue: p95 under 1 s, within 1.2x of the bare server).

The lakehouse: --lakehouse DIR serves an existing one as it is (the access log is loaded into its
audit tables); otherwise <root>/lakehouse, a copy of bench_erase.py's base lakehouse when it was
built from --events events (it is not served in place: the access log would change it), else
built the same way (`medallion generate` + `medallion run --once`).

    python benchmarks/bench_serve.py [--events 1000000] [--root bench-out/serve] [--reuse]
        [--lakehouse DIR] [--rounds 3] [--clients 4] [--port 10031] [--bare-port 10032]

Not part of the test suite. Results are printed and written to <root>/results.json.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
if TYPE_CHECKING:
    from pipelines.core.config import Config
MEDALLION = str(Path(sys.executable).with_name("medallion"))
HOST = "127.0.0.1"
USER = "bench"
START_TIMEOUT = 300.0
STOP_TIMEOUT = 120.0
GOAL_P95_SECONDS = 1.0
GOAL_RATIO = 1.2

# (label, SQL): what a BI dashboard and an analyst's notebook ask of the marts
QUERIES: list[tuple[str, str]] = [
    ("top10_campaigns_revenue",
     "select campaign_id, revenue_usd, spend_usd, roas from gold.fct_campaign_performance "
     "order by revenue_usd desc limit 10"),
    ("low_ctr_campaigns",
     "select campaign_id, impressions, clicks, ctr from gold.fct_campaign_performance "
     "where impressions > 100 order by ctr asc limit 10"),
    ("channel_totals_join",
     "select c.channel, count(*) as campaigns, sum(p.spend_usd) as spend, sum(p.revenue_usd) as revenue, "
     "sum(p.revenue_usd) / nullif(sum(p.spend_usd), 0) as roas "
     "from gold.fct_campaign_performance p join gold.dim_campaigns c on c.campaign_id = p.campaign_id "
     "group by c.channel order by revenue desc"),
    ("last7_days_totals",
     "select date_day, sum(impressions) as impressions, sum(clicks) as clicks, sum(spend_usd) as spend, "
     "sum(conversions) as conversions, sum(revenue_usd) as revenue from gold.fct_campaign_performance_daily "
     "where date_day >= (select date_sub(max(date_day), 6) from gold.fct_campaign_performance_daily) "
     "group by date_day order by date_day"),
    ("daily_by_channel_group",
     "select d.date_day, ch.channel_group, sum(d.spend_usd) as spend, sum(d.revenue_usd) as revenue "
     "from gold.fct_campaign_performance_daily d join gold.dim_campaigns c on c.campaign_id = d.campaign_id "
     "join gold.dim_channels ch on ch.channel = c.channel group by d.date_day, ch.channel_group "
     "order by d.date_day, ch.channel_group"),
    ("weekly_trend",
     "select date_trunc('week', date_day) as week, sum(clicks) as clicks, sum(conversions) as conversions, "
     "sum(revenue_usd) as revenue from gold.fct_campaign_performance_daily group by 1 order by 1"),
    ("rolling7_revenue_window",
     "select campaign_id, date_day, revenue_7d from (select campaign_id, date_day, "
     "sum(revenue_usd) over (partition by campaign_id order by date_day rows between 6 preceding and "
     "current row) as revenue_7d, max(date_day) over () as last_day "
     "from gold.fct_campaign_performance_daily) where date_day = last_day order by revenue_7d desc limit 20"),
    ("top3_roas_per_channel_rank",
     "select channel, campaign_id, roas from (select c.channel, p.campaign_id, p.roas, "
     "rank() over (partition by c.channel order by p.roas desc) as r from gold.fct_campaign_performance p "
     "join gold.dim_campaigns c on c.campaign_id = p.campaign_id where p.spend_usd > 0) where r <= 3 "
     "order by channel, r"),
    ("spend_day_over_day_lag",
     "select date_day, spend, spend - lag(spend) over (order by date_day) as change from "
     "(select date_day, sum(spend_usd) as spend from gold.fct_campaign_performance_daily group by date_day) "
     "order by date_day"),
    ("active_campaigns_distinct",
     "select date_day, count(distinct campaign_id) as active_campaigns from gold.fct_campaign_performance_daily "
     "where impressions > 0 group by date_day order by date_day"),
    ("one_campaign_drilldown",
     "select date_day, impressions, clicks, spend_usd, conversions, revenue_usd, cpa_usd "
     "from gold.fct_campaign_performance_daily "
     "where campaign_id = (select min(campaign_id) from gold.dim_campaigns) order by date_day"),
    ("channel_cac",
     "select channel, spend_usd, new_customers, cac_usd from gold.fct_channel_cac order by cac_usd nulls last"),
    ("cac_monthly_paid_join",
     "select m.month_start, ch.is_paid, sum(m.spend_usd) as spend, sum(m.new_customers) as new_customers "
     "from gold.fct_channel_cac_monthly m join gold.dim_channels ch on ch.channel = m.channel "
     "group by m.month_start, ch.is_paid order by m.month_start, ch.is_paid"),
    ("cac_monthly_filter",
     "select month_start, channel, cac_usd from gold.fct_channel_cac_monthly "
     "where new_customers > 0 and cac_usd is not null order by month_start, cac_usd"),
    ("ltv_by_acquisition_channel",
     "select acquisition_channel, count(*) as customers, avg(lifetime_revenue_usd) as avg_ltv, "
     "percentile_approx(lifetime_revenue_usd, 0.5) as median_ltv, avg(orders) as avg_orders "
     "from gold.fct_customer_ltv group by acquisition_channel order by avg_ltv desc"),
    ("top20_customers",
     "select user_id, orders, lifetime_revenue_usd, acquisition_channel from gold.fct_customer_ltv "
     "order by lifetime_revenue_usd desc, user_id limit 20"),
    ("monthly_cohorts",
     "select date_trunc('month', first_purchase_date) as cohort, count(*) as customers, "
     "sum(lifetime_revenue_usd) as revenue, avg(case when orders > 1 then 1.0 else 0.0 end) as repeat_rate "
     "from gold.fct_customer_ltv group by 1 order by 1"),
    ("ltv_distinct_counts",
     "select count(distinct acquisition_campaign_id) as campaigns, count(distinct acquisition_channel) as channels, "
     "count(*) as customers from gold.fct_customer_ltv"),
    ("campaign_customers_ltv_join",
     "select p.campaign_id, p.spend_usd, count(l.user_id) as customers, sum(l.lifetime_revenue_usd) as ltv "
     "from gold.fct_campaign_performance p left join gold.fct_customer_ltv l "
     "on l.acquisition_campaign_id = p.campaign_id group by p.campaign_id, p.spend_usd "
     "order by customers desc, p.campaign_id limit 10"),
    ("campaign_lifetimes_dim",
     "select c.channel, ch.channel_group, count(*) as campaigns, "
     "avg(datediff(c.last_seen_date, c.first_seen_date)) as avg_days_live "
     "from gold.dim_campaigns c join gold.dim_channels ch on ch.channel = c.channel "
     "group by c.channel, ch.channel_group order by campaigns desc"),
]


def _run(args: list[str], **kw) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, **kw)
    return time.perf_counter() - start, proc


def _config(root: Path, lakehouse: Path) -> Path:
    """The other benchmarks' Spark settings, so the lakehouse they build is served as built."""
    config = root / "medallion.yaml"
    config.write_text(f"mode: dev\npaths: {{root: {lakehouse}}}\n"
                      "spark: {master: 'local[*]', driver_memory: 6g, shuffle_partitions: 4}\n")
    return config


def _build(root: Path, events: int) -> dict:
    """A lakehouse as bench_erase.py builds one (same seed and shape)."""
    config = _config(root, root / "lakehouse")
    env = {**os.environ, "DBT_TARGET_PATH": str(root / "dbt-target"), "DBT_LOG_PATH": str(root / "dbt-logs")}
    out = {}
    for label, args in (("generate", ["generate", "--events", str(events), "--seed", "17", "--days", "30",
                                      "--bad-rate", "0.02", "--files", "10"]),
                        ("run --once", ["run", "--once"])):
        seconds, proc = _run([MEDALLION, "-q", "--config", str(config), *args], env=env)
        if proc.returncode != 0:
            sys.exit(f"{label} failed:\n{proc.stdout}\n{proc.stderr}")
        out[label] = round(seconds, 1)
        print(f"build: {label} {seconds:.1f}s", flush=True)
    return out


def _erase_base(events: int) -> Path | None:
    """bench_erase.py's base lakehouse, when it holds `events` events and its Gold was built."""
    erase = REPO / "bench-out" / "erase"
    try:
        built = json.loads((erase / "results.json").read_text())["events"]
    except (OSError, ValueError, KeyError):
        return None
    base = erase / "base" / "lakehouse"
    return base if built == events and (base / "warehouse" / "gold").is_dir() else None


def _lakehouse(args: argparse.Namespace, root: Path, results: dict) -> Path:
    """The lakehouse to serve (see the module docstring for which one)."""
    if args.lakehouse:
        results["lakehouse"] = str(Path(args.lakehouse).resolve())
        return Path(results["lakehouse"])
    own = root / "lakehouse"
    results["lakehouse"] = str(own)
    if args.reuse and (own / "warehouse" / "gold").is_dir():
        return own
    shutil.rmtree(own, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    base = _erase_base(args.events)
    if base is not None:
        print(f"lakehouse: copying {base}", flush=True)
        shutil.copytree(base, own, symlinks=True, ignore=shutil.ignore_patterns("landing", "archive"))
    else:
        results["build_seconds"] = _build(root, args.events)
    return own


def _java_env() -> dict[str, str]:
    """Java 17 for both servers: JAVA_HOME when set, else Debian's JDK 17 when installed, else
    whatever `java` is on PATH (pyspark's own rule), the same JVM for both."""
    if os.environ.get("JAVA_HOME"):
        return {"JAVA_HOME": os.environ["JAVA_HOME"]}
    jdk = Path("/usr/lib/jvm/java-17-openjdk-amd64")
    return {"JAVA_HOME": str(jdk)} if (jdk / "bin" / "java").is_file() else {}


def _pump(stream, sink: Path, lines: list[str]) -> None:
    """Copy a server's output to its log file, keeping the lines for the start check."""
    with sink.open("w", encoding="utf-8") as out:
        for line in stream:
            out.write(line)
            out.flush()
            lines.append(line)


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def _start(args: list[str], env: dict[str, str], log: Path, port: int, ready: Callable[[list[str]], bool],
           cwd: Path | None = None) -> tuple[subprocess.Popen, float]:
    """Start a server (its own process group: a kill on timeout reaches its JVM too); (process,
    seconds until `ready`). A busy port is refused first: the clients would measure another server."""
    if not _port_free(port):
        sys.exit(f"port {port} is in use: pick others with --port / --bare-port")
    start = time.perf_counter()
    proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, text=True, start_new_session=True)
    lines: list[str] = []
    threading.Thread(target=_pump, args=(proc.stdout, log, lines), daemon=True).start()
    while not ready(lines):
        if proc.poll() is not None or time.perf_counter() - start > START_TIMEOUT:
            _stop(proc)
            sys.exit(f"{args[0]} did not start (rc {proc.returncode}); last output:\n{''.join(lines[-30:])}"
                     f"\nlog: {log}")
        time.sleep(0.1)
    return proc, time.perf_counter() - start


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the server process alone (medallion stops the Thrift service, loads its access
    log, then stops its JVM: a JVM signalled too would die under it), then kill on timeout."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _listening(port: int) -> Callable[[list[str]], bool]:
    def ready(_lines: list[str]) -> bool:
        try:
            with socket.create_connection((HOST, port), timeout=1.0):
                return True
        except OSError:
            return False
    return ready


def _medallion_server(config: Path, lakehouse: Path, warehouse: str, port: int, log: Path,
                      password: str) -> tuple[subprocess.Popen, float]:
    env = {**os.environ, **_java_env(), "MEDALLION_CONFIG": str(config), "MEDALLION_ROOT": str(lakehouse),
           "MEDALLION_WAREHOUSE": warehouse, "MEDALLION_SERVE_USERS": f"{USER}:analyst",
           f"MEDALLION_SERVE_PASSWORD_{USER.upper()}": password}
    return _start([MEDALLION, "serve", "--host", HOST, "--port", str(port)], env, log, port,
                  lambda lines: any("listening" in line for line in lines))


def _bare_conf(config: Config) -> dict[str, str]:
    """medallion's Spark settings that shape query speed (pipelines/core/spark_session.py and
    serving/server.py), without the guard, the accounts and the access log."""
    from pipelines.core.spark_session import _LOG4J, extra_conf

    sc = config.spark
    return {
        "spark.master": sc.master,
        "spark.driver.memory": sc.driver_memory,
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{_LOG4J}",
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.catalogImplementation": sc.catalog,
        "spark.sql.shuffle.partitions": str(sc.shuffle_partitions),
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.host": HOST,
        "spark.scheduler.mode": "FAIR",
        **extra_conf(config),  # Delta's snapshot partitions on local masters, the config's own conf
    }


def _bare_server(config: Config, port: int, work: Path, log: Path) -> tuple[subprocess.Popen, float]:
    import pyspark

    from pipelines.core.spark_session import delta_packages, ivy_dir
    from pipelines.serving.server import package_jars

    conf = {**_bare_conf(config), "spark.jars.ivy": str(ivy_dir(config)),
            "spark.sql.warehouse.dir": str(work / "spark-warehouse"),
            # as in medallion serve: HiveServer2 closes the class loader of `--packages` when a
            # client session ends, and Delta classes not loaded by then are gone for the next one
            "spark.driver.extraClassPath": os.pathsep.join(package_jars(config))}
    args = [str(Path(pyspark.__file__).parent / "bin" / "spark-submit"),
            "--class", "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2",
            "--packages", ",".join(delta_packages())]
    for key, value in conf.items():
        args += ["--conf", f"{key}={value}"]
    # HiveServer2's own settings are the application's arguments, after the primary resource
    args += ["spark-internal", "--hiveconf", f"hive.server2.thrift.bind.host={HOST}",
             "--hiveconf", f"hive.server2.thrift.port={port}", "--hiveconf", "hive.server2.authentication=NONE"]
    env = {**os.environ, **_java_env(), "SPARK_LOCAL_IP": HOST}
    return _start(args, env, log, port, _listening(port), cwd=work)


def _register_gold(connect: Callable[[], object], config: Config) -> list[str]:
    """The Gold marts in the bare server's catalog, by location (medallion serve registers its own)."""
    from pipelines.core.registry import gold_tables

    marts = [s for s in gold_tables() if s.schema == "gold" and s.kind == "table"
             and Path(s.location(config), "_delta_log").is_dir()]
    conn = connect()
    try:
        cursor = conn.cursor()
        cursor.execute("CREATE SCHEMA IF NOT EXISTS gold")
        for spec in marts:
            cursor.execute(f"CREATE TABLE IF NOT EXISTS {spec.qualified_name} USING delta "
                           f"LOCATION '{spec.location(config)}'")
    finally:
        conn.close()
    return [s.qualified_name for s in marts]


def _client(connect: Callable[[], object], offset: int, rounds: int, barrier: threading.Barrier,
            samples: list[tuple[str, float]], rows: dict[str, int], errors: list[BaseException]) -> None:
    """One analyst: a warm-up pass, then `rounds` measured passes, starting at query `offset`."""
    order = QUERIES[offset:] + QUERIES[:offset]
    conn = None
    label = "connect"
    try:
        conn = connect()
        cursor = conn.cursor()
        for label, sql in order:
            cursor.execute(sql)
            rows[label] = len(cursor.fetchall())
        barrier.wait()
        for _ in range(rounds):
            for label, sql in order:
                start = time.perf_counter()
                cursor.execute(sql)
                cursor.fetchall()
                samples.append((label, time.perf_counter() - start))
    except threading.BrokenBarrierError as exc:  # another client failed
        errors.append(exc)
    except Exception as exc:  # noqa: BLE001 - re-raised by the caller, with the others released
        errors.append(RuntimeError(f"query {label} failed: {_message(exc)}"))
        barrier.abort()
    finally:
        if conn is not None:
            conn.close()


def _message(exc: Exception) -> str:
    """The server's error message of a PyHive error, not its Java stack trace."""
    status = getattr(exc.args[0], "status", None) if exc.args else None
    return getattr(status, "errorMessage", None) or repr(exc)[:2000]


def _measure(connect: Callable[[], object], clients: int, rounds: int) -> tuple[list[tuple[str, float]], dict]:
    """(label, seconds) of every measured query of every client; rows per query (warm-up pass)."""
    samples: list[tuple[str, float]] = []
    rows: dict[str, int] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(clients)
    step = max(1, len(QUERIES) // clients)
    threads = [threading.Thread(target=_client, args=(connect, (i * step) % len(QUERIES), rounds, barrier,
                                                      samples, rows, errors)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:  # the failed query first, not a client released by it
        raise sorted(errors, key=lambda e: isinstance(e, threading.BrokenBarrierError))[0]
    return samples, rows


def _percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (no interpolation: a figure that was measured)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def _summary(samples: list[tuple[str, float]]) -> dict:
    seconds = [s for _, s in samples]
    by_query: dict[str, list[float]] = {}
    for label, s in samples:
        by_query.setdefault(label, []).append(s)
    return {"samples": len(seconds),
            **{f"p{p}": round(_percentile(seconds, p), 3) for p in (50, 95, 99)},
            "max": round(max(seconds), 3),
            "per_query_p50": {label: round(_percentile(by_query[label], 50), 3) for label, _ in QUERIES}}


def _session(label: str, start: Callable[[], tuple[subprocess.Popen, float]], connect: Callable[[], object],
             args: argparse.Namespace, prepare: Callable[[], object] | None = None) -> dict:
    """Start one server, warm it up and measure it, and always stop it."""
    print(f"{label}: starting", flush=True)
    proc, started = start()
    try:
        out: dict = {"start_seconds": round(started, 1)}
        if prepare is not None:
            t0 = time.perf_counter()
            out["registered"] = prepare()
            out["register_seconds"] = round(time.perf_counter() - t0, 1)
        registered = (f" + {out['register_seconds']}s registering {len(out['registered'])} tables"
                      if prepare is not None else "")
        print(f"{label}: up in {started:.1f}s{registered}; {args.clients} clients x (1 warm-up + "
              f"{args.rounds}) x {len(QUERIES)} queries", flush=True)
        samples, rows = _measure(connect, args.clients, args.rounds)
        out.update(_summary(samples), rows=rows)
    finally:
        _stop(proc)
    print(f"{label}: p50 {out['p50']:.3f}s p95 {out['p95']:.3f}s p99 {out['p99']:.3f}s max {out['max']:.3f}s",
          flush=True)
    return out


def _connector(port: int, password: str | None, database: str = "gold") -> Callable[[], object]:
    """A PyHive connection factory: password (CUSTOM) authentication when `password` is given."""
    from pyhive import hive

    if password is None:
        return lambda: hive.connect(HOST, port, username=USER, database=database)
    return lambda: hive.connect(HOST, port, username=USER, password=password, auth="CUSTOM", database=database)


def _report(results: dict) -> None:
    med, bare = results["medallion"], results["bare"]
    print(f"\n{'query':32} {'medallion p50':>14} {'bare p50':>10} {'ratio':>7}")
    for label, _ in QUERIES:
        m, b = med["per_query_p50"][label], bare["per_query_p50"][label]
        print(f"{label:32} {m:13.3f}s {b:9.3f}s {m / b if b else float('inf'):6.2f}x")
    print(f"\n{'server':10} {'start':>7} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7}")
    for name, r in (("medallion", med), ("bare", bare)):
        print(f"{name:10} {r['start_seconds']:6.1f}s {r['p50']:6.3f}s {r['p95']:6.3f}s {r['p99']:6.3f}s {r['max']:6.3f}s")
    goal = results["goal"]
    print(f"\nratio medallion/bare: p95 {goal['ratio_p95']:.2f}x, p50 {goal['ratio_p50']:.2f}x")
    print(f"goal: p95 under {GOAL_P95_SECONDS:.0f} s and within {GOAL_RATIO}x of the bare server: "
          f"{med['p95']:.3f}s, {goal['ratio_p95']:.2f}x -> {'met' if goal['met'] else 'NOT met'}")
    mismatched = [label for label in med["rows"] if med["rows"][label] != bare["rows"].get(label)]
    if mismatched:
        print(f"warning: row counts differ between the servers for {', '.join(mismatched)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--root", default=str(REPO / "bench-out" / "serve"))
    parser.add_argument("--reuse", action="store_true", help="reuse <root>/lakehouse from an earlier run")
    parser.add_argument("--lakehouse", help="serve this existing lakehouse (its paths.root) instead")
    parser.add_argument("--rounds", type=int, default=3, help="measured passes per client")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--port", type=int, default=10031, help="medallion serve's port")
    parser.add_argument("--bare-port", type=int, default=10032, help="the bare Thrift Server's port")
    args = parser.parse_args()
    root = Path(args.root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    results: dict = {"events": args.events, "clients": args.clients, "rounds": args.rounds,
                     "queries": dict(QUERIES)}
    lakehouse = _lakehouse(args, root, results)
    config_path = _config(root, lakehouse)
    from pipelines.core.config import load_config

    config = load_config(str(config_path), env={})
    password = secrets.token_urlsafe(18)
    results["medallion"] = _session(
        "medallion serve",
        lambda: _medallion_server(config_path, lakehouse, config.warehouse, args.port,
                                  root / "medallion-serve.log", password),
        _connector(args.port, password), args)
    with tempfile.TemporaryDirectory(prefix="bench-serve-bare-") as work:
        results["bare"] = _session(
            "bare thrift server",
            lambda: _bare_server(config, args.bare_port, Path(work), root / "bare-thrift.log"),
            _connector(args.bare_port, None), args,
            # `gold` does not exist in the bare server's catalog yet
            prepare=lambda: _register_gold(_connector(args.bare_port, None, "default"), config))
    med, bare = results["medallion"], results["bare"]
    ratio_p95, ratio_p50 = med["p95"] / bare["p95"], med["p50"] / bare["p50"]
    results["goal"] = {"ratio_p95": round(ratio_p95, 2), "ratio_p50": round(ratio_p50, 2),
                       "met": med["p95"] < GOAL_P95_SECONDS and ratio_p95 <= GOAL_RATIO}
    _report(results)
    (root / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
