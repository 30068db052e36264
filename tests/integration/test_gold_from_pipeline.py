"""Gold from the real pipeline: generated landing files -> Bronze -> Silver -> `medallion build`,
compared row by row with a plain-Python computation from the generator's events (not from Silver).

The expected side uses only `generate_lines`/`clean_events` (which events a correct pipeline
keeps), the generator's CHANNEL_ALIASES, the FX seed, and the DESIGN.md metric
definitions in tests/integration/gold_testkit.py.
"""
from __future__ import annotations

import pytest
import yaml

from tests.integration.gold_testkit import (
    assert_gold_equals, expected_campaign_daily, expected_channel_cac_monthly, seed_fx_rates_usd,
    silver_rows_from_generated,
)
from pipelines.core.config import load_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SEED, EVENTS, BAD_RATE = 5, 8000, 0.02


def test_gold_from_the_pipeline_equals_an_independent_computation_from_the_generator_events(spark, tmp_path, monkeypatch):
    from pipelines.cli import main
    from pipelines.sample_events import clean_events, generate_lines

    config_file = tmp_path / "medallion.yaml"
    config_file.write_text(yaml.safe_dump({
        "paths": {"root": str(tmp_path / "lakehouse")},
        "spark": {"master": "local[2]", "shuffle_partitions": 2, "driver_memory": "3g", "log_level": "ERROR"},
    }))
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "dbt-target"))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "dbt-logs"))
    config = load_config(str(config_file))
    args = ["--config", str(config_file)]
    assert main([*args, "generate", "--events", str(EVENTS), "--seed", str(SEED), "--bad-rate", str(BAD_RATE),
                 "--files", "2"]) == 0
    assert main([*args, "run", "--once"]) == 0
    assert main([*args, "build", "--select", "resource_type:model", "resource_type:seed",
                 "--indirect-selection", "empty"]) == 0

    events = silver_rows_from_generated(clean_events(generate_lines(EVENTS, seed=SEED, bad_rate=BAD_RATE)),
                                        seed_fx_rates_usd())
    daily = assert_gold_equals(spark, config, "fct_campaign_performance_daily",
                               lambda r: (r["campaign_id"], r["date_day"]), expected_campaign_daily(events))
    assert sum(r["conversions"] for r in daily.values()) > 0
    assert_gold_equals(spark, config, "fct_channel_cac_monthly",
                       lambda r: (r["channel"], r["month_start"]), expected_channel_cac_monthly(events))
