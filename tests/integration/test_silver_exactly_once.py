"""A crash between the Silver write and the other writes, then a restart: every table as if once."""
from __future__ import annotations

import pytest

from tests.conftest import make_config
from tests.support.silver_testkit import append_bronze, count, event, read, run_refine

pytestmark = pytest.mark.integration

LINES = [event(f"e-{i}") for i in range(8)] + [event("e-0"), event("bad", "page_view")]


class Crash(RuntimeError):
    pass


def _crash_after_silver(table: str, batch_id: int) -> None:
    if table == "silver.events":
        raise Crash(f"injected after {table} write of batch {batch_id}")


def test_restart_after_a_crash_after_the_silver_write_leaves_exact_counts(spark, tmp_path):
    config = make_config(tmp_path / "lake")
    append_bronze(spark, config, LINES)

    with pytest.raises(Exception, match="injected after silver.events"):
        run_refine(spark, config, run_id="crashing", on_table_written=_crash_after_silver)
    assert count(spark, config, "silver", "events") == 8  # the Silver write committed...
    assert count(spark, config, "audit", "batch_ledger") == 0  # ...the others did not

    run_refine(spark, config, run_id="restarted")

    assert count(spark, config, "silver", "events") == 8
    assert read(spark, config, "silver", "events").select("event_id").distinct().count() == 8
    assert count(spark, config, "silver", "events_quarantine") == 1
    assert count(spark, config, "silver", "events_duplicates") == 1
    ledger = read(spark, config, "audit", "batch_ledger").collect()
    assert len(ledger) == 1
    row = ledger[0]
    assert (row["rows_read"], row["rows_inserted"], row["rows_quarantined"], row["rows_duplicate"]) == (10, 8, 1, 1)
    assert row["run_id"] == "restarted"


def test_commits_by_others_between_the_crash_and_the_restart_do_not_fool_replay_detection(spark, tmp_path):
    config = make_config(tmp_path / "lake")
    append_bronze(spark, config, LINES)
    with pytest.raises(Exception, match="injected after silver.events"):
        run_refine(spark, config, run_id="crashing", on_table_written=_crash_after_silver)
    silver = f"delta.`{config.warehouse}/silver/events`"
    # an operator's statements land commits on top of the batch's own one
    spark.sql(f"ALTER TABLE {silver} SET TBLPROPERTIES ('ops.note' = 'checked')")
    spark.sql(f"OPTIMIZE {silver}")

    run_refine(spark, config, run_id="restarted")

    (row,) = read(spark, config, "audit", "batch_ledger").collect()
    assert (row["rows_read"], row["rows_inserted"], row["rows_quarantined"], row["rows_duplicate"]) == (10, 8, 1, 1)
    assert count(spark, config, "silver", "events") == 8
    assert count(spark, config, "silver", "events_duplicates") == 1


def _crash_after(target: str):
    def hook(table: str, batch_id: int) -> None:
        if table == target:
            raise Crash(f"injected after {table} write of batch {batch_id}")
    return hook


def _only_batch_counts(spark, config) -> tuple:
    (row,) = read(spark, config, "audit", "batch_ledger").collect()
    return row["rows_read"], row["rows_inserted"], row["rows_quarantined"], row["rows_duplicate"]


def test_a_crash_after_every_table_but_the_ledger_adds_only_the_ledger_row(spark, tmp_path, monkeypatch):
    """The restart's replay check finds the batch in every other table (written side by side
    before the ledger) and appends none of them again."""
    from silver.refine_batch import RefineBatch

    config = make_config(tmp_path / "lake")
    append_bronze(spark, config, LINES)
    write = RefineBatch._write

    def write_all_but_the_ledger(self, table, rows, ctx):
        if table == "audit.batch_ledger":
            raise Crash("injected before the ledger write")
        write(self, table, rows, ctx)

    with monkeypatch.context() as patch:
        patch.setattr(RefineBatch, "_write", write_all_but_the_ledger)
        with pytest.raises(Exception, match="injected before the ledger"):
            run_refine(spark, config, run_id="crashing")
    results = count(spark, config, "audit", "quality_results")
    assert results > 0 and count(spark, config, "audit", "batch_ledger") == 0

    run_refine(spark, config, run_id="restarted")

    assert _only_batch_counts(spark, config) == (10, 8, 1, 1)
    assert count(spark, config, "silver", "events") == 8
    assert count(spark, config, "silver", "events_quarantine") == 1
    assert count(spark, config, "silver", "events_duplicates") == 1
    assert count(spark, config, "audit", "quality_results") == results


def test_a_crash_after_the_ledger_write_skips_the_whole_batch_on_restart(spark, tmp_path):
    """The ledger row is written last: a batch found there is complete, and its replay (Spark
    never recorded it committed) writes nothing at all."""
    config = make_config(tmp_path / "lake")
    append_bronze(spark, config, LINES)
    with pytest.raises(Exception, match="injected after audit.batch_ledger"):
        run_refine(spark, config, run_id="crashing", on_table_written=_crash_after("audit.batch_ledger"))
    versions = {t: spark.sql(f"DESCRIBE HISTORY delta.`{config.warehouse}/{t.replace('.', '/')}`").count()
                for t in ("silver.events", "audit.quality_results", "audit.batch_ledger")}

    run_refine(spark, config, run_id="restarted")

    assert _only_batch_counts(spark, config) == (10, 8, 1, 1)
    assert count(spark, config, "silver", "events") == 8
    assert {t: spark.sql(f"DESCRIBE HISTORY delta.`{config.warehouse}/{t.replace('.', '/')}`").count()
            for t in versions} == versions  # not one commit more
