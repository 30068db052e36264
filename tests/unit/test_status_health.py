"""`medallion status`'s judgement (pipelines.monitoring.health) on hand-made facts."""
from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta, timezone

from pipelines.core.config import StatusConfig
from pipelines.monitoring.health import (BronzeFacts, Facts, FailedExpectation, GateFacts, GoldFacts,
                                         LandingFacts, SilverFacts, Window, evaluate, render_json,
                                         render_text)

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)


def _facts(**changes) -> Facts:
    ago = lambda **kw: NOW - timedelta(**kw)  # noqa: E731
    facts = Facts(
        warehouse="/lake/warehouse", checked_at=NOW,
        landing=LandingFacts(files_waiting=2, oldest_waiting=ago(minutes=10)),
        bronze=BronzeFacts(rows=1000, last_batch_at=ago(minutes=5), rows_not_refined=100,
                           not_refined_since=ago(minutes=3)),
        silver=SilverFacts(rows=880, last_batch_id=7, last_batch_at=ago(minutes=4),
                           windows=(Window(1, 2, 400, 20), Window(24, 9, 900, 30)),
                           last_gate=GateFacts(batch_id=7, suite="silver_events", validated_at=ago(minutes=4),
                                               expectations=25, failed=(
                                                   FailedExpectation("revenue", "quarantine", "invalid_amount", 3),
                                                   FailedExpectation("cost", "quarantine", "invalid_amount", 2),
                                                   FailedExpectation("is_late", "warn", None, 7)))),
        gold=GoldFacts(last_build_at=ago(hours=2), last_build_status="success", last_success_at=ago(hours=2),
                       models={"success": 17}, tests={"pass": 40}),
    )
    return dataclasses.replace(facts, **changes)


def test_no_thresholds_means_healthy_and_says_how_to_set_them() -> None:
    facts = _facts()
    assert evaluate(facts, StatusConfig()) == []
    text = render_text(facts, [])
    assert "status: healthy (no thresholds configured" in text
    assert "2 file(s) waiting for ingest, the oldest for 10m 0s" in text
    assert "100 rows not refined yet, the oldest for 3m 0s" in text
    # a reason two expectations share is one count; warnings by column
    assert "quarantined invalid_amount 5; warned is_late 7" in text
    assert "last hour: 5.00% (20 of 400 rows, 2 batches)" in text
    assert "models 17 success; tests 40 pass" in text


def test_each_threshold_is_checked_on_the_wall_clock() -> None:
    limits = StatusConfig(max_landing_wait_seconds=300, max_refine_wait_seconds=300,
                          max_gold_age_seconds=3600, max_quarantine_rate=0.10)
    checks = {c.name: c for c in evaluate(_facts(), limits)}
    assert {n: c.breached for n, c in checks.items()} == {
        "landing_wait": True, "refine_wait": False, "gold_age": True, "quarantine_rate": False}
    assert checks["landing_wait"].value == 600 and checks["gold_age"].value == 7200
    assert checks["quarantine_rate"].value == 0.05
    text = render_text(_facts(), list(checks.values()))
    assert "BREACHED oldest landed file waiting for ingest: 600s (above 300s)" in text
    assert "ok       quarantine rate over the last hour: 5.00% (within 10.00%)" in text
    assert text.rstrip().endswith("status: UNHEALTHY")


def test_nothing_waiting_is_within_any_wait_threshold() -> None:
    facts = _facts(landing=LandingFacts(0, None),
                   bronze=BronzeFacts(rows=1000, last_batch_at=NOW, rows_not_refined=0, not_refined_since=None))
    limits = StatusConfig(max_landing_wait_seconds=1, max_refine_wait_seconds=1)
    assert not any(c.breached for c in evaluate(facts, limits))


def test_a_failed_last_build_is_always_a_breach_and_no_build_breaches_a_gold_age_limit() -> None:
    failed = _facts(gold=GoldFacts(last_build_at=NOW, last_build_status="error",
                                   last_success_at=NOW - timedelta(days=1), models={"error": 1, "skipped": 16}))
    checks = evaluate(failed, StatusConfig())
    assert [(c.name, c.breached) for c in checks] == [("gold_build", True)]
    assert "last successful build 1d 0h ago" in render_text(failed, checks)
    never = _facts(gold=None)
    (check,) = evaluate(never, StatusConfig(max_gold_age_seconds=60))
    assert check.breached and "no successful build yet" in check.message
    assert "gold     never built" in render_text(never, [check])


def test_json_carries_the_facts_lags_and_verdict() -> None:
    facts = _facts()
    checks = evaluate(facts, StatusConfig(max_quarantine_rate=0.01))
    doc = json.loads(render_json(facts, checks))
    assert doc["healthy"] is False
    assert doc["landing"] == {"files_waiting": 2, "oldest_waiting": "2026-12-02T11:50:00+00:00",
                              "oldest_waiting_seconds": 600.0}
    assert doc["bronze"]["not_refined_seconds"] == 180.0
    assert doc["silver"]["windows"][0]["quarantine_rate"] == 0.05
    assert doc["silver"]["last_gate"]["failed"][2] == {"expectation": "is_late", "action": "warn",
                                                        "reason": None, "unexpected_count": 7}
    assert doc["gold"]["seconds_since_last_success"] == 7200.0
    assert doc["checks"] == [{"name": "quarantine_rate", "value": 0.05, "threshold": 0.01, "breached": True,
                              "message": "quarantine rate over the last hour: 5.00% (above 1.00%)"}]
