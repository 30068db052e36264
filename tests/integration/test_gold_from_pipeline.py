"""Gold from the real pipeline: generated landing files -> Bronze -> Silver -> `medallion build`,
compared row by row with a plain-Python computation from the generator's events (not from Silver).

Reads the session's pre-built lakehouse (`built_lakehouse`, tests/conftest.py), which went through
exactly those CLI steps, with a file of hand-made edge cases (gold_testkit) landed beside the
generated ones. The expected side uses only `generate_lines`/`clean_events` (which events a
correct pipeline keeps) for the lakehouse's generation arguments, the generator's
CHANNEL_ALIASES, the FX seed, the hand-made events as Silver rows, and the DESIGN.md metric
definitions in tests/integration/gold_testkit.py.
"""
from __future__ import annotations

import pytest

from tests.integration.gold_testkit import (
    assert_gold_equals, expected_campaign_daily, expected_channel_cac_monthly, seed_fx_rates_usd,
    silver_rows_from_generated,
)

pytestmark = pytest.mark.integration


def test_gold_from_the_pipeline_equals_an_independent_computation_from_the_generator_events(spark, built_lakehouse):
    from pipelines.sample_events import clean_events, generate_lines

    assert dict(built_lakehouse.rcs) == {"generate": 0, "ingest": 0, "refine": 0, "build": 0}
    assert built_lakehouse.generation["bad_rate"] > 0  # bad lines, duplicates and late events among them
    config = built_lakehouse.lake.config
    events = silver_rows_from_generated(clean_events(generate_lines(**built_lakehouse.generation)),
                                        seed_fx_rates_usd()) + built_lakehouse.hand_made_events()
    daily = assert_gold_equals(spark, config, "fct_campaign_performance_daily",
                               lambda r: (r["campaign_id"], r["date_day"]), expected_campaign_daily(events))
    assert sum(r["conversions"] for r in daily.values()) > 0
    assert_gold_equals(spark, config, "fct_channel_cac_monthly",
                       lambda r: (r["channel"], r["month_start"]), expected_channel_cac_monthly(events))
