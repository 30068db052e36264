"""Suite files drive the gate: a `fail` expectation stops the stream with nothing committed, and
editing the suite changes the gate on the next run."""
from __future__ import annotations

import shutil

import pytest
import yaml

from silver.quality_gate import REPO_EXPECTATIONS_DIR
from tests.conftest import make_config
from tests.integration.silver_support import append_bronze, count, event, read, run_refine

pytestmark = pytest.mark.integration


def _set_action(suite_file, reason: str, action: str) -> None:
    data = yaml.safe_load(suite_file.read_text())
    for entry in data["expectations"]:
        if entry.get("reason") == reason:
            entry["action"] = action
    suite_file.write_text(yaml.safe_dump(data, sort_keys=False))


def test_fail_expectation_stops_the_stream_and_a_suite_change_applies_on_the_next_run(spark, tmp_path):
    suites = tmp_path / "expectations"
    shutil.copytree(REPO_EXPECTATIONS_DIR, suites)
    suite_file = suites / "silver_events.yaml"
    _set_action(suite_file, "invalid_event_type", "fail")
    config = make_config(tmp_path / "lake", refine={"expectations_dir": str(suites)})
    append_bronze(spark, config, [event("good-1"), event("bad-type", "page_view")])

    with pytest.raises(Exception, match="QUALITY_GATE_FAILED"):
        run_refine(spark, config)
    for schema, table in [("silver", "events"), ("silver", "events_quarantine"),
                          ("audit", "batch_ledger"), ("audit", "quality_results")]:
        assert count(spark, config, schema, table) == 0, f"{schema}.{table} got a commit"

    _set_action(suite_file, "invalid_event_type", "quarantine")  # the suite file changes...
    run_refine(spark, config)  # ...and the retried batch is gated by the new version

    assert [r["event_id"] for r in read(spark, config, "silver", "events").collect()] == ["good-1"]
    quarantined = read(spark, config, "silver", "events_quarantine").collect()
    assert [r["reasons"] for r in quarantined] == [["invalid_event_type"]]
    digests = {r["suite_digest"] for r in read(spark, config, "audit", "quality_results").collect()}
    assert len(digests) == 1
