"""Bronze ingest on real Spark + Delta: exact lines, exactly-once, append-only, lineage."""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

import pytest

from pipelines.core.config import Config
from pipelines.core.errors import PipelineError
from pipelines.core.tables import BRONZE_EVENTS_RAW
from pipelines.orchestration import run_stages
from tests.conftest import make_config

pytestmark = pytest.mark.integration

AWKWARD_LINES: list[bytes] = [
    b'{"event_id":"e1","event_type":"click","event_ts":"2026-10-01T10:00:00Z"}',
    b'{"event_id":"e2","note":"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x9a\x80"}',  # multi-byte UTF-8
    b"\xff\xfe not utf-8 \xc3\x28",  # invalid UTF-8
    b'{"event_id":"e3"}\r',  # CRLF producer: the \r is part of what was received
    b"",  # blank line
    b"   leading and trailing spaces   ",
    b'{"broken": ',  # malformed JSON
    b'{"tab":"a\tb","quote":"\\"q\\""}',
    b'{"big":"' + b"x" * 70_000 + b'"}',  # oversized
]


def land(landing: Path, name: str, lines: list[bytes], *, trailing_newline: bool = True) -> Path:
    """Write a landing file atomically (temp name, then rename), like a producer must."""
    landing.mkdir(parents=True, exist_ok=True)
    tmp = landing / f".{name}.tmp"
    tmp.write_bytes(b"\n".join(lines) + (b"\n" if trailing_newline else b""))
    final = landing / name
    os.replace(tmp, final)
    return final


def bronze_rows(spark, config: Config) -> list:
    return spark.read.format("delta").load(BRONZE_EVENTS_RAW.location(config)).collect()


def original_bytes(row) -> bytes:
    return bytes(row.raw_bytes) if row.raw_bytes is not None else row.raw.encode("utf-8")


def ingest_once(spark, config: Config) -> None:
    assert run_stages(config, ["ingest"], continuous=False, spark=spark) == 0


def test_every_landed_line_is_stored_exactly_once_with_its_original_bytes(spark, lake: Config) -> None:
    landing = Path(lake.landing)
    land(landing, "awkward.jsonl", AWKWARD_LINES, trailing_newline=False)
    ingest_once(spark, lake)

    rows = bronze_rows(spark, lake)
    assert len(rows) == len(AWKWARD_LINES)
    assert sorted(original_bytes(r) for r in rows) == sorted(AWKWARD_LINES)
    invalid = [r for r in rows if r.raw_bytes is not None]
    assert [bytes(r.raw_bytes) for r in invalid] == [b"\xff\xfe not utf-8 \xc3\x28"]
    assert "\ufffd" in invalid[0].raw  # the string column holds a readable, valid version
    assert len({r._bronze_id for r in rows}) == len(rows)
    assert {r._source for r in rows} == {f"file:{landing / 'awkward.jsonl'}"}
    assert all(r._ingested_at and r._ingest_run_id and r._ingest_date for r in rows)


def test_second_run_adds_nothing_and_new_files_are_picked_up_by_the_next(spark, lake: Config) -> None:
    landing = Path(lake.landing)
    land(landing, "a.jsonl", [b'{"n":1}', b'{"n":2}'])
    ingest_once(spark, lake)
    ingest_once(spark, lake)
    assert len(bronze_rows(spark, lake)) == 2

    land(landing, "b.json", [b'{"n":3}'])
    land(landing, "ignored.txt", [b"not an event file"])
    ingest_once(spark, lake)
    rows = bronze_rows(spark, lake)
    assert sorted(r.raw for r in rows) == ['{"n":1}', '{"n":2}', '{"n":3}']
    assert len({r._ingest_batch_id for r in rows}) == 2


def test_bronze_rejects_update_and_delete(spark, lake: Config) -> None:
    land(Path(lake.landing), "a.jsonl", [b'{"n":1}'])
    ingest_once(spark, lake)
    table = f"delta.`{BRONZE_EVENTS_RAW.location(lake)}`"
    for statement in (f"UPDATE {table} SET raw = 'x'", f"DELETE FROM {table}"):
        with pytest.raises(Exception) as err:
            spark.sql(statement)
        assert err.value.getCondition() == "DELTA_CANNOT_MODIFY_APPEND_ONLY", statement
    props = {r.key: r.value for r in spark.sql(f"SHOW TBLPROPERTIES {table}").collect()}
    assert props["delta.appendOnly"] == "true"


