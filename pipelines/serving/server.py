"""`medallion serve`: the Spark Thrift Server (HiveServer2 protocol: JDBC, ODBC, beeline, PyHive,
dbt's `thrift` method) inside the pipeline's own Spark session.

The session is the pipeline's (`build_session`: Delta, warehouse, Java options) plus the guard
(policy.guard_conf) and HiveServer2's settings; every registry table present is registered by
name, and tables that appear later are registered within `serve.refresh_tables_seconds`. Each
client session is its own SparkSession over the shared catalog, reading each table's latest
committed Delta version per query. SIGTERM or Ctrl-C stops it: the Thrift service first (clients
get a closed connection, never a half answer), then the access log is loaded, then Spark.
"""
from __future__ import annotations

import contextlib
import ipaddress
import logging
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, TextIO

from pipelines.core.catalog import register_tables
from pipelines.core.delta_io import create_table
from pipelines.core.config import Config
from pipelines.core.errors import PipelineError
from pipelines.core.migrations import check_warehouse
from pipelines.core.runs import new_run_id
from pipelines.core.tables import AUDIT_SQL_ACCESS_LOG
from pipelines.core.spark_session import jar_cached, build_session, delta_packages, ivy_dir
from pipelines.serving.access_log import AccessLogLoader, access_log_dir, finish_orphans
from pipelines.serving.accounts import USERS_VAR, Account, load_accounts
from pipelines.core.jar import ensure_jar
from pipelines.serving.policy import LOCKED_CONFS, guarded

log = logging.getLogger(__name__)

START_TIMEOUT_SECONDS = 120.0
AUTH_CLASS_PROPERTY = "hive.server2.custom.authentication.class"
AUTHENTICATOR = "io.medallion.serving.PasswordAuthenticator"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, port: int, accounts: list[Account]) -> None:
    """Fail before Spark starts: a non-loopback bind without authentication, a busy port."""
    if not accounts and not is_loopback(host):
        raise PipelineError("SERVE_INSECURE_BIND", {"host": host, "variable": USERS_VAR})
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        # as the server's own socket does: a closed connection's TIME_WAIT is not "in use"
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise PipelineError("SERVE_PORT_IN_USE", {"host": host, "port": port}) from exc


def hive_conf(host: str, port: int, authenticated: bool, scratch: Path) -> dict[str, str]:
    """HiveServer2's settings, as `spark.hadoop.*` (they reach the server's HiveConf)."""
    hive = {
        "hive.server2.thrift.bind.host": host,
        "hive.server2.thrift.port": str(port),
        "hive.server2.transport.mode": "binary",
        "hive.server2.authentication": "CUSTOM" if authenticated else "NONE",
        AUTH_CLASS_PROPERTY: AUTHENTICATOR,
        # a client may not act as another user (`hive.server2.proxy.user`), nor run as one
        "hive.server2.allow.user.substitution": "false",
        "hive.server2.enable.doAs": "false",
        # statements may carry personal literals: no per-operation log files
        "hive.server2.logging.operation.enabled": "false",
        "hive.exec.scratchdir": str(scratch / "scratch"),
        "hive.exec.local.scratchdir": str(scratch / "local"),
        # per session, as Hive's default: a closing session deletes its folder
        "hive.downloaded.resources.dir": str(scratch / "resources" / "${hive.session.id}_resources"),
        # a session's close looks for a Hive metastore there is none of (the catalog is Spark's,
        # in memory): fail at once instead of retrying for tens of seconds
        "hive.hmshandler.retry.attempts": "1",
        "hive.hmshandler.retry.interval": "0ms",
        "hive.querylog.location": str(scratch / "querylog"),
    }
    return {f"spark.hadoop.{k}": v for k, v in hive.items()}


def package_jars(config: Config) -> list[str]:
    """The Delta jars (Ivy cache) for the driver's system class path.

    Spark loads `spark.jars.packages` in a class loader that HiveServer2 closes when a client
    session ends (Hive's SessionState.close closes the loaders of its session's chain); classes of
    those jars not loaded by then would be gone for the next session. On the system class path
    they never go away. Only Delta's own jars (their packages are Delta's): the rest of the
    resolution (older Jackson, Hadoop clients) must not shadow Spark's."""
    from importlib.metadata import version

    if not all(jar_cached(config, p) for p in delta_packages()):
        # first start on this machine: resolve once in a short-lived process
        subprocess.run([sys.executable, "-c", "from pipelines.core.config import load_config;"
                        "from pipelines.core.spark_session import jar_cached, build_session, delta_packages, ivy_dir;"
                        "build_session(load_config()).stop()"], check=False, capture_output=True)
    jars = ivy_dir(config) / "jars"
    wanted = [*jars.glob(f"io.delta_*-{version('delta-spark')}.jar"), *jars.glob("io.unitycatalog_*.jar")]
    return sorted(str(p) for p in wanted)


