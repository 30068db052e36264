"""Rows built from a seed (reference data), not from events: such a row traces to its line in the
seed file the build loaded (dbt_project/seeds/<name>.csv), and reconciles with it."""
from __future__ import annotations

import csv
from typing import Any, Mapping

from pipelines.core.canonical import SEEDS_DIR
from pipelines.lineage.grains import RowLineage

# seed-built tables -> the seed they select from (dbt ref), and the key column
SEEDED = {"gold.dim_channels": ("channels", "channel")}


def seed_lineage(warehouse: Any, table: str, row: Mapping[str, Any], build: Any) -> RowLineage:
    seed, key = SEEDED[table]
    path = SEEDS_DIR / f"{seed}.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        lines = [(n, r) for n, r in enumerate(csv.DictReader(handle), start=2) if r[key] == row[key]]
    recomputed: dict[str, Any] = {}
    notes = [f"built from the seed {path.name} (gold_reference.{seed}), not from events"]
    if lines:
        number, line = lines[0]
        notes.append(f"{path.name} line {number}: " + ",".join(line.values()))
        recomputed = {c: (line[c].lower() == "true") if isinstance(row.get(c), bool) else line[c]
                      for c in line if c in row}
    return RowLineage(groups={}, recomputed=recomputed, notes=notes)
