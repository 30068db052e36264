"""`medallion serve` for real: the Spark Thrift Server on 127.0.0.1, started by the module's fixture
on a copy of the session's built lakehouse, queried through PyHive and beeline like an analyst's
tools would, and stopped with SIGTERM at the end (also when a test fails).

What must hold (issue: serving): the same Gold rows through beeline, PyHive and `medallion sql`;
every kind of statement outside the allow-list refused for analysts with the tables unchanged;
Bronze, quarantine and `direct` columns never served; wrong passwords refused; a non-loopback bind
without authentication refused at start; concurrent sessions isolated; an access log of who ran
what; no password in any log.
"""
from __future__ import annotations

import csv
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyhive import hive

from pipelines.core.tables import AUDIT_SQL_ACCESS_LOG, BRONZE_EVENTS_RAW, SILVER_EVENTS
from tests.conftest import Lakehouse

QUERY = "SELECT channel, spend_usd, new_customers, cac_usd FROM gold.fct_channel_cac ORDER BY channel"
PASSWORDS = {"alice": "alice-Secret-7d1f", "bob": "bob-Secret-91ac", "builder": "builder-Secret-55e2"}
USERS = "alice:analyst,bob:analyst,builder:pipeline"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    lake: Lakehouse
    port: int
    process: subprocess.Popen
    stdout: list[str]
    stderr_path: Path

    def connect(self, user: str = "alice", password: str | None = None) -> hive.Connection:
        return hive.connect(host="127.0.0.1", port=self.port, username=user, auth="CUSTOM",
                            password=PASSWORDS[user] if password is None else password, database="gold")

    def query(self, sql: str, user: str = "alice") -> list[tuple]:
        with self.connect(user) as conn:
            cur = conn.cursor()
            cur.execute(sql)
            return cur.fetchall() if cur.description else []

    def refusal(self, sql: str, user: str = "alice", conn: hive.Connection | None = None) -> str:
        """The guard's error code for `sql` (the test fails if it runs)."""
        own = conn is None
        conn = conn or self.connect(user)
        try:
            cur = conn.cursor()
            with pytest.raises(Exception) as caught:
                cur.execute(sql)
                cur.fetchall()
            match = re.search(r"\[((?:SQL|SERVE)_[A-Z_]+)\]", str(caught.value))
            assert match, f"{sql!r} failed without a guard code: {str(caught.value)[:300]}"
            return match.group(1)
        finally:
            if own:
                conn.close()


def _serve_env(lake: Lakehouse) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDALLION_")}
    env.update({"MEDALLION_SERVE_USERS": USERS,
                **{f"MEDALLION_SERVE_PASSWORD_{u.upper()}": p for u, p in PASSWORDS.items()}})
    return env


@pytest.fixture(scope="module")
def server(built_lakehouse, tmp_path_factory) -> Server:
    root = tmp_path_factory.mktemp("serving")
    lake = built_lakehouse.lake.copy(root / "lake")
    # a copy keeps the sections of the original; the access log is loaded every 2 s here
    data = lake.config_file.read_text() + "serve: {access_log_flush_seconds: 5, refresh_tables_seconds: 30}\n"
    lake.config_file.write_text(data)
    port = free_port()
    stderr_path = root / "serve.stderr"
    process = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "--config", str(lake.config_file), "serve", "--port", str(port)],
        env=_serve_env(lake), stdout=subprocess.PIPE, stderr=stderr_path.open("w"), text=True)
    stdout: list[str] = []
    reader = threading.Thread(target=lambda: stdout.extend(iter(process.stdout.readline, "")), daemon=True)
    reader.start()
    served = Server(lake, port, process, stdout, stderr_path)
    try:
        deadline = time.monotonic() + 240
        while not any("listening" in line for line in stdout):
            assert process.poll() is None, f"serve exited: {stderr_path.read_text()[-2000:]}"
            assert time.monotonic() < deadline, "serve did not start listening"
            time.sleep(0.5)
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    # SIGTERM stops it cleanly: exit 0, the access log loaded, the port free
    reader.join(timeout=10)
    assert process.returncode == 0, stderr_path.read_text()[-2000:]
    assert any("stopped" in line for line in stdout)
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0