def wait_listening(host: str, port: int, timeout: float, alive: Callable[[], bool]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return
        except OSError:
            if not alive():
                break
            time.sleep(0.25)
    raise PipelineError("SERVE_START_FAILED", {"host": host, "port": port, "seconds": int(timeout),
                                               "detail": "see the log file"})


def serve(config: Config, *, host: str | None = None, port: int | None = None,
          out: TextIO | None = None, stop: threading.Event | None = None) -> int:
    """Run the endpoint until SIGTERM/SIGINT (or `stop` is set); returns the exit status."""
    out = out or sys.stdout
    host = host or config.serve.host
    port = port or config.serve.port
    accounts = load_accounts()  # passwords leave the environment here, before the JVM starts
    check_bind(host, port, accounts)
    ensure_jar()  # before anything starts: a missing JDK fails here, clearly
    run_id = new_run_id()
    runtime = Path(tempfile.mkdtemp(prefix="medallion-serve-"))
    access_file = access_log_dir(config) / f"{run_id}.jsonl"
    access_file.parent.mkdir(parents=True, exist_ok=True)
    stop = stop or threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGTERM, signal.SIGINT)}
    spark = server = None
    try:
        served = guarded(config, runtime, accounts=accounts, access_log=access_file,
                         extra_class_path=package_jars(config), extra={
                             **hive_conf(host, port, bool(accounts), runtime),
                             **LOCKED_CONFS,
                             # one client's long query does not queue the others' behind it
                             "spark.scheduler.mode": "FAIR",
                         })
        spark = build_session(served, app_suffix="serve")
        # Thrift sessions start from the Spark conf (no reads by path); this process's own session
        # (registration, the access log) writes tables by path
        spark.conf.set("spark.sql.runSQLOnFiles", "true")
        check_warehouse(spark, config)
        # the access log exists from the start, so a query naming it is judged by the guard
        # rather than failing as an unknown table until the first flush
        create_table(spark, config, AUDIT_SQL_ACCESS_LOG)
        tables = register_tables(spark, config)
        finish_orphans(spark, config, access_file)
        loader = AccessLogLoader(spark, config, access_file)
        jvm = spark._jvm  # type: ignore[attr-defined]
        # HiveServer2 looks the provider class up in a fresh HiveConf, which reads system
        # properties, not the server's conf
        jvm.java.lang.System.setProperty(AUTH_CLASS_PROPERTY, AUTHENTICATOR)
        # starting the server's Hive client switches this thread's context class loader to one
        # that cannot see the Delta jars: keep ours for the log loader and the table refresh
        thread = jvm.java.lang.Thread.currentThread()
        class_loader = thread.getContextClassLoader()
        server = jvm.org.apache.spark.sql.hive.thriftserver.HiveThriftServer2.startWithSparkSession(
            spark._jsparkSession, False)  # type: ignore[attr-defined]
        thread.setContextClassLoader(class_loader)
        wait_listening(host, port, START_TIMEOUT_SECONDS, alive=lambda: not stop.is_set())
        roles = sorted({a.role for a in accounts})
        auth = (f"password, {len(accounts)} account(s): {', '.join(roles)}" if accounts
                else "none (loopback only; every client is an analyst)")
        out.write(f"medallion serve: listening on jdbc:hive2://{host}:{port}/gold "
                  f"(authentication: {auth}; {len(tables)} tables; run {run_id})\n")
        out.flush()
        log.info("serving %d tables on %s:%d, run %s", len(tables), host, port, run_id)
        _loop(spark, config, loader, stop)
        out.write(f"medallion serve: stopped ({_stop(server, loader, access_file)})\n")
        server = None
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        with contextlib.suppress(Exception):  # after a failure: best effort
            if server is not None:
                server.stop()
        with contextlib.suppress(Exception):
            if spark is not None:
                spark.stop()
        shutil.rmtree(runtime, ignore_errors=True)


def _stop(server, loader: AccessLogLoader, access_file: Path) -> str:
    """Stop the Thrift service, then load the rest of the access log. A signal sent to the whole
    process group stops the JVM on its own; its log lines then load at the next start."""
    from py4j.protocol import Py4JError

    try:
        server.stop()
        loaded = loader.flush()
    except (Py4JError, ConnectionError) as exc:
        log.warning("the JVM stopped first (%s); the access log loads at the next start", type(exc).__name__)
        return "the JVM had stopped: the rest of the access log loads at the next start"
    access_file.unlink(missing_ok=True)
    return f"{loaded} access-log rows loaded at stop"


def _loop(spark, config: Config, loader: AccessLogLoader, stop: threading.Event) -> None:
    """Until stopped: load the access log and register new tables, each on its own period."""
    flush_every = config.serve.access_log_flush_seconds
    refresh_every = config.serve.refresh_tables_seconds
    next_flush = time.monotonic() + flush_every
    next_refresh = time.monotonic() + refresh_every
    while not stop.wait(max(0.0, min(next_flush, next_refresh) - time.monotonic())):
        now = time.monotonic()
        # a failed round is retried at the next one (the log file keeps every line until loaded);
        # it never stops the endpoint
        if now >= next_flush:
            next_flush = now + flush_every
            _attempt("loading the access log", loader.flush)
        if now >= next_refresh:
            next_refresh = now + refresh_every
            _attempt("registering new tables", lambda: register_tables(spark, config))


def _attempt(what: str, action: Callable[[], object]) -> None:
    try:
        action()
    except Exception as exc:  # noqa: BLE001 - logged, retried next round
        log.warning("%s failed (retried next round): %s", what, type(exc).__name__)
