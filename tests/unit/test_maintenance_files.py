"""`medallion maintain`'s file retention (no Spark): Data Docs pages and log files by age."""
from __future__ import annotations

import os
import time
from pathlib import Path

from pipelines.core.config import config_from_dict
from pipelines.core.table_maintenance import interval, retention_properties
from pipelines.maintenance import remove_old_files, rotate_logs

DAY = 86_400


def _touch(path: Path, age_days: float, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    stamp = time.time() - age_days * DAY
    os.utime(path, (stamp, stamp))
    return path


def test_data_docs_pages_older_than_the_retention_go_and_empty_folders_with_them(tmp_path):
    old = _touch(tmp_path / "validations" / "suite" / "run-1" / "page.html", 40)
    new = _touch(tmp_path / "validations" / "suite" / "run-2" / "page.html", 1)
    index = _touch(tmp_path / "index.html", 40)
    assert remove_old_files(str(tmp_path), "validations", cutoff=time.time() - 30 * DAY) == 1
    assert not old.exists() and not old.parent.exists() and new.exists() and index.exists()


def test_the_log_is_rotated_by_renaming_once_its_first_line_is_too_old_and_old_rotations_go(tmp_path):
    config = config_from_dict({"paths": {"root": str(tmp_path)}, "retention": {"logs_days": 30}},
                              base_dir=tmp_path)
    logs = tmp_path / "logs"
    first = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() - 31 * DAY))
    active = _touch(logs / "medallion.log", 0, f"{first},123 INFO x: started\nTraceback line\n")
    with active.open("a") as writer:  # a process still writing keeps its handle
        stale = _touch(logs / "medallion-20260101T000000.log", 45)
        recent = _touch(logs / "medallion-20261101T000000.log", 5)
        assert rotate_logs(config, now=time.time()) == (1, 1)
        writer.write("a line written after the rotation\n")
    rotated = [p for p in logs.glob("medallion-*.log") if p != recent]
    assert not active.exists() and not stale.exists() and recent.exists() and len(rotated) == 1
    assert rotated[0].read_text().endswith("a line written after the rotation\n")
    assert rotate_logs(config, now=time.time()) == (0, 0)


def test_delta_retention_is_set_in_whole_hours_per_layer():
    config = config_from_dict({"retention": {"silver": {"log_days": 2, "deleted_file_days": 1.5}}})
    assert retention_properties(config.retention.for_layer("silver")) == {
        "delta.logRetentionDuration": "interval 48 hours", "delta.deletedFileRetentionDuration": "interval 36 hours"}
    assert config.retention.for_layer("gold_intermediate") is config.retention.gold
    assert interval(30) == "interval 720 hours"
