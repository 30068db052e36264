"""`medallion trace`: parse the request, run the backward or forward trace, print it.

Exit status: 0 the trace reconciles; 1 `LINEAGE_MISMATCH` (the tree is printed, then the error);
2 a user's mistake (unknown table or column, a key matching no row, ...), raised as PipelineError.
"""
from __future__ import annotations

import sys
from typing import Sequence, TextIO

from rich.console import Console

from pipelines.core.config import Config
from pipelines.core.errors import PipelineError
from pipelines.core.registry import table as registry_table
from pipelines.lineage.backward import trace_backward
from pipelines.lineage.delta_reader import Warehouse, all_of, field_eq, field_in
from pipelines.lineage.forward import bronze_ids_of_event, trace_forward
from pipelines.lineage.keys import parse_keys
from pipelines.lineage.render import backward_tree, forward_tree, to_json

# Forward traces start from raw lines: one (_bronze_id), a file, an ingest batch or run; or an event id.
FORWARD_TABLES = {"bronze.events_raw": ("_bronze_id", "_source", "_ingest_batch_id", "_ingest_run_id"),
                  "silver.events": ("event_id",)}


def trace(config: Config, table: str | None, key_args: Sequence[str], *, event_id: str | None = None,
          invocation_id: str | None = None, limit: int | None = 5) -> dict:
    """The trace tree of the request (see `medallion trace --help`)."""
    with Warehouse(config) as warehouse:
        return _trace(warehouse, table, key_args, event_id=event_id, invocation_id=invocation_id, limit=limit)


def _trace(warehouse: Warehouse, table: str | None, key_args: Sequence[str], *, event_id: str | None,
           invocation_id: str | None, limit: int | None) -> dict:
    if table is None and event_id is None:
        raise PipelineError("TRACE_KEY_INVALID", {"argument": "", "detail": "name a table and its key, or --event-id"})
    if event_id is not None or table in FORWARD_TABLES:
        if table is not None and event_id is not None:
            raise PipelineError("TRACE_KEY_INVALID", {"argument": "--event-id",
                                                      "detail": f"--event-id traces forward on its own; drop {table}"})
        if event_id is None:
            keys = parse_keys(registry_table(table), key_args)
            allowed = FORWARD_TABLES[table]
            if not keys or not set(keys) <= set(allowed):
                raise PipelineError("TRACE_KEY_INVALID", {
                    "argument": " ".join(key_args) or table,
                    "detail": f"a forward trace of {table} selects its lines by {' / '.join(allowed)}"})
            if table == "silver.events":
                event_id = keys["event_id"]
            else:
                return trace_forward(warehouse, all_of(*(field_eq(k, v) for k, v in keys.items())),
                                     " ".join(key_args), limit=limit)
        ids = bronze_ids_of_event(warehouse, event_id)
        return trace_forward(warehouse, field_in("_bronze_id", ids), f"event_id={event_id}", limit=None)
    keys = parse_keys(registry_table(table), key_args)
    if not keys:
        raise PipelineError("TRACE_KEY_INVALID", {"argument": table, "detail": "give the row's key, e.g. campaign_id=..."})
    return trace_backward(warehouse, table, keys, invocation_id=invocation_id, limit=limit)


def print_trace(config: Config, table: str | None, key_args: Sequence[str], *, event_id: str | None = None,
                invocation_id: str | None = None, limit: int | None = 5, fmt: str = "text",
                out: TextIO | None = None) -> int:
    out = out or sys.stdout
    if limit is not None and limit < 0:
        raise PipelineError("INVALID_ARGUMENT", {"name": "--limit", "value": limit, "detail": "must be 0 or more"})
    tree = trace(config, table, key_args, event_id=event_id, invocation_id=invocation_id, limit=limit)
    if fmt == "json":
        out.write(to_json(tree) + "\n")
    else:
        # a terminal wraps long lines; into a file or pipe every line is whole (no cropping)
        console = Console(file=out, soft_wrap=True, highlight=False, emoji=False, markup=False,
                          width=None if out.isatty() else 100_000)
        console.print(backward_tree(tree) if tree["direction"] == "backward" else forward_tree(tree))
    out.flush()
    rec = tree["reconciliation"]
    if rec["status"] != "ok":
        where = tree.get("table") or "the raw line(s)"
        error = PipelineError("LINEAGE_MISMATCH", {
            "detail": f"{where}: {len(rec['differences'])} difference(s) between the Gold row(s) and the events "
                      "traced (see the reconciliation above)"})
        print(f"medallion: error: {error}", file=sys.stderr)  # after the tree, which the audit needs
        return 1
    return 0
