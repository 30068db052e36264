"""Event contract v1 (DESIGN.md): the landing fields and which event types require each.

A foundation fact, not a Silver internal: Bronze tags its table with the contract version,
Silver parses and gates by it, the sample generator writes traffic that honours it, and a test
ties the suite's `missing_<field>` expectations (their `when:` clauses) to `REQUIRED_FOR`.
"""
from __future__ import annotations

from pipelines.core.canonical import event_types

CONTRACT_VERSION = "events-v1"

# Contract fields, in contract order.
FIELDS: tuple[str, ...] = (
    "event_id", "event_type", "event_ts", "campaign_id", "channel", "user_id", "email", "order_id",
    "revenue", "cost", "currency", "utm_source", "utm_medium", "utm_campaign", "properties",
)

_ALL = event_types()
# field -> event types for which it is required (`missing_<field>` otherwise).
REQUIRED_FOR: dict[str, tuple[str, ...]] = {
    "event_id": _ALL,
    "event_type": _ALL,
    "event_ts": _ALL,
    "campaign_id": ("impression", "click", "ad_spend"),
    "channel": ("impression", "click", "ad_spend"),
    "user_id": ("click", "session_start", "signup", "purchase"),
    "order_id": ("purchase",),
    "revenue": ("purchase",),
    "cost": ("ad_spend",),
    "currency": ("purchase", "ad_spend"),
}


def required_fields(event_type: str) -> tuple[str, ...]:
    """The fields an event of `event_type` must carry, in contract order."""
    return tuple(f for f in FIELDS if event_type in REQUIRED_FOR.get(f, ()))
