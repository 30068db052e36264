"""Gold layer: `medallion build` runs the dbt project in-process against a Silver table.

The tests that only read a built Gold layer read the session's pre-built lakehouse
(`built_lakehouse`, tests/conftest.py: generated landing files and a file of hand-made edge cases
(gold_testkit) -> Bronze -> Silver -> `medallion build --resource-type all`), which nobody
changes. Each scenario that changes a lakehouse is a module-scoped fixture that works on its own
copy of it, runs its steps in a fixed order and records what its tests assert on (build results,
rows, and the Delta versions each step left, read back with time travel), so every test passes
alone and in any order:

- `rebuild_without_new_data`: the production build again, without new data (commits nothing);
- `incremental_story`: new events, then late, re-attributing and future-dated ones (incremental
  builds, one of them plain dbt; each against the Python computation; the build ledger) -> a full
  refresh with a concurrent reader, equal to the incremental result -> an incremental mart
  selected without the models it reads;
- `docs_site`: `medallion docs`;
- (slow) a plain `dbt build` CLI run in another process while a third process streams into Silver.

The later events of `incremental_story` are appended to silver.events by path (as the Silver
stream writes), in gold_testkit's plain-Python Silver rows.

Expected Gold figures are computed in plain Python (gold_testkit) from the generator's events for
the lakehouse's seed (which events a correct pipeline keeps, standardized without silver/) and the
hand-made ones, never from Silver or Gold.
"""
from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import BuiltLakehouse, Lakehouse
from tests.integration.gold_testkit import (
    SEEDS_DIR, append_events, assert_gold_matches, event, generated_silver_rows, gold_rows, gold_snapshot,
    gold_versions, seed_fx_rates_usd, silver_events_path,
)
from pipelines.core import registry
from pipelines.core.catalog import register_tables
from pipelines.core.config import join_path
from pipelines.core.delta_io import SCHEMA_VERSION
from pipelines.core.tables import AUDIT_GOLD_BUILDS

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
GOLD_TABLES = ("dim_channels", "dim_campaigns", "fct_campaign_performance_daily",
               "fct_campaign_performance", "fct_channel_cac_monthly", "fct_channel_cac", "fct_customer_ltv")
SEEDS = ("event_types", "channels", "fx_rates_usd")
INCREMENTAL = ("fct_campaign_performance_daily", "fct_customer_ltv")
MODELS_ONLY = ["--select", "resource_type:model", "--indirect-selection", "empty"]


def _new_events() -> list[dict]:
    """Arrive after the first build: new days, a late spend, and a click that moves an existing
    conversion to another campaign (its old row must disappear)."""
    return [
        event("impression", "2026-10-31 20:00:00", campaign_id="cmp-t-new", channel="email", user_id="u-t-7", batch=2),
        event("click", "2026-10-31 20:00:05", campaign_id="cmp-t-new", channel="email", user_id="u-t-7", batch=2),
        event("ad_spend", "2026-10-31 23:59:59", campaign_id="cmp-t-new", channel="email", cost_usd="40.00", batch=2),
        event("purchase", "2026-10-31 21:00:00", user_id="u-t-7", revenue_usd="80.00", batch=2),
        event("ad_spend", "2026-10-28 23:59:59", campaign_id="cmp-t-free", channel="organic", cost_usd="3.00", batch=2),
        event("click", "2026-10-30 07:00:00", campaign_id="cmp-t-b", channel="email", user_id="u-t-6", batch=2),
        event("purchase", "2026-10-29 10:00:00", user_id="u-t-2", revenue_usd="1.00", batch=2),
    ]


def _history(spark, config, table: str) -> list:
    path = join_path(config.warehouse, "gold", table)
    return spark.sql(f"DESCRIBE HISTORY delta.`{path}`").orderBy("version").collect()


def _last_write(spark, config, table: str) -> str:
    """The operation of the table's last commit that wrote rows (a merged incremental mart is then
    stamped with table properties, and given its column comments when they changed)."""
    metadata_only = {"SET TBLPROPERTIES", "CHANGE COLUMNS"}
    return [h for h in _history(spark, config, table) if h["operation"] not in metadata_only][-1]["operation"]


@pytest.fixture(scope="module")
def lake(built_lakehouse: BuiltLakehouse) -> Lakehouse:
    """The session's pre-built lakehouse (tests/conftest.py): read it, never change it."""
    return built_lakehouse.lake


@pytest.fixture(scope="module")
def events(built_lakehouse: BuiltLakehouse) -> list[dict]:
    """What silver.events of the pre-built lakehouse must hold, computed without Silver: the
    generator's clean events standardized in plain Python, plus the hand-made edge cases."""
    return [*generated_silver_rows(**built_lakehouse.generation), *built_lakehouse.hand_made_events()]