def test_describe_history_ties_every_commit_to_its_run(spark, lake: Config) -> None:
    land(Path(lake.landing), "a.jsonl", [b'{"n":1}'])
    ingest_once(spark, lake)
    land(Path(lake.landing), "b.jsonl", [b'{"n":2}'])
    ingest_once(spark, lake)
    history = spark.sql(f"DESCRIBE HISTORY delta.`{BRONZE_EVENTS_RAW.location(lake)}`").collect()
    writes = [h for h in history if h.operation == "WRITE"]
    assert len(writes) == 2
    metas = [json.loads(h.userMetadata) for h in history]
    assert all(m["run_id"] for m in metas)  # the CREATE TABLE commit too
    write_runs = {json.loads(h.userMetadata)["run_id"] for h in writes}
    assert len(write_runs) == 2  # two runs, two ids
    ingested_runs = {r._ingest_run_id for r in bronze_rows(spark, lake)}
    assert ingested_runs == write_runs


def test_large_inputs_are_taken_in_bounded_micro_batches(spark, config_factory) -> None:
    config = config_factory(ingest={"max_files_per_trigger": 2})
    for i in range(5):
        land(Path(config.landing), f"f{i}.jsonl", [f'{{"file":{i},"n":{n}}}'.encode() for n in range(3)])
    ingest_once(spark, config)
    rows = bronze_rows(spark, config)
    assert len(rows) == 15
    per_batch: dict[int, set] = {}
    for r in rows:
        per_batch.setdefault(r._ingest_batch_id, set()).add(r._source)
    assert len(per_batch) == 3 and max(len(s) for s in per_batch.values()) == 2


@pytest.mark.parametrize("old_files", ["rescue", "warn"])
def test_a_backfilled_file_with_a_months_old_mtime_is_never_skipped_silently(
        spark, config_factory, caplog, old_files: str) -> None:
    """`cp -p`, `rsync -a` and backfills land files whose modification time is months old. Spark's
    file source ignores a file older than `maxFileAge` relative to the newest file it has seen; no
    landed file may be skipped because of its age (and with `old_files: warn`, never silently)."""
    config = config_factory(ingest={"old_files": old_files})
    landing = Path(config.landing)
    land(landing, "today.jsonl", [b'{"n":1}'])
    ingest_once(spark, config)

    backfill = [f'{{"backfill":{n}}}'.encode() for n in range(5)]
    old = land(landing, "2024-01-01.jsonl", backfill)
    sixty_days_ago = time.time() - 60 * 86400
    os.utime(old, (sixty_days_ago, sixty_days_ago))
    with caplog.at_level(logging.WARNING, logger="bronze"):
        ingest_once(spark, config)
    warned = [r.getMessage() for r in caplog.records if "2024-01-01.jsonl" in r.getMessage()]

    rows = bronze_rows(spark, config)
    if old_files == "warn":
        assert [r.raw for r in rows] == ['{"n":1}']
        assert warned and "NOT ingested" in warned[0], caplog.text
        return
    assert sorted(r.raw for r in rows if "backfill" in r.raw) == sorted(b.decode() for b in backfill)
    assert len(rows) == 1 + len(backfill)
    assert warned, caplog.text  # a landed file's modification time was changed: said so
    ingest_once(spark, config)  # and only once
    assert len(bronze_rows(spark, config)) == 1 + len(backfill)


def test_continuous_ingest_takes_a_backfilled_file_landed_while_it_runs(spark, tmp_path: Path) -> None:
    config = make_config(tmp_path / "lake", ingest={"trigger_interval_seconds": 0.5,
                                                    "rescue_interval_seconds": 1})
    stop = threading.Event()
    thread = threading.Thread(target=run_stages, args=(config, ["ingest"]), daemon=True,
                              kwargs={"continuous": True, "spark": spark, "stop_event": stop})

    def bronze_count_reaches(n: int) -> bool:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if Path(BRONZE_EVENTS_RAW.location(config), "_delta_log").exists() and \
                    len(bronze_rows(spark, config)) == n:
                return True
            time.sleep(0.5)
        return False

    thread.start()
    try:
        land(Path(config.landing), "now.jsonl", [b'{"n":1}'])
        assert bronze_count_reaches(1)
        old = land(Path(config.landing), "backfill.jsonl", [b'{"n":2}', b'{"n":3}'])
        os.utime(old, (time.time() - 60 * 86400,) * 2)
        assert bronze_count_reaches(3)
    finally:
        stop.set()
        thread.join(timeout=120)
    assert not thread.is_alive()


