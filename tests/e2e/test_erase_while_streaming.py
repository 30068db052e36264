"""`medallion erase` in its own process while ingest and refine stream (issue 15): the person is
gone from every file, nothing landed before, during or after the erasure is lost or landed twice,
and the streams keep running through the rewrites of the tables they write and read.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pipelines.core import registry
from pipelines.sample_events import write_sample_events
from tests.integration.test_erasure import residue

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TIMEOUT_S = 300


def _wait_for(what: str, condition, timeout: float = TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(1.0)


def test_erase_while_ingest_and_refine_stream_loses_nothing_and_leaves_no_residue(spark, tmp_path):
    from pyspark.sql import functions as F

    from pipelines.orchestration import run_stages
    from tests.conftest import Lakehouse

    lake = Lakehouse.create(tmp_path)
    config = lake.config
    landing = Path(config.landing)

    def land(seed: int) -> int:
        return write_sample_events(str(landing), events=600, seed=seed, bad_rate=0.03, files=2).lines

    bronze_path = registry.table("bronze.events_raw").location(config)
    ledger_path = registry.table("audit.batch_ledger").location(config)

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
    try:
        _wait_for("the first files to be refined", lambda: refined() == landed or failure)
        # the person: a user of the first landing with an email (later seeds make other users)
        lines = spark.read.format("delta").load(bronze_path).select("raw").collect()
        docs = [d for d in (json.loads(r["raw"]) for r in lines if r["raw"].startswith("{") and r["raw"].endswith("}"))
                if isinstance(d, dict) and isinstance(d.get("email"), str) and d.get("user_id")]
        person = docs[0]
        needles = [person["email"].strip().lower(), person["user_id"].lower()]
        assert residue(lake.root, needles)
        landed += land(2)
        erase = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "--config", str(lake.config_file),
                                  "erase", "--email", person["email"], "--request-id", "STREAMING-1"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
        time.sleep(5)
        landed += land(3)  # lands while erase runs
        out, err = erase.communicate(timeout=TIMEOUT_S * 2)
        assert erase.returncode == 0, out + err
        erased_at = time.time()
        landed += land(4)  # after the erasure: the streams still take new files
        _wait_for("every landed line to be refined", lambda: refined() == landed or failure)
        assert not failure, failure
        assert thread.is_alive(), "the streams stopped"
    finally:
        stop.set()
        thread.join(timeout=120)
    assert not failure, failure

    assert residue(lake.root, needles) == [], out
    bronze = spark.read.format("delta").load(bronze_path)
    assert bronze.count() == landed == bronze.select("_bronze_id").distinct().count()
    silver = {name: spark.read.format("delta").load(registry.table(name).location(config)).count()
              for name in ("silver.events", "silver.events_quarantine", "silver.events_duplicates")}
    assert sum(silver.values()) == landed, silver
    ledger = spark.read.format("delta").load(ledger_path)
    assert ledger.where(F.col("processed_at") > F.lit(erased_at).cast("timestamp")).count() > 0
    log = spark.read.format("delta").load(registry.table("audit.erasure_log").location(config)).collect()
    assert [r["request_id"] for r in log] == ["STREAMING-1"]