def test_medallion_build_passes_every_model_dbt_test_and_unit_test(built_lakehouse):
    assert built_lakehouse.rcs["build"] == 0
    results = built_lakehouse.build_results()["results"]
    by_kind: dict[str, set[str]] = {}
    for r in results:
        by_kind.setdefault(r["unique_id"].split(".")[0], set()).add(r["status"])
    assert by_kind["model"] == {"success"}
    assert by_kind["test"] == {"pass"}
    assert by_kind["unit_test"] == {"pass"}
    unit_tests = {r["unique_id"].rsplit(".", 1)[1] for r in results if r["unique_id"].startswith("unit_test.")}
    assert {"zero_spend_gives_null_roi_roas_cpc_cpa", "zero_new_customers_gives_null_cac",
            "purchase_without_any_click_is_unattributed", "click_after_the_purchase_is_not_counted",
            "click_31_days_before_the_purchase_is_not_counted"} <= unit_tests


def test_gold_numbers_equal_an_independent_python_computation_from_the_generated_events(spark, lake, events):
    assert_gold_matches(spark, lake.config, events)
    daily = gold_rows(spark, lake.config, "fct_campaign_performance_daily")
    assert len(daily) > 100 and sum(r["conversions"] for r in daily) > 10  # a meaningful dataset


def test_edge_cases_follow_the_metric_definitions(spark, lake):
    config = lake.config
    daily = {(r["campaign_id"], str(r["date_day"])): r for r in gold_rows(spark, config, "fct_campaign_performance_daily")}
    free = daily[("cmp-t-free", "2026-10-10")]
    assert free["spend_usd"] == 0 and free["conversions"] == 1
    assert (free["roi"], free["roas"], free["cpc_usd"], free["cpa_usd"]) == (None, None, None, None)
    assert ("cmp-t-late-click", "2026-10-12") in daily and daily[("cmp-t-late-click", "2026-10-12")]["conversions"] == 0
    assert daily[("cmp-t-30d", "2026-10-20")]["conversions"] == 1
    assert ("cmp-t-old", "2026-10-20") not in daily
    ltv = {r["user_id"]: r for r in gold_rows(spark, config, "fct_customer_ltv")}
    assert (ltv["u-t-2"]["acquisition_channel"], ltv["u-t-2"]["acquisition_campaign_id"]) == ("direct", None)
    assert ltv["u-t-3"]["acquisition_channel"] == "direct"
    assert ltv["u-t-4"]["acquisition_channel"] == "direct"
    cac = {(r["channel"], str(r["month_start"])): r for r in gold_rows(spark, config, "fct_channel_cac_monthly")}
    assert cac[("referral", "2026-09-01")]["new_customers"] == 0
    assert cac[("referral", "2026-09-01")]["cac_usd"] is None
    totals = {r["campaign_id"]: r for r in gold_rows(spark, config, "fct_campaign_performance")}
    assert totals["cmp-t-free"]["spend_usd"] == 0 and totals["cmp-t-free"]["conversions"] == 1
    assert (totals["cmp-t-free"]["roi"], totals["cmp-t-free"]["roas"]) == (None, None)
    assert totals["cmp-t-late-click"]["conversions"] == 0 and "cmp-t-old" in totals


