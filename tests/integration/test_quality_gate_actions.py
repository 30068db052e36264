"""Suite files drive the gate: a `fail` expectation stops the stream with nothing committed, and
editing the suite changes the gate on the next run."""
from __future__ import annotations

import shutil

import pytest
import yaml

from pipelines.core.config import PROJECT_DIR
from pipelines.core.errors import PipelineError
from tests.conftest import make_config
from tests.support.silver_testkit import append_bronze, count, event, read, run_refine

REPO_EXPECTATIONS_DIR = PROJECT_DIR / "expectations"

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

    with pytest.raises(PipelineError, check=lambda e: e.code == "QUALITY_GATE_FAILED"):
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


def test_row_ids_from_pandas_and_from_spark_agree_with_the_flags(spark, tmp_path):
    """Run 2 lists GX's unexpected row ids on pandas (few flagged rows) or on Spark (many): both
    engines must report exactly the rows the gate's predicates flagged, reason by reason."""
    from pyspark.sql import functions as F

    from pipelines.core.pii_key import install
    from pipelines.sample_events import generate_lines
    from silver.agreement import check_agreement
    from silver.gx_engine import ROW_ID, QualityGate
    from silver.predicates import FAILED_COL, flag_rows
    from silver.refine import load_gate_suite
    from silver.reference_data import load_reference
    from silver.standardize import standardize
    from tests.support.silver_testkit import bronze_rows

    config = make_config(tmp_path / "lake")
    lines = [g.line for g in generate_lines(3000, seed=11, bad_rate=0.3)]
    suite = load_gate_suite(config)
    reference = load_reference(config)
    install(spark, reference.pii_key)  # what refine does before its first batch
    batch = flag_rows(standardize(bronze_rows(spark, lines), reference), suite).persist()
    try:
        flagged = {r[ROW_ID]: r[FAILED_COL] for r in batch.filter(F.size(FAILED_COL) > 0).collect()}
        assert len({i for ids in flagged.values() for i in ids}) >= 10  # many reasons present
        results = {}
        for engine, limit in (("pandas", 100_000), ("spark", 0)):
            gate = QualityGate(suite, pandas_max_rows=limit).validate(batch, gate_run_id=engine)
            check_agreement(gate, flagged)  # raises GATE_DISAGREEMENT on any difference
            results[engine] = gate.quarantine_ids()
        assert results["pandas"] == results["spark"]
        assert sum(len(ids) for ids in results["pandas"].values()) >= len(flagged)
    finally:
        batch.unpersist()
