"""The README's main command, as a user runs it: fresh processes, a config file, the CLI only.

`make demo` runs generate, `run --once` and `show --layer gold`: together they print a screen, not
a scroll (third-party output goes to <paths.root>/logs/medallion.log, nothing of it lost), no
personal data or secret reaches the console or the log files at any verbosity, and a failing
run still says its error code and message, without a traceback.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import TEST_SPARK

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KEY = "e2e-known-hmac-key-7f3a9c"
MAKE_ECHO_LINES = 4  # make prints each recipe line: generate, run, show, report
DEMO_LINE_BUDGET = 60


def medallion(cfg: Path, *args: str, env: dict[str, str] | None = None,
              expect: int = 0) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "pipelines.cli", "--config", str(cfg), *args],
                            capture_output=True, text=True, timeout=900,
                            env={**os.environ, "MEDALLION_PII_KEY": KEY, **(env or {})})
    assert result.returncode == expect, result.stdout[-3000:] + result.stderr[-4000:]
    return result


def console_lines(*results: subprocess.CompletedProcess) -> list[str]:
    return [line for r in results for line in (r.stdout + r.stderr).splitlines()]


def write_config(root: Path, **extra) -> Path:
    cfg = root / "medallion.yaml"
    cfg.write_text(yaml.safe_dump({"paths": {"root": str(root / "lake")}, "spark": dict(TEST_SPARK), **extra}))
    return cfg


def test_demo_prints_a_screen_with_the_gold_metrics_and_logs_everything_else(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, spark={**TEST_SPARK, "log_level": "WARN"})  # the product's default
    generated = medallion(cfg, "generate", "--events", "3000", "--seed", "7", "--bad-rate", "0.02", "--files", "2")
    run = medallion(cfg, "run", "--once")
    shown = medallion(cfg, "show", "--layer", "gold")

    lines = console_lines(generated, run, shown)
    assert len(lines) + MAKE_ECHO_LINES < DEMO_LINE_BUDGET, "\n".join(lines)
    assert "3,000 Bronze" in run.stdout and "Silver" in run.stdout and "quarantined by reason" in run.stdout
    assert "Gold: top campaigns by ROI" in shown.stdout and "Gold: CAC by channel" in shown.stdout
    assert run.stderr == "" and shown.stderr == ""  # nothing of Ivy, Spark, GX or dbt on the console

    log = (tmp_path / "lake" / "logs" / "medallion.log").read_text()
    assert ":: resolution report ::" in log or "Ivy Default Cache" in log  # Ivy, from the JVM
    assert "Using an existing Spark session" in log  # Spark's log4j console
    assert "great_expectations" in log  # GX's logging
    assert "Running with dbt=" in log  # dbt's events
    assert "bronze_events_raw batch 0: 3000 rows" in log  # our INFO logs


def test_a_verbose_run_never_shows_or_logs_an_email_the_key_or_a_raw_line(tmp_path: Path) -> None:
    # Spark's event log too: what its UI and history server show (plans, SQL, environment)
    events_dir = tmp_path / "lake" / "spark-events"
    events_dir.mkdir(parents=True)
    cfg = write_config(tmp_path, spark={**TEST_SPARK, "conf": {
        "spark.eventLog.enabled": "true", "spark.eventLog.dir": events_dir.as_uri(),
        "spark.eventLog.compress": "false"}})  # greppable (Spark 4 writes zstd by default)
    generated = medallion(cfg, "-v", "generate", "--events", "1500", "--seed", "11", "--files", "1")
    landing = tmp_path / "lake" / "landing"
    raw_lines = [line for f in sorted(landing.iterdir()) for line in f.read_text().splitlines()]
    with_email = next(line for line in raw_lines if '"email": "' in line or '"email":"' in line)
    email = with_email.split('"email"')[1].split('"')[1].split("\\")[0].strip()
    assert "@" in email

    run = medallion(cfg, "-v", "run", "--once")  # every layer, dbt included, at DEBUG in the file
    console = "\n".join(console_lines(generated, run))
    assert "info pipelines.orchestration" in console  # -v: our INFO logs on the console
    logs = "\n".join(p.read_text(errors="replace") for p in (tmp_path / "lake" / "logs").rglob("*") if p.is_file())
    assert " DEBUG " in logs  # -v: the log file at DEBUG
    for sink in (console, logs):
        assert email not in sink and email.lower() not in sink
        assert KEY not in sink
        assert with_email not in sink and raw_lines[0] not in sink
    # the event files themselves (the JVM may still be renaming its status markers as it exits)
    event_logs = [p for p in events_dir.rglob("events_*") if p.is_file() and not p.name.endswith(".crc")]
    assert event_logs and any(b"SparkListenerSQLExecutionStart" in p.read_bytes() for p in event_logs)
    for path in event_logs:  # the plans name the key's property, never its value
        text = path.read_bytes()
        assert KEY.encode() not in text and KEY.encode().hex().encode() not in text.lower(), path
    assert any(b"medallion.pii.secret." in p.read_bytes() for p in event_logs)


def test_a_failing_run_prints_its_error_code_and_message_without_a_traceback(tmp_path: Path) -> None:
    # mode: prod refuses to hash emails without the key: refine fails after Spark has started.
    cfg = write_config(tmp_path, mode="prod")
    medallion(cfg, "generate", "--events", "200", "--seed", "3", "--files", "1")
    failed = medallion(cfg, "-q", "refine", "--once", env={"MEDALLION_PII_KEY": ""}, expect=2)
    assert "medallion: error: [PII_KEY_MISSING]" in failed.stderr
    assert "export MEDALLION_PII_KEY=" in failed.stderr
    assert "Traceback" not in failed.stdout + failed.stderr

    # A log folder that cannot be written, at the default verbosity.
    (tmp_path / "a-file").write_text("")
    bad_root = tmp_path / "bad.yaml"
    bad_root.write_text(yaml.safe_dump({"paths": {"root": str(tmp_path / "a-file" / "lake")}}))
    failed = medallion(bad_root, "run", "--once", expect=2)
    assert "medallion: error: [LOG_UNWRITABLE]" in failed.stderr
    assert "Traceback" not in failed.stdout + failed.stderr

    # A mistake in the arguments.
    failed = medallion(cfg, "run", "--bogus", expect=2)
    assert "unrecognized arguments: --bogus" in failed.stderr and "Traceback" not in failed.stderr