def _seed_csv_rows(seed: str) -> list[dict]:
    with (SEEDS_DIR / f"{seed}.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _reference_rows(spark, config, seed: str) -> list[dict]:
    path = join_path(config.warehouse, "gold_reference", seed)
    return [r.asDict() for r in spark.read.format("delta").load(path).collect()]


def test_seeds_load_the_csv_rows_with_their_declared_types_and_dim_channels_is_the_channels_seed(spark, lake):
    config = lake.config
    channels = _reference_rows(spark, config, "channels")
    assert sorted(r["channel"] for r in channels) == sorted(r["channel"] for r in _seed_csv_rows("channels"))
    assert {r["channel"]: r["is_paid"] for r in channels}["paid_search"] is True
    fx = {r["currency"]: r for r in _reference_rows(spark, config, "fx_rates_usd")}
    assert {c: r["usd_per_unit"] for c, r in fx.items()} == seed_fx_rates_usd()
    assert fx["EUR"]["as_of"] == dt.date(2025, 1, 1)
    dim = sorted(tuple(sorted(r.items())) for r in gold_rows(spark, config, "dim_channels"))
    assert dim == sorted(tuple(sorted(r.items())) for r in channels)


def test_medallion_show_prints_the_gold_metrics_as_the_marts_hold_them(spark, lake):
    from gold.sql_query import jsonable
    from gold.summary import print_summary

    config = lake.config
    out = io.StringIO()
    assert print_summary(config, out=out, spark=spark) == 0
    text = out.getvalue()
    campaigns_section = text.split("== Gold: top campaigns by ROI")[1].split("== ")[0]
    cac_section = text.split("== Gold: CAC by channel")[1]

    def cell(value) -> str:
        return "NULL" if value is None else str(jsonable(value))

    campaigns = gold_rows(spark, config, "fct_campaign_performance")
    top = sorted(campaigns, key=lambda r: (r["roi"] is None, -(r["roi"] or 0), r["campaign_id"]))[:10]
    shown = [line.split("|")[1].strip() for line in campaigns_section.splitlines() if line.startswith("|")][1:]
    assert shown == [r["campaign_id"] for r in top]
    for r in top:
        line = next(ln for ln in campaigns_section.splitlines() if f"| {r['campaign_id']} " in ln)
        assert [c.strip() for c in line.strip("|").split("|")] == [
            r["campaign_id"], cell(r["spend_usd"]), cell(r["revenue_usd"]), cell(r["roi"]), cell(r["roas"])]
    for r in gold_rows(spark, config, "fct_channel_cac"):
        line = next(ln for ln in cac_section.splitlines() if f"| {r['channel']} " in ln)
        assert [c.strip() for c in line.strip("|").split("|")] == [
            r["channel"], cell(r["spend_usd"]), cell(r["new_customers"]), cell(r["cac_usd"])]


def _ledger(spark, config, version: int | None = None) -> list[dict]:
    """audit.gold_builds rows (as of Delta `version` when given)."""
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return [r.asDict() for r in reader.load(AUDIT_GOLD_BUILDS.location(config)).collect()]


def _ledger_version(spark, config) -> int:
    return spark.sql(f"DESCRIBE HISTORY delta.`{AUDIT_GOLD_BUILDS.location(config)}` LIMIT 1").first()["version"]


@pytest.fixture(scope="module")
def rebuild_without_new_data(spark, built_lakehouse, tmp_path_factory):
    """A copy of the pre-built lakehouse, built again by the production `medallion build` (models,
    data tests, seeds) with no new Silver data; what it held before, and the build's results."""
    lake = built_lakehouse.lake.copy(tmp_path_factory.mktemp("gold-rebuild"))
    config = lake.config
    before = gold_snapshot(spark, config, GOLD_TABLES)
    versions = {t: _history(spark, config, t)[-1]["version"] for t in INCREMENTAL}
    rc = lake.medallion("build")  # the production build: models + data tests
    return {"lake": lake, "before": before, "versions_before": versions, "rc": rc, "results": lake.run_results()}


def test_a_second_build_without_new_data_changes_nothing(spark, rebuild_without_new_data):
    config = rebuild_without_new_data["lake"].config
    before, versions = rebuild_without_new_data["before"], rebuild_without_new_data["versions_before"]
    assert rebuild_without_new_data["rc"] == 0
    assert gold_snapshot(spark, config, GOLD_TABLES) == before
    for seed in SEEDS:  # reloaded by replacing the table, never appended to
        assert len(_reference_rows(spark, config, seed)) == len(_seed_csv_rows(seed)), seed
    for table in INCREMENTAL:  # nothing changed in Silver: the incremental marts commit nothing
        assert [h["version"] for h in _history(spark, config, table) if h["version"] > versions[table]] == [], table
    invocation = rebuild_without_new_data["results"]["metadata"]["invocation_id"]
    ledger = {r["node_id"]: r for r in _ledger(spark, config) if r["invocation_id"] == invocation}
    for table in INCREMENTAL:
        row = ledger[f"model.medallion.{table}"]
        assert (row["status"], row["build_mode"], row["gold_version"]) == ("success", "unchanged", None), table


def test_gold_tables_show_their_column_docs_and_the_build_that_last_wrote_them(spark, rebuild_without_new_data):
    """DESCRIBE shows every column's YAML description; the table properties name the last build
    that wrote the table (an incremental mart the rebuild left unchanged keeps the earlier one)."""
    config = rebuild_without_new_data["lake"].config
    ledger = _ledger(spark, config)
    tables = [s for s in registry.gold_tables() if s.kind == "table"]
    assert {s.name for s in tables} >= {*GOLD_TABLES, *SEEDS}
    for spec in tables:
        location = spec.location(config)
        comments = {r["col_name"]: " ".join((r["comment"] or "").split())
                    for r in spark.sql(f"DESCRIBE TABLE delta.`{location}`").collect()}
        assert {c: comments[c] for c in spec.column_names} == {c.name: c.comment for c in spec.columns}, spec.name
        properties = {r["key"]: r["value"] for r in spark.sql(f"SHOW TBLPROPERTIES delta.`{location}`").collect()}
        wrote = max((r for r in ledger if r["relation"] == spec.qualified_name and r["gold_version"] is not None),
                    key=lambda r: r["finished_at"])
        assert properties["medallion.dbt_invocation_id"] == wrote["invocation_id"], spec.name
        assert properties["medallion.silver_version"] == str(wrote["silver_version"]), spec.name
        built_at = dt.datetime.strptime(properties["medallion.last_built_at"], "%Y-%m-%dT%H:%M:%SZ")
        assert wrote["started_at"].replace(microsecond=0) <= built_at <= wrote["finished_at"], spec.name


def test_a_production_build_runs_the_data_tests_and_leaves_unit_and_seed_tests_to_ci(rebuild_without_new_data):
    results = rebuild_without_new_data["results"]["results"]
    kinds = {r["unique_id"].split(".")[0] for r in results}
    assert "unit_test" not in kinds
    tests = [r["unique_id"] for r in results if r["unique_id"].startswith("test.")]
    seed_test = re.compile(rf"^test\.medallion\.(unique|not_null|accepted_values)_({'|'.join(SEEDS)})_")
    assert not [t for t in tests if seed_test.match(t)]  # the seeds' own (static) data tests
    assert any("source_relationships_silver_events_event_type" in t for t in tests)  # Silver's, kept
    assert {r["unique_id"] for r in results if r["unique_id"].startswith("seed.")} == {
        f"seed.medallion.{seed}" for seed in SEEDS}
    assert {r["status"] for r in results if r["unique_id"].startswith("test.")} == {"pass"}
    assert sum(r["unique_id"].startswith("test.") for r in results) >= 25


def _silver_state(spark, config) -> tuple[str, int]:
    """(table id, latest version) of silver.events."""
    path = silver_events_path(config)
    return (spark.sql(f"DESCRIBE DETAIL delta.`{path}`").first()["id"],
            spark.sql(f"DESCRIBE HISTORY delta.`{path}` LIMIT 1").first()["version"])


def _daily(spark, config, versions: dict[str, int] | None = None) -> dict[tuple[str, str], dict]:
    version = (versions or {}).get("fct_campaign_performance_daily")
    return {(r["campaign_id"], str(r["date_day"])): r
            for r in gold_rows(spark, config, "fct_campaign_performance_daily", version)}


def _plain_dbt_build(spark, config, root: Path, *args: str):
    """`dbt build` as a plain dbt user runs it (no medallion vars, no table registration by
    medallion, no git commit from medallion), in this process: dbtRunner on a child session."""
    from dbt.cli.main import dbtRunner

    from gold.dbt_build import _isolated_session, _patched_environ, _restored_session_confs
    from tests.conftest import TEST_SPARK

    env = {"MEDALLION_WAREHOUSE": config.warehouse, "MEDALLION_SPARK_MASTER": TEST_SPARK["master"],
           "MEDALLION_SHUFFLE_PARTITIONS": str(TEST_SPARK["shuffle_partitions"]), "DBT_TARGET": "local",
           "DBT_THREADS": "4", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
           "DBT_TARGET_PATH": str(root / "plain-dbt-target"), "DBT_LOG_PATH": str(root / "plain-dbt-logs")}
    project = str(REPO / "dbt_project")
    saved = {k: os.environ.pop(k) for k in ("MEDALLION_GIT_COMMIT", "GITHUB_SHA") if k in os.environ}
    try:
        with _patched_environ(env), _restored_session_confs(spark), _isolated_session(spark):
            return dbtRunner().invoke(["build", "--project-dir", project, "--profiles-dir", project, *args])
    finally:
        os.environ.update(saved)


def _built(spark, config, events: list[dict], **recorded):
    """What a step of the incremental story leaves for its tests: the events Silver holds by then,
    and the Delta versions of the Gold marts and of the build ledger to read them back as of then."""
    return {**recorded, "events": list(events), "versions": gold_versions(spark, config, GOLD_TABLES),
            "ledger_version": _ledger_version(spark, config)}


@pytest.fixture(scope="module")
def incremental_story(spark, built_lakehouse, events, tmp_path_factory):
    """A copy of the pre-built lakehouse taken through these steps, in this order; each step
    records what its tests assert on (the Gold and ledger versions it left, read back later with
    time travel; results of its build), so no test sees what a later step changed:

    - "new": new events (new days, a late spend, a re-attributing click) -> incremental build;
    - "late": an impression days older than the newest built date, a click that re-attributes a
      purchase built weeks before that date, and an impression dated decades ahead -> one
      incremental build;
    - "plain": after the build that took the future-dated impression, an ordinary impression,
      built by plain dbt;
    - "full": a `--full-refresh` of the models while a reader polls every Gold table;
    - "refused": an incremental mart selected without the models it reads.
    """
    lake = built_lakehouse.lake.copy(tmp_path_factory.mktemp("gold-incremental"))
    config = lake.config
    silver = list(events)
    story = {"lake": lake}

    new = _new_events()
    append_events(spark, config, new)
    silver += new
    assert lake.medallion("build", *MODELS_ONLY) == 0
    story["new"] = _built(spark, config, silver,
                          operations={t: _last_write(spark, config, t) for t in INCREMENTAL})

    day = dt.date(2026, 10, 15)
    late = next(e for e in silver if e["event_type"] == "impression" and e["event_date"] == day
                and e["campaign_id"] and not e["campaign_id"].startswith("cmp-t-"))
    before = _daily(spark, config)
    new = [
        event("impression", "2026-10-15 13:00:00", campaign_id=late["campaign_id"], channel=late["channel"], batch=3),
        # u-t-1 clicked cmp-t-free at 09:01 and bought at 10:00 (built 2026-10-10): a click at 09:30 wins
        event("click", "2026-10-10 09:30:00", campaign_id="cmp-t-late-b", channel="display", user_id="u-t-1", batch=3),
        event("impression", "2099-01-01 00:00:00", campaign_id="cmp-t-future", channel="display", batch=3),
    ]
    append_events(spark, config, new)
    silver += new
    assert lake.medallion("build", *MODELS_ONLY) == 0
    story["late"] = _built(spark, config, silver, before=before, late_key=(late["campaign_id"], str(day)))

    new = [event("impression", "2026-11-01 08:00:00", campaign_id="cmp-t-new", channel="email", batch=4)]
    append_events(spark, config, new)
    silver += new
    silver_state = _silver_state(spark, config)
    result = _plain_dbt_build(spark, config, lake.root, *MODELS_ONLY)
    assert result.success, result.exception
    run_results = json.loads((lake.root / "plain-dbt-target" / "run_results.json").read_text())
    invocation = run_results["metadata"]["invocation_id"]
    models = [r for r in _ledger(spark, config) if r["invocation_id"] == invocation and r["resource_type"] == "model"]
    story["plain"] = _built(
        spark, config, silver, silver=silver_state, invocation_id=invocation,
        models={r["unique_id"] for r in run_results["results"] if r["unique_id"].startswith("model.")},
        # the views as this build left them (a later build replaces them), and the history of
        # every table it may have written, up to now
        view_texts={r["relation"]: spark.sql(f"DESCRIBE EXTENDED {r['relation']}")
                    .filter("col_name = 'View Text'").first()["data_type"]
                    for r in models if r["materialization"] == "view"},
        histories={r["relation"]: [h.asDict() for h in spark.sql(
                       f"DESCRIBE HISTORY delta.`{join_path(config.warehouse, *r['relation'].split('.'))}`").collect()]
                   for r in models if r["materialization"] != "view"})

    incremental = gold_snapshot(spark, config, GOLD_TABLES)
    register_tables(spark, config)  # the reader below reads this lakehouse's tables by name
    errors: list[str] = []
    reads = {"n": 0}
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            for table in GOLD_TABLES:
                try:
                    spark.table(f"gold.{table}").count()
                    reads["n"] += 1
                except Exception as exc:  # noqa: BLE001 - any failure is what we look for
                    errors.append(f"{table}: {str(exc).splitlines()[0]}")

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        rc = lake.medallion("build", *MODELS_ONLY, "--full-refresh")
    finally:
        stop.set()
        thread.join(timeout=60)
    full = gold_snapshot(spark, config, GOLD_TABLES)
    story["full"] = _built(spark, config, silver, incremental=incremental, full=full, rc=rc,
                           reader_errors=errors, reads=reads["n"])

    before = _history(spark, config, "fct_customer_ltv")[-1]["version"]
    rc = lake.medallion("build", "--select", "fct_customer_ltv")
    story["refused"] = _built(spark, config, silver, rc=rc, ltv_version_before=before,
                              invocation_id=lake.run_results()["metadata"]["invocation_id"])
    return story


def test_an_incremental_run_merges_new_events_and_moves_a_re_attributed_conversion(spark, incremental_story):
    config, step = incremental_story["lake"].config, incremental_story["new"]
    assert step["operations"] == {t: "MERGE" for t in INCREMENTAL}
    assert_gold_matches(spark, config, step["events"], step["versions"])
    daily = set(_daily(spark, config, step["versions"]))
    assert ("cmp-t-a", "2026-10-30") not in daily and ("cmp-t-b", "2026-10-30") in daily  # re-attributed


def test_an_impression_older_than_the_newest_built_date_reaches_its_day_incrementally(spark, incremental_story):
    config, step = incremental_story["lake"].config, incremental_story["late"]
    daily = _daily(spark, config, step["versions"])
    key = step["late_key"]
    assert daily[key]["impressions"] == step["before"][key]["impressions"] + 1
    assert_gold_matches(spark, config, step["events"], step["versions"])


def test_a_late_click_moves_an_already_built_purchase_to_the_clicks_campaign(spark, incremental_story):
    config, step = incremental_story["lake"].config, incremental_story["late"]
    before, daily = step["before"], _daily(spark, config, step["versions"])
    assert before[("cmp-t-free", "2026-10-10")]["conversions"] == 1 and ("cmp-t-late-b", "2026-10-10") not in before
    assert daily[("cmp-t-free", "2026-10-10")]["conversions"] == 0
    assert (daily[("cmp-t-late-b", "2026-10-10")]["conversions"], daily[("cmp-t-late-b", "2026-10-10")]["revenue_usd"]) == (1, 30)
    ltv = {r["user_id"]: r for r in gold_rows(spark, config, "fct_customer_ltv", step["versions"]["fct_customer_ltv"])}
    assert ltv["u-t-1"]["acquisition_campaign_id"] == "cmp-t-late-b"


def test_a_future_dated_event_in_silver_does_not_stop_later_events_from_reaching_gold(spark, incremental_story):
    config, step = incremental_story["lake"].config, incremental_story["plain"]
    daily = _daily(spark, config, step["versions"])
    assert daily[("cmp-t-new", "2026-11-01")]["impressions"] == 1
    assert daily[("cmp-t-future", "2099-01-01")]["impressions"] == 1
    assert_gold_matches(spark, config, step["events"], step["versions"])


def test_a_plain_dbt_build_records_the_silver_version_it_read_and_the_gold_versions_it_wrote(
        spark, incremental_story):
    config, step = incremental_story["lake"].config, incremental_story["plain"]
    table_id, version = step["silver"]
    invocation = step["invocation_id"]
    rows = [r for r in _ledger(spark, config, step["ledger_version"]) if r["invocation_id"] == invocation]
    assert [r["status"] for r in rows if r["resource_type"] == "invocation"] == ["success"]
    models = {r["node_id"]: r for r in rows if r["resource_type"] == "model"}
    assert set(models) == step["models"] and {r["status"] for r in models.values()} == {"success"}
    for row in rows:  # what a plain dbt run knows: no medallion run id, no git commit from medallion
        assert (row["silver_table_id"], row["silver_version"], row["silver_change_feed"]) == (table_id, version, True)
        assert (row["run_id"], row["git_commit"], row["target_name"], row["dbt_command"]) == (invocation, None, "local", "build")
    for node_id, row in models.items():
        if row["materialization"] == "view":
            assert row["build_mode"] == "view" and row["gold_version"] is None
            text = step["view_texts"][row["relation"]]
            assert f"version as of {version}" in text, node_id  # every model read Silver as of the pin
            continue
        history = step["histories"][row["relation"]]
        written = [h["version"] for h in history if invocation in (h["userMetadata"] or "")]
        if row["build_mode"] == "unchanged":
            assert row["gold_version"] is None and written == [], node_id
            continue
        assert [row["gold_version"]] == written[:1] and row["gold_version"] == history[0]["version"], node_id
        assert json.loads(history[0]["userMetadata"])["silver_version"] == version
        assert row["compiled_sql_md5"] and row["model_checksum"] and row["started_at"] <= row["finished_at"]
    daily = models["model.medallion.fct_campaign_performance_daily"]
    assert (daily["build_mode"], daily["changed_keys"], daily["silver_changes_from_version"]) == ("incremental", 1, version)
    assert models["model.medallion.fct_customer_ltv"]["build_mode"] == "unchanged"


def test_incremental_gold_after_new_late_and_future_events_equals_a_full_refresh_and_the_python_computation(
        spark, incremental_story):
    config, step = incremental_story["lake"].config, incremental_story["full"]
    assert step["rc"] == 0
    assert step["incremental"] == step["full"]
    assert_gold_matches(spark, config, step["events"], step["versions"])


def test_readers_never_see_a_gold_table_missing_during_a_full_refresh(incremental_story):
    step = incremental_story["full"]
    assert step["reads"] > 0
    assert step["reader_errors"] == []


def test_an_incremental_mart_selected_without_the_models_it_reads_is_refused_and_recorded(spark, incremental_story):
    """Its staging views and attribution table would hold an older Silver state than the pin."""
    config, step = incremental_story["lake"].config, incremental_story["refused"]
    assert step["rc"] == 1
    assert step["versions"]["fct_customer_ltv"] == step["ltv_version_before"]
    rows = {r["resource_type"]: r for r in _ledger(spark, config, step["ledger_version"])
            if r["invocation_id"] == step["invocation_id"]}
    assert (rows["model"]["node_id"], rows["model"]["status"], rows["model"]["gold_version"]) == (
        "model.medallion.fct_customer_ltv", "error", None)
    assert rows["invocation"]["status"] == "error"


def test_the_build_ledger_dbt_creates_is_the_registry_declaration(spark, lake):
    config = lake.config
    location = AUDIT_GOLD_BUILDS.location(config)
    fields = spark.read.format("delta").load(location).schema.fields
    assert [(f.name, f.dataType.simpleString().upper(), f.nullable, f.metadata.get("comment")) for f in fields] == [
        (c.name, c.type, c.nullable, c.comment) for c in AUDIT_GOLD_BUILDS.columns]
    properties = {r["key"]: r["value"] for r in spark.sql(f"SHOW TBLPROPERTIES delta.`{location}`").collect()}
    declared = AUDIT_GOLD_BUILDS.table_properties(SCHEMA_VERSION)
    declared.pop("medallion.schema_version")
    assert declared.items() <= properties.items()
    assert spark.sql(f"DESCRIBE DETAIL delta.`{location}`").first()["description"] == AUDIT_GOLD_BUILDS.comment


WRITER = textwrap.dedent("""
    import sys, time, pathlib
    sys.path.insert(0, {repo!r})
    from tests.conftest import make_config
    from pipelines.core.spark_session import build_session
    config = make_config(pathlib.Path({root!r}), spark={{"driver_memory": "1g"}})
    spark = build_session(config, app_suffix="writer")
    silver = spark.read.format("delta").load({silver!r})
    rows = (spark.readStream.format("rate").option("rowsPerSecond", 50).load()
            .selectExpr(
                "concat('stream-', cast(value as string)) as event_id", "'impression' as event_type",
                "timestamp'2026-06-01 12:00:00' as event_ts", "date'2026-06-01' as event_date",
                "'cmp-t-stream' as campaign_id", "'display' as channel", "'display' as channel_raw",
                "cast(null as string) as user_id", "cast(null as string) as email_hash",
                "cast(null as string) as order_id", "cast(null as decimal(18,4)) as revenue",
                "cast(null as decimal(18,4)) as cost", "cast(null as string) as currency",
                "cast(null as decimal(18,8)) as fx_rate_usd", "cast(null as decimal(18,4)) as revenue_usd",
                "cast(null as decimal(18,4)) as cost_usd", "cast(null as string) as utm_source",
                "cast(null as string) as utm_medium", "cast(null as string) as utm_campaign",
                "cast(null as string) as properties", "false as is_late",
                "concat('b-', cast(value as string)) as _bronze_id", "timestamp as _ingested_at",
                "cast(0 as bigint) as _silver_batch_id", "timestamp as _processed_at",
                "'gate-stream' as _gate_run_id"))
    query = (rows.writeStream.format("delta").outputMode("append")
             .option("checkpointLocation", {checkpoint!r}).trigger(processingTime="2 seconds")
             .start({silver!r}))
    while query.lastProgress is None or not query.lastProgress.get("numInputRows"):
        time.sleep(0.5)
    pathlib.Path({ready!r}).write_text("streaming")
    while not pathlib.Path({stop!r}).exists():
        time.sleep(0.5)
        if query.exception() is not None:
            raise SystemExit(f"stream failed: {{query.exception()}}")
    batches = len(query.recentProgress)
    query.stop()
    print(f"writer: {{batches}} progress reports")
""")


@pytest.mark.slow
def test_plain_dbt_build_in_another_process_succeeds_while_a_stream_writes_silver(spark, built_lakehouse, tmp_path):
    """Three JVMs: this test's, a stream appending to silver.events by path, and `dbt build`
    started as plain CLI (no medallion code runs first; its on-run-start hook registers the
    warehouse tables). In-memory catalogs everywhere, so no metastore lock to fight over. On a
    copy of the pre-built lakehouse, whose Gold tables exist already."""
    config = built_lakehouse.lake.copy(tmp_path / "lakehouse-copy").config
    ready, stop = tmp_path / "ready", tmp_path / "stop"
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(repo=str(REPO), root=str(tmp_path / "writer-root"),
                                    silver=silver_events_path(config),
                                    checkpoint=str(tmp_path / "writer-checkpoint"),
                                    ready=str(ready), stop=str(stop)))
    writer = subprocess.Popen([sys.executable, str(script)], cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 180
        while not ready.exists():
            assert writer.poll() is None, f"writer died: {writer.stdout.read()[-3000:]}"
            assert time.monotonic() < deadline, "writer did not start streaming"
            time.sleep(1)
        silver_version_before = spark.sql(f"DESCRIBE HISTORY delta.`{silver_events_path(config)}`").first()["version"]
        env = {**os.environ, "MEDALLION_WAREHOUSE": config.warehouse, "MEDALLION_SPARK_MASTER": "local[2]",
               "MEDALLION_DRIVER_MEMORY": "1g", "MEDALLION_SHUFFLE_PARTITIONS": "2", "DBT_THREADS": "4",
               "DBT_TARGET_PATH": str(tmp_path / "cli-target"), "DBT_LOG_PATH": str(tmp_path / "cli-logs"),
               "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        env.pop("DBT_TARGET", None)
        dbt = Path(sys.executable).with_name("dbt")
        started = time.monotonic()
        # the views, the attribution table and an incremental mart, with their data tests
        cli = subprocess.run([str(dbt), "build", "--project-dir", "dbt_project", "--profiles-dir", "dbt_project",
                              "--select", "+fct_campaign_performance_daily", "+dim_campaigns",
                              "--exclude", "resource_type:unit_test"],
                             cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
        elapsed = time.monotonic() - started
        silver_version_after = spark.sql(f"DESCRIBE HISTORY delta.`{silver_events_path(config)}`").first()["version"]
        assert writer.poll() is None, "the stream must still be running"
    finally:
        stop.write_text("stop")
        try:
            out, _ = writer.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            writer.kill()
            out, _ = writer.communicate()
    assert cli.returncode == 0, cli.stdout[-5000:] + cli.stderr[-3000:]
    assert "registered" in cli.stdout and "silver.events" in cli.stdout
    assert silver_version_after > silver_version_before, "the stream committed during the dbt build"
    # The plain CLI found the existing Gold table, so the incremental mart merged (not rebuilt).
    assert _last_write(spark, config, "fct_campaign_performance_daily") == "MERGE"
    print(f"plain dbt build CLI: {elapsed:.0f}s while the stream committed "
          f"{silver_version_after - silver_version_before} Silver versions")



@pytest.fixture(scope="module")
def docs_site(built_lakehouse, tmp_path_factory):
    """`medallion docs` on a copy of the pre-built lakehouse: its exit status, what it printed,
    and the folder of the site."""
    lake = built_lakehouse.lake.copy(tmp_path_factory.mktemp("gold-docs"))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        rc = lake.medallion("docs")
    return {"rc": rc, "printed": printed.getvalue(), "dir": Path(lake.config.paths.root) / "docs" / "dbt"}


def test_medallion_docs_generates_the_dbt_docs_site_and_prints_its_path(docs_site):
    assert docs_site["rc"] == 0
    index = docs_site["dir"] / "index.html"
    assert str(index) in docs_site["printed"]
    assert index.is_file() and (index.parent / "catalog.json").is_file()
    catalog = json.loads((index.parent / "catalog.json").read_text())
    assert "model.medallion.fct_campaign_performance_daily" in catalog["nodes"]


# The catalog spells some types by their Spark simpleString (`long`), the YAML by their SQL name.
SPARK_TYPE_NAMES = {"long": "bigint", "integer": "int", "short": "smallint", "byte": "tinyint"}


def test_every_model_and_seed_column_states_its_built_type_and_a_personal_data_class(docs_site):
    """What the table registry reads from the YAML (data_type, meta.personal_data) agrees with the
    relations dbt built (catalog.json of `medallion docs`)."""
    docs = docs_site["dir"]
    manifest = json.loads((docs / "manifest.json").read_text())
    catalog = json.loads((docs / "catalog.json").read_text())["nodes"]
    checked = set()
    for uid, node in manifest["nodes"].items():
        if node["resource_type"] not in ("model", "seed") or node["package_name"] != "medallion":
            continue
        built = {name.lower(): SPARK_TYPE_NAMES.get(column["type"].lower(), column["type"].lower())
                 for name, column in catalog[uid]["columns"].items()}
        declared = {name.lower(): (column.get("data_type") or "").lower().replace(" ", "")
                    for name, column in node["columns"].items()}
        assert declared == built, uid
        for name, column in node["columns"].items():
            meta = {**(column.get("meta") or {}), **((column.get("config") or {}).get("meta") or {})}
            expected_class = "pseudonymous" if name in ("user_id", "email_hash") else "none"
            assert meta.get("personal_data", "none") == expected_class, f"{uid}.{name}"
        if node["resource_type"] == "seed":
            assert {k: v.replace(" ", "") for k, v in node["config"]["column_types"].items()} == declared, uid
        checked.add(node["name"])
    assert {"int_purchases__attributed", "stg_silver__signups", *GOLD_TABLES, *SEEDS} <= checked
    # ... and the table registry, which reads that YAML, describes exactly what dbt built.
    from pipelines.core import registry

    by_name = {(n["schema"], n["name"]): uid for uid, n in manifest["nodes"].items() if uid in catalog}
    for spec in registry.gold_tables():
        built = catalog[by_name[(spec.schema, spec.name)]]["columns"]
        assert [c.name for c in spec.columns] == [n for n, _ in sorted(built.items(), key=lambda i: i[1]["index"])]
        assert [c.type.lower() for c in spec.columns] == [
            SPARK_TYPE_NAMES.get(c["type"].lower(), c["type"].lower()).replace(" ", "")
            for _, c in sorted(built.items(), key=lambda i: i[1]["index"])], spec.qualified_name


def test_build_without_silver_fails_with_a_clear_error(tmp_path, capsys):
    lake = Lakehouse.create(tmp_path)  # nothing under its lakehouse folder
    assert lake.medallion("build") == 2
    assert "GOLD_SOURCE_MISSING" in capsys.readouterr().err
