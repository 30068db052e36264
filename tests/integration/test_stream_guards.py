"""Operator actions the streams must survive: a lost refine checkpoint, a second stream on the same
tables, and a failing batch whose error must reach the user with the product's code."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from pipelines.cli import main
from pipelines.core.config import PROJECT_DIR
from pipelines.core.errors import PipelineError
from pipelines.orchestration import run_stages
from tests.conftest import TEST_SPARK, make_config
from tests.support.silver_testkit import append_bronze, count, event, run_refine

pytestmark = pytest.mark.integration

TABLES = [("silver", "events"), ("silver", "events_quarantine"), ("silver", "events_duplicates"),
          ("audit", "batch_ledger"), ("audit", "quality_results")]


def _counts(spark, config) -> dict:
    return {f"{s}.{t}": count(spark, config, s, t) for s, t in TABLES}


def test_a_fresh_refine_checkpoint_against_silver_rows_is_refused_and_changes_nothing(spark, tmp_path):
    config = make_config(tmp_path / "lake")
    append_bronze(spark, config, [event("e-1"), event("e-1"), event("bad", "page_view")])
    run_refine(spark, config)
    before = _counts(spark, config)
    shutil.rmtree(config.checkpoint("silver_events"))

    with pytest.raises(PipelineError) as err:
        run_refine(spark, config)

    assert err.value.code == "CHECKPOINT_MISMATCH"
    assert _counts(spark, config) == before


def _landing_file(config, name: str, lines: list[str]) -> None:
    landing = Path(config.landing)
    landing.mkdir(parents=True, exist_ok=True)
    tmp = landing / f".{name}.tmp"
    tmp.write_text("".join(line + "\n" for line in lines))
    tmp.rename(landing / name)


def test_a_second_ingest_stream_with_another_checkpoint_is_refused_even_on_an_empty_table(spark, tmp_path):
    first = make_config(tmp_path / "lake")
    # the same warehouse and landing, another checkpoint folder: another stream
    second = make_config(tmp_path / "lake", paths={"checkpoints": str(tmp_path / "other-checkpoints")})
    run_stages(first, ["ingest"], continuous=False, spark=spark)  # Bronze created, still empty
    _landing_file(first, "a.jsonl", [event(f"e-{i}") for i in range(5)])
    run_stages(second, ["ingest"], continuous=False, spark=spark)  # empty table: the guard lets it in
    assert count(spark, first, "bronze", "events_raw") == 5

    with pytest.raises(PipelineError) as err:
        run_stages(first, ["ingest"], continuous=False, spark=spark)

    assert err.value.code == "STREAM_OWNER_CONFLICT"
    assert count(spark, first, "bronze", "events_raw") == 5  # nothing landed twice
    # the owner itself restarts on its own checkpoint without being blocked by its record
    _landing_file(first, "b.jsonl", [event("e-9")])
    run_stages(second, ["ingest"], continuous=False, spark=spark)
    assert count(spark, first, "bronze", "events_raw") == 6


def test_a_stream_takes_over_tables_whose_owner_checkpoint_is_gone(spark, tmp_path):
    first = make_config(tmp_path / "lake")
    second = make_config(tmp_path / "lake", paths={"checkpoints": str(tmp_path / "other-checkpoints")})
    append_bronze(spark, first, [event("e-1")])
    run_refine(spark, first)
    # the operator moves Silver aside and drops the old checkpoint, then starts another stream
    for schema, table in TABLES:
        shutil.rmtree(Path(first.warehouse) / schema / table, ignore_errors=True)
    shutil.rmtree(first.checkpoint("silver_events"))

    run_refine(spark, second)

    assert count(spark, first, "silver", "events") == 1
    owner = json.loads((Path(first.warehouse) / "_medallion/stream_owners/silver.events.json").read_text())
    assert owner["checkpoint"] == second.checkpoint("silver_events")


def test_a_failing_batch_reaches_the_cli_with_its_own_code_and_no_stack(spark, tmp_path, capsys):
    suites = tmp_path / "expectations"
    shutil.copytree(PROJECT_DIR / "expectations", suites)
    suite_file = suites / "silver_events.yaml"
    data = yaml.safe_load(suite_file.read_text())
    for entry in data["expectations"]:
        if entry.get("reason") == "invalid_event_type":
            entry["action"] = "fail"
    suite_file.write_text(yaml.safe_dump(data, sort_keys=False))
    root = tmp_path / "lake"
    config = make_config(root, refine={"expectations_dir": str(suites)})
    append_bronze(spark, config, [event("good-1"), event("bad-type", "page_view")])
    cfg = tmp_path / "medallion.yaml"
    cfg.write_text(yaml.safe_dump({"paths": {"root": str(root)}, "spark": dict(TEST_SPARK),
                                   "refine": {"expectations_dir": str(suites)}}))
    capsys.readouterr()

    assert main(["--config", str(cfg), "refine", "--once"]) == 2

    err = capsys.readouterr().err
    assert "[QUALITY_GATE_FAILED]" in err, err
    assert "Traceback" not in err and "at org.apache" not in err and "py4j" not in err
