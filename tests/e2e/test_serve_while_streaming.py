"""`medallion serve` under load (issue: serving): ingest and refine stream into Silver while dbt
builds Gold through the server with the pipeline role and analysts keep querying Silver and Gold
through it. No query may fail (no lock, no missing table), the build must pass, the streams must
commit during the build, and what they commit must be visible to the next query.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from pyhive import hive

from pipelines.core import registry
from pipelines.core.config import DBT_PROJECT_DIR
from pipelines.sample_events import write_sample_events

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TIMEOUT_S = 300
PASSWORDS = {"ann": "ann-Secret-0c41", "builder": "builder-Secret-77d3"}


def _wait_for(what: str, condition, timeout: float = TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(1.0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dbt_builds_through_the_server_while_streams_commit_and_analysts_query(spark, tmp_path):
    from pyspark.sql import functions as F

    from pipelines.orchestration import run_stages
    from tests.conftest import Lakehouse

    lake = Lakehouse.create(tmp_path / "lake", serve={"refresh_tables_seconds": 2, "access_log_flush_seconds": 5})
    config = lake.config
    landing = Path(config.landing)
    ledger_path = registry.table("audit.batch_ledger").location(config)

    def land(seed: int) -> int:
        return write_sample_events(str(landing), events=800, seed=seed, bad_rate=0.02, files=2).lines

    def refined() -> int:
        if not Path(ledger_path, "_delta_log").is_dir():
            return 0
        return spark.read.format("delta").load(ledger_path).agg(F.sum("rows_read")).first()[0] or 0

    landed = land(1)
    stop, failure = threading.Event(), []

    def streams() -> None:
        try:
            run_stages(config, ["ingest", "refine"], continuous=True, spark=spark, stop_event=stop)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failure.append(exc)

    thread = threading.Thread(target=streams, daemon=True)
    thread.start()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEDALLION_", "DBT_"))}
    server = None
    try:
        _wait_for("the first files to be refined", lambda: refined() == landed or failure)
        assert not failure, failure
        assert lake.medallion("build") == 0  # Gold exists before analysts and the server's build
        server = subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", "--config", str(lake.config_file), "serve", "--port", str(port)],
            env={**env, "MEDALLION_SERVE_USERS": "ann:analyst,builder:pipeline",
                 "MEDALLION_SERVE_PASSWORD_ANN": PASSWORDS["ann"],
                 "MEDALLION_SERVE_PASSWORD_BUILDER": PASSWORDS["builder"]},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + TIMEOUT_S
        while "listening" not in (line := server.stdout.readline()):
            assert line and time.monotonic() < deadline, "serve did not start"
        threading.Thread(target=server.stdout.read, daemon=True).start()  # keep its pipe drained

        errors: list[str] = []
        answers: list[tuple[float, int, int]] = []  # (time, silver rows, gold rows)
        done = threading.Event()

        def analyst() -> None:
            conn = hive.connect(host="127.0.0.1", port=port, username="ann", password=PASSWORDS["ann"],
                                auth="CUSTOM", database="gold")
            cur = conn.cursor()
            while not done.is_set():
                try:
                    cur.execute("SELECT count(*) FROM silver.events")
                    silver = cur.fetchall()[0][0]
                    cur.execute("SELECT count(*), sum(revenue_usd) FROM gold.fct_campaign_performance")
                    gold = cur.fetchall()[0][0]
                    answers.append((time.monotonic(), silver, gold))
                except Exception as exc:  # noqa: BLE001 - every failure is a finding
                    errors.append(str(exc)[:300])
                time.sleep(0.2)
            conn.close()

        reader = threading.Thread(target=analyst, daemon=True)
        reader.start()
        landed += land(2)
        started = time.monotonic()
        build = subprocess.run(
            [str(Path(sys.executable).parent / "dbt"), "build", "--target", "thrift",
             "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)],
            env={**env, "DBT_SPARK_HOST": "127.0.0.1", "DBT_SPARK_PORT": str(port), "DBT_SPARK_USER": "builder",
                 "DBT_SPARK_PASSWORD": PASSWORDS["builder"], "MEDALLION_WAREHOUSE": config.warehouse,
                 "DBT_TARGET_PATH": str(tmp_path / "dbt-target"), "DBT_LOG_PATH": str(tmp_path / "dbt-logs"),
                 "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
            capture_output=True, text=True, timeout=900)
        finished = time.monotonic()
        assert build.returncode == 0, build.stdout[-3000:]
        _wait_for("everything landed to be refined", lambda: refined() == landed or failure)
        time.sleep(1.0)
        done.set()
        reader.join(timeout=60)

        assert not failure, failure
        assert not errors, errors[:3]
        during = [a for a in answers if started <= a[0] <= finished]
        assert len(during) >= 10, "analysts were answered during the build"
        assert all(gold > 0 for _, _, gold in answers), "a Gold table was ever missing or empty"
        # the stream committed to Silver during the build, and the next query saw it
        assert during[-1][1] > during[0][1] or answers[-1][1] > during[0][1]
        ledger = spark.read.format("delta").load(ledger_path)
        assert ledger.count() >= 2
        # the build went through the server: its ledger row names the thrift target
        builds = spark.read.format("delta").load(registry.table("audit.gold_builds").location(config))
        assert builds.where("resource_type = 'invocation' AND target_name = 'thrift' AND status = 'success'").count() == 1
    finally:
        stop.set()
        thread.join(timeout=120)
        if server is not None and server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=90)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    assert server.returncode == 0