def _beeline(server: Server, sql: str, tmp_path: Path) -> list[list[str]]:
    import pyspark

    password_file = tmp_path / "password"
    password_file.write_text(PASSWORDS["alice"])
    password_file.chmod(0o600)
    beeline = Path(pyspark.__file__).parent / "bin" / "beeline"
    done = subprocess.run(
        [str(beeline), "-u", f"jdbc:hive2://127.0.0.1:{server.port}/gold", "-n", "alice", "-w", str(password_file),
         "--outputformat=csv2", "--silent=true", "--showHeader=false", "-e", sql],
        capture_output=True, text=True, timeout=180, env={**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"})
    assert done.returncode == 0, done.stderr[-2000:]
    # beeline echoes its prompt before the first line of output when stdin is not a terminal
    text = re.sub(r"^\d+: jdbc:hive2://\S+> ", "", done.stdout, flags=re.MULTILINE)
    return [row for row in csv.reader(io.StringIO(text)) if row]


def _norm(rows) -> list[tuple[str, ...]]:
    def cell(v) -> str:
        if v is None or v == "NULL" or v == "":
            return ""
        try:
            return f"{float(v):.4f}"
        except (TypeError, ValueError):
            return str(v)
    return [tuple(cell(v) for v in row) for row in rows]


def test_beeline_pyhive_and_medallion_sql_return_the_same_gold_rows(server: Server, tmp_path, capsys):
    through_pyhive = server.query(QUERY)
    through_beeline = _beeline(server, QUERY, tmp_path)
    capsys.readouterr()
    assert server.lake.medallion("sql", QUERY, "--format", "csv") == 0
    through_sql = list(csv.reader(io.StringIO(capsys.readouterr().out)))[1:]
    assert len(through_pyhive) >= 3
    assert _norm(through_pyhive) == _norm(through_beeline) == _norm(through_sql)


# statement -> the code the guard answers an analyst with
REFUSED = {
    "INSERT INTO gold.dim_channels SELECT * FROM gold.dim_channels": "SQL_READ_ONLY",
    "UPDATE gold.fct_channel_cac SET cac_usd = 0": "SQL_READ_ONLY",
    "DELETE FROM gold.fct_channel_cac": "SQL_READ_ONLY",
    "MERGE INTO gold.fct_channel_cac t USING gold.fct_channel_cac s ON t.channel = s.channel "
    "WHEN MATCHED THEN UPDATE SET cac_usd = 0": "SQL_READ_ONLY",
    "CREATE TABLE gold.analyst_table (a INT) USING delta": "SQL_READ_ONLY",
    "CREATE OR REPLACE TEMPORARY VIEW v AS SELECT 1": "SQL_READ_ONLY",
    "DROP TABLE gold.dim_channels": "SQL_READ_ONLY",
    "ALTER TABLE gold.dim_channels SET TBLPROPERTIES ('x' = 'y')": "SQL_READ_ONLY",
    "TRUNCATE TABLE gold.dim_channels": "SQL_READ_ONLY",
    "RESTORE TABLE silver.events TO VERSION AS OF 0": "SQL_READ_ONLY",
    "VACUUM gold.dim_channels": "SQL_READ_ONLY",
    "OPTIMIZE gold.dim_channels": "SQL_READ_ONLY",
    "CREATE TABLE gold.cloned SHALLOW CLONE gold.dim_channels": "SQL_READ_ONLY",
    "CACHE TABLE gold.dim_channels": "SQL_READ_ONLY",
    "ADD JAR /tmp/anything.jar": "SQL_READ_ONLY",
    "CREATE FUNCTION f AS 'org.apache.hadoop.hive.ql.udf.UDFPI'": "SQL_READ_ONLY",
    "SELECT reflect('java.lang.System', 'getenv', 'HOME')": "SQL_FORBIDDEN_FUNCTION",
    "SELECT java_method('java.lang.System', 'getProperty', 'user.home')": "SQL_FORBIDDEN_FUNCTION",
    "SET spark.sql.runSQLOnFiles = true": "SERVE_PROTECTED_SETTING",
    "SET spark.medallion.guard.localRole = unrestricted": "SERVE_PROTECTED_SETTING",
    "SET": "SERVE_PROTECTED_SETTING",
    "SELECT count(*) FROM bronze.events_raw": "SERVE_NOT_VISIBLE",
    "SELECT count(*) FROM silver.events_quarantine": "SERVE_NOT_VISIBLE",
    "DESCRIBE bronze.events_raw": "SERVE_NOT_VISIBLE",
    "SHOW TABLES IN bronze": "SERVE_NOT_VISIBLE",
    "SELECT * FROM audit.sql_access_log": "SERVE_NOT_VISIBLE",
    "SELECT * FROM silver.events": "SERVE_PERSONAL_COLUMN",
    "SELECT event_id FROM silver.events WHERE properties LIKE '%ip%'": "SERVE_PERSONAL_COLUMN",
    "SELECT e.event_id FROM gold.fct_customer_ltv l JOIN silver.events e ON l.user_id = e.user_id "
    "WHERE e.properties IS NOT NULL": "SERVE_PERSONAL_COLUMN",
    "SELECT count(*) FROM gold.dim_channels WHERE channel IN (SELECT properties FROM silver.events)":
        "SERVE_PERSONAL_COLUMN",
}


def _versions(lake: Lakehouse) -> dict[str, int]:
    """Commits per Delta table of the warehouse (the access log's own table aside)."""
    warehouse = Path(lake.config.warehouse)
    return {str(log.parent.relative_to(warehouse)): len(list(log.glob("*.json")))
            for log in warehouse.glob("*/*/_delta_log")
            if log.parent.name != AUDIT_SQL_ACCESS_LOG.name}


def test_every_statement_outside_the_allow_list_is_refused_for_analysts_and_changes_nothing(server: Server):
    before = _versions(server.lake)
    bronze_path = BRONZE_EVENTS_RAW.location(server.lake.config)
    statements = {**REFUSED,
                  # reads by path: off for analysts whatever the format
                  f"SELECT count(*) FROM delta.`{bronze_path}`": None,
                  f"SELECT count(*) FROM parquet.`{bronze_path}`": None}
    with server.connect() as conn:
        answers = {sql: server.refusal(sql, conn=conn) if code else _fails(conn, sql)
                   for sql, code in statements.items()}
        # the session still works after every refusal
        cur = conn.cursor()
        cur.execute("SELECT count(*) FROM gold.dim_channels")
        assert cur.fetchall()[0][0] > 0
    assert {sql: answers[sql] for sql in REFUSED} == REFUSED
    assert _versions(server.lake) == before
    assert not (Path(server.lake.config.warehouse) / "gold" / "analyst_table").exists()


def _fails(conn, sql: str) -> str:
    cur = conn.cursor()
    with pytest.raises(Exception) as caught:
        cur.execute(sql)
        cur.fetchall()
    return str(caught.value)[:200]


def test_analysts_read_gold_and_pseudonymous_silver_columns_and_may_describe_and_explain(server: Server):
    assert server.query("SELECT count(*) FROM gold.fct_customer_ltv")[0][0] > 0
    # pseudonymous columns (user ids) are served; direct ones are not (test above)
    users = server.query("SELECT user_id, event_type FROM silver.events WHERE user_id IS NOT NULL LIMIT 5")
    assert len(users) == 5 and all(u for u, _ in users)
    assert server.query("SELECT count(*) FROM audit.batch_ledger")[0][0] > 0
    tables = {row[1] for row in server.query("SHOW TABLES IN gold")}
    assert {"fct_channel_cac", "fct_campaign_performance", "fct_customer_ltv"} <= tables
    described = server.query("DESCRIBE gold.fct_channel_cac")
    assert [r[0] for r in described[:4]] == ["channel", "spend_usd", "new_customers", "cac_usd"]
    plan = server.query(f"EXPLAIN {QUERY}")
    assert "fct_channel_cac" in plan[0][0]
    assert server.query("SET spark.sql.session.timeZone = UTC") == [("spark.sql.session.timeZone", "UTC")]
    assert server.query("SELECT current_user()") == [("alice",)]


def test_a_wrong_password_or_unknown_user_is_refused(server: Server):
    for user, password in (("alice", "not-the-password"), ("alice", PASSWORDS["bob"]), ("mallory", "whatever-1")):
        with pytest.raises(Exception) as caught:
            hive.connect(host="127.0.0.1", port=server.port, username=user, password=password, auth="CUSTOM")
        assert "login" in str(caught.value).lower() or "auth" in str(caught.value).lower()


def test_the_pipeline_role_writes_gold_but_never_bronze(server: Server):
    assert server.refusal("DELETE FROM bronze.events_raw WHERE false", user="builder") == "SQL_BRONZE_APPEND_ONLY"
    bronze_path = BRONZE_EVENTS_RAW.location(server.lake.config)
    with server.connect("builder") as conn:  # by path, as dbt's sessions may (they turn path reads on)
        conn.cursor().execute("SET spark.sql.runSQLOnFiles = true")
        assert server.refusal(f"INSERT INTO delta.`{bronze_path}` SELECT * FROM bronze.events_raw LIMIT 0",
                              conn=conn) == "SQL_BRONZE_APPEND_ONLY"
    location = Path(server.lake.config.warehouse) / "gold" / "pipeline_scratch"
    server.query(f"CREATE TABLE gold.pipeline_scratch USING delta LOCATION '{location}' AS SELECT 1 AS a",
                 user="builder")
    assert server.query("SELECT a FROM gold.pipeline_scratch", user="builder") == [(1,)]
    server.query("DROP TABLE gold.pipeline_scratch", user="builder")
    shutil.rmtree(location)


def test_eight_concurrent_sessions_and_a_failing_query_does_not_disturb_the_others(server: Server):
    expected = server.query(QUERY)
    results: dict[int, object] = {}

    def client(i: int) -> None:
        try:
            with server.connect("bob" if i % 2 else "alice") as conn:
                cur = conn.cursor()
                sql = "SELECT 1 / 0" if i == 3 else QUERY  # ANSI mode: division by zero fails
                for _ in range(3):
                    cur.execute(sql)
                    results[i] = cur.fetchall()
        except Exception as exc:  # noqa: BLE001 - the failing client's error is the point
            results[i] = exc

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert isinstance(results[3], Exception) and "DIVIDE_BY_ZERO" in str(results[3])
    assert all(results[i] == expected for i in range(8) if i != 3)


def test_the_access_log_says_who_ran_what_without_the_statements(server: Server, spark):
    marker = "x-audit-marker-5123"
    server.query(f"SELECT count(*) FROM gold.fct_campaign_performance WHERE campaign_id <> '{marker}'", user="bob")
    server.refusal("SELECT count(*) FROM bronze.events_raw", user="bob")
    with pytest.raises(Exception):  # a failing statement: its text must not reach a log either
        server.query(f"SELECT no_such_column FROM gold.dim_channels WHERE channel = '{marker}'", user="bob")
    location = AUDIT_SQL_ACCESS_LOG.location(server.lake.config)
    deadline = time.monotonic() + 60
    rows: list = []
    while time.monotonic() < deadline:
        if (Path(location) / "_delta_log").exists():
            rows = spark.read.format("delta").load(location).where("user_name = 'bob'").collect()
            if {r["outcome"] for r in rows} >= {"allowed", "refused"}:
                break
        time.sleep(1)
    allowed = [r for r in rows if r["outcome"] == "allowed" and "gold.fct_campaign_performance" in r["tables_read"]]
    refused = [r for r in rows if r["refusal_code"] == "SERVE_NOT_VISIBLE"]
    assert allowed and refused, rows
    assert all(r["role"] == "analyst" and len(r["statement_fingerprint"]) == 16 for r in allowed + refused)
    assert all(r["server_run_id"] for r in rows)
    # never the statement itself: its literals may be personal data
    assert not any(marker in str(r.asDict()) for r in rows)
    root = Path(server.lake.config.paths.root)
    logs = [p for p in root.rglob("*") if p.is_file() and p.suffix in (".log", ".jsonl")]
    assert not any(marker in p.read_text(errors="replace") for p in logs)
    assert marker not in server.stderr_path.read_text(errors="replace")


def test_no_password_in_the_servers_logs_or_its_jvm_environment(server: Server):
    server.query("SELECT 1")
    texts = [server.stderr_path.read_text(errors="replace"), "".join(server.stdout)]
    root = Path(server.lake.config.paths.root)
    texts += [p.read_text(errors="replace") for p in root.rglob("*") if p.is_file() and p.suffix in (".log", ".jsonl")]
    # the JVM (a child of the serve process) never received them: hashed, then removed from the env
    for pid in _children(server.process.pid):
        try:
            texts.append(Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace"))
            texts.append(Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"))
        except OSError:
            pass
    for password in PASSWORDS.values():
        assert not any(password in text for text in texts)


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    kids = [int(p) for p in out.split()]
    return kids + [g for k in kids for g in _children(k)]


def test_a_non_loopback_bind_without_authentication_is_refused_at_start(built_lakehouse, capsys, monkeypatch):
    monkeypatch.delenv("MEDALLION_SERVE_USERS", raising=False)
    assert built_lakehouse.lake.medallion("serve", "--host", "0.0.0.0", "--port", str(free_port())) == 2
    err = capsys.readouterr().err
    assert "SERVE_INSECURE_BIND" in err and "Traceback" not in err


def test_medallion_sql_is_read_only_by_the_same_plan_guard(server: Server):
    """A statement the text check lets through (CACHE TABLE reads, by its syntax) is refused on its
    analyzed plan, in a `medallion sql` process of its own (its JVM loads the guard)."""
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "--config", str(server.lake.config_file),
                           "sql", "CACHE TABLE gold.dim_channels"],
                          capture_output=True, text=True, timeout=300,
                          env={k: v for k, v in os.environ.items() if not k.startswith("MEDALLION_")})
    assert done.returncode == 2, done.stderr[-1500:]
    assert "SQL_REFUSED" in done.stderr and "SQL_READ_ONLY" in done.stderr and "Traceback" not in done.stderr


def test_silver_rows_committed_after_start_are_visible_to_the_next_query(server: Server, spark):
    before = server.query("SELECT count(*) FROM silver.events")[0][0]
    location = SILVER_EVENTS.location(server.lake.config)
    spark.read.format("delta").load(location).limit(1).write.format("delta").mode("append").save(location)
    assert server.query("SELECT count(*) FROM silver.events")[0][0] == before + 1
