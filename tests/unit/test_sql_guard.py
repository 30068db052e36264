"""`medallion sql` is read-only unless `--allow-writes`, and never modifies Bronze (gold.sql_guard:
pure sqlglot classification, no Spark)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from gold.sql_guard import Statement, check_statement, classify
from pipelines.core.errors import PipelineError

WAREHOUSE = "/srv/lake/warehouse"
BRONZE = f"{WAREHOUSE}/bronze/events_raw"


def verdict(sql: str, *, allow_writes: bool = False, bronze: str = BRONZE,
            current_schema: str = "default") -> Statement:
    return check_statement(sql, bronze_location=bronze, allow_writes=allow_writes,
                           current_schema=current_schema)


def refusal(sql: str, **kwargs) -> PipelineError:
    with pytest.raises(PipelineError) as caught:
        verdict(sql, **kwargs)
    return caught.value


READS = [
    "select 1",
    "SELECT _source, count(*) FROM bronze.events_raw GROUP BY 1",
    "with a as (select * from bronze.events_raw) select count(*) from a",
    "SELECT 1 UNION ALL SELECT 2",
    "SELECT event_id FROM silver.events EXCEPT SELECT event_id FROM silver.events_quarantine",
    "VALUES (1, 'a'), (2, 'b')",
    "(SELECT 1)",
    "SELECT * FROM bronze.events_raw VERSION AS OF 0",
    "SELECT * FROM delta.`/srv/lake/warehouse/bronze/events_raw`",  # reading Bronze by path
    "SELECT transform(array(1, 2), x -> x + 1)",  # the higher-order function, not script TRANSFORM
    "SHOW TABLES",
    "show tables in bronze",
    "SHOW TBLPROPERTIES bronze.events_raw",
    "SHOW CREATE TABLE bronze.events_raw",
    "DESCRIBE bronze.events_raw",
    "desc extended bronze.events_raw",
    "DESCRIBE HISTORY bronze.events_raw",
    "DESCRIBE DETAIL bronze.events_raw",  # sqlglot cannot parse it; DESCRIBE never writes
    "EXPLAIN SELECT * FROM bronze.events_raw",
    "EXPLAIN FORMATTED SELECT count(*) FROM silver.events",
    "USE silver",
    "CACHE TABLE silver.events",
    "UNCACHE TABLE silver.events",
    "REFRESH TABLE bronze.events_raw",
]


@pytest.mark.parametrize("sql", READS)
def test_reads_run_without_allow_writes(sql: str) -> None:
    assert verdict(sql).writes is False


SILVER_WRITES = [
    ("INSERT", "INSERT INTO silver.events SELECT * FROM silver.events LIMIT 0"),
    ("INSERT", "INSERT OVERWRITE TABLE gold.dim_campaign SELECT * FROM gold.dim_campaign"),
    ("UPDATE", "UPDATE silver.events SET channel = 'email' WHERE false"),
    ("DELETE", "DELETE FROM silver.events_quarantine WHERE false"),
    ("MERGE", "MERGE INTO silver.events t USING silver.events s ON t.event_id = s.event_id "
              "WHEN MATCHED THEN UPDATE SET *"),
    ("ALTER", "ALTER TABLE silver.events SET TBLPROPERTIES ('delta.logRetentionDuration' = '30 days')"),
    ("CREATE", "CREATE TABLE silver.scratch AS SELECT 1 AS x"),
    ("CREATE", "CREATE TEMPORARY VIEW v AS SELECT 1"),
    ("DROP", "DROP TABLE IF EXISTS silver.scratch"),
    ("TRUNCATE", "TRUNCATE TABLE silver.events_duplicates"),
    ("COMMENT", "COMMENT ON TABLE silver.events IS 'refined'"),
    ("ANALYZE", "ANALYZE TABLE silver.events COMPUTE STATISTICS"),
    ("OPTIMIZE", "OPTIMIZE silver.events ZORDER BY (event_id)"),
    ("VACUUM", "VACUUM silver.events RETAIN 168 HOURS"),
    ("RESTORE", "RESTORE TABLE silver.events TO VERSION AS OF 3"),
    ("REORG", "REORG TABLE silver.events APPLY (PURGE)"),
    ("CONVERT", "CONVERT TO DELTA parquet.`/srv/exports/campaigns`"),
    ("FSCK", "FSCK REPAIR TABLE silver.events"),
    ("MSCK REPAIR", "MSCK REPAIR TABLE silver.events"),
    ("SET", "SET spark.databricks.delta.retentionDurationCheck.enabled = false"),
    ("SET", "SET spark.sql.shuffle.partitions = 4"),
    ("RESET", "RESET"),
    ("EXPLAIN DELETE", "EXPLAIN DELETE FROM silver.events"),  # explaining a write stays a write
]


@pytest.mark.parametrize(("kind", "sql"), SILVER_WRITES)
def test_each_kind_of_write_is_refused_without_allow_writes(kind: str, sql: str) -> None:
    error = refusal(sql)
    assert error.code == "SQL_READ_ONLY" and error.params["kind"] == kind


@pytest.mark.parametrize(("kind", "sql"), SILVER_WRITES)
def test_writes_outside_bronze_run_with_allow_writes(kind: str, sql: str) -> None:
    statement = verdict(sql, allow_writes=True)
    assert statement.writes and statement.kind == kind and statement.bronze == ()


BRONZE_WRITES = [
    "ALTER TABLE bronze.events_raw SET TBLPROPERTIES ('delta.appendOnly'='false')",
    "alter table `spark_catalog`.`Bronze`.`Events_Raw` set tblproperties ('delta.appendOnly' = 'false')",
    "ALTER TABLE bronze.events_raw ADD COLUMNS (note STRING)",
    "ALTER TABLE silver.events RENAME TO bronze.events_raw",
    "delete from BRONZE.EVENTS_RAW",
    "DELETE FROM `bronze`.`events_raw` WHERE _source = 'x.jsonl'",
    "UPDATE spark_catalog.bronze.events_raw SET raw = '' WHERE true",
    "MERGE INTO bronze.events_raw t USING silver.events s ON t._bronze_id = s.event_id WHEN MATCHED THEN DELETE",
    "INSERT INTO bronze.events_raw SELECT * FROM bronze.events_raw",
    "INSERT OVERWRITE bronze.events_raw SELECT * FROM bronze.events_raw WHERE false",
    "INSERT INTO bronze.events_raw (raw) VALUES ('x')",
    "CREATE OR REPLACE TABLE bronze.events_raw AS SELECT 1 AS x",
    "DROP TABLE bronze.events_raw",
    "DROP SCHEMA bronze CASCADE",
    "drop database if exists Bronze",
    "TRUNCATE TABLE bronze.events_raw",
    "RESTORE TABLE bronze.events_raw TO VERSION AS OF 0",
    "RESTORE bronze.events_raw TO TIMESTAMP AS OF '2026-01-01'",
    "VACUUM bronze.events_raw RETAIN 0 HOURS",
    "OPTIMIZE bronze.events_raw",
    "REORG TABLE spark_catalog.bronze.events_raw APPLY (PURGE)",
    "FSCK REPAIR TABLE `bronze`.events_raw",
    "GENERATE symlink_format_manifest FOR TABLE bronze.events_raw",
    "COMMENT ON TABLE bronze.events_raw IS 'x'",
    "ALTER SCHEMA bronze SET DBPROPERTIES ('owner' = 'me')",
    "EXPLAIN DELETE FROM bronze.events_raw",
    # by path: delta.`<path>`, a path literal, with `file:`, a trailing slash, `..`, another case
    "DELETE FROM delta.`/srv/lake/warehouse/bronze/events_raw`",
    "ALTER TABLE delta.`file:/srv/lake/warehouse/bronze/events_raw/` SET TBLPROPERTIES ('delta.appendOnly'='false')",
    "INSERT INTO delta.`file:///srv/lake/warehouse/bronze/events_raw` SELECT * FROM silver.events",
    "VACUUM delta.`/srv/lake/warehouse/silver/../bronze/events_raw` RETAIN 0 HOURS",
    "RESTORE delta.`/SRV/LAKE/WAREHOUSE/BRONZE/EVENTS_RAW` TO VERSION AS OF 0",
    "OPTIMIZE '/srv/lake/warehouse/bronze/events_raw'",
    "CONVERT TO DELTA parquet.`/srv/lake/warehouse/bronze/events_raw/_ingest_date=2026-01-01`",
    # a table created on Bronze's files, a directory holding them, a file moved out of them
    "CREATE TABLE default.alias USING delta LOCATION '/srv/lake/warehouse/bronze/events_raw'",
    "ALTER TABLE silver.events SET LOCATION 'file:/srv/lake/warehouse/bronze/events_raw'",
    "INSERT OVERWRITE DIRECTORY '/srv/lake/warehouse' USING parquet SELECT 1",
    "INSERT OVERWRITE LOCAL DIRECTORY '/srv/lake/warehouse/bronze' SELECT 1",
    "LOAD DATA INPATH '/srv/lake/warehouse/bronze/events_raw/part-0.parquet' INTO TABLE silver.scratch",
]


@pytest.mark.parametrize("allow_writes", [False, True], ids=["without-flag", "with-allow-writes"])
@pytest.mark.parametrize("sql", BRONZE_WRITES)
def test_every_write_to_bronze_is_refused_with_or_without_allow_writes(sql: str, allow_writes: bool) -> None:
    error = refusal(sql, allow_writes=allow_writes)
    assert error.code == "SQL_BRONZE_APPEND_ONLY", str(error)


def test_the_refusals_say_what_to_do_instead() -> None:
    assert "--allow-writes" in str(refusal("DELETE FROM silver.events WHERE false"))
    assert "medallion erase" in str(refusal("DELETE FROM bronze.events_raw", allow_writes=True))


def test_bronze_refusal_names_the_bronze_target_and_the_statement_kind() -> None:
    error = refusal("ALTER TABLE bronze.events_raw SET TBLPROPERTIES ('delta.appendOnly'='false')")
    assert error.params == {"kind": "ALTER", "targets": "bronze.events_raw"}


@pytest.mark.parametrize("sql", [
    "INSERT INTO silver.scratch SELECT * FROM bronze.events_raw",
    "FROM bronze.events_raw INSERT INTO silver.scratch SELECT *",
    "WITH b AS (SELECT * FROM bronze.events_raw) INSERT INTO silver.scratch SELECT * FROM b",
    "CREATE TABLE silver.scratch AS SELECT * FROM bronze.events_raw",
    "CREATE TABLE silver.scratch LIKE bronze.events_raw",
    "CREATE TABLE silver.scratch SHALLOW CLONE bronze.events_raw",
    "MERGE INTO silver.events t USING bronze.events_raw s ON t.event_id = s._bronze_id "
    "WHEN MATCHED THEN UPDATE SET t.raw_line = s.raw",
    "UPDATE silver.events SET channel = (SELECT max(_source) FROM bronze.events_raw)",
    "DELETE FROM silver.events WHERE event_id IN (SELECT _bronze_id FROM bronze.events_raw)",
    "INSERT INTO silver.scratch SELECT * FROM delta.`/srv/lake/warehouse/bronze/events_raw`",
])
def test_a_write_elsewhere_that_only_reads_bronze_runs_with_allow_writes(sql: str) -> None:
    assert refusal(sql).code == "SQL_READ_ONLY"
    assert verdict(sql, allow_writes=True).bronze == ()


@pytest.mark.parametrize("sql", [
    "DELETE FROM delta.`/srv/lake/warehouse/bronze/events_raw_old`",  # a sibling, not inside
    "VACUUM delta.`/srv/lake/warehouse/silver/events`",
    "INSERT OVERWRITE LOCAL DIRECTORY '/tmp/export' SELECT * FROM bronze.events_raw",
    "DELETE FROM bronze_archive.events_raw",  # a schema that merely starts with "bronze"
])
def test_paths_and_names_beside_bronze_are_not_bronze(sql: str) -> None:
    assert verdict(sql, allow_writes=True).bronze == ()


def test_a_symlink_to_the_warehouse_still_reaches_bronze(tmp_path: Path) -> None:
    bronze = tmp_path / "warehouse" / "bronze" / "events_raw"
    bronze.mkdir(parents=True)
    os.symlink(tmp_path / "warehouse", tmp_path / "link")
    error = refusal(f"DELETE FROM delta.`{tmp_path}/link/bronze/events_raw`", bronze=str(bronze))
    assert error.code == "SQL_BRONZE_APPEND_ONLY"


def test_uri_warehouses_compare_by_normalized_path() -> None:
    bronze = "s3a://lake/warehouse/bronze/events_raw"
    assert refusal("VACUUM delta.`s3a://lake/warehouse//bronze/events_raw/` RETAIN 0 HOURS",
                   bronze=bronze, allow_writes=True).code == "SQL_BRONZE_APPEND_ONLY"
    assert verdict("VACUUM delta.`s3a://lake/warehouse/silver/events`", bronze=bronze,
                   allow_writes=True).bronze == ()


def test_unqualified_names_are_bronze_when_the_current_schema_is_bronze() -> None:
    assert verdict("DELETE FROM events_raw", allow_writes=True).bronze == ()
    for sql in ("DELETE FROM events_raw", "VACUUM events_raw RETAIN 0 HOURS"):
        error = refusal(sql, allow_writes=True, current_schema="bronze")
        assert error.code == "SQL_BRONZE_APPEND_ONLY", sql


@pytest.mark.parametrize("sql", [
    "EXECUTE IMMEDIATE 'DELETE FROM bronze.events_raw'",  # dynamic SQL: targets unknowable
    "EXECUTE IMMEDIATE 'DELETE FROM bron' || 'ze.events_raw'",
    "CALL some_procedure()",
    "SELECT reflect('java.lang.System', 'exit', 0)",  # arbitrary Java
    "SELECT java_method('java.lang.System', 'getenv', 'HOME')",
    "SELECT `try_reflect`('java.util.UUID', 'randomUUID')",
    "SELECT TRANSFORM(raw) USING 'rm -rf /srv/lake' AS (out) FROM bronze.events_raw",  # a shell
    "EXPLAIN SELECT reflect('java.lang.System', 'exit', 0)",
])
def test_statements_whose_effects_cannot_be_bounded_are_refused_even_with_allow_writes(sql: str) -> None:
    assert refusal(sql, allow_writes=True).code == "SQL_BRONZE_APPEND_ONLY"


@pytest.mark.parametrize("sql", ["TABLE bronze.events_raw", "CLEAR CACHE", "SET -v"])
def test_what_sqlglot_cannot_parse_or_classify_is_treated_as_a_write(sql: str) -> None:
    assert refusal(sql).code == "SQL_READ_ONLY"
    assert verdict(sql, allow_writes=True).writes


@pytest.mark.parametrize("sql", [
    "SELECT 1; SELECT 2",
    "SELECT 1; DELETE FROM bronze.events_raw",
    "VACUUM silver.events; DELETE FROM bronze.events_raw",
    "DESCRIBE DETAIL bronze.events_raw; ALTER TABLE bronze.events_raw SET TBLPROPERTIES ('x'='y')",
])
def test_more_than_one_statement_is_refused(sql: str) -> None:
    error = refusal(sql, allow_writes=True)
    assert error.code == "SQL_MULTIPLE_STATEMENTS" and error.params == {"count": 2}


@pytest.mark.parametrize("sql", [
    "SELECT 1;",
    "  \n\tSELECT 1 ;  \n",
    "-- a note\nSELECT 1 -- ; DELETE FROM bronze.events_raw",
    "/* DELETE FROM bronze.events_raw; */ SELECT 1",
    "/* nested /* comment */ DELETE FROM bronze.events_raw */ SELECT 1",
    "SELECT 'a;b -- not a comment', \"x;y\"",
    "SELECT 'it\\'s; DELETE FROM bronze.events_raw --'",
])
def test_comments_strings_and_whitespace_neither_split_nor_hide_a_statement(sql: str) -> None:
    assert verdict(sql).writes is False


@pytest.mark.parametrize("sql", [
    "/* note */ DELETE FROM bronze.events_raw",
    "/* a /* nested */ comment */\n  delete\n  from\n  bronze . events_raw",
    "-- cleanup\nALTER TABLE bronze.events_raw SET TBLPROPERTIES ('delta.appendOnly'='false');",
])
def test_comments_and_whitespace_do_not_hide_a_bronze_write(sql: str) -> None:
    assert refusal(sql, allow_writes=True).code == "SQL_BRONZE_APPEND_ONLY"


@pytest.mark.parametrize("sql", ["", "   ", "-- only a comment", "SELECT 'unterminated", "/* unterminated"])
def test_an_empty_or_unreadable_statement_is_refused_before_spark(sql: str) -> None:
    assert refusal(sql, allow_writes=True).code == "SQL_FAILED"


def test_classify_reports_targets_without_refusing() -> None:
    statement = classify("MERGE INTO silver.events AS t USING bronze.events_raw AS s ON t.event_id = s._bronze_id "
                         "WHEN MATCHED THEN DELETE", bronze_location=BRONZE)
    assert statement == Statement("MERGE", writes=True, targets=("silver.events",), bronze=())


# ---- wiring: print_query and the CLI ---------------------------------------------------------------

def test_print_query_refuses_before_starting_spark(config_factory, monkeypatch) -> None:
    import gold.sql_query as sql_query

    def no_spark(*args, **kwargs):
        raise AssertionError("a refused statement must not start Spark")

    monkeypatch.setattr(sql_query, "query_session", no_spark)
    config = config_factory()
    with pytest.raises(PipelineError) as caught:
        sql_query.print_query(config, "DELETE FROM silver.events")
    assert caught.value.code == "SQL_READ_ONLY"
    with pytest.raises(PipelineError) as caught:
        sql_query.print_query(config, "DELETE FROM bronze.events_raw", allow_writes=True)
    assert caught.value.code == "SQL_BRONZE_APPEND_ONLY"
    from pipelines.core.tables import BRONZE_EVENTS_RAW

    with pytest.raises(PipelineError) as caught:  # the configured warehouse's Bronze, by path
        sql_query.print_query(config, f"VACUUM delta.`{BRONZE_EVENTS_RAW.location(config)}`", allow_writes=True)
    assert caught.value.code == "SQL_BRONZE_APPEND_ONLY"


def test_the_sql_command_takes_allow_writes_off_by_default() -> None:
    from pipelines.cli import _build_parser

    parser, _ = _build_parser()
    assert parser.parse_args(["sql", "select 1"]).allow_writes is False
    assert parser.parse_args(["sql", "delete from silver.events", "--allow-writes"]).allow_writes is True
