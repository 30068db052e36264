"""`medallion status` on the session's pre-built lakehouse, as an operator (or cron) runs it."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import yaml

from pipelines.cli import main
from tests.support.silver_testkit import append_bronze, event, read

pytestmark = pytest.mark.integration


def _status(capsys, cfg: Path, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    rc = main(["--config", str(cfg), "status", *args])
    return rc, capsys.readouterr().out


def test_a_freshly_built_lakehouse_reports_every_layer_and_is_healthy(spark, built_lakehouse, capsys):
    lake = built_lakehouse.lake
    capsys.readouterr()
    assert lake.medallion("status", "--format", "json") == 0
    doc = json.loads(capsys.readouterr().out)
    config = lake.config
    assert doc["healthy"] is True and doc["checks"] == []
    assert doc["landing"]["files_waiting"] == 0
    assert doc["bronze"]["rows"] == built_lakehouse.landed_lines
    assert (doc["bronze"]["rows_not_refined"], doc["bronze"]["not_refined_since"]) == (0, None)
    assert doc["silver"]["rows"] == read(spark, config, "silver", "events").count()
    day = doc["silver"]["windows"][1]
    assert (day["hours"], day["rows_read"]) == (24, built_lakehouse.landed_lines)
    assert day["rows_quarantined"] == read(spark, config, "silver", "events_quarantine").count() > 0
    gate = doc["silver"]["last_gate"]
    assert gate["suite"] == "silver_events" and gate["expectations"] > 0
    assert {f["reason"] for f in gate["failed"] if f["action"] == "quarantine"} >= {"malformed_json"}
    gold = doc["gold"]
    assert gold["last_build_status"] == "success" and gold["seconds_since_last_success"] >= 0
    results = built_lakehouse.build_results()["results"]
    tests = [r for r in results if r["unique_id"].startswith(("test.", "unit_test."))]
    assert gold["tests"] == {"pass": len(tests)}
    built = [r for r in results if r["unique_id"].startswith(("model.", "seed.", "snapshot."))]
    assert gold["models"] == {"success": len(built)}


def test_breached_thresholds_exit_1_naming_each(built_lakehouse, tmp_path: Path, capsys):
    """The built warehouse with a landing folder holding a file landed ten minutes ago that no
    stream took: the landing wait and the quarantine rate breach, the rest hold."""
    landing = tmp_path / "landing"
    landing.mkdir()
    waiting = landing / "late-arrival.jsonl"
    waiting.write_text(event("waiting-1") + "\n")
    ten_minutes_ago = time.time() - 600
    os.utime(waiting, (ten_minutes_ago, ten_minutes_ago))
    base = yaml.safe_load(built_lakehouse.lake.config_file.read_text())
    base["paths"]["landing"] = str(landing)
    base["status"] = {"max_landing_wait_seconds": 300, "max_refine_wait_seconds": 300,
                      "max_gold_age_seconds": 86400, "max_quarantine_rate": 0.001}
    cfg = tmp_path / "medallion.yaml"
    cfg.write_text(yaml.safe_dump(base))
    rc, out = _status(capsys, cfg)
    assert rc == 1, out
    assert "landing  1 file(s) waiting for ingest, the oldest for 10m" in out
    assert "BREACHED oldest landed file waiting for ingest: 600s (above 300s)" in out
    assert "BREACHED quarantine rate over the last hour" in out
    assert "ok       oldest Bronze rows waiting for refine: n/a (within 300s)" in out
    assert "ok       time since the last successful Gold build" in out
    assert out.rstrip().endswith("status: UNHEALTHY")


def test_bronze_rows_no_stream_refined_yet_are_counted_with_their_age(spark, built_lakehouse, tmp_path: Path,
                                                                      capsys):
    copy = built_lakehouse.lake.copy(tmp_path / "copy")
    append_bronze(spark, copy.config, [event("unrefined-1"), event("unrefined-2")], batch=99)
    data = yaml.safe_load(copy.config_file.read_text())
    data["status"] = {"max_refine_wait_seconds": 0.001}
    copy.config_file.write_text(yaml.safe_dump(data))
    rc, out = _status(capsys, copy.config_file, "--format", "json")
    doc = json.loads(out)
    assert rc == 1
    assert doc["bronze"]["rows"] == built_lakehouse.landed_lines + 2
    assert doc["bronze"]["rows_not_refined"] == 2
    assert 0 < doc["bronze"]["not_refined_seconds"] < 600
    assert [(c["name"], c["breached"]) for c in doc["checks"]] == [("refine_wait", True)]
