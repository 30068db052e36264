"""`medallion maintain` in its own process while ingest and refine stream (issue 14, retention):
with `retention.landing_days: 0` the ingested landing files go, nothing is lost or duplicated,
and the streams keep running through OPTIMIZE, VACUUM and checkpoints of the tables they write.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pipelines.core import registry
from pipelines.sample_events import write_sample_events

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TIMEOUT_S = 240


def _wait_for(what: str, condition, timeout: float = TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(1.0)


def test_maintain_removes_ingested_landing_files_while_the_streams_run_without_loss(spark, tmp_path):
    from pyspark.sql import functions as F

    from pipelines.orchestration import run_stages
    from tests.conftest import Lakehouse

    lake = Lakehouse.create(tmp_path, retention={"landing_days": 0})
    config = lake.config
    landing = Path(config.landing)

    def land(seed: int) -> tuple[list[Path], int]:
        report = write_sample_events(str(landing), events=600, seed=seed, bad_rate=0.03, files=2)
        return [Path(f) for f in report.files], report.lines

    bronze_path = registry.table("bronze.events_raw").location(config)
    ledger_path = registry.table("audit.batch_ledger").location(config)

    def refined() -> int:
        if not Path(ledger_path, "_delta_log").is_dir():
            return 0
        return spark.read.format("delta").load(ledger_path).agg(F.sum("rows_read")).first()[0] or 0

    first, landed = land(1)
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
        second, more = land(2)
        landed += more
        maintain = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "--config", str(lake.config_file),
                                     "maintain"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    env=dict(os.environ))
        time.sleep(5)
        third, more = land(3)  # lands while maintain runs
        landed += more
        out, err = maintain.communicate(timeout=TIMEOUT_S)
        assert maintain.returncode == 0, out + err
        maintained_at = time.time()
        _, more = land(4)  # after maintain: the streams still take new files
        landed += more
        _wait_for("every landed line to be refined", lambda: refined() == landed or failure)
        assert not failure, failure
        assert thread.is_alive(), "the streams stopped"
    finally:
        stop.set()
        thread.join(timeout=120)
    assert not failure, failure

    # the ingested files of the first landing are gone; nothing landed after maintain started was touched
    assert not [f for f in first if f.exists()], out
    assert all(f.exists() for f in third)
    assert "landing: removed" in out

    # nothing lost, nothing twice
    bronze = spark.read.format("delta").load(bronze_path)
    assert bronze.count() == landed == bronze.select("_bronze_id").distinct().count()
    silver = {name: spark.read.format("delta").load(registry.table(name).location(config)).count()
              for name in ("silver.events", "silver.events_quarantine", "silver.events_duplicates")}
    assert sum(silver.values()) == landed, silver
    # the streams went on after maintain: batches committed after it
    ledger = spark.read.format("delta").load(ledger_path)
    assert ledger.where(F.col("processed_at") > F.lit(maintained_at).cast("timestamp")).count() > 0
    # maintain did compact and checkpoint Bronze under the running refine stream
    history = [r["operation"] for r in spark.sql(f"DESCRIBE HISTORY delta.`{bronze_path}`").collect()]
    assert "OPTIMIZE" in history
    assert list(Path(bronze_path, "_delta_log").glob("*.checkpoint*.parquet"))
