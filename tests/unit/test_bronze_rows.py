"""`to_bronze_rows` on tiny frames: the registry's columns, lines as received, ids, lineage."""
from __future__ import annotations

import re
import time
from datetime import datetime, timezone

from pyspark.sql import functions as F

from bronze.events_raw import to_bronze_rows
from pipelines.core.tables import BRONZE_EVENTS_RAW

SOURCE = "file:///landing/events-0001.jsonl"
MODIFIED = datetime(2026, 10, 1, 9, 30)


def _lines(spark, lines: list[bytes], *, source: str = SOURCE, partitions: int | None = None):
    """What the text source hands the stream: each line's bytes as a string (not validated)."""
    frame = spark.createDataFrame([(bytearray(line), source, MODIFIED) for line in lines],
                                  "line BINARY, file_path STRING, file_modification_time TIMESTAMP")
    if partitions is not None:
        frame = frame.repartition(partitions)
    return frame.select(F.col("line").cast("string").alias("value"), "file_path", "file_modification_time")


def _bronze(spark, lines: list[bytes], *, stream_id: str = "ab12cd34", batch_id: int = 3,
            run_id: str = "run-1", **kwargs):
    return to_bronze_rows(_lines(spark, lines, **kwargs), stream_id=stream_id, batch_id=batch_id, run_id=run_id)


def test_columns_and_types_are_the_registry_declaration(spark) -> None:
    declared = spark.createDataFrame([], BRONZE_EVENTS_RAW.struct_ddl()).schema
    produced = _bronze(spark, [b'{"n":1}']).schema
    assert [(f.name, f.dataType) for f in produced] == [(f.name, f.dataType) for f in declared]


def test_not_null_columns_of_the_declaration_are_filled_on_every_row(spark) -> None:
    rows = _bronze(spark, [b'{"n":1}', b"", b"\xff\xfe"]).collect()
    required = [c.name for c in BRONZE_EVENTS_RAW.columns if not c.nullable]
    assert required and all(row[name] is not None for row in rows for name in required)


def test_valid_lines_are_kept_exactly_as_received_without_raw_bytes(spark) -> None:
    lines = ['{"note":"café € 🚀"}', '{"event_id":"e3"}\r', "", "   spaced   ", '{"tab":"a\tb"}']
    rows = _bronze(spark, [line.encode("utf-8") for line in lines]).collect()
    assert [(r["raw"], r["raw_bytes"]) for r in rows] == [(line, None) for line in lines]


def test_a_line_that_is_not_valid_utf8_keeps_its_original_bytes(spark) -> None:
    data = b"\xff\xfe not utf-8 \xc3\x28"
    (row,) = _bronze(spark, [data]).collect()
    assert bytes(row["raw_bytes"]) == data
    assert "\ufffd" in row["raw"] and " not utf-8 " in row["raw"]
    row["raw"].encode("utf-8")  # the repaired text is valid UTF-8


def test_bronze_ids_name_the_stream_and_batch_and_are_unique(spark) -> None:
    rows = _bronze(spark, [b"x"] * 6 + [b"y"] * 6, stream_id="ab12cd34", batch_id=42, partitions=3).collect()
    ids = [r["_bronze_id"] for r in rows]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"ab12cd34-00000042-[0-9a-f]{12}", i) for i in ids), ids


def test_bronze_ids_follow_the_position_of_the_line(spark) -> None:
    lines = [f'{{"n":{i}}}'.encode() for i in range(20)]
    frame = _bronze(spark, lines)  # spread over the session's partitions, in order
    assert frame.rdd.getNumPartitions() > 1
    rows = frame.collect()
    assert [r["raw"] for r in sorted(rows, key=lambda r: r["_bronze_id"])] == [line.decode() for line in lines]


def test_bronze_ids_are_stable_when_the_batch_is_replayed(spark) -> None:
    lines = [f'{{"n":{i}}}'.encode() for i in range(8)]
    first = [(r["raw"], r["_bronze_id"]) for r in _bronze(spark, lines).collect()]
    replayed = [(r["raw"], r["_bronze_id"]) for r in _bronze(spark, lines).collect()]
    assert first == replayed


def test_another_batch_or_stream_never_repeats_an_id(spark) -> None:
    lines = [b"a", b"b", b"c"]
    ids = [{r["_bronze_id"] for r in _bronze(spark, lines, stream_id=s, batch_id=b).collect()}
           for s, b in [("ab12cd34", 3), ("ab12cd34", 4), ("ef56ab78", 3)]]
    assert len(set.union(*ids)) == 3 * len(lines)


def test_lineage_columns_record_file_batch_run_and_one_ingestion_time(spark) -> None:
    started = time.time()
    frame = _bronze(spark, [b"a", b"b", b"c"], batch_id=7, run_id="run-7").select(
        "*", F.unix_micros("_ingested_at").alias("ingested_us"))
    rows = frame.collect()
    finished = time.time()

    assert {(r["_source"], r["_source_modified_at"], r["_ingest_batch_id"], r["_ingest_run_id"]) for r in rows} == \
        {(SOURCE, MODIFIED, 7, "run-7")}
    (ingested_us,) = {r["ingested_us"] for r in rows}  # one time for the whole batch
    assert started - 1 <= ingested_us / 1e6 <= finished + 1
    utc_date = datetime.fromtimestamp(ingested_us / 1e6, timezone.utc).date()
    assert {r["_ingest_date"] for r in rows} == {utc_date}
