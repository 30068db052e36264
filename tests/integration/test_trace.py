"""`medallion trace` on the session's pre-built lakehouse, as a compliance auditor runs it.

The expected side is independent of the product's trace code: the events a correct pipeline
keeps come from the generator (`generate_lines`/`clean_events`) plus the hand-made edge cases,
standardized and attributed by tests/integration/gold_testkit.py in plain Python; each Gold
row's inputs are selected from them by DESIGN.md's definitions here.
"""
from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest
from deltalake import DeltaTable

from pipelines.lineage.grains import GRAINS
from tests.integration.gold_testkit import (
    attribute, expected_row_inputs, seed_fx_rates_usd, silver_rows_from_generated,
)

pytestmark = pytest.mark.integration

SAMPLES_PER_TABLE = 3


def _events(built_lakehouse) -> list[dict]:
    from pipelines.sample_events import clean_events, generate_lines

    return silver_rows_from_generated(clean_events(generate_lines(**built_lakehouse.generation)),
                                      seed_fx_rates_usd()) + built_lakehouse.hand_made_events()


def _trace_json(lake, capsys, *args: str) -> tuple[int, dict, str]:
    capsys.readouterr()
    rc = lake.medallion("trace", *args, "--format", "json")
    captured = capsys.readouterr()
    return rc, (json.loads(captured.out) if captured.out.strip() else {}), captured.err


def _gold_keys(config, table: str, seed: int = 13) -> list[dict]:
    schema, name = table.split(".")
    rows = DeltaTable(f"{config.warehouse}/{schema}/{name}").to_pyarrow_table(columns=list(GRAINS[table].key)).to_pylist()
    rows = sorted((r for r in rows if all(v is not None for v in r.values())), key=repr)
    return random.Random(seed).sample(rows, min(SAMPLES_PER_TABLE, len(rows)))


@pytest.mark.parametrize("table", sorted(GRAINS))
def test_random_rows_of_every_traceable_table_reconcile_and_list_exactly_the_events_behind_them(
        built_lakehouse, capsys, table):
    lake, events = built_lakehouse.lake, _events(built_lakehouse)
    attributed = {p["purchase_id"]: p for p in attribute(events)}
    for key in _gold_keys(lake.config, table):
        args = [f"{k}={v}" for k, v in key.items()]
        rc, tree, err = _trace_json(lake, capsys, table, *args, "--all")
        assert rc == 0, (args, err, tree.get("reconciliation"))
        assert tree["reconciliation"] == {**tree["reconciliation"], "status": "ok", "differences": []}
        listed = {group: {e["event_id"] for e in g["events"]} for group, g in tree["events"].items() if g["count"]}
        assert listed == expected_row_inputs(events, table, key), args
        for group in tree["events"].values():
            assert group["count"] == group["shown"] == len(group["events"])
            for e in group["events"]:
                bronze = e["bronze"]
                assert bronze is not None and e["event_id"] in bronze["raw"], e
                assert bronze["_source"].endswith((".json", ".jsonl"))
                if "attributed_click" in e:  # a purchase: the click DESIGN.md's last-click rule picks
                    click = e["attributed_click"]
                    assert (click and click["event_id"]) == attributed[e["event_id"]]["click_id"]
        assert tree["build"]["reads"] and tree["build"]["model"]["compiled_sql_md5"]
        if listed:
            assert {g["suite"] for g in tree["gate_runs"]} == {"silver_events"}
            assert sum(g["events"] for g in tree["gate_runs"]) == sum(len(v) for v in listed.values())


def test_a_trace_prints_a_tree_with_counts_and_a_sample_and_masks_personal_data(built_lakehouse, capsys):
    lake = built_lakehouse.lake
    key = next(k for k in _gold_keys(lake.config, "gold.fct_campaign_performance_daily", seed=5))
    capsys.readouterr()
    assert lake.medallion("trace", "gold.fct_campaign_performance_daily",
                          *(f"{k}={v}" for k, v in key.items()), "--limit", "1") == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith(f"gold.fct_campaign_performance_daily campaign_id={key['campaign_id']}")
    for text in ("row as built (version", "build ", "compiled SQL md5", "read gold_intermediate.int_purchases__attributed version",
                 "impressions: ", "(showing 1; --limit N or --all for more)", "raw (personal data masked): {",
                 "gate runs (", "expectations met", "Data Docs: ", "reconciliation: OK"):
        assert text in out, text
    assert "@" not in out


