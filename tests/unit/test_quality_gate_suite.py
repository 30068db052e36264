"""Suite files: what the gate accepts and how it refuses a broken suite (no Spark needed)."""
from __future__ import annotations

import pytest

from pipelines.core.errors import PipelineError
from silver.contract import REASON_CODES
from pipelines.core.config import PROJECT_DIR
from silver.gx_engine import check_suite
from silver.suite import find_suite, load_suite

REPO_EXPECTATIONS_DIR = PROJECT_DIR / "expectations"


def test_the_repository_suite_covers_every_reason_code_with_a_quarantine_expectation():
    suite = find_suite(REPO_EXPECTATIONS_DIR, "silver.events")
    assert {e.reason for e in suite.quarantine} == set(REASON_CODES)
    assert suite.by_action("fail") and suite.by_action("warn")


@pytest.mark.parametrize("entry", [
    "{type: expect_column_values_to_not_be_null, column: event_id, action: drop}",
    "{type: expect_column_values_to_not_be_null, column: event_id, action: quarantine}",
    "{type: expect_table_row_count_to_be_between, min_value: 1, action: quarantine, reason: x}",
    "{type: expect_no_such_thing, column: event_id, action: warn}",
    "{type: expect_column_values_to_not_be_null, column: event_id, when: 'event_id = event_type', action: warn}",
    "{type: expect_column_values_to_not_be_null, column: event_id, action: warn}\n"
    "  - {type: expect_column_values_to_not_be_null, column: event_id, action: quarantine, reason: r}",
])
def test_a_broken_suite_is_refused_with_a_clear_error(tmp_path, entry):
    path = tmp_path / "s.yaml"
    path.write_text(f"name: s\ntable: silver.events\nexpectations:\n  - {entry}\n")
    with pytest.raises(PipelineError) as err:
        check_suite(load_suite(path))  # structure when it loads, then what GX accepts
    assert err.value.code == "EXPECTATION_SUITE_INVALID"


def test_suites_can_be_json_files_too(tmp_path):
    path = tmp_path / "s.json"
    path.write_text('{"name": "s", "table": "silver.events", "expectations": [{"type": '
                    '"expect_column_values_to_not_be_null", "column": "event_id", "action": "quarantine", '
                    '"reason": "missing_event_id"}]}')
    assert load_suite(path).quarantine[0].reason == "missing_event_id"


def _gate_result(suite, gx_ids):
    from datetime import datetime, timezone

    from silver.gx_engine import ExpectationOutcome, GateResult

    outcomes = tuple(ExpectationOutcome(spec=s, success=not gx_ids.get(s.index), element_count=3,
                                        unexpected_count=len(gx_ids.get(s.index, ())), unexpected_percent=None,
                                        unexpected_ids=frozenset(gx_ids.get(s.index, ())))
                     for s in suite.expectations)
    return GateResult(suite=suite, gate_run_id="g", success=False, outcomes=outcomes, seconds=0.0,
                      validated_at=datetime.now(timezone.utc))


def test_quarantine_decisions_that_differ_from_gx_unexpected_rows_fail_the_batch():
    from silver.agreement import check_agreement

    suite = find_suite(REPO_EXPECTATIONS_DIR, "silver.events")
    first = suite.quarantine[0].index
    check_agreement(_gate_result(suite, {first: {"b-1"}}), {"b-1": [first]})  # agree: fine
    with pytest.raises(PipelineError) as err:
        check_agreement(_gate_result(suite, {first: {"b-1", "b-2"}}), {"b-1": [first]})
    assert err.value.code == "GATE_DISAGREEMENT"
    with pytest.raises(PipelineError):
        check_agreement(_gate_result(suite, {}), {"b-1": [first]})
