"""Pure: the facts `medallion status` gathered -> checks against the configured thresholds -> text
or JSON. No Spark here, so every rule is testable on hand-made facts.

Lag is measured on the wall clock (`now`): how long the oldest waiting landed file and the oldest
Bronze rows not yet refined have waited, and how old the last successful Gold build is. A failed
last Gold build is always a breach; every other check runs only when its threshold is set.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from pipelines.core.config import StatusConfig


@dataclass(frozen=True)
class LandingFacts:
    files_waiting: int | None  # None: the ingest checkpoint's record of taken files is unreadable
    oldest_waiting: datetime | None  # modification time of the oldest waiting file


@dataclass(frozen=True)
class BronzeFacts:
    rows: int
    last_batch_at: datetime | None
    rows_not_refined: int
    not_refined_since: datetime | None  # commit time of the oldest Bronze rows not refined yet


@dataclass(frozen=True)
class FailedExpectation:
    expectation: str  # column, or the expectation type when it has none
    action: str
    reason: str | None
    unexpected_count: int | None


@dataclass(frozen=True)
class GateFacts:
    batch_id: int
    suite: str
    validated_at: datetime
    expectations: int
    failed: tuple[FailedExpectation, ...]


@dataclass(frozen=True)
class Window:
    """Refine batches processed in the last `hours`."""

    hours: int
    batches: int
    rows_read: int
    rows_quarantined: int

    @property
    def quarantine_rate(self) -> float | None:
        return self.rows_quarantined / self.rows_read if self.rows_read else None


@dataclass(frozen=True)
class SilverFacts:
    rows: int
    last_batch_id: int | None
    last_batch_at: datetime | None
    windows: tuple[Window, ...]  # last hour, last day
    last_gate: GateFacts | None


@dataclass(frozen=True)
class GoldFacts:
    last_build_at: datetime | None  # start of the last dbt invocation
    last_build_status: str | None  # success | error
    last_success_at: datetime | None  # end of the last successful invocation
    models: dict[str, int] = field(default_factory=dict)  # dbt status -> models/seeds, last build
    tests: dict[str, int] | None = None  # dbt status -> tests, when the artifacts are this build's


@dataclass(frozen=True)
class Facts:
    warehouse: str
    checked_at: datetime
    landing: LandingFacts
    bronze: BronzeFacts | None  # None: the table does not exist yet
    silver: SilverFacts | None
    gold: GoldFacts | None


@dataclass(frozen=True)
class Check:
    name: str
    value: float | None
    threshold: float | None
    breached: bool
    message: str


def seconds_since(then: datetime | None, now: datetime) -> float | None:
    return None if then is None else max(0.0, (now - then).total_seconds())


def _threshold_check(name: str, value: float | None, threshold: float, what: str, unit: str = "s") -> Check | None:
    if not threshold:
        return None
    breached = value is not None and value > threshold
    shown = "n/a" if value is None else (f"{value:.0f}{unit}" if unit == "s" else f"{value:.2%}")
    limit = f"{threshold:.0f}{unit}" if unit == "s" else f"{threshold:.2%}"
    return Check(name, value, threshold, breached, f"{what}: {shown} ({'above' if breached else 'within'} {limit})")


def evaluate(facts: Facts, limits: StatusConfig) -> list[Check]:
    """Every configured check, plus the always-on one: the last Gold build did not fail."""
    now = facts.checked_at
    hour = facts.silver.windows[0] if facts.silver and facts.silver.windows else None
    checks = [
        _threshold_check("landing_wait", seconds_since(facts.landing.oldest_waiting, now),
                         limits.max_landing_wait_seconds, "oldest landed file waiting for ingest"),
        _threshold_check("refine_wait",
                         seconds_since(facts.bronze.not_refined_since, now) if facts.bronze else None,
                         limits.max_refine_wait_seconds, "oldest Bronze rows waiting for refine"),
        _threshold_check("gold_age", seconds_since(facts.gold.last_success_at, now) if facts.gold else None,
                         limits.max_gold_age_seconds, "time since the last successful Gold build"),
        _threshold_check("quarantine_rate", hour.quarantine_rate if hour else None,
                         limits.max_quarantine_rate, "quarantine rate over the last hour", unit="%"),
    ]
    if limits.max_gold_age_seconds and (facts.gold is None or facts.gold.last_success_at is None):
        checks[2] = Check("gold_age", None, limits.max_gold_age_seconds, True,
                          "time since the last successful Gold build: no successful build yet")
    if facts.gold is not None and facts.gold.last_build_status == "error":
        checks.append(Check("gold_build", None, None, True, "the last Gold build failed (see medallion build)"))
    return [c for c in checks if c is not None]


def _ago(then: datetime | None, now: datetime) -> str:
    seconds = seconds_since(then, now)
    if seconds is None:
        return "never"
    return f"{_duration(seconds)} ago ({then:%Y-%m-%d %H:%M:%S} UTC)"


def _duration(seconds: float) -> str:
    days, rest = divmod(int(round(seconds)), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def _rate(window: Window) -> str:
    rate = window.quarantine_rate
    label = "last hour" if window.hours == 1 else f"last {window.hours}h"
    if rate is None:
        return f"{label}: no batches"
    return f"{label}: {rate:.2%} ({window.rows_quarantined:,} of {window.rows_read:,} rows, {window.batches} batches)"


def _gate_line(gate: GateFacts) -> str:
    """The last gate in one line: rows per quarantine reason, rows per warning."""
    parts = []
    for action, label in (("quarantine", "quarantined"), ("warn", "warned"), ("fail", "FAILED")):
        found: dict[str, int] = {}  # a reason two expectations share (invalid_amount) is one count
        for f in gate.failed:
            if f.action == action:
                key = f.reason or f.expectation
                found[key] = found.get(key, 0) + (f.unexpected_count or 0)
        if found:
            parts.append(f"{label} " + ", ".join(f"{k} {n:,}" for k, n in found.items()))
    return (f"         last gate: batch {gate.batch_id} (suite {gate.suite}, {gate.expectations} expectations): "
            + ("; ".join(parts) or "every expectation met"))


def render_text(facts: Facts, checks: list[Check]) -> str:
    """What an operator reads: one block per layer, then the checks and the verdict."""
    now = facts.checked_at
    out = [f"medallion status: warehouse {facts.warehouse} (checked {now:%Y-%m-%d %H:%M:%S} UTC)"]
    landing = facts.landing
    if landing.files_waiting is None:
        out.append("landing  record of ingested files unreadable (see the log)")
    elif landing.files_waiting == 0:
        out.append("landing  no files waiting")
    else:
        waited = _duration(seconds_since(landing.oldest_waiting, now) or 0.0)
        out.append(f"landing  {landing.files_waiting} file(s) waiting for ingest, the oldest for {waited}")
    if facts.bronze is None:
        out.append("bronze   no table yet")
    else:
        b = facts.bronze
        waiting = (f"{b.rows_not_refined:,} rows not refined yet, the oldest for "
                   f"{_duration(seconds_since(b.not_refined_since, now) or 0.0)}" if b.rows_not_refined
                   else "every row refined")
        out.append(f"bronze   {b.rows:,} rows; last batch {_ago(b.last_batch_at, now)}; {waiting}")
    if facts.silver is None:
        out.append("silver   no table yet")
    else:
        s = facts.silver
        out.append(f"silver   {s.rows:,} events; last batch {s.last_batch_id if s.last_batch_id is not None else '-'} "
                   f"{_ago(s.last_batch_at, now)}")
        out.append("         quarantine " + "; ".join(_rate(w) for w in s.windows))
        if s.last_gate is not None:
            out.append(_gate_line(s.last_gate))
    if facts.gold is None or facts.gold.last_build_at is None:
        out.append("gold     never built")
    else:
        g = facts.gold
        models = ", ".join(f"{n} {status}" for status, n in sorted(g.models.items())) or "none"
        tests = ("; tests " + ", ".join(f"{n} {status}" for status, n in sorted(g.tests.items()))) if g.tests else ""
        out.append(f"gold     last build {g.last_build_status} {_ago(g.last_build_at, now)}; models {models}{tests}")
        if g.last_build_status != "success":
            out.append(f"         last successful build {_ago(g.last_success_at, now)}")
    breached = [c for c in checks if c.breached]
    for check in checks:
        out.append(f"{'BREACHED' if check.breached else 'ok':8} {check.message}")
    out.append("status: " + ("UNHEALTHY" if breached else "healthy")
               + ("" if checks else " (no thresholds configured: see `status:` in medallion.example.yaml)"))
    return "\n".join(out) + "\n"


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def render_json(facts: Facts, checks: list[Check]) -> str:
    """The same as `render_text`, for machines: facts, lags in seconds, checks, `healthy`."""
    now = facts.checked_at
    doc: dict[str, Any] = {
        "warehouse": facts.warehouse, "checked_at": now,
        "healthy": not any(c.breached for c in checks),
        "landing": {**asdict(facts.landing), "oldest_waiting_seconds": seconds_since(facts.landing.oldest_waiting, now)},
        "bronze": None if facts.bronze is None else {
            **asdict(facts.bronze), "seconds_since_last_batch": seconds_since(facts.bronze.last_batch_at, now),
            "not_refined_seconds": seconds_since(facts.bronze.not_refined_since, now)},
        "silver": None if facts.silver is None else {
            **asdict(facts.silver), "seconds_since_last_batch": seconds_since(facts.silver.last_batch_at, now),
            "windows": [{**asdict(w), "quarantine_rate": w.quarantine_rate} for w in facts.silver.windows]},
        "gold": None if facts.gold is None else {
            **asdict(facts.gold), "seconds_since_last_success": seconds_since(facts.gold.last_success_at, now)},
        "checks": [asdict(c) for c in checks],
    }
    return json.dumps(_jsonable(doc), indent=2) + "\n"