def test_every_raw_line_of_every_ingest_batch_traces_forward_to_exactly_one_fate(built_lakehouse, capsys):
    lake, events = built_lakehouse.lake, _events(built_lakehouse)
    bronze = DeltaTable(f"{lake.config.warehouse}/bronze/events_raw")
    batches = sorted(set(bronze.to_pyarrow_table(columns=["_ingest_batch_id"]).column(0).to_pylist()))
    fates: dict[str, str] = {}
    for batch in batches:
        rc, tree, err = _trace_json(lake, capsys, "bronze.events_raw", f"_ingest_batch_id={batch}", "--limit", "2")
        assert rc == 0, err
        assert not set(fates) & set(tree["fates"])
        fates.update(tree["fates"])
        for line in tree["lines"]:
            if line["fate"]["fate"] == "accepted":
                assert line["fate"]["gold"]["rows"] and all(r["present"] for r in line["fate"]["gold"]["rows"])
    kinds = Counter(fates.values())
    assert len(fates) == built_lakehouse.landed_lines
    assert set(kinds) == {"accepted", "quarantined", "duplicate"}  # never pending, never inconsistent
    assert kinds["accepted"] == len(events)


def test_a_redelivered_event_traces_to_the_line_kept_and_its_duplicates(built_lakehouse, capsys):
    lake = built_lakehouse.lake
    duplicates = DeltaTable(f"{lake.config.warehouse}/silver/events_duplicates").to_pyarrow_table(
        columns=["event_id", "kept_bronze_id"]).to_pylist()
    assert duplicates
    event_id, kept = duplicates[0]["event_id"], duplicates[0]["kept_bronze_id"]
    rc, tree, err = _trace_json(lake, capsys, "--event-id", event_id)
    assert rc == 0, err
    by_line = {line["bronze"]["_bronze_id"]: line["fate"] for line in tree["lines"]}
    assert by_line[kept]["fate"] == "accepted"
    others = [f for line_id, f in by_line.items() if line_id != kept]
    assert others and all(f["fate"] == "duplicate" and f["duplicate_of"] == kept for f in others)


def test_a_quarantined_line_traces_forward_to_its_reasons(built_lakehouse, capsys):
    lake = built_lakehouse.lake
    quarantined = DeltaTable(f"{lake.config.warehouse}/silver/events_quarantine").to_pyarrow_table(
        columns=["_bronze_id", "reasons"]).to_pylist()
    line = next(q for q in quarantined if "malformed_json" in q["reasons"])
    capsys.readouterr()
    assert lake.medallion("trace", "bronze.events_raw", f"_bronze_id={line['_bronze_id']}") == 0
    out = capsys.readouterr().out
    assert "1 quarantined" in out and "reasons malformed_json" in out


@pytest.mark.parametrize(("args", "code"), [
    (["gold.no_such_table", "x=1"], "TABLE_NOT_IN_REGISTRY"),
    (["silver.events_quarantine", "event_id=1"], "TRACE_TABLE_NOT_TRACEABLE"),
    (["gold.fct_customer_ltv", "customer=u-1"], "TRACE_UNKNOWN_COLUMN"),
    (["gold.fct_customer_ltv", "user_id"], "TRACE_KEY_INVALID"),
    (["gold.fct_campaign_performance_daily", "campaign_id=x", "date_day=yesterday"], "TRACE_KEY_INVALID"),
    (["gold.fct_customer_ltv", "user_id=nobody-has-this-id"], "TRACE_NO_ROW"),
    (["gold.fct_campaign_performance_daily", "date_day=2026-10-10"], "TRACE_KEY_AMBIGUOUS"),
    (["gold.dim_channels", "channel=email", "--as-of-build", "not-a-build"], "TRACE_BUILD_NOT_FOUND"),
    (["bronze.events_raw", "raw=x"], "TRACE_KEY_INVALID"),
    (["--event-id", "no-such-event"], "TRACE_NO_ROW"),
])
def test_a_bad_trace_request_is_one_error_line_with_a_code_and_exit_status_2(built_lakehouse, capsys, args, code):
    capsys.readouterr()
    assert built_lakehouse.lake.medallion("trace", *args) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"medallion: error: [{code}]"), captured.err
    assert "Traceback" not in captured.err + captured.out


