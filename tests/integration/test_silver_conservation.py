"""Conservation on generated traffic with 5% bad lines: every Bronze row is accounted for once."""
from __future__ import annotations

import pytest

from pipelines.sample_events import (DUPLICATE_KINDS, QUARANTINE_KINDS, clean_events, count_kinds,
                                     generate_lines)
from tests.conftest import make_config
from tests.support.silver_testkit import append_bronze, read, run_refine

pytestmark = pytest.mark.integration


def test_conservation_holds_on_a_generated_run_with_five_percent_bad_lines(spark, tmp_path):
    lines = generate_lines(3000, seed=11, days=5, bad_rate=0.05)
    kinds = count_kinds(lines)
    config = make_config(tmp_path / "lake")
    append_bronze(spark, config, [gl.line for gl in lines])

    run_refine(spark, config)

    ledger = read(spark, config, "audit", "batch_ledger").collect()
    read_total = sum(r["rows_read"] for r in ledger)
    inserted = sum(r["rows_inserted"] for r in ledger)
    quarantined = sum(r["rows_quarantined"] for r in ledger)
    duplicates = sum(r["rows_duplicate"] for r in ledger)
    assert read_total == len(lines) == inserted + quarantined + duplicates
    assert inserted == len(clean_events(lines)) == read(spark, config, "silver", "events").count()
    assert quarantined == sum(kinds[k] for k in QUARANTINE_KINDS)
    assert duplicates == sum(kinds[k] for k in DUPLICATE_KINDS)
    assert sum(r["rows_duplicate_conflicting"] for r in ledger) == kinds["conflicting_duplicate"]
    silver_ids = {r["event_id"] for r in read(spark, config, "silver", "events").select("event_id").collect()}
    assert silver_ids == {e["event_id"] for e in clean_events(lines)}
