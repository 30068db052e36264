"""Exactly-once for the streams' foreachBatch sinks: which micro-batch can be a replay.

Spark writes a micro-batch's offsets before running it and marks it committed after; a process
killed in between re-runs that same batch (same input) when the query restarts. Only that batch
can find its own rows already committed: every later batch follows one this process watched
commit. So a sink checks its tables for the batch's rows once, when the query (re)starts or after
a gap in batch ids, and appends plainly otherwise; the check reads the rows themselves (the
batch id each row carries), so it holds for tables written by any earlier version, whether or
not their commits carried Delta SetTransactions.
"""
from __future__ import annotations


class ReplayCheck:
    """Per started stream (one instance per batch function): `needed(batch_id)` is True when the
    batch may already be (partly) committed, i.e. unless this instance saw `batch_id - 1` commit."""

    def __init__(self) -> None:
        self._last_committed: int | None = None

    def needed(self, batch_id: int) -> bool:
        return self._last_committed is None or batch_id != self._last_committed + 1

    def committed(self, batch_id: int) -> None:
        """Call after every write of the batch committed (or the batch needed none)."""
        self._last_committed = batch_id
