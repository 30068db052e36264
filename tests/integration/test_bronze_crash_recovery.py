"""A Bronze ingest killed with SIGKILL mid-run and restarted ends with exactly the landed lines."""
from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from pipelines.core.tables import BRONZE_EVENTS_RAW
from tests.conftest import TEST_SPARK
from tests.integration.test_bronze_ingest import land

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FILES, LINES_PER_FILE = 12, 500


def write_config(root: Path) -> Path:
    cfg = root / "medallion.yaml"
    cfg.write_text(yaml.safe_dump({
        "paths": {"root": str(root / "lake")},
        "spark": dict(TEST_SPARK),
        "ingest": {"max_files_per_trigger": 2},  # 6 batches: plenty of places to die
    }))
    return cfg


def committed_versions(table: Path) -> int:
    log = table / "_delta_log"
    return len(list(log.glob("*.json"))) if log.exists() else 0


def ingest(cfg: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipelines.cli", "--config", str(cfg), "ingest", "--once"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


@pytest.mark.parametrize("kill_after_commits", [2, 4])
def test_ingest_killed_mid_batch_and_restarted_has_every_line_exactly_once(
        spark, tmp_path: Path, kill_after_commits: int) -> None:
    cfg = write_config(tmp_path)
    from pipelines.core.config import load_config
    config = load_config(str(cfg), env={})
    expected: collections.Counter = collections.Counter()
    for f in range(FILES):
        lines = [f'{{"event_id":"{f}-{n}","file":{f}}}'.encode() for n in range(LINES_PER_FILE)]
        land(Path(config.landing), f"part-{f:03d}.jsonl", lines)
        expected.update(line.decode() for line in lines)

    table = Path(BRONZE_EVENTS_RAW.location(config))
    proc = ingest(cfg)
    deadline = time.monotonic() + 240
    while committed_versions(table) < kill_after_commits and time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
        time.sleep(0.05)
    assert committed_versions(table) >= kill_after_commits
    os.killpg(proc.pid, signal.SIGKILL)  # the JVM too: no chance to clean up
    proc.wait(timeout=60)

    partial = spark.read.format("delta").load(str(table)).count()
    assert 0 < partial < FILES * LINES_PER_FILE

    restarted = ingest(cfg)
    _, err = restarted.communicate(timeout=600)
    assert restarted.returncode == 0, err.decode()[-3000:]

    rows = spark.read.format("delta").load(str(table)).select("raw", "_bronze_id").collect()
    assert collections.Counter(r.raw for r in rows) == expected
    assert len({r._bronze_id for r in rows}) == len(rows)
