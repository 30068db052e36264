"""Canonical values of the event contract, read from the data files dbt also uses as seeds.

`dbt_project/seeds/event_types.csv` and `channels.csv` are the one place these lists are
written: Python (the Silver CHECK constraints, standardization, the suite's `value_set`
references, the sample generator) reads them here, and dbt loads them as the `gold_reference`
seeds that `dim_channels` and the source tests use. The FX table is `fx_rates_usd.csv` beside
them, read by Silver's reference data (`refine.fx_rates`).
"""
from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

from pipelines.core.config import DBT_PROJECT_DIR
from pipelines.core.errors import PipelineError

SEEDS_DIR = DBT_PROJECT_DIR / "seeds"
EVENT_TYPES_FILE = SEEDS_DIR / "event_types.csv"
CHANNELS_FILE = SEEDS_DIR / "channels.csv"
# channels.csv marks the value kept for a raw channel no alias maps with this channel_group.
UNMAPPED_GROUP = "unknown"


def read_csv(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    """Rows of a reference CSV with at least the `required` columns, values trimmed."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise PipelineError("REFERENCE_DATA_INVALID",
                                    {"file": str(path), "detail": f"missing columns {missing}"})
            rows = [{k: (v or "").strip() for k, v in row.items()} for row in reader]
    except OSError as exc:
        raise PipelineError("REFERENCE_DATA_INVALID", {"file": str(path), "detail": exc}) from exc
    if not rows:
        raise PipelineError("REFERENCE_DATA_INVALID", {"file": str(path), "detail": "no rows"})
    return rows


@lru_cache(maxsize=None)
def event_types() -> tuple[str, ...]:
    """`impression`, `click`, ... in file order."""
    return tuple(r["event_type"] for r in read_csv(EVENT_TYPES_FILE, ("event_type",)))


@lru_cache(maxsize=None)
def _channels() -> tuple[tuple[str, str], ...]:
    return tuple((r["channel"], r["channel_group"])
                 for r in read_csv(CHANNELS_FILE, ("channel", "channel_group")))


def canonical_channels() -> tuple[str, ...]:
    """The channels an alias can map to (DESIGN.md: paid_search, ..., direct)."""
    return tuple(c for c, group in _channels() if group != UNMAPPED_GROUP)


def unknown_channel() -> str:
    """The value kept for a raw channel that maps to no canonical one."""
    unknown = [c for c, group in _channels() if group == UNMAPPED_GROUP]
    if len(unknown) != 1:
        raise PipelineError("REFERENCE_DATA_INVALID", {"file": str(CHANNELS_FILE), "detail": (
            f"expected exactly one channel with channel_group '{UNMAPPED_GROUP}', found {len(unknown)}")})
    return unknown[0]


def all_channels() -> tuple[str, ...]:
    """Every value silver.events.channel may hold (canonical plus the unmapped marker)."""
    return (*canonical_channels(), unknown_channel())


# Names a suite file may use for a `value_set` (`value_set: {canonical: event_types}`).
NAMED_SETS = {
    "event_types": event_types,
    "canonical_channels": canonical_channels,
    "channels": all_channels,
}
