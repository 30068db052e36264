"""The README's main command, as a user runs it: fresh processes, a config file, the CLI only."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import TEST_SPARK

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def medallion(cfg: Path, *args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "pipelines.cli", "--config", str(cfg), *args],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


def test_demo_generates_runs_every_stage_and_prints_the_layers(tmp_path: Path) -> None:
    cfg = tmp_path / "medallion.yaml"
    cfg.write_text(yaml.safe_dump({"paths": {"root": str(tmp_path / "lake")}, "spark": dict(TEST_SPARK)}))
    medallion(cfg, "generate", "--events", "3000", "--seed", "7", "--bad-rate", "0.02", "--files", "2")
    run_out = medallion(cfg, "run", "--once")
    assert "bronze_events_raw: 3000 rows" in run_out
    shown = medallion(cfg, "show")
    assert "Bronze: lines landed per ingest date" in shown
    assert "3000" in shown