def test_archived_files_outside_the_window_leave_the_source_log(spark, config_factory, monkeypatch) -> None:
    """Spark keeps every file it has taken in the checkpoint's source log; with landed files
    archived, entries outside the window are pruned at the next start and ingest goes on exactly
    once (a restart on the pruned log, then a backfilled file)."""
    import bronze.landing
    from bronze.landing import SOURCE_LOG

    monkeypatch.setattr(bronze.landing, "KEEP_BATCHES", 1)
    config = config_factory(ingest={"max_files_per_trigger": 1, "clean_source": "archive"})
    landing, now = Path(config.landing), time.time()
    for i, days in enumerate([30, 20, 10, 9, 0]):
        f = land(landing, f"f{i}.jsonl", [f'{{"f":{i}}}'.encode()])
        os.utime(f, (now - days * 86400,) * 2)
    interval = "spark.sql.streaming.fileSource.log.compactInterval"
    spark.conf.set(interval, "2")
    try:
        ingest_once(spark, config)  # five batches; compactions after the 2nd and the 4th
    finally:
        spark.conf.unset(interval)
    source_log = Path(config.checkpoint("bronze_events_raw"), SOURCE_LOG)
    assert [p.name for p in landing.iterdir() if p.is_file()] == ["f4.jsonl"]  # the rest archived

    def entries(name: str) -> int:
        return len((source_log / name).read_text().splitlines()) - 1

    assert entries("3.compact") == 4
    old = land(landing, "backfill.jsonl", [b'{"backfill":1}'])
    os.utime(old, (now - 60 * 86400,) * 2)
    ingest_once(spark, config)
    assert entries("3.compact") == 0  # 30 to 9 days old, archived, before the last batch
    rows = bronze_rows(spark, config)
    assert sorted(r.raw for r in rows) == ['{"backfill":1}'] + [f'{{"f":{i}}}' for i in range(5)]
    ingest_once(spark, config)
    assert len(bronze_rows(spark, config)) == 6


def test_a_new_checkpoint_against_a_filled_table_is_refused(spark, lake: Config) -> None:
    land(Path(lake.landing), "a.jsonl", [b'{"n":1}'])
    ingest_once(spark, lake)
    import shutil
    shutil.rmtree(lake.checkpoint("bronze_events_raw"))
    with pytest.raises(PipelineError) as err:
        ingest_once(spark, lake)
    assert err.value.code == "CHECKPOINT_MISMATCH"
    assert len(bronze_rows(spark, lake)) == 1


def test_continuous_ingest_picks_up_files_as_they_land_and_stops_cleanly(spark, tmp_path: Path) -> None:
    config = make_config(tmp_path / "lake", ingest={"trigger_interval_seconds": 0.5})
    stop = threading.Event()
    result: dict[str, object] = {}

    def run() -> None:
        try:
            result["status"] = run_stages(config, ["ingest"], continuous=True, spark=spark, stop_event=stop)
        except BaseException as exc:  # pragma: no cover - surfaced below
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        for i in range(3):
            land(Path(config.landing), f"live{i}.jsonl", [f'{{"i":{i}}}'.encode()])
            time.sleep(0.3)
        deadline = time.monotonic() + 90
        count = 0
        while time.monotonic() < deadline:
            if Path(BRONZE_EVENTS_RAW.location(config), "_delta_log").exists():
                count = spark.read.format("delta").load(BRONZE_EVENTS_RAW.location(config)).count()
                if count == 3:
                    break
            time.sleep(0.5)
        assert count == 3
    finally:
        stop.set()
        thread.join(timeout=120)
    assert not thread.is_alive()
    assert result.get("status") == 0, result
    assert not [q for q in spark.streams.active if q.name == "bronze_events_raw"]


def test_a_batch_committed_to_bronze_but_not_to_the_checkpoint_is_not_appended_again(
        spark, lake: Config, caplog) -> None:
    """A crash after the Bronze commit and before Spark records the batch: the restart re-runs
    the same batch, and the replay check (its stream id and batch id are in Bronze) skips it."""
    land(Path(lake.landing), "a.jsonl", [b'{"event_id":"r1"}', b'{"event_id":"r2"}'])
    ingest_once(spark, lake)
    before = sorted((r["raw"], r["_bronze_id"]) for r in bronze_rows(spark, lake))
    commits = Path(lake.checkpoint("bronze_events_raw")) / "commits"
    for name in ("0", ".0.crc"):  # Spark never recorded batch 0 as committed
        (commits / name).unlink(missing_ok=True)

    with caplog.at_level(logging.INFO, logger="bronze.events_raw"):
        ingest_once(spark, lake)

    assert sorted((r["raw"], r["_bronze_id"]) for r in bronze_rows(spark, lake)) == before
    assert (commits / "0").exists()  # the re-run batch is now recorded
    assert "bronze batch 0 was committed before the restart" in caplog.text