# ---- builds whose history moved on (a further ingest + refine + build: tests/e2e/test_arrival_patterns.py)

def test_a_build_older_than_a_rewrite_of_silver_is_refused_and_a_vacuumed_version_is_reported_gone(
        spark, built_lakehouse, tmp_path, capsys):
    lake = built_lakehouse.lake.copy(tmp_path / "rewritten")
    silver = f"{lake.config.warehouse}/silver/events"
    key = ["campaign_id=cmp-t-free", "date_day=2026-10-10"]
    # data files of the version the build read compacted (no row changed), then removed as VACUUM
    # past retention removes them: the files of that version no later version references
    built = DeltaTable(silver).version()
    # ZORDER rewrites a partition's files even when it holds a single one (small batches write one)
    spark.sql(f"OPTIMIZE delta.`{silver}` WHERE event_date = DATE'2026-10-10' ZORDER BY (event_id)")
    gone = set(DeltaTable(silver, version=built).file_uris()) - set(DeltaTable(silver).file_uris())
    assert gone
    for uri in gone:
        Path(uri.removeprefix("file://")).unlink()
    capsys.readouterr()
    assert lake.medallion("trace", "gold.fct_campaign_performance_daily", *key) == 2
    assert capsys.readouterr().err.startswith("medallion: error: [LINEAGE_VERSION_GONE]")
    # an erasure-like rewrite after the build: time travel would show removed data
    spark.sql(f"DELETE FROM delta.`{silver}` WHERE event_date = DATE'2026-10-11' AND user_id = 'u-t-2'")
    assert lake.medallion("trace", "gold.fct_campaign_performance_daily", *key) == 2
    err = capsys.readouterr().err
    assert err.startswith("medallion: error: [LINEAGE_HISTORY_REWRITTEN]") and "DELETE" in err, err


def test_a_gold_row_its_events_do_not_add_up_to_is_a_lineage_mismatch(spark, built_lakehouse, tmp_path, capsys):
    lake = built_lakehouse.lake.copy(tmp_path / "tampered")
    daily = f"{lake.config.warehouse}/gold/fct_campaign_performance_daily"
    spark.sql(f"UPDATE delta.`{daily}` SET clicks = clicks + 1 "
              "WHERE campaign_id = 'cmp-t-free' AND date_day = DATE'2026-10-10'")
    version = DeltaTable(daily).version()
    # a build that wrote that row: recorded like any other (the ledger is append-only)
    from pyspark.sql import functions as F

    ledger = f"{lake.config.warehouse}/audit/gold_builds"
    node = (spark.read.format("delta").load(ledger)
            .filter("relation = 'gold.fct_campaign_performance_daily' AND status = 'success'")
            .orderBy(F.desc("started_at")).limit(1)
            .withColumn("invocation_id", F.lit("tampered-build")).withColumn("gold_version", F.lit(version).cast("bigint"))
            .withColumn("started_at", F.current_timestamp()))
    node.write.format("delta").mode("append").save(ledger)
    capsys.readouterr()
    assert lake.medallion("trace", "gold.fct_campaign_performance_daily", "campaign_id=cmp-t-free",
                          "date_day=2026-10-10") == 1
    captured = capsys.readouterr()
    assert "reconciliation: MISMATCH" in captured.out and "clicks: Gold 2, re-aggregated 1" in captured.out
    assert captured.err.startswith("medallion: error: [LINEAGE_MISMATCH]")
